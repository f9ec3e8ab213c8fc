// Rules and policies as data: loading (store records, then shipped files), CRUD with versions,
// and reloading the active alarms at start.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <set>
#include <sstream>

#include "alarms/alarms.h"
#include "alarms/engine_state.h"

namespace cityroom::alarms {
namespace {

using base::ErrorKind;

std::string key2(std::string_view a, std::string_view b) {
  std::string k(a);
  k += '\n';
  k += b;
  return k;
}

constexpr std::size_t kSeedEntitiesMax = 100'000;  // entities an absence rule starts watching
constexpr std::size_t kRuleFileBytesMax = 4 * 1024 * 1024;

json::object with_version(json::object doc, std::uint64_t version, std::string_view source) {
  doc["version"] = version;
  doc["source"] = source;
  return doc;
}

std::uint64_t version_of(const json::object& doc) {
  const auto* v = doc.if_contains("version");
  if (v && v->is_int64() && v->get_int64() > 0) return static_cast<std::uint64_t>(v->get_int64());
  if (v && v->is_uint64()) return v->get_uint64();
  return 1;
}

// A rules file: one rule object, an array of rules, or {"rules": [...], "policies": [...]}.
base::Result<void> read_file(const std::filesystem::path& path, json::array& rules,
                             json::array& policies) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return base::fail(ErrorKind::kInternalError, "cannot read it");
  if (text.str().size() > kRuleFileBytesMax) {
    return base::fail(ErrorKind::kBadRequestData, "larger than 4 MiB");
  }
  auto doc = json::parse(text.str());
  if (!doc) return std::unexpected(doc.error());
  if (doc->is_array()) {
    for (auto& r : doc->get_array()) rules.push_back(r);
    return {};
  }
  if (!doc->is_object())
    return base::fail(ErrorKind::kBadRequestData,
                      "must hold a rule, an array of rules or {rules, policies}");
  auto& o = doc->get_object();
  if (!o.contains("rules") && !o.contains("policies")) {
    rules.push_back(o);
    return {};
  }
  for (std::string_view k : {"rules", "policies"}) {
    if (const auto* v = o.if_contains(k)) {
      if (!v->is_array())
        return base::fail(ErrorKind::kBadRequestData, fmt::format("\"{}\" must be an array", k));
      for (const auto& x : v->get_array()) (k == "rules" ? rules : policies).push_back(x);
    }
  }
  return {};
}

const json::value* prop(const model::Entity& e, const ldcontext::Context& ctx,
                        std::string_view term) {
  const auto* slot = e.if_contains(ctx.expand(term));
  if (!slot || !slot->is_array() || slot->get_array().empty() ||
      !slot->get_array()[0].is_object()) {
    return nullptr;
  }
  const auto& inst = slot->get_array()[0].get_object();
  if (const auto* v = inst.if_contains(model::key::kValue)) return v;
  return inst.if_contains(model::key::kObject);
}

std::string prop_string(const model::Entity& e, const ldcontext::Context& ctx,
                        std::string_view term) {
  const auto* v = prop(e, ctx, term);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

void Engine::install_rule(Rule rule) {
  const std::string key = key2(rule.tenant, rule.id);
  drop_rule(rule.tenant, rule.id);
  auto shared = std::make_shared<const Rule>(std::move(rule));
  for (const auto& type : shared->types) {
    auto& slot = by_type_[key2(shared->tenant, type)];
    if (!slot) slot = std::make_shared<TypeRules>();
    if (shared->kind != Rule::Kind::kThreshold) {
      slot->others.push_back(shared);
      continue;
    }
    const Threshold& t = shared->thresholds.front();
    auto& limits = slot->thresholds[t.iri];
    const bool up = t.op == Threshold::Op::kAbove || t.op == Threshold::Op::kAtLeast;
    auto& list = up ? limits.upward : limits.downward;
    list.emplace_back(t.limit, shared);
    std::stable_sort(list.begin(), list.end(), [up](const auto& a, const auto& b) {
      return up ? a.first < b.first : a.first > b.first;
    });
  }
  versions_[key] = std::max(versions_[key], shared->version);
  rules_[key] = std::move(shared);
}

void Engine::drop_rule(const std::string& tenant, const std::string& id) {
  auto it = rules_.find(key2(tenant, id));
  if (it == rules_.end()) return;
  const Rule* gone = it->second.get();
  auto same = [gone](const auto& entry) {
    if constexpr (requires { entry.second; }) {
      return entry.second.get() == gone;
    } else {
      return entry.get() == gone;
    }
  };
  for (const auto& type : it->second->types) {
    auto slot = by_type_.find(key2(tenant, type));
    if (slot == by_type_.end()) continue;
    std::erase_if(slot->second->others, same);
    for (auto& [_, limits] : slot->second->thresholds) {
      std::erase_if(limits.upward, same);
      std::erase_if(limits.downward, same);
    }
    std::erase_if(slot->second->thresholds, [](const auto& kv) {
      return kv.second.upward.empty() && kv.second.downward.empty();
    });
    if (slot->second->size() == 0) by_type_.erase(slot);
  }
  rules_.erase(it);
}

void Engine::write_record(std::vector<std::tuple<std::string_view, std::string, std::string>> puts,
                          std::vector<std::pair<std::string_view, std::string>> removes,
                          std::string tenant, std::function<void(base::Result<void>)> done) {
  hub_.store().write(
      [puts = std::move(puts), removes = std::move(removes),
       tenant](store::Transaction& tx) -> base::Result<store::WorkOutput> {
        for (const auto& [kind, id, doc] : puts) {
          if (auto ok = tx.put_record(kind, tenant, id, doc); !ok)
            return std::unexpected(ok.error());
        }
        for (const auto& [kind, id] : removes) {
          if (auto ok = tx.remove_record(kind, tenant, id); !ok) return std::unexpected(ok.error());
        }
        return store::WorkOutput{};
      },
      [done = std::move(done)](base::Result<store::WorkOutput> r) {
        if (!r) return done(std::unexpected(r.error()));
        done({});
      });
}

void Engine::create_rule(std::string tenant, json::object doc, Done done) {
  put_rule(std::move(tenant), std::move(doc), true, std::nullopt, std::move(done));
}

void Engine::replace_rule(std::string tenant, std::string id, json::object doc,
                          std::optional<std::uint64_t> expected_version, Done done) {
  if (auto given = json::get_string(doc, "id"); given && *given != id) {
    return done(base::fail(
        ErrorKind::kBadRequestData,
        fmt::format("rule: id '{}' in the body differs from '{}' in the path", *given, id)));
  }
  doc["id"] = id;
  put_rule(std::move(tenant), std::move(doc), false, expected_version, std::move(done));
}

void Engine::put_rule(std::string tenant, json::object doc, bool create,
                      std::optional<std::uint64_t> expected_version, Done done) {
  if (!expected_version && !create && doc.contains("version")) {
    expected_version = version_of(doc);
  }
  auto parsed = parse_rule(doc, tenant, contexts_);
  if (!parsed) return done(std::unexpected(parsed.error()));
  Rule rule = std::move(*parsed);
  const std::string key = key2(tenant, rule.id);
  std::vector<std::tuple<std::string_view, std::string, std::string>> puts;
  {
    std::lock_guard lock(mutex_);
    auto it = rules_.find(key);
    if (create && it != rules_.end()) {
      return done(
          base::fail(ErrorKind::kAlreadyExists,
                     fmt::format("rule '{}' already exists; PUT it to change it", rule.id)));
    }
    if (!create && it == rules_.end()) {
      return done(base::fail(ErrorKind::kResourceNotFound, fmt::format("no rule '{}'", rule.id)));
    }
    if (create && rules_.size() >= kRulesMax) {
      return done(base::fail(ErrorKind::kOperationNotSupported,
                             fmt::format("at most {} rules", kRulesMax)));
    }
    if (expected_version && it != rules_.end() && it->second->version != *expected_version) {
      return done(base::fail(ErrorKind::kAlreadyExists,
                             fmt::format("version conflict: rule '{}' is at version {}, not {}",
                                         rule.id, it->second->version, *expected_version)));
    }
    // A shipped rule edited for the first time keeps its file version in the history.
    if (it != rules_.end() && it->second->source != "api") {
      puts.emplace_back(
          kRuleVersionRecordKind, fmt::format("{}@{}", rule.id, it->second->version),
          json::serialize(with_version(it->second->doc, it->second->version, it->second->source)));
    }
    rule.version = ++versions_[key];
  }
  rule.source = "api";
  const std::string text = json::serialize(with_version(rule.doc, rule.version, "api"));
  puts.emplace_back(kRuleRecordKind, rule.id, text);
  puts.emplace_back(kRuleVersionRecordKind, fmt::format("{}@{}", rule.id, rule.version), text);
  auto shared = std::make_shared<Rule>(std::move(rule));
  write_record(std::move(puts), {}, tenant, [this, shared, done](base::Result<void> r) {
    if (!r) return done(std::unexpected(r.error()));
    json::object out = with_version(shared->doc, shared->version, "api");
    {
      // Seeding an absence rule queries the store: the engine thread does it, not this one
      // (the store's writer).
      std::lock_guard lock(mutex_);
      install_rule(*shared);
      if (shared->kind == Rule::Kind::kAbsence)
        pending_seeds_.push_back(rules_[key2(shared->tenant, shared->id)]);
    }
    done(std::move(out));
  });
}

void Engine::remove_rule(std::string tenant, std::string id,
                         std::function<void(base::Result<void>)> done) {
  std::uint64_t version = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = rules_.find(key2(tenant, id));
    if (it == rules_.end()) {
      return done(base::fail(ErrorKind::kResourceNotFound, fmt::format("no rule '{}'", id)));
    }
    version = ++versions_[key2(tenant, id)];
  }
  // A tombstone, so a shipped file with this id does not bring the rule back at restart.
  json::object tomb{{"id", id}, {"deleted", true}, {"version", version}};
  write_record({{kRuleRecordKind, id, json::serialize(tomb)}}, {}, tenant,
               [this, tenant, id, done](base::Result<void> r) {
                 if (!r) return done(std::unexpected(r.error()));
                 {
                   std::lock_guard lock(mutex_);
                   drop_rule(tenant, id);
                 }
                 done({});
               });
}

base::Result<json::object> Engine::rule(std::string_view tenant, std::string_view id,
                                        std::optional<std::uint64_t> version) const {
  {
    std::lock_guard lock(mutex_);
    auto it = rules_.find(key2(tenant, id));
    if (it != rules_.end() && (!version || *version == it->second->version)) {
      return with_version(it->second->doc, it->second->version, it->second->source);
    }
    if (!version) return base::fail(ErrorKind::kResourceNotFound, fmt::format("no rule '{}'", id));
  }
  auto records = hub_.store().records(kRuleVersionRecordKind);
  if (!records) return std::unexpected(records.error());
  const std::string want = fmt::format("{}@{}", id, *version);
  for (const auto& r : *records) {
    if (r.tenant != tenant || r.id != want) continue;
    auto doc = json::parse(r.doc);
    if (doc && doc->is_object()) return doc->get_object();
  }
  return base::fail(ErrorKind::kResourceNotFound,
                    fmt::format("rule '{}' has no version {}", id, *version));
}

json::array Engine::rules(std::string_view tenant) const {
  json::array out;
  std::lock_guard lock(mutex_);
  for (const auto& [_, r] : rules_) {
    if (r->tenant == tenant) out.push_back(with_version(r->doc, r->version, r->source));
  }
  return out;
}

void Engine::create_policy(std::string tenant, json::object doc, Done done) {
  put_policy(std::move(tenant), std::move(doc), true, std::move(done));
}

void Engine::replace_policy(std::string tenant, std::string id, json::object doc, Done done) {
  if (auto given = json::get_string(doc, "id"); given && *given != id) {
    return done(base::fail(
        ErrorKind::kBadRequestData,
        fmt::format("policy: id '{}' in the body differs from '{}' in the path", *given, id)));
  }
  doc["id"] = id;
  put_policy(std::move(tenant), std::move(doc), false, std::move(done));
}

void Engine::put_policy(std::string tenant, json::object doc, bool create, Done done) {
  auto parsed = parse_policy(doc, tenant);
  if (!parsed) return done(std::unexpected(parsed.error()));
  auto policy = std::make_shared<Policy>(std::move(*parsed));
  const std::string key = key2(tenant, policy->id);
  {
    std::lock_guard lock(mutex_);
    auto it = policies_.find(key);
    if (create && it != policies_.end()) {
      return done(
          base::fail(ErrorKind::kAlreadyExists,
                     fmt::format("policy '{}' already exists; PUT it to change it", policy->id)));
    }
    if (!create && it == policies_.end()) {
      return done(
          base::fail(ErrorKind::kResourceNotFound, fmt::format("no policy '{}'", policy->id)));
    }
    if (create && policies_.size() >= kPoliciesMax) {
      return done(base::fail(ErrorKind::kOperationNotSupported,
                             fmt::format("at most {} policies", kPoliciesMax)));
    }
    policy->version = it == policies_.end() ? 1 : it->second.version + 1;
  }
  policy->source = "api";
  write_record({{kPolicyRecordKind, policy->id,
                 json::serialize(with_version(policy->doc, policy->version, "api"))}},
               {}, tenant, [this, policy, key, done](base::Result<void> r) {
                 if (!r) return done(std::unexpected(r.error()));
                 json::object out = with_version(policy->doc, policy->version, "api");
                 {
                   std::lock_guard lock(mutex_);
                   policies_[key] = *policy;
                 }
                 done(std::move(out));
               });
}

void Engine::remove_policy(std::string tenant, std::string id,
                           std::function<void(base::Result<void>)> done) {
  {
    std::lock_guard lock(mutex_);
    if (!policies_.contains(key2(tenant, id))) {
      return done(base::fail(ErrorKind::kResourceNotFound, fmt::format("no policy '{}'", id)));
    }
  }
  json::object tomb{{"id", id}, {"deleted", true}};
  write_record({{kPolicyRecordKind, id, json::serialize(tomb)}}, {}, tenant,
               [this, tenant, id, done](base::Result<void> r) {
                 if (!r) return done(std::unexpected(r.error()));
                 {
                   std::lock_guard lock(mutex_);
                   policies_.erase(key2(tenant, id));
                 }
                 done({});
               });
}

base::Result<json::object> Engine::policy(std::string_view tenant, std::string_view id) const {
  std::lock_guard lock(mutex_);
  auto it = policies_.find(key2(tenant, id));
  if (it == policies_.end()) {
    return base::fail(ErrorKind::kResourceNotFound, fmt::format("no policy '{}'", id));
  }
  return with_version(it->second.doc, it->second.version, it->second.source);
}

json::array Engine::policies(std::string_view tenant) const {
  json::array out;
  std::lock_guard lock(mutex_);
  for (const auto& [_, p] : policies_) {
    if (p.tenant == tenant) out.push_back(with_version(p.doc, p.version, p.source));
  }
  return out;
}

void Engine::seed_pending() {
  std::vector<std::shared_ptr<const Rule>> seeds;
  {
    std::lock_guard lock(mutex_);
    seeds.swap(pending_seeds_);
  }
  for (const auto& r : seeds) seed_absence(*r);
}

void Engine::seed_absence(const Rule& rule) {
  if (rule.kind != Rule::Kind::kAbsence) return;
  auto q = rule.selector->entity_query();
  q.limit = kSeedEntitiesMax;
  auto found = hub_.store().query(rule.tenant, q);
  if (!found) {
    spdlog::warn("alarms: rule {}: cannot list the entities to watch: {}", rule.id,
                 found.error().detail);
    return;
  }
  const base::Micros now = clock_.now();
  std::lock_guard lock(mutex_);
  for (const auto& e : found->entities) {
    const auto id = json::get_string(e, model::key::kId);
    if (!id) continue;
    auto& track = tracks_[key2(key2(rule.tenant, rule.id), *id)];
    if (track) continue;
    track = std::make_shared<Track>();
    track->tenant = rule.tenant;
    track->rule_id = rule.id;
    track->entity_id = std::string(*id);
    track->state.last_seen = now;
    if (const auto* loc = e.if_contains("https://uri.etsi.org/ngsi-ld/location")) {
      if (loc->is_array() && !loc->get_array().empty() && loc->get_array()[0].is_object()) {
        if (const auto* v = loc->get_array()[0].get_object().if_contains(model::key::kValue)) {
          track->location = *v;
        }
      }
    }
  }
}

base::Result<std::size_t> Engine::load(const std::filesystem::path& rules_dir) {
  std::set<std::string> stored;  // keys of rules/policies the store decides (incl. deleted)
  auto rule_records = hub_.store().records(kRuleRecordKind);
  if (!rule_records) return std::unexpected(rule_records.error());
  for (const auto& rec : *rule_records) {
    auto doc = json::parse(rec.doc);
    if (!doc || !doc->is_object()) continue;
    const std::string key = key2(rec.tenant, rec.id);
    stored.insert("r" + key);
    std::lock_guard lock(mutex_);
    versions_[key] = std::max(versions_[key], version_of(doc->get_object()));
    if (doc->get_object().contains("deleted")) continue;
    auto rule = parse_rule(doc->get_object(), rec.tenant, contexts_);
    if (!rule) {
      spdlog::error("alarms: stored rule {} no longer parses: {}", rec.id, rule.error().detail);
      continue;
    }
    rule->version = version_of(doc->get_object());
    install_rule(std::move(*rule));
  }
  auto policy_records = hub_.store().records(kPolicyRecordKind);
  if (!policy_records) return std::unexpected(policy_records.error());
  for (const auto& rec : *policy_records) {
    auto doc = json::parse(rec.doc);
    if (!doc || !doc->is_object()) continue;
    stored.insert("p" + key2(rec.tenant, rec.id));
    if (doc->get_object().contains("deleted")) continue;
    auto p = parse_policy(doc->get_object(), rec.tenant);
    if (!p) {
      spdlog::error("alarms: stored policy {} no longer parses: {}", rec.id, p.error().detail);
      continue;
    }
    p->version = version_of(doc->get_object());
    std::lock_guard lock(mutex_);
    policies_[key2(rec.tenant, rec.id)] = std::move(*p);
  }
  std::error_code ec;
  if (!rules_dir.empty() && std::filesystem::is_directory(rules_dir, ec)) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(rules_dir, ec)) {
      if (entry.path().extension() == ".json") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      json::array rules, policies;
      if (auto ok = read_file(file, rules, policies); !ok) {
        return base::fail(ErrorKind::kBadRequestData,
                          fmt::format("{}: {}", file.string(), ok.error().detail));
      }
      for (std::size_t i = 0; i < rules.size(); ++i) {
        if (!rules[i].is_object()) {
          return base::fail(ErrorKind::kBadRequestData,
                            fmt::format("{}: rule {} is not an object", file.string(), i));
        }
        auto rule = parse_rule(rules[i].get_object(), "", contexts_);
        if (!rule) {
          return base::fail(ErrorKind::kBadRequestData,
                            fmt::format("{}: rule {}: {}", file.string(), i, rule.error().detail));
        }
        if (stored.contains("r" + key2("", rule->id))) continue;
        rule->version = version_of(rules[i].get_object());
        rule->source = file.filename().string();
        std::lock_guard lock(mutex_);
        install_rule(std::move(*rule));
      }
      for (std::size_t i = 0; i < policies.size(); ++i) {
        auto p = policies[i].is_object() ? parse_policy(policies[i].get_object(), "")
                                         : base::fail(ErrorKind::kBadRequestData, "not an object");
        if (!p) {
          return base::fail(ErrorKind::kBadRequestData,
                            fmt::format("{}: policy {}: {}", file.string(), i, p.error().detail));
        }
        if (stored.contains("p" + key2("", p->id))) continue;
        p->source = file.filename().string();
        std::lock_guard lock(mutex_);
        policies_[key2("", p->id)] = std::move(*p);
      }
    }
  }
  if (auto ok = load_alarms(); !ok) return std::unexpected(ok.error());
  std::vector<std::shared_ptr<const Rule>> absence;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [_, r] : rules_) {
      if (r->kind == Rule::Kind::kAbsence) absence.push_back(r);
    }
  }
  for (const auto& r : absence) seed_absence(*r);
  std::lock_guard lock(mutex_);
  return rules_.size();
}

base::Result<void> Engine::load_alarms() {
  std::set<std::string> tenants{""};
  {
    std::lock_guard lock(mutex_);
    for (const auto& [_, r] : rules_) tenants.insert(r->tenant);
  }
  const auto& ctx = *alert_context_;
  for (const auto& tenant : tenants) {
    store::EntityQuery q;
    q.any_of_types = std::vector<std::string>{ctx.expand("Alert")};
    q.limit = kActiveAlarmsMax;
    auto found = hub_.store().query(tenant, q);
    if (!found) {
      if (found.error().kind == ErrorKind::kNonexistentTenant) continue;
      return std::unexpected(found.error());
    }
    std::lock_guard lock(mutex_);
    for (const auto& e : found->entities) {
      const std::string status = prop_string(e, ctx, "status");
      if (status.empty() || status == "cleared") continue;
      auto a = std::make_shared<Alarm>();
      a->tenant = tenant;
      a->id = std::string(json::get_string(e, model::key::kId).value_or(""));
      a->rule_id = prop_string(e, ctx, "refRule");
      a->originator = prop_string(e, ctx, "alertSource");
      a->status = status;
      a->severity = parse_severity(prop_string(e, ctx, "severity")).value_or(Severity::kMajor);
      if (const auto* c = prop(e, ctx, "count"); c && (c->is_int64() || c->is_uint64())) {
        a->count = c->to_number<std::uint64_t>();
      }
      if (const auto* v = prop(e, ctx, "lastValue")) a->last_value = *v;
      a->last_at = base::parse_iso8601(prop_string(e, ctx, "lastAt")).value_or(0);
      a->raised_at = base::parse_iso8601(prop_string(e, ctx, "dateIssued")).value_or(0);
      a->acknowledged_by = prop_string(e, ctx, "acknowledgedBy");
      a->note = prop_string(e, ctx, "note");
      if (const auto* v = prop(e, ctx, "escalated"); v && v->is_bool())
        a->escalated = v->get_bool();
      a->name = prop_string(e, ctx, "name");
      a->description = prop_string(e, ctx, "description");
      a->category = prop_string(e, ctx, "category");
      a->sub_category = prop_string(e, ctx, "subCategory");
      a->department = prop_string(e, ctx, "department");
      if (const auto* v = prop(e, ctx, "location")) a->location = *v;
      set_active(*a, true);
      alarms_[key2(tenant, a->id)] = std::move(a);
    }
  }
  return {};
}

}  // namespace cityroom::alarms
