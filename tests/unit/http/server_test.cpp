// A real Server on 127.0.0.1:0 with a test router, driven byte by byte by TestClient.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

#include "http/http.h"
#include "test_client.h"

using namespace cityroom;
using namespace cityroom::http;
using namespace std::chrono_literals;
using test::TestClient;

namespace {

constexpr auto kSlowAnswerDelay = 300ms;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.add("GET", "/hello", [](Request&&, Respond respond) {
      respond(Response::json(200, R"({"hello":"world"})"));
    });
    router_.add("GET", "/entities/{entityId}/attrs/{attrId}", [](Request&& r, Respond respond) {
      respond(Response::json(200, r.param("entityId") + "|" + r.param("attrId")));
    });
    router_.add("GET", "/query", [](Request&& r, Respond respond) {
      std::string out;
      for (const auto& [name, value] : r.query) out += name + "=" + value + ";";
      respond(Response::json(200, out));
    });
    router_.add("POST", "/echo", [](Request&& r, Respond respond) {
      Response response = Response::json(201, r.body);
      response.headers = {{"content-type", "text/plain"}, {"x-remote", r.remote_address}};
      if (const auto* tag = r.header("x-tag")) response.headers.emplace_back("x-tag", *tag);
      respond(std::move(response));
    });
    router_.add("GET", "/slow", [this](Request&&, Respond respond) {
      slow_entered_ = true;
      std::lock_guard lock(workers_mutex_);
      workers_.emplace_back([respond = std::move(respond)] {
        std::this_thread::sleep_for(kSlowAnswerDelay);
        respond(Response::json(200, R"({"slow":true})"));
      });
    });
    router_.add("GET", "/throw", [](Request&&, Respond) { throw std::runtime_error("boom"); });
    router_.add("GET", "/twice", [](Request&&, Respond respond) {
      respond(Response::json(200, "first"));
      respond(Response::json(200, "second"));
    });
    router_.add("GET", "/forget", [](Request&&, Respond) {});
    router_.add("GET", "/metrics", [this](Request&&, Respond respond) {
      Response r = Response::json(200, metrics_.prometheus_text());
      r.headers = {{"content-type", "text/plain; version=0.0.4"}};
      respond(std::move(r));
    });
  }

  void TearDown() override {
    if (server_) server_->stop(2s);
    std::lock_guard lock(workers_mutex_);
    for (auto& worker : workers_) worker.join();
  }

  void start(Limits limits = {}) {
    limits.threads = 2;
    server_ = std::make_unique<Server>(limits, router_, metrics_);
    auto port = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(port) << port.error().detail;
    port_ = *port;
    server_->start();
  }

  // Metrics are recorded when the write completes, just after the client may see the bytes.
  bool metrics_eventually_contain(const std::string& needle) {
    for (int i = 0; i < 500; ++i) {
      if (metrics_.prometheus_text().find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  Router router_;
  Metrics metrics_;
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
  std::atomic<bool> slow_entered_{false};
  std::mutex workers_mutex_;
  std::vector<std::thread> workers_;
};

}  // namespace

TEST_F(ServerTest, RoutesAndDecodesPathParameters) {
  start();
  TestClient client(port_);
  auto r = client.get("/entities/urn%3Angsi-ld%3ABridge%3A1/attrs/speed");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "urn:ngsi-ld:Bridge:1|speed");
  EXPECT_EQ(r->header("server"), "cityroom");
  EXPECT_EQ(r->header("content-type"), "application/json");
  EXPECT_FALSE(r->header("date").empty());
}

TEST_F(ServerTest, DecodesQueryPairsAndKeepsPlusLiteral) {
  start();
  TestClient client(port_);
  auto r = client.get("/query?type=Bridge&q=speed%3E10+x&flag&empty=");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "type=Bridge;q=speed>10+x;flag=;empty=;");
  auto bad = client.get("/query?q=%zz");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("InvalidRequest"), std::string::npos);
}

TEST_F(ServerTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  start();
  TestClient client(port_);
  auto missing = client.get("/no/such/thing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("ResourceNotFound"), std::string::npos);
  EXPECT_NE(missing->body.find("/no/such/thing"), std::string::npos);

  ASSERT_TRUE(client.send("DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto wrong = client.read_response();
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(wrong->header("allow"), "GET, HEAD");
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  TestClient client(port_);
  auto first = client.get("/hello");
  auto second = client.get("/hello/");
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(metrics_.open_connections(), 1);
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  TestClient client(port_);
  ASSERT_TRUE(client.send(
      "GET /entities/a/attrs/b HTTP/1.1\r\nHost: t\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
      "GET /entities/c/attrs/d HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto a = client.read_response();
  auto b = client.read_response();
  auto c = client.read_response();
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->body, "a|b");
  EXPECT_EQ(b->status, 201);
  EXPECT_EQ(b->body, "hello");
  EXPECT_EQ(c->body, "c|d");
}

TEST_F(ServerTest, PostBodyHeadersAndRemoteAddressReachTheHandler) {
  start();
  TestClient client(port_);
  ASSERT_TRUE(client.send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nX-Tag: abc\r\nContent-Length: 11\r\n\r\n{\"a\":\"b c\"}"));
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, R"({"a":"b c"})");
  EXPECT_EQ(r->header("x-tag"), "abc");
  EXPECT_EQ(r->header("x-remote"), "127.0.0.1");
  EXPECT_EQ(r->header("content-type"), "text/plain");
}

TEST_F(ServerTest, Http10WithoutKeepAliveIsClosedAfterTheAnswer) {
  start();
  TestClient client(port_);
  ASSERT_TRUE(client.send("GET /hello HTTP/1.0\r\n\r\n"));
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(client.closed_by_peer());
}

TEST_F(ServerTest, HeadAnswersGetHeadersWithoutBody) {
  start();
  TestClient client(port_);
  ASSERT_TRUE(client.send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head = client.read_response(/*head=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("content-length"), "17");
  // If a body had been sent, it would be misread as the start of this answer.
  auto next = client.get("/entities/x/attrs/y");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->body, "x|y");
}

TEST_F(ServerTest, BodyOverTheLimitIs413) {
  start();
  TestClient client(port_);
  const std::string body(2 * 1024 * 1024, 'x');
  client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
              "\r\n\r\n");
  client.send(body);  // may be cut short once the server has answered
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("request body exceeds the limit of 1048576 bytes"), std::string::npos);
  EXPECT_EQ(r->header("connection"), "close");
}

TEST_F(ServerTest, ChunkedBodyOverTheLimitIs413) {
  Limits limits;
  limits.body_bytes_max = 1000;
  start(limits);
  TestClient client(port_);
  client.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk = "200\r\n" + std::string(0x200, 'y') + "\r\n";
  for (int i = 0; i < 4; ++i) client.send(chunk);
  client.send("0\r\n\r\n");
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("limit of 1000 bytes"), std::string::npos);
}

TEST_F(ServerTest, ChunkedBodyWithinTheLimitIsReassembled) {
  start();
  TestClient client(port_);
  client.send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "abcdefg");
}

TEST_F(ServerTest, HugeHeaderIs431) {
  start();
  TestClient client(port_);
  client.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20'000, 'h') +
              "\r\n\r\n");
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_NE(r->body.find("16384"), std::string::npos);
}

TEST_F(ServerTest, MalformedRequestIs400AndCloses) {
  start();
  TestClient client(port_);
  client.send("THIS IS NOT HTTP\r\n\r\n");
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("malformed HTTP request"), std::string::npos);
  EXPECT_TRUE(client.closed_by_peer());
}

TEST_F(ServerTest, RequestStalledMidBodyIs408) {
  Limits limits;
  limits.request_timeout = 300ms;
  start(limits);
  TestClient client(port_);
  client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_TRUE(client.closed_by_peer());
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosedQuietly) {
  Limits limits;
  limits.idle_timeout = 200ms;
  start(limits);
  TestClient client(port_);
  ASSERT_TRUE(client.get("/hello"));
  EXPECT_TRUE(client.closed_by_peer());  // no 408 bytes, just EOF
}

TEST_F(ServerTest, ConnectionsOverTheLimitGet503WithRetryAfter) {
  Limits limits;
  limits.connections_max = 1;
  start(limits);
  TestClient first(port_);
  ASSERT_TRUE(first.get("/hello"));  // the first connection is surely counted by now
  TestClient second(port_);
  second.send("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
  auto r = second.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_FALSE(r->header("retry-after").empty());
  EXPECT_TRUE(second.closed_by_peer());
  auto still = first.get("/hello");
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 200);
  EXPECT_TRUE(metrics_eventually_contain("cityroom_http_rejected_total{limit=\"connections\"} 1"));
}

TEST_F(ServerTest, HandlerMayAnswerFromAnotherThreadLater) {
  start();
  TestClient client(port_);
  auto r = client.get("/slow");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"slow":true})");
  auto next = client.get("/hello");  // and the connection carries on
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(ServerTest, HandlerFaultsAreAnswered) {
  start();
  TestClient client(port_);
  auto thrown = client.get("/throw");
  ASSERT_TRUE(thrown);
  EXPECT_EQ(thrown->status, 500);
  EXPECT_NE(thrown->body.find("InternalError"), std::string::npos);
  auto twice = client.get("/twice");
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->body, "first");
  auto forgotten = client.get("/forget");
  ASSERT_TRUE(forgotten);
  EXPECT_EQ(forgotten->status, 500);
  auto after = client.get("/hello");  // the extra "second" answer never shows up
  ASSERT_TRUE(after);
  EXPECT_EQ(after->body, R"({"hello":"world"})");
}

TEST_F(ServerTest, ExpectContinueGets100ThenTheAnswer) {
  start();
  TestClient client(port_);
  client.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  auto interim = client.read_response();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  client.send("data");
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "data");
}

TEST_F(ServerTest, StopWaitsForTheRequestInFlight) {
  start();
  TestClient client(port_);
  TestClient idle(port_);
  ASSERT_TRUE(idle.get("/hello"));
  client.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
  for (int i = 0; i < 500 && !slow_entered_; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(slow_entered_);
  server_->stop(5s);
  auto r = client.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"slow":true})");
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_TRUE(idle.closed_by_peer());
  EXPECT_THROW(TestClient late(port_), std::runtime_error);  // no longer accepting
}

TEST_F(ServerTest, StopGivesUpOnAHandlerThatNeverAnswersAfterTheGrace) {
  router_.add("GET", "/never", [this](Request&&, Respond respond) {
    std::lock_guard lock(workers_mutex_);
    // Keeps Respond alive past stop(); answering then must be harmless.
    workers_.emplace_back([respond = std::move(respond)] {
      std::this_thread::sleep_for(kSlowAnswerDelay * 2);
      respond(Response::json(200, "too late"));
    });
  });
  start();
  TestClient client(port_);
  client.send("GET /never HTTP/1.1\r\nHost: t\r\n\r\n");
  std::this_thread::sleep_for(50ms);
  server_->stop(100ms);
  EXPECT_TRUE(client.closed_by_peer());
}

TEST_F(ServerTest, MetricsCountRequestsByRouteAndStatus) {
  start();
  TestClient client(port_);
  ASSERT_TRUE(client.get("/entities/a/attrs/b"));
  ASSERT_TRUE(client.get("/entities/c/attrs/d"));
  ASSERT_TRUE(client.get("/missing"));
  EXPECT_TRUE(metrics_eventually_contain(
      "cityroom_http_requests_total{route=\"/entities/{entityId}/attrs/{attrId}\",status=\"200\"} 2"));
  EXPECT_TRUE(
      metrics_eventually_contain("cityroom_http_requests_total{route=\"unmatched\",status=\"404\"} 1"));
  auto scraped = client.get("/metrics");
  ASSERT_TRUE(scraped);
  EXPECT_NE(scraped->body.find("cityroom_http_request_duration_seconds_count"), std::string::npos);
  EXPECT_NE(scraped->body.find("cityroom_http_open_connections 1"), std::string::npos);
}

TEST(ServerListen, BindsIpv6LoopbackAndLocalhost) {
  Router router;
  router.add("GET", "/ping", [](Request&&, Respond respond) { respond(Response::json(200, "1")); });
  Metrics metrics;
  Limits limits;
  limits.threads = 1;
  {
    Server server(limits, router, metrics);
    auto port = server.listen("localhost", 0);
    ASSERT_TRUE(port) << port.error().detail;
    server.start();
    TestClient client(*port);
    auto r = client.get("/ping");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  Server server6(limits, router, metrics);
  auto port6 = server6.listen("::1", 0);
  if (!port6) GTEST_SKIP() << "no IPv6 loopback here: " << port6.error().detail;
  server6.start();
  TestClient client(*port6, "::1", AF_INET6);
  auto r = client.get("/ping");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(ServerListen, ReportsAnAddressThatCannotBeBound) {
  Router router;
  Metrics metrics;
  Server server(Limits{}, router, metrics);
  auto port = server.listen("203.0.113.7", 0);  // TEST-NET-3: not an address of this machine
  ASSERT_FALSE(port);
  EXPECT_NE(port.error().detail.find("203.0.113.7"), std::string::npos);
}

TEST(ServerLifetime, RespondKeptPastTheServersEndIsHarmless) {
  Router router;
  std::mutex kept_mutex;
  std::optional<Respond> kept;
  std::atomic<bool> entered{false};
  router.add("GET", "/keep", [&](Request&&, Respond respond) {
    std::lock_guard lock(kept_mutex);
    kept = std::move(respond);
    entered = true;
  });
  Metrics metrics;
  Limits limits;
  limits.threads = 1;
  auto server = std::make_unique<Server>(limits, router, metrics);
  auto port = server->listen("127.0.0.1", 0);
  ASSERT_TRUE(port);
  server->start();
  TestClient client(*port);
  client.send("GET /keep HTTP/1.1\r\nHost: t\r\n\r\n");
  for (int i = 0; i < 500 && !entered; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(entered);
  server.reset();  // stop(0) and destroy while the handler still holds Respond
  EXPECT_TRUE(client.closed_by_peer());
  std::lock_guard lock(kept_mutex);
  (*kept)(Response::json(200, "nobody hears this"));
  kept.reset();
}
