#include <gtest/gtest.h>

#include "governance/form.h"
#include "governance/open311_format.h"
#include "governance/requests.h"
#include "test_support.h"

namespace cityroom::governance {
namespace {

const Open311Config& config() {
  static const Open311Config c = [] {
    auto loaded = load_open311_config(testing::source_dir() / "data/governance/open311.json");
    EXPECT_TRUE(loaded) << (loaded ? "" : loaded.error().detail);
    return *loaded;
  }();
  return c;
}

Open311Result<NewRequest> post(std::string_view body) {
  auto form = parse_form(body);
  EXPECT_TRUE(form);
  return request_from_form(*form, config(), "20261122-abcd", *base::parse_iso8601("2026-11-22T01:00:00Z"));
}

TEST(Open311Requests, AValidPostSplitsPublicAndPersonalFields) {
  auto r = post("api_key=cityroom-demo-key&service_code=illegal-parking&lat=37.5006&long=127.0366"
                "&description=%EC%A3%BC%EC%B0%A8+%EB%AC%B8%EC%A0%9C&attribute%5Bvehicle_type%5D=car"
                "&first_name=%EA%B8%B8%EB%8F%99&last_name=%ED%99%8D&phone=010-1234-5678"
                "&email=hong%40example.org&device_id=dev-1");
  ASSERT_TRUE(r) << r.error().description;
  EXPECT_EQ(r->id, "urn:ngsi-ld:ServiceRequest:20261122-abcd");
  EXPECT_EQ(r->entity.at("description"), "주차 문제");
  EXPECT_EQ(r->entity.at("status"), "open");
  EXPECT_EQ(r->entity.at("department"), "주차관리과");
  EXPECT_EQ(r->entity.at("serviceAttributes").at("json").at("vehicle_type"), "car");
  const std::string serialized = json::serialize(r->entity);
  for (std::string_view personal : {"홍", "길동", "010-1234-5678", "hong@example.org", "dev-1",
                                    "first_name", "phone", "email"}) {
    EXPECT_EQ(serialized.find(personal), std::string::npos) << personal;
  }
  EXPECT_EQ(r->contact.at("last_name"), "홍");
  EXPECT_EQ(r->contact.at("email"), "hong@example.org");
  ASSERT_TRUE(r->point);
  EXPECT_DOUBLE_EQ(r->point->first, 127.0366);
}

TEST(Open311Requests, ErrorsCarryOpen311Codes) {
  EXPECT_EQ(post("service_code=noise&lat=37.5&long=127").error().code, 403);
  EXPECT_EQ(post("api_key=nope&service_code=noise&lat=37.5&long=127").error().code, 403);
  EXPECT_EQ(post("api_key=cityroom-demo-key&service_code=alien&lat=37.5&long=127").error().code, 404);
  EXPECT_EQ(post("api_key=cityroom-demo-key&lat=37.5&long=127").error().code, 400);
  // A location is required; a half one is refused.
  EXPECT_EQ(post("api_key=cityroom-demo-key&service_code=noise").error().code, 400);
  EXPECT_EQ(post("api_key=cityroom-demo-key&service_code=noise&lat=37.5").error().code, 400);
  EXPECT_EQ(post("api_key=cityroom-demo-key&service_code=noise&lat=137.5&long=1").error().code, 400);
  EXPECT_TRUE(post("api_key=cityroom-demo-key&service_code=noise&address_string=%EC%97%AD%EC%82%BC%EB%8F%99"));
  // Service definitions: a required attribute, a value outside the list, an unknown attribute.
  EXPECT_EQ(post("api_key=cityroom-demo-key&service_code=road-damage&lat=37.5&long=127").error().code, 400);
  EXPECT_EQ(post("api_key=cityroom-demo-key&service_code=road-damage&lat=37.5&long=127"
                 "&attribute[surface]=sky").error().code, 400);
  EXPECT_TRUE(post("api_key=cityroom-demo-key&service_code=road-damage&lat=37.5&long=127"
                   "&attribute[surface]=sidewalk"));
  EXPECT_EQ(post("api_key=cityroom-demo-key&service_code=noise&lat=37.5&long=127"
                 "&attribute[volume]=11").error().code, 400);
}

TEST(Open311Requests, PublicViewIsAnAllowList) {
  json::object kv{{"id", "urn:ngsi-ld:ServiceRequest:k1"},
                  {"type", "ServiceRequest"},
                  {"serviceCode", "noise"},
                  {"status", "closed"},
                  {"phone", "010-0000-0000"},  // even if someone wrote one into the entity
                  {"requestedAt", json::object{{"@type", "DateTime"},
                                               {"@value", "2026-11-22T01:02:03.000000Z"}}},
                  {"location", json::object{{"type", "Point"},
                                            {"coordinates", json::array{127.03, 37.5}}}}};
  auto o = open311_request(kv);
  EXPECT_EQ(o.at("service_request_id"), "k1");
  EXPECT_EQ(o.at("status"), "closed");
  EXPECT_EQ(o.at("requested_datetime"), "2026-11-22T01:02:03Z");
  EXPECT_EQ(o.at("long").as_double(), 127.03);
  EXPECT_EQ(json::serialize(o).find("010-0000-0000"), std::string::npos);
}

TEST(Open311Requests, GetFilters) {
  const auto now = *base::parse_iso8601("2026-11-22T00:00:00Z");
  using Q = std::vector<std::pair<std::string, std::string>>;
  auto f = parse_request_filter(Q{{"service_code", "noise,waste"}, {"status", "open"}}, now);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->codes, (std::vector<std::string>{"noise", "waste"}));
  EXPECT_EQ(f->end - f->start, kDefaultWindow + 1);
  EXPECT_EQ(parse_request_filter(Q{{"status", "pending"}}, now).error().code, 400);
  EXPECT_EQ(parse_request_filter(Q{{"start_date", "yesterday"}}, now).error().code, 400);
  EXPECT_EQ(parse_request_filter(Q{{"colour", "red"}}, now).error().code, 400);
  EXPECT_EQ(parse_request_filter(Q{{"start_date", "2026-11-10T00:00:00Z"},
                                   {"end_date", "2026-11-01T00:00:00Z"}}, now).error().code, 400);
}

TEST(Open311Format, XmlUsesSingularElementNamesAndEscapes) {
  json::array services{json::object{{"service_code", "a&b"}, {"metadata", true},
                                    {"name", "<주차>"}}};
  const auto xml = render_open311(services, Open311Format::kXml, "services", "service");
  EXPECT_NE(xml.find("<services><service><service_code>a&amp;b</service_code>"
                     "<metadata>true</metadata><name>&lt;주차&gt;</name></service></services>"),
            std::string::npos) << xml;
  json::object def{{"service_code", "x"},
                   {"attributes", json::array{json::object{
                                      {"code", "c"},
                                      {"values", json::array{json::object{{"key", "k"}}}}}}}};
  const auto xml2 = render_open311(def, Open311Format::kXml, "service_definition", "");
  EXPECT_NE(xml2.find("<attributes><attribute><code>c</code><values><value><key>k</key></value>"
                      "</values></attribute></attributes>"),
            std::string::npos) << xml2;
  EXPECT_EQ(split_format("services.xml")->first, "services");
  EXPECT_FALSE(split_format("services.html"));
  EXPECT_FALSE(split_format("services"));
}

TEST(Form, DecodesAndRefusesMalformedEscapes) {
  auto f = parse_form("a=1+2&b=%ED%95%9C&c&=x");
  ASSERT_TRUE(f);
  EXPECT_EQ(*form_value(*f, "a"), "1 2");
  EXPECT_EQ(*form_value(*f, "b"), "한");
  EXPECT_EQ(*form_value(*f, "c"), "");
  EXPECT_FALSE(parse_form("a=%G1"));
  EXPECT_FALSE(parse_form("a=%4"));
  EXPECT_FALSE(parse_form("a=%FF"));  // not UTF-8
}

TEST(Open311Config, ShippedCatalogueLoadsAndBadOnesNameTheMember) {
  EXPECT_GE(config().services.size(), 5u);
  EXPECT_TRUE(config().key_ok("cityroom-demo-key"));
  auto bad = parse_open311_config(
      R"({"services":[{"service_code":"a","service_name":"A","attributes":[{"code":"x","datatype":"float"}]}]})",
      "t.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().detail.find("t.json.services[0].attributes[0].datatype"), std::string::npos)
      << bad.error().detail;
  EXPECT_FALSE(parse_open311_config(R"({"services":[]})", "t.json"));
  EXPECT_FALSE(parse_open311_config("nope", "t.json"));
}

}  // namespace
}  // namespace cityroom::governance
