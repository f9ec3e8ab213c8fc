// Session: the per-connection request loop. See session.h for the shape.
#include "http/session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "http/channel.h"
#include "http/target.h"
#include "http/wire.h"

namespace cityroom::http::detail {
namespace {

namespace bh = boost::beast::http;
using boost::system::error_code;

// Read granularity; also what an idle keep-alive connection holds in its buffer.
constexpr std::size_t kReadChunkBytes = 8 * 1024;
// After an error answer the client may still be sending (a body we refused); reading and
// discarding it for a moment lets the answer arrive instead of being lost to a TCP reset.
constexpr std::chrono::milliseconds kLingerTimeout{2'000};
constexpr std::size_t kLingerBytesMax = 4 * 1024 * 1024;
constexpr std::string_view kUnmatchedRoute = "unmatched";
constexpr int kRetryAfterSeconds = 1;

// Exactly-once guard shared by all copies of one Respond. If every copy is dropped unanswered
// the request is answered 500, so a forgetful handler cannot leave a client hanging.
class Ticket {
 public:
  Ticket(std::shared_ptr<Session> session, std::uint64_t seq)
      : session_(std::move(session)), seq_(seq) {}
  Ticket(const Ticket&) = delete;
  Ticket& operator=(const Ticket&) = delete;
  ~Ticket() {
    if (answered_.load(std::memory_order_acquire)) return;
    spdlog::error("http: a handler dropped its Respond without answering; answering 500");
    session_->deliver(seq_, Response::problem({base::ErrorKind::kInternalError,
                                               "the request handler did not answer"}));
  }

  // Returns false when the request was already answered.
  bool answer(Response&& response) {
    if (answered_.exchange(true, std::memory_order_acq_rel)) return false;
    session_->deliver(seq_, std::move(response));
    return true;
  }

 private:
  std::shared_ptr<Session> session_;
  std::uint64_t seq_;
  std::atomic<bool> answered_{false};
};

std::string lower_case(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Request to_request(bh::request_parser<bh::string_body>& parser, const std::string& remote) {
  auto& message = parser.get();
  Request request;
  request.method.assign(message.method_string());
  request.target.assign(message.target());
  for (const auto& field : message) {
    request.headers.emplace_back(lower_case(field.name_string()), std::string(field.value()));
  }
  request.has_content_length = parser.content_length().has_value();
  request.version = message.version();
  request.body = std::move(message.body());
  request.remote_address = remote;
  return request;
}

UpgradeFields upgrade_fields(const bh::request<bh::string_body>& message) {
  return UpgradeFields{message.method_string(),
                       message.version(),
                       message[bh::field::connection],
                       message[bh::field::upgrade],
                       message[bh::field::sec_websocket_key],
                       message[bh::field::sec_websocket_version],
                       message.count(bh::field::host) != 0};
}

}  // namespace

Session::Session(std::shared_ptr<Core> core, Socket socket)
    : core_(std::move(core)),
      strand_(socket.get_executor()),
      socket_(std::move(socket)),
      timer_(strand_) {}

Session::~Session() {
  // Only the registry is touched here: metrics may already be gone if a late Respond held
  // the last reference after the server stopped.
  if (registered_) core_->remove_connection(id_);
}

void Session::start() {
  id_ = core_->add_connection(weak_from_this());
  registered_ = true;
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->core_->stopping.load()) return self->close();
    error_code ec;
    self->socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    const auto remote = self->socket_.remote_endpoint(ec);
    if (!ec) self->remote_address_ = remote.address().to_string();
    self->begin_request();
  });
}

void Session::start_rejected() {
  counts_as_active_ = false;
  id_ = core_->add_connection(weak_from_this());
  registered_ = true;
  asio::dispatch(strand_, [self = shared_from_this()] {
    Response response = Response::problem(
        {base::ErrorKind::kServiceUnavailable,
         fmt::format("the server is at its limit of {} concurrent connections; retry later",
                     self->core_->limits.connections_max)});
    response.headers.emplace_back("retry-after", std::to_string(kRetryAfterSeconds));
    self->reject(std::move(response));
  });
}

void Session::begin_shutdown() {
  shutting_down_ = true;
  if (phase_ == Phase::kIdle || phase_ == Phase::kReading || phase_ == Phase::kLingering) {
    close();
  }
}

void Session::request_shutdown() {
  asio::post(strand_, [self = shared_from_this()] { self->begin_shutdown(); });
}

void Session::request_close() {
  asio::post(strand_, [self = shared_from_this()] { self->close(); });
}

// ---- reading --------------------------------------------------------------------------

void Session::begin_request() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(core_->limits.header_bytes_max));
  parser_->body_limit(static_cast<std::uint64_t>(core_->limits.body_bytes_max));
  parser_->eager(true);
  timed_out_ = false;
  continue_sent_ = false;
  if (buffer_.size() > 0) {  // a pipelined request is already here
    phase_ = Phase::kReading;
    set_deadline(Clock::now() + core_->limits.request_timeout);
    return parse_buffered();
  }
  phase_ = Phase::kIdle;
  set_deadline(Clock::now() + core_->limits.idle_timeout);
  read_some();
}

void Session::read_some() {
  socket_.async_read_some(buffer_.prepare(kReadChunkBytes),
                          [self = shared_from_this()](error_code ec, std::size_t bytes) {
                            self->on_read(ec, bytes);
                          });
}

void Session::on_read(error_code ec, std::size_t bytes) {
  if (phase_ == Phase::kClosed) return;
  if (timed_out_) {
    core_->metrics.rejected("request_timeout");
    return reject(Response::problem(
        {base::ErrorKind::kRequestTimeout,
         fmt::format("the request was not received completely within {} ms",
                     core_->limits.request_timeout.count())}));
  }
  if (ec) return close();  // EOF or reset: the client is gone, nothing to answer
  buffer_.commit(bytes);
  if (phase_ == Phase::kIdle) {
    phase_ = Phase::kReading;
    set_deadline(Clock::now() + core_->limits.request_timeout);
  }
  parse_buffered();
}

void Session::parse_buffered() {
  error_code ec;
  while (buffer_.size() > 0 && !parser_->is_done()) {
    const std::size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == bh::error::need_more) {
      ec = {};
      break;
    }
    if (ec || used == 0) break;
  }
  if (ec) return on_parse_error(ec);
  if (parser_->is_done()) return on_request_read();
  if (parser_->is_header_done() && !continue_sent_ && expects_continue()) return send_continue();
  read_some();
}

void Session::on_parse_error(error_code ec) {
  if (ec == bh::error::body_limit) {
    core_->metrics.rejected("body_bytes");
    return reject(Response::problem(
        {base::ErrorKind::kPayloadTooLarge,
         fmt::format("request body exceeds the limit of {} bytes",
                     core_->limits.body_bytes_max)}));
  }
  if (ec == bh::error::header_limit) {
    core_->metrics.rejected("header_bytes");
    return reject(Response::problem(
        {base::ErrorKind::kHeaderTooLarge,
         fmt::format("request header exceeds the limit of {} bytes",
                     core_->limits.header_bytes_max)}));
  }
  reject(Response::problem(
      {base::ErrorKind::kInvalidRequest, "malformed HTTP request: " + ec.message()}));
}

bool Session::expects_continue() const {
  const auto& message = parser_->get();
  if (message.version() < 11) return false;
  const auto expect = message[bh::field::expect];
  return expect.size() == 12 && lower_case(expect) == "100-continue";
}

// The client waits for this before sending its body (curl does for large uploads).
void Session::send_continue() {
  continue_sent_ = true;
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                    [self = shared_from_this()](error_code ec, std::size_t) {
                      if (self->phase_ == Phase::kClosed) return;
                      if (ec && !self->timed_out_) return self->close();
                      if (self->timed_out_) return self->on_read(ec, 0);
                      self->read_some();
                    });
}

// ---- handling -------------------------------------------------------------------------

void Session::on_request_read() {
  phase_ = Phase::kHandling;
  request_read_at_ = Clock::now();
  set_deadline(Clock::time_point::max());  // a handler may take as long as it needs
  const auto& message = parser_->get();
  http10_ = message.version() < 11;
  keep_alive_ = message.keep_alive() && !shutting_down_;
  head_ = message.method() == bh::verb::head;
  core_->in_flight.fetch_add(1, std::memory_order_relaxed);
  in_flight_counted_ = true;
  ++request_seq_;
  dispatch(to_request(*parser_, remote_address_));
}

void Session::dispatch(Request&& request) {
  route_.assign(kUnmatchedRoute);
  if (auto parsed = parse_target(request); !parsed) {
    return write_response(Response::problem(parsed.error()));
  }
  if (const auto& hooks = core_->router.hooks(); hooks.headers || hooks.before) {
    if (hooks.headers) extra_headers_ = hooks.headers(request);
    if (hooks.before) {
      if (auto answer = hooks.before(request)) return write_response(std::move(*answer));
    }
  }
  auto matched = core_->router.match(request);
  if (auto* response = std::get_if<Response>(&matched)) {
    return write_response(std::move(*response));
  }
  route_.assign(request.route);
  const Handler& handler = *std::get<const Handler*>(matched);
  auto ticket = std::make_shared<Ticket>(shared_from_this(), request_seq_);
  try {
    handler(std::move(request), [ticket](Response response) {
      if (!ticket->answer(std::move(response))) {
        spdlog::warn("http: Respond called more than once; the extra answer is ignored");
      }
    });
  } catch (const std::exception& e) {
    spdlog::error("http: handler for {} threw: {}", route_, e.what());
    ticket->answer(Response::problem({base::ErrorKind::kInternalError, "internal error"}));
  } catch (...) {
    spdlog::error("http: handler for {} threw a non-standard exception", route_);
    ticket->answer(Response::problem({base::ErrorKind::kInternalError, "internal error"}));
  }
}

void Session::deliver(std::uint64_t seq, Response&& response) {
  if (strand_.running_in_this_thread()) return on_answer(seq, std::move(response));
  std::shared_lock lock(core_->post_mutex);
  if (core_->stopped) return;  // the server is gone; nobody is left to write to
  asio::post(strand_, [self = shared_from_this(), seq, response = std::move(response)]() mutable {
    self->on_answer(seq, std::move(response));
  });
}

void Session::on_answer(std::uint64_t seq, Response&& response) {
  if (phase_ != Phase::kHandling || seq != request_seq_) return;  // closed meanwhile
  if (response.channel) return take_over(std::move(response));
  write_response(std::move(response));
}

// The connection becomes a channel: no longer a request in flight, no request or idle
// deadlines, and its place in sessions_active and the open-connection gauge moves with it.
// The parsed request stays in parser_ until here because the WebSocket handshake needs it.
void Session::take_over(Response&& response) {
  const ChannelKind kind = response.channel->kind;
  if (shutting_down_ || core_->stopping.load()) {
    return write_response(Response::problem(
        {base::ErrorKind::kServiceUnavailable, "the server is stopping; reconnect later"}));
  }
  if (kind == ChannelKind::kWebSocket) {
    if (auto problem = websocket_upgrade_problem(upgrade_fields(parser_->get()))) {
      Response answer = Response::problem(problem->error);
      if (problem->wrong_version) answer.headers.emplace_back("sec-websocket-version", "13");
      return write_response(std::move(answer));
    }
  }
  const auto latency =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - request_read_at_);
  core_->metrics.observe(route_, kind == ChannelKind::kWebSocket ? 101 : 200, latency);
  if (in_flight_counted_) {
    in_flight_counted_ = false;
    core_->in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  phase_ = Phase::kClosed;  // close() is now a no-op: the socket and the counts move on
  ++timer_generation_;
  timer_.cancel();
  for (auto& h : extra_headers_) response.headers.push_back(std::move(h));
  extra_headers_.clear();
  Handover handover{core_, std::move(socket_), std::move(response.channel->callbacks),
                    std::move(response.headers), remote_address_};
  if (kind == ChannelKind::kWebSocket) {
    start_websocket_channel(std::move(handover), parser_->release());
  } else {
    start_event_stream_channel(std::move(handover));
  }
  parser_.reset();
}

// ---- writing --------------------------------------------------------------------------

// An answer the session itself makes before (or instead of) reading a whole request; the
// connection closes after it because the rest of the input cannot be trusted.
void Session::reject(Response&& response) {
  phase_ = Phase::kHandling;
  request_read_at_ = Clock::now();
  route_.assign(kUnmatchedRoute);
  extra_headers_.clear();
  keep_alive_ = false;
  http10_ = false;
  head_ = false;
  write_response(std::move(response));
}

void Session::write_response(Response&& response) {
  phase_ = Phase::kWriting;
  set_deadline(Clock::now() + core_->limits.request_timeout);
  if (response.status < 100 || response.status > 999) {
    spdlog::error("http: handler for {} answered invalid status {}", route_, response.status);
    response = Response::problem({base::ErrorKind::kInternalError, "invalid response status"});
  }
  if (shutting_down_ || core_->stopping.load(std::memory_order_relaxed)) keep_alive_ = false;
  status_ = response.status;
  for (auto& h : extra_headers_) response.headers.push_back(std::move(h));
  extra_headers_.clear();
  out_head_.clear();
  keep_alive_ = format_head(out_head_, response,
                            HeadOptions{keep_alive_, http10_, http_date()});
  if (head_ || !status_has_body(status_)) {
    out_body_.clear();
  } else {
    out_body_ = std::move(response.body);
  }
  const std::array buffers{asio::buffer(out_head_), asio::buffer(out_body_)};
  asio::async_write(socket_, buffers, [self = shared_from_this()](error_code ec, std::size_t) {
    self->on_write(ec);
  });
}

void Session::on_write(error_code ec) {
  if (phase_ == Phase::kClosed) return;
  const auto latency =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - request_read_at_);
  core_->metrics.observe(route_, status_, latency);
  if (in_flight_counted_) {
    in_flight_counted_ = false;
    core_->in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  if (ec) return close();
  if (!keep_alive_) return linger_close();
  begin_request();
}

void Session::linger_close() {
  phase_ = Phase::kLingering;
  error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (ec) return close();
  linger_bytes_ = 0;
  set_deadline(Clock::now() + kLingerTimeout);
  drain();
}

void Session::drain() {
  socket_.async_read_some(buffer_.prepare(kReadChunkBytes),
                          [self = shared_from_this()](error_code ec, std::size_t bytes) {
                            if (self->phase_ != Phase::kLingering) return;
                            self->linger_bytes_ += bytes;
                            if (ec || self->linger_bytes_ > kLingerBytesMax) return self->close();
                            self->drain();
                          });
}

void Session::close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  error_code ec;
  socket_.close(ec);
  ++timer_generation_;
  timer_.cancel();
  parser_.reset();
  if (in_flight_counted_) {
    in_flight_counted_ = false;
    core_->in_flight.fetch_sub(1, std::memory_order_relaxed);
  }
  if (counts_as_active_) core_->sessions_active.fetch_sub(1, std::memory_order_relaxed);
  core_->metrics.connection_closed();
}

// ---- deadlines --------------------------------------------------------------------------
// One timer per session, re-armed lazily: moving a deadline later costs nothing; the timer
// fires at the old time, sees the new deadline and re-arms once. Only an earlier deadline
// re-arms at once. So a busy keep-alive connection touches the timer queue rarely.

void Session::set_deadline(Clock::time_point deadline) {
  deadline_ = deadline;
  if (deadline < timer_expiry_) arm_timer(deadline);
}

void Session::arm_timer(Clock::time_point at) {
  const std::uint64_t generation = ++timer_generation_;
  timer_expiry_ = at;
  timer_.expires_at(at);
  timer_.async_wait([self = shared_from_this(), generation](error_code) {
    self->on_timer(generation);
  });
}

void Session::on_timer(std::uint64_t generation) {
  if (generation != timer_generation_ || phase_ == Phase::kClosed) return;
  timer_expiry_ = Clock::time_point::max();
  if (Clock::now() < deadline_) {
    if (deadline_ != Clock::time_point::max()) arm_timer(deadline_);
    return;
  }
  on_deadline();
}

void Session::on_deadline() {
  switch (phase_) {
    case Phase::kReading: {
      // Cancel the read; its handler sees timed_out_ and answers 408.
      timed_out_ = true;
      error_code ec;
      socket_.cancel(ec);
      return;
    }
    case Phase::kHandling: return;
    case Phase::kIdle:
    case Phase::kWriting:
    case Phase::kLingering:
    case Phase::kClosed: return close();
  }
}

const std::string& Session::http_date() {
  const std::time_t now = std::time(nullptr);
  if (now != date_second_) {
    date_second_ = now;
    date_ = format_http_date(now);
  }
  return date_;
}

}  // namespace cityroom::http::detail
