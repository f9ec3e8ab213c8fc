#include <gtest/gtest.h>

#include "base/base.h"
#include "json/json.h"

using namespace cityroom;

TEST(Time, ParsesAndFormatsUtc) {
  auto t = base::parse_iso8601("2024-02-29T23:59:58.5Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(base::format_iso8601(*t), "2024-02-29T23:59:58.500Z");
}

TEST(Time, AppliesOffsets) {
  auto seoul = base::parse_iso8601("2026-01-22T11:00:00+09:00");
  auto utc = base::parse_iso8601("2026-01-22T02:00:00Z");
  ASSERT_TRUE(seoul && utc);
  EXPECT_EQ(*seoul, *utc);
}

TEST(Time, RejectsImpossibleDates) {
  EXPECT_FALSE(base::parse_iso8601("2023-02-29T00:00:00Z"));
  EXPECT_FALSE(base::parse_iso8601("2023-13-01T00:00:00Z"));
  EXPECT_FALSE(base::parse_iso8601("yesterday"));
  EXPECT_FALSE(base::parse_iso8601("2023-01-01"));
  EXPECT_TRUE(base::parse_iso8601("2023-01-01", true));
}

TEST(Uri, AcceptsUrnsAndUrls) {
  EXPECT_TRUE(base::is_uri("urn:ngsi-ld:Bridge:1"));
  EXPECT_TRUE(base::is_uri("https://example.org/a?b=c"));
  EXPECT_FALSE(base::is_uri("Bridge1"));
  EXPECT_FALSE(base::is_uri("urn:has space"));
  EXPECT_FALSE(base::is_uri(":nope"));
}

TEST(Problem, CarriesEtsiTypeAndStatus) {
  auto body = json::parse(base::problem_json({base::ErrorKind::kBadRequestData, "tilt is bad"}));
  ASSERT_TRUE(body);
  EXPECT_EQ(body->at("type"), "https://uri.etsi.org/ngsi-ld/errors/BadRequestData");
  EXPECT_EQ(body->at("status"), 400);
  EXPECT_EQ(body->at("detail"), "tilt is bad");
}

TEST(Json, ErrorsSayWhere) {
  auto bad = json::parse(R"({"a": 1,})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, base::ErrorKind::kInvalidRequest);
  EXPECT_NE(bad.error().detail.find("byte"), std::string::npos);
}

TEST(Utf8, ValidatesKorean) {
  EXPECT_TRUE(base::is_valid_utf8("강남구 대치동"));
  EXPECT_FALSE(base::is_valid_utf8("\xed\x95"));
}

TEST(Json, NumbersReadAsPeopleWriteThem) {
  auto v = json::parse(R"({"tilt":0.2,"lon":127.0347,"n":3,"big":1e300,"neg":-5.5,"whole":2.0})");
  ASSERT_TRUE(v);
  EXPECT_EQ(json::serialize(*v),
            R"({"tilt":0.2,"lon":127.0347,"n":3,"big":1e+300,"neg":-5.5,"whole":2.0})");
}

TEST(Json, StringsAreEscapedAndKoreanPassesThrough) {
  json::value v = json::object{{"name", "성수대교 \"A\"\n\t\x01"}};
  const std::string text = json::serialize(v);
  EXPECT_EQ(text, "{\"name\":\"성수대교 \\\"A\\\"\\n\\t\\u0001\"}");
  EXPECT_EQ(*json::parse(text), v);
}

TEST(Json, SeventeenDigitNumbersSurviveARoundTrip) {
  // Boost.JSON 1.81 alone reads these one ulp off.
  for (std::string_view text : {"-172.43127776997827", "-9.146229953197121", "104.47399113092115",
                                "-46.582037902777444", "0.1", "127.0347"}) {
    auto v = json::parse(text);
    ASSERT_TRUE(v) << text;
    EXPECT_EQ(json::serialize(*v), text);
  }
}

TEST(Json, TruncatedAndTrailingInputIsRefused) {
  EXPECT_FALSE(json::parse(R"({"a": [1, 2)"));
  EXPECT_FALSE(json::parse(R"({"a": 1} x)"));
  EXPECT_FALSE(json::parse(""));
}
