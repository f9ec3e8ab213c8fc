// bare_beast: the peer for HTTP benchmarks. A minimal Boost.Beast server with the same
// threading model as cityroom's (one io_context on N threads, a strand per connection,
// keep-alive) that answers every request with one fixed JSON body. What cityroom's server
// costs on top of Beast is the difference between the two under the same load.
//
//   bare_beast --port 8081 --threads 2 --body-bytes 300
#include <charconv>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = beast::http;
using tcp = asio::ip::tcp;

constexpr std::chrono::seconds kIdleTimeout{120};
constexpr std::size_t kBodyBytesMax = 1024 * 1024;

struct Options {
  std::uint16_t port = 8081;
  std::size_t threads = 0;
  std::size_t body_bytes = 300;
};

// A JSON object padded to exactly `bytes` (at least the fixed part).
std::string make_body(std::size_t bytes) {
  const std::string head = R"({"id":"urn:ngsi-ld:Peer:1","type":"Peer","pad":")";
  const std::string tail = R"("})";
  const std::size_t fixed = head.size() + tail.size();
  return head + std::string(bytes > fixed ? bytes - fixed : 0, 'x') + tail;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const std::string& body)
      : stream_(std::move(socket)), body_(body) {}

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    request_ = {};
    stream_.expires_after(kIdleTimeout);
    bh::async_read(stream_, buffer_, request_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) {
                     self->on_read(ec);
                   });
  }

  void on_read(beast::error_code ec) {
    if (ec) return close();
    response_ = bh::response<bh::string_body>(bh::status::ok, request_.version());
    response_.set(bh::field::server, "bare_beast");
    response_.set(bh::field::content_type, "application/json");
    response_.keep_alive(request_.keep_alive());
    response_.body() = body_;
    response_.prepare_payload();
    bh::async_write(stream_, response_,
                    [self = shared_from_this()](beast::error_code write_ec, std::size_t) {
                      self->on_write(write_ec);
                    });
  }

  void on_write(beast::error_code ec) {
    if (ec || !response_.keep_alive()) return close();
    read();
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{kBodyBytesMax};
  bh::request<bh::string_body> request_;
  bh::response<bh::string_body> response_;
  const std::string& body_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, tcp::acceptor acceptor, const std::string& body)
      : ioc_(ioc), acceptor_(std::move(acceptor)), body_(body) {}

  void accept() {
    acceptor_.async_accept(asio::make_strand(ioc_),
                           [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                             if (!ec) {
                               socket.set_option(tcp::no_delay(true), ec);
                               std::make_shared<Session>(std::move(socket), self->body_)->start();
                             }
                             if (self->acceptor_.is_open()) self->accept();
                           });
  }

 private:
  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  const std::string& body_;
};

bool parse_number(std::string_view text, std::size_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool parse_options(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) return false;  // every option takes a value
    const std::string_view name = argv[i];
    std::size_t value = 0;
    if (!parse_number(argv[i + 1], value)) return false;
    if (name == "--port" && value <= 65535) {
      options.port = static_cast<std::uint16_t>(value);
    } else if (name == "--threads") {
      options.threads = value;
    } else if (name == "--body-bytes" && value <= kBodyBytesMax) {
      options.body_bytes = value;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse_options(argc, argv, options)) {
    std::fprintf(stderr, "usage: bare_beast [--port P] [--threads N] [--body-bytes B]\n");
    return 2;
  }
  const std::size_t threads =
      options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  const std::string body = make_body(options.body_bytes);
  try {
    asio::io_context ioc(static_cast<int>(threads));
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), options.port));
    const auto port = acceptor.local_endpoint().port();
    std::make_shared<Listener>(ioc, std::move(acceptor), body)->accept();
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&ioc](beast::error_code, int) { ioc.stop(); });
    std::printf("bare_beast listening on http://127.0.0.1:%u\n", static_cast<unsigned>(port));
    std::fflush(stdout);
    std::vector<std::thread> pool;
    for (std::size_t i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bare_beast: %s\n", e.what());
    return 1;
  }
  return 0;
}
