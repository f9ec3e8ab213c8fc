// mqtt::Client without a broker: option checks and refusals a caller can act on.
#include <gtest/gtest.h>

#include "mqtt/mqtt.h"

namespace cityroom::mqtt {
namespace {

TEST(Client, PersistentSessionNeedsAClientId) {
  Options o;
  o.clean_session = false;
  auto c = Client::create(o);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().detail.find("client id"), std::string::npos);
}

TEST(Client, BadOptionsAreRefused) {
  Options o;
  o.client_id = "t";
  o.port = 0;
  EXPECT_FALSE(Client::create(o));
  o.port = 1883;
  o.reconnect_delay_min_s = 10;
  o.reconnect_delay_max_s = 5;
  EXPECT_FALSE(Client::create(o));
  o.reconnect_delay_max_s = 60;
  o.tls = TlsOptions{};
  auto no_ca = Client::create(o);
  ASSERT_FALSE(no_ca);
  EXPECT_NE(no_ca.error().detail.find("CA"), std::string::npos);
}

// Nothing listens on the port: the client starts (and keeps retrying), QoS 0 publishes are
// refused while disconnected, QoS 1 ones are queued, bad topics are refused, stop() returns.
TEST(Client, WorksWithoutABroker) {
  Options o;
  o.client_id = "cityroom-unit-test";
  o.port = 1;  // nothing listens there
  auto c = Client::create(o);
  ASSERT_TRUE(c) << c.error().detail;
  ASSERT_TRUE((*c)->start());
  EXPECT_FALSE((*c)->connected());
  EXPECT_FALSE((*c)->publish("a/b", "x", 0));
  EXPECT_TRUE((*c)->publish("a/b", "x", 1));
  EXPECT_FALSE((*c)->publish("a/+", "x", 1));
  EXPECT_FALSE((*c)->publish("a/b", "x", 3));
  EXPECT_FALSE((*c)->subscribe("a/#/b", 1));
  EXPECT_TRUE((*c)->subscribe("a/#", 1));
  const auto counters = (*c)->counters();
  EXPECT_EQ(counters.published, 1u);
  EXPECT_EQ(counters.publish_refused, 3u);
  EXPECT_EQ(counters.outgoing, 1u);
  (*c)->stop();
  EXPECT_FALSE((*c)->publish("a/b", "x", 1));
}

}  // namespace
}  // namespace cityroom::mqtt
