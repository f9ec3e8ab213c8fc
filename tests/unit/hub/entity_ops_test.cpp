// The NGSI-LD update semantics on model's internal form.
#include <gtest/gtest.h>

#include "hub/hub.h"

using namespace cityroom;

namespace {

constexpr std::string_view kTilt = "https://example.org/tilt";
constexpr std::string_view kName = "https://example.org/name";

json::object entity(std::string_view extra = "") {
  std::string text = R"({"id":"urn:ngsi-ld:Bridge:1","type":["https://example.org/Bridge"],
    "createdAt":"2026-01-01T00:00:00.000Z","modifiedAt":"2026-01-01T00:00:00.000Z",
    "https://example.org/tilt":[{"type":"Property","value":0.2,"createdAt":"2026-01-01T00:00:00.000Z",
       "https://example.org/unit":{"type":"Property","value":"deg"}}])";
  if (!extra.empty()) text += std::string(",") + std::string(extra);
  text += "}";
  return json::parse(text)->as_object();
}

json::object fragment(std::string_view body) { return json::parse(body)->as_object(); }

const json::array& attr(const json::object& e, std::string_view name) {
  return e.at(name).as_array();
}

}  // namespace

TEST(Append, AddsNewAndReplacesExistingKeepingCreatedAt) {
  auto e = entity();
  auto out = hub::append_attributes(
      e,
      fragment(R"({"https://example.org/tilt":[{"type":"Property","value":0.5}],
                   "https://example.org/name":[{"type":"Property","value":"성수대교"}]})"),
      false, 1'000'000);
  EXPECT_EQ(out.updated.size(), 2u);
  EXPECT_EQ(attr(e, kTilt)[0].at("value"), 0.5);
  EXPECT_EQ(attr(e, kTilt)[0].at("createdAt"), "2026-01-01T00:00:00.000Z");
  EXPECT_FALSE(attr(e, kTilt)[0].as_object().contains("https://example.org/unit"))
      << "append replaces the whole attribute, sub-attributes included";
  EXPECT_EQ(attr(e, kName)[0].at("value"), "성수대교");
}

TEST(Append, NoOverwriteKeepsExistingAndReportsIt) {
  auto e = entity();
  auto out = hub::append_attributes(
      e, fragment(R"({"https://example.org/tilt":[{"type":"Property","value":9}]})"), true, 1);
  EXPECT_TRUE(out.updated.empty());
  ASSERT_EQ(out.not_updated.size(), 1u);
  EXPECT_EQ(attr(e, kTilt)[0].at("value"), 0.2);
}

TEST(Append, DatasetIdsAreSeparateInstances) {
  auto e = entity();
  hub::append_attributes(
      e,
      fragment(R"({"https://example.org/tilt":[{"type":"Property","value":1,"datasetId":"urn:ngsi-ld:Dataset:north"}]})"),
      false, 1);
  ASSERT_EQ(attr(e, kTilt).size(), 2u);
  EXPECT_EQ(attr(e, kTilt)[0].at("value"), 0.2);
}

TEST(Update, OnlyTouchesExistingAttributes) {
  auto e = entity();
  auto out = hub::update_attributes(
      e,
      fragment(R"({"https://example.org/tilt":[{"type":"Property","value":0.3}],
                   "https://example.org/name":[{"type":"Property","value":"x"}]})"),
      1);
  EXPECT_EQ(out.updated, std::vector<std::string>{std::string(kTilt)});
  ASSERT_EQ(out.not_updated.size(), 1u);
  EXPECT_EQ(out.not_updated[0].attribute, kName);
  EXPECT_FALSE(e.contains(kName));
  EXPECT_EQ(attr(e, kTilt)[0].at("value"), 0.3);
}

TEST(Merge, NullUriDeletesAndOtherMembersAreMerged) {
  auto e = entity(R"("https://example.org/name":[{"type":"Property","value":"old"}])");
  hub::merge_entity(
      e,
      fragment(R"({"https://example.org/name":[{"type":"Property","value":"urn:ngsi-ld:null"}],
                   "https://example.org/tilt":[{"type":"Property","value":0.7}]})"),
      1);
  EXPECT_FALSE(e.contains(kName));
  EXPECT_EQ(attr(e, kTilt)[0].at("value"), 0.7);
  EXPECT_TRUE(attr(e, kTilt)[0].as_object().contains("https://example.org/unit"))
      << "merge-patch keeps sub-attributes that the patch does not name";
}

TEST(Merge, AddsTypesWithoutDuplicates) {
  auto e = entity();
  hub::merge_entity(e, fragment(R"({"type":["https://example.org/Bridge","https://example.org/Asset"]})"), 1);
  EXPECT_EQ(e.at("type").as_array().size(), 2u);
}

TEST(PatchAttribute, MissingAttributeIsNotFound) {
  auto e = entity();
  auto r = hub::patch_attribute(e, kName, json::array{json::object{{"type", "Property"}, {"value", 1}}}, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, base::ErrorKind::kResourceNotFound);
}

TEST(PatchAttribute, MergesIntoTheInstance) {
  auto e = entity();
  auto r = hub::patch_attribute(e, kTilt, json::array{json::object{{"value", 0.9}}}, 1);
  ASSERT_TRUE(r);
  EXPECT_EQ(attr(e, kTilt)[0].at("value"), 0.9);
  EXPECT_EQ(attr(e, kTilt)[0].at("type"), "Property");
}
