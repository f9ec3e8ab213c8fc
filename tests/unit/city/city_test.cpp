// city: the city file (errors name the member), /city's shape, and importing a city's mappings
// only when their content changed (a stamp per mapping), updating and never duplicating.
#include "city/city.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

namespace cityroom::city {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kCity = R"({"id": "testgu", "name": {"ko": "시험구", "en": "Test-gu"},
  "adminCode": "1168000000", "centre": [127.05, 37.5], "zoom": 13,
  "bbox": [127.0, 37.4, 127.1, 37.6], "mappings": "mappings",
  "connectors": [{"name": "k", "type": "kma-ncst"}]})";

TEST(CityFile, ParsesAndAnswersTheDataModelShape) {
  auto c = parse_city(*json::parse(kCity), "/base");
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->mappings_dir, fs::path("/base/mappings"));
  EXPECT_EQ(c->boundary_entity, "urn:ngsi-ld:AdministrativeArea:1168000000");
  EXPECT_EQ(c->connectors.size(), 1u);
  const auto j = city_json(*c);
  EXPECT_EQ(j.at("name").at("ko"), json::value("시험구"));
  EXPECT_EQ(j.at("dongType"), json::value("AdministrativeArea"));
  EXPECT_EQ(j.at("timezone"), json::value("Asia/Seoul"));
  EXPECT_EQ(j.at("bbox").as_array().size(), 4u);
}

TEST(CityFile, ErrorsNameTheMember) {
  auto check = [](std::string_view patch_from, std::string_view patch_to, std::string_view member) {
    std::string text(kCity);
    text.replace(text.find(patch_from), patch_from.size(), patch_to);
    auto c = parse_city(*json::parse(text), "/");
    ASSERT_FALSE(c) << text;
    EXPECT_NE(c.error().detail.find(member), std::string::npos) << c.error().detail;
  };
  check(R"("adminCode": "1168000000")", R"("adminCode": "11680")", "adminCode");
  check(R"("centre": [127.05, 37.5])", R"("centre": [127.05])", "centre");
  check(R"("bbox": [127.0, 37.4, 127.1, 37.6])", R"("bbox": [127.1, 37.4, 127.0, 37.6])", "bbox");
  check(R"("zoom": 13)", R"("zom": 13)", "zom");
  check(R"("name": {"ko": "시험구", "en": "Test-gu"})", R"("name": "x")", "name");
  EXPECT_FALSE(load_city("/nonexistent/city.json"));
}

class CityImport : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cityroom-city-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_ / "mappings");
    write("city.json", kCity);
    write("mappings/01-points.json", R"({"name": "test-points", "description": "points",
      "dataset": {"name": {"ko": "지점", "en": "Points"}, "licence": "KOGL Type 1"},
      "source": {"format": "csv", "file": "../points.csv"},
      "entity": {"type": "Spot", "id": "urn:ngsi-ld:Spot:{id}"},
      "attributes": {"label": {"column": "label"}}})");
    write("points.csv", "id,label\n1,a\n2,b\n");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, std::string_view text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
  }
  fs::path dir_;
};

TEST_F(CityImport, OnlyChangedMappingsRunAndReImportUpdates) {
  auto c = load_city(dir_ / "city.json");
  ASSERT_TRUE(c) << c.error().detail;
  auto store = store::open_sqlite({.data_dir = dir_ / "db"});
  ASSERT_TRUE(store);
  auto contexts = ldcontext::ContextStore::open("", dir_ / "contexts");
  ASSERT_TRUE(contexts);
  hub::Hub hub(**store);
  catalog::Catalog cat(&hub, (*contexts)->core());
  auto first = import_city(*c, hub, **contexts, &cat, {});
  ASSERT_TRUE(first) << first.error().detail;
  ASSERT_EQ(first->size(), 1u);
  EXPECT_FALSE((*first)[0].skipped);
  EXPECT_EQ((*first)[0].imported, 2u);
  auto d = cat.get("test-points");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->at("name").at("en"), json::value("Points"));
  EXPECT_EQ(d->at("recordCount"), json::value(2));
  EXPECT_EQ(d->at("entityTypes"), json::array{"Spot"});
  EXPECT_EQ(d->at("freshness"), json::value("fresh"));
  auto second = import_city(*c, hub, **contexts, &cat, {});
  ASSERT_TRUE(second);
  EXPECT_TRUE((*second)[0].skipped);
  write("points.csv", "id,label\n1,changed\n2,b\n3,c\n");
  auto third = import_city(*c, hub, **contexts, &cat, {});
  ASSERT_TRUE(third);
  EXPECT_FALSE((*third)[0].skipped);
  EXPECT_EQ((*third)[0].imported, 3u);
  store::EntityQuery q;
  q.any_of_types = std::vector<std::string>{"https://uri.etsi.org/ngsi-ld/default-context/Spot"};
  auto all = hub.query("", q);
  ASSERT_TRUE(all) << all.error().detail;
  EXPECT_EQ(all->entities.size(), 3u);  // updated, not duplicated
  auto forced = import_city(*c, hub, **contexts, &cat, {.force = true});
  ASSERT_TRUE(forced);
  EXPECT_FALSE((*forced)[0].skipped);
  // A missing source is a failed dataset, not a stopped start.
  fs::remove(dir_ / "points.csv");
  auto missing = import_city(*c, hub, **contexts, &cat, {});
  ASSERT_TRUE(missing);
  EXPECT_TRUE((*missing)[0].failed);
  EXPECT_EQ(cat.get("test-points")->at("freshness"), json::value("failed"));
  (*store)->close();
}

}  // namespace
}  // namespace cityroom::city
