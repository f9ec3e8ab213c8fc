// The MQTT ingestion config: good files load with their defaults, bad ones say what is wrong.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "ingest/ingest.h"

namespace cityroom::ingest {
namespace {

namespace fs = std::filesystem;

const char* kGood = R"({
  "broker": {"host": "10.0.0.5", "port": 8883, "clientId": "hub-1", "username": "u",
             "password": "p", "keepaliveS": 20, "reconnectDelayMaxS": 60},
  "deadLetterTopic": "ops/dead",
  "inFlightMax": 500,
  "mappings": [
    {"name": "bridges", "topic": "city/bridge/+/telemetry", "mode": "fields",
     "entityId": "urn:ngsi-ld:BridgeSensor:{1}", "entityType": "BridgeSensor",
     "observedAt": "ts",
     "fields": {"tilt_deg": {"attribute": "tilt", "unitCode": "DD"},
                "temp": "temperature",
                "/battery/mv": {"attribute": "batteryVoltage", "scale": 0.001, "optional": true}}},
    {"topic": "city/entities/#", "mode": "ngsi-ld", "qos": 0, "tenant": "seoul",
     "@context": "https://smart-data-models.github.io/dataModel.Environment/context.jsonld"}
  ]
})";

base::Result<Config> parse(std::string_view text) {
  auto doc = json::parse(text);
  EXPECT_TRUE(doc) << text;
  if (!doc) return std::unexpected(doc.error());
  return parse_mqtt_config(*doc);
}

// The error detail of a config that must be refused.
std::string error_of(std::string_view text) {
  auto c = parse(text);
  EXPECT_FALSE(c) << text;
  return c ? "" : c.error().detail;
}

std::string with_mapping(std::string_view mapping) {
  return std::string(R"({"mappings": [)") + std::string(mapping) + "]}";
}

TEST(Config, GoodConfigLoads) {
  auto c = parse(kGood);
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->broker.host, "10.0.0.5");
  EXPECT_EQ(c->broker.port, 8883);
  EXPECT_EQ(c->broker.client_id, "hub-1");
  EXPECT_EQ(c->broker.keepalive_s, 20);
  EXPECT_FALSE(c->broker.clean_session);
  EXPECT_EQ(c->dead_letter_topic, "ops/dead");
  EXPECT_EQ(c->in_flight_max, 500u);
  ASSERT_EQ(c->mappings.size(), 2u);
  const auto& b = c->mappings[0];
  EXPECT_EQ(b.name, "bridges");
  EXPECT_EQ(b.mode, PayloadMode::kFields);
  EXPECT_EQ(b.qos, 1);
  EXPECT_EQ(b.observed_at_field, "ts");
  ASSERT_EQ(b.fields.size(), 3u);
  EXPECT_EQ(b.fields[0].field, "tilt_deg");
  EXPECT_EQ(b.fields[0].attribute, "tilt");
  EXPECT_EQ(b.fields[0].unit_code, "DD");
  EXPECT_EQ(b.fields[1].attribute, "temperature");
  EXPECT_EQ(b.fields[2].scale, 0.001);
  EXPECT_TRUE(b.fields[2].optional);
  const auto& e = c->mappings[1];
  EXPECT_EQ(e.name, "city/entities/#");  // the topic when no name is given
  EXPECT_EQ(e.mode, PayloadMode::kNgsiLd);
  EXPECT_EQ(e.qos, 0);
  EXPECT_EQ(e.tenant, "seoul");
  EXPECT_TRUE(e.context);
}

TEST(Config, DefaultsWhenOmitted) {
  auto c = parse(with_mapping(R"({"topic": "a/#", "mode": "ngsi-ld"})"));
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->broker.host, "127.0.0.1");
  EXPECT_EQ(c->broker.port, 1883);
  EXPECT_EQ(c->broker.client_id, kClientIdDefault);
  EXPECT_EQ(c->dead_letter_topic, kDeadLetterTopicDefault);
  EXPECT_EQ(c->in_flight_max, kInFlightMaxDefault);
  EXPECT_EQ(c->mappings[0].qos, 1);
}

TEST(Config, ErrorsNameTheMember) {
  EXPECT_EQ(error_of("[]"), "the config must be a JSON object, not an array");
  EXPECT_NE(error_of("{}").find("mappings"), std::string::npos);
  EXPECT_NE(error_of(R"({"mappings": []})").find("non-empty"), std::string::npos);
  EXPECT_EQ(error_of(R"({"mapings": [], "mappings": [{"topic": "a", "mode": "ngsi-ld"}]})"),
            "config: unknown member 'mapings'");
  EXPECT_EQ(
      error_of(R"({"broker": {"port": 70000}, "mappings": [{"topic": "a", "mode": "ngsi-ld"}]})"),
      "broker.port: must be in 1..65535, not 70000");
  EXPECT_EQ(
      error_of(R"({"broker": {"port": "1883"}, "mappings": [{"topic": "a", "mode": "ngsi-ld"}]})"),
      "broker.port: must be an integer in 1..65535");
  EXPECT_NE(
      error_of(R"({"broker": {"clientId": ""}, "mappings": [{"topic": "a", "mode": "ngsi-ld"}]})")
          .find("broker.clientId"),
      std::string::npos);
  EXPECT_NE(error_of(R"({"broker": {"tls": {}}, "mappings": [{"topic": "a", "mode": "ngsi-ld"}]})")
                .find("broker.tls: needs caFile"),
            std::string::npos);
  EXPECT_EQ(error_of(with_mapping(R"({"topic": "a/#", "mode": "json"})")),
            "mappings[0].mode: 'json' is not \"ngsi-ld\" or \"fields\"");
  EXPECT_EQ(error_of(with_mapping(R"({"mode": "ngsi-ld"})")), "mappings[0].topic: is required");
  EXPECT_NE(error_of(with_mapping(R"({"topic": "a/#/b", "mode": "ngsi-ld"})"))
                .find("mappings[0].topic: "),
            std::string::npos);
  EXPECT_EQ(error_of(with_mapping(R"({"topic": "a", "mode": "ngsi-ld", "qos": 3})")),
            "mappings[0].qos: must be in 0..2, not 3");
  EXPECT_NE(error_of(with_mapping(R"({"topic": "a", "mode": "ngsi-ld", "tenant": "a b"})"))
                .find("is not a tenant name"),
            std::string::npos);
  EXPECT_EQ(error_of(with_mapping(R"({"topic": "a", "mode": "ngsi-ld", "entityTyp": "X"})")),
            "mappings[0]: unknown member 'entityTyp'");
  EXPECT_NE(error_of(with_mapping(
                         R"({"topic": "a", "mode": "ngsi-ld"}, {"topic": "a", "mode": "ngsi-ld"})"))
                .find("'a' is used twice"),
            std::string::npos);
}

TEST(Config, FieldsModeErrors) {
  auto fields = [](std::string_view extra) {
    return with_mapping(std::string(R"({"topic": "s/+/t", "mode": "fields", )") +
                        std::string(extra) + "}");
  };
  const std::string ok_rest = R"("entityType": "S", "fields": {"a": "a"})";
  EXPECT_EQ(error_of(fields(ok_rest)), "mappings[0].entityId: is required");
  EXPECT_EQ(error_of(fields(R"("entityId": "urn:ngsi-ld:S:{2}", )" + ok_rest)),
            "mappings[0].entityId: {2} but the topic filter 's/+/t' has 1 wildcard level(s)");
  EXPECT_NE(
      error_of(fields(R"("entityId": "urn:ngsi-ld:S:{x}", )" + ok_rest)).find("not a placeholder"),
      std::string::npos);
  EXPECT_NE(error_of(fields(R"("entityId": "S-{1}", )" + ok_rest)).find("does not make a URI"),
            std::string::npos);
  EXPECT_EQ(error_of(fields(R"("entityId": "urn:x:{1}", "fields": {"a": "a"})")),
            "mappings[0].entityType: is required");
  EXPECT_NE(error_of(fields(R"("entityId": "urn:x:{1}", "entityType": "S")")).find("fields"),
            std::string::npos);
  EXPECT_NE(
      error_of(
          fields(R"("entityId": "urn:x:{1}", "entityType": "S", "fields": {"a": "t", "b": "t"})"))
          .find("attribute 't' is mapped twice"),
      std::string::npos);
  EXPECT_NE(error_of(fields(R"("entityId": "urn:x:{1}", "entityType": "S", "fields": {"a": "id"})"))
                .find("reserved"),
            std::string::npos);
  EXPECT_NE(error_of(fields(R"("entityId": "urn:x:{1}", "entityType": "S", "fields": {"/a": {}})"))
                .find("needs an \"attribute\""),
            std::string::npos);
  EXPECT_NE(
      error_of(
          fields(R"("entityId": "urn:x:{1}", "entityType": "S", "fields": {"a": {"scale": "2"}})"))
          .find("scale: must be a number"),
      std::string::npos);
  EXPECT_NE(
      error_of(
          fields(
              R"("entityId": "urn:x:{1}", "entityType": "S", "fields": {"a": "a"}, "observedAt": {"field": "t", "format": "unix"})"))
          .find("'unix' is not iso8601"),
      std::string::npos);
}

TEST(Config, MappingMustNotSwallowTheDeadLetterTopic) {
  EXPECT_NE(error_of(with_mapping(R"({"topic": "#", "mode": "ngsi-ld"})")).find("dead-letter"),
            std::string::npos);
}

TEST(Config, FileErrorsNameTheFile) {
  const auto dir = fs::temp_directory_path() /
                   ("cityroom-ingest-test-" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  const auto missing = load_mqtt_config(dir / "none.json");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().detail.find("none.json: cannot read"), std::string::npos);
  const auto path = dir / "bad.json";
  std::ofstream(path) << R"({"mappings": [)";
  const auto bad = load_mqtt_config(path);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().detail.find("bad.json: invalid JSON"), std::string::npos)
      << bad.error().detail;
  std::ofstream(path, std::ios::trunc) << kGood;
  EXPECT_TRUE(load_mqtt_config(path));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cityroom::ingest
