// Endpoint scheduling: queue → free connection, retries with backoff, the circuit breaker, the
// give-up deadline, idle clean-up and stop. One timer (`wake_`) covers every deadline.
#include "delivery/endpoint.h"

#include <algorithm>
#include <boost/asio/post.hpp>

namespace cityroom::delivery {

namespace asio = boost::asio;

Endpoint::Endpoint(Shared& shared, asio::io_context& io, Target where, Forget forget)
    : shared_(shared),
      strand_(asio::make_strand(io)),
      where_(std::move(where)),
      forget_(std::move(forget)),
      wake_(strand_),
      last_activity_(Clock::now()),
      rng_(static_cast<std::uint_fast32_t>(std::hash<std::string>{}(where_.key) ^
                                           Clock::now().time_since_epoch().count())) {}

void Endpoint::accept(Item item) {
  asio::post(strand_, [self = shared_from_this(), item = std::move(item)]() mutable {
    self->enqueue(std::move(item));
  });
}

void Endpoint::begin_stop(Clock::time_point deadline) {
  asio::post(strand_, [self = shared_from_this(), deadline] {
    self->stopping_ = true;
    self->stop_deadline_ = deadline;
    // A retry due after the deadline cannot happen any more.
    while (!self->retries_.empty() && self->retries_.rbegin()->first > deadline) {
      auto last = std::prev(self->retries_.end());
      Item item = std::move(last->second);
      self->retries_.erase(last);
      self->finish(item, false, item.last_status, "stopped");
    }
    self->pump();
  });
}

void Endpoint::enqueue(Item item) {
  last_activity_ = Clock::now();
  queue_.push_back(std::move(item));
  pump();
}

void Endpoint::pump() {
  const auto now = Clock::now();
  if (stopping_ && now >= stop_deadline_) {
    fail_everything("stopped");
    return;
  }
  promote_due_retries(now);
  expire(now, false);
  while (!queue_.empty() && may_dispatch(now)) {
    Connection* connection = free_connection();
    if (connection == nullptr) break;
    Item item = std::move(queue_.front());
    queue_.pop_front();
    dispatch(*connection, std::move(item));
  }
  arm_wake(now);
}

bool Endpoint::may_dispatch(Clock::time_point now) {
  if (breaker_ == Breaker::kOpen) {
    if (now < open_until_) return false;
    breaker_ = Breaker::kHalfOpen;
  }
  return breaker_ == Breaker::kClosed || !probe_in_flight_;
}

Connection* Endpoint::free_connection() {
  Connection* closed = nullptr;
  for (auto& c : connections_) {
    if (c->busy()) continue;
    if (c->open()) return c.get();  // reuse a warm keep-alive connection first
    if (closed == nullptr) closed = c.get();
  }
  if (closed != nullptr) return closed;
  if (connections_.size() >= std::max<std::size_t>(1, shared_.options.connections_per_endpoint)) {
    return nullptr;
  }
  connections_.push_back(make_connection(shared_, strand_, where_));
  return connections_.back().get();
}

void Endpoint::dispatch(Connection& connection, Item item) {
  if (breaker_ == Breaker::kHalfOpen) probe_in_flight_ = true;
  ++item.attempts;
  ++in_flight_;
  connection.send(std::move(item), [self = shared_from_this()](Item done, Attempt attempt) {
    self->on_attempt(std::move(done), std::move(attempt));
  });
}

void Endpoint::on_attempt(Item item, Attempt attempt) {
  const auto now = Clock::now();
  --in_flight_;
  probe_in_flight_ = false;
  last_activity_ = now;
  item.last_status = attempt.status;
  item.last_error = attempt.error;
  if (attempt.status >= 200 && attempt.status < 300) {
    breaker_success();
    finish(item, true, attempt.status, "");
  } else if (!attempt.retryable) {
    // An answer (3xx, 4xx) proves the endpoint alive; a failed TLS verification does not.
    if (attempt.status != 0) {
      breaker_success();
    } else {
      breaker_failure(now);
    }
    finish(item, false, attempt.status, std::move(attempt.error));
  } else {
    breaker_failure(now);
    retry_or_fail(std::move(item), now);
  }
  pump();
}

void Endpoint::retry_or_fail(Item item, Clock::time_point now) {
  const Options& o = shared_.options;
  if (stopping_ || item.attempts >= o.attempts) {
    finish(item, false, item.last_status, item.last_error);
    return;
  }
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  const auto due =
      now + retry_delay(item.attempts + 1, o.retry_delay, o.retry_delay_max, jitter(rng_));
  if (due >= item.accepted + o.give_up_after) {
    finish(item, false, item.last_status, item.last_error);
    return;
  }
  shared_.retried.fetch_add(1);
  retries_.emplace(due, std::move(item));
}

void Endpoint::finish(Item& item, bool delivered, int status, std::string error) {
  Outcome outcome{delivered, status, std::move(error), item.attempts, base::now_micros()};
  (delivered ? shared_.delivered : shared_.failed).fetch_add(1);
  if (item.done) {
    try {
      item.done(outcome);
    } catch (...) {
      shared_.callback_errors.fetch_add(1);  // an exception must not end a delivery thread
    }
  }
  pending.fetch_sub(1);
  shared_.finished_one();
}

void Endpoint::promote_due_retries(Clock::time_point now) {
  auto end = retries_.upper_bound(now);
  if (end == retries_.begin()) return;
  // Retried items go before newer ones, oldest due first.
  std::vector<Item> due;
  for (auto it = retries_.begin(); it != end; ++it) due.push_back(std::move(it->second));
  retries_.erase(retries_.begin(), end);
  for (auto it = due.rbegin(); it != due.rend(); ++it) queue_.push_front(std::move(*it));
}

void Endpoint::expire(Clock::time_point now, bool whole_queue) {
  const auto give_up = shared_.options.give_up_after;
  auto expired = [&](const Item& i) { return now >= i.accepted + give_up; };
  auto fail = [&](Item& i) {
    finish(i, false, i.last_status, i.last_error.empty() ? "expired" : i.last_error);
  };
  if (!whole_queue) {
    while (!queue_.empty() && expired(queue_.front())) {
      Item item = std::move(queue_.front());
      queue_.pop_front();
      fail(item);
    }
    return;
  }
  std::deque<Item> kept;
  for (auto& item : queue_) {
    if (expired(item)) {
      fail(item);
    } else {
      kept.push_back(std::move(item));
    }
  }
  queue_ = std::move(kept);
}

void Endpoint::fail_everything(const std::string& error) {
  std::deque<Item> queued = std::move(queue_);
  queue_.clear();
  for (auto& item : queued) finish(item, false, item.last_status, error);
  auto waiting = std::move(retries_);
  retries_.clear();
  for (auto& [due, item] : waiting) finish(item, false, item.last_status, error);
  // Exchanges in flight end with "stopped" through on_attempt once their sockets close.
  for (auto& c : connections_) c->close();
  wake_.cancel();
}

void Endpoint::breaker_success() {
  failure_streak_ = 0;
  opens_ = 0;
  breaker_ = Breaker::kClosed;
}

void Endpoint::breaker_failure(Clock::time_point now) {
  ++failure_streak_;
  const Options& o = shared_.options;
  const bool trips =
      breaker_ == Breaker::kHalfOpen || (breaker_ == Breaker::kClosed && o.breaker_failures > 0 &&
                                         failure_streak_ >= o.breaker_failures);
  if (!trips) return;
  breaker_ = Breaker::kOpen;
  open_until_ = now + breaker_pause(opens_++, o.breaker_open_min, o.breaker_open_max);
}

void Endpoint::arm_wake(Clock::time_point now) {
  if (forgotten_) return;
  auto next = Clock::time_point::max();
  if (stopping_) next = std::min(next, stop_deadline_);
  if (!retries_.empty()) next = std::min(next, retries_.begin()->first);
  if (!queue_.empty()) {
    next = std::min(next, queue_.front().accepted + shared_.options.give_up_after);
    if (breaker_ == Breaker::kOpen) next = std::min(next, open_until_);
  }
  if (queue_.empty() && retries_.empty() && in_flight_ == 0) {
    next = std::min(next, last_activity_ + shared_.options.idle_timeout);
  }
  if (next >= wake_at_) return;  // an earlier wake-up is armed already
  wake_at_ = next;
  wake_.expires_at(next);
  wake_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) return;  // re-armed or cancelled
    self->wake_at_ = Clock::time_point::max();
    self->on_wake();
  });
}

void Endpoint::on_wake() {
  if (forgotten_) return;
  const auto now = Clock::now();
  expire(now, true);
  tidy_idle(now);
  if (!forgotten_) pump();
}

void Endpoint::tidy_idle(Clock::time_point now) {
  const auto idle = shared_.options.idle_timeout;
  std::erase_if(connections_, [&](const std::shared_ptr<Connection>& c) {
    if (c->busy() || now < c->last_used() + idle) return false;
    c->close();
    return true;
  });
  const bool nothing_to_do = queue_.empty() && retries_.empty() && in_flight_ == 0 &&
                             breaker_ == Breaker::kClosed && !stopping_;
  if (nothing_to_do && connections_.empty() && now >= last_activity_ + idle) {
    forgotten_ = forget_(shared_from_this());
  }
}

}  // namespace cityroom::delivery
