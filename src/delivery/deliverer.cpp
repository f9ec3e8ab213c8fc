// The Deliverer: owns the io_context and its threads, admits messages (the only place that
// refuses), maps endpoint keys to Endpoints, and runs stop().
#include <algorithm>
#include <pthread.h>
#include <boost/asio/executor_work_guard.hpp>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "delivery/endpoint.h"

namespace cityroom::delivery {

namespace asio = boost::asio;

namespace {
// How long stop() waits past its grace for exchanges to notice their closed sockets (and for
// slow done callbacks) before it ends the threads anyway.
constexpr std::chrono::seconds kStopSlack{10};
}  // namespace

class Deliverer::Impl {
 public:
  explicit Impl(Options options)
      : shared_(std::move(options)),
        tls_(make_tls_context(shared_.options)),
        io_(static_cast<int>(std::max<std::size_t>(1, shared_.options.threads))),
        work_(asio::make_work_guard(io_)) {
    shared_.tls = tls_.get();
    const std::size_t n = std::max<std::size_t>(1, shared_.options.threads);
    for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "notify-http");
      io_.run();
    });
  }

  ~Impl() { stop(std::chrono::milliseconds{0}); }

  bool post(Message m, Done done) {
    auto target = parse_target(m.uri);
    if (!target || !check_headers(m.headers)) return refuse();
    Item item;
    item.message = std::move(m);
    item.path = std::move(target->path);
    item.done = std::move(done);
    item.accepted = Clock::now();
    std::shared_ptr<Endpoint> endpoint;
    {
      std::lock_guard lock(mutex_);
      if (shared_.stopping.load()) return refuse();
      if (static_cast<std::size_t>(shared_.pending.load()) >= shared_.options.queue_max_total) {
        return refuse();
      }
      auto it = endpoints_.find(target->key);
      if (it == endpoints_.end()) {
        if (endpoints_.size() >= shared_.options.endpoints_max) return refuse();
        auto made = std::make_shared<Endpoint>(
            shared_, io_, std::move(*target),
            [this](const std::shared_ptr<Endpoint>& e) { return forget(e); });
        it = endpoints_.emplace(made->key(), std::move(made)).first;
      }
      endpoint = it->second;
      if (endpoint->pending.load() >= shared_.options.queue_max_per_endpoint) return refuse();
      endpoint->pending.fetch_add(1);
      shared_.pending.fetch_add(1);
    }
    endpoint->accept(std::move(item));
    return true;
  }

  Stats stats() const {
    Stats s;
    s.delivered = shared_.delivered.load();
    s.failed = shared_.failed.load();
    s.dropped = shared_.dropped.load();
    s.retried = shared_.retried.load();
    s.callback_errors = shared_.callback_errors.load();
    s.queued = static_cast<std::size_t>(std::max<std::int64_t>(0, shared_.pending.load()));
    s.connections_open =
        static_cast<std::size_t>(std::max<std::int64_t>(0, shared_.connections_open.load()));
    std::lock_guard lock(mutex_);
    s.endpoints = endpoints_.size();
    return s;
  }

  void stop(std::chrono::milliseconds grace) {
    for (const auto& t : threads_) {
      if (t.get_id() == std::this_thread::get_id()) {
        throw std::logic_error("delivery::Deliverer::stop called from a delivery thread");
      }
    }
    {
      std::lock_guard lock(stop_mutex_);
      if (stopped_) return;
      stopped_ = true;
    }
    std::vector<std::shared_ptr<Endpoint>> all;
    {
      std::lock_guard lock(mutex_);
      shared_.stopping.store(true);
      for (const auto& [key, e] : endpoints_) all.push_back(e);
    }
    const auto deadline = Clock::now() + grace;
    for (const auto& e : all) e->begin_stop(deadline);
    {
      std::unique_lock lock(shared_.idle_mutex);
      shared_.idle_cv.wait_until(lock, deadline + kStopSlack,
                                 [this] { return shared_.pending.load() == 0; });
    }
    work_.reset();
    io_.stop();
    for (auto& t : threads_) t.join();
  }

 private:
  bool refuse() {
    shared_.dropped.fetch_add(1);
    return false;
  }

  bool forget(const std::shared_ptr<Endpoint>& e) {
    std::lock_guard lock(mutex_);
    auto it = endpoints_.find(e->key());
    if (it == endpoints_.end() || it->second != e || e->pending.load() != 0) return false;
    endpoints_.erase(it);
    return true;
  }

  // Declaration order matters: endpoints (strands and timers of io_) are destroyed first, the
  // TLS context after the io_context and the streams its pending handlers still hold.
  Shared shared_;
  std::shared_ptr<asio::ssl::context> tls_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<Endpoint>> endpoints_;
  std::mutex stop_mutex_;
  bool stopped_ = false;
};

Deliverer::Deliverer(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Deliverer::~Deliverer() = default;

bool Deliverer::post(Message m, Done done) {
  return impl_->post(std::move(m), std::move(done));
}
Deliverer::Stats Deliverer::stats() const {
  return impl_->stats();
}
void Deliverer::stop(std::chrono::milliseconds grace) {
  impl_->stop(grace);
}

}  // namespace cityroom::delivery
