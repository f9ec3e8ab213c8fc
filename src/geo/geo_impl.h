// Private to src/geo: the Boost.Geometry models behind geo::Geometry.
//
// Every geometry is kept in one of three "multi" shapes (a Point is a MultiPoint of one, a
// Polygon a MultiPolygon of one), so the pairwise predicates instantiate 9 type pairs instead
// of 36; `kind` remembers the GeoJSON type for type_name(). Coordinates are lon/lat degrees in
// a Cartesian plane: RFC 7946 section 3.1.1 defines a line between two positions as a straight
// Cartesian line in lon/lat, so topology (within, intersects, ...) is decided in that plane.
// Polygons are stored corrected to Boost's default (clockwise exterior, closed rings).
#pragma once

#include <boost/geometry/geometries/linestring.hpp>
#include <boost/geometry/geometries/multi_linestring.hpp>
#include <boost/geometry/geometries/multi_point.hpp>
#include <boost/geometry/geometries/multi_polygon.hpp>
#include <boost/geometry/geometries/point_xy.hpp>
#include <boost/geometry/geometries/polygon.hpp>
#include <variant>

#include "geo/geo.h"

namespace cityroom::geo {

namespace bgm = boost::geometry::model;

using Point = bgm::d2::point_xy<double>;  // x = longitude, y = latitude (degrees)
using MultiPoint = bgm::multi_point<Point>;
using Line = bgm::linestring<Point>;
using MultiLine = bgm::multi_linestring<Line>;
using Polygon = bgm::polygon<Point>;  // clockwise exterior, closed
using MultiPolygon = bgm::multi_polygon<Polygon>;

enum class Kind { kPoint, kMultiPoint, kLineString, kMultiLineString, kPolygon, kMultiPolygon };

using Shape = std::variant<MultiPoint, MultiLine, MultiPolygon>;

// Mean Earth radius (IUGG), the sphere all distances are measured on.
inline constexpr double kEarthRadiusM = 6'371'008.8;
inline constexpr double kPi = 3.14159265358979323846;
inline constexpr double kMetresPerDegreeLat = kEarthRadiusM * kPi / 180.0;

}  // namespace cityroom::geo

struct cityroom::geo::Geometry::Impl {
  Kind kind = Kind::kPoint;
  Shape shape;
  Box box;
};

namespace cityroom::geo::detail {

// Topological relations (not near) by DE-9IM, in relate.cpp. False when Boost cannot decide
// (it throws on some degenerate inputs); never throws.
bool relation_holds(Relation relation, const Geometry::Impl& g, const Geometry::Impl& q);

// Metres between the closest points of a and b on the sphere (see relate.cpp for the method).
double distance_m(const Geometry::Impl& a, const Geometry::Impl& b);

}  // namespace cityroom::geo::detail
