// Server-push channels on a real Server (127.0.0.1:0): WebSocket through a Beast client whose
// every wait is bounded, SSE and raw handshakes through TestClient.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "http/http.h"
#include "test_client.h"

using namespace cityroom;
using namespace cityroom::http;
using namespace std::chrono_literals;
using test::TestClient;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto kWaitMax = 10s;  // a bound against hangs, never a timing expectation
constexpr std::string_view kUpgradeRequest =
    "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// "m" + to_string(i) trips a false -Wrestrict in g++ 12; appending does not.
std::string numbered(std::string_view prefix, int i) {
  std::string out(prefix);
  out += std::to_string(i);
  return out;
}

// A WebSocket client whose reads give up after kWaitMax instead of hanging a test.
class WsClient {
 public:
  explicit WsClient(std::uint16_t port, const std::string& target = "/ws") : ws_(ioc_) {
    ws_.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    std::optional<error_code> done;
    ws_.async_handshake("127.0.0.1", target, [&](error_code ec) { done = ec; });
    run(done);
    if (!done || *done) throw std::runtime_error("WebSocket handshake failed");
  }

  void send(const std::string& message, bool binary = false) {
    ws_.binary(binary);
    ws_.write(asio::buffer(message));
  }

  // One message, or nullopt when the connection closed (see close_code()) or timed out.
  std::optional<std::string> read() {
    buffer_.clear();
    std::optional<error_code> done;
    ws_.async_read(buffer_, [&](error_code ec, std::size_t) { done = ec; });
    run(done);
    if (!done || *done) return std::nullopt;
    return beast::buffers_to_string(buffer_.data());
  }

  int close_code() const { return ws_.reason().code; }
  void close() { ws_.close(websocket::close_code::normal); }
  void drop() { ws_.next_layer().close(); }

 private:
  void run(std::optional<error_code>& done) {
    ioc_.restart();
    ioc_.run_for(kWaitMax);
    if (done) return;
    error_code ignored;
    ws_.next_layer().close(ignored);  // aborts the operation, so its handler runs now
    ioc_.restart();
    ioc_.run();
  }

  asio::io_context ioc_;
  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
};

// What the channel callbacks saw, shared with the test thread.
struct Seen {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::shared_ptr<Channel>> channels;
  std::vector<std::string> received;
  int closed = 0;

  template <class Predicate>
  bool wait(Predicate predicate) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, kWaitMax, [&] { return predicate(); });
  }
  std::shared_ptr<Channel> channel(std::size_t i) {
    std::lock_guard lock(mutex);
    return channels.at(i);
  }
  int closed_count() {
    std::lock_guard lock(mutex);
    return closed;
  }
};

class ChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.add("GET", "/ws", [this](Request&&, Respond respond) {
      respond(Response::websocket(callbacks(/*echo=*/true)));
    });
    router_.add("GET", "/sse", [this](Request&&, Respond respond) {
      Response response = Response::event_stream(callbacks(/*echo=*/false));
      response.headers.emplace_back("x-stream", "live");
      respond(std::move(response));
    });
    router_.add("GET", "/hello", [](Request&&, Respond respond) {
      respond(Response::json(200, R"({"hello":"world"})"));
    });
  }

  void TearDown() override {
    if (server_) server_->stop(2s);
    std::lock_guard lock(seen_.mutex);
    seen_.channels.clear();
  }

  ChannelCallbacks callbacks(bool echo) {
    ChannelCallbacks c;
    c.opened = [this](std::shared_ptr<Channel> channel) {
      std::lock_guard lock(seen_.mutex);
      seen_.channels.push_back(std::move(channel));
      seen_.changed.notify_all();
    };
    if (echo) {
      // The channel opened last on this route answers; tests open one echo channel at a time.
      c.received = [this](std::string message) {
        std::shared_ptr<Channel> channel;
        {
          std::lock_guard lock(seen_.mutex);
          seen_.received.push_back(message);
          channel = seen_.channels.back();
          seen_.changed.notify_all();
        }
        channel->send("echo:" + message);
      };
    }
    c.closed = [this] {
      std::lock_guard lock(seen_.mutex);
      ++seen_.closed;
      seen_.changed.notify_all();
    };
    return c;
  }

  void start(Limits limits = {}) {
    limits.threads = 2;
    server_ = std::make_unique<Server>(limits, router_, metrics_);
    auto port = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(port) << port.error().detail;
    port_ = *port;
    server_->start();
  }

  bool wait_opened(std::size_t n) {
    return seen_.wait([&] { return seen_.channels.size() >= n; });
  }
  bool wait_closed(int n) {
    return seen_.wait([&] { return seen_.closed >= n; });
  }
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
  Seen seen_;
};

// ---- WebSocket ------------------------------------------------------------------------------

TEST_F(ChannelTest, WebSocketEchoesInOrderInBothDirections) {
  start();
  WsClient client(port_);
  ASSERT_TRUE(wait_opened(1));
  EXPECT_TRUE(seen_.channel(0)->open());
  EXPECT_EQ(seen_.channel(0)->remote_address(), "127.0.0.1");
  constexpr int kMessages = 200;
  for (int i = 0; i < kMessages; ++i) client.send(numbered("m", i));
  for (int i = 0; i < kMessages; ++i) {
    auto echo = client.read();
    ASSERT_TRUE(echo) << "message " << i;
    EXPECT_EQ(*echo, numbered("echo:m", i));
  }
  std::lock_guard lock(seen_.mutex);
  ASSERT_EQ(seen_.received.size(), std::size_t{kMessages});
  for (int i = 0; i < kMessages; ++i) EXPECT_EQ(seen_.received[i], numbered("m", i));
}

TEST_F(ChannelTest, ServerPushOfManyMessagesArrivesInOrder) {
  start();
  WsClient client(port_);
  ASSERT_TRUE(wait_opened(1));
  constexpr int kMessages = 20'000;
  auto channel = seen_.channel(0);
  // From a thread of the caller's own, as the store's fan-out would.
  std::thread pusher([&] {
    for (int i = 0; i < kMessages; ++i) {
      while (!channel->send(numbered("push ", i))) std::this_thread::sleep_for(1ms);
    }
  });
  int in_order = 0;
  for (int i = 0; i < kMessages; ++i) {
    auto message = client.read();
    if (!message) break;
    if (*message == numbered("push ", i)) ++in_order;
  }
  pusher.join();
  EXPECT_EQ(in_order, kMessages);
  EXPECT_TRUE(metrics_eventually_contain(
      "cityroom_http_channel_messages_sent_total{kind=\"websocket\"} 20000"));
}

TEST_F(ChannelTest, FullQueueRefusesSendsAndStaysBoundedThenCloses) {
  Limits limits;
  limits.channel_queue_bytes_max = 64 * 1024;
  limits.channel_close_timeout = 200ms;
  start(limits);
  TestClient client(port_);  // completes the handshake, then never reads
  ASSERT_TRUE(client.send(kUpgradeRequest));
  auto head = client.read_until("\r\n\r\n");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->substr(0, 12), "HTTP/1.1 101");
  ASSERT_TRUE(wait_opened(1));
  auto channel = seen_.channel(0);

  const std::string message(16 * 1024, 'x');
  bool refused = false;
  for (int i = 0; i < 100'000 && !refused; ++i) refused = !channel->send(message);
  EXPECT_TRUE(refused) << "the kernel buffers and the queue never filled";
  EXPECT_LE(channel->queued_bytes(), limits.channel_queue_bytes_max);
  EXPECT_TRUE(channel->open());
  EXPECT_TRUE(metrics_eventually_contain("cityroom_http_channel_sends_refused_total"
                                         "{kind=\"websocket\"} "));
  EXPECT_EQ(metrics_.prometheus_text().find(
                "cityroom_http_channel_sends_refused_total{kind=\"websocket\"} 0\n"),
            std::string::npos);

  channel->close(4000, "resync");
  EXPECT_FALSE(channel->open());
  EXPECT_FALSE(channel->send("after close"));
  ASSERT_TRUE(wait_closed(1));
  EXPECT_EQ(seen_.closed_count(), 1);
}

TEST_F(ChannelTest, OversizeMessageClosesWith1009) {
  Limits limits;
  limits.channel_message_bytes_max = 1024;
  start(limits);
  WsClient client(port_);
  ASSERT_TRUE(wait_opened(1));
  client.send(std::string(2000, 'a'));
  EXPECT_FALSE(client.read());
  EXPECT_EQ(client.close_code(), 1009);
  ASSERT_TRUE(wait_closed(1));
  EXPECT_TRUE(seen_.received.empty());
}

TEST_F(ChannelTest, BinaryMessageClosesWith1003) {
  start();
  WsClient client(port_);
  ASSERT_TRUE(wait_opened(1));
  client.send("\x01\x02", /*binary=*/true);
  EXPECT_FALSE(client.read());
  EXPECT_EQ(client.close_code(), 1003);
  ASSERT_TRUE(wait_closed(1));
}

TEST_F(ChannelTest, ServerCloseSendsCodeAndReasonAfterQueuedMessages) {
  start();
  WsClient client(port_);
  ASSERT_TRUE(wait_opened(1));
  auto channel = seen_.channel(0);
  ASSERT_TRUE(channel->send("last words"));
  channel->close(4001, "resync");
  channel->close(4002, "twice is ignored");
  auto message = client.read();
  ASSERT_TRUE(message);
  EXPECT_EQ(*message, "last words");
  EXPECT_FALSE(client.read());
  EXPECT_EQ(client.close_code(), 4001);
  ASSERT_TRUE(wait_closed(1));
  EXPECT_EQ(seen_.closed_count(), 1);
}

TEST_F(ChannelTest, ClientLeavingCallsClosedExactlyOnce) {
  start();
  {
    WsClient polite(port_);
    ASSERT_TRUE(wait_opened(1));
    polite.close();
    ASSERT_TRUE(wait_closed(1));
  }
  {
    WsClient rude(port_);
    ASSERT_TRUE(wait_opened(2));
    rude.drop();
    ASSERT_TRUE(wait_closed(2));
  }
  EXPECT_FALSE(seen_.channel(0)->send("gone"));
  EXPECT_FALSE(seen_.channel(1)->open());
  server_->stop(2s);
  EXPECT_EQ(seen_.closed_count(), 2);
  EXPECT_NE(metrics_.prometheus_text().find("cityroom_http_channels_open{kind=\"websocket\"} 0"),
            std::string::npos);
}

TEST_F(ChannelTest, SilentPeerIsClosedAfterTwoPingIntervals) {
  Limits limits;
  limits.channel_ping_interval = 50ms;
  start(limits);
  TestClient client(port_);  // never answers the pings
  ASSERT_TRUE(client.send(kUpgradeRequest));
  ASSERT_TRUE(client.read_until("\r\n\r\n"));
  ASSERT_TRUE(wait_opened(1));
  ASSERT_TRUE(wait_closed(1));
  EXPECT_TRUE(client.wait_for_close());
}

TEST_F(ChannelTest, GarbageFramesAndInvalidUtf8CloseTheChannelCleanly) {
  Limits limits;
  limits.channel_ping_interval = 50ms;
  start(limits);
  TestClient garbage(port_);
  ASSERT_TRUE(garbage.send(kUpgradeRequest));
  ASSERT_TRUE(garbage.read_until("\r\n\r\n"));
  ASSERT_TRUE(wait_opened(1));
  // FIN + all reserved bits + reserved opcode 0xF, then a 64-bit length: a protocol error.
  constexpr char kGarbage[] = "\xff\xff\xff\xff\x00\x01 not a frame";
  ASSERT_TRUE(garbage.send(std::string_view(kGarbage, sizeof kGarbage - 1)));
  EXPECT_TRUE(garbage.wait_for_close());
  ASSERT_TRUE(wait_closed(1));  // though the client never closes its end

  WsClient client(port_);
  ASSERT_TRUE(wait_opened(2));
  client.send("\xc3\x28");  // not UTF-8, in a text frame
  EXPECT_FALSE(client.read());
  EXPECT_EQ(client.close_code(), 1007);
  ASSERT_TRUE(wait_closed(2));
  EXPECT_EQ(seen_.closed_count(), 2);
}

TEST_F(ChannelTest, PlainRequestToWebSocketRouteIs400AndConnectionGoesOn) {
  start();
  TestClient client(port_);
  auto plain = client.get("/ws");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 400);
  EXPECT_NE(plain->body.find("WebSocket"), std::string::npos);

  ASSERT_TRUE(client.send(
      "GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"));
  auto old_version = client.read_response();
  ASSERT_TRUE(old_version);
  EXPECT_EQ(old_version->status, 400);
  EXPECT_EQ(old_version->header("sec-websocket-version"), "13");

  auto hello = client.get("/hello");
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
  EXPECT_EQ(seen_.closed_count(), 0);
  EXPECT_TRUE(seen_.channels.empty());
}

TEST_F(ChannelTest, HttpKeepsWorkingWhileChannelsAreOpen) {
  start();
  WsClient ws(port_);
  TestClient sse(port_);
  ASSERT_TRUE(sse.send("GET /sse HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(wait_opened(2));
  for (int i = 0; i < 3; ++i) {
    TestClient plain(port_);
    auto hello = plain.get("/hello");
    ASSERT_TRUE(hello);
    EXPECT_EQ(hello->status, 200);
  }
  EXPECT_TRUE(metrics_eventually_contain("cityroom_http_channels_open{kind=\"websocket\"} 1"));
  EXPECT_TRUE(metrics_eventually_contain("cityroom_http_channels_open{kind=\"sse\"} 1"));
}

TEST_F(ChannelTest, ChannelsCountTowardConnectionsMax) {
  Limits limits;
  limits.connections_max = 1;
  start(limits);
  {
    WsClient ws(port_);
    ASSERT_TRUE(wait_opened(1));
    TestClient turned_away(port_);
    auto busy = turned_away.get("/hello");
    ASSERT_TRUE(busy);
    EXPECT_EQ(busy->status, 503);
  }
  ASSERT_TRUE(wait_closed(1));  // the channel's place is free again
  TestClient plain(port_);
  auto hello = plain.get("/hello");
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
}

TEST_F(ChannelTest, StopClosesWebSocketAndSseChannelsWithinGrace) {
  start();
  WsClient ws(port_);
  TestClient sse(port_);
  ASSERT_TRUE(sse.send("GET /sse HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(sse.read_until("\r\n\r\n"));
  ASSERT_TRUE(wait_opened(2));

  constexpr auto kGrace = 5s;
  const auto begun = std::chrono::steady_clock::now();
  std::thread stopper([&] { server_->stop(kGrace); });
  EXPECT_FALSE(ws.read());  // the client answers the close frame while reading
  EXPECT_EQ(ws.close_code(), 1001);
  EXPECT_TRUE(sse.wait_for_close());
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - begun, kGrace);
  EXPECT_EQ(seen_.closed_count(), 2);
  EXPECT_FALSE(seen_.channel(0)->send("late"));
  EXPECT_FALSE(seen_.channel(1)->send("late"));
  seen_.channel(0)->close();  // harmless after the stop
}

// ---- Server-Sent Events ---------------------------------------------------------------------

TEST_F(ChannelTest, SseAnswersEventStreamHeadAndFramesEvents) {
  start();
  TestClient client(port_);
  ASSERT_TRUE(client.send("GET /sse HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head = client.read_until("\r\n\r\n");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_NE(head->find("Content-Type: text/event-stream\r\n"), std::string::npos);
  EXPECT_NE(head->find("Cache-Control: no-cache\r\n"), std::string::npos);
  EXPECT_NE(head->find("X-Accel-Buffering: no\r\n"), std::string::npos);
  EXPECT_NE(head->find("x-stream: live\r\n"), std::string::npos);
  EXPECT_EQ(head->find("Content-Length"), std::string::npos);
  EXPECT_EQ(head->find("Connection: close"), std::string::npos);

  ASSERT_TRUE(wait_opened(1));
  auto channel = seen_.channel(0);
  EXPECT_TRUE(channel->send("plain"));
  EXPECT_TRUE(channel->send("{\"a\":1}", "42"));
  EXPECT_TRUE(channel->send("line 1\nline 2\r\nline 3\rline 4", "43"));
  EXPECT_TRUE(channel->send(""));
  EXPECT_FALSE(channel->send("bad id", "4\n4"));
  EXPECT_EQ(client.read_until("\n\n"), "data: plain\n\n");
  EXPECT_EQ(client.read_until("\n\n"), "id: 42\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(client.read_until("\n\n"),
            "id: 43\ndata: line 1\ndata: line 2\ndata: line 3\ndata: line 4\n\n");
  EXPECT_EQ(client.read_until("\n\n"), "data: \n\n");
  EXPECT_TRUE(metrics_eventually_contain(
      "cityroom_http_channel_messages_sent_total{kind=\"sse\"} 4"));
}

TEST_F(ChannelTest, SseSendsKeepAliveCommentsWhenQuiet) {
  Limits limits;
  limits.channel_ping_interval = 20ms;
  start(limits);
  TestClient client(port_);
  ASSERT_TRUE(client.send("GET /sse HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(client.read_until("\r\n\r\n"));
  EXPECT_EQ(client.read_until("\n\n"), ":\n\n");
  EXPECT_EQ(client.read_until("\n\n"), ":\n\n");
}

TEST_F(ChannelTest, SseNoticesTheClientLeaving) {
  start();
  {
    TestClient client(port_);
    ASSERT_TRUE(client.send("GET /sse HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(client.read_until("\r\n\r\n"));
    ASSERT_TRUE(wait_opened(1));
  }
  ASSERT_TRUE(wait_closed(1));
  EXPECT_FALSE(seen_.channel(0)->open());
  EXPECT_FALSE(seen_.channel(0)->send("nobody listens"));
  server_->stop(2s);
  EXPECT_EQ(seen_.closed_count(), 1);
}

// ---- the upgrade check ----------------------------------------------------------------------

TEST(WebSocketUpgrade, RecognisesValidHandshakesOnly) {
  Request r;
  r.method = "GET";
  r.headers = {{"host", "t"},
               {"connection", "keep-alive, Upgrade"},
               {"upgrade", "WebSocket"},
               {"sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="},
               {"sec-websocket-version", "13"}};
  EXPECT_TRUE(is_websocket_upgrade(r));
  Request post = r;
  post.method = "POST";
  EXPECT_FALSE(is_websocket_upgrade(post));
  Request http10 = r;
  http10.version = 10;
  EXPECT_FALSE(is_websocket_upgrade(http10));
  Request short_key = r;
  short_key.headers[3].second = "c2hvcnQ=";
  EXPECT_FALSE(is_websocket_upgrade(short_key));
  Request no_upgrade = r;
  no_upgrade.headers[2].second = "h2c";
  EXPECT_FALSE(is_websocket_upgrade(no_upgrade));
  EXPECT_FALSE(is_websocket_upgrade(Request{}));
}

}  // namespace
