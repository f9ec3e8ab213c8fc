// delivery: sends notifications (one HTTP/1.1 POST each) to user-given http:// and https://
// endpoints without ever blocking the caller, and tells the caller how each one ended.
//
// The rule it keeps: a slow or dead endpoint never slows the caller or any other endpoint, and
// nothing is silently lost. Every message `post()` accepts gets exactly one `done` call, with a
// delivered outcome (a 2xx answer) or an error; a message `post()` refuses (queue full, unusable
// URI or header, stopped) gets none and `post()` returns false, so the caller counts the drop.
//
// Model. Endpoints are keyed by scheme+host+port. Each endpoint has a FIFO queue (at most
// `queue_max_per_endpoint` messages accepted and not yet finished), up to
// `connections_per_endpoint` keep-alive connections, and a circuit breaker: after
// `breaker_failures` failed attempts in a row the endpoint is left alone for a while (doubling
// from `breaker_open_min` to `breaker_open_max`), then one probe is sent; while it is open its
// queue just fills, costs nothing, and `post()` refuses once the queue is full. A failed attempt
// (resolve/connect/TLS transport error, timeout, 5xx, 429) is retried up to `attempts` in all,
// after `retry_delay` × 2^n with jitter; other answers (3xx, 4xx) and a server certificate that
// fails verification end the message at once (redirects are not followed). A message not
// finished `give_up_after` after it was accepted fails with its last error (or "expired").
// Messages leave the queue in order; with more than one connection they may complete out of
// order, and a retried message is overtaken by later ones. A request that fails on a reused
// keep-alive connection because the server had closed it is re-sent once on a new connection
// (not counted as an attempt), so delivery is at-least-once.
//
// Threads. The Deliverer owns one io_context run by `threads` threads. Every endpoint's work —
// and so every `done` call for it — runs serialized on that endpoint's strand on one of those
// threads. `done` must return quickly and must not block or throw (an exception is caught and
// counted in Stats::callback_errors); it may call `post()`. `post()`, `stats()` are safe from any
// thread; `post()` never waits for I/O (it takes one short internal lock). `stop()` must not
// be called from inside `done`.
//
// Limits: queued messages per endpoint and in all, endpoints at once (`endpoints_max`, idle
// endpoints are forgotten after `idle_timeout`), response header and body bytes; so memory stays
// bounded. No global state: two Deliverers are independent.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/base.h"

namespace cityroom::delivery {

struct Options {
  std::size_t queue_max_per_endpoint = 10'000;        // accepted, not yet finished, per endpoint
  std::size_t queue_max_total = 100'000;              // the same over all endpoints
  std::size_t connections_per_endpoint = 2;           // keep-alive connections, reused
  std::size_t endpoints_max = 10'000;                 // distinct scheme+host+port at once
  std::chrono::milliseconds connect_timeout{3'000};   // resolve, TCP connect, TLS handshake
  std::chrono::milliseconds request_timeout{5'000};   // write the request, read the answer
  std::chrono::milliseconds idle_timeout{30'000};     // close an unused connection; forget an
                                                      // endpoint with nothing to do
  std::size_t attempts = 3;                           // per message, first try included
  std::chrono::milliseconds retry_delay{200};         // before retry n: retry_delay × 2^(n-1),
  std::chrono::milliseconds retry_delay_max{10'000};  // capped, then jittered to 50–100 %
  std::size_t breaker_failures = 5;                   // failed attempts in a row that open it
  std::chrono::milliseconds breaker_open_min{1'000};  // first pause; doubles per failed probe
  std::chrono::milliseconds breaker_open_max{30'000};
  std::chrono::milliseconds give_up_after{60'000};  // a message's whole life after post()
  std::size_t threads = 1;                          // delivery threads (1–2 is plenty)
  bool verify_tls = true;  // verify the server certificate chain and host name
  std::string ca_file;     // PEM CA bundle to trust; empty = the system store
};

// Extra request headers, e.g. {"Content-Type","application/json"}, {"Link", ...}, and the
// subscription's receiverInfo. Host, Content-Length, Transfer-Encoding and Connection are set
// by the Deliverer; caller values for them are ignored.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Message {
  std::string uri;  // http://host[:port]/path?query or https://...; no user info
  Headers headers;
  std::string body;
};

struct Outcome {
  bool delivered = false;  // the endpoint answered 2xx
  int status = 0;          // last HTTP status received, 0 when none
  // Empty when delivered; else e.g. "HTTP 500", "HTTP 404", "connect timeout",
  // "connect: Connection refused", "request timeout", "TLS: certificate verify failed",
  // "resolve: Host not found ...", "expired", "stopped".
  std::string error;
  std::size_t attempts = 0;  // attempts made (0 when it never reached the network)
  base::Micros at = 0;       // when the outcome became known
};

using Done = std::function<void(const Outcome&)>;

// Ok when `uri` is something post() can deliver to; else an error (kBadRequestData) saying why,
// for validating a subscription's endpoint when it is created.
base::Result<void> check_uri(std::string_view uri);

class Deliverer {
 public:
  // Starts the threads. Throws std::invalid_argument when `ca_file` cannot be loaded.
  explicit Deliverer(Options options);
  ~Deliverer();  // stop(0 ms): whatever is unfinished ends with "stopped"
  Deliverer(const Deliverer&) = delete;
  Deliverer& operator=(const Deliverer&) = delete;

  // Accepts `m` for delivery and returns true; `done` will be called exactly once, later, on a
  // delivery thread. Returns false and never calls `done` when the endpoint's queue (or all
  // queues together) is full, too many endpoints are active, the URI or a header is unusable,
  // or the Deliverer is stopping. A missing Content-Type is sent as application/json.
  bool post(Message m, Done done);

  struct Stats {
    std::uint64_t delivered = 0;        // done called with delivered
    std::uint64_t failed = 0;           // done called with an error
    std::uint64_t dropped = 0;          // post() returned false
    std::uint64_t retried = 0;          // attempts scheduled again after a failure
    std::uint64_t callback_errors = 0;  // exceptions thrown by done
    std::size_t queued = 0;             // accepted, not finished yet
    std::size_t endpoints = 0;          // known now
    std::size_t connections_open = 0;
  };
  Stats stats() const;

  // Refuses new posts, lets queued and in-flight messages finish for up to `grace`, then ends
  // the rest with "stopped" and returns once every accepted message's `done` has returned and
  // the threads have ended (if a `done` blocks, it gives up waiting 10 s after `grace`).
  // Idempotent. Blocks; calling it from `done` throws std::logic_error.
  void stop(std::chrono::milliseconds grace);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cityroom::delivery
