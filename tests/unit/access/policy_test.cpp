// The visibility rules and the role × visibility × operation table of access/policy.
#include <gtest/gtest.h>

#include "access/policy.h"

namespace cityroom::access {
namespace {

constexpr std::string_view kSdm = "https://smartdatamodels.org/dataModel.Transportation/";
constexpr std::string_view kCore = "https://uri.etsi.org/ngsi-ld/default-context/";

std::shared_ptr<const Policy> policy() {
  auto doc = json::parse(R"({"default": "staff", "types": {
      "Camera": "public", "Vehicle": "staff",
      "Patient": {"visibility": "restricted", "departments": ["119"]},
      "https://example.org/Secret": "restricted"}})");
  auto p = Policy::parse(*doc);
  EXPECT_TRUE(p) << p.error().detail;
  return std::make_shared<Policy>(std::move(*p));
}

model::Entity entity(std::string type, std::string id = "urn:ngsi-ld:X:1") {
  return json::object{{"id", id}, {"type", type}};
}

Principal principal(Role role, std::string dept = {}, std::vector<std::string> types = {}) {
  Principal p;
  p.who = "test";
  p.role = role;
  p.department = std::move(dept);
  p.ops = role_ops(role);
  p.types = std::move(types);
  p.via = Principal::Via::kKey;
  return p;
}

TEST(Policy, MatchesLocalNamesAndExactIris) {
  auto p = policy();
  EXPECT_EQ(p->rule(std::string(kCore) + "Camera").visibility, Visibility::kPublic);
  EXPECT_EQ(p->rule(std::string(kSdm) + "Vehicle").visibility, Visibility::kStaff);
  EXPECT_EQ(p->rule("https://example.org/Secret").visibility, Visibility::kRestricted);
  EXPECT_EQ(p->rule("https://other.org/Secret").visibility, Visibility::kStaff) << "default";
  EXPECT_EQ(p->rule("urn:x:Unknown").visibility, Visibility::kStaff) << "secure by default";
}

TEST(Policy, RejectsBadFiles) {
  for (const char* text : {R"([])", R"({"default": "everyone"})", R"({"types": {"A": 3}})",
                           R"({"types": {"A": {"visibility": "restricted", "departments": "x"}}})",
                           R"({"typos": {}})"}) {
    auto p = Policy::parse(*json::parse(text));
    EXPECT_FALSE(p) << text;
  }
}

TEST(Policy, ShippedFileLoadsAndMakesTheDemoPublic) {
  const char* src = std::getenv("CITYROOM_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  auto p = Policy::load(std::filesystem::path(src) / "data/access/visibility.json");
  ASSERT_TRUE(p) << p.error().detail;
  for (const char* t : {"AdministrativeArea", "Camera", "BikeHireDockingStation", "PointOfInterest",
                        "RoadSegment", "AirQualityObserved", "WeatherObserved", "DisasterMessage",
                        "Dataset"}) {
    EXPECT_EQ(p->rule(t).visibility, Visibility::kPublic) << t;
  }
  for (const char* t : {"Vehicle", "ServiceRequest", "FacilitySensor", "Alert", "Unlisted"}) {
    EXPECT_EQ(p->rule(t).visibility, Visibility::kStaff) << t;
  }
}

// role × visibility → sees?
TEST(Grant, VisibilityMatrix) {
  auto pol = policy();
  struct Row {
    Principal who;
    bool camera, vehicle, patient;
  };
  const Row rows[] = {
      {Principal{}, true, false, false},  // anonymous
      {principal(Role::kPublic), true, false, false},
      {principal(Role::kDevice), true, false, false},
      {principal(Role::kDevice, "", {"Vehicle"}), true, true, false},
      {principal(Role::kStaff, "roads"), true, true, false},
      {principal(Role::kStaff, "119"), true, true, true},
      {principal(Role::kStaff, "roads", {"Camera"}), true, false, false},
      {principal(Role::kExecutive), true, true, true},
      {principal(Role::kAdmin), true, true, true},
  };
  for (const auto& r : rows) {
    Grant g(r.who, pol, "");
    const std::string name = std::string(role_name(r.who.role)) + "/" + r.who.department;
    EXPECT_EQ(g.may_see(entity(std::string(kCore) + "Camera")), r.camera) << name;
    EXPECT_EQ(g.may_see(entity(std::string(kSdm) + "Vehicle")), r.vehicle) << name;
    EXPECT_EQ(g.may_see(entity(std::string(kCore) + "Patient")), r.patient) << name;
    EXPECT_EQ(g.may_see_type(std::string(kCore) + "Patient"), r.patient) << name;
  }
}

// role × type → may write?
TEST(Grant, WriteMatrix) {
  auto pol = policy();
  const std::string camera = std::string(kCore) + "Camera", vehicle = std::string(kSdm) + "Vehicle",
                    patient = std::string(kCore) + "Patient";
  EXPECT_FALSE(Grant(Principal{}, pol, "").may_write_type(camera));
  EXPECT_FALSE(Grant(principal(Role::kPublic), pol, "").may_write_type(camera));
  Grant device(principal(Role::kDevice, "", {"Vehicle"}), pol, "");
  EXPECT_TRUE(device.may_write_type(vehicle));
  EXPECT_FALSE(device.may_write_type(camera)) << "outside its scope";
  Grant staff(principal(Role::kStaff, "roads"), pol, "");
  EXPECT_TRUE(staff.may_write_type(camera));
  EXPECT_TRUE(staff.may_write_type(vehicle));
  EXPECT_FALSE(staff.may_write_type(patient));
  EXPECT_TRUE(Grant(principal(Role::kStaff, "119"), pol, "").may_write_type(patient));
  auto read_only = principal(Role::kStaff, "119");
  read_only.ops = kOpRead;
  EXPECT_FALSE(Grant(read_only, pol, "").may_write_type(camera));
  EXPECT_TRUE(Grant(principal(Role::kExecutive), pol, "").may_write_type(patient));
}

TEST(Grant, OnlyUnrestrictedGrantsAreUnlimited) {
  auto pol = policy();
  EXPECT_FALSE(Grant(principal(Role::kAdmin), pol, "").limited());
  EXPECT_FALSE(Grant(principal(Role::kExecutive), pol, "").limited());
  EXPECT_TRUE(Grant(principal(Role::kAdmin, "", {"Camera"}), pol, "").limited());
  EXPECT_TRUE(Grant(principal(Role::kStaff), pol, "").limited());
  EXPECT_TRUE(Grant(Principal{}, pol, "").limited());
  EXPECT_TRUE(Grant(principal(Role::kAdmin), pol, "").is_admin());
  EXPECT_FALSE(Grant(principal(Role::kExecutive), pol, "").is_admin());
}

TEST(Grant, MultiTypedEntityTakesTheStrictest) {
  auto pol = policy();
  model::Entity both = json::object{
      {"id", "urn:x:1"},
      {"type", json::array{std::string(kCore) + "Camera", std::string(kSdm) + "Vehicle"}}};
  EXPECT_FALSE(Grant(Principal{}, pol, "").may_see(both));
  EXPECT_TRUE(Grant(principal(Role::kStaff), pol, "").may_see(both));
  model::Entity untyped = json::object{{"id", "urn:x:2"}};
  EXPECT_FALSE(Grant(principal(Role::kStaff), pol, "").may_see(untyped));
}

TEST(Grant, ScopeRoundTripsForSubscriptions) {
  auto pol = policy();
  Grant staff(principal(Role::kStaff, "119", {"Patient", "Camera"}), pol, "");
  Grant back(Grant::from_scope(staff.scope()), pol, "");
  EXPECT_EQ(back.principal().role, Role::kStaff);
  EXPECT_EQ(back.principal().department, "119");
  EXPECT_TRUE(back.may_see(entity(std::string(kCore) + "Patient")));
  EXPECT_FALSE(back.may_see(entity(std::string(kSdm) + "Vehicle")));
  // An empty scope (created with --no-auth) is anonymous: public data only.
  Grant none(Grant::from_scope(""), pol, "");
  EXPECT_TRUE(none.may_see(entity(std::string(kCore) + "Camera")));
  EXPECT_FALSE(none.may_see(entity(std::string(kSdm) + "Vehicle")));
  // A forged scope cannot give a role more operations than it has.
  EXPECT_EQ(Grant::from_scope("role=public;ops=read,write,admin").ops, kOpRead);
}

struct Recorder : RestrictedReads {
  std::size_t lines = 0, count = 0;
  std::vector<std::string> ids;
  void restricted_read(const Principal&, std::string_view, std::string_view, std::string_view,
                       base::Micros, std::size_t n, std::vector<std::string> sample) override {
    ++lines;
    count = n;
    ids = std::move(sample);
  }
};

TEST(Grant, ReportsRestrictedReadsOnceWhenItEnds) {
  auto pol = policy();
  Recorder rec;
  {
    Grant g(principal(Role::kExecutive), pol, "", &rec, "10.0.0.1", "/x");
    EXPECT_TRUE(g.may_see(entity(std::string(kCore) + "Camera")));
    EXPECT_TRUE(g.may_see(entity(std::string(kCore) + "Patient", "urn:p:1")));
    EXPECT_TRUE(g.may_see(entity(std::string(kCore) + "Patient", "urn:p:2")));
    EXPECT_EQ(rec.lines, 0u);
  }
  EXPECT_EQ(rec.lines, 1u);
  EXPECT_EQ(rec.count, 2u);
  EXPECT_EQ(rec.ids, (std::vector<std::string>{"urn:p:1", "urn:p:2"}));
}

// ---- per-attribute visibility ----------------------------------------------------------------

std::shared_ptr<const Policy> attribute_policy() {
  auto doc = json::parse(R"({"default": "staff", "types": {
      "Camera": {"visibility": "public", "attributes": {
          "streamURL": "staff",
          "dispatch": {"visibility": "restricted", "departments": ["119"]},
          "https://example.org/exact": "staff"}},
      "Sign": "public", "Vehicle": "staff"}})");
  auto p = Policy::parse(*doc);
  EXPECT_TRUE(p) << p.error().detail;
  return std::make_shared<Policy>(std::move(*p));
}

// role × attribute level → sees the attribute? (on an entity it sees)
TEST(Grant, AttributeMatrix) {
  auto pol = attribute_policy();
  const std::string camera = std::string(kCore) + "Camera", sign = std::string(kCore) + "Sign";
  const std::string stream = std::string(kCore) + "streamURL",
                    dispatch = std::string(kCore) + "dispatch", level = std::string(kCore) + "level";
  struct Row {
    Principal who;
    bool stream, dispatch;
  };
  const Row rows[] = {
      {Principal{}, false, false},  // anonymous
      {principal(Role::kPublic), false, false},
      {principal(Role::kDevice), false, false},
      {principal(Role::kDevice, "", {"Camera"}), true, false},  // reads back what it writes
      {principal(Role::kDevice, "", {"Vehicle"}), false, false},
      {principal(Role::kStaff, "roads"), true, false},
      {principal(Role::kStaff, "119"), true, true},
      {principal(Role::kExecutive), true, true},
      {principal(Role::kAdmin), true, true},
  };
  const model::Entity cam = entity(camera);
  for (const auto& r : rows) {
    Grant g(r.who, pol, "");
    const std::string name = std::string(role_name(r.who.role)) + "/" + r.who.department;
    ASSERT_TRUE(g.may_see(cam)) << name;
    EXPECT_TRUE(g.may_see_attribute(cam, level)) << name << ": no rule, as the type";
    EXPECT_EQ(g.may_see_attribute(cam, stream), r.stream) << name;
    EXPECT_EQ(g.may_see_attribute(cam, dispatch), r.dispatch) << name;
    EXPECT_EQ(g.may_see_type_attribute(camera, stream), r.stream) << name;
    EXPECT_TRUE(g.may_see_attribute(entity(sign), stream)) << name << ": public on Sign";
    EXPECT_EQ(g.hides_attributes_of(cam), !(r.stream && r.dispatch)) << name;
    EXPECT_FALSE(g.hides_attributes_of(entity(sign))) << name;
  }
  // Keys with ':' match the IRI exactly; others the local name of any IRI.
  Grant pub(principal(Role::kPublic), pol, "");
  EXPECT_FALSE(pub.may_see_attribute(cam, "https://example.org/exact"));
  EXPECT_TRUE(pub.may_see_attribute(cam, "https://other.org/exact"));
  EXPECT_FALSE(pub.may_see_attribute(cam, "https://smartdatamodels.org/streamURL"));
  // Hidden "somewhere": what query terms (orderBy) must treat as absent.
  EXPECT_TRUE(pub.hides_attribute_somewhere(stream));
  EXPECT_FALSE(pub.hides_attribute_somewhere(level));
  EXPECT_FALSE(Grant(principal(Role::kAdmin), pol, "").hides_attribute_somewhere(stream));
  EXPECT_TRUE(Grant(principal(Role::kStaff, "roads"), pol, "").hides_attribute_somewhere(dispatch));
}

TEST(Grant, MultiTypedEntityHidesAnAttributeHiddenOnAnyOfItsTypes) {
  auto pol = attribute_policy();
  model::Entity both = json::object{
      {"id", "urn:x:1"},
      {"type", json::array{std::string(kCore) + "Camera", std::string(kCore) + "Sign"}}};
  Grant pub(Principal{}, pol, "");
  EXPECT_FALSE(pub.may_see_attribute(both, std::string(kCore) + "streamURL"));
  EXPECT_TRUE(pub.hides_attributes_of(both));
}

TEST(Grant, ViewKeysGroupAlikeViewersAndScopesKeepAttributeVisibility) {
  auto pol = attribute_policy();
  auto a = principal(Role::kPublic), b = principal(Role::kPublic);
  a.who = "key:aaaa";
  b.who = "key:bbbb";
  EXPECT_EQ(Grant(a, pol, "").view_key(), Grant(b, pol, "").view_key()) << "who does not matter";
  EXPECT_NE(Grant(a, pol, "").view_key(), Grant(principal(Role::kStaff), pol, "").view_key());
  EXPECT_EQ(Grant(principal(Role::kAdmin), pol, "").view_key(), "") << "sees every attribute";
  // A subscription's stored scope sees the attributes its creator saw.
  Grant staff(principal(Role::kStaff, "roads"), pol, "");
  Grant back(Grant::from_scope(staff.scope()), pol, "");
  const auto cam = entity(std::string(kCore) + "Camera");
  EXPECT_TRUE(back.may_see_attribute(cam, std::string(kCore) + "streamURL"));
  EXPECT_FALSE(back.may_see_attribute(cam, std::string(kCore) + "dispatch"));
}

TEST(Policy, RejectsBadAttributeRules) {
  for (const char* text :
       {R"({"types": {"A": {"visibility": "public", "attributes": []}}})",
        R"({"types": {"A": {"visibility": "public", "attributes": {"x": "secret"}}}})",
        R"({"types": {"A": {"visibility": "public", "attributes": {"x": {"attributes": {}}}}}})",
        R"({"types": {"A": {"visibility": "public", "atributes": {}}}})",
        R"({"default": {"visibility": "staff", "attributes": {"x": "staff"}}})"}) {
    auto p = Policy::parse(*json::parse(text));
    EXPECT_FALSE(p) << text;
  }
}

TEST(Policy, ShippedFileHidesStaffNamesAndCameraStreams) {
  const char* src = std::getenv("CITYROOM_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  auto p = Policy::load(std::filesystem::path(src) / "data/access/visibility.json");
  ASSERT_TRUE(p) << p.error().detail;
  auto pol = std::make_shared<Policy>(std::move(*p));
  Grant pub(Principal{}, pol, ""), staff(principal(Role::kStaff, "x"), pol, "");
  const std::pair<const char*, const char*> hidden[] = {
      {"Pledge", "modifiedBy"}, {"Indicator", "modifiedBy"}, {"Camera", "streamURL"}};
  for (const auto& [type, attr] : hidden) {
    const std::string t = std::string(kCore) + type, a = std::string(kCore) + attr;
    EXPECT_FALSE(pub.may_see_attribute(entity(t), a)) << type << "." << attr;
    EXPECT_TRUE(staff.may_see_attribute(entity(t), a)) << type << "." << attr;
  }
  EXPECT_TRUE(pub.may_see_attribute(entity(std::string(kCore) + "Pledge"),
                                    std::string(kCore) + "progress"));
}

TEST(Ops, ParseAndPrint) {
  EXPECT_EQ(parse_ops("read,write"), kOpRead | kOpWrite);
  EXPECT_EQ(parse_ops(""), 0u);
  EXPECT_FALSE(parse_ops("read,delete"));
  EXPECT_EQ(ops_text(kOpRead | kOpAdmin), "read,admin");
}

}  // namespace
}  // namespace cityroom::access
