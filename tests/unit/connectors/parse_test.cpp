// The parsers on every recorded answer and on malformed variants: values, ids, times, and a
// clear error (never a crash) for what cannot be read.
#include <gtest/gtest.h>

#include "common.h"
#include "connectors/connectors.h"

namespace cityroom::connectors {
namespace {

using testing::fixtures;
using testing::read;
using testing::samples;

const json::object* find(const Parsed& p, std::string_view id) {
  for (const auto& e : p.entities) {
    if (e.body.at("id").as_string() == id) return &e.body;
  }
  return nullptr;
}
json::value value(const json::object& e, std::string_view attr) {
  return e.at(attr).at("value");
}

TEST(KstTime, MidnightAs2400AndImpossibleDates) {
  EXPECT_EQ(base::format_iso8601(*parse_kst("2024-07-02 24:00")), "2024-07-02T15:00:00.000Z");
  EXPECT_EQ(base::format_iso8601(*parse_kst("2024-12-31 24:00")), "2024-12-31T15:00:00.000Z");
  EXPECT_EQ(base::format_iso8601(*parse_kst("20260122", "1100")), "2026-01-22T02:00:00.000Z");
  EXPECT_EQ(base::format_iso8601(*parse_kst("202608231100")), "2026-08-23T02:00:00.000Z");
  EXPECT_FALSE(parse_kst("2024-02-30 10:00"));
  EXPECT_FALSE(parse_kst("2024-07-02 24:30"));
  EXPECT_FALSE(parse_kst("2024-07-02 25:00"));
  EXPECT_FALSE(parse_kst("yesterday"));
  EXPECT_FALSE(parse_kst(""));
  EXPECT_TRUE(parse_kst("2024-02-29 00:00"));
}

TEST(KmaNcst, RecordedSample) {
  auto p = parse_kma_ncst(read(samples() / "kma_getUltraSrtNcst_20260122_1100_nx60_ny127.json"));
  ASSERT_TRUE(p) << p.error().detail;
  ASSERT_EQ(p->entities.size(), 1u);
  const auto& e = p->entities[0].body;
  EXPECT_EQ(e.at("id"), json::value("urn:ngsi-ld:WeatherObserved:kma:60_127"));
  EXPECT_EQ(e.at("type"), json::value("WeatherObserved"));
  EXPECT_EQ(value(e, "temperature"), json::value(-8.1));
  EXPECT_EQ(e.at("temperature").at("unitCode"), json::value("CEL"));
  EXPECT_EQ(e.at("temperature").at("observedAt"), json::value("2026-01-22T02:00:00.000Z"));
  EXPECT_DOUBLE_EQ(value(e, "relativeHumidity").to_number<double>(), 0.34);
  EXPECT_EQ(value(e, "windSpeed"), json::value(3.2));
  EXPECT_EQ(value(e, "windDirection"), json::value(272.0));
  EXPECT_EQ(value(e, "precipitation"), json::value(0.0));
  EXPECT_EQ(p->entities[0].context, kWeatherContext);
}

TEST(KmaNcst, NoDataXmlEmptyAndMissingValues) {
  auto nodata = parse_kma_ncst(read(fixtures() / "kma_ncst_nodata.json"));
  ASSERT_FALSE(nodata);
  EXPECT_NE(nodata.error().detail.find("resultCode 03 NO_DATA"), std::string::npos);
  auto xml = parse_kma_ncst(read(fixtures() / "kma_ncst_xml_error.xml"));
  ASSERT_FALSE(xml);
  EXPECT_NE(xml.error().detail.find("not JSON"), std::string::npos);
  EXPECT_NE(xml.error().detail.find("OpenAPI_ServiceResponse"), std::string::npos);
  EXPECT_FALSE(parse_kma_ncst(read(fixtures() / "empty.json")));
  auto missing = parse_kma_ncst(read(fixtures() / "kma_ncst_missing_values.json"));
  ASSERT_TRUE(missing) << missing.error().detail;
  ASSERT_EQ(missing->entities.size(), 1u);
  const auto& e = missing->entities[0].body;
  EXPECT_FALSE(e.contains("temperature"));
  EXPECT_FALSE(e.contains("relativeHumidity"));
  EXPECT_FALSE(e.contains("windSpeed"));
  EXPECT_FALSE(e.contains("windDirection"));
  EXPECT_EQ(value(e, "precipitation"), json::value(0.0));  // 강수없음
  // base time 2400 is midnight of the next day (KST) = 15:00Z the same day.
  EXPECT_EQ(e.at("precipitation").at("observedAt"), json::value("2026-01-22T15:00:00.000Z"));
  EXPECT_EQ(missing->skipped, 6u);
}

TEST(KmaFcst, OneForecastPerHourWithKmaTexts) {
  auto p = parse_kma_fcst(read(fixtures() / "kma_fcst_20260122_0500_nx61_ny126_written.json"));
  ASSERT_TRUE(p) << p.error().detail;
  ASSERT_EQ(p->entities.size(), 3u);
  const auto* at6 = find(*p, "urn:ngsi-ld:WeatherForecast:kma:61_126:202601220600");
  const auto* at8 = find(*p, "urn:ngsi-ld:WeatherForecast:kma:61_126:202601220800");
  ASSERT_TRUE(at6 && at8);
  EXPECT_EQ(value(*at6, "temperature"), json::value(-9.0));
  EXPECT_EQ(value(*at6, "precipitation"), json::value(0.0));
  EXPECT_EQ(value(*at6, "validFrom"), json::value("2026-01-21T21:00:00.000Z"));
  EXPECT_EQ(value(*at8, "precipitation"), json::value(30.0));  // "30.0~50.0mm": lower bound
  EXPECT_EQ(value(*at8, "snowHeight"), json::value(5.0));
  EXPECT_FALSE(at8->contains("windSpeed"));  // "-"
  EXPECT_FALSE(at8->contains("windDirection"));  // null
  EXPECT_DOUBLE_EQ(value(*at8, "precipitationProbability").to_number<double>(), 0.6);
}

TEST(AirKorea, RecordedProvinceSampleWithoutVer) {
  auto p = parse_airkorea(read(samples() / "airkorea_getCtprvnRltmMesureDnsty_seoul_20240702_1700_nover.json"));
  ASSERT_TRUE(p) << p.error().detail;
  EXPECT_EQ(p->entities.size(), 10u);
  const auto* dobong = find(*p, "urn:ngsi-ld:AirQualityObserved:airkorea:도봉구");
  ASSERT_TRUE(dobong);
  EXPECT_EQ(value(*dobong, "pm10"), json::value(6.0));
  EXPECT_EQ(dobong->at("pm10").at("unitCode"), json::value("GQ"));
  EXPECT_EQ(dobong->at("pm10").at("observedAt"), json::value("2024-07-02T08:00:00.000Z"));
  EXPECT_FALSE(dobong->contains("pm10Grade"));       // null
  EXPECT_FALSE(dobong->contains("airQualityIndex"));  // "-"
  EXPECT_FALSE(dobong->contains("pm25"));            // not asked with ver=1.3
  const auto* jeongneung = find(*p, "urn:ngsi-ld:AirQualityObserved:airkorea:정릉로");
  ASSERT_TRUE(jeongneung);
  EXPECT_EQ(value(*jeongneung, "pm10Grade"), json::value(1));
  EXPECT_EQ(value(*jeongneung, "airQualityIndex"), json::value(57.0));
}

TEST(AirKorea, StationAnswerTakesTheNewestHourAndMidnight) {
  ParseHints hints;
  hints.station = "강남구";
  hints.ref_area = "urn:ngsi-ld:AdministrativeArea:1168000000";
  auto p = parse_airkorea(read(fixtures() / "airkorea_station_24h_written.json"), hints);
  ASSERT_TRUE(p) << p.error().detail;
  ASSERT_EQ(p->entities.size(), 1u);
  const auto& e = p->entities[0].body;
  EXPECT_EQ(e.at("id"), json::value("urn:ngsi-ld:AirQualityObserved:airkorea:강남구"));
  EXPECT_EQ(value(e, "pm25"), json::value(12.0));
  EXPECT_EQ(e.at("pm25").at("observedAt"), json::value("2024-07-02T15:00:00.000Z"));
  EXPECT_FALSE(e.contains("o3"));  // flagged 통신장애
  EXPECT_EQ(e.at("refArea").at("object"), json::value("urn:ngsi-ld:AdministrativeArea:1168000000"));
  // Without a station name the items cannot be named.
  auto unnamed = parse_airkorea(read(fixtures() / "airkorea_station_24h_written.json"));
  ASSERT_TRUE(unnamed);
  EXPECT_TRUE(unnamed->entities.empty());
  EXPECT_EQ(unnamed->skipped, 2u);
}

TEST(AirKorea, MalformedAnswers) {
  auto missing = parse_airkorea(read(fixtures() / "airkorea_all_missing.json"));
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->entities.empty());
  EXPECT_EQ(missing->skipped, 1u);
  auto nodata = parse_airkorea(read(fixtures() / "airkorea_nodata.json"));
  ASSERT_FALSE(nodata);
  EXPECT_NE(nodata.error().detail.find("NO_DATA"), std::string::npos);
  auto shape = parse_airkorea(read(fixtures() / "airkorea_items_not_list.json"));
  ASSERT_FALSE(shape);
  EXPECT_NE(shape.error().detail.find("items is not a list"), std::string::npos);
  auto cut = parse_airkorea(read(fixtures() / "airkorea_truncated.json"));
  ASSERT_FALSE(cut);
  EXPECT_NE(cut.error().detail.find("not JSON"), std::string::npos);
  EXPECT_FALSE(parse_airkorea("[]"));
  EXPECT_FALSE(parse_airkorea("null"));
  EXPECT_FALSE(parse_airkorea(R"({"response": 3})"));
}

TEST(SeoulCitydata, RecordedExcerpt) {
  auto p = parse_seoul_citydata(read(samples() / "seoul_citydata_POI009_20260826_EXCERPT.json"));
  ASSERT_TRUE(p) << p.error().detail;
  EXPECT_EQ(p->entities.size(), 6u);  // crowd, 2 links, weather, air, 1 heat warning
  const auto* crowd = find(*p, "urn:ngsi-ld:CrowdFlowObserved:seoul-citydata:POI009");
  ASSERT_TRUE(crowd);
  EXPECT_EQ(value(*crowd, "congestionLevel"), json::value("relaxed"));
  EXPECT_EQ(value(*crowd, "peopleCountMin"), json::value(4000));
  EXPECT_EQ(value(*crowd, "peopleCountMax"), json::value(4500));
  EXPECT_EQ(crowd->at("peopleCountMax").at("observedAt"), json::value("2026-08-25T20:30:00.000Z"));
  const auto* link = find(*p, "urn:ngsi-ld:RoadSegment:its:1000000301");
  ASSERT_TRUE(link);
  EXPECT_EQ(value(*link, "averageSpeed"), json::value(12.0));
  EXPECT_EQ(value(*link, "congestionLevel"), json::value("congested"));
  EXPECT_EQ(link->at("location").at("value").at("type"), json::value("LineString"));
  const auto* weather = find(*p, "urn:ngsi-ld:WeatherObserved:seoul-citydata:POI009");
  ASSERT_TRUE(weather);
  EXPECT_EQ(value(*weather, "temperature"), json::value(25.1));
  EXPECT_FALSE(weather->contains("precipitation"));  // "-"
  const auto* air = find(*p, "urn:ngsi-ld:AirQualityObserved:seoul-citydata:POI009");
  ASSERT_TRUE(air);
  EXPECT_EQ(value(*air, "pm25"), json::value(6.0));
  std::size_t messages = 0;
  for (const auto& e : p->entities) {
    if (e.body.at("type") == json::value("DisasterMessage")) {
      ++messages;
      EXPECT_EQ(value(e.body, "category"), json::value("폭염 주의보"));
      EXPECT_TRUE(e.context.empty());  // own type: core context
    }
  }
  EXPECT_EQ(messages, 1u);
}

TEST(SeoulCitydata, DisasterTextsAndBrokenValues) {
  auto p = parse_seoul_citydata(read(fixtures() / "seoul_citydata_disaster_written.json"));
  ASSERT_TRUE(p) << p.error().detail;
  std::size_t messages = 0;
  for (const auto& e : p->entities) {
    if (e.body.at("type") != json::value("DisasterMessage")) continue;
    ++messages;
    if (value(e.body, "category") == json::value("호우 안전안내")) {
      EXPECT_EQ(value(e.body, "issuedAt").at("@value"), json::value("2026-08-25T20:10:00.000Z"));
      EXPECT_EQ(value(e.body, "areaName"), json::value("광화문·덕수궁"));
    }
  }
  EXPECT_EQ(messages, 2u);  // the warning and one text; the empty text is skipped
  EXPECT_FALSE(find(*p, "urn:ngsi-ld:RoadSegment:its:1000000999"));  // SPD "-"
  const auto* broken = find(*p, "urn:ngsi-ld:RoadSegment:its:1000000998");
  ASSERT_TRUE(broken);
  EXPECT_FALSE(broken->contains("location"));  // XYLIST unreadable: speed kept, no geometry
  const auto* weather = find(*p, "urn:ngsi-ld:WeatherObserved:seoul-citydata:POI009");
  ASSERT_TRUE(weather);
  EXPECT_FALSE(weather->contains("temperature"));
}

TEST(SeoulCitydata, ErrorsAreReasons) {
  auto nodata = parse_seoul_citydata(read(fixtures() / "seoul_citydata_nodata.json"));
  ASSERT_FALSE(nodata);
  EXPECT_NE(nodata.error().detail.find("INFO-200"), std::string::npos);
  auto shape = parse_seoul_citydata(read(fixtures() / "seoul_citydata_wrong_shape.json"));
  ASSERT_FALSE(shape);
  EXPECT_NE(shape.error().detail.find("no CITYDATA"), std::string::npos);
  EXPECT_FALSE(parse_seoul_citydata(read(fixtures() / "empty.json")));
  EXPECT_FALSE(parse_seoul_citydata("{\"RESULT\": []}"));
}

}  // namespace
}  // namespace cityroom::connectors
