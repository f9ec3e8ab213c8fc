// The HTTP/1.1 client connection, plain or TLS: the only translation unit with Beast's and
// OpenSSL's heavy templates. One exchange at a time (no pipelining): connect lazily (resolve
// unless the host is an IP literal, TCP connect, TLS handshake with SNI and host-name check),
// write the POST, read the answer, keep the connection when the server allows it.
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>
#include <stdexcept>

#include "delivery/internal.h"

namespace cityroom::delivery {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

constexpr std::uint32_t kResponseHeaderBytesMax = 16 * 1024;
constexpr std::uint64_t kResponseBodyBytesMax = 1024 * 1024;
constexpr std::string_view kUserAgent = "cityroom-notifier";

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

Attempt answered(int status) {
  if (status >= 200 && status < 300) return {status, "", false};
  return {status, "HTTP " + std::to_string(status), is_retryable_status(status)};
}

template <class Stream>
class BasicConnection final : public Connection,
                              public std::enable_shared_from_this<BasicConnection<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  BasicConnection(Shared& shared, Strand strand, const Target& where)
      : shared_(shared), strand_(strand), where_(where), resolver_(strand), resolve_timer_(strand) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(where_.host, ec);
    literal_ = !ec;
    if (literal_) addresses_.emplace_back(address, where_.port);
  }

  void send(Item item, Finished finished) override {
    busy_ = true;
    abandoned_ = false;
    ++exchange_;
    item_ = std::move(item);
    finished_ = std::move(finished);
    build_request();
    if (open_) {
      reused_ = true;
      write();
      return;
    }
    reused_ = false;
    // Posted, so an old stream is never destroyed inside one of its own handlers.
    asio::post(strand_, [self = this->shared_from_this()] { self->connect(); });
  }

  bool busy() const override { return busy_; }
  bool open() const override { return open_; }
  Clock::time_point last_used() const override { return last_used_; }

  void close() override {
    abandoned_ = busy_;  // a connect() already posted must not start afresh
    shut();
    if (resolving_) {
      resolving_ = false;
      resolver_.cancel();
      resolve_timer_.cancel();
      asio::post(strand_, [self = this->shared_from_this(), id = exchange_] {
        self->complete(id, {0, self->aborted_text(), true});
      });
    }
  }

 private:
  void build_request() {
    request_ = {};
    request_.method(bh::verb::post);
    request_.target(item_.path);
    request_.version(11);
    request_.set(bh::field::host, where_.host_header);
    request_.set(bh::field::user_agent, kUserAgent);
    bool has_type = false;
    for (const auto& [name, value] : item_.message.headers) {
      if (is_framing_header(name)) continue;
      has_type = has_type || beast::iequals(name, "content-type");
      request_.insert(name, value);
    }
    if (!has_type) request_.set(bh::field::content_type, "application/json");
    request_.body() = item_.message.body;
    request_.keep_alive(true);
    request_.prepare_payload();
  }

  void connect() {
    if (abandoned_) {
      complete(exchange_, {0, aborted_text(), true});
      return;
    }
    stream_.reset();
    buffer_.clear();
    if constexpr (kTls) {
      stream_.emplace(strand_, *shared_.tls);
    } else {
      stream_.emplace(strand_);
    }
    if (!addresses_.empty()) {
      tcp_connect();
      return;
    }
    resolve();
  }

  void resolve() {
    resolving_ = true;
    const auto id = exchange_;
    resolve_timer_.expires_after(shared_.options.connect_timeout);
    resolve_timer_.async_wait([self = this->shared_from_this(), id](boost::system::error_code ec) {
      if (ec || !self->resolving_ || id != self->exchange_) return;
      self->resolving_ = false;
      self->resolver_.cancel();
      self->complete(id, {0, "resolve timeout", true});
    });
    resolver_.async_resolve(where_.host, std::to_string(where_.port),
                            [self = this->shared_from_this(), id](
                                boost::system::error_code ec, tcp::resolver::results_type results) {
                              if (!self->resolving_ || id != self->exchange_) return;
                              self->resolving_ = false;
                              self->resolve_timer_.cancel();
                              if (ec || results.empty()) {
                                self->complete(id, {0, "resolve: " + ec.message(), true});
                                return;
                              }
                              for (const auto& r : results)
                                self->addresses_.push_back(r.endpoint());
                              self->tcp_connect();
                            });
  }

  void tcp_connect() {
    auto& lowest = beast::get_lowest_layer(*stream_);
    lowest.expires_after(shared_.options.connect_timeout);
    lowest.async_connect(addresses_, [self = this->shared_from_this(), id = exchange_](
                                         boost::system::error_code ec, const tcp::endpoint&) {
      if (ec) {
        if (!self->literal_) self->addresses_.clear();  // resolve again next time
        self->fail(id,
                   ec == beast::error::timeout ? "connect timeout" : "connect: " + ec.message());
        return;
      }
      self->open_ = true;
      self->shared_.connections_open.fetch_add(1);
      if constexpr (kTls) {
        self->handshake();
      } else {
        self->write();
      }
    });
  }

  void handshake() {
    SSL* native = stream_->native_handle();
    if (!literal_) SSL_set_tlsext_host_name(native, where_.host.c_str());  // SNI
    if (shared_.options.verify_tls) {
      stream_->set_verify_mode(ssl::verify_peer);
      stream_->set_verify_callback(ssl::host_name_verification(where_.host));
    }
    beast::get_lowest_layer(*stream_).expires_after(shared_.options.connect_timeout);
    stream_->async_handshake(ssl::stream_base::client,
                             [self = this->shared_from_this(), id = exchange_](
                                 boost::system::error_code ec) { self->on_handshake(id, ec); });
  }

  void on_handshake(std::uint64_t id, boost::system::error_code ec) {
    if (!ec) {
      write();
      return;
    }
    if (ec == beast::error::timeout) {
      fail(id, "TLS handshake timeout");
      return;
    }
    std::string text = "TLS: " + ec.message();
    const long verify = SSL_get_verify_result(stream_->native_handle());
    if (verify != X509_V_OK)
      text += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    // A certificate the client refuses stays refused: no retry, just a clear error.
    const bool refused = ec.category() == asio::error::get_ssl_category();
    shut();
    complete(id, {0, std::move(text), !refused && !shared_.stopping.load()});
  }

  void write() {
    beast::get_lowest_layer(*stream_).expires_after(shared_.options.request_timeout);
    bh::async_write(*stream_, request_,
                    [self = this->shared_from_this(), id = exchange_](boost::system::error_code ec,
                                                                      std::size_t) {
                      if (ec) {
                        self->on_exchange_error(id, ec, "send");
                        return;
                      }
                      self->read();
                    });
  }

  void read() {
    parser_.emplace();
    parser_->header_limit(kResponseHeaderBytesMax);
    parser_->body_limit(kResponseBodyBytesMax);
    bh::async_read(*stream_, buffer_, *parser_,
                   [self = this->shared_from_this(), id = exchange_](boost::system::error_code ec,
                                                                     std::size_t) {
                     if (ec) {
                       self->on_exchange_error(id, ec, "receive");
                       return;
                     }
                     self->on_response(id);
                   });
  }

  void on_response(std::uint64_t id) {
    beast::get_lowest_layer(*stream_).expires_never();  // idle now; the endpoint times it out
    const auto& response = parser_->get();
    const int status = response.result_int();
    if (!response.keep_alive()) shut();
    complete(id, answered(status));
  }

  void on_exchange_error(std::uint64_t id, boost::system::error_code ec, std::string_view what) {
    // A reused connection the server had closed while idle: send again on a fresh one, once.
    const bool stale = reused_ && !shared_.stopping.load() &&
                       (ec == bh::error::end_of_stream || ec == asio::error::eof ||
                        ec == asio::error::connection_reset || ec == asio::error::broken_pipe);
    shut();
    if (stale) {
      reused_ = false;
      asio::post(strand_, [self = this->shared_from_this()] { self->connect(); });
      return;
    }
    if (ec == beast::error::timeout) {
      fail(id, "request timeout");
      return;
    }
    fail(id, std::string(what) + ": " + ec.message());
  }

  // Ends the exchange with a network-level failure (retryable unless we are stopping).
  void fail(std::uint64_t id, std::string text) {
    shut();
    if (shared_.stopping.load()) text = aborted_text();
    complete(id, {0, std::move(text), true});
  }

  std::string aborted_text() const { return shared_.stopping.load() ? "stopped" : "closed"; }

  void shut() {
    if (stream_) {
      boost::system::error_code ignored;
      beast::get_lowest_layer(*stream_).socket().close(ignored);
    }
    if (open_) {
      open_ = false;
      shared_.connections_open.fetch_sub(1);
    }
  }

  // The last thing an exchange does: `finished_` may start the next exchange right away.
  void complete(std::uint64_t id, Attempt attempt) {
    if (id != exchange_ || !busy_) return;
    busy_ = false;
    last_used_ = Clock::now();
    auto finished = std::move(finished_);
    finished_ = nullptr;
    finished(std::move(item_), std::move(attempt));
  }

  Shared& shared_;
  Strand strand_;
  const Target where_;
  tcp::resolver resolver_;
  asio::steady_timer resolve_timer_;
  std::vector<tcp::endpoint> addresses_;
  bool literal_ = false;
  std::optional<Stream> stream_;
  beast::flat_buffer buffer_;
  bh::request<bh::string_body> request_;
  std::optional<bh::response_parser<bh::string_body>> parser_;
  Item item_;
  Finished finished_;
  std::uint64_t exchange_ = 0;
  bool busy_ = false;
  bool open_ = false;
  bool reused_ = false;
  bool resolving_ = false;
  bool abandoned_ = false;  // close() came while busy
  Clock::time_point last_used_ = Clock::now();
};

}  // namespace

std::shared_ptr<Connection> make_connection(Shared& shared, Strand strand, const Target& where) {
  if (where.tls) return std::make_shared<BasicConnection<TlsStream>>(shared, strand, where);
  return std::make_shared<BasicConnection<PlainStream>>(shared, strand, where);
}

std::shared_ptr<ssl::context> make_tls_context(const Options& options) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (!options.verify_tls) {
    context->set_verify_mode(ssl::verify_none);
    return context;
  }
  context->set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (options.ca_file.empty()) {
    context->set_default_verify_paths(ec);
  } else {
    context->load_verify_file(options.ca_file, ec);
  }
  if (ec) {
    throw std::invalid_argument(
        "delivery: cannot load CA certificates" +
        (options.ca_file.empty() ? std::string() : " from " + options.ca_file) + ": " +
        ec.message());
  }
  return context;
}

}  // namespace cityroom::delivery
