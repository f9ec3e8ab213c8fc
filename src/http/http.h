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

  // First header value by lower-case name, or nullptr.
  const std::string* header(std::string_view lower_name) const;
  // First query parameter by name, or nullptr. `query_all` for repeated ones.
  const std::string* query_param(std::string_view name) const;
  std::vector<std::string_view> query_all(std::string_view name) const;
  const std::string& param(std::string_view name) const;
};

struct Response {
  int status = 200;
  Headers headers;  // "content-type" etc.; Content-Length is set by the server
  std::string body;

  static Response problem(const base::Error& e);  // ProblemDetails JSON with its status
  static Response json(int status, std::string body);
  static Response empty(int status);
};

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

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
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
  // Stops accepting, waits up to `grace` for in-flight requests, then closes everything and
  // joins the threads.
  void stop(std::chrono::milliseconds grace);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Percent-decodes a URI component ('+' is left alone; it is literal in paths and NGSI-LD q).
std::optional<std::string> percent_decode(std::string_view s);

}  // namespace cityroom::http
