#include "http/listener.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

namespace cityroom::http::detail {
namespace {

// Accept can fail for a while (e.g. out of file descriptors); retrying at once would spin.
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};

}  // namespace

Listener::Listener(std::shared_ptr<Core> core, Acceptor acceptor)
    : core_(std::move(core)),
      strand_(acceptor.get_executor()),
      acceptor_(std::move(acceptor)),
      retry_timer_(strand_) {}

void Listener::start() {
  asio::post(strand_, [self = shared_from_this()] { self->accept(); });
}

void Listener::request_close() {
  asio::post(strand_, [self = shared_from_this()] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
    self->retry_timer_.cancel();
  });
}

void Listener::accept() {
  if (!acceptor_.is_open()) return;
  // Each connection gets its own strand, so its handlers never run concurrently.
  acceptor_.async_accept(asio::make_strand(core_->ioc),
                         [self = shared_from_this()](boost::system::error_code ec, Socket socket) {
                           self->on_accept(ec, std::move(socket));
                         });
}

void Listener::on_accept(boost::system::error_code ec, Socket socket) {
  if (!acceptor_.is_open() || ec == asio::error::operation_aborted) return;
  if (ec) {
    spdlog::warn("http: accept failed: {}", ec.message());
    retry_timer_.expires_after(kAcceptRetryDelay);
    retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code wait_ec) {
      if (!wait_ec) self->accept();
    });
    return;
  }
  core_->metrics.connection_opened();
  auto session = std::make_shared<Session>(core_, std::move(socket));
  const std::size_t active = core_->sessions_active.fetch_add(1, std::memory_order_relaxed);
  if (active >= core_->limits.connections_max) {
    core_->sessions_active.fetch_sub(1, std::memory_order_relaxed);
    core_->metrics.rejected("connections");
    session->start_rejected();
  } else {
    session->start();
  }
  accept();
}

}  // namespace cityroom::http::detail
