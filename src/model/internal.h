// Private to model: helpers shared by parsing and rendering.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "json/json.h"

namespace cityroom::model::internal {

inline constexpr std::string_view kNgsiLdPrefix = "https://uri.etsi.org/ngsi-ld/";
// Attributes whose value must be a geometry (NGSI-LD core GeoProperty names), as expanded IRIs.
inline constexpr std::string_view kLocationIri = "https://uri.etsi.org/ngsi-ld/location";
inline constexpr std::string_view kObservationSpaceIri =
    "https://uri.etsi.org/ngsi-ld/observationSpace";
inline constexpr std::string_view kOperationSpaceIri =
    "https://uri.etsi.org/ngsi-ld/operationSpace";

// The NGSI-LD attribute types; `value_member` maps each to its value member.
bool is_attribute_type(std::string_view type);

// True for an object that names a GeoJSON geometry type and carries "coordinates" (or
// "geometries" for a GeometryCollection): what a reader would take for a geometry.
bool looks_like_geometry(const json::object& o);

// Why `v` is not a valid GeoJSON geometry (RFC 7946 structure: type, coordinates nesting and
// arity, numbers, closed linear rings), or nullopt when it is valid.
std::optional<std::string> geometry_error(const json::value& v, bool check_range);

// True for an object a concise reader takes for an attribute rather than for a value: a "type"
// naming an attribute type, or one of the value members (value, object, languageMap, ...).
bool looks_like_attribute(const json::object& o);

}  // namespace cityroom::model::internal
