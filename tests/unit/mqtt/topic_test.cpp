// Topic filters and names: what a mapping's `topic` accepts and which levels it captures.
#include <gtest/gtest.h>

#include "mqtt/mqtt.h"

namespace cityroom::mqtt {
namespace {

using Levels = std::vector<std::string_view>;

TEST(Topic, PlusCapturesOneLevelEach) {
  auto m = match_topic("city/bridge/+/telemetry", "city/bridge/mapo-7/telemetry");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, Levels({"mapo-7"}));
  m = match_topic("city/+/+/telemetry", "city/bridge/b1/telemetry");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, Levels({"bridge", "b1"}));
}

TEST(Topic, HashCapturesTheRest) {
  auto m = match_topic("city/entities/#", "city/entities/a/b/c");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, Levels({"a/b/c"}));
  m = match_topic("city/entities/#", "city/entities");  // `#` also matches the parent
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, Levels({""}));
  m = match_topic("#", "anything/at/all");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, Levels({"anything/at/all"}));
}

TEST(Topic, ExactLevelsMustMatch) {
  EXPECT_TRUE(match_topic("a/b", "a/b"));
  EXPECT_FALSE(match_topic("a/b", "a/c"));
  EXPECT_FALSE(match_topic("a/b", "a/b/c"));  // more levels
  EXPECT_FALSE(match_topic("a/b/c", "a/b"));  // fewer levels
  EXPECT_FALSE(match_topic("a/+", "a/b/c"));
  EXPECT_FALSE(match_topic("a/+/c", "a/b"));
  EXPECT_FALSE(match_topic("A/b", "a/b"));  // case-sensitive
}

TEST(Topic, EmptyLevelsAreLevels) {
  auto m = match_topic("a/+/c", "a//c");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, Levels({""}));
  m = match_topic("a/+", "a/");
  ASSERT_TRUE(m);
  EXPECT_EQ(*m, Levels({""}));
  EXPECT_TRUE(match_topic("/+", "/x"));
}

TEST(Topic, LeadingWildcardsSkipSystemTopics) {
  EXPECT_FALSE(match_topic("#", "$SYS/broker/uptime"));
  EXPECT_FALSE(match_topic("+/broker/uptime", "$SYS/broker/uptime"));
  EXPECT_TRUE(match_topic("$SYS/#", "$SYS/broker/uptime"));
}

TEST(Topic, FilterChecks) {
  EXPECT_TRUE(check_filter("a/+/b/#"));
  EXPECT_TRUE(check_filter("#"));
  EXPECT_TRUE(check_filter("+"));
  EXPECT_FALSE(check_filter(""));
  const auto not_alone = check_filter("a/b+/c");
  ASSERT_FALSE(not_alone);
  EXPECT_NE(not_alone.error().detail.find("whole level"), std::string::npos);
  const auto hash_inside = check_filter("a/#/c");
  ASSERT_FALSE(hash_inside);
  EXPECT_NE(hash_inside.error().detail.find("last level"), std::string::npos);
  EXPECT_FALSE(check_filter("a/\xff"));
}

TEST(Topic, TopicChecks) {
  EXPECT_TRUE(check_topic("cityroom/dead-letter"));
  EXPECT_FALSE(check_topic("a/+"));
  EXPECT_FALSE(check_topic("a/#"));
  EXPECT_FALSE(check_topic(""));
}

TEST(Topic, WildcardCount) {
  EXPECT_EQ(wildcard_count("a/b"), 0u);
  EXPECT_EQ(wildcard_count("a/+/b/+"), 2u);
  EXPECT_EQ(wildcard_count("+/#"), 2u);
}

}  // namespace
}  // namespace cityroom::mqtt
