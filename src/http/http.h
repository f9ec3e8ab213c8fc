// http: cityroom's HTTP/1.1 server on Boost.Beast/Asio, and its router.
//
// Handlers never see Beast: a `Request` is plain strings, a `Response` likewise, and a handler
// answers through `Respond` — exactly once, from any thread — so a write can be answered from
// the store's writer thread after its commit without holding a network thread.
//
// The server runs one io_context on N threads (one per core by default), keeps connections
// alive, and enforces named limits: header bytes (431), body bytes (413), whole-request
// timeout (408 then close), concurrent connections (503 + close when over). Every limit answers
// with a ProblemDetails body; nothing hangs. `stop()` stops accepting, lets requests in flight
// finish (bounded by a deadline) and returns. Request counts by route and status and a latency
// histogram are kept in `Metrics` and rendered in Prometheus text format.
//
// Channels: a handler may answer `Response::websocket(...)` or `Response::event_stream(...)`
// instead of a plain answer; the connection then becomes a long-lived server-push `Channel`
// (RFC 6455 WebSocket text frames, or Server-Sent Events) that the handler's callbacks drive.
// A channel is not a request in flight (graceful stop does not wait for it to end by itself)
// and has no request/idle timeouts, but it keeps its place under connections_max. Each channel
// has one writer in flight and a byte-bounded queue, so a slow client costs at most
// channel_queue_bytes_max of memory; the sender learns of it from send() returning false.
// Silent peers are closed: WebSocket pings every channel_ping_interval and closes a peer that
// stays silent for two; both kinds close a peer whose write makes no progress for two.
// `Server::stop` closes channels (WebSocket 1001 going away) within its grace period.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <optional>
#include <shared_mutex>
#include <variant>
#include <vector>

#include "base/base.h"

namespace cityroom::http {

struct Limits {
  std::size_t header_bytes_max = 16 * 1024;
  std::size_t body_bytes_max = 1024 * 1024;
  std::chrono::milliseconds request_timeout{30'000};   // read of one whole request
  std::chrono::milliseconds idle_timeout{120'000};     // keep-alive connection with no request
  std::size_t connections_max = 4096;
  std::size_t threads = 0;  // 0 = std::thread::hardware_concurrency()

  // Channels (WebSocket / SSE).
  std::size_t channel_queue_bytes_max = 4 * 1024 * 1024;  // queued-but-unsent, per channel
  std::size_t channel_message_bytes_max = 64 * 1024;     // one incoming WebSocket message
  std::chrono::milliseconds channel_ping_interval{20'000};  // WS ping / SSE keep-alive comment
  std::chrono::milliseconds channel_close_timeout{1'000};   // flush + close handshake, at most
};

// Header names are stored lower-case.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;                 // "GET", "POST", ...
  std::string target;                 // raw target as received, e.g. /a/b%3Ac?x=1
  std::string path;                   // raw path (not decoded), without the query
  std::vector<std::pair<std::string, std::string>> query;  // decoded name/value pairs, in order
  Headers headers;
  std::string body;
  std::string remote_address;
  // Path parameters captured by the router ({id} → decoded segment).
  std::map<std::string, std::string, std::less<>> params;
  std::string route;                  // the matched route pattern, for metrics/logs
  bool has_content_length = false;
  unsigned version = 11;              // HTTP version × 10: 10 or 11

  // First header value by lower-case name, or nullptr.
  const std::string* header(std::string_view lower_name) const;
  // First query parameter by name, or nullptr. `query_all` for repeated ones.
  const std::string* query_param(std::string_view name) const;
  std::vector<std::string_view> query_all(std::string_view name) const;
  const std::string& param(std::string_view name) const;
};

// A long-lived server-push connection taken over from an HTTP request. Every member may be
// called from any thread. The object stays valid as long as it is referenced, even after the
// connection ended or the Server stopped (it then refuses everything).
class Channel {
 public:
  virtual ~Channel() = default;
  // Queues one text message: WebSocket: one text frame (event_id is ignored); SSE: one event of
  // `data:` lines (a message's CR, LF or CRLF line breaks split it into several), preceded by
  // `id: <event_id>` when event_id is not empty, so the browser's EventSource sends it back as
  // Last-Event-ID on reconnect. Never blocks and never waits on the network. Returns false and
  // queues nothing when the channel is not open, when the queued-but-unsent bytes would exceed
  // Limits::channel_queue_bytes_max (the caller decides: live resyncs the client), or when
  // event_id holds CR, LF or NUL (it could not be framed). A message must be valid UTF-8 for
  // a WebSocket peer to accept it.
  virtual bool send(std::string message, std::string event_id = {}) = 0;
  // Flushes what is queued (bounded by Limits::channel_close_timeout), then closes (WebSocket:
  // close frame with `code`, 1000..4999 or it is sent as 1000, and `reason`, cut to 123
  // bytes) and ends the connection. send() returns false from this call on. Idempotent.
  virtual void close(std::uint16_t code = 1000, std::string reason = {}) = 0;
  // Bytes accepted by send() and not yet written to the socket.
  virtual std::size_t queued_bytes() const = 0;
  // True from `opened` until close() is called or the connection ends.
  virtual bool open() const = 0;
  virtual std::string_view remote_address() const = 0;
};

// A channel's events. They run on one of the server's I/O threads, one at a time per channel
// (or on the thread calling Server::stop, while it stops), so they must not block.
// `closed` is called exactly once if and only if `opened` was; if the handshake fails (or the
// server is stopping) neither is called. The channel drops its callbacks after `closed`, so
// they may hold the shared_ptr<Channel> without making a cycle that outlives the connection.
struct ChannelCallbacks {
  // Right after the handshake (SSE: once the response head is queued), before any `received`.
  std::function<void(std::shared_ptr<Channel>)> opened;
  // WebSocket only: one complete text message from the client, in order. Optional.
  std::function<void(std::string message)> received;
  // When the connection ended for any reason: client gone, close(), server stop, protocol
  // error (oversize message → 1009, binary message → 1003), ping or write timeout.
  std::function<void()> closed;
};

enum class ChannelKind : std::uint8_t { kWebSocket = 0, kEventStream = 1 };
inline constexpr std::size_t kChannelKinds = 2;

struct ChannelUpgrade {
  ChannelKind kind = ChannelKind::kWebSocket;
  ChannelCallbacks callbacks;
};

struct Response {
  int status = 200;
  Headers headers;  // "content-type" etc.; Content-Length is set by the server
  std::string body;
  // Set (by websocket()/event_stream()) to turn the connection into a Channel instead of
  // writing status/body. `headers` are added to the handshake / event-stream response head.
  std::optional<ChannelUpgrade> channel;

  static Response problem(const base::Error& e);  // ProblemDetails JSON with its status
  static Response json(int status, std::string body);
  static Response empty(int status);
  // Accepts a WebSocket upgrade (101). If the request is not a valid RFC 6455 upgrade (see
  // is_websocket_upgrade) the client gets 400 ProblemDetails instead, no callback runs, and
  // the connection goes on serving HTTP requests.
  static Response websocket(ChannelCallbacks callbacks);
  // Answers 200 text/event-stream (no-cache, x-accel-buffering: no) and keeps the connection
  // as an SSE channel; the client cannot send.
  static Response event_stream(ChannelCallbacks callbacks);
};

// True when `request` is a WebSocket opening handshake this server accepts: GET, HTTP/1.1,
// `Connection: upgrade`, `Upgrade: websocket`, a Sec-WebSocket-Key of 16 bytes in base64 and
// Sec-WebSocket-Version 13.
bool is_websocket_upgrade(const Request& request);

// Called exactly once. Safe to call from any thread. A second call is ignored (and logged); if
// every copy is dropped without a call, the client gets 500; a call after the Server stopped
// (or was destroyed) is a harmless no-op.
using Respond = std::function<void(Response)>;
using Handler = std::function<void(Request&& request, Respond respond)>;

// Routes are matched on the raw path; `{name}` captures one percent-decoded segment.
// A path that matches a pattern under another method answers 405 with Allow.
class Router {
 public:
  void add(std::string_view method, std::string_view pattern, Handler handler);
  // Finds the handler; fills request.params and request.route. On no match returns the error
  // response (404 ResourceNotFound or 405 with an Allow header).
  std::variant<const Handler*, Response> match(Request& request) const;

  // Cross-cutting HTTP policy (security headers, CORS; set by the access module), run by the
  // server for every request it reads: `before` may answer it before routing (a CORS
  // preflight); `headers` are added to whatever answers it, errors and handshakes included.
  // Both run on I/O threads and must be quick and thread-safe. Set before Server::start.
  struct Hooks {
    std::function<std::optional<Response>(const Request&)> before;
    std::function<Headers(const Request&)> headers;
  };
  void set_hooks(Hooks hooks) { hooks_ = std::move(hooks); }
  const Hooks& hooks() const { return hooks_; }

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
  Hooks hooks_;
};

// Thread-safe counters for /metrics. Cheap on the hot path: one shared (reader) lock to find
// the route's counters, then relaxed atomic increments; the exclusive lock is taken only the
// first time a route is seen and when rendering.
class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void observe(std::string_view route, int status, std::chrono::microseconds latency);
  // Prometheus text exposition (version 0.0.4) of the HTTP metrics.
  std::string prometheus_text() const;
  void connection_opened();
  void connection_closed();
  std::int64_t open_connections() const { return open_connections_.load(); }
  void rejected(std::string_view limit);  // a named limit turned a request away
  void channel_opened(ChannelKind kind);
  void channel_closed(ChannelKind kind);
  void channel_messages_sent(ChannelKind kind, std::uint64_t messages);
  void channel_send_refused(ChannelKind kind);  // send() refused for a full queue
  std::int64_t open_channels(ChannelKind kind) const;

  // Upper bounds (seconds) of the latency histogram buckets; +Inf is implied.
  static constexpr std::size_t kLatencyBuckets = 16;

 private:
  struct RouteCounters;  // per-route status counters (atomics), defined in metrics.cpp
  mutable std::shared_mutex mutex_;  // guards the shape of the maps, not the counts
  std::map<std::string, std::unique_ptr<RouteCounters>, std::less<>> requests_;
  std::map<std::string, std::uint64_t, std::less<>> rejected_;
  std::array<std::atomic<std::uint64_t>, kLatencyBuckets> latency_buckets_{};
  std::atomic<std::uint64_t> latency_sum_us_{0};
  std::atomic<std::uint64_t> latency_count_{0};
  std::atomic<std::int64_t> open_connections_{0};
  std::array<std::atomic<std::int64_t>, kChannelKinds> open_channels_{};
  std::array<std::atomic<std::uint64_t>, kChannelKinds> channel_messages_sent_{};
  std::array<std::atomic<std::uint64_t>, kChannelKinds> channel_sends_refused_{};
};

class Server {
 public:
  Server(Limits limits, const Router& router, Metrics& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; returns the actual port (port 0 picks a free one).
  base::Result<std::uint16_t> listen(std::string_view host, std::uint16_t port);
  // Starts the worker threads; returns at once.
  void start();
  // Stops accepting, closes channels (flushing them, bounded by channel_close_timeout), waits
  // up to `grace` for in-flight requests and closing channels, then closes everything and
  // joins the threads. Every opened channel has seen `closed` when this returns.
  void stop(std::chrono::milliseconds grace);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Percent-decodes a URI component ('+' is left alone; it is literal in paths and NGSI-LD q).
std::optional<std::string> percent_decode(std::string_view s);

}  // namespace cityroom::http
