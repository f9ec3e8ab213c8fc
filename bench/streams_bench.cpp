// Screen-stream fan-out: many clients with fake sinks watching a realistic mix of queries while
// changes arrive at a fixed rate. Reports CPU per change (the whole process and the fan-out
// thread alone) and the latency from commit (the feed's publish) to sink->send.
//
//   build/release/bench/streams_bench [--clients 200] [--per-client 5] [--rates 1000,5000]
//                                     [--seconds 6] [--via hub|feed] [--distinct]
//
// --via hub (default): merges go through hub::Hub and the SQLite store (group commit), as in
//   production; the writer thread's CPU is then part of the process figure.
// --via feed: the same changes are published straight into the feed (no store writes), to see
//   the fan-out without the store competing for the 2 cores.
// --distinct: every watch is different (no sharing of evaluation/rendering); by default the
//   watches are drawn from a pool of 40, as panels repeat across screens.
#include <fmt/format.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "hub/hub.h"
#include "ldcontext/ldcontext.h"
#include "live/feed.h"
#include "live/streams.h"
#include "store/store.h"

using namespace cityroom;

namespace {

constexpr int kTypes = 5;
constexpr int kEntitiesPerType = 2000;
const char* const kTypeNames[kTypes] = {"AirQualityObserved", "TrafficFlowObserved",
                                        "ParkingSpot", "Streetlight", "WaterTank"};

struct Config {
  int clients = 200;
  int per_client = 5;
  std::vector<int> rates = {1000, 5000};
  int seconds = 6;
  bool via_hub = true;
  bool distinct = false;
};

using Clock = std::chrono::steady_clock;

// Commit times by seq, written before the feed publishes (writer thread), read by sinks.
struct Times {
  std::vector<std::atomic<std::int64_t>> at = std::vector<std::atomic<std::int64_t>>(1 << 22);
  std::int64_t get(std::uint64_t seq) const { return at[seq % at.size()].load(); }
};

class BenchSink : public live::StreamSink {
 public:
  explicit BenchSink(const Times& t) : times_(t) {}
  bool send(std::string message, std::string event_id) override {
    const auto now = base::now_micros();
    if (message.starts_with(R"({"kind":"delta")")) {
      const auto colon = event_id.rfind(':');
      const auto seq = std::strtoull(event_id.c_str() + colon + 1, nullptr, 10);
      std::lock_guard lock(mu_);
      sends_.push_back({seq, now});
    } else if (message.starts_with(R"({"kind":"snapshot")")) {
      snapshots_++;
    }
    bytes_ += message.size();
    return true;
  }
  std::size_t queued_bytes() const override { return 0; }
  void close(std::uint16_t, std::string) override {}

  struct Send {
    std::uint64_t seq;
    std::int64_t at;
  };
  std::vector<Send> take() {
    std::lock_guard lock(mu_);
    return std::exchange(sends_, {});
  }
  std::atomic<int> snapshots_{0};
  std::atomic<std::uint64_t> bytes_{0};

 private:
  const Times& times_;
  std::mutex mu_;
  std::vector<Send> sends_;
};

std::string entity_text(int type, int n, std::mt19937& rng) {
  std::uniform_real_distribution<double> lon(126.95, 127.05), lat(37.45, 37.55), level(0, 100);
  return fmt::format(
      R"({{"id":"urn:ngsi-ld:{}:{:05}","type":"{}",
          "level":{{"type":"Property","value":{:.1f},"observedAt":"2026-11-22T01:00:00Z","unitCode":"P1"}},
          "status":{{"type":"Property","value":"{}"}},
          "district":{{"type":"Property","value":"D{}"}},
          "refDevice":{{"type":"Relationship","object":"urn:ngsi-ld:Device:{}"}},
          "location":{{"type":"GeoProperty","value":{{"type":"Point","coordinates":[{:.5f},{:.5f}]}}}}}})",
      kTypeNames[type], n, kTypeNames[type], level(rng), n % 7 ? "ok" : "alert", n % 25, n % 300,
      lon(rng), lat(rng));
}

// A watch as a wall panel would ask: one type, usually a filter, some by area.
std::string watch_message(int name, int type, int variant, std::mt19937& rng, bool distinct) {
  std::uniform_real_distribution<double> lon(126.96, 127.04), lat(37.46, 37.54);
  const std::string type_name = kTypeNames[type];
  // --distinct: a threshold unique to this watch, so no two share evaluation.
  const std::string threshold =
      distinct ? fmt::format("{:.3f}", 50 + (rng() % 100000) / 1000.0) : "80";
  switch (variant % 5) {
    case 0:  // district panel: everything of a type in one district
      return fmt::format(R"({{"op":"watch","query":"p{}","type":"{}","q":"district==%22D{}%22{}","options":"keyValues"}})",
                         name, type_name, variant % 25, distinct ? ";level<" + threshold : "");
    case 1:  // alarms
      return fmt::format(R"({{"op":"watch","query":"p{}","type":"{}","q":"level>{}","options":"keyValues"}})",
                         name, type_name, threshold);
    case 2:  // map around a point
      return fmt::format(R"({{"op":"watch","query":"p{}","type":"{}","georel":"near;maxDistance==800","geometry":"Point","coordinates":"[{:.3f},{:.3f}]"{}}})",
                         name, type_name, distinct ? lon(rng) : 127.0 + 0.01 * (variant % 4),
                         distinct ? lat(rng) : 37.5, distinct ? "" : R"(,"options":"keyValues")");
    case 3:  // status board, normalized
      return fmt::format(R"({{"op":"watch","query":"p{}","type":"{}","q":"status==%22alert%22{}"}})",
                         name, type_name, distinct ? ";level<" + threshold : "");
    default:  // a handful of named devices
      return fmt::format(R"({{"op":"watch","query":"p{}","type":"{}","idPattern":"^urn:ngsi-ld:{}:0{}{}","options":"concise"}})",
                         name, type_name, type_name, variant % 10, distinct ? fmt::format("{}", rng() % 10) : "");
  }
}

std::string unescape(std::string s) {  // the %22 above keeps fmt's braces readable
  for (std::size_t p; (p = s.find("%22")) != std::string::npos;) s.replace(p, 3, "\\\"");
  return s;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

// CPU seconds of the thread named `name` (the fan-out names itself "stream-fanout").
double thread_cpu_seconds(std::string_view name) {
  const long ticks = sysconf(_SC_CLK_TCK);
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string n;
    std::getline(comm, n);
    if (n != name) continue;
    std::ifstream stat(task.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stod(field);
      if (i == 15) stime = std::stod(field);
    }
    return (utime + stime) / ticks;
  }
  return 0;
}

double percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * (v.size() - 1));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k] / 1000.0;
}

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--clients") c.clients = std::stoi(next());
    else if (a == "--per-client") c.per_client = std::stoi(next());
    else if (a == "--seconds") c.seconds = std::stoi(next());
    else if (a == "--via") c.via_hub = next() != "feed";
    else if (a == "--distinct") c.distinct = true;
    else if (a == "--rates") {
      c.rates.clear();
      std::string list = next();
      for (std::size_t p = 0; p < list.size();) {
        auto q = list.find(',', p);
        c.rates.push_back(std::stoi(list.substr(p, q - p)));
        p = q == std::string::npos ? list.size() : q + 1;
      }
    }
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = parse(argc, argv);
  const auto dir = std::filesystem::temp_directory_path() /
                   fmt::format("cityroom-streams-bench-{}", ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  store::SqliteOptions so;
  so.data_dir = dir / "db";
  auto store = std::move(*store::open_sqlite(so));
  auto contexts = std::move(*ldcontext::ContextStore::open({}, dir / "contexts"));
  live::Feed feed(16'384);
  Times times;
  hub::Hub hub(*store, [&](const std::vector<hub::Change>& changes) {
    const auto now = base::now_micros();
    const auto first = feed.last_seq() + 1;  // publish runs on the writer thread only
    for (std::size_t i = 0; i < changes.size(); ++i) times.at[(first + i) % times.at.size()] = now;
    feed.publish(changes);
  });
  const auto& ctx = *contexts->core();
  model::ParseOptions po;
  po.now = base::now_micros();

  // The city: 5 types x 2,000 entities, created through the hub in batches.
  std::mt19937 rng(42);
  std::vector<std::string> ids;
  std::vector<std::shared_ptr<const model::Entity>> current;
  for (int t = 0; t < kTypes; ++t) {
    std::vector<hub::BatchItem> items;
    for (int n = 0; n < kEntitiesPerType; ++n) {
      auto e = model::parse_entity(json::parse(entity_text(t, n, rng))->as_object(), ctx, po);
      ids.push_back(std::string(e->at("id").as_string()));
      current.push_back(std::make_shared<const model::Entity>(*e));
      items.push_back({ids.back(), std::move(*e)});
    }
    std::promise<void> done;
    hub.batch("", hub::BatchKind::kCreate, std::move(items),
              [&](base::Result<hub::BatchOutcome>) { done.set_value(); });
    done.get_future().get();
  }

  live::StreamOptions options;
  live::Streams streams(feed, hub, *contexts, options);
  std::vector<std::shared_ptr<BenchSink>> sinks;
  for (int c = 0; c < cfg.clients; ++c) {
    auto sink = std::make_shared<BenchSink>(times);
    const auto id = streams.open(sink, {});
    for (int k = 0; k < cfg.per_client; ++k) {
      const int type = (c + k) % kTypes;
      const int variant = cfg.distinct ? static_cast<int>(rng() % 1000) : static_cast<int>(rng() % 8) * 5 + k;
      streams.on_message(id, unescape(watch_message(k, type, variant, rng, cfg.distinct)));
    }
    sinks.push_back(sink);
  }
  const auto expected_snapshots = static_cast<std::uint64_t>(cfg.clients) * cfg.per_client;
  const auto setup = Clock::now();
  for (int i = 0; streams.stats().snapshots_sent + streams.stats().errors_sent < expected_snapshots;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (i % 1000 == 999) {
      fmt::print("  ... {} of {} snapshots after {:.0f} s\n", streams.stats().snapshots_sent,
                 expected_snapshots, std::chrono::duration<double>(Clock::now() - setup).count());
      std::fflush(stdout);
    }
  }
  const auto st0 = streams.stats();
  fmt::print("streams_bench: {} clients x {} watches = {} watches in {} groups; {} entities; via {}\n",
             cfg.clients, cfg.per_client, st0.queries, st0.query_groups, ids.size(),
             cfg.via_hub ? "hub (SQLite store)" : "feed (no store writes)");
  if (st0.errors_sent) fmt::print("  ({} watches refused)\n", st0.errors_sent);
  std::fflush(stdout);

  for (const int rate : cfg.rates) {
    for (auto& s : sinks) s->take();
    const auto s0 = streams.stats();
    const auto seq0 = feed.last_seq();
    const double cpu0 = cpu_seconds(), fan0 = thread_cpu_seconds("stream-fanout");
    const auto start = Clock::now();
    const auto end = start + std::chrono::seconds(cfg.seconds);
    std::uint64_t issued = 0;
    std::uniform_int_distribution<std::size_t> pick(0, ids.size() - 1);
    std::uniform_real_distribution<double> level(0, 100);
    while (Clock::now() < end) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const auto due = static_cast<std::uint64_t>(elapsed * rate);
      for (; issued < due; ++issued) {
        const auto i = pick(rng);
        auto next = *current[i];
        next["https://uri.etsi.org/ngsi-ld/default-context/level"].as_array()[0].as_object()["value"] =
            std::round(level(rng) * 10) / 10;
        if (cfg.via_hub) {
          model::Entity fragment;
          fragment["https://uri.etsi.org/ngsi-ld/default-context/level"] =
              next["https://uri.etsi.org/ngsi-ld/default-context/level"];
          hub.merge("", ids[i], std::move(fragment), [](base::Result<void>) {});
          current[i] = std::make_shared<const model::Entity>(std::move(next));
        } else {
          auto after = std::make_shared<const model::Entity>(std::move(next));
          const auto now = base::now_micros();
          times.at[(feed.last_seq() + 1) % times.at.size()] = now;
          feed.publish({hub::Change{hub::Change::Kind::kUpdated, "", ids[i], current[i], after}});
          current[i] = after;
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    // Let the writer and the fan-out finish what was issued.
    const auto wanted = seq0 + issued;
    const auto fanned = [&] {
      const auto s = streams.stats();
      return s.events + s.feed_missed - s0.events - s0.feed_missed;
    };
    while (feed.last_seq() < wanted || fanned() < wanted - seq0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu = cpu_seconds() - cpu0, fan = thread_cpu_seconds("stream-fanout") - fan0;
    const auto s1 = streams.stats();
    // Latency of the newest event of each delta (commit → send), and of the oldest event the
    // delta may cover (an upper bound: from the previous batch end seen by any client).
    std::vector<std::int64_t> newest, oldest;
    std::vector<std::uint64_t> ends;
    std::vector<BenchSink::Send> all;
    for (auto& s : sinks) {
      auto v = s->take();
      all.insert(all.end(), v.begin(), v.end());
    }
    for (const auto& x : all) ends.push_back(x.seq);
    std::sort(ends.begin(), ends.end());
    ends.erase(std::unique(ends.begin(), ends.end()), ends.end());
    for (const auto& x : all) {
      newest.push_back(x.at - times.get(x.seq));
      auto it = std::lower_bound(ends.begin(), ends.end(), x.seq);
      const std::uint64_t first = it == ends.begin() ? seq0 + 1 : *(it - 1) + 1;
      oldest.push_back(x.at - times.get(std::max(first, seq0 + 1)));
    }
    const auto changes = s1.events - s0.events;
    fmt::print(
        "  {:>5}/s target: {} changes in {:.1f} s; {} delta messages ({:.1f} per change, {:.1f} MB); "
        "resyncs {}, fan-out overrun {}\n"
        "      CPU per change: process {:.1f} us, fan-out thread {:.1f} us (fan-out busy {:.0f}%)\n"
        "      commit->send latency ms: newest p50 {:.2f} p99 {:.2f} max {:.2f}; oldest-in-batch "
        "(upper bound) p50 {:.2f} p99 {:.2f}\n",
        rate, changes, wall, s1.deltas_sent - s0.deltas_sent,
        double(s1.deltas_sent - s0.deltas_sent) / std::max<std::uint64_t>(1, changes),
        (s1.bytes_sent - s0.bytes_sent) / 1e6, s1.resyncs - s0.resyncs,
        s1.feed_missed - s0.feed_missed, cpu * 1e6 / changes,
        fan * 1e6 / changes, 100 * fan / wall, percentile(newest, 0.5), percentile(newest, 0.99),
        percentile(newest, 1.0), percentile(oldest, 0.5), percentile(oldest, 0.99));
    std::fflush(stdout);
  }
  streams.stop();
  feed.stop();
  store->close();
  std::filesystem::remove_all(dir);
  return 0;
}
