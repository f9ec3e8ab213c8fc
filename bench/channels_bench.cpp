// cityroom_channels_bench: server-push throughput and latency of http WebSocket channels.
//
// One process: a cityroom http::Server on 127.0.0.1 with one WebSocket route, N Beast
// WebSocket clients on their own io_context thread, and a pusher thread that plays the live
// module's fan-out: every 1/B seconds it calls Channel::send() once per client with a message
// stamped with steady_clock at the call (B = rate / N broadcasts per second). A client
// records now − stamp on receipt, so latency spans send() → queue → strand → socket →
// client read. CPU is split by thread clocks: server = process − client thread − pusher.
//
//   cityroom_channels_bench [--clients 200] [--rates 1000,5000,20000] [--seconds 8]
//                           [--warmup 2] [--bytes 200] [--server-threads 1]
//
// Output: one line per rate. Bounded: (warmup + seconds) per rate, then everything closes.
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "http/http.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t kClientsMax = 10'000;
constexpr double kSecondsMax = 60;

struct Options {
  std::size_t clients = 200;
  std::vector<double> rates = {1000, 5000, 20000};
  double seconds = 8;
  double warmup = 2;
  std::size_t bytes = 200;
  std::size_t server_threads = 1;
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double cpu_seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double thread_cpu_seconds(std::thread& thread) {
  clockid_t clock;
  pthread_getcpuclockid(thread.native_handle(), &clock);
  return cpu_seconds(clock);
}

// Latencies of the phase being measured; the client thread alone writes them.
struct Recorder {
  std::atomic<int> phase{-1};  // messages of other phases (warm-up) are not recorded
  std::vector<std::uint32_t> latencies_us;
  std::uint64_t received = 0;
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(asio::io_context& ioc, Recorder& recorder) : ws_(ioc), recorder_(recorder) {}

  void start(const tcp::endpoint& endpoint, std::atomic<std::size_t>& connected) {
    ws_.next_layer().connect(endpoint);
    ws_.async_handshake("127.0.0.1", "/ws", [self = shared_from_this(), &connected](auto ec) {
      if (ec) return std::fprintf(stderr, "handshake: %s\n", ec.message().c_str()), void();
      connected.fetch_add(1);
      self->read();
    });
  }
  void close() {
    boost::system::error_code ec;
    ws_.next_layer().close(ec);
  }

 private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](auto ec, std::size_t) {
      if (ec) return;
      self->on_message();
      self->read();
    });
  }

  // "<phase> <stamp_ns> <padding>"
  void on_message() {
    const std::int64_t now = now_ns();
    const std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.clear();
    int phase = -1;
    std::int64_t stamp = 0;
    const char* p = text.data();
    const char* end = p + text.size();
    auto r = std::from_chars(p, end, phase);
    if (r.ec != std::errc{} || r.ptr == end) return;
    std::from_chars(r.ptr + 1, end, stamp);
    if (phase != recorder_.phase.load(std::memory_order_relaxed)) return;
    ++recorder_.received;
    recorder_.latencies_us.push_back(static_cast<std::uint32_t>((now - stamp) / 1000));
  }

  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
  Recorder& recorder_;
};

double percentile(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i] / 1000.0;
}

std::vector<double> parse_rates(std::string_view s) {
  std::vector<double> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    out.push_back(std::stod(std::string(s.substr(0, comma))));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view name = argv[i];
    const std::string value = argv[i + 1];
    if (name == "--clients") o.clients = std::stoul(value);
    else if (name == "--rates") o.rates = parse_rates(value);
    else if (name == "--seconds") o.seconds = std::stod(value);
    else if (name == "--warmup") o.warmup = std::stod(value);
    else if (name == "--bytes") o.bytes = std::stoul(value);
    else if (name == "--server-threads") o.server_threads = std::stoul(value);
    else throw std::invalid_argument("unknown option " + std::string(name));
  }
  o.clients = std::clamp<std::size_t>(o.clients, 1, kClientsMax);
  o.seconds = std::clamp(o.seconds, 0.5, kSecondsMax);
  o.warmup = std::clamp(o.warmup, 0.0, kSecondsMax);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  std::mutex channels_mutex;
  std::vector<std::shared_ptr<cityroom::http::Channel>> channels;

  cityroom::http::Router router;
  router.add("GET", "/ws", [&](cityroom::http::Request&&, cityroom::http::Respond respond) {
    cityroom::http::ChannelCallbacks callbacks;
    callbacks.opened = [&](std::shared_ptr<cityroom::http::Channel> channel) {
      std::lock_guard lock(channels_mutex);
      channels.push_back(std::move(channel));
    };
    respond(cityroom::http::Response::websocket(std::move(callbacks)));
  });
  cityroom::http::Metrics metrics;
  cityroom::http::Limits limits;
  limits.threads = options.server_threads;
  cityroom::http::Server server(limits, router, metrics);
  auto port = server.listen("127.0.0.1", 0);
  if (!port) return std::fprintf(stderr, "listen: %s\n", port.error().detail.c_str()), 1;
  server.start();

  asio::io_context client_ioc;
  Recorder recorder;
  std::atomic<std::size_t> connected{0};
  std::vector<std::shared_ptr<Client>> clients;
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), *port);
  for (std::size_t i = 0; i < options.clients; ++i) {
    clients.push_back(std::make_shared<Client>(client_ioc, recorder));
    clients.back()->start(endpoint, connected);
  }
  auto work = asio::make_work_guard(client_ioc);
  std::thread client_thread([&] { client_ioc.run(); });
  for (int i = 0; i < 1000; ++i) {  // bounded: 10 s for every handshake on both sides
    std::this_thread::sleep_for(10ms);
    std::lock_guard lock(channels_mutex);
    if (channels.size() >= options.clients && connected.load() >= options.clients) break;
  }
  std::printf("clients=%zu connected=%zu server_threads=%zu bytes=%zu cores=%u\n",
              options.clients, connected.load(), options.server_threads, options.bytes,
              std::thread::hardware_concurrency());

  for (std::size_t phase = 0; phase < options.rates.size(); ++phase) {
    const double rate = options.rates[phase];
    const double broadcasts_per_s = rate / static_cast<double>(options.clients);
    const auto period = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / broadcasts_per_s));
    std::atomic<bool> measuring{false};
    std::atomic<bool> done{false};
    std::uint64_t sends = 0, refused = 0;
    std::int64_t send_ns = 0;
    std::thread pusher([&] {
      const std::string padding(options.bytes, 'x');
      std::string message;
      auto next = Clock::now();
      while (!done.load()) {
        std::this_thread::sleep_until(next);
        next += period;
        const int tag = measuring.load() ? static_cast<int>(phase) : -2;
        std::lock_guard lock(channels_mutex);
        for (const auto& channel : channels) {
          const std::int64_t begun = now_ns();
          message = std::to_string(tag) + ' ' + std::to_string(begun) + ' ' + padding;
          const bool ok = channel->send(message);
          if (tag >= 0) {
            send_ns += now_ns() - begun;
            ++sends;
            refused += ok ? 0 : 1;
          }
        }
      }
    });
    std::this_thread::sleep_for(std::chrono::duration<double>(options.warmup));
    // The client thread reads the phase with each message; the vector is swapped at quiet
    // points only (here, before any message of this phase exists).
    asio::post(client_ioc, [&] {
      recorder.latencies_us.clear();
      recorder.received = 0;
      recorder.phase.store(static_cast<int>(phase));
    });
    const double process0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
    const double client0 = thread_cpu_seconds(client_thread);
    const double pusher0 = thread_cpu_seconds(pusher);
    const auto wall0 = Clock::now();
    measuring.store(true);
    std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
    measuring.store(false);
    const double wall = std::chrono::duration<double>(Clock::now() - wall0).count();
    const double process = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - process0;
    const double client = thread_cpu_seconds(client_thread) - client0;
    const double push = thread_cpu_seconds(pusher) - pusher0;
    done.store(true);
    pusher.join();
    std::this_thread::sleep_for(200ms);  // let the last messages of the phase arrive
    std::vector<std::uint32_t> latencies;
    std::uint64_t received = 0;
    std::atomic<bool> copied{false};
    asio::post(client_ioc, [&] {
      latencies.swap(recorder.latencies_us);
      received = recorder.received;
      recorder.phase.store(-1);
      copied.store(true);
    });
    while (!copied.load()) std::this_thread::sleep_for(1ms);
    const double server_cpu = process - client - push;
    std::printf(
        "rate=%.0f/s sent=%llu received=%llu refused=%llu p50=%.2fms p99=%.2fms max=%.2fms "
        "server_cpu=%.1f%% client_cpu=%.1f%% pusher_cpu=%.1f%% send=%.2fus\n",
        rate, static_cast<unsigned long long>(sends), static_cast<unsigned long long>(received),
        static_cast<unsigned long long>(refused), percentile(latencies, 0.50),
        percentile(latencies, 0.99), percentile(latencies, 1.0), 100 * server_cpu / wall,
        100 * client / wall, 100 * push / wall,
        sends ? static_cast<double>(send_ns) / 1000.0 / static_cast<double>(sends) : 0.0);
    std::fflush(stdout);
  }

  {
    std::lock_guard lock(channels_mutex);
    channels.clear();
  }
  server.stop(2s);
  asio::post(client_ioc, [&] {
    for (auto& client : clients) client->close();
  });
  work.reset();
  client_thread.join();
  return 0;
}
