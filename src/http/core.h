// Internal: the state a Server shares with its listeners and sessions.
//
// Ownership: the Server, every Session and every Listener hold a shared_ptr<Core>, and Core owns
// the io_context. So a socket, timer or strand never outlives its io_context, even when a
// handler keeps a Respond (and thus its Session) alive after the Server is gone. Core's
// router and metrics references are used only while the io_context runs, i.e. before stop()
// returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "http/http.h"

namespace cityroom::http::detail {

namespace asio = boost::asio;
using Strand = asio::strand<asio::io_context::executor_type>;

class Session;

struct Core {
  Core(Limits limits_in, const Router& router_in, Metrics& metrics_in);

  Limits limits;
  const Router& router;
  Metrics& metrics;
  asio::io_context ioc;

  std::atomic<bool> stopping{false};
  // Requests handed to a handler whose response has not been written yet.
  std::atomic<std::int64_t> in_flight{0};
  // Sessions serving requests (not those turned away with 503), for connections_max.
  std::atomic<std::size_t> sessions_active{0};

  // A Respond called off the session's strand posts under the shared lock after checking
  // `stopped`; stop() sets `stopped` under the exclusive lock, so after that no post can race
  // the final drain of the io_context.
  std::shared_mutex post_mutex;
  bool stopped = false;

  std::uint64_t add_session(std::weak_ptr<Session> session);
  void remove_session(std::uint64_t id);
  std::vector<std::shared_ptr<Session>> live_sessions();

 private:
  std::mutex registry_mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Session>> registry_;
  std::uint64_t next_session_id_ = 0;
};

}  // namespace cityroom::http::detail
