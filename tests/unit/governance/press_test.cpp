#include <gtest/gtest.h>

#include "governance/callcentre.h"
#include "governance/press.h"

namespace cityroom::governance {
namespace {

TEST(Press, Rfc822DatesWithOffsetsAndZoneNames) {
  const auto utc = *base::parse_iso8601("2026-11-21T00:00:00Z");
  EXPECT_EQ(parse_rfc822("Sat, 21 Nov 2026 09:00:00 +0900"), utc);
  EXPECT_EQ(parse_rfc822("Sat, 21 Nov 2026 09:00:00 KST"), utc);
  EXPECT_EQ(parse_rfc822("21 Nov 2026 00:00 GMT"), utc);
  EXPECT_EQ(parse_rfc822("Fri, 20 Nov 2026 19:00:00 -0500"), utc);
  EXPECT_FALSE(parse_rfc822("yesterday"));
  EXPECT_FALSE(parse_rfc822("Sat, 21 Foo 2026 09:00:00 +0900"));
  EXPECT_FALSE(parse_rfc822("Sat, 21 Nov 2026 09:00:00 PST"));
}

TEST(Press, MentionsCountEveryOccurrenceLatinCaseInsensitive) {
  EXPECT_EQ(count_mentions("제설 작업, 제설 차량", "제설"), 2u);
  EXPECT_EQ(count_mentions("Mayor and MAYOR", "mayor"), 2u);
  EXPECT_EQ(count_mentions("주차장", "주차"), 1u);
  EXPECT_EQ(count_mentions("", "주차"), 0u);
}

TEST(Press, LongSummariesAreCutOnACharacterBoundary) {
  std::string rss = "<rss><channel><title>t</title><item><title>a</title>"
                    "<pubDate>21 Nov 2026 00:00 GMT</pubDate><description>";
  for (int i = 0; i < 1000; ++i) rss += "가";  // 3,000 bytes
  rss += "</description></item></channel></rss>";
  auto feed = parse_feed(rss);
  ASSERT_TRUE(feed) << feed.error().detail;
  ASSERT_EQ(feed->items.size(), 1u);
  EXPECT_TRUE(base::is_valid_utf8(feed->items[0].summary));
  EXPECT_EQ(feed->items[0].summary.size(), 1998u);  // 666 syllables
}

TEST(Press, ExternalEntitiesAreNotFetchedAndBadDocumentsRefused) {
  auto feed = parse_feed(
      "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY ext SYSTEM \"http://127.0.0.1:9/x\">]>"
      "<rss><channel><item><title>a &ext; b</title><pubDate>21 Nov 2026 00:00 GMT</pubDate>"
      "</item></channel></rss>");
  ASSERT_TRUE(feed);
  ASSERT_EQ(feed->items.size(), 1u);
  EXPECT_EQ(feed->items[0].title.find("127.0.0.1"), std::string::npos);
  EXPECT_FALSE(parse_feed("<rss>"));
  EXPECT_FALSE(parse_feed("<html/>"));
  EXPECT_FALSE(parse_feed(""));
}

TEST(CallCentre, RowsAreCheckedAndIdsEncoded) {
  auto ok = call_days_from_csv("date,category,channel,count,avg_handling_seconds\n"
                               "2026-11-16,교통,phone,120,180\n");
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ((*ok)[0].count, 120);
  EXPECT_FALSE(call_days_from_csv("date,category,channel,count,avg_handling_seconds\n"
                                  "2026-11-16,교통,phone,-1,180\n"));
  EXPECT_FALSE(call_days_from_csv("date,category\n2026-11-16,교통\n"));
  EXPECT_EQ(call_stat_id("c", "a/b", "web chat"), "urn:ngsi-ld:CallCentreStat:c:a%2Fb:web%20chat");
  EXPECT_EQ(*city_day_start("2026-11-16"), *base::parse_iso8601("2026-11-15T15:00:00Z"));
}

}  // namespace
}  // namespace cityroom::governance
