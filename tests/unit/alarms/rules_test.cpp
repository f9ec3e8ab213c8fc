// Rule and policy documents: what is accepted, and bad documents refused with a detail that
// names the member; routing of alarm events by policy.
#include <gtest/gtest.h>

#include <filesystem>

#include "alarms/alarms.h"

using namespace cityroom;

namespace {

struct Documents : ::testing::Test {
  std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("rules-" + base::random_hex(6));
  std::unique_ptr<ldcontext::ContextStore> contexts =
      std::move(*ldcontext::ContextStore::open({}, dir / "contexts"));
  void TearDown() override { std::filesystem::remove_all(dir); }

  std::string refusal(std::string_view text) {
    auto doc = json::parse(text);
    EXPECT_TRUE(doc && doc->is_object());
    auto r = alarms::parse_rule(doc->as_object(), "", *contexts);
    EXPECT_FALSE(r) << "accepted: " << text;
    if (r) return "";
    EXPECT_EQ(r.error().kind, base::ErrorKind::kBadRequestData);
    return r.error().detail;
  }
  std::string policy_refusal(std::string_view text) {
    auto r = alarms::parse_policy(json::parse(text)->as_object(), "");
    EXPECT_FALSE(r) << "accepted: " << text;
    return r ? "" : r.error().detail;
  }
};

TEST_F(Documents, BadRulesAreRefusedWithADetailNamingTheMember) {
  const std::string scope = R"("scope":{"type":"FacilitySensor"})";
  EXPECT_NE(
      refusal(R"({"severity":"major",)" + scope + R"(,"threshold":{"attribute":"t","above":1}})")
          .find("\"id\" is required"),
      std::string::npos);
  EXPECT_NE(refusal(R"({"id":"a b","severity":"major",)" + scope +
                    R"(,"threshold":{"attribute":"t","above":1}})")
                .find("id 'a b'"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"id":"x","severity":"urgent",)" + scope +
                    R"(,"threshold":{"attribute":"t","above":1}})")
                .find("severity"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"id":"x","severity":"major","threshold":{"attribute":"t","above":1}})")
                .find("scope"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"id":"x","severity":"major",)" + scope + "}").find("exactly one condition"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"id":"x","severity":"major",)" + scope +
                    R"(,"threshold":{"attribute":"t","above":"high"}})")
                .find("threshold.above: must be a number"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"id":"x","severity":"major",)" + scope +
                    R"(,"threshold":{"attribute":"t","above":0.5,"clearBelow":0.6}})")
                .find("hysteresis"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"id":"x","severity":"major",)" + scope +
                    R"(,"threshold":{"attribute":"t","above":0.5,"clearAbove":0.6}})")
                .find("clearAbove"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"id":"x","severity":"major",)" + scope +
                    R"(,"rate":{"attribute":"t","rise":10}})")
                .find("rate.withinSeconds"),
            std::string::npos);
  EXPECT_NE(
      refusal(R"({"id":"x","severity":"major",)" + scope + R"(,"absence":{"periodSeconds":-1}})")
          .find("absence.periodSeconds"),
      std::string::npos);
  EXPECT_NE(
      refusal(
          R"({"id":"x","severity":"major",)" + scope +
          R"(,"geofence":{"on":"enter","area":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1]]]}}})")
          .find("geofence.area"),
      std::string::npos);
  EXPECT_NE(
      refusal(
          R"({"id":"x","severity":"major","scope":{"type":"FacilitySensor","q":"tilt>>"},"threshold":{"attribute":"t","above":1}})")
          .find("scope"),
      std::string::npos);
  EXPECT_NE(refusal(R"({"id":"x","severity":"major",)" + scope +
                    R"(,"threshold":{"attribute":"t","above":1},"colour":"red"})")
                .find("unknown member 'colour'"),
            std::string::npos);
}

TEST_F(Documents, AGoodRuleKeepsItsDocument) {
  auto r =
      alarms::parse_rule(json::parse(R"({"id":"bridge-tilt","severity":"critical","name":"tilt",
      "scope":{"type":"FacilitySensor","q":"facilityKind==\"bridge\""},
      "threshold":{"attribute":"tilt","above":0.5,"clearBelow":0.4},
      "escalation":{"afterSeconds":600}})")
                             ->as_object(),
                         "", *contexts);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->severity, alarms::Severity::kCritical);
  EXPECT_EQ(*r->escalate_after_us, 600'000'000);
  EXPECT_EQ(r->types.front(), contexts->core()->expand("FacilitySensor"));
  EXPECT_EQ(json::get_string(r->doc, "name"), "tilt");
}

TEST_F(Documents, BadPoliciesAreRefused) {
  EXPECT_NE(policy_refusal(R"({"id":"p"})").find("targets"), std::string::npos);
  EXPECT_NE(policy_refusal(R"({"id":"p","targets":[{"kind":"fax"}]})").find("targets[0].kind"),
            std::string::npos);
  EXPECT_NE(policy_refusal(R"({"id":"p","targets":[{"kind":"webhook","uri":"ftp://x"}]})")
                .find("targets[0].uri"),
            std::string::npos);
  EXPECT_NE(policy_refusal(R"({"id":"p","targets":[{"kind":"command","command":["sms"]}]})")
                .find("absolute path"),
            std::string::npos);
  EXPECT_NE(
      policy_refusal(
          R"({"id":"p","quietHours":{"from":"25:00","to":"07:00"},"targets":[{"kind":"screen"}]})")
          .find("quietHours"),
      std::string::npos);
}

alarms::Policy policy(std::string_view text) {
  auto p = alarms::parse_policy(json::parse(text)->as_object(), "");
  EXPECT_TRUE(p) << p.error().detail;
  return *p;
}

alarms::AlarmEvent event(alarms::Severity s, std::string dept, std::string kind = "raised") {
  alarms::AlarmEvent e;
  e.kind = std::move(kind);
  e.severity = s;
  e.department = std::move(dept);
  return e;
}

std::vector<std::string> targets(const std::vector<alarms::Delivery>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds) out.push_back(d.policy_id + ">" + d.target.uri);
  return out;
}

TEST(Routing, BySeverityDepartmentEventAndUsers) {
  std::vector<alarms::Policy> ps{
      policy(
          R"({"id":"critical","severities":["critical"],"targets":[{"kind":"webhook","uri":"http://a/"}]})"),
      policy(
          R"({"id":"roads","departments":["도로시설과"],"targets":[{"kind":"mqtt","uri":"mqtt://b/alarms"}]})"),
      policy(R"({"id":"people","users":[{"id":"kim","severities":["critical","major"]},
                                        {"id":"lee","departments":["환경과"]}],
                 "targets":[{"kind":"webhook","uri":"http://sms/"}]})")};
  const base::Micros noon = *base::parse_iso8601("2026-11-22T03:00:00Z");
  EXPECT_EQ(targets(alarms::route(ps, event(alarms::Severity::kCritical, "도로시설과"), noon)),
            (std::vector<std::string>{"critical>http://a/", "roads>mqtt://b/alarms",
                                      "people>http://sms/"}));
  auto minor_env = alarms::route(ps, event(alarms::Severity::kMinor, "환경과"), noon);
  ASSERT_EQ(targets(minor_env), std::vector<std::string>{"people>http://sms/"});
  EXPECT_EQ(minor_env[0].recipients, std::vector<std::string>{"lee"});
  // Nobody wants a minor alarm of another department; acknowledgements are not in the defaults.
  EXPECT_TRUE(alarms::route(ps, event(alarms::Severity::kMinor, "치수과"), noon).empty());
  EXPECT_EQ(
      targets(alarms::route(ps, event(alarms::Severity::kCritical, "x", "acknowledged"), noon)),
      std::vector<std::string>{});
}

TEST(Routing, QuietHoursLetOnlyTheAllowedSeveritiesThrough) {
  std::vector<alarms::Policy> ps{policy(R"({"id":"night","quietHours":{"from":"22:00","to":"07:00",
      "utcOffset":"+09:00","allow":["critical"]},"targets":[{"kind":"webhook","uri":"http://a/"}]})")};
  const base::Micros kst_2330 = *base::parse_iso8601("2026-11-22T14:30:00Z");
  const base::Micros kst_1200 = *base::parse_iso8601("2026-11-22T03:00:00Z");
  EXPECT_TRUE(alarms::route(ps, event(alarms::Severity::kMajor, ""), kst_2330).empty());
  EXPECT_EQ(alarms::route(ps, event(alarms::Severity::kCritical, ""), kst_2330).size(), 1u);
  EXPECT_EQ(alarms::route(ps, event(alarms::Severity::kMajor, ""), kst_1200).size(), 1u);
}

TEST(Routing, ByArea) {
  std::vector<alarms::Policy> ps{
      policy(R"({"id":"gangnam","area":{"georel":"within","geometry":"Polygon",
      "coordinates":[[[127.0,37.4],[127.2,37.4],[127.2,37.6],[127.0,37.6],[127.0,37.4]]]},
      "targets":[{"kind":"webhook","uri":"http://a/"}]})")};
  auto e = event(alarms::Severity::kMajor, "");
  EXPECT_TRUE(alarms::route(ps, e, 0).empty());  // no location: not in the area
  e.location = *geo::parse_geojson(*json::parse(R"({"type":"Point","coordinates":[127.05,37.5]})"));
  EXPECT_EQ(alarms::route(ps, e, 0).size(), 1u);
  e.location = *geo::parse_geojson(*json::parse(R"({"type":"Point","coordinates":[126.9,37.5]})"));
  EXPECT_TRUE(alarms::route(ps, e, 0).empty());
}

}  // namespace
