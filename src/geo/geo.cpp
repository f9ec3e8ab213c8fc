// GeoJSON parsing and validation, georel parsing, and the query entry points. The pairwise
// algorithms are in relate.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/geometry/algorithms/correct.hpp>
#include <boost/geometry/algorithms/for_each.hpp>
#include <boost/geometry/algorithms/is_valid.hpp>
#include <boost/geometry/algorithms/within.hpp>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

#include "geo/geo_impl.h"

namespace cityroom::geo {
namespace {

namespace bg = boost::geometry;
using base::ErrorKind;

// One geometry may hold at most this many positions: enough for a detailed district
// boundary, small enough that validating it stays in the milliseconds.
constexpr std::size_t kPositionsMax = 1'000'000;
constexpr double kLongitudeMax = 180.0;
constexpr double kLatitudeMax = 90.0;
constexpr std::size_t kLinePositionsMin = 2;
constexpr std::size_t kRingPositionsMin = 4;
// Self-touching rings repaired per geometry at most (each repair re-validates a polygon).
constexpr std::size_t kRepairsMax = 64;
// The near pre-filter box is widened by this fraction so that rounding in the distance
// computation can never put a match outside it.
constexpr double kNearBoxMargin = 1e-3;
// Closer to a pole than this, a longitude band cannot bound a distance: take all longitudes.
constexpr double kPolarCosMin = 1e-6;

constexpr std::string_view kSupportedTypes =
    "Point, MultiPoint, LineString, MultiLineString, Polygon or MultiPolygon";

std::unexpected<base::Error> bad(std::string detail) {
  return base::fail(ErrorKind::kBadRequestData, std::move(detail));
}

struct TypeName {
  std::string_view name;
  Kind kind;
};
constexpr std::array<TypeName, 6> kTypeNames{{{"Point", Kind::kPoint},
                                              {"MultiPoint", Kind::kMultiPoint},
                                              {"LineString", Kind::kLineString},
                                              {"MultiLineString", Kind::kMultiLineString},
                                              {"Polygon", Kind::kPolygon},
                                              {"MultiPolygon", Kind::kMultiPolygon}}};

std::optional<Kind> kind_of(std::string_view name) {
  for (const auto& t : kTypeNames)
    if (t.name == name) return t.kind;
  return std::nullopt;
}

std::string_view name_of(Kind kind) {
  return kTypeNames[static_cast<std::size_t>(kind)].name;
}

std::optional<double> number(const json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::int64:
      return static_cast<double>(v.get_int64());
    case boost::json::kind::uint64:
      return static_cast<double>(v.get_uint64());
    case boost::json::kind::double_:
      return v.get_double();
    default:
      return std::nullopt;
  }
}

// Reads the coordinate arrays of one geometry, counting positions against kPositionsMax.
class CoordinateReader {
 public:
  explicit CoordinateReader(Kind kind) : kind_(kind) {}

  base::Result<Point> position(const json::value& v) {
    const json::array* a = v.if_array();
    std::optional<double> lon, lat;
    if (a && (a->size() == 2 || a->size() == 3)) {
      lon = number((*a)[0]);
      lat = number((*a)[1]);
      if (a->size() == 3 && !number((*a)[2])) lon.reset();  // altitude must be a number too
    }
    if (!lon || !lat) {
      if (kind_ == Kind::kPoint) return bad("coordinates of a Point must be [longitude, latitude]");
      return bad(fmt::format("each position of a {} must be [longitude, latitude], got {}",
                             name_of(kind_), json::serialize(v)));
    }
    if (!(*lon >= -kLongitudeMax && *lon <= kLongitudeMax))
      return bad(fmt::format("longitude {} is out of range [-180, 180]", *lon));
    if (!(*lat >= -kLatitudeMax && *lat <= kLatitudeMax))
      return bad(fmt::format("latitude {} is out of range [-90, 90]", *lat));
    if (++positions_ > kPositionsMax)
      return bad(fmt::format("a geometry may have at most {} positions", kPositionsMax));
    return Point(*lon, *lat);
  }

  // An array of positions; `what` names it in errors ("coordinates of a MultiPoint").
  template <class Range>
  base::Result<Range> positions(const json::value& v, std::string_view what) {
    const json::array* a = v.if_array();
    if (!a) return bad(fmt::format("{} must be an array of positions", what));
    Range out;
    out.reserve(a->size());
    for (const auto& item : *a) {
      auto p = position(item);
      if (!p) return std::unexpected(p.error());
      out.push_back(*p);
    }
    return out;
  }

  base::Result<Line> line(const json::value& v, std::string_view where) {
    auto line = positions<Line>(v, fmt::format("coordinates of {}", where));
    if (line && line->size() < kLinePositionsMin)
      return bad(fmt::format("{} has {} position(s); a LineString needs at least 2 positions",
                             where, line->size()));
    return line;
  }

  base::Result<Polygon> polygon(const json::value& v, std::string_view where) {
    const json::array* rings = v.if_array();
    if (!rings) return bad(fmt::format("coordinates of {} must be an array of rings", where));
    if (rings->empty()) return bad(fmt::format("{} needs at least one ring", where));
    Polygon out;
    for (std::size_t i = 0; i < rings->size(); ++i) {
      auto ring = this->ring((*rings)[i], fmt::format("{} ring {}", where, i));
      if (!ring) return std::unexpected(ring.error());
      if (i == 0)
        out.outer() = std::move(*ring);
      else
        out.inners().push_back(std::move(*ring));
    }
    return out;
  }

 private:
  base::Result<Polygon::ring_type> ring(const json::value& v, const std::string& where) {
    auto ring = positions<Polygon::ring_type>(v, where);
    if (!ring) return ring;
    if (ring->size() < kRingPositionsMin)
      return bad(fmt::format("{} has only {} positions; a LinearRing needs at least 4 positions",
                             where, ring->size()));
    const Point& first = ring->front();
    const Point& last = ring->back();
    if (first.x() != last.x() || first.y() != last.y())
      return bad(fmt::format("{} must be closed (first and last positions equal)", where));
    return ring;
  }

  Kind kind_;
  std::size_t positions_ = 0;
};

template <class Multi, class Read>
base::Result<Multi> read_each(const json::value& v, std::string_view what, Read read) {
  const json::array* parts = v.if_array();
  if (!parts) return bad(fmt::format("coordinates of a {} must be an array", what));
  if (parts->empty()) return bad(fmt::format("a {} needs at least one member", what));
  Multi out;
  for (std::size_t i = 0; i < parts->size(); ++i) {
    auto part = read((*parts)[i], i);
    if (!part) return std::unexpected(part.error());
    out.push_back(std::move(*part));
  }
  return out;
}

// Wraps a single part (or a whole multi geometry) into its Shape alternative.
template <class Multi, class T>
base::Result<Shape> as_shape(base::Result<T> result) {
  if (!result) return std::unexpected(result.error());
  if constexpr (std::is_same_v<Multi, T>)
    return Shape(std::move(*result));
  else
    return Shape(Multi{std::move(*result)});
}

base::Result<Shape> read_shape(Kind kind, const json::value& coordinates) {
  CoordinateReader reader(kind);
  const std::string_view name = name_of(kind);
  switch (kind) {
    case Kind::kPoint:
      return as_shape<MultiPoint>(reader.position(coordinates));
    case Kind::kMultiPoint: {
      auto points = reader.positions<MultiPoint>(coordinates, "coordinates of a MultiPoint");
      if (points && points->empty()) return bad("a MultiPoint needs at least one position");
      return as_shape<MultiPoint>(std::move(points));
    }
    case Kind::kLineString:
      return as_shape<MultiLine>(reader.line(coordinates, "LineString"));
    case Kind::kMultiLineString:
      return as_shape<MultiLine>(
          read_each<MultiLine>(coordinates, name, [&](const json::value& v, std::size_t i) {
            return reader.line(v, fmt::format("MultiLineString line {}", i));
          }));
    case Kind::kPolygon:
      return as_shape<MultiPolygon>(reader.polygon(coordinates, "Polygon"));
    case Kind::kMultiPolygon:
      return as_shape<MultiPolygon>(
          read_each<MultiPolygon>(coordinates, name, [&](const json::value& v, std::size_t i) {
            return reader.polygon(v, fmt::format("MultiPolygon polygon {}", i));
          }));
  }
  return bad("unknown geometry kind");
}

std::string_view validity_problem(bg::validity_failure_type failure) {
  switch (failure) {
    case bg::failure_few_points:
    case bg::failure_wrong_topological_dimension:
      return "is degenerate: its positions do not span a line or an area";
    case bg::failure_self_intersections:
      return "is self-intersecting: its rings cross or touch themselves or each other";
    case bg::failure_spikes:
      return "has a spike: a ring turns straight back on itself";
    case bg::failure_wrong_orientation:  // still wrong after correct(): no area to orient
      return "is self-intersecting or degenerate: a ring encloses no area";
    case bg::failure_interior_rings_outside:
      return "has a hole (ring 1 or later) outside its exterior ring";
    case bg::failure_nested_interior_rings:
      return "has holes nested inside each other";
    case bg::failure_disconnected_interior:
      return "has holes that cut its interior apart";
    default:
      return "is not a valid geometry";
  }
}

bg::validity_failure_type failure_of(const auto& part) {
  bg::validity_failure_type failure = bg::no_failure;
  bg::is_valid(part, failure);
  return failure;
}

using Ring = Polygon::ring_type;

// Splits a closed ring at the first vertex it passes through twice into the loop between the
// two passes and the rest; nullopt when no vertex repeats or a piece would be degenerate.
std::optional<std::pair<Ring, Ring>> split_at_repeated_vertex(const Ring& ring) {
  std::map<std::pair<double, double>, std::size_t> seen;
  for (std::size_t j = 0; j + 1 < ring.size(); ++j) {
    const auto [it, fresh] = seen.try_emplace({ring[j].x(), ring[j].y()}, j);
    if (fresh) continue;
    const std::size_t i = it->second;
    Ring loop(ring.begin() + i, ring.begin() + j + 1);
    Ring rest(ring.begin(), ring.begin() + i);
    rest.insert(rest.end(), ring.begin() + j, ring.end());
    if (loop.size() < kRingPositionsMin || rest.size() < kRingPositionsMin) return std::nullopt;
    return std::pair{std::move(rest), std::move(loop)};
  }
  return std::nullopt;
}

// Shapefile-born data lets an exterior ring touch itself at a vertex, to cut out a hole (an
// "inverted hole", as in Ansan Danwon-gu in korea_sgg.geojson) or to join two lobes; OGC wants
// a hole or two polygons instead. Rewrites `p` that way; false when it has no such touch.
bool split_self_touching_exterior(Polygon& p, std::vector<Polygon>& extra) {
  auto pieces = split_at_repeated_vertex(p.outer());
  if (!pieces) return false;
  auto& [rest, loop] = *pieces;
  Polygon lobe;
  lobe.outer() = rest;
  // loop[1] is a vertex of the loop other than the touch point: it tells the loop's side.
  if (bg::within(loop[1], lobe)) {
    p.outer() = std::move(rest);
    p.inners().push_back(std::move(loop));
  } else {
    p.outer() = std::move(rest);
    Polygon second;
    second.outer() = std::move(loop);
    extra.push_back(std::move(second));
  }
  return true;
}

// Validates each member polygon on its own, repairing self-touching exteriors. Members are not
// checked against each other: official boundary data has MultiPolygons whose members overlap
// by slivers (e.g. Daegu Dalseo-gu in korea_sgg.geojson), and refusing a whole district for
// that would hide it; such members act as their union for point tests.
base::Result<void> validate_polygons(MultiPolygon& polygons, Kind kind) {
  std::size_t repairs = 0;
  for (std::size_t i = 0; i < polygons.size(); ++i) {
    auto failure = failure_of(polygons[i]);
    std::vector<Polygon> extra;
    while (failure == bg::failure_self_intersections && repairs < kRepairsMax &&
           split_self_touching_exterior(polygons[i], extra)) {
      ++repairs;
      bg::correct(polygons[i]);
      failure = failure_of(polygons[i]);
    }
    for (auto& p : extra) {
      bg::correct(p);
      polygons.push_back(std::move(p));  // validated when the loop reaches it
    }
    if (failure == bg::no_failure) continue;
    if (kind == Kind::kPolygon)
      return bad(fmt::format("the Polygon {}", validity_problem(failure)));
    return bad(fmt::format("MultiPolygon polygon {} {}", i, validity_problem(failure)));
  }
  return {};
}

base::Result<void> validate_lines(const MultiLine& lines, Kind kind) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto failure = failure_of(lines[i]);
    if (failure == bg::no_failure) continue;
    if (kind == Kind::kLineString)
      return bad(fmt::format("the LineString {}", validity_problem(failure)));
    return bad(fmt::format("MultiLineString line {} {}", i, validity_problem(failure)));
  }
  return {};
}

// Fixes ring orientation (GeoJSON asks for counter-clockwise exteriors, but real data comes in
// both windings) and refuses what no predicate could answer sensibly.
base::Result<void> correct_and_validate(Shape& shape, Kind kind) {
  try {
    if (auto* polygons = std::get_if<MultiPolygon>(&shape)) {
      bg::correct(*polygons);
      return validate_polygons(*polygons, kind);
    }
    if (auto* lines = std::get_if<MultiLine>(&shape)) return validate_lines(*lines, kind);
    return {};  // points are always valid
  } catch (const std::exception& e) {
    return bad(fmt::format("the {} could not be validated: {}", name_of(kind), e.what()));
  }
}

Box box_of(const Shape& shape) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  Box box{kInf, kInf, -kInf, -kInf};
  std::visit(
      [&](const auto& geometry) {
        bg::for_each_point(geometry, [&](const Point& p) {
          box.min_lon = std::min(box.min_lon, p.x());
          box.min_lat = std::min(box.min_lat, p.y());
          box.max_lon = std::max(box.max_lon, p.x());
          box.max_lat = std::max(box.max_lat, p.y());
        });
      },
      shape);
  return box;
}

bool boxes_intersect(const Box& a, const Box& b) {
  return a.min_lon <= b.max_lon && b.min_lon <= a.max_lon && a.min_lat <= b.max_lat &&
         b.min_lat <= a.max_lat;
}

// ---- geo queries ------------------------------------------------------------------------

struct RelationName {
  std::string_view name;
  Relation relation;
};
constexpr std::array<RelationName, 7> kRelationNames{{{"near", Relation::kNear},
                                                      {"within", Relation::kWithin},
                                                      {"contains", Relation::kContains},
                                                      {"intersects", Relation::kIntersects},
                                                      {"equals", Relation::kEquals},
                                                      {"disjoint", Relation::kDisjoint},
                                                      {"overlaps", Relation::kOverlaps}}};
constexpr std::string_view kNearUsage = "near;maxDistance==<metres> or near;minDistance==<metres>";
constexpr std::size_t kGeorelPartsMax = 3;  // near;maxDistance==a;minDistance==b

base::Result<double> parse_metres(std::string_view name, std::string_view text) {
  double metres = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), metres);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(metres) || metres < 0)
    return bad(fmt::format("{} must be a non-negative number of metres, got '{}'", name, text));
  return metres;
}

// One `;`-separated modifier of near: maxDistance==N or minDistance==N.
base::Result<void> parse_near_modifier(std::string_view part, GeoQuery& q) {
  constexpr std::string_view kEq = "==";
  const std::size_t eq = part.find(kEq);
  const std::string_view name = part.substr(0, eq);
  std::optional<double>* slot = name == "maxDistance"   ? &q.max_distance_m
                                : name == "minDistance" ? &q.min_distance_m
                                                        : nullptr;
  if (eq == std::string_view::npos || !slot)
    return bad(fmt::format("georel modifier '{}' is not understood; use {}", part, kNearUsage));
  if (*slot) return bad(fmt::format("georel gives {} twice", name));
  auto metres = parse_metres(name, part.substr(eq + kEq.size()));
  if (!metres) return std::unexpected(metres.error());
  *slot = *metres;
  return {};
}

base::Result<void> parse_georel(std::string_view text, GeoQuery& q) {
  const std::size_t semi = text.find(';');
  const std::string_view name = text.substr(0, semi);
  const auto* found = std::ranges::find(kRelationNames, name, &RelationName::name);
  if (found == kRelationNames.end())
    return bad(
        fmt::format("georel '{}' is not supported; use near, within, contains, "
                    "intersects, equals, disjoint or overlaps",
                    name));
  q.relation = found->relation;
  std::string_view rest = semi == std::string_view::npos ? "" : text.substr(semi + 1);
  if (q.relation != Relation::kNear) {
    if (semi != std::string_view::npos)
      return bad(fmt::format("georel '{}' takes no modifiers, got '{}'", name, rest));
    return {};
  }
  for (std::size_t parts = 1; semi != std::string_view::npos; ++parts) {
    if (parts >= kGeorelPartsMax) return bad(fmt::format("georel '{}' has too many parts", text));
    const std::size_t next = rest.find(';');
    if (auto ok = parse_near_modifier(rest.substr(0, next), q); !ok) return ok;
    if (next == std::string_view::npos) break;
    rest = rest.substr(next + 1);
  }
  if (!q.max_distance_m && !q.min_distance_m)
    return bad(fmt::format("georel near needs a distance: {}", kNearUsage));
  return {};
}

base::Result<GeoQuery> build_query(std::string_view georel, std::string_view geometry,
                                   const json::value& coordinates, std::string_view geoproperty) {
  GeoQuery q;
  if (auto ok = parse_georel(georel, q); !ok) return std::unexpected(ok.error());
  if (!kind_of(geometry))
    return bad(fmt::format("geometry '{}' is not supported; use {}", geometry, kSupportedTypes));
  json::object geojson;
  geojson["type"] = geometry;
  geojson["coordinates"] = coordinates;
  auto parsed = parse_geojson(geojson);
  if (!parsed) return std::unexpected(parsed.error());
  q.geometry = std::move(*parsed);
  q.geoproperty = geoproperty.empty() ? "location" : std::string(geoproperty);
  return q;
}

// The pieces of a geo-query must come together: name the first one missing.
base::Result<void> check_complete(bool has_georel, bool has_geometry, bool has_coordinates) {
  if (!has_georel) return bad("geometry or coordinates given without georel");
  if (!has_geometry) return bad("georel given without geometry");
  if (!has_coordinates) return bad("georel given without coordinates");
  return {};
}

base::Result<json::value> parse_coordinates_text(std::string_view text) {
  auto v = json::parse(text);
  if (!v || !v->is_array())
    return bad(
        fmt::format("coordinates must be a JSON array such as [127.04,37.50], got '{}'", text));
  return v;
}

}  // namespace

Box Geometry::bbox() const {
  return impl_ ? impl_->box : Box{};
}

std::string_view Geometry::type_name() const {
  return impl_ ? name_of(impl_->kind) : "";
}

base::Result<Geometry> parse_geojson(const json::value& v) {
  const json::object* o = v.if_object();
  if (!o)
    return bad(fmt::format("a GeoJSON geometry must be an object, got {}", json::kind_name(v)));
  auto type = json::get_string(*o, "type");
  if (!type) return bad("a GeoJSON geometry needs a \"type\" string");
  auto kind = kind_of(*type);
  if (!kind)
    return bad(fmt::format("geometry type '{}' is not supported; use {}", *type, kSupportedTypes));
  const json::value* coordinates = json::find(*o, "coordinates");
  if (!coordinates) return bad(fmt::format("a {} needs \"coordinates\"", *type));
  auto shape = read_shape(*kind, *coordinates);
  if (!shape) return std::unexpected(shape.error());
  if (auto valid = correct_and_validate(*shape, *kind); !valid)
    return std::unexpected(valid.error());
  auto impl = std::make_shared<Geometry::Impl>();
  impl->kind = *kind;
  impl->box = box_of(*shape);
  impl->shape = std::move(*shape);
  return Geometry(std::move(impl));
}

bool matches(const GeoQuery& q, const Geometry& g) {
  if (q.geometry.empty() || g.empty()) return false;
  if (q.relation != Relation::kNear)
    return detail::relation_holds(q.relation, g.impl(), q.geometry.impl());
  // The same box the index uses, so that the index never drops what matches() accepts.
  if (auto box = candidate_box(q); box && !boxes_intersect(*box, g.bbox())) return false;
  const double d = detail::distance_m(g.impl(), q.geometry.impl());
  if (q.max_distance_m && !(d <= *q.max_distance_m)) return false;
  if (q.min_distance_m && !(d >= *q.min_distance_m)) return false;
  return true;
}

std::optional<Box> candidate_box(const GeoQuery& q) {
  if (q.geometry.empty()) return std::nullopt;
  const Box box = q.geometry.bbox();
  switch (q.relation) {
    case Relation::kDisjoint:
      return std::nullopt;
    case Relation::kNear:
      break;
    default:
      return box;
  }
  if (!q.max_distance_m) return std::nullopt;  // minDistance alone is unbounded
  const double dlat = *q.max_distance_m / kMetresPerDegreeLat * (1 + kNearBoxMargin);
  Box out{box.min_lon, std::max(-kLatitudeMax, box.min_lat - dlat), box.max_lon,
          std::min(kLatitudeMax, box.max_lat + dlat)};
  // Degrees of longitude shrink with latitude: the widest band is needed at the box's
  // pole-most latitude.
  const double cos_lat =
      std::cos(std::max(std::abs(out.min_lat), std::abs(out.max_lat)) * kPi / 180.0);
  const double dlon = cos_lat < kPolarCosMin ? 2 * kLongitudeMax : dlat / cos_lat;
  out.min_lon = box.min_lon - dlon;
  out.max_lon = box.max_lon + dlon;
  // Across the antimeridian the band wraps around; all longitudes is the safe superset.
  if (out.min_lon < -kLongitudeMax || out.max_lon > kLongitudeMax) {
    out.min_lon = -kLongitudeMax;
    out.max_lon = kLongitudeMax;
  }
  return out;
}

double distance_m(const Geometry& a, const Geometry& b) {
  if (a.empty() || b.empty()) return std::numeric_limits<double>::infinity();
  return detail::distance_m(a.impl(), b.impl());
}

}  // namespace cityroom::geo

namespace cityroom::geo {

base::Result<GeoQuery> parse_geoquery(std::string_view georel, std::string_view geometry,
                                      std::string_view coordinates, std::string_view geoproperty) {
  if (auto ok = check_complete(!georel.empty(), !geometry.empty(), !coordinates.empty()); !ok)
    return std::unexpected(ok.error());
  auto coords = parse_coordinates_text(coordinates);
  if (!coords) return std::unexpected(coords.error());
  return build_query(georel, geometry, *coords, geoproperty);
}

base::Result<GeoQuery> parse_geoquery(const json::object& geoq) {
  const json::value* georel = json::find(geoq, "georel");
  const json::value* geometry = json::find(geoq, "geometry");
  const json::value* coordinates = json::find(geoq, "coordinates");
  const json::value* geoproperty = json::find(geoq, "geoproperty");
  if (auto ok = check_complete(georel, geometry, coordinates); !ok)
    return std::unexpected(ok.error());
  if (!georel->is_string())
    return bad(fmt::format("georel must be a string, got {}", json::kind_name(*georel)));
  if (!geometry->is_string())
    return bad(fmt::format("geometry must be a string, got {}", json::kind_name(*geometry)));
  if (geoproperty && !geoproperty->is_string())
    return bad(fmt::format("geoproperty must be a string, got {}", json::kind_name(*geoproperty)));
  json::value coords = *coordinates;
  if (coordinates->is_string()) {  // some clients send the query-string form inside JSON
    auto parsed = parse_coordinates_text(coordinates->get_string());
    if (!parsed) return std::unexpected(parsed.error());
    coords = std::move(*parsed);
  } else if (!coordinates->is_array()) {
    return bad(fmt::format("coordinates must be an array, got {}", json::kind_name(*coordinates)));
  }
  return build_query(georel->get_string(), geometry->get_string(), coords,
                     geoproperty ? std::string_view(geoproperty->get_string()) : "");
}

}  // namespace cityroom::geo
