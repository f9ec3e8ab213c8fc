// One endpoint (scheme+host+port): its FIFO queue, messages waiting for a retry, its pool of
// keep-alive connections and its circuit breaker. Everything below `accept`/`begin_stop` runs on
// the endpoint's strand, so its state needs no lock; only `pending` is shared with post().
#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "delivery/internal.h"

namespace cityroom::delivery {

class Endpoint : public std::enable_shared_from_this<Endpoint> {
 public:
  // `forget` asks the owner to drop this idle endpoint; it returns false when a post() raced
  // in (pending > 0), in which case the endpoint carries on.
  using Forget = std::function<bool(const std::shared_ptr<Endpoint>&)>;

  Endpoint(Shared& shared, boost::asio::io_context& io, Target where, Forget forget);

  const std::string& key() const { return where_.key; }

  // Accepted and not finished; raised by post() under the owner's lock before accept().
  std::atomic<std::size_t> pending{0};

  // Any thread: hands an accepted item over to the strand.
  void accept(Item item);
  // Any thread: finish what can be finished before `deadline`, then fail the rest "stopped".
  void begin_stop(Clock::time_point deadline);

 private:
  enum class Breaker { kClosed, kOpen, kHalfOpen };

  void enqueue(Item item);
  void pump();
  bool may_dispatch(Clock::time_point now);
  Connection* free_connection();
  void dispatch(Connection& connection, Item item);
  void on_attempt(Item item, Attempt attempt);
  void retry_or_fail(Item item, Clock::time_point now);
  void finish(Item& item, bool delivered, int status, std::string error);
  void promote_due_retries(Clock::time_point now);
  void expire(Clock::time_point now, bool whole_queue);
  void fail_everything(const std::string& error);
  void breaker_success();
  void breaker_failure(Clock::time_point now);
  void arm_wake(Clock::time_point now);
  void on_wake();
  void tidy_idle(Clock::time_point now);

  Shared& shared_;
  Strand strand_;
  const Target where_;
  Forget forget_;

  std::deque<Item> queue_;                          // in order of acceptance
  std::multimap<Clock::time_point, Item> retries_;  // by due time
  std::vector<std::shared_ptr<Connection>> connections_;
  std::size_t in_flight_ = 0;

  Breaker breaker_ = Breaker::kClosed;
  Clock::time_point open_until_{};
  std::size_t failure_streak_ = 0;
  std::size_t opens_ = 0;
  bool probe_in_flight_ = false;

  boost::asio::steady_timer wake_;
  Clock::time_point wake_at_ = Clock::time_point::max();

  bool stopping_ = false;
  bool forgotten_ = false;
  Clock::time_point stop_deadline_{};
  Clock::time_point last_activity_;
  std::minstd_rand rng_;
};

}  // namespace cityroom::delivery
