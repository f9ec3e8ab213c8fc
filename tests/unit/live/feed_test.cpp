// The change feed: numbering, reading behind and past the ring, waking readers.
#include <gtest/gtest.h>

#include <thread>

#include "live/feed.h"

using namespace cityroom;

namespace {

std::vector<hub::Change> changes(int n, int first = 0) {
  std::vector<hub::Change> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({hub::Change::Kind::kCreated, "", "urn:ngsi-ld:T:" + std::to_string(first + i),
                   nullptr, std::make_shared<const model::Entity>()});
  }
  return out;
}

}  // namespace

TEST(Feed, NumbersChangesInCommitOrder) {
  live::Feed feed(8);
  feed.publish(changes(3));
  feed.publish(changes(2, 3));
  EXPECT_EQ(feed.last_seq(), 5u);
  std::vector<live::Event> out;
  EXPECT_EQ(feed.read(0, 100, out), 0u);
  ASSERT_EQ(out.size(), 5u);
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].seq, i + 1);
    EXPECT_EQ(out[i].change.id, "urn:ngsi-ld:T:" + std::to_string(i));
  }
}

TEST(Feed, ReadResumesAfterAPositionAndHonoursMax) {
  live::Feed feed(8);
  feed.publish(changes(6));
  std::vector<live::Event> out;
  EXPECT_EQ(feed.read(2, 2, out), 0u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].seq, 3u);
  EXPECT_EQ(out[1].seq, 4u);
  out.clear();
  EXPECT_EQ(feed.read(6, 10, out), 0u);
  EXPECT_TRUE(out.empty());
}

TEST(Feed, AReaderBehindTheRingLearnsHowManyItMissed) {
  live::Feed feed(4);
  feed.publish(changes(10));
  std::vector<live::Event> out;
  EXPECT_EQ(feed.read(3, 100, out), 3u);  // 4, 5, 6 are gone; 7..10 remain
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out.front().seq, 7u);
  EXPECT_EQ(out.back().seq, 10u);
}

TEST(Feed, WaitWakesOnPublishAndOnStop) {
  live::Feed feed(4);
  std::thread writer([&] { feed.publish(changes(1)); });
  EXPECT_TRUE(feed.wait(0, std::chrono::seconds(30)));
  writer.join();
  EXPECT_EQ(feed.last_seq(), 1u);
  std::thread stopper([&] { feed.stop(); });
  EXPECT_FALSE(feed.wait(1, std::chrono::seconds(30)));
  stopper.join();
}

TEST(Feed, EpochDiffersBetweenInstances) {
  live::Feed a;
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  live::Feed b;
  EXPECT_NE(a.epoch(), b.epoch());
}
