// Payload → entity, as pure functions: the fields map, the id template, NGSI-LD payloads and
// the dead-letter body.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "ingest/ingest.h"

namespace cityroom::ingest {
namespace {

namespace fs = std::filesystem;
using Levels = std::vector<std::string_view>;

constexpr std::string_view kCore = "https://uri.etsi.org/ngsi-ld/default-context/";
constexpr std::string_view kEnvironment =
    "https://smart-data-models.github.io/dataModel.Environment/context.jsonld";

json::value parse_json(std::string_view text) {
  auto v = json::parse(text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value();
}

class Mapping : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* env = std::getenv("CITYROOM_SOURCE_DIR");
    const fs::path source = env ? fs::path(env) : fs::path(CITYROOM_SOURCE_DIR_DEFAULT);
    hosted_ = fs::temp_directory_path() /
              ("cityroom-ingest-test-" + std::to_string(std::random_device{}()));
    auto opened = ldcontext::ContextStore::open(source / "data" / "contexts", hosted_);
    ASSERT_TRUE(opened) << opened.error().detail;
    contexts_ = std::move(*opened).release();
  }
  static void TearDownTestSuite() {
    delete contexts_;
    fs::remove_all(hosted_);
  }

  static ingest::Mapping bridge() {
    ingest::Mapping m;
    m.name = "bridges";
    m.topic = "city/bridge/+/telemetry";
    m.mode = PayloadMode::kFields;
    m.id_template = "urn:ngsi-ld:BridgeSensor:{1}";
    m.entity_type = "BridgeSensor";
    m.observed_at_field = "ts";
    m.fields = {{"tilt_deg", "tilt", "DD", std::nullopt, false},
                {"/battery/mv", "batteryVoltage", "VLT", 0.001, true}};
    return m;
  }

  static inline ldcontext::ContextStore* contexts_ = nullptr;
  static inline fs::path hosted_;
  const base::Micros received_ = *base::parse_iso8601("2026-11-22T02:00:00Z");
};

TEST_F(Mapping, IdTemplateUsesTopicLevels) {
  EXPECT_EQ(*expand_id_template("urn:ngsi-ld:BridgeSensor:{1}", {"mapo-7"}),
            "urn:ngsi-ld:BridgeSensor:mapo-7");
  EXPECT_EQ(*expand_id_template("urn:ngsi-ld:{1}:{2}", {"Bridge", "b1"}), "urn:ngsi-ld:Bridge:b1");
  auto empty = expand_id_template("urn:ngsi-ld:S:{1}", {""});
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().detail.find("is empty"), std::string::npos);
  auto space = expand_id_template("urn:ngsi-ld:S:{1}", {"a b"});
  ASSERT_FALSE(space);
  EXPECT_NE(space.error().detail.find("not a URI"), std::string::npos);
}

TEST_F(Mapping, FieldsBecomeProperties) {
  const auto m = bridge();
  const auto payload = parse_json(R"({"tilt_deg": 0.4, "ts": "2026-11-22T01:00:00Z",
                                      "battery": {"mv": 3600}, "ignored": 1})");
  auto wire = map_fields(m, {"mapo-7"}, payload, received_);
  ASSERT_TRUE(wire) << wire.error().detail;
  EXPECT_EQ(json::value(*wire), parse_json(R"({
    "id": "urn:ngsi-ld:BridgeSensor:mapo-7", "type": "BridgeSensor",
    "tilt": {"type": "Property", "value": 0.4, "observedAt": "2026-11-22T01:00:00.000Z",
             "unitCode": "DD"},
    "batteryVoltage": {"type": "Property", "value": 3.6, "observedAt": "2026-11-22T01:00:00.000Z",
                       "unitCode": "VLT"}})"));
}

TEST_F(Mapping, EntityIsExpandedThroughTheContext) {
  const auto m = bridge();
  const auto payload = parse_json(R"({"tilt_deg": 0.4, "ts": "2026-11-22T01:00:00Z"})");
  auto core = fields_to_entity(m, {"b1"}, payload, *contexts_->core(), received_);
  ASSERT_TRUE(core) << core.error().detail;
  EXPECT_EQ(core->at("type").get_array()[0].get_string(), std::string(kCore) + "BridgeSensor");
  EXPECT_TRUE(core->contains(std::string(kCore) + "tilt"));
  EXPECT_FALSE(core->contains(std::string(kCore) + "batteryVoltage"));  // optional, absent

  auto env = contexts_->resolve(json::value(kEnvironment));
  ASSERT_TRUE(env);
  auto air = bridge();
  air.entity_type = "AirQualityObserved";
  air.fields = {{"t", "temperature", "CEL", std::nullopt, false}};
  air.observed_at_field.reset();
  auto e = fields_to_entity(air, {"s1"}, parse_json(R"({"t": 3.5})"), **env, received_);
  ASSERT_TRUE(e) << e.error().detail;
  EXPECT_EQ(e->at("type").get_array()[0].get_string(),
            "https://smartdatamodels.org/dataModel.Environment/AirQualityObserved");
  const auto& t = e->at("https://smartdatamodels.org/dataModel.Environment/temperature");
  // No observedAt field configured: the time of receipt.
  EXPECT_EQ(t.get_array()[0].at("observedAt").get_string(), "2026-11-22T02:00:00.000Z");
}

TEST_F(Mapping, BadDevicePayloadsSayWhy) {
  const auto m = bridge();
  auto detail = [&](std::string_view payload) {
    auto r = map_fields(m, {"b1"}, parse_json(payload), received_);
    EXPECT_FALSE(r) << payload;
    return r ? std::string() : r.error().detail;
  };
  EXPECT_EQ(detail(R"([1, 2])"), "a device payload must be a JSON object, not an array");
  EXPECT_EQ(detail(R"({"ts": "2026-11-22T01:00:00Z"})"), "the field 'tilt_deg' is missing");
  EXPECT_EQ(detail(R"({"tilt_deg": null, "ts": "2026-11-22T01:00:00Z"})"),
            "the field 'tilt_deg' is missing");
  EXPECT_EQ(detail(R"({"tilt_deg": 1})"), "the observedAt field 'ts' is missing");
  EXPECT_NE(detail(R"({"tilt_deg": 1, "ts": "yesterday"})").find("is not an ISO 8601"),
            std::string::npos);
  EXPECT_NE(detail(R"({"tilt_deg": 1, "ts": "2026-11-22T01:00:00Z", "battery": {"mv": "full"}})")
                .find("must be a number"),
            std::string::npos);
}

TEST_F(Mapping, EpochTimestamps) {
  auto m = bridge();
  m.observed_at_format = TimeFormat::kEpochMillis;
  auto wire =
      map_fields(m, {"b1"}, parse_json(R"({"tilt_deg": 1, "ts": 1795309200000})"), received_);
  ASSERT_TRUE(wire) << wire.error().detail;
  EXPECT_EQ(wire->at("tilt").at("observedAt").get_string(), "2026-11-22T01:00:00.000Z");
  m.observed_at_format = TimeFormat::kEpochSeconds;
  wire = map_fields(m, {"b1"}, parse_json(R"({"tilt_deg": 1, "ts": 1795309200.5})"), received_);
  ASSERT_TRUE(wire) << wire.error().detail;
  EXPECT_EQ(wire->at("tilt").at("observedAt").get_string(), "2026-11-22T01:00:00.500Z");
  EXPECT_FALSE(map_fields(m, {"b1"}, parse_json(R"({"tilt_deg": 1, "ts": -5})"), received_));
}

TEST_F(Mapping, InvalidNgsiLdFromFieldsIsRefusedByTheModel) {
  auto m = bridge();
  m.fields = {{"tilt_deg", "tilt(deg)", std::nullopt, std::nullopt, false}};
  auto e =
      fields_to_entity(m, {"b1"}, parse_json(R"({"tilt_deg": 1, "ts": "2026-11-22T01:00:00Z"})"),
                       *contexts_->core(), received_);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().detail.find("invalid attribute name 'tilt(deg)'"), std::string::npos);
}

TEST_F(Mapping, NgsiLdPayloads) {
  const auto& core = *contexts_->core();
  auto one = ngsi_ld_items(parse_json(R"({"id": "urn:ngsi-ld:X:1", "type": "X",
                                          "speed": {"type": "Property", "value": 3}})"),
                           core, *contexts_, received_);
  ASSERT_TRUE(one);
  ASSERT_EQ(one->size(), 1u);
  EXPECT_TRUE((*one)[0].entity);
  EXPECT_EQ((*one)[0].id, "urn:ngsi-ld:X:1");

  // Concise, with an own @context, and one bad element: per-element results.
  auto many = ngsi_ld_items(parse_json(R"([
      {"id": "urn:ngsi-ld:A:1", "type": "AirQualityObserved", "temperature": 3,
       "@context": ")" + std::string(kEnvironment) +
                                       R"("},
      {"id": "not a uri", "type": "X"},
      7])"),
                            core, *contexts_, received_);
  ASSERT_TRUE(many);
  ASSERT_EQ(many->size(), 3u);
  ASSERT_TRUE((*many)[0].entity) << (*many)[0].entity.error().detail;
  EXPECT_TRUE(
      (*many)[0].entity->contains("https://smartdatamodels.org/dataModel.Environment/temperature"));
  EXPECT_FALSE((*many)[1].entity);
  EXPECT_FALSE((*many)[2].entity);

  EXPECT_FALSE(ngsi_ld_items(parse_json("[]"), core, *contexts_, received_));
  EXPECT_FALSE(ngsi_ld_items(parse_json("\"x\""), core, *contexts_, received_));
  auto unknown_ctx = ngsi_ld_items(
      parse_json(
          R"({"id": "urn:a:1", "type": "X", "@context": "https://example.org/none.jsonld"})"),
      core, *contexts_, received_);
  ASSERT_TRUE(unknown_ctx);
  EXPECT_FALSE((*unknown_ctx)[0].entity);
}

TEST_F(Mapping, DeadLetterBody) {
  auto body =
      parse_json(dead_letter_json("city/bridge/b1/telemetry", "bridges",
                                  "the field 'tilt_deg' is missing", "{\"ts\":1}", received_));
  EXPECT_EQ(body, parse_json(R"({"topic": "city/bridge/b1/telemetry", "mapping": "bridges",
                                 "error": "the field 'tilt_deg' is missing",
                                 "payload": "{\"ts\":1}",
                                 "receivedAt": "2026-11-22T02:00:00.000Z"})"));
  auto binary =
      parse_json(dead_letter_json("t", "m", "e", std::string("\xff\x00\x01", 3), received_));
  EXPECT_EQ(binary.at("payloadBase64").get_string(), "/wAB");
  EXPECT_FALSE(binary.get_object().contains("payload"));
  auto big = parse_json(dead_letter_json(
      "t", "m", "e", std::string(kDeadLetterPayloadBytesMax + 10, 'x'), received_));
  EXPECT_EQ(big.at("payload").get_string().size(), kDeadLetterPayloadBytesMax);
  EXPECT_TRUE(big.at("payloadTruncated").get_bool());
}

TEST(Prometheus, RendersEveryCounter) {
  Stats s;
  s.connected = true;
  s.in_flight = 3;
  s.mappings.push_back({"bridges", 10, 8, 2, 2});
  const auto text = prometheus_text(s);
  EXPECT_NE(text.find("cityroom_mqtt_connected 1\n"), std::string::npos);
  EXPECT_NE(text.find("cityroom_mqtt_in_flight 3\n"), std::string::npos);
  EXPECT_NE(text.find("cityroom_mqtt_received_total{mapping=\"bridges\"} 10\n"), std::string::npos);
  EXPECT_NE(text.find("cityroom_mqtt_rejected_total{mapping=\"bridges\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE cityroom_mqtt_dead_lettered_total counter\n"), std::string::npos);
}

}  // namespace
}  // namespace cityroom::ingest
