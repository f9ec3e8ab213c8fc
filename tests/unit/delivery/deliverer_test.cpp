// Deliverer against local sinks: what arrives, in which order, over how many connections, what a
// caller is told when endpoints fail, and that bad endpoints do not hold back good ones.
// Deadlines here are generous bounds for "eventually", never performance assertions.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "delivery/delivery.h"
#include "test_sink.h"

namespace cityroom::delivery {
namespace {

using namespace std::chrono_literals;
using testing::Sink;
using testing::SinkOptions;

// Records every done call by message id.
class Outcomes {
 public:
  Done done_for(std::size_t id) {
    return [this, id](const Outcome& o) {
      std::lock_guard lock(mutex_);
      ++calls_[id];
      outcomes_[id] = o;
      cv_.notify_all();
    };
  }
  bool wait_for(std::size_t n, std::chrono::seconds deadline = 30s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, deadline, [&] { return outcomes_.size() >= n; });
  }
  Outcome get(std::size_t id) {
    std::lock_guard lock(mutex_);
    return outcomes_.at(id);
  }
  bool has(std::size_t id) {
    std::lock_guard lock(mutex_);
    return outcomes_.contains(id);
  }
  std::size_t size() {
    std::lock_guard lock(mutex_);
    return outcomes_.size();
  }
  // True when every id in [from, to) was answered exactly once.
  bool each_once(std::size_t from, std::size_t to) {
    std::lock_guard lock(mutex_);
    for (std::size_t i = from; i < to; ++i) {
      auto it = calls_.find(i);
      if (it == calls_.end() || it->second != 1) return false;
    }
    return true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::size_t, Outcome> outcomes_;
  std::map<std::size_t, int> calls_;
};

Options fast_options() {
  Options o;
  o.retry_delay = 10ms;
  o.retry_delay_max = 50ms;
  o.breaker_open_min = 20ms;
  o.breaker_open_max = 100ms;
  o.connect_timeout = 2'000ms;
  o.request_timeout = 10'000ms;
  return o;
}

Message json(const std::string& uri, const std::string& body) {
  return Message{uri, {{"Content-Type", "application/json"}}, body};
}

TEST(Deliverer, DeliversBodyAndHeadersIntact) {
  Sink sink;
  Deliverer d(fast_options());
  Outcomes out;
  const std::string body = R"({"id":"urn:ngsi-ld:Notification:1","type":"Notification","data":[]})";
  Message m{
      sink.uri("/hook/a?tenant=x"),
      {{"Content-Type", "application/ld+json"},
       {"Link", R"(<https://example.org/ctx.jsonld>; rel="http://www.w3.org/ns/json-ld#context")"},
       {"X-Auth-Token", "secret-123"},
       {"Content-Length", "999"}},  // ignored: the Deliverer frames the body itself
      body};
  ASSERT_TRUE(d.post(m, out.done_for(0)));
  ASSERT_TRUE(out.wait_for(1));
  const Outcome o = out.get(0);
  EXPECT_TRUE(o.delivered) << o.error;
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(o.error, "");
  EXPECT_EQ(o.attempts, 1u);
  EXPECT_GT(o.at, 0);

  const auto got = sink.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/hook/a?tenant=x");
  EXPECT_EQ(got[0].body, body);
  EXPECT_EQ(got[0].headers.at("content-type"), "application/ld+json");
  EXPECT_EQ(got[0].headers.at("link"), m.headers[1].second);
  EXPECT_EQ(got[0].headers.at("x-auth-token"), "secret-123");
  EXPECT_EQ(got[0].headers.at("content-length"), std::to_string(body.size()));
  EXPECT_EQ(got[0].headers.at("host"), "127.0.0.1:" + std::to_string(sink.port()));
}

TEST(Deliverer, ManyMessagesArriveInOrderOverOneReusedConnection) {
  Sink sink;
  Options o = fast_options();
  o.connections_per_endpoint = 1;
  Deliverer d(o);
  Outcomes out;
  constexpr std::size_t kCount = 500;
  for (std::size_t i = 0; i < kCount; ++i) {
    ASSERT_TRUE(d.post(json(sink.uri(), std::to_string(i)), out.done_for(i)));
  }
  ASSERT_TRUE(out.wait_for(kCount));
  EXPECT_TRUE(out.each_once(0, kCount));
  const auto got = sink.received();
  ASSERT_EQ(got.size(), kCount);
  for (std::size_t i = 0; i < kCount; ++i) ASSERT_EQ(got[i].body, std::to_string(i));
  EXPECT_EQ(sink.connections(), 1u);
  EXPECT_EQ(d.stats().delivered, kCount);
  d.stop(1'000ms);  // `queued` drops just after each done returns
  EXPECT_EQ(d.stats().queued, 0u);
}

TEST(Deliverer, UsesAtMostTheConfiguredConnections) {
  Sink sink;
  Options o = fast_options();
  o.connections_per_endpoint = 2;
  Deliverer d(o);
  Outcomes out;
  constexpr std::size_t kCount = 1000;
  for (std::size_t i = 0; i < kCount; ++i) {
    ASSERT_TRUE(d.post(json(sink.uri(), std::to_string(i)), out.done_for(i)));
  }
  ASSERT_TRUE(out.wait_for(kCount));
  EXPECT_EQ(d.stats().delivered, kCount);
  EXPECT_EQ(sink.received().size(), kCount);
  EXPECT_LE(sink.connections(), 2u);
  EXPECT_LE(d.stats().connections_open, 2u);
}

TEST(Deliverer, ReconnectsWhenTheServerClosesEachConnection) {
  SinkOptions so;
  so.close_each = true;
  Sink sink(so);
  Deliverer d(fast_options());
  Outcomes out;
  for (std::size_t i = 0; i < 20; ++i) ASSERT_TRUE(d.post(json(sink.uri(), "x"), out.done_for(i)));
  ASSERT_TRUE(out.wait_for(20));
  EXPECT_EQ(d.stats().delivered, 20u);
  EXPECT_EQ(sink.connections(), 20u);
}

TEST(Deliverer, ResendsOnceWhenAnIdleKeepAliveConnectionWasClosed) {
  SinkOptions so;
  so.close_idle_after = 50ms;  // closes without Connection: close, as servers do when idle
  Sink sink(so);
  Options o = fast_options();
  o.connections_per_endpoint = 1;
  Deliverer d(o);
  Outcomes out;
  ASSERT_TRUE(d.post(json(sink.uri(), "first"), out.done_for(0)));
  ASSERT_TRUE(out.wait_for(1));
  std::this_thread::sleep_for(300ms);  // let the sink drop the idle connection
  ASSERT_TRUE(d.post(json(sink.uri(), "second"), out.done_for(1)));
  ASSERT_TRUE(out.wait_for(2));
  const Outcome second = out.get(1);
  EXPECT_TRUE(second.delivered) << second.error;
  EXPECT_EQ(second.attempts, 1u);
  EXPECT_EQ(d.stats().retried, 0u);
  EXPECT_EQ(sink.connections(), 2u);
}

TEST(Deliverer, ClosesIdleConnectionsAndForgetsIdleEndpoints) {
  Sink sink;
  Options o = fast_options();
  o.idle_timeout = 100ms;
  Deliverer d(o);
  Outcomes out;
  ASSERT_TRUE(d.post(json(sink.uri(), "a"), out.done_for(0)));
  ASSERT_TRUE(out.wait_for(1));
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while ((d.stats().endpoints != 0 || d.stats().connections_open != 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(d.stats().endpoints, 0u);
  EXPECT_EQ(d.stats().connections_open, 0u);
  ASSERT_TRUE(d.post(json(sink.uri(), "b"), out.done_for(1)));  // comes back as new
  ASSERT_TRUE(out.wait_for(2));
  EXPECT_TRUE(out.get(1).delivered);
  EXPECT_EQ(sink.connections(), 2u);
}

TEST(Deliverer, RetriesAfter500ThenDelivers) {
  SinkOptions so;
  so.status = [](std::size_t n) { return n == 0 ? 500 : 200; };
  Sink sink(so);
  Deliverer d(fast_options());
  Outcomes out;
  ASSERT_TRUE(d.post(json(sink.uri(), "{}"), out.done_for(0)));
  ASSERT_TRUE(out.wait_for(1));
  const Outcome o = out.get(0);
  EXPECT_TRUE(o.delivered) << o.error;
  EXPECT_EQ(o.attempts, 2u);
  EXPECT_EQ(sink.received().size(), 2u);
  EXPECT_EQ(d.stats().retried, 1u);
  EXPECT_EQ(d.stats().delivered, 1u);
}

TEST(Deliverer, GivesUpAfterTheConfiguredAttemptsOn503) {
  SinkOptions so;
  so.status = [](std::size_t) { return 503; };
  Sink sink(so);
  Options opt = fast_options();
  opt.attempts = 3;
  Deliverer d(opt);
  Outcomes out;
  ASSERT_TRUE(d.post(json(sink.uri(), "{}"), out.done_for(0)));
  ASSERT_TRUE(out.wait_for(1));
  const Outcome o = out.get(0);
  EXPECT_FALSE(o.delivered);
  EXPECT_EQ(o.status, 503);
  EXPECT_EQ(o.error, "HTTP 503");
  EXPECT_EQ(o.attempts, 3u);
  EXPECT_EQ(sink.received().size(), 3u);
}

TEST(Deliverer, DoesNotRetryA400) {
  SinkOptions so;
  so.status = [](std::size_t) { return 400; };
  Sink sink(so);
  Deliverer d(fast_options());
  Outcomes out;
  ASSERT_TRUE(d.post(json(sink.uri(), "{}"), out.done_for(0)));
  ASSERT_TRUE(out.wait_for(1));
  const Outcome o = out.get(0);
  EXPECT_FALSE(o.delivered);
  EXPECT_EQ(o.status, 400);
  EXPECT_EQ(o.error, "HTTP 400");
  EXPECT_EQ(o.attempts, 1u);
  EXPECT_EQ(sink.received().size(), 1u);
  EXPECT_EQ(d.stats().retried, 0u);
  EXPECT_EQ(d.stats().failed, 1u);
}

TEST(Deliverer, DeadPortFailsAfterAllAttemptsWhileAHealthyEndpointGetsEverything) {
  Sink healthy;
  const std::string dead = "http://127.0.0.1:" + std::to_string(testing::dead_port()) + "/n";
  Deliverer d(fast_options());
  Outcomes out;
  constexpr std::size_t kDead = 5, kHealthy = 300;
  for (std::size_t i = 0; i < kHealthy; ++i) {
    if (i < kDead) {
      ASSERT_TRUE(d.post(json(dead, "lost?"), out.done_for(100'000 + i)));
    }
    ASSERT_TRUE(d.post(json(healthy.uri(), std::to_string(i)), out.done_for(i)));
  }
  ASSERT_TRUE(out.wait_for(kHealthy + kDead));
  for (std::size_t i = 0; i < kHealthy; ++i) ASSERT_TRUE(out.get(i).delivered) << i;
  EXPECT_EQ(healthy.received().size(), kHealthy);
  for (std::size_t i = 0; i < kDead; ++i) {
    const Outcome o = out.get(100'000 + i);
    EXPECT_FALSE(o.delivered);
    EXPECT_EQ(o.status, 0);
    EXPECT_EQ(o.attempts, 3u);
    EXPECT_NE(o.error.find("connect: "), std::string::npos) << o.error;
  }
  EXPECT_TRUE(out.each_once(0, kHealthy));
  EXPECT_TRUE(out.each_once(100'000, 100'000 + kDead));
  EXPECT_EQ(d.stats().failed, kDead);
}

TEST(Deliverer, BlackholeDoesNotHoldBackAHealthyEndpoint) {
  SinkOptions so;
  so.blackhole = true;
  Sink hole(so);
  Sink healthy;
  Deliverer d(fast_options());  // request timeout 10 s: the hole answers nothing meanwhile
  Outcomes out;
  constexpr std::size_t kHole = 20, kHealthy = 300;
  for (std::size_t i = 0; i < kHealthy; ++i) {
    if (i < kHole) {
      ASSERT_TRUE(d.post(json(hole.uri(), "void"), out.done_for(100'000 + i)));
    }
    ASSERT_TRUE(d.post(json(healthy.uri(), std::to_string(i)), out.done_for(i)));
  }
  ASSERT_TRUE(out.wait_for(kHealthy));
  for (std::size_t i = 0; i < kHealthy; ++i) ASSERT_TRUE(out.get(i).delivered) << i;
  EXPECT_FALSE(out.has(100'000));  // still waiting on the hole
  EXPECT_GE(hole.connections(), 1u);
  d.stop(0ms);
  EXPECT_TRUE(out.each_once(100'000, 100'000 + kHole));
  for (std::size_t i = 0; i < kHole; ++i) EXPECT_EQ(out.get(100'000 + i).error, "stopped");
}

TEST(Deliverer, BlackholeTimesOut) {
  SinkOptions so;
  so.blackhole = true;
  Sink hole(so);
  Options o = fast_options();
  o.request_timeout = 200ms;
  o.attempts = 2;
  Deliverer d(o);
  Outcomes out;
  ASSERT_TRUE(d.post(json(hole.uri(), "void"), out.done_for(0)));
  ASSERT_TRUE(out.wait_for(1));
  EXPECT_EQ(out.get(0).error, "request timeout");
  EXPECT_EQ(out.get(0).attempts, 2u);
}

TEST(Deliverer, FullQueueRefusesAndCountsDrops) {
  SinkOptions so;
  so.blackhole = true;
  Sink hole(so);
  Options o = fast_options();
  o.queue_max_per_endpoint = 5;
  Deliverer d(o);
  Outcomes out;
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < 12; ++i) accepted += d.post(json(hole.uri(), "x"), out.done_for(i));
  EXPECT_EQ(accepted, 5u);
  auto s = d.stats();
  EXPECT_EQ(s.dropped, 7u);
  EXPECT_EQ(s.queued, 5u);
  EXPECT_EQ(s.endpoints, 1u);
  // Another endpoint still has room.
  Sink healthy;
  ASSERT_TRUE(d.post(json(healthy.uri(), "y"), out.done_for(100)));
  d.stop(0ms);
  EXPECT_EQ(out.size(), 6u);  // refused messages never get a done call
  EXPECT_TRUE(out.each_once(0, 5));
}

TEST(Deliverer, TotalQueueLimitSpansEndpoints) {
  SinkOptions so;
  so.blackhole = true;
  Sink hole_a(so), hole_b(so);
  Options o = fast_options();
  o.queue_max_total = 6;
  Deliverer d(o);
  Outcomes out;
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < 10; ++i) {
    accepted += d.post(json((i % 2 ? hole_a : hole_b).uri(), "x"), out.done_for(i));
  }
  EXPECT_EQ(accepted, 6u);
  EXPECT_EQ(d.stats().dropped, 4u);
  d.stop(0ms);
  EXPECT_EQ(out.size(), 6u);
}

TEST(Deliverer, RefusesUnusableUrisAndHeaders) {
  Deliverer d(fast_options());
  bool called = false;
  auto done = [&](const Outcome&) { called = true; };
  EXPECT_FALSE(d.post(json("ftp://127.0.0.1/x", "{}"), done));
  EXPECT_FALSE(d.post(json("not a uri", "{}"), done));
  EXPECT_FALSE(
      d.post(Message{"http://127.0.0.1:1/x", {{"X-A", "v\r\nX-B: injected"}}, "{}"}, done));
  EXPECT_EQ(d.stats().dropped, 3u);
  d.stop(0ms);
  EXPECT_FALSE(called);
}

TEST(Deliverer, UnresolvableHostFailsWithAResolveError) {
  Options o = fast_options();
  o.attempts = 1;
  Deliverer d(o);
  Outcomes out;
  ASSERT_TRUE(d.post(json("http://no-such-host.invalid/n", "{}"), out.done_for(0)));
  ASSERT_TRUE(out.wait_for(1));
  EXPECT_FALSE(out.get(0).delivered);
  EXPECT_TRUE(out.get(0).error.starts_with("resolve")) << out.get(0).error;
}

TEST(Deliverer, StopCallsEveryDoneExactlyOnce) {
  SinkOptions so;
  so.delay = 20ms;
  Sink slow(so);
  SinkOptions ho;
  ho.blackhole = true;
  Sink hole(ho);
  Deliverer d(fast_options());
  Outcomes out;
  constexpr std::size_t kCount = 200;
  for (std::size_t i = 0; i < kCount; ++i) {
    ASSERT_TRUE(d.post(json(i % 2 ? slow.uri() : hole.uri(), "x"), out.done_for(i)));
  }
  d.stop(100ms);
  EXPECT_EQ(out.size(), kCount);
  EXPECT_TRUE(out.each_once(0, kCount));
  std::size_t delivered = 0, stopped = 0;
  for (std::size_t i = 0; i < kCount; ++i) {
    const Outcome o = out.get(i);
    delivered += o.delivered;
    stopped += o.error == "stopped";
  }
  EXPECT_EQ(delivered + stopped, kCount);
  EXPECT_EQ(d.stats().queued, 0u);
  EXPECT_FALSE(d.post(json(slow.uri(), "late"), out.done_for(kCount)));
  d.stop(0ms);  // idempotent
}

TEST(Deliverer, DoneMayPostAndAThrowingDoneIsCounted) {
  Sink sink;
  Deliverer d(fast_options());
  Outcomes out;
  ASSERT_TRUE(d.post(json(sink.uri(), "1"), [&](const Outcome&) {
    d.post(json(sink.uri(), "2"), out.done_for(2));
    throw std::runtime_error("caller bug");
  }));
  ASSERT_TRUE(out.wait_for(1));
  EXPECT_TRUE(out.get(2).delivered);
  EXPECT_EQ(d.stats().callback_errors, 1u);
}

class DelivererTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new testing::TestCert(testing::make_self_signed_cert("cityroom-test-server"));
    other_ = new testing::TestCert(testing::make_self_signed_cert("cityroom-test-other"));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(server_->dir);
    std::filesystem::remove_all(other_->dir);
    delete server_;
    delete other_;
  }
  static SinkOptions tls_sink() {
    SinkOptions so;
    so.tls = true;
    so.cert_file = server_->cert_file;
    so.key_file = server_->key_file;
    return so;
  }
  static inline testing::TestCert* server_ = nullptr;
  static inline testing::TestCert* other_ = nullptr;
};

TEST_F(DelivererTls, DeliversOverHttpsWithTheRightCa) {
  Sink sink(tls_sink());
  Options o = fast_options();
  o.ca_file = server_->cert_file;
  Deliverer d(o);
  Outcomes out;
  for (std::size_t i = 0; i < 50; ++i) {
    ASSERT_TRUE(d.post(json(sink.uri(), std::to_string(i)), out.done_for(i)));
  }
  ASSERT_TRUE(out.wait_for(50));
  for (std::size_t i = 0; i < 50; ++i) ASSERT_TRUE(out.get(i).delivered) << out.get(i).error;
  EXPECT_EQ(sink.received().size(), 50u);
  EXPECT_LE(sink.connections(), 2u);
  EXPECT_TRUE(sink.uri().starts_with("https://"));
}

TEST_F(DelivererTls, WrongCaGivesATlsErrorWithoutRetries) {
  Sink sink(tls_sink());
  Options o = fast_options();
  o.ca_file = other_->cert_file;
  Deliverer d(o);
  Outcomes out;
  ASSERT_TRUE(d.post(json(sink.uri(), "{}"), out.done_for(0)));
  ASSERT_TRUE(out.wait_for(1));
  const Outcome r = out.get(0);
  EXPECT_FALSE(r.delivered);
  EXPECT_TRUE(r.error.starts_with("TLS: ")) << r.error;
  EXPECT_NE(r.error.find("certificate verify failed"), std::string::npos) << r.error;
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_TRUE(sink.received().empty());
}

TEST_F(DelivererTls, VerificationCanBeTurnedOff) {
  Sink sink(tls_sink());
  Options o = fast_options();
  o.verify_tls = false;
  Deliverer d(o);
  Outcomes out;
  ASSERT_TRUE(d.post(json(sink.uri(), "{}"), out.done_for(0)));
  ASSERT_TRUE(out.wait_for(1));
  EXPECT_TRUE(out.get(0).delivered) << out.get(0).error;
}

TEST(DelivererSetup, UnreadableCaFileIsAStartUpError) {
  Options o;
  o.ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(Deliverer{o}, std::invalid_argument);
}

}  // namespace
}  // namespace cityroom::delivery
