// mqtt_fanout_latency: the reference figure for live streams — Mosquitto's publish → subscribe
// latency when one publisher sends R messages/s on one topic and S subscribers receive each.
//
// Open loop: message i is due at start + i/R; its payload carries that due time (steady clock,
// same process), and a subscriber's latency is receipt time − due time, so a publisher or
// broker that falls behind shows up as latency instead of silently slowing the offered rate
// (no coordinated omission). Messages due in the warm-up are not counted.
// The subscribers share `--threads` epoll loops, so 200 subscribers do not need 200 threads;
// the publisher is a libmosquitto client with its own thread. Subscribers are either
// libmosquitto clients (--client libmosquitto; its non-threaded interface) or, by default, a
// minimal MQTT 3.1.1 QoS 0 reader on raw sockets (--client raw) that parses every packet in a
// 64 KiB read: libmosquitto reads each packet with ~3 recv calls, which at 200,000+ deliveries/s
// makes the measuring client, not the broker, the bottleneck on a small machine.
//
//   mqtt_fanout_latency --port P [--rate 1000] [--subscribers 200] [--duration 10]
//                       [--warmup 2] [--payload-bytes 128] [--threads 1] [--qos 0]
//                       [--client raw|libmosquitto]
// Prints one JSON line: rate, subscribers, published, expected/received deliveries, p50/p90/
// p99/p99.9/max latency (ms) of the deliveries received within the drain time after the end,
// publisher lag. When delivered_fraction is well below 1 the broker is saturated and the
// percentiles describe only what arrived in time.
#include <arpa/inet.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string host = "127.0.0.1";
  int port = 1883;
  double rate = 1000;
  int subscribers = 200;
  double duration_s = 10;
  double warmup_s = 2;
  std::size_t payload_bytes = 128;
  int threads = 1;
  int qos = 0;
  std::string topic = "bench/fanout";
  bool raw = true;  // raw-socket subscribers (see the header)
};

constexpr int kSubscribersMax = 10'000;
constexpr int kThreadsMax = 64;
constexpr auto kSetupTimeout = std::chrono::seconds(20);
constexpr auto kDrainTime = std::chrono::seconds(2);  // wait for late deliveries after the end

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "mqtt_fanout_latency: %s\nusage: mqtt_fanout_latency --port P [--host H] "
               "[--rate R] [--subscribers S] [--duration SEC] [--warmup SEC] "
               "[--payload-bytes N] [--threads T] [--qos 0|1] [--topic T]\n",
               why);
  std::exit(2);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) usage(("missing value for " + k).c_str());
    const char* v = argv[++i];
    if (k == "--host")
      a.host = v;
    else if (k == "--port")
      a.port = std::atoi(v);
    else if (k == "--rate")
      a.rate = std::atof(v);
    else if (k == "--subscribers")
      a.subscribers = std::atoi(v);
    else if (k == "--duration")
      a.duration_s = std::atof(v);
    else if (k == "--warmup")
      a.warmup_s = std::atof(v);
    else if (k == "--payload-bytes")
      a.payload_bytes = static_cast<std::size_t>(std::atol(v));
    else if (k == "--threads")
      a.threads = std::atoi(v);
    else if (k == "--qos")
      a.qos = std::atoi(v);
    else if (k == "--topic")
      a.topic = v;
    else if (k == "--client")
      a.raw = std::string(v) == "raw";
    else
      usage(("unknown option " + k).c_str());
  }
  if (a.port <= 0 || a.port > 65535) usage("--port must be 1..65535");
  if (a.rate <= 0 || a.rate > 1e6) usage("--rate must be in (0, 1e6]");
  if (a.subscribers < 1 || a.subscribers > kSubscribersMax) usage("--subscribers out of range");
  if (a.duration_s <= 0 || a.duration_s > 600 || a.warmup_s < 0) usage("--duration 0..600 s");
  if (a.threads < 1 || a.threads > kThreadsMax) usage("--threads out of range");
  if (a.qos < 0 || a.qos > 1) usage("--qos must be 0 or 1");
  if (a.raw && a.qos != 0) usage("--client raw reads QoS 0 only");
  if (a.payload_bytes < 48 || a.payload_bytes > 65536) usage("--payload-bytes 48..65536");
  return a;
}

// A raw-socket MQTT 3.1.1 subscriber: CONNECT + SUBSCRIBE written at once, then packets parsed
// out of a read buffer.
struct RawSub {
  int fd = -1;
  std::vector<char> buffer;
  std::size_t used = 0;
};

// One epoll loop and the subscribers it serves; only its own thread touches it while running.
struct Loop {
  int epoll_fd = -1;
  std::vector<mosquitto*> clients;
  std::vector<RawSub> raw;
  std::vector<std::int64_t> latencies_ns;
  std::uint64_t received = 0;  // all deliveries
  // Shared with main: SUBACKs seen, and the due times counted, [start, end).
  std::atomic<int>* subscribed = nullptr;
  const std::atomic<std::int64_t>* window_start_ns = nullptr;
  const std::atomic<std::int64_t>* window_end_ns = nullptr;
};

void on_connect(mosquitto* m, void*, int rc) {
  if (rc != 0) {
    std::fprintf(stderr, "subscriber connect refused: %s\n", mosquitto_connack_string(rc));
    return;
  }
}

void on_subscribe(mosquitto*, void* obj, int, int, const int*) {
  static_cast<Loop*>(obj)->subscribed->fetch_add(1);
}

void on_message(mosquitto*, void* obj, const mosquitto_message* msg) {
  auto& loop = *static_cast<Loop*>(obj);
  const auto now = now_ns();
  ++loop.received;
  const char* p = static_cast<const char*>(msg->payload);
  if (!p || msg->payloadlen < 20) return;
  const std::int64_t due = std::strtoll(p, nullptr, 10);
  if (due >= loop.window_start_ns->load(std::memory_order_relaxed) &&
      due < loop.window_end_ns->load(std::memory_order_relaxed)) {
    loop.latencies_ns.push_back(now - due);
  }
}

void put_remaining_length(std::string& out, std::size_t n) {
  do {
    unsigned char byte = n % 128;
    n /= 128;
    if (n) byte |= 0x80;
    out += static_cast<char>(byte);
  } while (n);
}

void put_string(std::string& out, std::string_view s) {
  out += static_cast<char>(s.size() >> 8);
  out += static_cast<char>(s.size() & 0xff);
  out += s;
}

// Connects, then sends CONNECT (clean session, keep-alive off) and SUBSCRIBE (QoS 0).
bool raw_connect(RawSub& sub, const Args& a, const std::string& client_id) {
  sub.fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(a.port));
  if (inet_pton(AF_INET, a.host.c_str(), &addr.sin_addr) != 1) return false;
  if (connect(sub.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
  int one = 1;
  setsockopt(sub.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string body;
  put_string(body, "MQTT");
  body += '\x04';                      // protocol level 3.1.1
  body += '\x02';                      // clean session
  body += std::string("\x00\x00", 2);  // keep-alive off: no PINGREQ needed
  put_string(body, client_id);
  std::string packets = "\x10";
  put_remaining_length(packets, body.size());
  packets += body;
  body = std::string("\x00\x01", 2);  // packet id
  put_string(body, a.topic);
  body += '\x00';  // QoS 0
  packets += '\x82';
  put_remaining_length(packets, body.size());
  packets += body;
  if (send(sub.fd, packets.data(), packets.size(), 0) != static_cast<ssize_t>(packets.size())) {
    return false;
  }
  fcntl(sub.fd, F_SETFL, fcntl(sub.fd, F_GETFL) | O_NONBLOCK);
  sub.buffer.resize(64 * 1024);
  return true;
}

// Reads what is there and handles every complete packet: SUBACK counts, PUBLISH is timed.
void raw_read(RawSub& sub, Loop& loop) {
  while (true) {
    if (sub.used == sub.buffer.size()) sub.buffer.resize(sub.buffer.size() * 2);
    const ssize_t n = recv(sub.fd, sub.buffer.data() + sub.used, sub.buffer.size() - sub.used, 0);
    if (n <= 0) break;
    sub.used += static_cast<std::size_t>(n);
    std::size_t at = 0;
    const auto now = now_ns();
    while (at + 2 <= sub.used) {
      const auto type = static_cast<unsigned char>(sub.buffer[at]) >> 4;
      std::size_t length = 0, shift = 0, i = at + 1;
      bool complete_length = false;
      for (; i < sub.used && shift <= 21; ++i, shift += 7) {
        const auto byte = static_cast<unsigned char>(sub.buffer[i]);
        length |= static_cast<std::size_t>(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
          complete_length = true;
          ++i;
          break;
        }
      }
      if (!complete_length || i + length > sub.used) break;
      const char* body = sub.buffer.data() + i;
      if (type == 9) {
        loop.subscribed->fetch_add(1);
      } else if (type == 3 && length >= 2) {
        const std::size_t topic_len =
            (static_cast<unsigned char>(body[0]) << 8) | static_cast<unsigned char>(body[1]);
        if (2 + topic_len < length) {
          ++loop.received;
          const std::int64_t due = std::strtoll(body + 2 + topic_len, nullptr, 10);
          if (due >= loop.window_start_ns->load(std::memory_order_relaxed) &&
              due < loop.window_end_ns->load(std::memory_order_relaxed)) {
            loop.latencies_ns.push_back(now - due);
          }
        }
      }
      at = i + length;
    }
    std::memmove(sub.buffer.data(), sub.buffer.data() + at, sub.used - at);
    sub.used -= at;
  }
}

void run_raw_loop(Loop& loop, const std::atomic<bool>& stop) {
  epoll_event events[256];
  while (!stop.load(std::memory_order_relaxed)) {
    const int n = epoll_wait(loop.epoll_fd, events, 256, 50);
    for (int i = 0; i < n; ++i) raw_read(*static_cast<RawSub*>(events[i].data.ptr), loop);
  }
}

void run_loop(Loop& loop, const std::atomic<bool>& stop) {
  epoll_event events[256];
  auto next_misc = Clock::now();
  while (!stop.load(std::memory_order_relaxed)) {
    const int n = epoll_wait(loop.epoll_fd, events, 256, 50);
    for (int i = 0; i < n; ++i) {
      auto* m = static_cast<mosquitto*>(events[i].data.ptr);
      if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) mosquitto_loop_read(m, 64);
      if (mosquitto_want_write(m)) mosquitto_loop_write(m, 64);
    }
    if (Clock::now() >= next_misc) {  // keep-alives and pending writes (SUBSCRIBE, PINGREQ)
      for (auto* m : loop.clients) {
        mosquitto_loop_misc(m);
        if (mosquitto_want_write(m)) mosquitto_loop_write(m, 64);
      }
      next_misc = Clock::now() + std::chrono::milliseconds(200);
    }
  }
}

double percentile_ms(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[std::min(i, sorted.size() - 1)]) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  mosquitto_lib_init();

  std::atomic<int> subscribed{0};
  // Nothing is counted until main sets the window (max/max: empty).
  std::atomic<std::int64_t> window_start{INT64_MAX}, window_end{INT64_MAX};
  std::vector<Loop> loops(static_cast<std::size_t>(a.threads));
  for (auto& l : loops) {
    l.epoll_fd = epoll_create1(0);
    l.subscribed = &subscribed;
    l.window_start_ns = &window_start;
    l.window_end_ns = &window_end;
  }
  for (auto& l : loops) l.raw.reserve(static_cast<std::size_t>(a.subscribers));  // stable addresses
  for (int i = 0; i < a.subscribers; ++i) {
    Loop& loop = loops[static_cast<std::size_t>(i % a.threads)];
    const std::string id = "fanout-sub-" + std::to_string(i);
    if (a.raw) {
      RawSub& sub = loop.raw.emplace_back();
      if (!raw_connect(sub, a, id)) {
        std::fprintf(stderr, "subscriber %d: cannot connect: %s\n", i, std::strerror(errno));
        return 1;
      }
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = &sub;
      epoll_ctl(loop.epoll_fd, EPOLL_CTL_ADD, sub.fd, &ev);
      continue;
    }
    mosquitto* m = mosquitto_new(id.c_str(), true, &loop);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    if (int rc = mosquitto_connect(m, a.host.c_str(), a.port, 60); rc != MOSQ_ERR_SUCCESS) {
      std::fprintf(stderr, "subscriber %d: connect: %s\n", i, mosquitto_strerror(rc));
      return 1;
    }
    mosquitto_subscribe(m, nullptr, a.topic.c_str(), a.qos);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = m;
    epoll_ctl(loop.epoll_fd, EPOLL_CTL_ADD, mosquitto_socket(m), &ev);
    loop.clients.push_back(m);
  }

  // Due times: the first message is due after every subscriber is in; count after the warm-up.
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (auto& l : loops) {
    threads.emplace_back(
        [&l, &stop, raw = a.raw] { raw ? run_raw_loop(l, stop) : run_loop(l, stop); });
  }
  const auto setup_deadline = Clock::now() + kSetupTimeout;
  while (subscribed.load() < a.subscribers && Clock::now() < setup_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (subscribed.load() < a.subscribers) {
    std::fprintf(stderr, "only %d of %d subscribers subscribed\n", subscribed.load(),
                 a.subscribers);
    return 1;
  }

  mosquitto* pub = mosquitto_new("fanout-pub", true, nullptr);
  if (mosquitto_connect(pub, a.host.c_str(), a.port, 60) != MOSQ_ERR_SUCCESS ||
      mosquitto_loop_start(pub) != MOSQ_ERR_SUCCESS) {
    std::fprintf(stderr, "publisher cannot connect\n");
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // CONNACK

  const std::int64_t period_ns = static_cast<std::int64_t>(1e9 / a.rate);
  const std::int64_t start_ns = now_ns() + 100'000'000;
  const std::int64_t window_start_at = start_ns + static_cast<std::int64_t>(a.warmup_s * 1e9);
  const std::int64_t end_ns = window_start_at + static_cast<std::int64_t>(a.duration_s * 1e9);
  window_end = end_ns;
  window_start = window_start_at;

  std::string payload(a.payload_bytes, 'x');
  std::uint64_t published = 0, published_in_window = 0, publish_errors = 0;
  std::int64_t lag_max_ns = 0;
  for (std::int64_t i = 0;; ++i) {
    const std::int64_t due = start_ns + i * period_ns;
    if (due >= end_ns) break;
    std::int64_t now = now_ns();
    if (due > now) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
      now = now_ns();
    }
    lag_max_ns = std::max(lag_max_ns, now - due);
    const int n = std::snprintf(payload.data(), payload.size(), "%lld %lld ",
                                static_cast<long long>(due), static_cast<long long>(i));
    payload[static_cast<std::size_t>(n)] = ' ';
    if (mosquitto_publish(pub, nullptr, a.topic.c_str(), static_cast<int>(payload.size()),
                          payload.data(), a.qos, false) != MOSQ_ERR_SUCCESS) {
      ++publish_errors;
      continue;
    }
    ++published;
    if (due >= window_start_at) ++published_in_window;
  }
  std::this_thread::sleep_for(kDrainTime);
  const double elapsed_s = static_cast<double>(now_ns() - start_ns) / 1e9;
  stop = true;
  for (auto& t : threads) t.join();
  // Forced: a saturated broker may leave the publisher with a long send queue it would
  // otherwise drain first. The publisher thread runs no callbacks of ours.
  mosquitto_disconnect(pub);
  mosquitto_loop_stop(pub, true);

  std::vector<std::int64_t> all;
  std::uint64_t received = 0;
  for (auto& l : loops) {
    all.insert(all.end(), l.latencies_ns.begin(), l.latencies_ns.end());
    received += l.received;
  }
  std::sort(all.begin(), all.end());
  const auto expected = published_in_window * static_cast<std::uint64_t>(a.subscribers);
  std::printf(
      "{\"tool\":\"mqtt_fanout_latency\",\"rate\":%.0f,\"subscribers\":%d,\"qos\":%d,"
      "\"client\":\"%s\",\"payload_bytes\":%zu,\"threads\":%d,\"duration_s\":%.1f,\"published\":%"
      "llu,"
      "\"publish_errors\":%llu,\"expected\":%llu,\"received_in_window\":%zu,"
      "\"received_total\":%llu,\"delivered_fraction\":%.4f,\"deliveries_per_s\":%.0f,\"all_"
      "deliveries_per_s\":%.0f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
      "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"publisher_lag_max_ms\":%.3f}\n",
      a.rate, a.subscribers, a.qos, a.raw ? "raw" : "libmosquitto", a.payload_bytes, a.threads,
      a.duration_s, static_cast<unsigned long long>(published),
      static_cast<unsigned long long>(publish_errors), static_cast<unsigned long long>(expected),
      all.size(), static_cast<unsigned long long>(received),
      expected ? static_cast<double>(all.size()) / static_cast<double>(expected) : 0.0,
      static_cast<double>(all.size()) / a.duration_s, static_cast<double>(received) / elapsed_s,
      percentile_ms(all, 0.50), percentile_ms(all, 0.90), percentile_ms(all, 0.99),
      percentile_ms(all, 0.999), all.empty() ? 0.0 : static_cast<double>(all.back()) / 1e6,
      lag_max_ns / 1e6);
  for (auto& l : loops) {
    for (auto& sub : l.raw) close(sub.fd);
    for (auto* m : l.clients) {
      mosquitto_disconnect(m);
      mosquitto_loop_write(m, 1);
      mosquitto_destroy(m);
    }
  }
  mosquitto_destroy(pub);
  mosquitto_lib_cleanup();
  return 0;
}
