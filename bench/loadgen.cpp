// cityroom_loadgen: a small HTTP/1.1 keep-alive load generator for bench/run.sh.
//
// Two modes:
//  - closed loop (--rate 0): N connections, each sends its next request as soon as the previous
//    answer arrives, for D seconds → requests/s and status counts. This measures capacity.
//  - open loop (--rate R): R requests/s in total, spread evenly over N connections, each request
//    with a scheduled send time. Latency is measured from the SCHEDULED time, not from the actual
//    send, so a stalled server is charged for the requests it delayed (no coordinated omission).
//    A connection whose previous request is still in flight sends late and the lateness counts.
//
// Requests come from a template: the path and body may contain {i} (a random integer in [0, K)),
// {v} (a random value with one decimal in [0, 100)), {lon} and {lat} (a random point in --box).
// Every connection has its own generator seeded from --seed, so runs are reproducible.
//
// The run is bounded: warm-up + duration + drain, after which every socket is closed. Output is
// one JSON line on stdout. Each thread runs its own io_context with its own share of the
// connections, so nothing is shared between threads until the final merge.
//
//   cityroom_loadgen --url http://127.0.0.1:8080 --path '/ngsi-ld/v1/entities/urn:x:{i}'
//                    --keys 10000 --connections 64 --duration 10 [--rate 2000] [--threads 1]
#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bh = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kConnectionsMax = 4096;
constexpr std::size_t kThreadsMax = 64;
constexpr double kDurationMaxS = 3600;
constexpr std::uint64_t kResponseBodyBytesMax = 256ull * 1024 * 1024;
constexpr auto kReconnectDelay = std::chrono::milliseconds(50);
constexpr int kReconnectsMax = 1000;  // per connection; past it the connection gives up

// ---------------------------------------------------------------------------------------------
// Latency histogram: exact below 1,024 µs, then 64 sub-buckets per power of two (≤1.6% error).
class Histogram {
 public:
  void add(std::int64_t us) {
    ++count_;
    max_us_ = std::max(max_us_, us);
    ++buckets_[index(std::max<std::int64_t>(us, 0))];
  }
  void merge(const Histogram& o) {
    count_ += o.count_;
    max_us_ = std::max(max_us_, o.max_us_);
    for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
  }
  std::uint64_t count() const { return count_; }
  std::int64_t max_us() const { return max_us_; }
  // The upper edge of the bucket holding the q-quantile, capped by the true max.
  std::int64_t quantile_us(double q) const {
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen >= std::max<std::uint64_t>(rank, 1)) return std::min(upper(i), max_us_);
    }
    return max_us_;
  }

 private:
  static constexpr int kSubBits = 6;
  static constexpr std::size_t kLinear = 1024;
  static constexpr std::size_t kBuckets = kLinear + (64 - 10) * (1u << kSubBits);
  static std::size_t index(std::int64_t us) {
    const auto u = static_cast<std::uint64_t>(us);
    if (u < kLinear) return u;
    const int exp = 63 - __builtin_clzll(u);  // ≥ 10
    const auto sub = (u >> (exp - kSubBits)) & ((1u << kSubBits) - 1);
    return kLinear + static_cast<std::size_t>(exp - 10) * (1u << kSubBits) + sub;
  }
  static std::int64_t upper(std::size_t i) {
    if (i < kLinear) return static_cast<std::int64_t>(i);
    const std::size_t exp = (i - kLinear) / (1u << kSubBits) + 10;
    const std::size_t sub = (i - kLinear) % (1u << kSubBits);
    return static_cast<std::int64_t>(((1ull << kSubBits) + sub + 1) << (exp - kSubBits)) - 1;
  }
  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
  std::int64_t max_us_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Request template: literal pieces and placeholders, expanded per request.
enum class Slot { kLiteral, kIndex, kValue, kLon, kLat };
struct Piece {
  Slot slot;
  std::string text;
};

std::vector<Piece> compile_template(std::string_view t) {
  static const std::array<std::pair<std::string_view, Slot>, 4> names{
      {{"{i}", Slot::kIndex}, {"{v}", Slot::kValue}, {"{lon}", Slot::kLon}, {"{lat}", Slot::kLat}}};
  std::vector<Piece> out;
  std::string literal;
  for (std::size_t pos = 0; pos < t.size();) {
    bool matched = false;
    for (const auto& [name, slot] : names) {
      if (t.substr(pos, name.size()) == name) {
        if (!literal.empty()) out.push_back({Slot::kLiteral, std::move(literal)});
        literal.clear();
        out.push_back({slot, {}});
        pos += name.size();
        matched = true;
        break;
      }
    }
    if (!matched) literal += t[pos++];
  }
  if (!literal.empty()) out.push_back({Slot::kLiteral, std::move(literal)});
  return out;
}

struct Box {
  double lon0 = 126.8, lat0 = 37.45, lon1 = 127.2, lat1 = 37.7;
};

struct Options {
  std::string host = "127.0.0.1";
  std::string port = "8080";
  std::string method = "GET";
  std::string path = "/";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::uint64_t keys = 1;
  std::size_t connections = 1;
  std::size_t threads = 1;
  double duration_s = 10;
  double warmup_s = 1;
  double drain_s = 2;
  double rate = 0;  // 0: closed loop
  double timeout_s = 30;
  std::uint64_t seed = 1;
  std::string count_header;  // record this response header's integer value (e.g. a result count)
  bool count_array = false;  // parse the body as a JSON array and record its size
  Box box;
  std::string label;
};

class Expander {
 public:
  Expander(const Options& o, std::uint64_t seed)
      : path_(compile_template(o.path)), body_(compile_template(o.body)), keys_(o.keys),
        box_(o.box), rng_(seed) {}

  // Fills path and body of one request; {i}/{v}/{lon}/{lat} are drawn once per request so the
  // same placeholder in path and body gets the same value.
  void next(std::string& path, std::string& body) {
    draw();
    expand(path_, path);
    expand(body_, body);
  }

 private:
  void draw() {
    index_ = std::uniform_int_distribution<std::uint64_t>(0, keys_ - 1)(rng_);
    value_tenths_ = std::uniform_int_distribution<int>(0, 999)(rng_);
    lon_ = std::uniform_real_distribution<double>(box_.lon0, box_.lon1)(rng_);
    lat_ = std::uniform_real_distribution<double>(box_.lat0, box_.lat1)(rng_);
  }
  void expand(const std::vector<Piece>& pieces, std::string& out) const {
    out.clear();
    char buf[64];
    for (const auto& p : pieces) {
      switch (p.slot) {
        case Slot::kLiteral: out += p.text; break;
        case Slot::kIndex: out += std::to_string(index_); break;
        case Slot::kValue:
          std::snprintf(buf, sizeof buf, "%d.%d", value_tenths_ / 10, value_tenths_ % 10);
          out += buf;
          break;
        case Slot::kLon: std::snprintf(buf, sizeof buf, "%.6f", lon_); out += buf; break;
        case Slot::kLat: std::snprintf(buf, sizeof buf, "%.6f", lat_); out += buf; break;
      }
    }
  }
  std::vector<Piece> path_, body_;
  std::uint64_t keys_;
  Box box_;
  std::mt19937_64 rng_;
  std::uint64_t index_ = 0;
  int value_tenths_ = 0;
  double lon_ = 0, lat_ = 0;
};

// ---------------------------------------------------------------------------------------------
// What one thread measured; merged at the end.
struct Stats {
  Histogram latency;
  std::map<unsigned, std::uint64_t> status;
  std::map<std::string, std::uint64_t> errors;
  std::uint64_t completed = 0;   // responses inside the measured window
  std::uint64_t bytes_in = 0;    // response body bytes inside the window
  std::uint64_t unsent = 0;      // open loop: scheduled inside the window, never sent
  std::uint64_t late_sends = 0;  // open loop: sent more than 1 ms after their scheduled time
  std::uint64_t counted = 0;     // responses with a result count
  std::uint64_t count_sum = 0, count_zero = 0, count_max = 0;
  std::uint64_t count_min = UINT64_MAX;

  void merge(const Stats& o) {
    latency.merge(o.latency);
    for (const auto& [k, v] : o.status) status[k] += v;
    for (const auto& [k, v] : o.errors) errors[k] += v;
    completed += o.completed;
    bytes_in += o.bytes_in;
    unsent += o.unsent;
    late_sends += o.late_sends;
    counted += o.counted;
    count_sum += o.count_sum;
    count_zero += o.count_zero;
    count_max = std::max(count_max, o.count_max);
    count_min = std::min(count_min, o.count_min);
  }
  void add_count(std::uint64_t n) {
    ++counted;
    count_sum += n;
    count_zero += n == 0;
    count_max = std::max(count_max, n);
    count_min = std::min(count_min, n);
  }
};

struct Window {
  Clock::time_point start;     // measurement starts (after warm-up)
  Clock::time_point end;       // no new requests after this
  Clock::time_point deadline;  // every socket closed by now
};

// ---------------------------------------------------------------------------------------------
// One keep-alive connection. Lives on one single-threaded io_context: no strand needed.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& ioc, const tcp::resolver::results_type& endpoints,
             const Options& o, const Window& w, Stats& stats, std::uint64_t seed,
             Clock::duration phase)
      : endpoints_(endpoints), o_(o), w_(w), stats_(stats), expander_(o, seed),
        stream_(ioc), timer_(ioc) {
    if (o.rate > 0) {
      interval_ = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(static_cast<double>(o.connections) / o.rate));
    }
    next_due_ = w_.start - std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(o.warmup_s)) + phase;
  }

  void start() { connect(); }

  void stop() {
    // A request scheduled inside the window that has no answer by the deadline is an error,
    // not silently dropped from the latency figures.
    if (in_flight_ && in_window(scheduled_)) ++stats_.errors["unanswered_at_deadline"];
    stopped_ = true;
    beast::error_code ec;
    timer_.cancel();
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  bool open_loop() const { return o_.rate > 0; }

  void connect() {
    if (stopped_) return;
    stream_.expires_after(std::chrono::seconds(5));
    stream_.async_connect(endpoints_, [self = shared_from_this()](beast::error_code ec,
                                                                  const tcp::endpoint&) {
      if (ec) return self->fail("connect");
      beast::error_code opt_ec;
      self->stream_.socket().set_option(tcp::no_delay(true), opt_ec);
      self->schedule();
    });
  }

  // Closed loop: send now. Open loop: wait for the next scheduled time (or send at once when
  // behind schedule; the lateness is part of the latency).
  void schedule() {
    if (stopped_) return;
    const auto now = Clock::now();
    if (!open_loop()) {
      if (now >= w_.end) return;
      return send(now);
    }
    if (next_due_ >= w_.end) return;
    if (next_due_ <= now) return send(next_due_);
    timer_.expires_at(next_due_);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->send(self->next_due_);
    });
  }

  void send(Clock::time_point scheduled) {
    if (stopped_) return;
    scheduled_ = scheduled;
    in_flight_ = true;
    if (open_loop()) {
      if (Clock::now() - scheduled > std::chrono::milliseconds(1) && in_window(scheduled)) {
        ++stats_.late_sends;
      }
      next_due_ += interval_;
    }
    expander_.next(path_, body_);
    request_ = {};
    request_.method_string(o_.method);
    request_.target(path_);
    request_.version(11);
    request_.set(bh::field::host, o_.host);
    for (const auto& [name, value] : o_.headers) request_.set(name, value);
    if (!body_.empty() || o_.method == "POST" || o_.method == "PATCH" || o_.method == "PUT") {
      request_.body() = body_;
      request_.prepare_payload();
    }
    stream_.expires_after(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(o_.timeout_s)));
    bh::async_write(stream_, request_, [self = shared_from_this()](beast::error_code ec,
                                                                   std::size_t) {
      if (ec) return self->fail("write");
      self->read();
    });
  }

  void read() {
    parser_.emplace();
    parser_->body_limit(kResponseBodyBytesMax);
    bh::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) {
                     if (ec) return self->fail(ec == beast::error::timeout ? "timeout" : "read");
                     self->on_response();
                   });
  }

  bool in_window(Clock::time_point t) const { return t >= w_.start && t < w_.end; }

  void on_response() {
    const auto now = Clock::now();
    in_flight_ = false;
    auto& res = parser_->get();
    // Closed loop counts what completes inside the window; open loop counts what was scheduled
    // inside it (so late answers to in-window requests still count, with their full latency).
    const bool counted = open_loop() ? in_window(scheduled_) : in_window(now);
    if (counted) {
      ++stats_.completed;
      ++stats_.status[res.result_int()];
      stats_.bytes_in += res.body().size();
      stats_.latency.add(
          std::chrono::duration_cast<std::chrono::microseconds>(now - scheduled_).count());
      record_count(res);
    }
    if (!res.keep_alive()) {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      stream_.close();
      return connect();
    }
    schedule();
  }

  void record_count(const bh::response<bh::string_body>& res) {
    if (!o_.count_header.empty()) {
      const auto it = res.find(o_.count_header);
      if (it != res.end()) {
        std::uint64_t n = 0;
        const auto v = it->value();
        if (std::from_chars(v.data(), v.data() + v.size(), n).ec == std::errc()) {
          stats_.add_count(n);
        }
      }
    }
    if (o_.count_array && res.result_int() == 200) {
      boost::system::error_code ec;
      const auto doc = boost::json::parse(res.body(), ec);
      if (!ec && doc.is_array()) stats_.add_count(doc.as_array().size());
    }
  }

  void fail(const char* what) {
    if (stopped_) return;
    // Counted when it cost a request of the window, or happened during it (failed connects).
    if (in_window(Clock::now()) || (in_flight_ && in_window(scheduled_))) ++stats_.errors[what];
    in_flight_ = false;
    beast::error_code ec;
    stream_.socket().close(ec);
    if (++reconnects_ > kReconnectsMax || Clock::now() >= w_.end) return;
    timer_.expires_after(kReconnectDelay);
    timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
      if (!wait_ec) self->connect();
    });
  }

 public:
  // Open loop: scheduled inside the window but never sent (the connection fell that far behind).
  std::uint64_t unsent() const {
    if (!open_loop() || interval_.count() <= 0) return 0;
    auto from = std::max(next_due_, w_.start);
    if (from >= w_.end) return 0;
    // Scheduled times from..end (exclusive) one interval apart: ceil((end - from) / interval).
    return static_cast<std::uint64_t>((w_.end - from + interval_ - Clock::duration(1)) / interval_);
  }

 private:
  const tcp::resolver::results_type& endpoints_;
  const Options& o_;
  const Window& w_;
  Stats& stats_;
  Expander expander_;
  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  bh::request<bh::string_body> request_;
  std::optional<bh::response_parser<bh::string_body>> parser_;
  std::string path_, body_;
  Clock::duration interval_{0};
  Clock::time_point next_due_, scheduled_;
  int reconnects_ = 0;
  bool stopped_ = false;
  bool in_flight_ = false;
};

// ---------------------------------------------------------------------------------------------
// One thread: its io_context, its connections, its stats.
void run_thread(const Options& o, const Window& w, const tcp::resolver::results_type& endpoints,
                std::size_t thread_index, Stats& stats) {
  asio::io_context ioc(1);
  std::vector<std::shared_ptr<Connection>> conns;
  const auto interval = std::chrono::duration<double>(
      o.rate > 0 ? static_cast<double>(o.connections) / o.rate : 0);
  for (std::size_t c = thread_index; c < o.connections; c += o.threads) {
    // Spread the connections' phases evenly over one interval so the offered load is smooth.
    const auto phase = std::chrono::duration_cast<Clock::duration>(
        interval * (static_cast<double>(c) / static_cast<double>(o.connections)));
    conns.push_back(std::make_shared<Connection>(ioc, endpoints, o, w, stats,
                                                 o.seed * 1'000'003 + c, phase));
  }
  for (auto& c : conns) c->start();
  asio::steady_timer stop_timer(ioc);
  stop_timer.expires_at(w.deadline);
  stop_timer.async_wait([&](beast::error_code) {
    for (auto& c : conns) c->stop();
  });
  ioc.run_until(w.deadline + std::chrono::seconds(1));
  for (auto& c : conns) stats.unsent += c->unsent();
}

// ---------------------------------------------------------------------------------------------
// Command line.
bool parse_double(std::string_view s, double& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}
bool parse_u64(std::string_view s, std::uint64_t& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool parse_url(std::string_view url, Options& o) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return false;
  url.remove_prefix(kScheme.size());
  if (const auto slash = url.find('/'); slash != std::string_view::npos) url = url.substr(0, slash);
  const auto colon = url.rfind(':');
  if (colon == std::string_view::npos) {
    o.host = url;
    o.port = "80";
  } else {
    o.host = url.substr(0, colon);
    o.port = url.substr(colon + 1);
  }
  return !o.host.empty() && !o.port.empty();
}

bool parse_box(std::string_view s, Box& box) {
  std::array<double, 4> v{};
  for (std::size_t k = 0; k < 4; ++k) {
    const auto comma = s.find(',');
    if ((comma == std::string_view::npos) != (k == 3)) return false;
    if (!parse_double(s.substr(0, comma), v[k])) return false;
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
  }
  box = {v[0], v[1], v[2], v[3]};
  return box.lon0 <= box.lon1 && box.lat0 <= box.lat1;
}

bool apply_option(std::string_view name, std::string_view value, Options& o) {
  std::uint64_t n = 0;
  if (name == "--url") return parse_url(value, o);
  if (name == "--method") return o.method = value, true;
  if (name == "--path") return o.path = value, true;
  if (name == "--body") return o.body = value, true;
  if (name == "--label") return o.label = value, true;
  if (name == "--count-header") return o.count_header = value, true;
  if (name == "--count-array") return o.count_array = value == "1" || value == "true", true;
  if (name == "--box") return parse_box(value, o.box);
  if (name == "--header") {
    const auto colon = value.find(':');
    if (colon == std::string_view::npos) return false;
    auto v = value.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    o.headers.emplace_back(std::string(value.substr(0, colon)), std::string(v));
    return true;
  }
  if (name == "--keys") return parse_u64(value, o.keys) && o.keys > 0;
  if (name == "--seed") return parse_u64(value, o.seed);
  if (name == "--connections") {
    return parse_u64(value, n) && n > 0 && n <= kConnectionsMax && (o.connections = n, true);
  }
  if (name == "--threads") {
    return parse_u64(value, n) && n > 0 && n <= kThreadsMax && (o.threads = n, true);
  }
  if (name == "--duration") return parse_double(value, o.duration_s) && o.duration_s > 0 &&
                                    o.duration_s <= kDurationMaxS;
  if (name == "--warmup") return parse_double(value, o.warmup_s) && o.warmup_s >= 0 &&
                                  o.warmup_s <= kDurationMaxS;
  if (name == "--drain") return parse_double(value, o.drain_s) && o.drain_s >= 0 &&
                                 o.drain_s <= kDurationMaxS;
  if (name == "--rate") return parse_double(value, o.rate) && o.rate >= 0;
  if (name == "--timeout") return parse_double(value, o.timeout_s) && o.timeout_s > 0;
  return false;
}

bool parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) return false;
    if (!apply_option(argv[i], argv[i + 1], o)) {
      std::fprintf(stderr, "cityroom_loadgen: bad option %s %s\n", argv[i], argv[i + 1]);
      return false;
    }
  }
  o.threads = std::min(o.threads, o.connections);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Report.
boost::json::object report(const Options& o, const Stats& s, double measured_s) {
  namespace json = boost::json;
  const auto ms = [](std::int64_t us) { return static_cast<double>(us) / 1000.0; };
  json::object status;
  for (const auto& [k, v] : s.status) status[std::to_string(k)] = v;
  json::object errors;
  for (const auto& [k, v] : s.errors) errors[k] = v;
  json::object out{
      {"label", o.label},
      {"mode", o.rate > 0 ? "open" : "closed"},
      {"method", o.method},
      {"path", o.path},
      {"connections", o.connections},
      {"threads", o.threads},
      {"duration_s", measured_s},
      {"warmup_s", o.warmup_s},
      {"requests", s.completed},
      {"rps", static_cast<double>(s.completed) / measured_s},
      {"status", std::move(status)},
      {"errors", std::move(errors)},
      {"mean_body_bytes", s.completed ? static_cast<double>(s.bytes_in) / s.completed : 0.0},
      {"latency_ms", json::object{{"p50", ms(s.latency.quantile_us(0.50))},
                                  {"p90", ms(s.latency.quantile_us(0.90))},
                                  {"p99", ms(s.latency.quantile_us(0.99))},
                                  {"p999", ms(s.latency.quantile_us(0.999))},
                                  {"max", ms(s.latency.max_us())}}},
  };
  if (o.rate > 0) {
    out["offered_rps"] = o.rate;
    out["unsent"] = s.unsent;
    out["late_sends"] = s.late_sends;
  }
  if (s.counted > 0) {
    out["result_count"] = json::object{
        {"responses", s.counted},
        {"mean", static_cast<double>(s.count_sum) / static_cast<double>(s.counted)},
        {"min", s.count_min},
        {"max", s.count_max},
        {"zero", s.count_zero}};
  }
  return out;
}

const char* kUsage =
    "usage: cityroom_loadgen --url http://HOST:PORT [--method M] [--path P] [--body B]\n"
    "  [--header 'Name: value']... [--keys K] [--connections N] [--threads T]\n"
    "  [--duration S] [--warmup S] [--drain S] [--rate R (0 = closed loop)] [--timeout S]\n"
    "  [--seed N] [--box lon0,lat0,lon1,lat1] [--count-header NAME] [--count-array 1]\n"
    "  [--label TEXT]\n"
    "  placeholders in path and body: {i} in [0,K), {v} in [0,100), {lon} {lat} in --box\n";

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (argc < 2 || !parse_options(argc, argv, o)) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  try {
    asio::io_context resolve_ioc;
    tcp::resolver resolver(resolve_ioc);
    const auto endpoints = resolver.resolve(o.host, o.port);
    const auto to_clock = [](double s) {
      return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    };
    Window w;
    // A short lead-in so every thread has its connections open before the first schedule.
    const auto begin = Clock::now() + std::chrono::milliseconds(100);
    w.start = begin + to_clock(o.warmup_s);
    w.end = w.start + to_clock(o.duration_s);
    w.deadline = w.end + to_clock(o.drain_s);

    std::vector<Stats> stats(o.threads);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < o.threads; ++t) {
      threads.emplace_back([&, t] { run_thread(o, w, endpoints, t, stats[t]); });
    }
    for (auto& t : threads) t.join();
    Stats total;
    for (const auto& s : stats) total.merge(s);
    std::printf("%s\n", boost::json::serialize(report(o, total, o.duration_s)).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cityroom_loadgen: %s\n", e.what());
    return 1;
  }
  return 0;
}
