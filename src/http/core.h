// Internal: the state a Server shares with its listeners, sessions and channels.
//
// Ownership: the Server, every Session, Channel and Listener hold a shared_ptr<Core>, and Core
// owns the io_context. So a socket, timer or strand never outlives its io_context, even when a
// handler keeps a Respond (and thus its Session) or a Channel alive after the Server is gone.
// Core's router and metrics references are used only while the io_context runs, i.e. before
// stop() returns.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>

#include "http/http.h"

namespace cityroom::http::detail {

namespace asio = boost::asio;
using Strand = asio::strand<asio::io_context::executor_type>;
using Clock = std::chrono::steady_clock;
using Socket = asio::basic_stream_socket<asio::ip::tcp, Strand>;
using Timer = asio::basic_waitable_timer<Clock, asio::wait_traits<Clock>, Strand>;

// What Server::stop needs of a live connection (a Session or a channel). Both calls may come
// from any thread and hop onto the connection's strand.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual void request_shutdown() = 0;  // server stopping: finish gracefully
  virtual void request_close() = 0;     // grace expired: close whatever the state
};

struct Core {
  Core(Limits limits_in, const Router& router_in, Metrics& metrics_in);

  Limits limits;
  const Router& router;
  Metrics& metrics;
  asio::io_context ioc;

  std::atomic<bool> stopping{false};
  // Requests handed to a handler whose response has not been written yet.
  std::atomic<std::int64_t> in_flight{0};
  // Channels taken over from a session and not yet ended; stop() waits for them (bounded).
  std::atomic<std::int64_t> channels_live{0};
  // Sessions serving requests (not those turned away with 503) plus channels, for
  // connections_max.
  std::atomic<std::size_t> sessions_active{0};

  // A Respond or Channel::send called off the strand posts under the shared lock after
  // checking `stopped`; stop() sets `stopped` under the exclusive lock, so after that no post
  // can race the final drain of the io_context.
  std::shared_mutex post_mutex;
  bool stopped = false;

  std::uint64_t add_connection(std::weak_ptr<Connection> connection);
  void remove_connection(std::uint64_t id);
  std::vector<std::shared_ptr<Connection>> live_connections();

 private:
  std::mutex registry_mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> registry_;
  std::uint64_t next_connection_id_ = 0;
};

}  // namespace cityroom::http::detail
