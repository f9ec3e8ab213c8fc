// geo: GeoJSON geometries and the NGSI-LD georel predicates.
//
// `parse_geojson` validates a GeoJSON geometry (Point, MultiPoint, LineString, MultiLineString,
// Polygon, MultiPolygon; GeometryCollection is refused as NGSI-LD queries do not use it):
// coordinate arity, longitude in [-180, 180], latitude in [-90, 90], closed rings of at least 4
// positions, at least 2 positions per line. Coordinates are WGS84 lon/lat degrees.
// `GeoQuery` is a parsed georel + geometry + coordinates (+ geoproperty); `matches` decides it
// against an entity's geometry. Distances (`near;maxDistance==`, `near;minDistance==`) are
// metres on a sphere of radius 6,371,008.8 m. `candidate_box` gives the index pre-filter: any
// geometry that can match intersects that box (nullopt when no box bounds the matches, e.g.
// disjoint). Immutable values; all functions are thread-safe.
//
// Choices (see geo.cpp / relate.cpp): topology (within, contains, intersects, equals,
// disjoint, overlaps) is decided by OGC DE-9IM in the lon/lat plane, where RFC 7946 3.1.1 puts
// straight edges; a point on a polygon's boundary is not `within` it. Distances are haversine
// between two points; for lines and polygons they are measured in a local equirectangular
// projection centred where the two geometries meet (well under 0.5% error at city scale).
// Polygons of either winding are accepted and normalised. Invalid polygons (self-crossing,
// spikes, holes outside) are refused, with two repairs for real boundary files: an exterior
// ring touching itself at a vertex becomes a hole or a second polygon, and MultiPolygon members
// are validated one by one (members overlapping each other are accepted). The antimeridian is
// not handled (a near box crossing it widens to all longitudes).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/base.h"
#include "json/json.h"

namespace cityroom::geo {

struct Box {
  double min_lon = 0, min_lat = 0, max_lon = 0, max_lat = 0;
};

class Geometry {
 public:
  struct Impl;
  Geometry() = default;
  explicit Geometry(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  bool empty() const { return !impl_; }
  Box bbox() const;
  std::string_view type_name() const;  // "Point", "Polygon", ...
  const Impl& impl() const { return *impl_; }

 private:
  std::shared_ptr<const Impl> impl_;
};

// Validates and parses a GeoJSON geometry object; an altitude (3rd coordinate) is accepted and
// ignored. Errors are BadRequestData with a detail such as "Polygon ring 0 must be closed
// (first and last positions equal)".
base::Result<Geometry> parse_geojson(const json::value& v);

enum class Relation { kNear, kWithin, kContains, kIntersects, kEquals, kDisjoint, kOverlaps };

struct GeoQuery {
  Relation relation = Relation::kIntersects;
  std::optional<double> max_distance_m;  // near only
  std::optional<double> min_distance_m;  // near only
  Geometry geometry;
  std::string geoproperty = "location";  // a term, expanded by the caller
};

// From the query-string form: georel=near;maxDistance==2000, geometry=Point,
// coordinates=[127.04,37.50] (also `%5B...%5D` already decoded by the caller),
// geoproperty=location (empty → "location"). georel may carry both bounds:
// near;minDistance==100;maxDistance==2000. Errors are BadRequestData with a detail naming the
// parameter.
base::Result<GeoQuery> parse_geoquery(std::string_view georel, std::string_view geometry,
                                      std::string_view coordinates, std::string_view geoproperty);
// From the JSON form used by subscriptions and POST /entityOperations/query:
// {"georel": "...", "geometry": "Point", "coordinates": [..] or "[..]", "geoproperty": "..."}
base::Result<GeoQuery> parse_geoquery(const json::object& geoq);

// Does an entity whose geoproperty has geometry `g` satisfy `q`? (near: distance within bounds;
// within: g inside q's geometry; contains: g contains q's geometry; intersects; equals;
// disjoint; overlaps.)
bool matches(const GeoQuery& q, const Geometry& g);

std::optional<Box> candidate_box(const GeoQuery& q);

// Great-circle distance in metres between two geometries (0 when they intersect; infinity when
// either is empty).
double distance_m(const Geometry& a, const Geometry& b);

}  // namespace cityroom::geo
