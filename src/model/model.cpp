// Parsing NGSI-LD wire entities (normalized, concise, keyValues) into the internal form.
#include "model/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "model/internal.h"

namespace cityroom::model {
namespace {

using base::ErrorKind;
using base::fail;

constexpr std::size_t kSubAttributeDepthMax = 16;
constexpr std::size_t kNameBytesMax = 1024;
constexpr std::string_view kForbiddenNameChars = "<>\"'=;()";

struct TypeAndMember {
  std::string_view type;
  std::string_view member;
};
constexpr std::array<TypeAndMember, 8> kAttributeTypes = {{
    {"Property", key::kValue},
    {"Relationship", key::kObject},
    {"GeoProperty", key::kValue},
    {"LanguageProperty", key::kLanguageMap},
    {"VocabProperty", key::kVocab},
    {"ListProperty", key::kValueList},
    {"ListRelationship", key::kObjectList},
    {"JsonProperty", key::kJson},
}};

// Value members in the order a concise reader tries them (the first present decides the type).
constexpr std::array<TypeAndMember, 7> kInferredByMember = {{
    {"Property", key::kValue},
    {"Relationship", key::kObject},
    {"LanguageProperty", key::kLanguageMap},
    {"VocabProperty", key::kVocab},
    {"ListProperty", key::kValueList},
    {"ListRelationship", key::kObjectList},
    {"JsonProperty", key::kJson},
}};

constexpr std::array<std::string_view, 21> kReservedMembers = {
    key::kId,         key::kType,       key::kScope,       key::kCreatedAt, key::kModifiedAt,
    "deletedAt",      key::kObservedAt, key::kUnitCode,    key::kDatasetId, key::kValue,
    key::kObject,     key::kLanguageMap, key::kVocab,      key::kValueList, key::kObjectList,
    key::kJson,       "lang",           "instanceId",      key::kContext,   "@id",
    "@type"};

// Members of an attribute instance that a client may send but the broker owns or ignores.
constexpr std::array<std::string_view, 5> kIgnoredInstanceMembers = {
    key::kCreatedAt, key::kModifiedAt, "deletedAt", "instanceId", "lang"};

// Entity-level names that are not attributes and cannot be used as attribute names there.
constexpr std::array<std::string_view, 4> kForbiddenEntityAttributes = {
    key::kObservedAt, key::kUnitCode, key::kDatasetId, "instanceId"};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_geo_attribute(std::string_view iri) {
  return iri == internal::kLocationIri || iri == internal::kObservationSpaceIri ||
         iri == internal::kOperationSpaceIri;
}

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > kNameBytesMax) return false;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || kForbiddenNameChars.find(c) != std::string_view::npos) {
      return false;
    }
  }
  return base::is_valid_utf8(name);
}

// Parser state for one call: the context, the options and the formatted timestamp.
class Parser {
 public:
  Parser(const ldcontext::Context& ctx, const ParseOptions& options)
      : ctx_(ctx), options_(options) {
    if (options.now > 0) now_ = base::format_iso8601(options.now);
  }

  base::Result<Entity> entity(const json::object& body) const;
  base::Result<json::array> attribute(std::string_view name, const json::value& v) const;

 private:
  base::Result<void> entity_member(std::string_view name, const json::value& v,
                                   Entity& out) const;
  base::Result<json::value> entity_types(const json::value& v) const;
  base::Result<json::object> instance(std::string_view name, std::string_view iri,
                                      const json::value& v, std::size_t depth) const;
  base::Result<json::object> key_value(std::string_view name, std::string_view iri,
                                       const json::value& v) const;
  base::Result<json::object> object_instance(std::string_view name, std::string_view iri,
                                             const json::object& o, std::size_t depth) const;
  base::Result<json::object> typed_instance(std::string_view name, std::string_view iri,
                                            const json::object& o, std::string_view type,
                                            bool explicit_type, std::size_t depth) const;
  base::Result<void> instance_member(std::string_view name, std::string_view type,
                                     std::string_view member, const json::value& v,
                                     std::size_t depth, json::object& out) const;
  base::Result<json::value> value_of(std::string_view name, std::string_view type,
                                     const json::value& v) const;
  base::Result<json::value> vocab_value(std::string_view name, const json::value& v) const;
  base::Result<json::value> object_list(std::string_view name, const json::value& v) const;
  json::object simple(std::string_view type, json::value value, std::size_t depth) const;
  void stamp(json::object& instance, std::size_t depth) const;

  const ldcontext::Context& ctx_;
  const ParseOptions& options_;
  std::string now_;
};

base::Error bad(std::string detail) { return base::Error{ErrorKind::kBadRequestData, detail}; }

base::Result<Entity> Parser::entity(const json::object& body) const {
  Entity out;
  if (const json::value* id = body.if_contains(key::kId)) {
    if (!id->is_string() || !base::is_uri(id->get_string())) {
      return fail(ErrorKind::kBadRequestData,
                  fmt::format("entity id must be a URI, got {}", json::serialize(*id)));
    }
    out[key::kId] = *id;
  } else if (options_.mode == ParseMode::kEntity) {
    return fail(ErrorKind::kBadRequestData, "entity has no \"id\"");
  }
  if (const json::value* type = body.if_contains(key::kType)) {
    auto types = entity_types(*type);
    if (!types) return std::unexpected(types.error());
    out[key::kType] = std::move(*types);
  } else if (options_.mode == ParseMode::kEntity) {
    return fail(ErrorKind::kBadRequestData, "entity has no \"type\"");
  }
  for (const auto& member : body) {
    if (auto r = entity_member(member.key(), member.value(), out); !r) {
      return std::unexpected(r.error());
    }
  }
  if (options_.mode == ParseMode::kEntity && !now_.empty()) {
    out[key::kCreatedAt] = now_;
    out[key::kModifiedAt] = now_;
  }
  return out;
}

base::Result<json::value> Parser::entity_types(const json::value& v) const {
  json::array types;
  auto add = [&](const json::value& t) -> bool {
    if (!t.is_string() || !is_valid_name(t.get_string())) return false;
    types.emplace_back(ctx_.expand(t.get_string()));
    return true;
  };
  bool ok = v.is_string() ? add(v) : v.is_array() && !v.get_array().empty();
  if (v.is_array()) {
    for (const json::value& t : v.get_array()) ok = ok && add(t);
  }
  if (!ok) {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("entity type must be a valid name or a non-empty array of them, got {}",
                            json::serialize(v)));
  }
  return json::value(std::move(types));
}

base::Result<json::value> scope_value(const json::value& v) {
  json::array scopes;
  auto add = [&](const json::value& s) {
    if (!s.is_string() || !s.get_string().starts_with("/")) return false;
    scopes.push_back(s);
    return true;
  };
  bool ok = v.is_string() ? add(v) : v.is_array() && !v.get_array().empty();
  if (v.is_array()) {
    for (const json::value& s : v.get_array()) ok = ok && add(s);
  }
  if (!ok) {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("scope must be a string starting with '/' or an array of them, got {}",
                            json::serialize(v)));
  }
  return json::value(std::move(scopes));
}

// Adds `instances` under `iri`, keeping datasetIds unique (two names may expand alike).
base::Result<void> merge_instances(std::string_view name, std::string_view iri,
                                   json::array instances, Entity& out) {
  json::value& slot = out[iri];
  if (!slot.is_array()) slot = json::array();
  json::array& all = slot.get_array();
  for (json::value& inst : instances) {
    const json::value* id = inst.get_object().if_contains(key::kDatasetId);
    for (const json::value& held : all) {
      const json::value* held_id = held.get_object().if_contains(key::kDatasetId);
      if ((id == nullptr && held_id == nullptr) || (id && held_id && *id == *held_id)) {
        return fail(ErrorKind::kBadRequestData,
                    id ? fmt::format("attribute '{}' has two instances with datasetId {}", name,
                                     json::serialize(*id))
                       : fmt::format("attribute '{}' has two default instances (no datasetId)",
                                     name));
      }
    }
    all.push_back(std::move(inst));
  }
  return {};
}

base::Result<void> Parser::entity_member(std::string_view name, const json::value& v,
                                         Entity& out) const {
  if (name == key::kId || name == key::kType || name == key::kContext) return {};
  if (name == key::kCreatedAt || name == key::kModifiedAt || name == "deletedAt") return {};
  if (name == key::kScope) {
    auto scope = scope_value(v);
    if (!scope) return std::unexpected(scope.error());
    out[key::kScope] = std::move(*scope);
    return {};
  }
  if (contains(kForbiddenEntityAttributes, name)) {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("'{}' is an attribute member, not an entity attribute", name));
  }
  auto instances = attribute(name, v);
  if (!instances) return std::unexpected(instances.error());
  return merge_instances(name, ctx_.expand(name), std::move(*instances), out);
}

base::Result<json::array> Parser::attribute(std::string_view name, const json::value& v) const {
  if (!is_valid_name(name)) {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("invalid attribute name '{}': it must be non-empty, without spaces "
                            "or any of {}",
                            name, kForbiddenNameChars));
  }
  const std::string iri = ctx_.expand(name);
  if (iri.starts_with("@")) {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("'{}' is a JSON-LD keyword and cannot name an attribute", name));
  }
  json::array out;
  const json::array* a = v.if_array();
  const bool several = !options_.key_values && a && !a->empty() &&
                       std::all_of(a->begin(), a->end(), [](const json::value& e) {
                         return e.is_object() && internal::looks_like_attribute(e.get_object());
                       });
  if (!several) {
    auto inst = instance(name, iri, v, 0);
    if (!inst) return std::unexpected(inst.error());
    out.emplace_back(std::move(*inst));
    return out;
  }
  Entity holder;
  for (const json::value& e : *a) {
    auto inst = instance(name, iri, e, 0);
    if (!inst) return std::unexpected(inst.error());
    if (auto r = merge_instances(name, iri, json::array{std::move(*inst)}, holder); !r) {
      return std::unexpected(r.error());
    }
  }
  return std::move(holder[iri].get_array());
}

base::Result<json::object> Parser::instance(std::string_view name, std::string_view iri,
                                            const json::value& v, std::size_t depth) const {
  if (depth > kSubAttributeDepthMax) {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("attribute '{}': sub-attributes nested deeper than {}", name,
                            kSubAttributeDepthMax));
  }
  if (v.is_null()) {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("attribute '{}' has a null value (not allowed)", name));
  }
  if (options_.key_values) return key_value(name, iri, v);
  if (v.is_object()) return object_instance(name, iri, v.get_object(), depth);
  if (is_geo_attribute(iri)) {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("attribute '{}' must be a GeoProperty (a GeoJSON geometry), got {}",
                            name, json::kind_name(v)));
  }
  // A scalar or an array that is not a list of attribute instances is a Property's value.
  return simple("Property", v, depth);
}

base::Result<json::object> Parser::key_value(std::string_view name, std::string_view iri,
                                             const json::value& v) const {
  const json::object* o = v.if_object();
  if (o && internal::looks_like_geometry(*o)) {
    if (auto e = internal::geometry_error(v, options_.coordinate_range_check)) {
      return fail(ErrorKind::kBadRequestData, fmt::format("attribute '{}': {}", name, *e));
    }
    return simple("GeoProperty", v, 0);
  }
  if (is_geo_attribute(iri)) {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("attribute '{}' must be a GeoJSON geometry", name));
  }
  return simple("Property", v, 0);
}

base::Result<json::object> Parser::object_instance(std::string_view name, std::string_view iri,
                                                   const json::object& o,
                                                   std::size_t depth) const {
  if (const auto type = json::get_string(o, key::kType); type && internal::is_attribute_type(*type)) {
    return typed_instance(name, iri, o, *type, true, depth);
  }
  for (const auto& [type, member] : kInferredByMember) {
    if (!o.contains(member)) continue;
    // {"type": "Propertee", "value": 1} is a normalized attribute with a wrong type, not a
    // concise value: refuse it rather than guess.
    if (const auto given = json::get_string(o, key::kType)) {
      return fail(ErrorKind::kBadRequestData,
                  fmt::format("attribute '{}' has type '{}', which is not an NGSI-LD attribute "
                              "type (Property, Relationship, GeoProperty, LanguageProperty, "
                              "VocabProperty, ListProperty, ListRelationship, JsonProperty)",
                              name, *given));
    }
    return typed_instance(name, iri, o, type, false, depth);
  }
  if (internal::looks_like_geometry(o)) {
    if (auto e = internal::geometry_error(o, options_.coordinate_range_check)) {
      return fail(ErrorKind::kBadRequestData, fmt::format("attribute '{}': {}", name, *e));
    }
    return simple("GeoProperty", o, depth);
  }
  if (is_geo_attribute(iri)) {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("attribute '{}' must be a GeoProperty (a GeoJSON geometry)", name));
  }
  // An object that is not an attribute (e.g. {"streetAddress": ..., "type": "PostalAddress"})
  // is the value of a Property.
  return simple("Property", o, depth);
}

base::Result<json::object> Parser::typed_instance(std::string_view name, std::string_view iri,
                                                  const json::object& o, std::string_view type,
                                                  bool explicit_type, std::size_t depth) const {
  // Concise {"value": <geometry>, ...} is a GeoProperty, like a bare geometry.
  const json::value* value = o.if_contains(key::kValue);
  if (!explicit_type && type == "Property" && value && value->is_object() &&
      internal::looks_like_geometry(value->get_object())) {
    type = "GeoProperty";
  }
  if (is_geo_attribute(iri) && type != "GeoProperty") {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("attribute '{}' must be a GeoProperty, not a {}", name, type));
  }
  const std::string_view member = value_member(type);
  json::object out;
  out[key::kType] = type;
  for (const auto& m : o) {
    if (auto r = instance_member(name, type, m.key(), m.value(), depth, out); !r) {
      return std::unexpected(r.error());
    }
  }
  if (!out.contains(member)) {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("attribute '{}': a {} needs a \"{}\" member", name, type, member));
  }
  stamp(out, depth);
  return out;
}

base::Result<void> Parser::instance_member(std::string_view name, std::string_view type,
                                           std::string_view member, const json::value& v,
                                           std::size_t depth, json::object& out) const {
  // "type" was read already; a non-attribute "type" beside a value member is dropped.
  if (member == key::kType || contains(kIgnoredInstanceMembers, member)) return {};
  if (member == value_member(type)) {
    auto value = value_of(name, type, v);
    if (!value) return std::unexpected(value.error());
    out[member] = std::move(*value);
    return {};
  }
  if (member == key::kObservedAt) {
    if (!v.is_string() || !base::parse_iso8601(v.get_string())) {
      return std::unexpected(bad(fmt::format(
          "attribute '{}': observedAt must be an ISO 8601 date-time, got {}", name,
          json::serialize(v))));
    }
    out[member] = v;
    return {};
  }
  if (member == key::kUnitCode) {
    if (!v.is_string() || v.get_string().empty()) {
      return std::unexpected(
          bad(fmt::format("attribute '{}': unitCode must be a non-empty string", name)));
    }
    out[member] = v;
    return {};
  }
  if (member == key::kDatasetId) {
    if (!v.is_string() || !base::is_uri(v.get_string())) {
      return std::unexpected(bad(fmt::format("attribute '{}': datasetId must be a URI, got {}",
                                             name, json::serialize(v))));
    }
    out[member] = v;
    return {};
  }
  if (member == key::kContext) return {};
  if (contains(kReservedMembers, member)) {
    return std::unexpected(
        bad(fmt::format("attribute '{}': a {} cannot have a \"{}\" member", name, type, member)));
  }
  // Anything else is a sub-attribute: one instance, parsed with the same rules.
  if (!is_valid_name(member)) {
    return std::unexpected(bad(fmt::format("attribute '{}': invalid sub-attribute name '{}'",
                                           name, member)));
  }
  const std::string sub_iri = ctx_.expand(member);
  if (sub_iri.starts_with("@") || out.contains(sub_iri)) {
    return std::unexpected(bad(fmt::format(
        "attribute '{}': sub-attribute '{}' is a keyword or given twice", name, member)));
  }
  if (const json::array* a = v.if_array(); a && !a->empty() &&
      std::all_of(a->begin(), a->end(), [](const json::value& e) {
        return e.is_object() && internal::looks_like_attribute(e.get_object());
      })) {
    return std::unexpected(bad(fmt::format(
        "attribute '{}': sub-attribute '{}' cannot have several instances", name, member)));
  }
  auto sub = instance(member, sub_iri, v, depth + 1);
  if (!sub) return std::unexpected(sub.error());
  out[sub_iri] = std::move(*sub);
  return {};
}

base::Result<json::value> Parser::value_of(std::string_view name, std::string_view type,
                                           const json::value& v) const {
  if (v.is_null()) {
    return std::unexpected(bad(fmt::format("attribute '{}': a {} value cannot be null", name, type)));
  }
  if (type == "GeoProperty") {
    if (auto e = internal::geometry_error(v, options_.coordinate_range_check)) {
      return std::unexpected(bad(fmt::format("attribute '{}': {}", name, *e)));
    }
  } else if (type == "Relationship") {
    const bool ok = v.is_string() ? base::is_uri(v.get_string())
                    : v.is_array() && !v.get_array().empty() &&
                          std::all_of(v.get_array().begin(), v.get_array().end(),
                                      [](const json::value& u) {
                                        return u.is_string() && base::is_uri(u.get_string());
                                      });
    if (!ok) {
      return std::unexpected(bad(fmt::format(
          "attribute '{}': a Relationship's object must be a URI or an array of URIs, got {}",
          name, json::serialize(v))));
    }
  } else if (type == "LanguageProperty") {
    const json::object* map = v.if_object();
    const auto is_text = [](const json::value& t) {
      return t.is_string() || (t.is_array() && std::all_of(t.get_array().begin(),
                                                           t.get_array().end(),
                                                           [](const json::value& s) {
                                                             return s.is_string();
                                                           }));
    };
    if (!map || std::any_of(map->begin(), map->end(), [&](const auto& kv) {
          return kv.key().empty() || !is_text(kv.value());
        })) {
      return std::unexpected(bad(fmt::format(
          "attribute '{}': languageMap must be an object of language → string (or strings)",
          name)));
    }
  } else if (type == "VocabProperty") {
    return vocab_value(name, v);
  } else if (type == "ListProperty") {
    if (!v.is_array()) {
      return std::unexpected(
          bad(fmt::format("attribute '{}': valueList must be an array", name)));
    }
  } else if (type == "ListRelationship") {
    return object_list(name, v);
  }
  return v;
}

base::Result<json::value> Parser::vocab_value(std::string_view name, const json::value& v) const {
  auto one = [&](const json::value& t) -> std::optional<json::value> {
    if (!t.is_string() || t.get_string().empty()) return std::nullopt;
    return json::value(ctx_.expand(t.get_string()));
  };
  if (v.is_string()) {
    if (auto e = one(v)) return std::move(*e);
  } else if (v.is_array() && !v.get_array().empty()) {
    json::array out;
    for (const json::value& t : v.get_array()) {
      auto e = one(t);
      if (!e) break;
      out.push_back(std::move(*e));
    }
    if (out.size() == v.get_array().size()) return json::value(std::move(out));
  }
  return std::unexpected(bad(fmt::format(
      "attribute '{}': vocab must be a term or an array of terms, got {}", name,
      json::serialize(v))));
}

base::Result<json::value> Parser::object_list(std::string_view name, const json::value& v) const {
  if (!v.is_array()) {
    return std::unexpected(bad(fmt::format("attribute '{}': objectList must be an array", name)));
  }
  json::array out;
  for (const json::value& item : v.get_array()) {
    const json::value* uri = &item;
    if (const json::object* o = item.if_object()) uri = o->if_contains(key::kObject);
    if (!uri || !uri->is_string() || !base::is_uri(uri->get_string())) {
      return std::unexpected(bad(fmt::format(
          "attribute '{}': objectList items must be URIs or {{\"object\": URI}}, got {}", name,
          json::serialize(item))));
    }
    out.push_back(json::object{{key::kObject, *uri}});
  }
  return json::value(std::move(out));
}

json::object Parser::simple(std::string_view type, json::value value, std::size_t depth) const {
  json::object out;
  out[key::kType] = type;
  out[key::kValue] = std::move(value);
  stamp(out, depth);
  return out;
}

// System attributes go on top-level instances only; sub-attributes stay small.
void Parser::stamp(json::object& instance, std::size_t depth) const {
  if (depth > 0 || now_.empty()) return;
  instance[key::kCreatedAt] = now_;
  instance[key::kModifiedAt] = now_;
}

}  // namespace

namespace internal {

bool is_attribute_type(std::string_view type) { return !value_member(type).empty(); }

bool looks_like_attribute(const json::object& o) {
  if (const auto type = json::get_string(o, key::kType); type && is_attribute_type(*type)) {
    return true;
  }
  return std::any_of(kInferredByMember.begin(), kInferredByMember.end(),
                     [&](const TypeAndMember& t) { return o.contains(t.member); });
}

}  // namespace internal

bool is_reserved_member(std::string_view name) { return contains(kReservedMembers, name); }

std::string_view value_member(std::string_view attribute_type) {
  for (const auto& [type, member] : kAttributeTypes) {
    if (type == attribute_type) return member;
  }
  return {};
}

base::Result<Entity> parse_entity(const json::object& body, const ldcontext::Context& ctx,
                                  const ParseOptions& options) {
  try {
    return Parser(ctx, options).entity(body);
  } catch (const std::exception& e) {  // allocation failure inside Boost.JSON
    return fail(ErrorKind::kInternalError, fmt::format("parsing an entity: {}", e.what()));
  }
}

base::Result<json::array> parse_attribute(std::string_view name, const json::value& v,
                                          const ldcontext::Context& ctx,
                                          const ParseOptions& options) {
  try {
    return Parser(ctx, options).attribute(name, v);
  } catch (const std::exception& e) {
    return fail(ErrorKind::kInternalError, fmt::format("parsing an attribute: {}", e.what()));
  }
}

std::vector<std::string> entity_types(const Entity& e) {
  std::vector<std::string> out;
  if (const json::value* types = e.if_contains(key::kType); types && types->is_array()) {
    for (const json::value& t : types->get_array()) {
      if (t.is_string()) out.emplace_back(t.get_string());
    }
  }
  return out;
}

}  // namespace cityroom::model
