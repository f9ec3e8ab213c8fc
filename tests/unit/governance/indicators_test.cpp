#include <gtest/gtest.h>

#include "governance/indicators.h"

namespace cityroom::governance {
namespace {

std::string iso(base::Micros t) { return base::format_iso8601(t); }

TEST(Indicators, PeriodsAreCityTimeMonthsQuartersAndYears) {
  const auto oct = parse_period("2026-10");
  ASSERT_TRUE(oct);
  EXPECT_EQ(iso(oct->start), base::format_iso8601(*base::parse_iso8601("2026-09-30T15:00:00Z")));
  EXPECT_EQ(iso(oct->end), base::format_iso8601(*base::parse_iso8601("2026-10-31T15:00:00Z")));
  const auto q4 = parse_period("2026-Q4");
  ASSERT_TRUE(q4);
  EXPECT_EQ(q4->start, oct->start);
  EXPECT_EQ(q4->end, *base::parse_iso8601("2026-12-31T15:00:00Z"));
  const auto dec = parse_period("2026-12");
  EXPECT_EQ(dec->end, q4->end);
  EXPECT_EQ(parse_period("2026")->end, q4->end);
  for (auto bad : {"2026-13", "2026-00", "2026-Q5", "26-10", "2026/10", "", "abcd"}) {
    EXPECT_FALSE(parse_period(bad)) << bad;
  }
  // 1 Nov 00:30 in Seoul is still 31 Oct in UTC.
  const auto t = *base::parse_iso8601("2026-10-31T15:30:00Z");
  EXPECT_EQ(period_of("month", t).label, "2026-11");
  EXPECT_EQ(period_of("quarter", t).label, "2026-Q4");
  EXPECT_EQ(period_of("year", *base::parse_iso8601("2026-12-31T15:00:00Z")).label, "2027");
}

TEST(Indicators, AchievementDependsOnDirection) {
  EXPECT_EQ(achievement(6, 5, "lower"), 83.3);
  EXPECT_EQ(achievement(4, 5, "lower"), 125.0);
  EXPECT_EQ(achievement(90, 120, "higher"), 75.0);
  EXPECT_EQ(achievement(0, 0, "lower"), 100.0);
  EXPECT_FALSE(achievement(0, 5, "lower"));
  EXPECT_FALSE(achievement(3, 0, "higher"));
  EXPECT_FALSE(achievement(3, std::nullopt, "higher"));
}

TEST(Indicators, TrendSaysWhetherTheChangeIsGood) {
  EXPECT_EQ(trend(6, 4, "lower"), (std::pair<std::string, std::string>{"down", "improving"}));
  EXPECT_EQ(trend(6, 4, "higher"), (std::pair<std::string, std::string>{"down", "worsening"}));
  EXPECT_EQ(trend(4, 4, "higher"), (std::pair<std::string, std::string>{"flat", "steady"}));
  EXPECT_EQ(trend(std::nullopt, 4, "higher").first, "none");
}

TEST(Indicators, DefinitionsAreChecked) {
  const auto parse = [](std::string_view s) {
    return indicator_from_definition(json::parse(s)->as_object());
  };
  auto ok = parse(R"({"key":"k","name":"n","unit":"건","direction":"higher","periodicity":"quarter",
                      "targets":{"2026-Q1":10},"formula":{"kind":"count","entityType":"ServiceRequest"}})");
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(ok->at("id"), "urn:ngsi-ld:Indicator:k");
  EXPECT_EQ(ok->at("source"), "formula");
  EXPECT_FALSE(parse(R"({"key":"k","name":"n","unit":"u","direction":"higher","periodicity":"week"})"));
  EXPECT_FALSE(parse(R"({"key":"k","name":"n","unit":"u","direction":"higher","periodicity":"month",
                         "targets":{"soon":1}})"));
  EXPECT_FALSE(parse(R"({"key":"k","name":"n","unit":"u","direction":"higher","periodicity":"month",
                         "formula":{"kind":"average","entityType":"X"}})"));
  EXPECT_FALSE(parse(R"({"key":"k k","name":"n","unit":"u","direction":"higher","periodicity":"month"})"));
  EXPECT_FALSE(parse(R"({"name":"n","unit":"u","direction":"higher","periodicity":"month"})"));
}

TEST(Indicators, ValueEntriesMatchThePeriodicity) {
  const auto entry = [](std::string_view s, std::string_view periodicity) {
    return indicator_value_fragment(json::parse(s)->as_object(), periodicity);
  };
  auto ok = entry(R"({"period":"2026-Q2","value":3.5,"by":"kim"})", "quarter");
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(std::string(ok->at("indicatorValue").at("observedAt").as_string()),
            base::format_iso8601(*base::parse_iso8601("2026-03-31T15:00:00Z")));
  EXPECT_FALSE(entry(R"({"period":"2026-04","value":3.5,"by":"kim"})", "quarter"));
  EXPECT_FALSE(entry(R"({"period":"2026-Q2","value":3.5,"by":"kim"})", "month"));
  EXPECT_FALSE(entry(R"({"period":"2026","value":3.5})", "year"));
  EXPECT_TRUE(entry(R"({"period":"2026","value":3.5,"by":"a"})", "year"));
}

}  // namespace
}  // namespace cityroom::governance
