// The heavy Boost.Geometry algorithms (relate, distance) live alone in this file so that only
// it pays their compile time.
#include <algorithm>
#include <boost/geometry/algorithms/distance.hpp>
#include <boost/geometry/algorithms/for_each.hpp>
#include <boost/geometry/algorithms/relate.hpp>
#include <cmath>
#include <exception>
#include <limits>

#include "geo/geo_impl.h"

namespace cityroom::geo::detail {
namespace {

namespace bg = boost::geometry;

// DE-9IM patterns (OGC Simple Features 6.1.15) for the entity geometry g against the query
// geometry q.
constexpr const char* kWithinMask = "T*F**F***";
constexpr const char* kContainsMask = "T*****FF*";
constexpr const char* kEqualsMask = "T*F**FFF*";
constexpr const char* kDisjointMask = "FF*FF****";
constexpr const char* kOverlapsAreaOrPointMask = "T*T***T**";
constexpr const char* kOverlapsLineMask = "1*T***T**";

int dimension(const Shape& s) {
  return static_cast<int>(s.index());
}  // 0 points, 1 lines, 2 areas

bool relate(const Shape& g, const Shape& q, const char* mask) {
  const bg::de9im::mask m(mask);
  return std::visit([&](const auto& a, const auto& b) { return bg::relate(a, b, m); }, g, q);
}

bool overlaps(const Shape& g, const Shape& q) {
  // OGC defines overlaps only between geometries of the same dimension.
  if (dimension(g) != dimension(q)) return false;
  return relate(g, q, dimension(g) == 1 ? kOverlapsLineMask : kOverlapsAreaOrPointMask);
}

bool relation_unguarded(Relation relation, const Shape& g, const Shape& q) {
  switch (relation) {
    case Relation::kWithin:
      return relate(g, q, kWithinMask);
    case Relation::kContains:
      return relate(g, q, kContainsMask);
    case Relation::kEquals:
      return relate(g, q, kEqualsMask);
    case Relation::kDisjoint:
      return relate(g, q, kDisjointMask);
    case Relation::kIntersects:
      return !relate(g, q, kDisjointMask);
    case Relation::kOverlaps:
      return overlaps(g, q);
    case Relation::kNear:
      return false;  // decided by distance, not here
  }
  return false;
}

bool boxes_intersect(const Box& a, const Box& b) {
  return a.min_lon <= b.max_lon && b.min_lon <= a.max_lon && a.min_lat <= b.max_lat &&
         b.min_lat <= a.max_lat;
}

double radians(double degrees) {
  return degrees * kPi / 180.0;
}

double haversine_m(const Point& a, const Point& b) {
  const double dlat = radians(b.y() - a.y());
  const double dlon = radians(b.x() - a.x());
  const double h =
      std::sin(dlat / 2) * std::sin(dlat / 2) +
      std::cos(radians(a.y())) * std::cos(radians(b.y())) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusM * std::asin(std::min(1.0, std::sqrt(h)));
}

const Point* single_point(const Shape& s) {
  const auto* points = std::get_if<MultiPoint>(&s);
  return points && points->size() == 1 ? &points->front() : nullptr;
}

// The middle of where two intervals meet (their overlap, or the gap between them): the
// closest points of two geometries lie near there, so that is where the projection below is
// made exact.
double meeting_middle(double a_min, double a_max, double b_min, double b_max) {
  const double lo = std::max(a_min, b_min);
  const double hi = std::min(a_max, b_max);
  return (lo + hi) / 2;  // overlap: its middle; gap (lo > hi): the gap's middle
}

// Local equirectangular projection to metres around (lon0, lat0). It is affine in lon/lat, so
// it keeps the Cartesian topology exactly (intersecting geometries stay at distance 0); its
// scale error grows with the latitude distance from lat0, about 0.12% at 10 km from it at
// Seoul's latitude, which is well within city-scale needs.
struct LocalProjection {
  double lon0, lat0, metres_per_degree_lon;
  Point operator()(const Point& p) const {
    return Point((p.x() - lon0) * metres_per_degree_lon, (p.y() - lat0) * kMetresPerDegreeLat);
  }
};

Shape project(const Shape& s, const LocalProjection& projection) {
  Shape out = s;
  std::visit(
      [&](auto& geometry) { bg::for_each_point(geometry, [&](Point& p) { p = projection(p); }); },
      out);
  return out;
}

}  // namespace

bool relation_holds(Relation relation, const Geometry::Impl& g, const Geometry::Impl& q) {
  // Far apart boxes settle most relations without the full DE-9IM computation.
  if (!boxes_intersect(g.box, q.box)) return relation == Relation::kDisjoint;
  try {
    return relation_unguarded(relation, g.shape, q.shape);
  } catch (const std::exception&) {
    return false;  // Boost refuses some degenerate inputs; such a geometry matches nothing
  }
}

double distance_m(const Geometry::Impl& a, const Geometry::Impl& b) {
  const Point* pa = single_point(a.shape);
  const Point* pb = single_point(b.shape);
  if (pa && pb) return haversine_m(*pa, *pb);
  const double lat0 = meeting_middle(a.box.min_lat, a.box.max_lat, b.box.min_lat, b.box.max_lat);
  const double lon0 = meeting_middle(a.box.min_lon, a.box.max_lon, b.box.min_lon, b.box.max_lon);
  const LocalProjection projection{lon0, lat0, kMetresPerDegreeLat * std::cos(radians(lat0))};
  try {
    return std::visit([](const auto& x, const auto& y) { return bg::distance(x, y); },
                      project(a.shape, projection), project(b.shape, projection));
  } catch (const std::exception&) {
    return std::numeric_limits<double>::infinity();
  }
}

}  // namespace cityroom::geo::detail
