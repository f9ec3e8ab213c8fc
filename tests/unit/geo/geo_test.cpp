// geo on small hand-made geometries: parsing, validation errors, every georel, distances,
// candidate boxes and geo-query parsing.
#include "geo/geo.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "json/json.h"

using namespace cityroom;
using geo::Relation;

namespace {

constexpr double kMetresPerDegreeLat = 111'195.08;  // 6,371,008.8 m * pi / 180

base::Result<geo::Geometry> try_parse(std::string_view text) {
  auto v = json::parse(text);
  if (!v) return std::unexpected(v.error());
  return geo::parse_geojson(*v);
}

geo::Geometry parse(std::string_view text) {
  auto g = try_parse(text);
  EXPECT_TRUE(g.has_value()) << text << ": " << (g ? "" : g.error().detail);
  return g ? *g : geo::Geometry{};
}

std::string parse_error(std::string_view text) {
  auto g = try_parse(text);
  EXPECT_FALSE(g.has_value()) << text << " parsed but should not";
  if (g) return "";
  EXPECT_EQ(g.error().kind, base::ErrorKind::kBadRequestData) << g.error().detail;
  return g.error().detail;
}

std::string point_json(double lon, double lat) {
  return "{\"type\":\"Point\",\"coordinates\":[" + std::to_string(lon) + "," + std::to_string(lat) +
         "]}";
}

bool holds(const geo::Geometry& g, Relation r, const geo::Geometry& q) {
  geo::GeoQuery query;
  query.relation = r;
  query.geometry = q;
  return geo::matches(query, g);
}

bool near(const geo::Geometry& g, std::optional<double> max_m, std::optional<double> min_m,
          const geo::Geometry& q) {
  geo::GeoQuery query;
  query.relation = Relation::kNear;
  query.max_distance_m = max_m;
  query.min_distance_m = min_m;
  query.geometry = q;
  return geo::matches(query, g);
}

// Fixtures, in lon/lat degrees. kSquare is counter-clockwise as RFC 7946 asks; kSquareCw is the
// same square wound the other way, as much real data is.
constexpr std::string_view kSquare =
    R"({"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]]]})";
constexpr std::string_view kSquareCw =
    R"({"type":"Polygon","coordinates":[[[0,0],[0,10],[10,10],[10,0],[0,0]]]})";
constexpr std::string_view kInner =
    R"({"type":"Polygon","coordinates":[[[2,2],[4,2],[4,4],[2,4],[2,2]]]})";
constexpr std::string_view kShifted =
    R"({"type":"Polygon","coordinates":[[[5,5],[15,5],[15,15],[5,15],[5,5]]]})";
constexpr std::string_view kFar =
    R"({"type":"Polygon","coordinates":[[[20,20],[30,20],[30,30],[20,30],[20,20]]]})";
constexpr std::string_view kWithHole =
    R"({"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],
                                         [[3,3],[3,7],[7,7],[7,3],[3,3]]]})";
constexpr std::string_view kSquareAndFar =
    R"({"type":"MultiPolygon","coordinates":[[[[0,0],[10,0],[10,10],[0,10],[0,0]]],
                                              [[[20,20],[30,20],[30,30],[20,30],[20,20]]]]})";
constexpr std::string_view kSmallAndFar =
    R"({"type":"MultiPolygon","coordinates":[[[[1,1],[2,1],[2,2],[1,2],[1,1]]],
                                              [[[20,20],[30,20],[30,30],[20,30],[20,20]]]]})";
constexpr std::string_view kCrossingLine = R"({"type":"LineString","coordinates":[[-5,5],[15,5]]})";
constexpr std::string_view kInsideLine = R"({"type":"LineString","coordinates":[[1,1],[3,3]]})";
constexpr std::string_view kShiftedLine = R"({"type":"LineString","coordinates":[[2,2],[4,4]]})";
constexpr std::string_view kTwoLines =
    R"({"type":"MultiLineString","coordinates":[[[1,1],[2,2]],[[21,21],[22,22]]]})";
constexpr std::string_view kTwoPoints = R"({"type":"MultiPoint","coordinates":[[1,1],[20,20]]})";
constexpr std::string_view kOtherTwoPoints =
    R"({"type":"MultiPoint","coordinates":[[1,1],[50,50]]})";

}  // namespace

// ---- parsing -----------------------------------------------------------------------------

TEST(ParseGeojson, ReadsEveryGeometryTypeWithItsNameAndBox) {
  struct Case {
    std::string_view text, type;
    geo::Box box;
  };
  const std::vector<Case> cases = {
      {R"({"type":"Point","coordinates":[127.0473,37.5172]})",
       "Point",
       {127.0473, 37.5172, 127.0473, 37.5172}},
      {kTwoPoints, "MultiPoint", {1, 1, 20, 20}},
      {kCrossingLine, "LineString", {-5, 5, 15, 5}},
      {kTwoLines, "MultiLineString", {1, 1, 22, 22}},
      {kWithHole, "Polygon", {0, 0, 10, 10}},
      {kSquareAndFar, "MultiPolygon", {0, 0, 30, 30}},
  };
  for (const auto& c : cases) {
    const geo::Geometry g = parse(c.text);
    ASSERT_FALSE(g.empty()) << c.text;
    EXPECT_EQ(g.type_name(), c.type);
    const geo::Box b = g.bbox();
    EXPECT_DOUBLE_EQ(b.min_lon, c.box.min_lon) << c.text;
    EXPECT_DOUBLE_EQ(b.min_lat, c.box.min_lat) << c.text;
    EXPECT_DOUBLE_EQ(b.max_lon, c.box.max_lon) << c.text;
    EXPECT_DOUBLE_EQ(b.max_lat, c.box.max_lat) << c.text;
  }
}

TEST(ParseGeojson, IgnoresAltitudeAndForeignMembers) {
  const geo::Geometry with_altitude =
      parse(R"({"type":"Point","coordinates":[127.0,37.5,42.0],"bbox":[127,37.5,127,37.5]})");
  const geo::Geometry flat = parse(R"({"type":"Point","coordinates":[127.0,37.5]})");
  EXPECT_TRUE(holds(with_altitude, Relation::kEquals, flat));
  EXPECT_EQ(with_altitude.bbox().max_lat, 37.5);
  EXPECT_FALSE(parse(R"({"type":"LineString","coordinates":[[1,1,5],[2,2,6]]})").empty());
}

TEST(ParseGeojson, AcceptsMultiPolygonsWhoseMembersOverlap) {
  // As official boundary files sometimes have: each member is valid, they overlap a little.
  const geo::Geometry g = parse(
      R"({"type":"MultiPolygon","coordinates":[[[[0,0],[10,0],[10,10],[0,10],[0,0]]],
                                              [[[9,9],[15,9],[15,15],[9,15],[9,9]]]]})");
  ASSERT_FALSE(g.empty());
  EXPECT_TRUE(holds(parse(point_json(9.5, 9.5)), Relation::kWithin, g));
  EXPECT_TRUE(holds(parse(point_json(14, 14)), Relation::kWithin, g));
  EXPECT_FALSE(holds(parse(point_json(14, 1)), Relation::kWithin, g));
}

TEST(ParseGeojson, RepairsExteriorRingsThatTouchThemselves) {
  // Shapefile style: the exterior ring visits (5,8) twice to cut out a triangular hole.
  const geo::Geometry inverted_hole = parse(
      R"({"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[5,10],[5,8],[3,6],[7,6],
                                          [5,8],[0,10],[0,0]]]})");
  ASSERT_FALSE(inverted_hole.empty());
  EXPECT_TRUE(holds(parse(point_json(1, 1)), Relation::kWithin, inverted_hole));
  EXPECT_FALSE(holds(parse(point_json(5, 6.5)), Relation::kWithin, inverted_hole));  // the hole
  // A figure eight: two squares joined at (2,2) by one ring.
  const geo::Geometry eight = parse(
      R"({"type":"Polygon","coordinates":[[[0,0],[2,0],[2,2],[4,2],[4,4],[2,4],[2,2],[0,2],
                                          [0,0]]]})");
  ASSERT_FALSE(eight.empty());
  EXPECT_TRUE(holds(parse(point_json(1, 1)), Relation::kWithin, eight));
  EXPECT_TRUE(holds(parse(point_json(3, 3)), Relation::kWithin, eight));
  EXPECT_FALSE(holds(parse(point_json(3, 1)), Relation::kWithin, eight));
}

TEST(ParseGeojson, AcceptsIntegerAndBoundaryCoordinates) {
  EXPECT_FALSE(parse(R"({"type":"Point","coordinates":[180,-90]})").empty());
  EXPECT_FALSE(parse(R"({"type":"Point","coordinates":[-180,90]})").empty());
}

TEST(ParseGeojson, ExplainsEveryValidationError) {
  struct Case {
    std::string_view text, detail;
  };
  const std::vector<Case> cases = {
      {R"("Point")", "a GeoJSON geometry must be an object, got a string"},
      {R"({"coordinates":[1,2]})", "needs a \"type\""},
      {R"({"type":"Circle","coordinates":[1,2]})", "geometry type 'Circle' is not supported"},
      {R"({"type":"GeometryCollection","geometries":[]})",
       "geometry type 'GeometryCollection' is not supported"},
      {R"({"type":"Point"})", "a Point needs \"coordinates\""},
      {R"({"type":"Point","coordinates":[127]})",
       "coordinates of a Point must be [longitude, latitude]"},
      {R"({"type":"Point","coordinates":[1,2,3,4]})",
       "coordinates of a Point must be [longitude, latitude]"},
      {R"({"type":"Point","coordinates":["127","37"]})",
       "coordinates of a Point must be [longitude, latitude]"},
      {R"({"type":"Point","coordinates":[1,2,"high"]})",
       "coordinates of a Point must be [longitude, latitude]"},
      {R"({"type":"Point","coordinates":[127,91]})", "latitude 91 is out of range [-90, 90]"},
      {R"({"type":"Point","coordinates":[181,37]})", "longitude 181 is out of range [-180, 180]"},
      {R"({"type":"Point","coordinates":[-180.5,37]})",
       "longitude -180.5 is out of range [-180, 180]"},
      {R"({"type":"MultiPoint","coordinates":[[1,2],[3]]})",
       "each position of a MultiPoint must be [longitude, latitude], got [3]"},
      {R"({"type":"MultiPoint","coordinates":[]})", "a MultiPoint needs at least one position"},
      {R"({"type":"LineString","coordinates":[[1,2]]})", "a LineString needs at least 2 positions"},
      {R"({"type":"LineString","coordinates":[[1,2],[1,2]]})", "the LineString is degenerate"},
      {R"({"type":"LineString","coordinates":{"a":1}})", "must be an array of positions"},
      {R"({"type":"MultiLineString","coordinates":[[[1,2],[3,4]],[[5,6]]]})",
       "MultiLineString line 1 has 1 position(s); a LineString needs at least 2 positions"},
      {R"({"type":"MultiLineString","coordinates":[]})", "a MultiLineString needs at least one"},
      {R"({"type":"Polygon","coordinates":[]})", "Polygon needs at least one ring"},
      {R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]})",
       "Polygon ring 0 must be closed (first and last positions equal)"},
      {R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]})",
       "a LinearRing needs at least 4 positions"},
      {R"({"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],
                                          [[1,1],[2,1],[2,2],[1,1.5]]]})",
       "Polygon ring 1 must be closed"},
      {R"({"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],
                                               [[[5,5],[6,5],[6,6],[5,6]]]]})",
       "MultiPolygon polygon 1 ring 0 must be closed"},
      {R"({"type":"Polygon","coordinates":[[[0,0],[10,10],[10,0],[0,10],[0,0]]]})",
       "the Polygon is self-intersecting"},
      {R"({"type":"Polygon","coordinates":[[[0,0],[10,0],[0,10],[10,10],[5,-5],[0,0]]]})",
       "the Polygon is self-intersecting"},
      {R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]],
                                          [[5,5],[6,5],[6,6],[5,6],[5,5]]]})",
       "has a hole (ring 1 or later) outside its exterior ring"},
      {R"({"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,1],[0,0]]],
                                               [[[0,0],[10,10],[10,0],[0,10],[0,0]]]]})",
       "MultiPolygon polygon 1 is self-intersecting"},
      {R"({"type":"MultiLineString","coordinates":[[[0,0],[1,1]],[[2,2],[2,2]]]})",
       "MultiLineString line 1 is degenerate"},
      {R"({"type":"Polygon","coordinates":[[[0,0],[1,1],[2,2],[0,0]]]})",
       "the Polygon has a spike"},
      {R"({"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],
                                          [[2,2],[2,8],[8,8],[8,2],[2,2]],
                                          [[3,3],[3,4],[4,4],[4,3],[3,3]]]})",
       "has holes nested inside each other"},
  };
  for (const auto& c : cases) {
    const std::string detail = parse_error(c.text);
    EXPECT_NE(detail.find(c.detail), std::string::npos)
        << c.text << "\n  detail: " << detail << "\n  wanted: " << c.detail;
  }
}

// ---- relations ---------------------------------------------------------------------------

TEST(Relations, DecideEachGeorelOnHandMadeGeometries) {
  struct Case {
    std::string entity;
    Relation relation;
    std::string query;
    bool expected;
  };
  const std::string in = point_json(1, 1), on_edge = point_json(0, 5), in_hole = point_json(5, 5),
                    out = point_json(11, 11);
  const std::string sq(kSquare), cw(kSquareCw), inner(kInner), shifted(kShifted), far(kFar),
      holed(kWithHole), sq_far(kSquareAndFar), small_far(kSmallAndFar), cross(kCrossingLine),
      line(kInsideLine), line2(kShiftedLine), lines(kTwoLines), pts(kTwoPoints),
      pts2(kOtherTwoPoints);
  const std::string one_point_multi = R"({"type":"MultiPoint","coordinates":[[1,1]]})";
  const std::vector<Case> cases = {
      // point against polygon
      {in, Relation::kWithin, sq, true},
      {in, Relation::kWithin, cw, true},
      {out, Relation::kWithin, sq, false},
      {on_edge, Relation::kWithin, sq, false},  // the boundary is not the interior (OGC)
      {on_edge, Relation::kIntersects, sq, true},
      {in_hole, Relation::kWithin, holed, false},
      {in_hole, Relation::kDisjoint, holed, true},
      {in, Relation::kContains, sq, false},
      {sq, Relation::kContains, in, true},
      {holed, Relation::kContains, in_hole, false},
      {in, Relation::kEquals, one_point_multi, true},
      {in, Relation::kEquals, out, false},
      // polygon against polygon
      {inner, Relation::kWithin, sq, true},
      {sq, Relation::kWithin, inner, false},
      {sq, Relation::kContains, inner, true},
      {sq, Relation::kOverlaps, shifted, true},
      {sq, Relation::kOverlaps, inner, false},
      {sq, Relation::kOverlaps, far, false},
      {sq, Relation::kIntersects, shifted, true},
      {sq, Relation::kIntersects, far, false},
      {sq, Relation::kDisjoint, far, true},
      {sq, Relation::kDisjoint, shifted, false},
      {sq, Relation::kEquals, cw, true},
      {sq, Relation::kEquals, inner, false},
      {inner, Relation::kWithin, holed, false},  // it reaches into the hole
      {small_far, Relation::kWithin, holed, false},
      {R"({"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2],[1,2],[1,1]]]})", Relation::kWithin,
       holed, true},
      // lines
      {cross, Relation::kIntersects, sq, true},
      {cross, Relation::kWithin, sq, false},
      {cross, Relation::kOverlaps, sq, false},  // a line never overlaps an area (OGC)
      {line, Relation::kWithin, sq, true},
      {sq, Relation::kContains, line, true},
      {line, Relation::kOverlaps, line2, true},
      {line, Relation::kEquals, line2, false},
      {line, Relation::kIntersects, far, false},
      // multi geometries
      {pts, Relation::kIntersects, sq, true},
      {pts, Relation::kWithin, sq, false},
      {pts, Relation::kWithin, sq_far, true},
      {pts, Relation::kOverlaps, pts2, true},
      {small_far, Relation::kIntersects, sq, true},
      {small_far, Relation::kWithin, sq, false},
      {small_far, Relation::kWithin, sq_far, true},
      {sq_far, Relation::kContains, small_far, true},
      {small_far, Relation::kOverlaps, shifted, false},
      {lines, Relation::kWithin, sq_far, true},
      {lines, Relation::kWithin, sq, false},
      {lines, Relation::kIntersects, line, true},
      {sq_far, Relation::kEquals, sq_far, true},
  };
  for (const auto& c : cases) {
    const geo::Geometry g = parse(c.entity), q = parse(c.query);
    EXPECT_EQ(holds(g, c.relation, q), c.expected)
        << c.entity << "\n  georel " << static_cast<int>(c.relation) << "\n  " << c.query;
  }
}

TEST(Relations, AreConsistentForEveryPairOfGeometryTypes) {
  // Every type pair must be decidable (no crash, no silent false everywhere): intersects is
  // the negation of disjoint, within mirrors contains, and equal geometries lie within each
  // other.
  const std::vector<std::string> texts = {point_json(1, 1),           point_json(5, 5),
                                          std::string(kTwoPoints),    std::string(kOtherTwoPoints),
                                          std::string(kCrossingLine), std::string(kInsideLine),
                                          std::string(kShiftedLine),  std::string(kTwoLines),
                                          std::string(kSquare),       std::string(kWithHole),
                                          std::string(kShifted),      std::string(kFar),
                                          std::string(kSquareAndFar), std::string(kSmallAndFar)};
  std::vector<geo::Geometry> all;
  for (const auto& t : texts) all.push_back(parse(t));
  int intersecting_pairs = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    for (std::size_t j = 0; j < all.size(); ++j) {
      const auto& a = all[i];
      const auto& b = all[j];
      const bool intersects = holds(a, Relation::kIntersects, b);
      intersecting_pairs += intersects;
      EXPECT_NE(intersects, holds(a, Relation::kDisjoint, b)) << texts[i] << " / " << texts[j];
      EXPECT_EQ(holds(a, Relation::kWithin, b), holds(b, Relation::kContains, a))
          << texts[i] << " / " << texts[j];
      EXPECT_EQ(holds(a, Relation::kOverlaps, b), holds(b, Relation::kOverlaps, a))
          << texts[i] << " / " << texts[j];
      if (holds(a, Relation::kEquals, b)) {
        EXPECT_TRUE(holds(a, Relation::kWithin, b)) << texts[i] << " / " << texts[j];
      }
      if (i == j) {
        EXPECT_TRUE(holds(a, Relation::kEquals, b)) << texts[i];
      }
    }
  }
  EXPECT_GT(intersecting_pairs, static_cast<int>(all.size()));
}

TEST(Relations, GiveTheSameAnswersForEitherPolygonWinding) {
  const std::string ccw_holed(kWithHole);
  const std::string cw_holed =  // exterior clockwise, hole counter-clockwise
      R"({"type":"Polygon","coordinates":[[[0,0],[0,10],[10,10],[10,0],[0,0]],
                                          [[3,3],[7,3],[7,7],[3,7],[3,3]]]})";
  const geo::Geometry a = parse(ccw_holed), b = parse(cw_holed);
  EXPECT_TRUE(holds(a, Relation::kEquals, b));
  const std::vector<std::string> probes = {
      point_json(1, 1),    point_json(5, 5),      point_json(0, 5),           point_json(11, 1),
      std::string(kInner), std::string(kShifted), std::string(kCrossingLine), std::string(kSquare)};
  for (const auto& text : probes) {
    const geo::Geometry p = parse(text);
    for (Relation r : {Relation::kWithin, Relation::kContains, Relation::kIntersects,
                       Relation::kEquals, Relation::kDisjoint, Relation::kOverlaps}) {
      EXPECT_EQ(holds(p, r, a), holds(p, r, b)) << text << " georel " << static_cast<int>(r);
      EXPECT_EQ(holds(a, r, p), holds(b, r, p)) << text << " georel " << static_cast<int>(r);
    }
    EXPECT_DOUBLE_EQ(geo::distance_m(p, a), geo::distance_m(p, b)) << text;
  }
  EXPECT_TRUE(holds(parse(point_json(1, 1)), Relation::kWithin, b));
  EXPECT_FALSE(holds(parse(point_json(5, 5)), Relation::kWithin, b));  // in the hole
}

TEST(Relations, EmptyGeometriesMatchNothing) {
  const geo::Geometry square = parse(kSquare);
  EXPECT_FALSE(holds(geo::Geometry{}, Relation::kIntersects, square));
  EXPECT_FALSE(holds(square, Relation::kDisjoint, geo::Geometry{}));
  EXPECT_TRUE(std::isinf(geo::distance_m(square, geo::Geometry{})));
}

// ---- distances ---------------------------------------------------------------------------

namespace {
constexpr double kOfficeLon = 127.0473, kOfficeLat = 37.5172;  // Gangnam-gu office

double lon_offset_deg(double metres, double lat) {
  return metres / (kMetresPerDegreeLat * std::cos(lat * 3.14159265358979323846 / 180));
}
}  // namespace

TEST(Near, MaxDistanceKeepsPointsInsideTheRadius) {
  const geo::Geometry office = parse(point_json(kOfficeLon, kOfficeLat));
  const double lat900 = kOfficeLat + 900 / kMetresPerDegreeLat;
  const double lat1100 = kOfficeLat + 1100 / kMetresPerDegreeLat;
  const geo::Geometry north900 = parse(point_json(kOfficeLon, lat900));
  const geo::Geometry north1100 = parse(point_json(kOfficeLon, lat1100));
  const geo::Geometry east900 =
      parse(point_json(kOfficeLon + lon_offset_deg(900, kOfficeLat), kOfficeLat));
  const geo::Geometry west1100 =
      parse(point_json(kOfficeLon - lon_offset_deg(1100, kOfficeLat), kOfficeLat));
  EXPECT_TRUE(near(north900, 1000, std::nullopt, office));
  EXPECT_TRUE(near(east900, 1000, std::nullopt, office));
  EXPECT_FALSE(near(north1100, 1000, std::nullopt, office));
  EXPECT_FALSE(near(west1100, 1000, std::nullopt, office));
  EXPECT_TRUE(near(office, 1000, std::nullopt, office));
  // minDistance is the complement
  EXPECT_FALSE(near(north900, std::nullopt, 1000, office));
  EXPECT_TRUE(near(north1100, std::nullopt, 1000, office));
  // both bounds: a ring
  EXPECT_TRUE(near(north900, 1000, 800, office));
  EXPECT_FALSE(near(east900, 850, 800, office));
  EXPECT_NEAR(geo::distance_m(office, north900), 900, 0.5);
  EXPECT_NEAR(geo::distance_m(office, east900), 900, 0.5);
  EXPECT_NEAR(geo::distance_m(north1100, office), 1100, 0.5);
}

TEST(Near, MeasuresGreatCircleDistanceBetweenPoints) {
  // One degree of latitude on the 6,371,008.8 m sphere, and Seoul City Hall to Busan City
  // Hall (great-circle distance on that sphere: 325.11 km).
  EXPECT_NEAR(geo::distance_m(parse(point_json(127, 37)), parse(point_json(127, 38))),
              kMetresPerDegreeLat, 0.01);
  EXPECT_NEAR(
      geo::distance_m(parse(point_json(126.9780, 37.5665)), parse(point_json(129.0756, 35.1796))),
      325'112, 1);
}

TEST(Near, MeasuresToTheClosestPartOfLinesAndPolygons) {
  // A 0.01-degree block (about 880 m x 1110 m) and a road along latitude 37.5.
  const geo::Geometry block = parse(
      R"({"type":"Polygon","coordinates":[[[127.0,37.5],[127.01,37.5],[127.01,37.51],
                                          [127.0,37.51],[127.0,37.5]]]})");
  const geo::Geometry road =
      parse(R"({"type":"LineString","coordinates":[[127.0,37.5],[127.1,37.5]]})");
  const geo::Geometry north_of_block =
      parse(point_json(127.005, 37.51 + 900 / kMetresPerDegreeLat));
  const geo::Geometry east_of_block =
      parse(point_json(127.01 + lon_offset_deg(900, 37.505), 37.505));
  const geo::Geometry in_block = parse(point_json(127.005, 37.505));
  const geo::Geometry south_of_road = parse(point_json(127.05, 37.5 - 500 / kMetresPerDegreeLat));

  EXPECT_NEAR(geo::distance_m(block, north_of_block), 900, 900 * 0.005);
  EXPECT_NEAR(geo::distance_m(east_of_block, block), 900, 900 * 0.005);
  EXPECT_EQ(geo::distance_m(block, in_block), 0);
  EXPECT_NEAR(geo::distance_m(road, south_of_road), 500, 500 * 0.005);
  EXPECT_EQ(geo::distance_m(road, block), 0);  // the road runs along the block's south edge

  EXPECT_TRUE(near(block, 1000, std::nullopt, north_of_block));
  EXPECT_FALSE(near(block, 800, std::nullopt, north_of_block));
  EXPECT_TRUE(near(in_block, 0, std::nullopt, block));
  EXPECT_TRUE(near(south_of_road, 600, std::nullopt, road));
  EXPECT_FALSE(near(south_of_road, 400, std::nullopt, road));
  EXPECT_TRUE(near(south_of_road, std::nullopt, 400, road));
}

// ---- candidate boxes ---------------------------------------------------------------------

namespace {
bool box_contains(const geo::Box& b, double lon, double lat) {
  return b.min_lon <= lon && lon <= b.max_lon && b.min_lat <= lat && lat <= b.max_lat;
}
geo::GeoQuery query_of(std::string_view georel, std::string_view geometry,
                       std::string_view coordinates) {
  auto q = geo::parse_geoquery(georel, geometry, coordinates, "");
  EXPECT_TRUE(q.has_value()) << georel << " " << coordinates << ": " << (q ? "" : q.error().detail);
  return q ? *q : geo::GeoQuery{};
}
}  // namespace

TEST(CandidateBox, BoundsEveryNearMatchTightly) {
  const geo::GeoQuery q = query_of("near;maxDistance==1000", "Point", "[127.0473,37.5172]");
  const auto box = geo::candidate_box(q);
  ASSERT_TRUE(box);
  const double dlat900 = 900 / kMetresPerDegreeLat, dlon900 = lon_offset_deg(900, kOfficeLat);
  EXPECT_TRUE(box_contains(*box, kOfficeLon, kOfficeLat + dlat900));
  EXPECT_TRUE(box_contains(*box, kOfficeLon, kOfficeLat - dlat900));
  EXPECT_TRUE(box_contains(*box, kOfficeLon + dlon900, kOfficeLat));
  EXPECT_TRUE(box_contains(*box, kOfficeLon - dlon900, kOfficeLat));
  // ... and not much more than the 1 km radius: 1100 m out is outside the box.
  EXPECT_FALSE(box_contains(*box, kOfficeLon, kOfficeLat + 1100 / kMetresPerDegreeLat));
  EXPECT_FALSE(box_contains(*box, kOfficeLon + lon_offset_deg(1100, kOfficeLat), kOfficeLat));
}

TEST(CandidateBox, IsTheQueryBoxForBoundedRelationsAndAbsentOtherwise) {
  const geo::GeoQuery within =
      query_of("within", "Polygon", "[[[0,0],[10,0],[10,10],[0,10],[0,0]]]");
  const auto box = geo::candidate_box(within);
  ASSERT_TRUE(box);
  EXPECT_EQ(box->min_lon, 0);
  EXPECT_EQ(box->max_lat, 10);
  for (std::string_view rel : {"contains", "intersects", "equals", "overlaps"})
    EXPECT_TRUE(geo::candidate_box(query_of(rel, "Point", "[1,2]"))) << rel;
  EXPECT_FALSE(geo::candidate_box(query_of("disjoint", "Point", "[1,2]")));
  EXPECT_FALSE(geo::candidate_box(query_of("near;minDistance==10", "Point", "[1,2]")));
}

TEST(CandidateBox, WidensToAllLongitudesNearThePolesAndTheAntimeridian) {
  const auto polar = geo::candidate_box(query_of("near;maxDistance==5000", "Point", "[10,89.99]"));
  ASSERT_TRUE(polar);
  EXPECT_EQ(polar->min_lon, -180);
  EXPECT_EQ(polar->max_lon, 180);
  EXPECT_EQ(polar->max_lat, 90);
  const auto dateline =
      geo::candidate_box(query_of("near;maxDistance==1000", "Point", "[179.999,0]"));
  ASSERT_TRUE(dateline);
  EXPECT_EQ(dateline->min_lon, -180);
  EXPECT_EQ(dateline->max_lon, 180);
}

// ---- geo-query parsing -------------------------------------------------------------------

TEST(ParseGeoquery, ReadsTheQueryStringForm) {
  auto q = geo::parse_geoquery("near;maxDistance==2000", "Point", "[127.04,37.50]", "");
  ASSERT_TRUE(q) << q.error().detail;
  EXPECT_EQ(q->relation, Relation::kNear);
  EXPECT_EQ(q->max_distance_m, 2000);
  EXPECT_FALSE(q->min_distance_m);
  EXPECT_EQ(q->geometry.type_name(), "Point");
  EXPECT_EQ(q->geoproperty, "location");

  auto ring = geo::parse_geoquery("near;minDistance==12.5;maxDistance==100", "Point", "[1,2]",
                                  "observationSpace");
  ASSERT_TRUE(ring) << ring.error().detail;
  EXPECT_EQ(ring->min_distance_m, 12.5);
  EXPECT_EQ(ring->max_distance_m, 100);
  EXPECT_EQ(ring->geoproperty, "observationSpace");

  auto within = geo::parse_geoquery("within", "Polygon",
                                    "[[[126.9,37.4],[127.1,37.4],[127.1,37.6],[126.9,37.4]]]", "");
  ASSERT_TRUE(within) << within.error().detail;
  EXPECT_EQ(within->relation, Relation::kWithin);
  EXPECT_TRUE(geo::matches(*within, parse(point_json(127.05, 37.45))));
}

TEST(ParseGeoquery, ReadsTheJsonFormWithArrayOrStringCoordinates) {
  auto as_array = json::parse(
      R"({"georel":"intersects","geometry":"LineString","coordinates":[[0,5],[20,5]],
          "geoproperty":"route"})");
  ASSERT_TRUE(as_array);
  auto q = geo::parse_geoquery(as_array->as_object());
  ASSERT_TRUE(q) << q.error().detail;
  EXPECT_EQ(q->relation, Relation::kIntersects);
  EXPECT_EQ(q->geoproperty, "route");
  EXPECT_TRUE(geo::matches(*q, parse(kSquare)));

  auto as_string =
      json::parse(R"({"georel":"near;maxDistance==10","geometry":"Point","coordinates":"[1,2]"})");
  ASSERT_TRUE(as_string);
  auto q2 = geo::parse_geoquery(as_string->as_object());
  ASSERT_TRUE(q2) << q2.error().detail;
  EXPECT_EQ(q2->max_distance_m, 10);
  EXPECT_EQ(q2->geoproperty, "location");
}

TEST(ParseGeoquery, ExplainsEveryMistake) {
  struct Case {
    std::string_view georel, geometry, coordinates, detail;
  };
  const std::vector<Case> cases = {
      {"", "Point", "[1,2]", "geometry or coordinates given without georel"},
      {"within", "", "[1,2]", "georel given without geometry"},
      {"within", "Point", "", "georel given without coordinates"},
      {"touches", "Point", "[1,2]", "georel 'touches' is not supported"},
      {"NEAR;maxDistance==5", "Point", "[1,2]", "georel 'NEAR' is not supported"},
      {"near", "Point", "[1,2]", "georel near needs a distance"},
      {"near;maxDistance==-5", "Point", "[1,2]",
       "maxDistance must be a non-negative number of metres, got '-5'"},
      {"near;maxDistance==abc", "Point", "[1,2]", "maxDistance must be a non-negative number"},
      {"near;maxDistance==", "Point", "[1,2]", "maxDistance must be a non-negative number"},
      {"near;minDistance==1e999", "Point", "[1,2]", "minDistance must be a non-negative number"},
      {"near;maxDistance=5", "Point", "[1,2]", "georel modifier 'maxDistance=5' is not understood"},
      {"near;distance==5", "Point", "[1,2]", "georel modifier 'distance==5' is not understood"},
      {"near;maxDistance==5;maxDistance==6", "Point", "[1,2]", "georel gives maxDistance twice"},
      {"near;maxDistance==5;minDistance==1;x", "Point", "[1,2]", "has too many parts"},
      {"within;maxDistance==5", "Point", "[1,2]", "georel 'within' takes no modifiers"},
      {"within", "Circle", "[1,2]", "geometry 'Circle' is not supported"},
      {"within", "Point", "127.04,37.5", "coordinates must be a JSON array such as"},
      {"within", "Point", "[127.04,37.5", "coordinates must be a JSON array such as"},
      {"within", "Point", "[127.04]", "coordinates of a Point must be [longitude, latitude]"},
      {"within", "Point", "[127.04,95]", "latitude 95 is out of range [-90, 90]"},
      {"within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]", "Polygon ring 0 must be closed"},
  };
  for (const auto& c : cases) {
    auto q = geo::parse_geoquery(c.georel, c.geometry, c.coordinates, "");
    ASSERT_FALSE(q) << c.georel << " " << c.geometry << " " << c.coordinates;
    EXPECT_EQ(q.error().kind, base::ErrorKind::kBadRequestData);
    EXPECT_NE(q.error().detail.find(c.detail), std::string::npos)
        << c.georel << " " << c.coordinates << "\n  detail: " << q.error().detail
        << "\n  wanted: " << c.detail;
  }
}

TEST(ParseGeoquery, ExplainsMistakesInTheJsonForm) {
  struct Case {
    std::string_view text, detail;
  };
  const std::vector<Case> cases = {
      {R"({"geometry":"Point","coordinates":[1,2]})", "without georel"},
      {R"({"georel":"within","coordinates":[1,2]})", "georel given without geometry"},
      {R"({"georel":"within","geometry":"Point"})", "georel given without coordinates"},
      {R"({"georel":5,"geometry":"Point","coordinates":[1,2]})", "georel must be a string"},
      {R"({"georel":"within","geometry":["Point"],"coordinates":[1,2]})",
       "geometry must be a string"},
      {R"({"georel":"within","geometry":"Point","coordinates":{"lon":1}})",
       "coordinates must be an array, got an object"},
      {R"({"georel":"within","geometry":"Point","coordinates":"1,2"})",
       "coordinates must be a JSON array"},
      {R"({"georel":"within","geometry":"Point","coordinates":[1,2],"geoproperty":7})",
       "geoproperty must be a string"},
  };
  for (const auto& c : cases) {
    auto v = json::parse(c.text);
    ASSERT_TRUE(v) << c.text;
    auto q = geo::parse_geoquery(v->as_object());
    ASSERT_FALSE(q) << c.text;
    EXPECT_EQ(q.error().kind, base::ErrorKind::kBadRequestData);
    EXPECT_NE(q.error().detail.find(c.detail), std::string::npos)
        << c.text << "\n  detail: " << q.error().detail << "\n  wanted: " << c.detail;
  }
}
