#include "access/policy.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace cityroom::access {
namespace {

using base::ErrorKind;

constexpr std::size_t kSampleIdsMax = 10;  // entity ids named in one restricted-read audit line

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view item = s.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

base::Result<TypeRule> parse_rule(std::string_view type, const json::value& v);

// An attribute's level: "staff", or {"visibility": "restricted", "departments": [...]}.
base::Result<Level> parse_level(std::string_view type, std::string_view attribute,
                                const json::value& v) {
  if (v.is_object() && v.get_object().contains("attributes")) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("type {}: attribute {}: attributes have no attributes", type,
                                  attribute));
  }
  auto rule = parse_rule(fmt::format("{}, attribute {}", type, attribute), v);
  if (!rule) return std::unexpected(rule.error());
  return Level{rule->visibility, std::move(rule->departments)};
}

base::Result<TypeRule> parse_rule(std::string_view type, const json::value& v) {
  TypeRule rule;
  const json::value* vis = &v;
  if (v.is_object()) {
    for (const auto& [name, _] : v.get_object()) {
      if (name != "visibility" && name != "departments" && name != "attributes" &&
          !std::string_view(name).starts_with("_")) {
        return base::fail(ErrorKind::kBadRequestData,
                          fmt::format("type {}: unknown member '{}' (visibility, departments, "
                                      "attributes)",
                                      type, std::string_view(name)));
      }
    }
    if (const auto* attrs = v.get_object().if_contains("attributes")) {
      if (!attrs->is_object()) {
        return base::fail(ErrorKind::kBadRequestData,
                          fmt::format("type {}: attributes must be an object of attribute → "
                                      "visibility",
                                      type));
      }
      for (const auto& [name, level] : attrs->get_object()) {
        auto parsed = parse_level(type, name, level);
        if (!parsed) return std::unexpected(parsed.error());
        auto& into = std::string_view(name).find(':') != std::string_view::npos
                         ? rule.attributes_by_iri
                         : rule.attributes_by_name;
        into[std::string(name)] = std::move(*parsed);
      }
    }
    vis = v.get_object().if_contains("visibility");
    if (const auto* d = v.get_object().if_contains("departments")) {
      if (!d->is_array()) {
        return base::fail(ErrorKind::kBadRequestData,
                          fmt::format("type {}: departments must be an array of strings", type));
      }
      for (const auto& dep : d->get_array()) {
        if (!dep.is_string()) {
          return base::fail(ErrorKind::kBadRequestData,
                            fmt::format("type {}: departments must be strings", type));
        }
        rule.departments.emplace_back(dep.get_string());
      }
    }
  }
  if (!vis || !vis->is_string() || !parse_visibility(vis->get_string())) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("type {}: visibility must be public, staff or restricted", type));
  }
  rule.visibility = *parse_visibility(vis->get_string());
  return rule;
}

}  // namespace

std::optional<Role> parse_role(std::string_view n) {
  if (n == "public") return Role::kPublic;
  if (n == "device") return Role::kDevice;
  if (n == "staff") return Role::kStaff;
  if (n == "executive") return Role::kExecutive;
  if (n == "admin") return Role::kAdmin;
  return std::nullopt;
}

std::string_view role_name(Role r) {
  switch (r) {
    case Role::kPublic: return "public";
    case Role::kDevice: return "device";
    case Role::kStaff: return "staff";
    case Role::kExecutive: return "executive";
    case Role::kAdmin: return "admin";
  }
  return "public";
}

std::optional<Visibility> parse_visibility(std::string_view n) {
  if (n == "public") return Visibility::kPublic;
  if (n == "staff") return Visibility::kStaff;
  if (n == "restricted") return Visibility::kRestricted;
  return std::nullopt;
}

std::string_view visibility_name(Visibility v) {
  switch (v) {
    case Visibility::kPublic: return "public";
    case Visibility::kStaff: return "staff";
    case Visibility::kRestricted: return "restricted";
  }
  return "staff";
}

std::optional<unsigned> parse_ops(std::string_view list) {
  unsigned ops = 0;
  for (const auto& o : split(list, ',')) {
    if (o == "read") {
      ops |= kOpRead;
    } else if (o == "write") {
      ops |= kOpWrite;
    } else if (o == "admin") {
      ops |= kOpAdmin;
    } else {
      return std::nullopt;
    }
  }
  return ops;
}

std::string ops_text(unsigned ops) {
  std::vector<std::string_view> parts;
  if (ops & kOpRead) parts.push_back("read");
  if (ops & kOpWrite) parts.push_back("write");
  if (ops & kOpAdmin) parts.push_back("admin");
  return fmt::format("{}", fmt::join(parts, ","));
}

unsigned role_ops(Role role) {
  switch (role) {
    case Role::kPublic: return kOpRead;
    case Role::kDevice:
    case Role::kStaff:
    case Role::kExecutive: return kOpRead | kOpWrite;
    case Role::kAdmin: return kOpRead | kOpWrite | kOpAdmin;
  }
  return kOpRead;
}

std::string_view local_name(std::string_view iri) {
  const auto cut = iri.find_last_of("/#:");
  return cut == std::string_view::npos ? iri : iri.substr(cut + 1);
}

base::Result<Policy> Policy::parse(const json::value& doc) {
  if (!doc.is_object()) {
    return base::fail(ErrorKind::kBadRequestData, "the visibility file must be a JSON object");
  }
  Policy p;
  const auto& o = doc.get_object();
  if (const auto* d = o.if_contains("default")) {
    auto rule = parse_rule("default", *d);
    if (!rule) return std::unexpected(rule.error());
    if (rule->has_attribute_rules()) {
      return base::fail(ErrorKind::kBadRequestData,
                        "default: attribute levels belong to a named type");
    }
    p.default_ = std::move(*rule);
  }
  if (const auto* types = o.if_contains("types")) {
    if (!types->is_object()) {
      return base::fail(ErrorKind::kBadRequestData, "types must be an object of type → rule");
    }
    for (const auto& [name, v] : types->get_object()) {
      auto rule = parse_rule(name, v);
      if (!rule) return std::unexpected(rule.error());
      for (const auto* m : {&rule->attributes_by_iri, &rule->attributes_by_name}) {
        for (const auto& [attr, level] : *m) {
          p.attribute_levels_.push_back({std::string(name), attr, level});
        }
      }
      auto& into = std::string_view(name).find(':') != std::string_view::npos ? p.by_iri_ : p.by_name_;
      into[std::string(name)] = std::move(*rule);
    }
  }
  for (const auto& [name, _] : o) {
    if (name != "default" && name != "types" && !std::string_view(name).starts_with("_")) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("unknown member '{}' (default, types; '_' for comments)",
                                    std::string_view(name)));
    }
  }
  return p;
}

base::Result<Policy> Policy::load(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("cannot read visibility file {}", file.string()));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto doc = json::parse(text.str());
  if (!doc) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("{}: {}", file.string(), doc.error().detail));
  }
  auto p = parse(*doc);
  if (!p) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("{}: {}", file.string(), p.error().detail));
  }
  return p;
}

const TypeRule& Policy::rule(std::string_view type_iri) const {
  if (auto it = by_iri_.find(type_iri); it != by_iri_.end()) return it->second;
  if (auto it = by_name_.find(local_name(type_iri)); it != by_name_.end()) return it->second;
  return default_;
}

const Level* TypeRule::attribute(std::string_view attribute_iri) const {
  if (auto it = attributes_by_iri.find(attribute_iri); it != attributes_by_iri.end()) {
    return &it->second;
  }
  if (auto it = attributes_by_name.find(local_name(attribute_iri));
      it != attributes_by_name.end()) {
    return &it->second;
  }
  return nullptr;
}

// ---- Grant ------------------------------------------------------------------------------

Grant::Grant(Principal principal, std::shared_ptr<const Policy> policy, std::string tenant,
             RestrictedReads* audit, std::string address, std::string target,
             Validity* validity)
    : principal_(std::move(principal)),
      policy_(std::move(policy)),
      tenant_(std::move(tenant)),
      audit_(audit),
      address_(std::move(address)),
      target_(std::move(target)),
      validity_(validity) {
  const Role r = principal_.role;
  limited_ = !((r == Role::kAdmin || r == Role::kExecutive) && principal_.types.empty() &&
               (principal_.ops & kOpWrite));
}

Grant::~Grant() {
  if (audit_ && restricted_count_ > 0) {
    audit_->restricted_read(principal_, tenant_, address_, target_, first_read_at_,
                            restricted_count_, std::move(sample_ids_));
  }
}

bool Grant::is_admin() const {
  return principal_.role == Role::kAdmin && (principal_.ops & kOpAdmin);
}

bool Grant::in_scope(std::string_view type_iri) const {
  if (principal_.types.empty()) return true;
  return std::any_of(principal_.types.begin(), principal_.types.end(), [&](const std::string& t) {
    return t == type_iri || t == local_name(type_iri);
  });
}

bool Grant::sees(const TypeRule& rule, std::string_view type_iri) const {
  if (!(principal_.ops & kOpRead) && !(principal_.ops & kOpWrite)) return false;
  // A key scoped to types sees nothing else — but a device still reads what the public reads.
  if (!principal_.types.empty() && !in_scope(type_iri)) {
    return principal_.role == Role::kDevice && rule.visibility == Visibility::kPublic;
  }
  switch (principal_.role) {
    case Role::kAdmin:
    case Role::kExecutive:
      return true;
    case Role::kStaff:
      if (rule.visibility != Visibility::kRestricted) return true;
      return !principal_.department.empty() &&
             std::find(rule.departments.begin(), rule.departments.end(),
                       principal_.department) != rule.departments.end();
    case Role::kDevice:
      // A device sees public types and the types it is scoped to (what it writes).
      return rule.visibility == Visibility::kPublic ||
             (!principal_.types.empty() && rule.visibility == Visibility::kStaff);
    case Role::kPublic:
      return rule.visibility == Visibility::kPublic;
  }
  return false;
}

bool Grant::sees_level(const Level& level, std::string_view type_iri) const {
  switch (principal_.role) {
    case Role::kAdmin:
    case Role::kExecutive:
      return true;
    case Role::kStaff:
      if (level.visibility != Visibility::kRestricted) return true;
      return !principal_.department.empty() &&
             std::find(level.departments.begin(), level.departments.end(),
                       principal_.department) != level.departments.end();
    case Role::kDevice:
      // A device reads back the staff attributes of the types it writes, nothing restricted.
      return level.visibility == Visibility::kPublic ||
             (level.visibility == Visibility::kStaff && !principal_.types.empty() &&
              in_scope(type_iri));
    case Role::kPublic:
      return level.visibility == Visibility::kPublic;
  }
  return false;
}

bool Grant::sees_all_attributes(const TypeRule& rule, std::string_view type_iri) const {
  for (const auto* m : {&rule.attributes_by_iri, &rule.attributes_by_name}) {
    for (const auto& [_, level] : *m) {
      if (!sees_level(level, type_iri)) return false;
    }
  }
  return true;
}

bool Grant::hides_attributes_of(const model::Entity& e) const {
  if (!limited_) return false;
  const auto* type = e.if_contains("type");
  if (!type) return false;
  const auto check = [&](const json::value& t) {
    if (!t.is_string()) return false;
    const TypeRule& rule = policy_->rule(t.get_string());
    return rule.has_attribute_rules() && !sees_all_attributes(rule, t.get_string());
  };
  if (type->is_array()) {
    for (const auto& t : type->get_array()) {
      if (check(t)) return true;
    }
    return false;
  }
  return check(*type);
}

bool Grant::may_see_type_attribute(std::string_view type_iri,
                                   std::string_view attribute_iri) const {
  if (!limited_) return true;
  const Level* level = policy_->rule(type_iri).attribute(attribute_iri);
  return !level || sees_level(*level, type_iri);
}

bool Grant::may_see_attribute(const model::Entity& e, std::string_view attribute_iri) const {
  if (!limited_) return true;
  const auto* type = e.if_contains("type");
  if (!type) return true;
  // An entity with several types: the strictest level of the attribute wins.
  if (type->is_array()) {
    for (const auto& t : type->get_array()) {
      if (t.is_string() && !may_see_type_attribute(t.get_string(), attribute_iri)) return false;
    }
    return true;
  }
  return !type->is_string() || may_see_type_attribute(type->get_string(), attribute_iri);
}

bool Grant::hides_attribute_somewhere(std::string_view attribute_iri) const {
  if (!limited_) return false;
  for (const auto& a : policy_->attribute_levels()) {
    const bool named = a.attribute_key.find(':') != std::string::npos
                           ? a.attribute_key == attribute_iri
                           : a.attribute_key == local_name(attribute_iri);
    if (named && !sees_level(a.level, a.type_key)) return true;
  }
  return false;
}

std::string Grant::view_key() const {
  if (!limited_ || policy_->attribute_levels().empty()) return {};
  // What attribute levels depend on (not who: viewers alike share one rendering).
  return fmt::format("role={};dept={};types={}", role_name(principal_.role), principal_.department,
                     fmt::join(principal_.types, ","));
}

std::optional<std::string> Grant::revoked() const {
  if (!validity_ || principal_.via == Principal::Via::kNone) return std::nullopt;
  return validity_->invalid_reason(principal_);
}

bool Grant::may_see_type(std::string_view type_iri) const {
  return sees(policy_->rule(type_iri), type_iri);
}

bool Grant::may_see(const model::Entity& e) const {
  const auto* type = e.if_contains("type");
  if (!type) return false;
  bool restricted = false;
  const auto check = [&](const json::value& t) {
    if (!t.is_string()) return false;
    const std::string_view iri = t.get_string();
    const TypeRule& rule = policy_->rule(iri);
    restricted = restricted || rule.visibility == Visibility::kRestricted;
    return sees(rule, iri);
  };
  if (type->is_array()) {
    if (type->get_array().empty()) return false;
    for (const auto& t : type->get_array()) {
      if (!check(t)) return false;
    }
  } else if (!check(*type)) {
    return false;
  }
  if (restricted && audit_) {
    std::lock_guard lock(reads_mutex_);
    if (restricted_count_++ == 0) first_read_at_ = base::now_micros();
    if (sample_ids_.size() < kSampleIdsMax) {
      if (const auto* id = e.if_contains("id"); id && id->is_string()) {
        sample_ids_.emplace_back(id->get_string());
      }
    }
  }
  return true;
}

bool Grant::may_write_type(std::string_view type_iri) const {
  if (!(principal_.ops & kOpWrite) || principal_.role == Role::kPublic) return false;
  if (!in_scope(type_iri)) return false;
  if (principal_.role == Role::kDevice) return true;  // scoped above; writes what it measures
  return sees(policy_->rule(type_iri), type_iri);
}

std::string Grant::scope() const {
  // `who` last: its credential is checked when a notification is due (a revoked key's
  // subscriptions stop); the rest is the visibility the owner had.
  return fmt::format("role={};dept={};tenant={};ops={};types={};who={}",
                     role_name(principal_.role), principal_.department, principal_.tenant,
                     ops_text(principal_.ops), fmt::join(principal_.types, ","), principal_.who);
}

Principal Grant::from_scope(std::string_view scope) {
  Principal p;
  p.ops = kOpRead;
  for (const auto& part : split(scope, ';')) {
    const auto eq = part.find('=');
    if (eq == std::string::npos) continue;
    const std::string_view key = std::string_view(part).substr(0, eq);
    const std::string_view value = std::string_view(part).substr(eq + 1);
    if (key == "role") {
      p.role = parse_role(value).value_or(Role::kPublic);
    } else if (key == "dept") {
      p.department = value;
    } else if (key == "tenant") {
      p.tenant = value;
    } else if (key == "ops") {
      p.ops = parse_ops(value).value_or(kOpRead);
    } else if (key == "types") {
      p.types = split(value, ',');
    } else if (key == "who") {
      p.who = value;
      if (p.who.starts_with("key:")) {
        p.via = Principal::Via::kKey;
        p.key_id = p.who.substr(4);
      } else if (p.who.starts_with("user:")) {
        p.via = Principal::Via::kSession;  // a user; no session: checked by role, not token
      }
    }
  }
  p.ops &= role_ops(p.role);
  return p;
}

}  // namespace cityroom::access
