// geo on Seoul's real administrative boundaries (shared/data/boundaries): every dong parses,
// and a point is placed in the one dong and the one gu that hold it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "geo/geo.h"
#include "json/json.h"

using namespace cityroom;

namespace {

constexpr double kOfficeLon = 127.0473, kOfficeLat = 37.5172;  // Gangnam-gu office
constexpr std::size_t kSeoulDongCount = 425;
constexpr std::size_t kSeoulGuCount = 25;
constexpr std::size_t kKoreaSggCount = 250;

std::filesystem::path shared_dir() {
  if (const char* source = std::getenv("CITYROOM_SOURCE_DIR")) {
    const auto beside = std::filesystem::path(source) / ".." / "shared";
    if (std::filesystem::exists(beside)) return beside;
  }
  return "/work/shared";
}

std::optional<json::value> load(const std::string& name) {
  const auto path = shared_dir() / "data" / "boundaries" / name;
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  auto v = json::parse(text.str());
  EXPECT_TRUE(v) << path << ": " << (v ? "" : v.error().detail);
  if (!v) return std::nullopt;
  return *v;
}

struct Area {
  std::string name;  // adm_nm for dongs, sggnm for gus
  std::string gu;
  json::value geojson;
  geo::Geometry geometry;
};

std::vector<Area> load_areas(const std::string& file, std::string_view name_key) {
  std::vector<Area> areas;
  auto doc = load(file);
  if (!doc) return areas;
  for (const auto& f : doc->at("features").as_array()) {
    const auto& props = f.at("properties").as_object();
    Area area{std::string(props.at(name_key).as_string()),
              std::string(props.at("sggnm").as_string()),
              f.at("geometry"),
              {}};
    auto g = geo::parse_geojson(area.geojson);
    EXPECT_TRUE(g) << area.name << ": " << (g ? "" : g.error().detail);
    if (g) area.geometry = *g;
    areas.push_back(std::move(area));
  }
  return areas;
}

geo::Geometry point(double lon, double lat) {
  json::value v = {{"type", "Point"}, {"coordinates", json::array{lon, lat}}};
  return *geo::parse_geojson(v);
}

geo::GeoQuery query(geo::Relation relation, geo::Geometry g,
                    std::optional<double> max_m = std::nullopt) {
  geo::GeoQuery q;
  q.relation = relation;
  q.geometry = std::move(g);
  q.max_distance_m = max_m;
  return q;
}

// Reverses every ring of a (Multi)Polygon's coordinates, giving the opposite winding.
void reverse_rings(json::value& geometry) {
  auto& polygons = geometry.at("coordinates").as_array();
  for (auto& polygon : polygons)
    for (auto& ring : polygon.as_array())
      std::reverse(ring.as_array().begin(), ring.as_array().end());
}

class SeoulDongs : public ::testing::Test {
 protected:
  void SetUp() override {
    dongs_ = load_areas("seoul_dong.geojson", "adm_nm");
    if (dongs_.empty()) GTEST_SKIP() << "shared/data/boundaries/seoul_dong.geojson not found";
  }
  std::vector<const Area*> matching(const geo::GeoQuery& q) const {
    std::vector<const Area*> out;
    for (const auto& d : dongs_)
      if (geo::matches(q, d.geometry)) out.push_back(&d);
    return out;
  }
  std::vector<Area> dongs_;
};

}  // namespace

TEST_F(SeoulDongs, EveryDongBoundaryParses) {
  EXPECT_EQ(dongs_.size(), kSeoulDongCount);
  for (const auto& d : dongs_) {
    EXPECT_FALSE(d.geometry.empty()) << d.name;
    EXPECT_EQ(d.geometry.type_name(), "MultiPolygon") << d.name;
  }
}

TEST_F(SeoulDongs, GangnamOfficeLiesInExactlyOneDongOfGangnam) {
  const geo::GeoQuery contains_office =
      query(geo::Relation::kContains, point(kOfficeLon, kOfficeLat));
  const auto holders = matching(contains_office);
  ASSERT_EQ(holders.size(), 1u);
  EXPECT_EQ(holders[0]->name, "서울특별시 강남구 삼성2동");
  EXPECT_EQ(holders[0]->gu, "강남구");
  EXPECT_EQ(holders[0]->name.rfind("서울특별시 강남구 ", 0), 0u);
  std::size_t gangnam_holders = 0;
  for (const auto* d : holders) gangnam_holders += d->gu == "강남구";
  EXPECT_EQ(gangnam_holders, 1u);

  // The same answer from the other side: the office point is within that dong and no other.
  std::size_t within = 0;
  for (const auto& d : dongs_) {
    if (geo::matches(query(geo::Relation::kWithin, d.geometry), point(kOfficeLon, kOfficeLat))) {
      ++within;
      EXPECT_EQ(d.name, "서울특별시 강남구 삼성2동");
    }
  }
  EXPECT_EQ(within, 1u);
}

TEST_F(SeoulDongs, ReversedWindingGivesTheSameAnswers) {
  const Area* samseong2 = nullptr;
  for (const auto& d : dongs_)
    if (d.name == "서울특별시 강남구 삼성2동") samseong2 = &d;
  ASSERT_NE(samseong2, nullptr);
  json::value reversed = samseong2->geojson;
  reverse_rings(reversed);
  auto flipped = geo::parse_geojson(reversed);
  ASSERT_TRUE(flipped) << flipped.error().detail;
  const geo::Geometry office = point(kOfficeLon, kOfficeLat);
  EXPECT_TRUE(geo::matches(query(geo::Relation::kWithin, *flipped), office));
  EXPECT_TRUE(geo::matches(query(geo::Relation::kEquals, samseong2->geometry), *flipped));
  // The neighbouring dongs touch it but do not overlap it, with either winding.
  for (const auto& d : dongs_) {
    if (&d == samseong2) continue;
    EXPECT_EQ(geo::matches(query(geo::Relation::kOverlaps, samseong2->geometry), d.geometry),
              geo::matches(query(geo::Relation::kOverlaps, *flipped), d.geometry))
        << d.name;
    EXPECT_EQ(geo::matches(query(geo::Relation::kIntersects, samseong2->geometry), d.geometry),
              geo::matches(query(geo::Relation::kIntersects, *flipped), d.geometry))
        << d.name;
  }
}

TEST_F(SeoulDongs, NearFindsTheDongsWithinAKilometreOfTheOffice) {
  const geo::Geometry office = point(kOfficeLon, kOfficeLat);
  const auto nearby = matching(query(geo::Relation::kNear, office, 1000.0));
  ASSERT_GT(nearby.size(), 1u);  // the office's own dong and its neighbours
  bool has_own = false;
  for (const auto* d : nearby) {
    has_own |= d->name == "서울특별시 강남구 삼성2동";
    EXPECT_LE(geo::distance_m(d->geometry, office), 1000.0) << d->name;
  }
  EXPECT_TRUE(has_own);
  // Every dong the near query leaves out is farther than a kilometre, and lies outside the
  // index box unless it is close to it.
  const auto box = geo::candidate_box(query(geo::Relation::kNear, office, 1000.0));
  ASSERT_TRUE(box);
  std::size_t in_box = 0;
  for (const auto& d : dongs_) {
    const geo::Box b = d.geometry.bbox();
    const bool box_hit = b.min_lon <= box->max_lon && box->min_lon <= b.max_lon &&
                         b.min_lat <= box->max_lat && box->min_lat <= b.max_lat;
    in_box += box_hit;
    if (std::find(nearby.begin(), nearby.end(), &d) == nearby.end())
      EXPECT_GT(geo::distance_m(d.geometry, office), 1000.0) << d.name;
    else
      EXPECT_TRUE(box_hit) << d.name;
  }
  EXPECT_LT(in_box, dongs_.size() / 10);  // the box prunes most of Seoul
}

TEST(SeoulGus, GangnamOfficeLiesInGangnamGu) {
  auto gus = load_areas("seoul_gu.geojson", "sggnm");
  if (gus.empty()) GTEST_SKIP() << "shared/data/boundaries/seoul_gu.geojson not found";
  EXPECT_EQ(gus.size(), kSeoulGuCount);
  std::vector<std::string> holders;
  for (const auto& gu : gus)
    if (geo::matches(query(geo::Relation::kWithin, gu.geometry), point(kOfficeLon, kOfficeLat)))
      holders.push_back(gu.name);
  ASSERT_EQ(holders.size(), 1u);
  EXPECT_EQ(holders[0], "강남구");
}

TEST(KoreaSggs, EveryDistrictParsesAndGangnamHoldsTheOffice) {
  // Two of these come malformed from the source (overlapping members in Daegu Dalseo-gu, a
  // self-touching ring in Ansan Danwon-gu); both must still load.
  auto sggs = load_areas("korea_sgg.geojson", "sggnm");
  if (sggs.empty()) GTEST_SKIP() << "shared/data/boundaries/korea_sgg.geojson not found";
  EXPECT_EQ(sggs.size(), kKoreaSggCount);
  std::vector<std::string> holders;
  for (const auto& sgg : sggs) {
    EXPECT_FALSE(sgg.geometry.empty()) << sgg.name;
    if (geo::matches(query(geo::Relation::kContains, point(kOfficeLon, kOfficeLat)), sgg.geometry))
      holders.push_back(sgg.name);
  }
  ASSERT_EQ(holders.size(), 1u);
  EXPECT_EQ(holders[0], "강남구");
}
