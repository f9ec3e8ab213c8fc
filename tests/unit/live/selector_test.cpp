// Selectors: entity selectors OR-ed, q / scopeQ / geo AND-ed, and their store queries.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "live/selector.h"

using namespace cityroom;

namespace {

ldcontext::Context context() {
  static auto store = ldcontext::ContextStore::open({}, ::testing::TempDir() + "/selector-ctx");
  return *(*store)->core();
}

model::Entity sensor(std::string_view id, std::string_view type, double tilt, double lon,
                     double lat) {
  const auto v = ldcontext::kDefaultVocab;
  auto text = fmt::format(
      R"({{"id":"{}","type":["{}{}"],"{}tilt":[{{"type":"Property","value":{}}}],
          "https://uri.etsi.org/ngsi-ld/location":[{{"type":"GeoProperty","value":{{"type":"Point","coordinates":[{},{}]}}}}]}})",
      id, v, type, v, tilt, lon, lat);
  return json::parse(text)->as_object();
}

live::Selector build(live::SelectorTerms terms) {
  auto s = live::Selector::build(terms, context());
  EXPECT_TRUE(s) << (s ? "" : s.error().detail);
  return std::move(*s);
}

}  // namespace

TEST(Selector, EmptyTermsMatchEverything) {
  auto s = build({});
  EXPECT_TRUE(s.matches(sensor("urn:ngsi-ld:Bridge:1", "Bridge", 0.1, 127.05, 37.5)));
}

TEST(Selector, EntitySelectorsAreAlternatives) {
  live::SelectorTerms t;
  t.entities = {{.id = "urn:ngsi-ld:Bridge:1"}, {.id_pattern = "^urn:ngsi-ld:Market:", .type = "Market"}};
  auto s = build(t);
  EXPECT_TRUE(s.matches(sensor("urn:ngsi-ld:Bridge:1", "Bridge", 0.1, 127.05, 37.5)));
  EXPECT_FALSE(s.matches(sensor("urn:ngsi-ld:Bridge:2", "Bridge", 0.1, 127.05, 37.5)));
  EXPECT_TRUE(s.matches(sensor("urn:ngsi-ld:Market:7", "Market", 0.1, 127.05, 37.5)));
  EXPECT_FALSE(s.matches(sensor("urn:ngsi-ld:Market:7", "Bridge", 0.1, 127.05, 37.5)));
}

TEST(Selector, QAndGeoMustBothHold) {
  live::SelectorTerms t;
  t.entities = {{.type = "Bridge"}};
  t.q = "tilt>0.5";
  t.geo = *geo::parse_geoquery("near;maxDistance==1000", "Point", "[127.05,37.5]", "");
  auto s = build(t);
  EXPECT_TRUE(s.matches(sensor("urn:ngsi-ld:Bridge:1", "Bridge", 0.6, 127.0501, 37.5001)));
  EXPECT_FALSE(s.matches(sensor("urn:ngsi-ld:Bridge:1", "Bridge", 0.4, 127.0501, 37.5001)));
  EXPECT_FALSE(s.matches(sensor("urn:ngsi-ld:Bridge:1", "Bridge", 0.6, 127.2, 37.6)));
  const auto attrs = s.q_attributes();
  ASSERT_EQ(attrs.size(), 1u);
  EXPECT_EQ(attrs[0], std::string(ldcontext::kDefaultVocab) + "tilt");
}

TEST(Selector, StoreQueryPushesDownTheOnlySelectorAndKeepsThePredicate) {
  live::SelectorTerms t;
  t.entities = {{.type = "Bridge"}};
  t.q = "tilt>0.5";
  auto q = build(t).entity_query();
  ASSERT_TRUE(q.any_of_types);
  EXPECT_EQ(q.any_of_types->front(), std::string(ldcontext::kDefaultVocab) + "Bridge");
  ASSERT_EQ(q.conditions.size(), 1u);
  ASSERT_TRUE(q.predicate);
  EXPECT_FALSE(q.predicate(sensor("urn:ngsi-ld:Bridge:1", "Bridge", 0.2, 127.05, 37.5)));
}

TEST(Selector, BadTermsAreRefusedWithTheirName) {
  live::SelectorTerms t;
  t.q = "tilt>>";
  EXPECT_FALSE(live::Selector::build(t, context()));
  live::SelectorTerms p;
  p.entities = {{.id_pattern = "([a-"}};
  auto r = live::Selector::build(p, context());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("idPattern"), std::string::npos);
  live::SelectorTerms i;
  i.entities = {{.id = "not a uri"}};
  EXPECT_FALSE(live::Selector::build(i, context()));
}
