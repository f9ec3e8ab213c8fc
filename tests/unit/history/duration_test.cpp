// ISO 8601 durations as aggrPeriodDuration takes them.
#include <gtest/gtest.h>

#include "history/history.h"

namespace cityroom::history {
namespace {

constexpr base::Micros kS = 1'000'000;

TEST(Duration, CommonPeriods) {
  EXPECT_EQ(*parse_duration("PT1H"), 3600 * kS);
  EXPECT_EQ(*parse_duration("P1D"), 86400 * kS);
  EXPECT_EQ(*parse_duration("PT15M"), 900 * kS);
  EXPECT_EQ(*parse_duration("PT0.5S"), kS / 2);
  EXPECT_EQ(*parse_duration("P1W"), 7 * 86400 * kS);
  EXPECT_EQ(*parse_duration("P1M"), 30 * 86400 * kS);  // a month is 30 days here
  EXPECT_EQ(*parse_duration("P1Y"), 365 * 86400 * kS);
}

TEST(Duration, AllUnitsTogether) {
  EXPECT_EQ(*parse_duration("P1DT2H3M4S"), ((86400 + 2 * 3600 + 3 * 60 + 4) * kS));
  EXPECT_EQ(*parse_duration("P1DT1,5H"), (86400 + 5400) * kS);  // comma as decimal sign
}

TEST(Duration, RefusesWhatIsNotADuration) {
  for (const char* bad : {"", "P", "PT", "1H", "PT1", "P1H", "PT1D", "P1DT", "PT1M1H", "P-1D",
                          "PT0S", "P0D", "P1.5DT1H", "PTH", "P1D1D", "PT1H ", "pt1h", "P1TD",
                          "PT99999999999999999999S"}) {
    auto r = parse_duration(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().kind, base::ErrorKind::kBadRequestData);
    EXPECT_NE(r.error().detail.find("ISO 8601"), std::string::npos) << r.error().detail;
  }
}

TEST(Methods, ParsesNamesInOrderAndRefusesUnknown) {
  auto m = parse_methods("avg,max,avg,totalCount");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->size(), 3u);
  EXPECT_EQ((*m)[0], Method::kAvg);
  EXPECT_EQ((*m)[2], Method::kTotalCount);
  EXPECT_FALSE(parse_methods("avg,median"));
  EXPECT_FALSE(parse_methods(""));
  EXPECT_FALSE(parse_methods("avg,"));
  EXPECT_FALSE(parse_methods("AVG"));
}

}  // namespace
}  // namespace cityroom::history
