// Server: binds listeners, runs the io_context threads, and stops gracefully.
#include <algorithm>
#include <pthread.h>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "http/core.h"
#include "http/http.h"
#include "http/listener.h"

namespace cityroom::http {
namespace {

using detail::Core;
using tcp = boost::asio::ip::tcp;

constexpr std::chrono::milliseconds kStopPollInterval{2};
// After the grace period every socket is closed; the threads then only run out the aborted
// operations, which takes microseconds. This bounds a pathological wait.
constexpr std::chrono::milliseconds kDrainTimeout{2'000};
constexpr int kFinalPollRoundsMax = 1'000;

std::size_t thread_count(const Limits& limits) {
  if (limits.threads != 0) return limits.threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

Limits resolved(Limits limits) {
  limits.threads = thread_count(limits);
  return limits;
}

template <class Predicate>
void wait_until(Predicate done, std::chrono::steady_clock::time_point deadline) {
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kStopPollInterval);
  }
}

}  // namespace

struct Server::Impl {
  Impl(Limits limits, const Router& router, Metrics& metrics)
      : core(std::make_shared<Core>(resolved(limits), router, metrics)),
        work(boost::asio::make_work_guard(core->ioc)) {}

  base::Result<std::uint16_t> listen(std::string_view host, std::uint16_t port);
  void stop(std::chrono::milliseconds grace);
  void close_connections(bool gracefully);
  void drain_after_threads();

  std::shared_ptr<Core> core;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::vector<std::shared_ptr<detail::Listener>> listeners;
  std::vector<std::thread> threads;
  std::mutex lifecycle_mutex;  // listen/start/stop may come from different owner threads
  bool stopped = false;
};

base::Result<std::uint16_t> Server::Impl::listen(std::string_view host, std::uint16_t port) {
  boost::system::error_code ec;
  tcp::resolver resolver(core->ioc);
  auto results = resolver.resolve(std::string(host), std::to_string(port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return base::fail(base::ErrorKind::kInternalError,
                      fmt::format("cannot resolve listen address '{}': {}", host, ec.message()));
  }
  // IPv4 first, so "localhost" serves 127.0.0.1 whatever the resolver's order.
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  std::stable_partition(endpoints.begin(), endpoints.end(),
                        [](const tcp::endpoint& e) { return e.address().is_v4(); });

  std::optional<std::uint16_t> bound_port;
  std::string last_error;
  for (auto endpoint : endpoints) {
    if (bound_port) endpoint.port(*bound_port);  // further addresses share the first's port
    detail::Acceptor acceptor(boost::asio::make_strand(core->ioc));
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
    if (ec) {
      last_error = fmt::format("{}: {}", endpoint.address().to_string(), ec.message());
      continue;
    }
    if (!bound_port) bound_port = acceptor.local_endpoint().port();
    auto listener = std::make_shared<detail::Listener>(core, std::move(acceptor));
    listener->start();
    listeners.push_back(std::move(listener));
  }
  if (!bound_port) {
    return base::fail(base::ErrorKind::kInternalError,
                      fmt::format("cannot listen on {}:{}: {}", host, port, last_error));
  }
  return *bound_port;
}

void Server::Impl::close_connections(bool gracefully) {
  for (const auto& connection : core->live_connections()) {
    if (gracefully) {
      connection->request_shutdown();
    } else {
      connection->request_close();
    }
  }
}

void Server::Impl::stop(std::chrono::milliseconds grace) {
  core->stopping.store(true);
  for (const auto& listener : listeners) listener->request_close();
  close_connections(/*gracefully=*/true);
  const bool running = !threads.empty();
  if (running) {
    // Channels close on their own within channel_close_timeout (WebSocket 1001 after a
    // flush); waiting for them too lets clients see a proper close rather than a reset.
    wait_until([&] { return core->in_flight.load() == 0 && core->channels_live.load() == 0; },
               std::chrono::steady_clock::now() + grace);
  }
  close_connections(/*gracefully=*/false);
  work.reset();
  if (running) {
    wait_until([&] { return core->ioc.stopped(); },
               std::chrono::steady_clock::now() + kDrainTimeout);
    core->ioc.stop();
    for (auto& thread : threads) thread.join();
    threads.clear();
  }
  drain_after_threads();
  listeners.clear();
}

// Runs what is left (aborted operations of closed sockets) on this thread, after making sure
// no late Respond can post anything new, so no handler keeps a Session alive inside the
// io_context.
void Server::Impl::drain_after_threads() {
  {
    std::unique_lock lock(core->post_mutex);
    core->stopped = true;
  }
  core->ioc.restart();
  for (int round = 0; round < kFinalPollRoundsMax; ++round) {
    try {
      if (core->ioc.poll() == 0) break;
    } catch (const std::exception& e) {
      spdlog::error("http: handler threw during shutdown: {}", e.what());
    }
  }
}

Server::Server(Limits limits, const Router& router, Metrics& metrics)
    : impl_(std::make_unique<Impl>(limits, router, metrics)) {}

Server::~Server() { stop(std::chrono::milliseconds{0}); }

base::Result<std::uint16_t> Server::listen(std::string_view host, std::uint16_t port) {
  std::lock_guard lock(impl_->lifecycle_mutex);
  if (impl_->stopped) {
    return base::fail(base::ErrorKind::kInternalError, "the server has been stopped");
  }
  try {
    return impl_->listen(host, port);
  } catch (const std::exception& e) {
    return base::fail(base::ErrorKind::kInternalError,
                      fmt::format("cannot listen on {}:{}: {}", host, port, e.what()));
  }
}

void Server::start() {
  std::lock_guard lock(impl_->lifecycle_mutex);
  if (impl_->stopped || !impl_->threads.empty()) return;
  const std::size_t n = impl_->core->limits.threads;
  for (std::size_t i = 0; i < n; ++i) {
    impl_->threads.emplace_back([core = impl_->core] {
      pthread_setname_np(pthread_self(), "http-io");  // for top -H and perf
      while (true) {
        try {
          core->ioc.run();
          return;
        } catch (const std::exception& e) {
          // Handlers catch their own errors; this is the last line, so the thread lives on.
          spdlog::error("http: uncaught exception in an I/O thread: {}", e.what());
        }
      }
    });
  }
}

void Server::stop(std::chrono::milliseconds grace) {
  std::lock_guard lock(impl_->lifecycle_mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->stop(grace);
}

}  // namespace cityroom::http
