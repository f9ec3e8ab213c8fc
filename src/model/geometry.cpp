// A small structural GeoJSON geometry validator, so that model does not depend on geo.
#include <fmt/format.h>

#include <array>

#include "model/internal.h"

namespace cityroom::model::internal {
namespace {

constexpr double kLongitudeMax = 180.0;
constexpr double kLatitudeMax = 90.0;
constexpr std::size_t kPositionArityMin = 2;
constexpr std::size_t kPositionArityMax = 3;  // RFC 7946 3.1.1: SHOULD NOT extend beyond three
constexpr std::size_t kLineStringPositionsMin = 2;
constexpr std::size_t kLinearRingPositionsMin = 4;
constexpr std::size_t kCollectionNestingMax = 4;

constexpr std::array<std::string_view, 7> kGeometryTypes = {
    "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
    "GeometryCollection"};

using Error = std::optional<std::string>;

Error position_error(const json::value& v, bool check_range) {
  const json::array* a = v.if_array();
  if (!a || a->size() < kPositionArityMin || a->size() > kPositionArityMax) {
    return "a position must be an array of 2 or 3 numbers";
  }
  for (const json::value& n : *a) {
    if (!n.is_number()) return "a position must hold numbers only";
  }
  if (check_range) {
    const double lon = (*a)[0].to_number<double>();
    const double lat = (*a)[1].to_number<double>();
    if (lon < -kLongitudeMax || lon > kLongitudeMax || lat < -kLatitudeMax || lat > kLatitudeMax) {
      return fmt::format("position [{}, {}] is outside longitude/latitude range", lon, lat);
    }
  }
  return std::nullopt;
}

Error positions_error(const json::value& v, std::size_t min_count, bool check_range) {
  const json::array* a = v.if_array();
  if (!a || a->size() < min_count) {
    return fmt::format("expected an array of at least {} positions", min_count);
  }
  for (const json::value& p : *a) {
    if (auto e = position_error(p, check_range)) return e;
  }
  return std::nullopt;
}

Error ring_error(const json::value& v, bool check_range) {
  if (auto e = positions_error(v, kLinearRingPositionsMin, check_range)) {
    return "a polygon ring must be " + e->substr(std::string_view("expected ").size());
  }
  const json::array& ring = v.get_array();
  if (ring.front() != ring.back()) return "a polygon ring must be closed (first == last)";
  return std::nullopt;
}

Error polygon_error(const json::value& v, bool check_range) {
  const json::array* rings = v.if_array();
  if (!rings || rings->empty()) return "a polygon must be a non-empty array of rings";
  for (const json::value& ring : *rings) {
    if (auto e = ring_error(ring, check_range)) return e;
  }
  return std::nullopt;
}

// Applies `each` to every element of a non-empty array.
template <class F>
Error each_error(const json::value& v, std::string_view what, F each) {
  const json::array* a = v.if_array();
  if (!a || a->empty()) return fmt::format("{} must be a non-empty array", what);
  for (const json::value& item : *a) {
    if (auto e = each(item)) return e;
  }
  return std::nullopt;
}

Error coordinates_error(std::string_view type, const json::value& c, bool check_range) {
  if (type == "Point") return position_error(c, check_range);
  if (type == "MultiPoint") return positions_error(c, 1, check_range);
  if (type == "LineString") return positions_error(c, kLineStringPositionsMin, check_range);
  if (type == "MultiLineString") {
    return each_error(c, "MultiLineString coordinates", [&](const json::value& line) {
      return positions_error(line, kLineStringPositionsMin, check_range);
    });
  }
  if (type == "Polygon") return polygon_error(c, check_range);
  return each_error(c, "MultiPolygon coordinates",
                    [&](const json::value& p) { return polygon_error(p, check_range); });
}

Error geometry_error_at(const json::value& v, bool check_range, std::size_t depth) {
  const json::object* o = v.if_object();
  if (!o) return fmt::format("a geometry must be an object, not {}", json::kind_name(v));
  const auto type = json::get_string(*o, "type");
  if (!type || std::find(kGeometryTypes.begin(), kGeometryTypes.end(), *type) ==
                   kGeometryTypes.end()) {
    return "a geometry needs a \"type\" of Point, MultiPoint, LineString, MultiLineString, "
           "Polygon, MultiPolygon or GeometryCollection";
  }
  if (*type == "GeometryCollection") {
    if (depth >= kCollectionNestingMax) return "GeometryCollection nested too deeply";
    const json::value* parts = o->if_contains("geometries");
    if (!parts || !parts->is_array()) return "a GeometryCollection needs a \"geometries\" array";
    for (const json::value& part : parts->get_array()) {
      if (auto e = geometry_error_at(part, check_range, depth + 1)) return e;
    }
    return std::nullopt;
  }
  const json::value* coordinates = o->if_contains("coordinates");
  if (!coordinates) return fmt::format("a {} needs \"coordinates\"", *type);
  if (auto e = coordinates_error(*type, *coordinates, check_range)) {
    return fmt::format("invalid {}: {}", *type, *e);
  }
  return std::nullopt;
}

}  // namespace

bool looks_like_geometry(const json::object& o) {
  const auto type = json::get_string(o, "type");
  if (!type) return false;
  if (*type == "GeometryCollection") return o.contains("geometries");
  return o.contains("coordinates") &&
         std::find(kGeometryTypes.begin(), kGeometryTypes.end(), *type) != kGeometryTypes.end();
}

std::optional<std::string> geometry_error(const json::value& v, bool check_range) {
  return geometry_error_at(v, check_range, 0);
}

}  // namespace cityroom::model::internal
