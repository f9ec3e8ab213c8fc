// model: NGSI-LD entities as cityroom keeps them, and the translation from and to the wire.
//
// THE INTERNAL FORM (every module that looks inside an entity relies on this):
//   An entity is a `json::object` in *expanded normalized* form:
//     "id":         string, an absolute URI
//     "type":       array of strings, expanded type IRIs (at least one), in input order
//     "scope":      optional array of strings (scopes, e.g. "/Seoul/Gangnam")
//     "createdAt", "modifiedAt": ISO 8601 strings (system attributes)
//     "<attribute IRI>": array of attribute instances (one per datasetId; the default instance
//                        has no "datasetId")
//   An attribute instance is an object:
//     "type": one of Property, Relationship, GeoProperty, LanguageProperty, VocabProperty,
//             ListProperty, ListRelationship, JsonProperty
//     its value member: "value" (Property, GeoProperty: the GeoJSON geometry),
//             "object" (Relationship: URI string or array of URIs), "languageMap" (object
//             lang → string or array), "vocab" (VocabProperty: expanded IRI string or array),
//             "valueList" (ListProperty: array), "objectList" (ListRelationship: array of
//             {"object": uri}), "json" (JsonProperty: any JSON, never expanded)
//     optional: "observedAt" (ISO 8601), "unitCode", "datasetId" (URI), "createdAt", "modifiedAt"
//     sub-attributes: "<IRI>": ONE instance object of the same shape (no arrays below the top)
//   Property values are kept exactly as given (objects inside a value are not expanded).
//
// Parsing accepts normalized and concise input (and keyValues for update fragments when asked)
// and rejects what the spec forbids with BadRequestData and a detail naming the attribute.
// Rendering produces normalized, concise or keyValues output compacted with the request's
// @context, with projection (attrs / pick / omit), sysAttrs, lang and datasetId selection.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "json/json.h"
#include "ldcontext/ldcontext.h"

namespace cityroom::model {

using Entity = json::object;

// Member names of the internal form (also the NGSI-LD core terms on the wire).
namespace key {
inline constexpr std::string_view kId = "id";
inline constexpr std::string_view kType = "type";
inline constexpr std::string_view kScope = "scope";
inline constexpr std::string_view kCreatedAt = "createdAt";
inline constexpr std::string_view kModifiedAt = "modifiedAt";
inline constexpr std::string_view kObservedAt = "observedAt";
inline constexpr std::string_view kUnitCode = "unitCode";
inline constexpr std::string_view kDatasetId = "datasetId";
inline constexpr std::string_view kValue = "value";
inline constexpr std::string_view kObject = "object";
inline constexpr std::string_view kLanguageMap = "languageMap";
inline constexpr std::string_view kVocab = "vocab";
inline constexpr std::string_view kValueList = "valueList";
inline constexpr std::string_view kObjectList = "objectList";
inline constexpr std::string_view kJson = "json";
inline constexpr std::string_view kContext = "@context";
}  // namespace key

// True for members of an entity or instance that are not attributes (id, type, scope,
// createdAt, value, observedAt, ...). Everything else in the internal form is an attribute IRI.
bool is_reserved_member(std::string_view name);

// The value member name for an attribute type ("Property" → "value", "Relationship" →
// "object", ...); empty for an unknown type.
std::string_view value_member(std::string_view attribute_type);

enum class ParseMode {
  kEntity,    // a whole entity: "id" and "type" required (POST /entities, batch create/upsert)
  kFragment,  // attributes only, as in POST/PATCH /entities/{id}/attrs; "id"/"type" optional
              // and, when present, must not contradict (the caller checks)
};

struct ParseOptions {
  ParseMode mode = ParseMode::kEntity;
  bool key_values = false;  // input is keyValues (options=keyValues on update): every plain value
                            // becomes a Property (GeoJSON geometry → GeoProperty)
  base::Micros now = 0;     // createdAt/modifiedAt stamped on every top-level instance and, in
                            // kEntity mode, on the entity (0: none are set). Sub-attributes
                            // carry none; values a client sends for them are ignored.
  // Reject GeoJSON positions outside longitude [-180, 180] / latitude [-90, 90] (RFC 7946: WGS84
  // positions). On by default: a point that no map can show is a data error the sender should
  // hear about (the Smart Data Models RoadAccident example has latitude 168 and is refused).
  bool coordinate_range_check = true;
};

// Parses a wire entity (normalized or concise). "@context" members are ignored here (the caller
// resolved them into `ctx`). Attribute names and types are expanded with `ctx`.
base::Result<Entity> parse_entity(const json::object& body, const ldcontext::Context& ctx,
                                  const ParseOptions& options);

// Parses one attribute's wire value (as found under its name) into instances.
// `name` is the attribute's term, used in error details only.
base::Result<json::array> parse_attribute(std::string_view name, const json::value& v,
                                          const ldcontext::Context& ctx,
                                          const ParseOptions& options);

enum class Format { kNormalized, kConcise, kKeyValues };

struct RenderOptions {
  Format format = Format::kNormalized;
  bool sys_attrs = false;
  // Expanded IRIs of the attributes to keep (attrs= / pick=); nullopt keeps all.
  std::optional<std::set<std::string, std::less<>>> attrs;
  // pick/omit may also name "id" and "type" (NGSI-LD 1.8); these flags apply them.
  bool omit_id = false;
  bool omit_type = false;
  // Expanded IRIs to drop (omit=).
  std::set<std::string, std::less<>> omit;
  // lang=: LanguageProperty rendered as a Property holding the best-matching string, with a
  // "lang" member; "*" keeps all.
  std::optional<std::string> lang;
  // datasetId=: keep only instances with these datasetIds ("@none" = the default instance).
  std::optional<std::set<std::string, std::less<>>> dataset_ids;
};

// Renders an entity compacted with `ctx`. Never adds "@context" (the API layer decides whether
// it goes in the body or in a Link header).
json::object render_entity(const Entity& e, const ldcontext::Context& ctx,
                           const RenderOptions& options);

// Renders one attribute (all its instances: one object, or an array for several datasetIds).
// Null when the datasetId selection leaves no instance.
json::value render_attribute(const json::array& instances, const ldcontext::Context& ctx,
                             const RenderOptions& options);

// GeoJSON Feature for Accept: application/geo+json: {"id","type":"Feature","geometry",
// "properties":{...rendered attributes incl. "type"}}. `geoproperty_iri` picks the geometry
// (null geometry when the entity has none).
json::object render_feature(const Entity& e, const ldcontext::Context& ctx,
                            const RenderOptions& options, std::string_view geoproperty_iri);

// Expanded type IRIs of an entity.
std::vector<std::string> entity_types(const Entity& e);

}  // namespace cityroom::model
