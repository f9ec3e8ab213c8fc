// delivery internals shared by its translation units: the parsed target of a message, the unit
// of work (Item), the counters, the policy arithmetic, and the Connection seam behind which all
// Beast/OpenSSL templates live (connection.cpp). Not part of the module's face.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "delivery/delivery.h"

namespace boost::asio::ssl {
class context;
}

namespace cityroom::delivery {

using Clock = std::chrono::steady_clock;
using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

// Where a message goes. `key` ("https://host:443") names its endpoint.
struct Target {
  bool tls = false;
  std::string host;  // lower-case; an IPv6 literal without brackets
  std::uint16_t port = 0;
  std::string host_header;  // as sent in Host: (brackets for IPv6, port when not default)
  std::string path;         // request target: path (at least "/") and ?query
  std::string key;
};

base::Result<Target> parse_target(std::string_view uri);
// Ok when every header name is an RFC 9110 token and no value holds CR, LF or NUL.
base::Result<void> check_headers(const Headers& headers);
// True for the headers the Deliverer sets itself (Host, Content-Length, ...), case-insensitive.
bool is_framing_header(std::string_view name);

// One accepted message on its way.
struct Item {
  Message message;
  std::string path;  // request target within the endpoint
  Done done;
  Clock::time_point accepted;
  std::size_t attempts = 0;
  int last_status = 0;
  std::string last_error;
};

// What one attempt came to.
struct Attempt {
  int status = 0;     // HTTP status, 0 when no answer
  std::string error;  // empty when status is 2xx
  bool retryable = false;
};

// Retry policy: which answers are worth another try, and how long to wait.
bool is_retryable_status(int status);  // 5xx and 429
// Delay before attempt `attempt` (2 = first retry): base × 2^(attempt-2) capped at `max`,
// scaled by `jitter` in [0.5, 1].
std::chrono::milliseconds retry_delay(std::size_t attempt, std::chrono::milliseconds base,
                                      std::chrono::milliseconds max, double jitter);
// Pause of the circuit breaker after its `opens`-th opening in a row (0-based).
std::chrono::milliseconds breaker_pause(std::size_t opens, std::chrono::milliseconds min,
                                        std::chrono::milliseconds max);

// Shared by every endpoint of one Deliverer; lives as long as the Deliverer.
struct Shared {
  explicit Shared(Options o) : options(std::move(o)) {}

  const Options options;
  boost::asio::ssl::context* tls = nullptr;
  std::atomic<bool> stopping{false};

  std::atomic<std::uint64_t> delivered{0}, failed{0}, dropped{0}, retried{0}, callback_errors{0};
  std::atomic<std::int64_t> pending{0};  // accepted, not finished, all endpoints
  std::atomic<std::int64_t> connections_open{0};

  // stop() waits here for `pending` to reach 0.
  std::mutex idle_mutex;
  std::condition_variable idle_cv;

  // Called after a message's done returned.
  void finished_one() {
    if (pending.fetch_sub(1) == 1 && stopping.load()) {
      std::lock_guard lock(idle_mutex);
      idle_cv.notify_all();
    }
  }
};

// One client connection to one endpoint. All calls and callbacks happen on the endpoint's
// strand. A connection connects lazily on its first send and after the server closed it.
class Connection {
 public:
  using Finished = std::function<void(Item, Attempt)>;
  virtual ~Connection() = default;
  // Precondition: !busy(). `finished` is called exactly once (unless the io_context is
  // destroyed first, which only happens after every item was finished).
  virtual void send(Item item, Finished finished) = 0;
  virtual bool busy() const = 0;
  virtual bool open() const = 0;
  virtual Clock::time_point last_used() const = 0;
  // Closes the socket; an exchange in flight finishes with an error soon after.
  virtual void close() = 0;
};

std::shared_ptr<Connection> make_connection(Shared& shared, Strand strand, const Target& where);

// Builds the TLS client context (connection.cpp keeps OpenSSL in one TU).
// Throws std::invalid_argument when options.ca_file cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const Options& options);

}  // namespace cityroom::delivery
