// The test sink (see test_sink.h): one io_context on one thread, one session per connection.
#include "test_sink.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>

namespace cityroom::delivery::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// Sessions and handlers point at the State with a plain pointer: the State owns the io_context
// that owns them, so a shared_ptr there would be a cycle that never frees.
struct Sink::State {
  SinkOptions options;
  std::optional<ssl::context> tls;  // outlives the io_context and the streams its handlers hold
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<tcp::socket> held;  // blackhole connections

  mutable std::mutex mutex;
  mutable std::condition_variable cv;
  std::vector<Received> received;
  std::size_t connections = 0;

  int record(Received r) {
    std::lock_guard lock(mutex);
    const std::size_t n = received.size();
    received.push_back(std::move(r));
    cv.notify_all();
    return options.status ? options.status(n) : 200;
  }
};

namespace {

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Sink::State* state, Stream stream, std::size_t id)
      : state_(state), stream_(std::move(stream)), timer_(state_->io), id_(id) {}

  void start() {
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (!ec) self->read();
                              });
    } else {
      read();
    }
  }

 private:
  void read() {
    request_ = {};
    auto& lowest = beast::get_lowest_layer(stream_);
    if (state_->options.close_idle_after.count() > 0) {
      lowest.expires_after(state_->options.close_idle_after);
    } else {
      lowest.expires_never();
    }
    bh::async_read(stream_, buffer_, request_,
                   [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                     if (ec) {
                       beast::get_lowest_layer(self->stream_).close();
                       return;
                     }
                     self->on_request();
                   });
  }

  void on_request() {
    Received r{std::string(request_.target()), {}, request_.body(), id_};
    for (const auto& f : request_) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(f.value());
    }
    const int status = state_->record(std::move(r));
    response_ = {};
    response_.result(static_cast<unsigned>(status));
    response_.version(11);
    response_.keep_alive(request_.keep_alive() && !state_->options.close_each);
    response_.prepare_payload();
    if (state_->options.delay.count() > 0) {
      timer_.expires_after(state_->options.delay);
      timer_.async_wait([self = this->shared_from_this()](beast::error_code) { self->write(); });
    } else {
      write();
    }
  }

  void write() {
    beast::get_lowest_layer(stream_).expires_never();
    bh::async_write(stream_, response_,
                    [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                      if (ec || !self->response_.keep_alive()) {
                        beast::get_lowest_layer(self->stream_).close();
                        return;
                      }
                      self->read();
                    });
  }

  Sink::State* state_;
  Stream stream_;
  asio::steady_timer timer_;
  std::size_t id_;
  beast::flat_buffer buffer_;
  bh::request<bh::string_body> request_;
  bh::response<bh::empty_body> response_;
};

void accept(Sink::State* state) {
  state->acceptor.async_accept([state](beast::error_code ec, tcp::socket socket) {
    if (ec) return;
    std::size_t id;
    {
      std::lock_guard lock(state->mutex);
      id = ++state->connections;
    }
    if (state->options.blackhole) {
      state->held.push_back(std::move(socket));
    } else if (state->tls) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          state,
          beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *state->tls),
          id)
          ->start();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(state, beast::tcp_stream(std::move(socket)), id)
          ->start();
    }
    accept(state);
  });
}

}  // namespace

Sink::Sink(SinkOptions options) : state_(std::make_unique<State>()) {
  state_->options = std::move(options);
  if (state_->options.tls) {
    state_->tls.emplace(ssl::context::tls_server);
    state_->tls->use_certificate_chain_file(state_->options.cert_file);
    state_->tls->use_private_key_file(state_->options.key_file, ssl::context::pem);
  }
  tcp::endpoint where(asio::ip::make_address("127.0.0.1"), 0);
  state_->acceptor.open(where.protocol());
  state_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  state_->acceptor.bind(where);
  state_->acceptor.listen();
  port_ = state_->acceptor.local_endpoint().port();
  accept(state_.get());
  thread_ = std::thread([state = state_.get()] { state->io.run(); });
}

Sink::~Sink() {
  state_->io.stop();
  thread_.join();
}

std::string Sink::uri(const std::string& path) const {
  return std::string(state_->options.tls ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<Received> Sink::received() const {
  std::lock_guard lock(state_->mutex);
  return state_->received;
}

std::size_t Sink::connections() const {
  std::lock_guard lock(state_->mutex);
  return state_->connections;
}

bool Sink::wait_for(std::size_t n, std::chrono::seconds deadline) const {
  std::unique_lock lock(state_->mutex);
  return state_->cv.wait_for(lock, deadline, [&] { return state_->received.size() >= n; });
}

std::uint16_t dead_port() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

TestCert make_self_signed_cert(const std::string& name) {
  std::string pattern = (std::filesystem::temp_directory_path() / ("cityroom-tls-XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  TestCert cert{pattern, pattern + "/cert.pem", pattern + "/key.pem"};
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
      " -subj /CN=" +
      name +
      " -addext subjectAltName=IP:127.0.0.1,DNS:localhost"
      " -keyout " +
      cert.key_file + " -out " + cert.cert_file + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("openssl req failed");
  return cert;
}

}  // namespace cityroom::delivery::testing
