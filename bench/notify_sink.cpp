// notify_sink: a small, fast notification receiver for delivery benchmarks. It accepts HTTP/1.1
// POSTs on 127.0.0.1, answers each with an empty 204 (after --delay-ms when asked, to act as a
// slow endpoint), counts them and prints the rate once per --report-ms. With --blackhole it
// accepts connections and never reads or answers, like a hung endpoint.
//
//   notify_sink --port 9090 [--threads 1] [--delay-ms 0] [--blackhole] [--status 204]
//
// Prints "listening on <port>" first (port 0 picks a free one), then one line per report:
// "t=<s> posts=<total> rate=<per s> connections=<accepted>"; on SIGINT/SIGTERM a final
// "total posts=<n> connections=<n>".
#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = beast::http;
using tcp = asio::ip::tcp;

constexpr std::size_t kBodyBytesMax = 1024 * 1024;

struct Options {
  std::uint16_t port = 9090;
  std::size_t threads = 1;
  int delay_ms = 0;
  bool blackhole = false;
  unsigned status = 204;
  int report_ms = 1000;
};

struct Counters {
  std::atomic<std::uint64_t> posts{0};
  std::atomic<std::uint64_t> connections{0};
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Options& options, Counters& counters)
      : stream_(std::move(socket)),
        timer_(stream_.get_executor()),
        options_(options),
        counters_(counters) {}

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(kBodyBytesMax);
    bh::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) {
                     if (ec) {
                       self->stream_.socket().close(ec);
                       return;
                     }
                     self->on_request();
                   });
  }

  void on_request() {
    counters_.posts.fetch_add(1, std::memory_order_relaxed);
    response_ = {};
    response_.result(options_.status);
    response_.version(11);
    response_.keep_alive(parser_->get().keep_alive());
    response_.prepare_payload();
    if (options_.delay_ms > 0) {
      timer_.expires_after(std::chrono::milliseconds(options_.delay_ms));
      timer_.async_wait([self = shared_from_this()](beast::error_code) { self->write(); });
      return;
    }
    write();
  }

  void write() {
    bh::async_write(stream_, response_,
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      if (ec || !self->response_.keep_alive()) {
                        self->stream_.socket().close(ec);
                        return;
                      }
                      self->read();
                    });
  }

  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  const Options& options_;
  Counters& counters_;
  beast::flat_buffer buffer_;
  std::optional<bh::request_parser<bh::string_body>> parser_;
  bh::response<bh::empty_body> response_;
};

class Listener {
 public:
  Listener(asio::io_context& io, const Options& options, Counters& counters)
      : io_(io), acceptor_(io), options_(options), counters_(counters) {
    tcp::endpoint where(asio::ip::make_address("127.0.0.1"), options.port);
    acceptor_.open(where.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(where);
    acceptor_.listen();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  void accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket s) {
      if (ec) return;
      counters_.connections.fetch_add(1, std::memory_order_relaxed);
      if (options_.blackhole) {
        held_.push_back(std::move(s));  // never read, never answered, never closed
      } else {
        std::make_shared<Session>(std::move(s), options_, counters_)->start();
      }
      accept();
    });
  }

 private:
  asio::io_context& io_;
  tcp::acceptor acceptor_;
  const Options& options_;
  Counters& counters_;
  std::vector<tcp::socket> held_;  // touched only by the accept chain, one at a time
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"notify_sink: counts notification POSTs"};
  app.add_option("--port", o.port, "port on 127.0.0.1 (0 = any free one)");
  app.add_option("--threads", o.threads, "network threads")->check(CLI::Range(1, 64));
  app.add_option("--delay-ms", o.delay_ms, "wait this long before each answer")
      ->check(CLI::Range(0, 600'000));
  app.add_flag("--blackhole", o.blackhole, "accept connections, never answer");
  app.add_option("--status", o.status, "HTTP status of every answer")->check(CLI::Range(100, 599));
  app.add_option("--report-ms", o.report_ms, "rate report interval")
      ->check(CLI::Range(10, 3'600'000));
  CLI11_PARSE(app, argc, argv);

  asio::io_context io(static_cast<int>(o.threads));
  Counters counters;
  Listener listener(io, o, counters);
  listener.accept();
  std::printf("listening on %u\n", static_cast<unsigned>(listener.port()));
  std::fflush(stdout);

  const auto start = std::chrono::steady_clock::now();
  asio::steady_timer report(io);
  std::uint64_t last = 0;
  std::function<void()> tick = [&] {
    report.expires_after(std::chrono::milliseconds(o.report_ms));
    report.async_wait([&](beast::error_code ec) {
      if (ec) return;
      const std::uint64_t now = counters.posts.load();
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("t=%.1f posts=%llu rate=%.0f connections=%llu\n", secs,
                  static_cast<unsigned long long>(now), (now - last) * 1000.0 / o.report_ms,
                  static_cast<unsigned long long>(counters.connections.load()));
      std::fflush(stdout);
      last = now;
      tick();
    });
  };
  tick();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) { io.stop(); });
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < o.threads; ++i) threads.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : threads) t.join();
  std::printf("total posts=%llu connections=%llu\n",
              static_cast<unsigned long long>(counters.posts.load()),
              static_cast<unsigned long long>(counters.connections.load()));
  return 0;
}
