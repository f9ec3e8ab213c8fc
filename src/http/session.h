// Internal: one client connection — read a request, route it, hand it to its handler, write the
// answer, repeat while keep-alive holds.
//
// Every member is touched only on the session's strand, except deliver() (any thread), which
// hops onto the strand. The read loop feeds Beast's request_parser from our own buffer, so the
// session always knows whether it is idle (no byte of the next request yet: idle timeout, close
// quietly) or mid-request (request timeout: answer 408).
//
// An answer carrying a ChannelUpgrade hands the socket (and the parsed request, which the
// WebSocket handshake needs) over to a channel (channel.h); the session then ends without
// closing the socket, and the channel inherits its place in the connection counts.
#pragma once

#include <chrono>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/core.h"

namespace cityroom::http::detail {

class Session : public Connection, public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<Core> core, Socket socket);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();           // serve requests
  void start_rejected();  // over connections_max: answer 503 and close
  // Any thread (they hop onto the strand):
  void request_shutdown() override;  // server stopping: close if idle, else after the answer
  void request_close() override;     // grace expired: close whatever the state
  // Any thread: the handler's answer for request number `seq`.
  void deliver(std::uint64_t seq, Response&& response);

 private:
  enum class Phase { kIdle, kReading, kHandling, kWriting, kLingering, kClosed };

  void begin_shutdown();
  void begin_request();
  void read_some();
  void on_read(boost::system::error_code ec, std::size_t bytes);
  void parse_buffered();
  void on_parse_error(boost::system::error_code ec);
  bool expects_continue() const;
  void send_continue();
  void on_request_read();
  void dispatch(Request&& request);
  void on_answer(std::uint64_t seq, Response&& response);
  void take_over(Response&& response);
  void reject(Response&& response);
  void write_response(Response&& response);
  void on_write(boost::system::error_code ec);
  void linger_close();
  void drain();
  void close();

  void set_deadline(Clock::time_point deadline);
  void arm_timer(Clock::time_point at);
  void on_timer(std::uint64_t generation);
  void on_deadline();
  const std::string& http_date();

  std::shared_ptr<Core> core_;
  Strand strand_;
  Socket socket_;
  Timer timer_;
  std::uint64_t id_ = 0;
  bool registered_ = false;
  bool counts_as_active_ = true;  // false for a connection turned away with 503

  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Phase phase_ = Phase::kIdle;
  bool timed_out_ = false;
  bool continue_sent_ = false;
  bool shutting_down_ = false;
  bool keep_alive_ = false;
  bool http10_ = false;
  bool head_ = false;
  bool in_flight_counted_ = false;
  std::uint64_t request_seq_ = 0;
  std::size_t linger_bytes_ = 0;
  std::string remote_address_;

  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point timer_expiry_ = Clock::time_point::max();
  std::uint64_t timer_generation_ = 0;

  // The answer being written; kept as members so their capacity is reused across requests.
  Clock::time_point request_read_at_;
  std::string route_;
  Headers extra_headers_;  // Router::Hooks::headers for the request being answered
  int status_ = 0;
  std::string out_head_;
  std::string out_body_;
  std::time_t date_second_ = 0;
  std::string date_;
};

}  // namespace cityroom::http::detail
