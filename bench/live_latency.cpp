// live_latency: the live path of a running `cityroom serve`, end to end, from outside the
// process — change → WebSocket screen latency, notifications to a local HTTP sink, and ingest
// throughput with or without subscriptions. bench/live_bench.py drives it.
//
//   live_latency load    --port P --entities N
//   live_latency screens --port P [--server-pid PID] [--screens 200] [--groups 1|10]
//                        [--entities 2000] [--rates 1000,5000] [--seconds 10] [--warmup 2]
//                        [--drain 3] [--connections 16]
//   live_latency mosquitto --port BROKER [--screens 200] [--rates 1000,5000] [--seconds 10]
//   live_latency write   --port P [--server-pid PID] [--entities 10000] [--rates 0]
//                        [--seconds 10] [--warmup 1] [--drain 10] [--connections 16] [--sink]
//
// Entities are urn:ngsi-ld:Sensor:<j> (type Sensor) with `group` = j % 10 and `stamp`.
// The writer sends PATCH /ngsi-ld/v1/entities/<id>/attrs with stamp = the update's due time
// (steady clock µs, this process): open loop at --rates R (update k is due at start + k/R and is
// sent by connection k % C as soon as it is due and the connection is free, so a writer or
// server that falls behind shows as latency, not as a lower offered rate), or closed loop when
// R = 0 (as fast as C connections get answers). Updates cycle over the entities, so an entity
// changes only every entities/R seconds and no delta or notification can legitimately merge two
// changes of it. Only updates due in the measured window [warmup, warmup + seconds) count.
//
// screens: opens --screens WebSockets to /live/v1/stream; screen i watches type Sensor in
// keyValues, all of them (--groups 1: every change reaches every screen) or those with
// group == i % 10 (--groups 10: every change reaches screens/10 screens). Every screen waits
// for its snapshot before the writer starts. Latency = receipt − stamp for every entity of
// every delta; deliveries received are checked against the updates the server acknowledged.
// write: the writer alone (ingest throughput); with --sink it also runs an HTTP notification
// sink in this process, subscribes it to every Sensor change (keyValues) and checks that every
// acknowledged update arrives there (and how late).
// mosquitto: the reference — the same open loop through a Mosquitto broker, QoS 0, one topic,
// --screens subscribers, raw sockets with TCP_NODELAY (see run_mosquitto).
// With --server-pid, the server's CPU over the window is read from /proc, per thread name.
// Output: one JSON line per rate.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t kScreensMax = 5000;
constexpr std::size_t kConnectionsMax = 512;
constexpr double kSecondsMax = 120;
constexpr auto kSnapshotTimeout = 60s;
constexpr std::int64_t kGiveUpLagUs = 5'000'000;
constexpr std::string_view kStampKey = "\"stamp\":";

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Options {
  std::string mode;
  std::uint16_t port = 0;
  int server_pid = 0;
  std::size_t screens = 200;
  std::size_t groups = 1;
  std::size_t entities = 0;
  std::vector<double> rates;
  double seconds = 10;
  double warmup = -1;
  double drain = -1;
  std::size_t connections = 16;
  std::size_t subs = 1;   // write --sink: subscriptions, each to its own sink path
  std::size_t batch = 1;  // write: entities per request (> 1: batch upserts, closed loop only)
  bool sink = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "live_latency: %s (see the header of bench/live_latency.cpp)\n",
               why.c_str());
  std::exit(2);
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
  if (argc < 2) usage("missing mode");
  Options o;
  o.mode = argv[1];
  if (o.mode != "load" && o.mode != "screens" && o.mode != "write" && o.mode != "mosquitto") {
    usage("unknown mode");
  }
  for (int i = 2; i < argc; ++i) {
    const std::string_view name = argv[i];
    if (name == "--sink") {
      o.sink = true;
      continue;
    }
    if (i + 1 >= argc) usage("missing value for " + std::string(name));
    const std::string value = argv[++i];
    if (name == "--port") o.port = static_cast<std::uint16_t>(std::stoul(value));
    else if (name == "--server-pid") o.server_pid = std::stoi(value);
    else if (name == "--screens") o.screens = std::stoul(value);
    else if (name == "--groups") o.groups = std::stoul(value);
    else if (name == "--entities") o.entities = std::stoul(value);
    else if (name == "--rates") o.rates = parse_rates(value);
    else if (name == "--seconds") o.seconds = std::stod(value);
    else if (name == "--warmup") o.warmup = std::stod(value);
    else if (name == "--drain") o.drain = std::stod(value);
    else if (name == "--connections") o.connections = std::stoul(value);
    else if (name == "--subs") o.subs = std::stoul(value);
    else if (name == "--batch") o.batch = std::stoul(value);
    else usage("unknown option " + std::string(name));
  }
  if (o.port == 0) usage("--port is required");
  if (o.groups != 1 && o.groups != 10) usage("--groups must be 1 or 10");
  const bool screens = o.mode == "screens" || o.mode == "mosquitto";
  if (o.entities == 0) o.entities = screens ? 2000 : 10000;
  if (o.rates.empty()) o.rates = screens ? std::vector<double>{1000, 5000} : std::vector<double>{0};
  if (o.warmup < 0) o.warmup = screens ? 2 : 1;
  if (o.drain < 0) o.drain = screens ? 3 : 10;
  o.screens = std::clamp<std::size_t>(o.screens, 1, kScreensMax);
  o.connections = std::clamp<std::size_t>(o.connections, 1, kConnectionsMax);
  o.seconds = std::clamp(o.seconds, 0.5, kSecondsMax);
  o.warmup = std::clamp(o.warmup, 0.0, kSecondsMax);
  o.drain = std::clamp(o.drain, 0.0, kSecondsMax);
  for (double r : o.rates) {
    if (r < 0 || r > 1e6) usage("rates must be in [0, 1e6]");
    if (r > 0 && o.batch > 1) usage("--batch needs closed loop (--rates 0)");
  }
  o.subs = std::clamp<std::size_t>(o.subs, 1, 100);
  o.batch = std::clamp<std::size_t>(o.batch, 1, 1000);
  return o;
}

std::string entity_id(std::size_t j) { return "urn:ngsi-ld:Sensor:" + std::to_string(j); }

// ---------------------------------------------------------------------------------------------
// Synchronous HTTP for setup and teardown (one request per connection).
struct HttpResult {
  unsigned status = 0;
  std::string body;
};

HttpResult http_call(std::uint16_t port, bh::verb method, const std::string& target,
                     const std::string& body = {}) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  stream.expires_after(120s);
  bh::request<bh::string_body> req(method, target, 11);
  req.set(bh::field::host, "127.0.0.1");
  if (!body.empty()) req.set(bh::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  bh::write(stream, req);
  beast::flat_buffer buffer;
  bh::response_parser<bh::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  bh::read(stream, buffer, parser);
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return {parser.get().result_int(), parser.get().body()};
}

void load_entities(std::uint16_t port, std::size_t count) {
  constexpr std::size_t kBatch = 1000;
  for (std::size_t first = 0; first < count; first += kBatch) {
    std::string body = "[";
    for (std::size_t j = first; j < std::min(count, first + kBatch); ++j) {
      if (j != first) body += ',';
      body += R"({"id":")" + entity_id(j) +
              R"(","type":"Sensor","group":{"type":"Property","value":)" + std::to_string(j % 10) +
              R"(},"stamp":{"type":"Property","value":0}})";
    }
    body += ']';
    const auto r = http_call(port, bh::verb::post, "/ngsi-ld/v1/entityOperations/upsert", body);
    if (r.status / 100 != 2) {
      throw std::runtime_error("upsert answered " + std::to_string(r.status) + ": " + r.body);
    }
  }
}

// The counters of /metrics whose names start with one of `prefixes`.
std::map<std::string, double> scrape(std::uint16_t port) {
  static constexpr std::string_view kPrefixes[] = {"cityroom_notifications_total",
                                                   "cityroom_subscription_", "cityroom_stream_"};
  std::map<std::string, double> out;
  const auto r = http_call(port, bh::verb::get, "/metrics");
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (std::none_of(std::begin(kPrefixes), std::end(kPrefixes),
                     [&](std::string_view p) { return line.starts_with(p); })) {
      continue;
    }
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    out[line.substr(0, space)] = std::atof(line.c_str() + space + 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// CPU seconds of each thread of a process, summed by thread name (/proc/PID/task/*/stat).
std::map<std::string, double> thread_cpu(int pid) {
  std::map<std::string, double> out;
  if (pid <= 0) return out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(dir + "/" + e->d_name + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto open = stat.find('(');
    const auto close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::string name = stat.substr(open + 1, close - open - 1);
    // Most of cityroom's threads carry the process's name: those are told apart by thread id
    // (the busiest ones are the store writer and the HTTP threads; see the report).
    if (name == "cityroom") name += "/" + std::string(e->d_name);
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    std::vector<std::string> fields;
    while (rest >> field) fields.push_back(field);
    if (fields.size() < 13) continue;
    out[name] += (std::stod(fields[11]) + std::stod(fields[12])) / tick;  // utime, stime
  }
  closedir(d);
  return out;
}

// Busy and idle jiffies of each CPU (/proc/stat "cpuN" lines), under the names "cpuN.busy"
// and "cpuN.idle": whether the server's core was idle (the server waited) or busy with
// something else (another process had it) while the server was not running.
void add_cpu_times(std::map<std::string, double>& out) {
  std::ifstream f("/proc/stat");
  std::string line;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  while (std::getline(f, line)) {
    if (!line.starts_with("cpu") || line.size() < 4 || !std::isdigit(line[3])) continue;
    std::istringstream in(line);
    std::string name;
    double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    in >> name >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
    out["#" + name + ".busy"] = (user + nice + system + irq + softirq + steal) / tick;
    out["#" + name + ".idle"] = (idle + iowait) / tick;
  }
}

std::string cpu_json(const std::map<std::string, double>& before,
                     const std::map<std::string, double>& after, double wall) {
  double total = 0;
  std::string threads;
  std::string cores;
  for (const auto& [name, cpu] : after) {
    const auto it = before.find(name);
    const double used = cpu - (it == before.end() ? 0.0 : it->second);
    if (name.starts_with("#")) {  // a core's busy or idle time, not a thread's
      char pct[64];
      std::snprintf(pct, sizeof pct, "%s\"%s_pct\":%.1f", cores.empty() ? "" : ",",
                    name.c_str() + 1, 100 * used / wall);
      cores += pct;
      continue;
    }
    total += used;
    if (used < 0.005) continue;
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.1f", 100 * used / wall);
    threads += (threads.empty() ? "" : ",") + std::string("\"") + name + "\":" + pct;
  }
  char head[96];
  std::snprintf(head, sizeof head, "\"server_cpu_pct\":%.1f,\"server_threads_pct\":{",
                100 * total / wall);
  return head + threads + "},\"cores\":{" + cores + "}";
}

std::string metrics_json(const std::map<std::string, double>& before,
                         const std::map<std::string, double>& after) {
  std::string out = "{";
  for (const auto& [name, value] : after) {
    const auto it = before.find(name);
    const double d = value - (it == before.end() ? 0.0 : it->second);
    if (d == 0) continue;
    std::string key;
    for (char c : name) key += c == '"' ? '\'' : c;
    char num[48];
    std::snprintf(num, sizeof num, "%.0f", d);
    out += (out.size() > 1 ? "," : "") + std::string("\"") + key + "\":" + num;
  }
  return out + "}";
}

// ---------------------------------------------------------------------------------------------
// The measured window, shared by the writer and every receiver (in µs of now_us()).
struct Window {
  std::atomic<std::int64_t> begin{0}, end{0};
  bool contains(std::int64_t stamp) const {
    return stamp >= begin.load(std::memory_order_relaxed) &&
           stamp < end.load(std::memory_order_relaxed);
  }
};

// Latencies (µs) of deliveries whose stamp lies in the window. One thread writes each.
struct Recorder {
  std::vector<std::uint32_t> latencies_us;
  std::vector<std::int64_t> stamps;  // the stamp of each latency (same index)
  std::uint64_t received = 0;  // deliveries in the window
  std::uint64_t messages = 0;  // frames or POSTs carrying at least one
  void clear() {
    latencies_us.clear();
    stamps.clear();
    received = messages = 0;
  }
};

// Records every `"stamp":N` of `text`; returns how many were in the window.
std::size_t record_stamps(std::string_view text, std::int64_t now, const Window& window,
                          Recorder& r) {
  std::size_t found = 0;
  for (auto at = text.find(kStampKey); at != std::string_view::npos;
       at = text.find(kStampKey, at + kStampKey.size())) {
    const char* p = text.data() + at + kStampKey.size();
    double stamp = 0;
    if (std::from_chars(p, text.data() + text.size(), stamp).ec != std::errc{}) continue;
    const auto s = static_cast<std::int64_t>(stamp);
    if (!window.contains(s)) continue;
    ++found;
    r.stamps.push_back(s);
    r.latencies_us.push_back(static_cast<std::uint32_t>(std::clamp<std::int64_t>(
        now - s, 0, std::numeric_limits<std::uint32_t>::max())));
  }
  r.received += found;
  if (found) ++r.messages;
  return found;
}

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};

Percentiles percentiles(std::vector<std::uint32_t>& v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))] /
           1000.0;
  };
  return {at(0.5), at(0.9), at(0.99), at(0.999), v.back() / 1000.0};
}

std::string latency_json(const char* name, std::vector<std::uint32_t>& v) {
  const auto p = percentiles(v);
  char out[256];
  std::snprintf(out, sizeof out,
                "\"%s\":{\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
                "\"max_ms\":%.3f}",
                name, p.p50, p.p90, p.p99, p.p999, p.max);
  return out;
}

// Where the latency goes: for each delivery, its latency minus the HTTP answer time of the
// update it carries (receipt at the screen or sink − receipt of the 204 by the writer). The
// answer leaves the server right after the commit, so this is about the time from commit to
// delivery (the fan-out and its socket), while the answer time is the write path (HTTP, store
// writer, commit). Negative when the delivery overtook the answer.
std::string after_answer_json(const std::vector<std::uint32_t>& latencies,
                              const std::vector<std::int64_t>& stamps,
                              const std::unordered_map<std::int64_t, std::uint32_t>& answers) {
  std::vector<std::int64_t> after;
  after.reserve(latencies.size());
  for (std::size_t i = 0; i < latencies.size() && i < stamps.size(); ++i) {
    const auto it = answers.find(stamps[i]);
    if (it != answers.end()) after.push_back(static_cast<std::int64_t>(latencies[i]) - it->second);
  }
  if (after.empty()) return "\"after_answer\":null";
  std::sort(after.begin(), after.end());
  auto at = [&](double q) {
    return after[std::min(after.size() - 1,
                          static_cast<std::size_t>(q * static_cast<double>(after.size())))] /
           1000.0;
  };
  char out[256];
  std::snprintf(out, sizeof out,
                "\"after_answer\":{\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
                "\"p999_ms\":%.3f,\"max_ms\":%.3f}",
                at(0.5), at(0.9), at(0.99), at(0.999), after.back() / 1000.0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The writer: PATCHes over keep-alive connections, open or closed loop (see the header).
class Writer {
 public:
  struct Phase {
    double rate = 0;
    std::int64_t start_us = 0, stop_us = 0;  // updates due in [start, stop) are sent
  };

  Writer(asio::io_context& ioc, std::uint16_t port, std::size_t entities, std::size_t connections,
         std::size_t batch, const Window& window)
      : ioc_(ioc), port_(port), entities_(entities), batch_(batch), window_(window) {
    for (std::size_t i = 0; i < connections; ++i) conns_.push_back(std::make_shared<Conn>(*this, i));
  }

  // Runs one phase on the io_context thread; `done` when every connection has finished.
  void run(Phase phase, std::function<void()> done) {
    asio::post(ioc_, [this, phase, done = std::move(done)]() mutable {
      phase_ = phase;
      next_k_ = 0;
      active_ = conns_.size();
      done_ = std::move(done);
      for (auto& c : conns_) c->begin();
    });
  }

  // Read after a phase ended (the io thread is idle by then).
  std::uint64_t acked_in_window = 0, failed = 0, sent = 0;
  std::vector<std::uint64_t> acked_by_group = std::vector<std::uint64_t>(10, 0);
  std::vector<std::uint32_t> answer_us;  // PATCH round trip from due time, in the window
  std::unordered_map<std::int64_t, std::uint32_t> answer_by_due;  // the same, by due time
  std::int64_t max_lag_us = 0;           // send time − due time
  bool gave_up = false;                  // fell kGiveUpLag behind: the server does not keep up
  void clear() {
    gave_up = false;
    acked_in_window = failed = sent = 0;
    std::fill(acked_by_group.begin(), acked_by_group.end(), 0);
    answer_us.clear();
    answer_by_due.clear();
    max_lag_us = 0;
  }

 private:
  class Conn : public std::enable_shared_from_this<Conn> {
   public:
    Conn(Writer& w, std::size_t index) : w_(w), index_(index), stream_(w.ioc_), timer_(w.ioc_) {}

    void begin() {
      round_ = 0;
      if (!stream_.socket().is_open()) {
        beast::error_code ec;
        stream_.socket().connect(
            tcp::endpoint(asio::ip::make_address("127.0.0.1"), w_.port_), ec);
        if (ec) {
          std::fprintf(stderr, "writer connect: %s\n", ec.message().c_str());
          return finish();
        }
        stream_.socket().set_option(tcp::no_delay(true));
      }
      next();
    }

   private:
    void next() {
      const auto& ph = w_.phase_;
      std::uint64_t k;
      std::int64_t due;
      if (ph.rate > 0) {
        k = index_ + round_++ * w_.conns_.size();
        due = ph.start_us + static_cast<std::int64_t>(static_cast<double>(k) * 1e6 / ph.rate);
      } else {
        k = w_.next_k_;
        w_.next_k_ += w_.batch_;
        due = now_us();
      }
      if (due >= ph.stop_us) return finish();
      if (now_us() - due > kGiveUpLagUs) {  // no point queueing minutes of backlog
        w_.gave_up = true;
        return finish();
      }
      timer_.expires_at(Clock::time_point(std::chrono::microseconds(due)));
      timer_.async_wait([self = shared_from_this(), k, due](beast::error_code) {
        self->send(k, due);
      });
    }

    void send(std::uint64_t k, std::int64_t due) {
      const std::size_t j = w_.entity_of(k);
      req_ = {};
      const std::string stamp = R"({"type":"Property","value":)" + std::to_string(due) + "}";
      if (w_.batch_ == 1) {
        req_.method(bh::verb::patch);
        req_.target("/ngsi-ld/v1/entities/" + entity_id(j) + "/attrs");
        req_.body() = R"({"stamp":)" + stamp + "}";
      } else {
        req_.method(bh::verb::post);
        req_.target("/ngsi-ld/v1/entityOperations/upsert?options=update");
        std::string body = "[";
        for (std::size_t b = 0; b < w_.batch_; ++b) {
          if (b) body += ',';
          body += R"({"id":")" + entity_id(w_.entity_of(k + b)) + R"(","type":"Sensor","stamp":)" +
                  stamp + "}";
        }
        req_.body() = body + "]";
      }
      req_.version(11);
      req_.set(bh::field::host, "127.0.0.1");
      req_.set(bh::field::content_type, "application/json");
      req_.prepare_payload();
      w_.max_lag_us = std::max(w_.max_lag_us, now_us() - due);
      ++w_.sent;
      bh::async_write(stream_, req_, [self = shared_from_this(), k, due](beast::error_code ec,
                                                                          std::size_t) {
        if (ec) return self->fail(ec);
        self->res_ = {};
        bh::async_read(self->stream_, self->buffer_, self->res_,
                       [self, k, due](beast::error_code ec, std::size_t) {
                         if (ec) return self->fail(ec);
                         self->answered(k, due);
                       });
      });
    }

    void answered(std::uint64_t k, std::int64_t due) {
      const bool ok = res_.result_int() == 200 || res_.result_int() == 201 ||
                      res_.result_int() == 204;  // a 207 batch answer means some failed
      if (!ok) {
        ++w_.failed;
        if (w_.failed <= 3) {
          std::fprintf(stderr, "PATCH answered %u: %s\n", res_.result_int(), res_.body().c_str());
        }
      } else if (w_.window_.contains(due)) {
        w_.acked_in_window += w_.batch_;
        for (std::size_t b = 0; b < w_.batch_; ++b) ++w_.acked_by_group[w_.entity_of(k + b) % 10];
        w_.answer_us.push_back(static_cast<std::uint32_t>(now_us() - due));
        w_.answer_by_due[due] = w_.answer_us.back();
      }
      next();
    }

    void fail(beast::error_code ec) {
      ++w_.failed;
      std::fprintf(stderr, "writer connection: %s\n", ec.message().c_str());
      beast::error_code ignored;
      stream_.socket().close(ignored);
      finish();
    }

    void finish() {
      if (--w_.active_ == 0 && w_.done_) std::exchange(w_.done_, nullptr)();
    }

    Writer& w_;
    std::size_t index_;
    std::uint64_t round_ = 0;
    beast::tcp_stream stream_;
    asio::steady_timer timer_;
    beast::flat_buffer buffer_;
    bh::request<bh::string_body> req_;
    bh::response<bh::string_body> res_;
  };

  // Update k's entity: a permutation of the entities (7919 is prime), so an entity changes
  // once per `entities` updates and its group (j % 10) rotates.
  std::size_t entity_of(std::uint64_t k) const { return (k * 7919) % entities_; }

  asio::io_context& ioc_;
  std::uint16_t port_;
  std::size_t entities_;
  std::size_t batch_;
  const Window& window_;
  std::vector<std::shared_ptr<Conn>> conns_;
  Phase phase_;
  std::uint64_t next_k_ = 0;
  std::size_t active_ = 0;
  std::function<void()> done_;
};

// Runs `io` on a new thread until `stop`.
struct IoThread {
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(ioc);
  std::thread thread{[this] { ioc.run(); }};
  template <class F>
  auto call(F f) {  // runs f on the io thread and waits for it
    std::promise<decltype(f())> p;
    asio::post(ioc, [&] {
      if constexpr (std::is_void_v<decltype(f())>) {
        f();
        p.set_value();
      } else {
        p.set_value(f());
      }
    });
    return p.get_future().get();
  }
  // Stops the loop and joins; objects that its handlers use may be destroyed after this.
  void stop() {
    work.reset();
    ioc.stop();
    if (thread.joinable()) thread.join();
  }
  ~IoThread() { stop(); }
};

// Runs one writer phase and blocks until it is over.
void run_phase(IoThread& io, Writer& writer, Window& window, double rate, const Options& o) {
  const std::int64_t start = now_us() + 20'000;
  const std::int64_t begin = start + static_cast<std::int64_t>(o.warmup * 1e6);
  const std::int64_t end = begin + static_cast<std::int64_t>(o.seconds * 1e6);
  io.call([&] { writer.clear(); });
  window.begin.store(begin);
  window.end.store(end);
  std::promise<void> finished;
  writer.run({rate, start, end}, [&] { finished.set_value(); });
  finished.get_future().wait();
}

// ---------------------------------------------------------------------------------------------
// Screens: WebSocket clients of /live/v1/stream, all on one io thread.
class Screen : public std::enable_shared_from_this<Screen> {
 public:
  Screen(asio::io_context& ioc, const Window& window, Recorder& recorder)
      : ws_(ioc), window_(window), recorder_(recorder) {}

  void start(std::uint16_t port, std::string watch, std::atomic<std::size_t>& ready) {
    ws_.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    ws_.next_layer().set_option(tcp::no_delay(true));
    ws_.read_message_max(256 * 1024 * 1024);
    watch_ = std::move(watch);
    ws_.async_handshake("127.0.0.1", "/live/v1/stream",
                        [self = shared_from_this(), &ready](beast::error_code ec) {
                          if (ec) return std::fprintf(stderr, "handshake: %s\n", ec.message().c_str()), void();
                          self->ws_.text(true);
                          self->ws_.async_write(asio::buffer(self->watch_),
                                                [self, &ready](beast::error_code ec, std::size_t) {
                                                  if (ec) return;
                                                  self->read(ready);
                                                });
                        });
  }
  void close() {
    beast::error_code ec;
    ws_.next_layer().close(ec);
  }

  std::uint64_t snapshots = 0, resyncs = 0, errors = 0, deltas = 0;
  std::string first_error;

 private:
  void read(std::atomic<std::size_t>& ready) {
    ws_.async_read(buffer_, [self = shared_from_this(), &ready](beast::error_code ec, std::size_t) {
      if (ec) return;
      self->on_message(ready);
      self->buffer_.clear();
      self->read(ready);
    });
  }

  void on_message(std::atomic<std::size_t>& ready) {
    const std::int64_t now = now_us();
    const auto data = buffer_.cdata();
    const std::string_view text(static_cast<const char*>(data.data()), data.size());
    const auto kind = text.find("\"kind\":\"");
    if (kind == std::string_view::npos) return;
    const auto k = text.substr(kind + 8, 5);
    if (k == "delta") {
      ++deltas;
      record_stamps(text, now, window_, recorder_);
    } else if (k == "snaps") {
      if (snapshots++ == 0) ready.fetch_add(1);
    } else if (k == "resyn") {
      ++resyncs;
    } else if (k == "error") {
      if (errors++ == 0) first_error = std::string(text.substr(0, 300));
    }
  }

  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
  const Window& window_;
  Recorder& recorder_;
  std::string watch_;
};

int run_screens(const Options& o) {
  Window window;
  Recorder recorder;
  IoThread screens_io;
  std::vector<std::shared_ptr<Screen>> screens;
  std::atomic<std::size_t> ready{0};
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < o.screens; ++i) {
    std::string watch = R"({"op":"watch","query":"q","type":"Sensor","options":"keyValues")";
    if (o.groups == 10) watch += R"(,"q":"group==)" + std::to_string(i % 10) + "\"";
    watch += '}';
    auto s = std::make_shared<Screen>(screens_io.ioc, window, recorder);
    s->start(o.port, std::move(watch), ready);
    screens.push_back(std::move(s));
  }
  while (ready.load() < o.screens && Clock::now() - t0 < kSnapshotTimeout) {
    std::this_thread::sleep_for(10ms);
  }
  const double setup_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (ready.load() < o.screens) {
    std::fprintf(stderr, "only %zu of %zu screens got a snapshot\n", ready.load(), o.screens);
    for (auto& s : screens) {
      if (!s->first_error.empty()) return std::fprintf(stderr, "%s\n", s->first_error.c_str()), 1;
    }
    return 1;
  }
  std::fprintf(stderr, "%zu screens have their snapshot after %.1f s\n", o.screens, setup_s);
  std::this_thread::sleep_for(1s);  // let the snapshot traffic settle

  IoThread writer_io;
  Writer writer(writer_io.ioc, o.port, o.entities, o.connections, o.batch, window);
  for (double rate : o.rates) {
    screens_io.call([&] {
      recorder.clear();
      for (auto& s : screens) s->resyncs = s->errors = s->deltas = 0;
    });
    // Only the window's CPU: the writer's warm-up and the drain are left out.
    const auto metrics0 = scrape(o.port);
    std::map<std::string, double> cpu0, cpu1;
    Clock::time_point wall0, wall1;
    std::thread sampler([&] {
      std::this_thread::sleep_for(20ms + std::chrono::duration<double>(o.warmup));
      cpu0 = thread_cpu(o.server_pid);
      add_cpu_times(cpu0);
      wall0 = Clock::now();
      std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
      cpu1 = thread_cpu(o.server_pid);
      add_cpu_times(cpu1);
      wall1 = Clock::now();
    });
    run_phase(writer_io, writer, window, rate, o);
    sampler.join();
    // A writer that gave up left up to kGiveUpLagUs of backlog in the server: let it go out
    // (late deliveries still count) before the next rate starts.
    const bool behind = writer_io.call([&] { return writer.gave_up; });
    std::this_thread::sleep_for(std::chrono::duration<double>(o.drain) + (behind ? 6s : 0s));
    const auto metrics1 = scrape(o.port);
    std::vector<std::uint32_t> latencies;
    std::vector<std::int64_t> stamps;
    std::uint64_t received = 0, frames = 0, resyncs = 0, deltas = 0;
    screens_io.call([&] {
      latencies.swap(recorder.latencies_us);
      stamps.swap(recorder.stamps);
      received = recorder.received;
      frames = recorder.messages;
      for (auto& s : screens) resyncs += s->resyncs, deltas += s->deltas;
      recorder.clear();
    });
    std::uint64_t expected = 0;
    std::vector<std::uint32_t> answers;
    std::uint64_t acked = 0, failed = 0, sent = 0;
    std::int64_t lag = 0;
    bool gave_up = false;
    writer_io.call([&] {
      for (std::size_t g = 0; g < 10; ++g) {
        expected += writer.acked_by_group[g] * (o.groups == 1 ? o.screens : o.screens / 10 +
                                                    (g < o.screens % 10 ? 1 : 0));
      }
      answers.swap(writer.answer_us);
      acked = writer.acked_in_window, failed = writer.failed, sent = writer.sent;
      lag = writer.max_lag_us;
      gave_up = writer.gave_up;
    });
    // Before latency_json, which sorts the latencies.
    const std::string after = writer_io.call(
        [&] { return after_answer_json(latencies, stamps, writer.answer_by_due); });
    const double wall = std::chrono::duration<double>(wall1 - wall0).count();
    std::printf(
        "{\"tool\":\"live_latency\",\"mode\":\"screens\",\"rate\":%.0f,\"screens\":%zu,"
        "\"groups\":%zu,\"fanout\":%zu,\"entities\":%zu,\"seconds\":%.1f,\"setup_s\":%.1f,"
        "\"gave_up\":%s,"
        "\"updates_acked\":%llu,\"updates_failed\":%llu,\"updates_sent\":%llu,"
        "\"achieved_rate\":%.0f,\"writer_max_lag_ms\":%.1f,\"expected\":%llu,\"received\":%llu,"
        "\"lost\":%lld,\"frames\":%llu,\"deltas_all\":%llu,\"resyncs\":%llu,%s,%s,%s,%s,"
        "\"metrics\":%s}\n",
        rate, o.screens, o.groups, o.groups == 1 ? o.screens : o.screens / 10, o.entities,
        o.seconds, setup_s, gave_up ? "true" : "false", static_cast<unsigned long long>(acked),
        static_cast<unsigned long long>(failed), static_cast<unsigned long long>(sent),
        static_cast<double>(acked) / o.seconds, static_cast<double>(lag) / 1000.0,
        static_cast<unsigned long long>(expected), static_cast<unsigned long long>(received),
        static_cast<long long>(expected) - static_cast<long long>(received),
        static_cast<unsigned long long>(frames), static_cast<unsigned long long>(deltas),
        static_cast<unsigned long long>(resyncs), after.c_str(),
        latency_json("latency", latencies).c_str(),
        latency_json("patch_answer", answers).c_str(), cpu_json(cpu0, cpu1, wall).c_str(),
        metrics_json(metrics0, metrics1).c_str());
    std::fflush(stdout);
  }
  screens_io.call([&] {
    for (auto& s : screens) s->close();
  });
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The notification sink: answers every POST with 204 and records the stamps of its body.
class Sink {
 public:
  Sink(asio::io_context& ioc, const Window& window)
      : acceptor_(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), window_(window) {
    accept();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  Recorder recorder;          // io thread only
  std::uint64_t posts = 0;    // all POSTs
  std::uint64_t entities = 0; // all stamps, in the window or not

 private:
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(tcp::socket s, Sink& sink) : stream_(std::move(s)), sink_(sink) {}
    void read() {
      parser_.emplace();
      parser_->body_limit(64 * 1024 * 1024);
      bh::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec,
                                                                             std::size_t) {
        if (ec) return;
        self->on_request();
      });
    }

   private:
    void on_request() {
      const std::int64_t now = now_us();
      const auto& body = parser_->get().body();
      ++sink_.posts;
      for (auto at = body.find(kStampKey); at != std::string::npos;
           at = body.find(kStampKey, at + 1)) {
        ++sink_.entities;
      }
      record_stamps(body, now, sink_.window_, sink_.recorder);
      res_ = {};
      res_.result(bh::status::no_content);
      res_.version(11);
      res_.keep_alive(parser_->get().keep_alive());
      res_.prepare_payload();
      bh::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) return;
        self->read();
      });
    }

    beast::tcp_stream stream_;
    Sink& sink_;
    beast::flat_buffer buffer_;
    std::optional<bh::request_parser<bh::string_body>> parser_;
    bh::response<bh::empty_body> res_;
  };

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket s) {
      if (ec) return;
      s.set_option(tcp::no_delay(true));
      std::make_shared<Session>(std::move(s), *this)->read();
      accept();
    });
  }

  tcp::acceptor acceptor_;
  const Window& window_;
};

constexpr std::string_view kSinkSubscription = "urn:ngsi-ld:Subscription:live-bench-sink";

int run_write(const Options& o) {
  Window window;
  std::unique_ptr<IoThread> sink_io;
  std::unique_ptr<Sink> sink;
  if (o.sink) {
    sink_io = std::make_unique<IoThread>();
    sink = std::make_unique<Sink>(sink_io->ioc, window);
    for (std::size_t i = 0; i < o.subs; ++i) {
      const std::string body =
          R"({"id":")" + std::string(kSinkSubscription) + ":" + std::to_string(i) +
          R"(","type":"Subscription","entities":[{"type":"Sensor"}],"notification":{"format":"keyValues","endpoint":{"uri":"http://127.0.0.1:)" +
          std::to_string(sink->port()) + "/notify/" + std::to_string(i) +
          R"(","accept":"application/json"}}})";
      const auto r = http_call(o.port, bh::verb::post, "/ngsi-ld/v1/subscriptions", body);
      if (r.status != 201) {
        return std::fprintf(stderr, "subscription answered %u: %s\n", r.status, r.body.c_str()), 1;
      }
    }
  }
  IoThread writer_io;
  Writer writer(writer_io.ioc, o.port, o.entities, o.connections, o.batch, window);
  int status = 0;
  for (double rate : o.rates) {
    if (sink) sink_io->call([&] { sink->recorder.clear(); });
    const auto metrics0 = scrape(o.port);
    std::map<std::string, double> cpu0, cpu1;
    Clock::time_point wall0, wall1;
    std::thread sampler([&] {
      std::this_thread::sleep_for(20ms + std::chrono::duration<double>(o.warmup));
      cpu0 = thread_cpu(o.server_pid);
      add_cpu_times(cpu0);
      wall0 = Clock::now();
      std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
      cpu1 = thread_cpu(o.server_pid);
      add_cpu_times(cpu1);
      wall1 = Clock::now();
    });
    run_phase(writer_io, writer, window, rate, o);
    sampler.join();
    std::vector<std::uint32_t> answers;
    std::uint64_t acked = 0, failed = 0, sent = 0;
    std::int64_t lag = 0;
    bool gave_up = false;
    writer_io.call([&] {
      answers.swap(writer.answer_us);
      acked = writer.acked_in_window, failed = writer.failed, sent = writer.sent;
      lag = writer.max_lag_us;
      gave_up = writer.gave_up;
    });
    // Wait (up to --drain) for every acknowledged update of the window to reach the sink.
    std::uint64_t received = 0, messages = 0;
    double drained_s = 0;
    if (sink) {
      const auto d0 = Clock::now();
      while (true) {
        received = sink_io->call([&] { return sink->recorder.received; });
        drained_s = std::chrono::duration<double>(Clock::now() - d0).count();
        if (received >= acked * o.subs || drained_s >= o.drain) break;
        std::this_thread::sleep_for(20ms);
      }
      std::this_thread::sleep_for(200ms);  // duplicates, if any, would show
    }
    const auto metrics1 = scrape(o.port);
    std::vector<std::uint32_t> latencies;
    std::vector<std::int64_t> stamps;
    if (sink) {
      sink_io->call([&] {
        latencies.swap(sink->recorder.latencies_us);
        stamps.swap(sink->recorder.stamps);
        received = sink->recorder.received;
        messages = sink->recorder.messages;
      });
    }
    const double wall = std::chrono::duration<double>(wall1 - wall0).count();
    char head[768];
    std::snprintf(
        head, sizeof head,
        "{\"tool\":\"live_latency\",\"mode\":\"write\",\"rate\":%.0f,\"connections\":%zu,"
        "\"batch\":%zu,\"subs\":%zu,\"gave_up\":%s,"
        "\"entities\":%zu,\"seconds\":%.1f,\"sink\":%s,\"updates_acked\":%llu,"
        "\"updates_failed\":%llu,\"updates_sent\":%llu,\"updates_per_s\":%.0f,"
        "\"writer_max_lag_ms\":%.1f,",
        rate, o.connections, o.batch, sink ? o.subs : 0, gave_up ? "true" : "false", o.entities,
        o.seconds, sink ? "true" : "false",
        static_cast<unsigned long long>(acked), static_cast<unsigned long long>(failed),
        static_cast<unsigned long long>(sent), static_cast<double>(acked) / o.seconds,
        static_cast<double>(lag) / 1000.0);
    std::string line = head;
    if (sink) {
      char s[384];
      std::snprintf(s, sizeof s,
                    "\"sink_entities\":%llu,\"sink_notifications\":%llu,\"lost\":%lld,"
                    "\"sink_entities_per_s\":%.0f,\"sink_notifications_per_s\":%.0f,"
                    "\"entities_per_notification\":%.1f,\"drain_s\":%.2f,",
                    static_cast<unsigned long long>(received),
                    static_cast<unsigned long long>(messages),
                    static_cast<long long>(acked * o.subs) - static_cast<long long>(received),
                    static_cast<double>(received) / o.seconds,
                    static_cast<double>(messages) / o.seconds,
                    messages ? static_cast<double>(received) / static_cast<double>(messages) : 0.0,
                    drained_s);
      line += s;
      line += writer_io.call([&] {
        return after_answer_json(latencies, stamps, writer.answer_by_due);
      }) + ",";
      line += latency_json("notify_latency", latencies) + ",";
      if (received != acked * o.subs) status = 1;
    }
    line += latency_json("patch_answer", answers) + "," + cpu_json(cpu0, cpu1, wall) +
            ",\"metrics\":" + metrics_json(metrics0, metrics1) + "}";
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
  for (std::size_t i = 0; sink && i < o.subs; ++i) {
    http_call(o.port, bh::verb::delete_, "/ngsi-ld/v1/subscriptions/" +
                                             std::string(kSinkSubscription) + ":" + std::to_string(i));
  }
  if (sink_io) sink_io->stop();  // before the sink its sessions refer to goes

  return status;
}


// ---------------------------------------------------------------------------------------------
// The Mosquitto reference: one publisher, --screens subscribers of one topic, QoS 0, on raw
// sockets with TCP_NODELAY on both sides (bench/mqtt_fanout_latency's publisher is a
// libmosquitto client, which leaves Nagle on: at 1 ms between messages that adds delayed-ACK
// waits to Mosquitto's figure). Open loop like the writer: message k is due at start + k/R and
// carries its due time. Start the broker with set_tcp_nodelay true.
void put_length(std::string& out, std::size_t n) {
  do {
    auto byte = static_cast<unsigned char>(n % 128);
    n /= 128;
    if (n) byte |= 0x80;
    out += static_cast<char>(byte);
  } while (n);
}

void put_str(std::string& out, std::string_view s) {
  out += static_cast<char>(s.size() >> 8);
  out += static_cast<char>(s.size() & 0xff);
  out += s;
}

std::string mqtt_connect(const std::string& client_id) {
  std::string body;
  put_str(body, "MQTT");
  body += '\x04';                      // 3.1.1
  body += '\x02';                      // clean session
  body += std::string("\x00\x00", 2);  // no keep-alive
  put_str(body, client_id);
  std::string out = "\x10";
  put_length(out, body.size());
  return out + body;
}

constexpr std::string_view kTopic = "bench/live";

class Subscriber : public std::enable_shared_from_this<Subscriber> {
 public:
  Subscriber(asio::io_context& ioc, const Window& window, Recorder& recorder)
      : socket_(ioc), window_(window), recorder_(recorder) {}

  void start(std::uint16_t port, std::size_t index, std::atomic<std::size_t>& subscribed) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    socket_.set_option(tcp::no_delay(true));
    hello_ = mqtt_connect("live-bench-sub-" + std::to_string(index));
    std::string body("\x00\x01", 2);  // packet id
    put_str(body, kTopic);
    body += '\x00';  // QoS 0
    hello_ += "\x82";
    put_length(hello_, body.size());
    hello_ += body;
    asio::async_write(socket_, asio::buffer(hello_),
                      [self = shared_from_this(), &subscribed](beast::error_code ec, std::size_t) {
                        if (!ec) self->read(subscribed);
                      });
  }
  void close() {
    beast::error_code ec;
    socket_.close(ec);
  }

 private:
  void read(std::atomic<std::size_t>& subscribed) {
    if (buffer_.size() - used_ < 16384) buffer_.resize(std::max<std::size_t>(65536, used_ * 2));
    socket_.async_read_some(
        asio::buffer(buffer_.data() + used_, buffer_.size() - used_),
        [self = shared_from_this(), &subscribed](beast::error_code ec, std::size_t n) {
          if (ec) return;
          self->used_ += n;
          self->parse(subscribed);
          self->read(subscribed);
        });
  }

  void parse(std::atomic<std::size_t>& subscribed) {
    const std::int64_t now = now_us();
    std::size_t at = 0;
    while (used_ - at >= 2) {
      const auto type = static_cast<unsigned char>(buffer_[at]) >> 4;
      std::size_t length = 0, shift = 0, i = at + 1;
      bool complete = false;
      while (i < used_ && shift <= 21) {
        const auto b = static_cast<unsigned char>(buffer_[i++]);
        length |= static_cast<std::size_t>(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
          complete = true;
          break;
        }
      }
      if (!complete || used_ - i < length) break;
      if (type == 9) subscribed.fetch_add(1);  // SUBACK
      if (type == 3 && length >= 2) {          // PUBLISH (QoS 0: no packet id)
        const std::size_t topic = (static_cast<unsigned char>(buffer_[i]) << 8) |
                                  static_cast<unsigned char>(buffer_[i + 1]);
        const char* p = buffer_.data() + i + 2 + topic;
        std::int64_t due = 0;
        std::from_chars(p, buffer_.data() + i + length, due);
        if (window_.contains(due)) {
          ++recorder_.received;
          recorder_.latencies_us.push_back(static_cast<std::uint32_t>(now - due));
        }
      }
      at = i + length;
    }
    std::memmove(buffer_.data(), buffer_.data() + at, used_ - at);
    used_ -= at;
  }

  tcp::socket socket_;
  const Window& window_;
  Recorder& recorder_;
  std::string hello_;
  std::vector<char> buffer_;
  std::size_t used_ = 0;
};

int run_mosquitto(const Options& o) {
  constexpr std::size_t kPayloadBytes = 128;
  Window window;
  Recorder recorder;
  IoThread io;
  std::atomic<std::size_t> subscribed{0};
  std::vector<std::shared_ptr<Subscriber>> subs;
  for (std::size_t i = 0; i < o.screens; ++i) {
    subs.push_back(std::make_shared<Subscriber>(io.ioc, window, recorder));
    subs.back()->start(o.port, i, subscribed);
  }
  const auto t0 = Clock::now();
  while (subscribed.load() < o.screens && Clock::now() - t0 < kSnapshotTimeout) {
    std::this_thread::sleep_for(10ms);
  }
  if (subscribed.load() < o.screens) {
    return std::fprintf(stderr, "only %zu of %zu subscribed\n", subscribed.load(), o.screens), 1;
  }
  asio::io_context pub_ioc;
  tcp::socket pub(pub_ioc);
  pub.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), o.port));
  pub.set_option(tcp::no_delay(true));
  asio::write(pub, asio::buffer(mqtt_connect("live-bench-pub")));
  char connack[4];
  asio::read(pub, asio::buffer(connack));
  for (double rate : o.rates) {
    io.call([&] { recorder.clear(); });
    const std::int64_t start = now_us() + 20'000;
    const std::int64_t begin = start + static_cast<std::int64_t>(o.warmup * 1e6);
    const std::int64_t end = begin + static_cast<std::int64_t>(o.seconds * 1e6);
    window.begin.store(begin);
    window.end.store(end);
    std::uint64_t published = 0;
    std::int64_t lag = 0;
    std::string packet;
    for (std::uint64_t k = 0;; ++k) {
      const std::int64_t due = start + static_cast<std::int64_t>(static_cast<double>(k) * 1e6 / rate);
      if (due >= end) break;
      std::this_thread::sleep_until(Clock::time_point(std::chrono::microseconds(due)));
      std::string payload = std::to_string(due) + ' ';
      payload.resize(kPayloadBytes, 'x');
      std::string body;
      put_str(body, kTopic);
      body += payload;
      packet = "\x30";
      put_length(packet, body.size());
      packet += body;
      lag = std::max(lag, now_us() - due);
      asio::write(pub, asio::buffer(packet));
      if (due >= begin) ++published;
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(o.drain));
    std::vector<std::uint32_t> latencies;
    std::uint64_t received = 0;
    io.call([&] {
      latencies.swap(recorder.latencies_us);
      received = recorder.received;
      recorder.clear();
    });
    const std::uint64_t expected = published * o.screens;
    const auto p = percentiles(latencies);
    std::printf(
        "{\"tool\":\"live_latency\",\"mode\":\"mosquitto\",\"rate\":%.0f,\"subscribers\":%zu,"
        "\"duration_s\":%.1f,\"published\":%llu,\"expected\":%llu,\"received_in_window\":%llu,"
        "\"delivered_fraction\":%.4f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
        "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"publisher_lag_max_ms\":%.1f}\n",
        rate, o.screens, o.seconds, static_cast<unsigned long long>(published),
        static_cast<unsigned long long>(expected), static_cast<unsigned long long>(received),
        expected ? static_cast<double>(received) / static_cast<double>(expected) : 0.0, p.p50,
        p.p90, p.p99, p.p999, p.max, static_cast<double>(lag) / 1000.0);
    std::fflush(stdout);
  }
  io.call([&] {
    for (auto& s : subs) s->close();
  });
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    if (o.mode == "load") {
      load_entities(o.port, o.entities);
      std::printf("{\"tool\":\"live_latency\",\"mode\":\"load\",\"entities\":%zu}\n", o.entities);
      return 0;
    }
    if (o.mode == "mosquitto") return run_mosquitto(o);
    return o.mode == "screens" ? run_screens(o) : run_write(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "live_latency: %s\n", e.what());
    return 1;
  }
}
