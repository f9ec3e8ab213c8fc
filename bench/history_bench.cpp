// History benchmarks (issue #4's four goals; figures in docs/PERFORMANCE.md "History storage
// (issue #4)"), each next to raw SQLite in the same run:
//   1. append a year of minute data (525,600 points) of one attribute through the store, in
//      work items of 1,000 points (group commit merges them), against raw SQLite inserting
//      the same rows into a row-per-point table (the layout of schema 4) in transactions of
//      1,000;
//   2. bytes on disk per point of that series (both databases, after checkpoint);
//   3. hourly avg over that year through history::aggregate_history (as GET
//      ...?options=aggregatedValues does, without HTTP), against raw SQLite's
//      `SELECT t / 3600e6, avg(v) ... GROUP BY 1` over its rows;
//   4. lastN=1 of one attribute for each of 10,000 entities (10 points each) through one
//      Store::history_many call, against raw SQLite's `ORDER BY t DESC LIMIT 1` per entity.
//   Each measure is repeated over RUNS fresh runs (default 3): median (min-max).
//
//   5. (`history_bench patch`) the store-side cost of history on an attribute update.
//
//   build/release/bench/history_bench [patch | RUNS]   CITYROOM_BENCH_DIR=/var/tmp/x to move files
#include <fmt/format.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <random>

#include "history/history.h"
#include "store/store.h"

namespace cityroom {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kYearMinutes = 525'600;
constexpr std::size_t kBatch = 1000;
constexpr std::size_t kEntities = 10'000;
constexpr std::size_t kPointsPerEntity = 10;
constexpr base::Micros kMinute = 60'000'000;
constexpr base::Micros kStart = 1'704'067'200'000'000;  // 2024-01-01T00:00:00Z
const std::string kPm10 = "https://smartdatamodels.org/dataModel.Environment/pm10";

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::filesystem::path root() {
  const char* dir = std::getenv("CITYROOM_BENCH_DIR");
  return std::filesystem::path(dir ? dir : "/tmp") / fmt::format("cityroom-history-bench-{}",
                                                                 ::getpid());
}

// A PM10-like random walk with one decimal, one reading a minute.
std::vector<double> series(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> out(n);
  double v = 40;
  for (auto& x : out) {
    v = std::clamp(v + static_cast<double>(static_cast<int>(rng() % 21) - 10) / 10.0, 0.0, 300.0);
    x = std::round(v * 10) / 10;
  }
  return out;
}

std::vector<store::HistoryPoint> points(const std::vector<double>& values, base::Micros start) {
  std::vector<store::HistoryPoint> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto& p = out[i];
    p.attribute = kPm10;
    p.time = start + static_cast<base::Micros>(i) * kMinute;
    p.modified = p.time;
    p.observed = true;
    p.instance = json::object{{"type", "Property"}, {"value", values[i]}};
  }
  return out;
}

std::unique_ptr<store::Store> open(const std::filesystem::path& dir) {
  store::SqliteOptions o;
  o.data_dir = dir;
  auto s = store::open_sqlite(o);
  if (!s) {
    fmt::print(stderr, "{}\n", s.error().detail);
    std::exit(1);
  }
  return std::move(*s);
}

// Submits every batch, then waits for the last one (the writer groups them).
void append_all(store::Store& s, const std::string& id,
                const std::vector<store::HistoryPoint>& pts) {
  std::vector<std::future<bool>> done;
  for (std::size_t i = 0; i < pts.size(); i += kBatch) {
    auto p = std::make_shared<std::promise<bool>>();
    done.push_back(p->get_future());
    const std::span<const store::HistoryPoint> chunk(pts.data() + i,
                                                     std::min(kBatch, pts.size() - i));
    s.write(
        [id, chunk](store::Transaction& t) -> base::Result<store::WorkOutput> {
          if (auto r = t.append_history("", id, chunk); !r) return std::unexpected(r.error());
          return store::WorkOutput{};
        },
        [p](base::Result<store::WorkOutput> r) {
          if (!r) fmt::print(stderr, "append failed: {}\n", r.error().detail);
          p->set_value(r.has_value());
        });
  }
  for (auto& f : done) {
    if (!f.get()) std::exit(1);
  }
}

double raw_sqlite(const std::filesystem::path& dir, const std::vector<double>& values) {
  std::filesystem::create_directories(dir);
  sqlite3* db = nullptr;
  sqlite3_open((dir / "raw.db").c_str(), &db);
  sqlite3_exec(db,
               "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
               "CREATE TABLE history(tenant INTEGER NOT NULL, entity INTEGER NOT NULL,"
               " attr INTEGER NOT NULL, t INTEGER NOT NULL, iid INTEGER NOT NULL,"
               " ds INTEGER NOT NULL, k INTEGER NOT NULL, v, x TEXT,"
               " PRIMARY KEY(tenant, entity, attr, t, iid)) WITHOUT ROWID;",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO history VALUES(1, 2, 3, ?1, ?2, 0, 16, ?3, NULL)", -1, &s,
                     nullptr);
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i % kBatch == 0) sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    const base::Micros t = kStart + static_cast<base::Micros>(i) * kMinute;
    sqlite3_bind_int64(s, 1, t);
    sqlite3_bind_int64(s, 2, t);
    sqlite3_bind_double(s, 3, values[i]);
    sqlite3_step(s);
    sqlite3_reset(s);
    if (i % kBatch == kBatch - 1 || i + 1 == values.size()) {
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    }
  }
  const double secs = seconds_since(t0);
  sqlite3_finalize(s);
  sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  return secs;
}

// What history adds to an attribute update at the store: the hub's work item (read the
// entity, change one reading, write it back) with and without computing and appending the
// changed instance. `n` items over 1,000 entities, submitted at once (group commit), timed.
double patches_per_second(store::Store& s, std::size_t n, bool with_history) {
  std::vector<std::future<bool>> done;
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < n; ++i) {
    auto p = std::make_shared<std::promise<bool>>();
    done.push_back(p->get_future());
    const std::string id = fmt::format("urn:ngsi-ld:AirQualityObserved:p{:04}", i % 1000);
    s.write(
        [id, i, with_history](store::Transaction& t) -> base::Result<store::WorkOutput> {
          auto got = t.get("", id);
          if (!got || !*got) return base::fail(base::ErrorKind::kInternalError, "lost");
          model::Entity before = std::move(**got);
          model::Entity after = before;
          const base::Micros now = base::now_micros();
          after[kPm10] = json::array{json::object{
              {"type", "Property"}, {"value", static_cast<double>(i % 500) / 10},
              {"observedAt", base::format_iso8601(now)}, {"modifiedAt", base::format_iso8601(now)}}};
          if (auto r = t.put("", after); !r) return std::unexpected(r.error());
          if (with_history) {
            const auto pts = history::written(&before, after, now);
            if (auto r = t.append_history("", id, pts); !r) return std::unexpected(r.error());
          }
          return store::WorkOutput{};
        },
        [p](base::Result<store::WorkOutput> r) { p->set_value(r.has_value()); });
  }
  for (auto& f : done) {
    if (!f.get()) std::exit(1);
  }
  return static_cast<double>(n) / seconds_since(t0);
}

void patch_cost(const std::filesystem::path& dir) {
  auto s = open(dir);
  std::vector<std::future<bool>> done;
  for (std::size_t e = 0; e < 1000; ++e) {
    model::Entity entity{
        {"id", fmt::format("urn:ngsi-ld:AirQualityObserved:p{:04}", e)},
        {"type", json::array{"https://smartdatamodels.org/dataModel.Environment/AirQualityObserved"}},
        {kPm10, json::array{json::object{{"type", "Property"}, {"value", 1.0}}}},
        {"https://smartdatamodels.org/name",
         json::array{json::object{{"type", "Property"}, {"value", "대치동 측정소"}}}},
        {"https://uri.etsi.org/ngsi-ld/location",
         json::array{json::object{
             {"type", "GeoProperty"},
             {"value", json::object{{"type", "Point"},
                                    {"coordinates", json::array{127.06, 37.49}}}}}}}};
    auto p = std::make_shared<std::promise<bool>>();
    done.push_back(p->get_future());
    s->write(
        [entity](store::Transaction& t) -> base::Result<store::WorkOutput> {
          if (auto r = t.put("", entity); !r) return std::unexpected(r.error());
          return store::WorkOutput{};
        },
        [p](base::Result<store::WorkOutput> r) { p->set_value(r.has_value()); });
  }
  for (auto& f : done) f.get();
  patches_per_second(*s, 5000, true);  // warm-up
  std::vector<double> with, without;
  for (int round = 0; round < 5; ++round) {  // A B A B ...
    without.push_back(patches_per_second(*s, 20'000, false));
    with.push_back(patches_per_second(*s, 20'000, true));
  }
  std::sort(with.begin(), with.end());
  std::sort(without.begin(), without.end());
  fmt::print("store work items of an attribute update: without history {:.0f}/s ({:.0f}-{:.0f}), "
             "with history {:.0f}/s ({:.0f}-{:.0f}), ratio {:.2f}\n",
             without[2], without[0], without[4], with[2], with[0], with[4], with[2] / without[2]);
}

struct Figures {
  double store_append = 0, raw_append = 0;  // points/s
  double store_bytes = 0, raw_bytes = 0;    // per point
  double store_avg_ms = 0, raw_avg_ms = 0;
  double store_last_ms = 0, raw_last_ms = 0;
};

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Raw SQLite: the mean per hour of the year, one GROUP BY over its rows.
double raw_hourly_avg_ms(const std::filesystem::path& db_file) {
  sqlite3* db = nullptr;
  sqlite3_open(db_file.c_str(), &db);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT t / 3600000000, avg(v) FROM history WHERE tenant = 1 AND entity = 2 "
                     "AND attr = 3 GROUP BY 1",
                     -1, &s, nullptr);
  std::vector<double> ms;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    std::size_t n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) ++n;
    sqlite3_reset(s);
    ms.push_back(seconds_since(t0) * 1000);
    if (n != kYearMinutes / 60) fmt::print(stderr, "raw hourly avg: {} hours\n", n);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return median_of(ms);
}

// Raw SQLite: 10,000 entities x 10 points in the row layout, then the newest point of each,
// one prepared look-up per entity.
double raw_last_ms(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  sqlite3* db = nullptr;
  sqlite3_open((dir / "raw-many.db").c_str(), &db);
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
               "CREATE TABLE history(tenant INTEGER NOT NULL, entity INTEGER NOT NULL,"
               " attr INTEGER NOT NULL, t INTEGER NOT NULL, iid INTEGER NOT NULL,"
               " ds INTEGER NOT NULL, k INTEGER NOT NULL, v, x TEXT,"
               " PRIMARY KEY(tenant, entity, attr, t, iid)) WITHOUT ROWID; BEGIN",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO history VALUES(1, ?1, 3, ?2, ?2, 0, 16, ?3, NULL)", -1,
                     &ins, nullptr);
  for (std::size_t e = 0; e < kEntities; ++e) {
    const auto values = series(kPointsPerEntity, e + 7);
    for (std::size_t i = 0; i < kPointsPerEntity; ++i) {
      sqlite3_bind_int64(ins, 1, static_cast<std::int64_t>(e) + 10);
      sqlite3_bind_int64(ins, 2, kStart + static_cast<base::Micros>(i) * kMinute);
      sqlite3_bind_double(ins, 3, values[i]);
      sqlite3_step(ins);
      sqlite3_reset(ins);
    }
  }
  sqlite3_finalize(ins);
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT t, iid, v FROM history WHERE tenant = 1 AND entity = ?1 AND "
                     "attr = 3 ORDER BY t DESC, iid DESC LIMIT 1",
                     -1, &s, nullptr);
  std::vector<double> ms;
  for (int round = 0; round < 3; ++round) {
    const auto t0 = Clock::now();
    std::size_t found = 0;
    for (std::size_t e = 0; e < kEntities; ++e) {
      sqlite3_bind_int64(s, 1, static_cast<std::int64_t>(e) + 10);
      while (sqlite3_step(s) == SQLITE_ROW) ++found;
      sqlite3_reset(s);
    }
    ms.push_back(seconds_since(t0) * 1000);
    if (found != kEntities) fmt::print(stderr, "raw lastN found {}\n", found);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return median_of(ms);
}

Figures run_once(const std::filesystem::path& dir, const std::vector<store::HistoryPoint>& pts,
                 const std::vector<double>& values) {
  Figures f;
  const std::string id = "urn:ngsi-ld:AirQualityObserved:daechi-001";
  {
    auto s = open(dir / "store");
    const auto t0 = Clock::now();
    append_all(*s, id, pts);
    f.store_append = kYearMinutes / seconds_since(t0);
    s->close();
  }
  f.raw_append = kYearMinutes / raw_sqlite(dir / "raw", values);
  f.store_bytes = static_cast<double>(std::filesystem::file_size(dir / "store" / "cityroom.db")) /
                  kYearMinutes;
  f.raw_bytes =
      static_cast<double>(std::filesystem::file_size(dir / "raw" / "raw.db")) / kYearMinutes;
  {
    auto s = open(dir / "store");
    store::HistoryQuery q;
    q.entity_id = id;
    q.attributes = std::vector<std::string>{kPm10};
    std::vector<double> ms;
    for (int i = 0; i < 5; ++i) {
      const auto t0 = Clock::now();
      auto got = history::aggregate_history(*s, "", q, {history::Method::kAvg}, 3'600'000'000,
                                            std::nullopt, std::nullopt);
      ms.push_back(seconds_since(t0) * 1000);
      if (!got || got->size() != 1 || (*got)[0].results[0].size() != kYearMinutes / 60) {
        fmt::print(stderr, "hourly avg: wrong answer\n");
        std::exit(1);
      }
    }
    f.store_avg_ms = median_of(ms);
  }
  f.raw_avg_ms = raw_hourly_avg_ms(dir / "raw" / "raw.db");
  {
    auto s = open(dir / "many");
    std::vector<std::string> ids;
    for (std::size_t e = 0; e < kEntities; ++e) {
      ids.push_back(fmt::format("urn:ngsi-ld:AirQualityObserved:s{:05}", e));
    }
    std::vector<std::future<bool>> done;
    for (std::size_t e = 0; e < kEntities; ++e) {
      auto pts_e = std::make_shared<std::vector<store::HistoryPoint>>(
          points(series(kPointsPerEntity, e + 7), kStart));
      auto p = std::make_shared<std::promise<bool>>();
      done.push_back(p->get_future());
      s->write(
          [id = ids[e], pts_e](store::Transaction& t) -> base::Result<store::WorkOutput> {
            if (auto r = t.append_history("", id, *pts_e); !r) return std::unexpected(r.error());
            return store::WorkOutput{};
          },
          [p](base::Result<store::WorkOutput> r) { p->set_value(r.has_value()); });
    }
    for (auto& fut : done) {
      if (!fut.get()) std::exit(1);
    }
    if (!s->maintain_history()) std::exit(1);  // the steady state: points sealed in chunks
    std::vector<double> ms;
    for (int round = 0; round < 3; ++round) {
      store::HistoryQuery q;
      q.attributes = std::vector<std::string>{kPm10};
      q.last_n = 1;
      const auto t0 = Clock::now();
      auto got = s->history_many("", ids, q);
      ms.push_back(seconds_since(t0) * 1000);
      std::size_t found = 0;
      if (got) {
        for (const auto& one : *got) found += one.size() == 1 ? one[0].rows.size() : 0;
      }
      if (found != kEntities) fmt::print(stderr, "lastN found {}\n", found);
    }
    f.store_last_ms = median_of(ms);
  }
  f.raw_last_ms = raw_last_ms(dir / "raw-many");
  return f;
}

void report(std::string_view what, std::vector<double> v, std::string_view unit) {
  std::sort(v.begin(), v.end());
  fmt::print("  {:<44} {:>12.1f} {} ({:.1f}-{:.1f})\n", what, v[v.size() / 2], unit, v.front(),
             v.back());
}

}  // namespace
}  // namespace cityroom

int main(int argc, char** argv) {
  using namespace cityroom;
  if (argc > 1 && std::string_view(argv[1]) == "patch") {
    const auto dir = root();
    std::filesystem::remove_all(dir);
    patch_cost(dir / "patch");
    std::filesystem::remove_all(dir);
    return 0;
  }
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
  const auto dir = root();
  const auto values = series(kYearMinutes, 1);
  const auto pts = points(values, kStart);
  std::vector<Figures> all;
  for (int r = 0; r < runs; ++r) {
    std::filesystem::remove_all(dir);
    double load[3] = {0, 0, 0};
    getloadavg(load, 3);
    all.push_back(run_once(dir, pts, values));
    const Figures& f = all.back();
    fmt::print("run {} (load {:.1f}): append store {:.0f}/s raw {:.0f}/s ratio {:.2f}; bytes/pt "
               "store {:.2f} raw {:.1f}; hourly avg store {:.1f} ms raw {:.1f} ms; lastN=1 x10k "
               "store {:.1f} ms raw {:.1f} ms\n",
               r + 1, load[0], f.store_append, f.raw_append, f.store_append / f.raw_append,
               f.store_bytes, f.raw_bytes, f.store_avg_ms, f.raw_avg_ms, f.store_last_ms,
               f.raw_last_ms);
  }
  auto col = [&](auto member) {
    std::vector<double> v;
    for (const auto& f : all) v.push_back(f.*member);
    return v;
  };
  std::vector<double> ratio;
  for (const auto& f : all) ratio.push_back(f.store_append / f.raw_append);
  fmt::print("median (min-max) over {} runs:\n", runs);
  report("append store", col(&Figures::store_append), "points/s");
  report("append raw SQLite", col(&Figures::raw_append), "points/s");
  report("append store / raw", ratio, "x");
  report("bytes per point store", col(&Figures::store_bytes), "B");
  report("bytes per point raw SQLite", col(&Figures::raw_bytes), "B");
  report("hourly avg over a year, store", col(&Figures::store_avg_ms), "ms");
  report("hourly avg over a year, raw SQLite GROUP BY", col(&Figures::raw_avg_ms), "ms");
  report("lastN=1 x 10,000 entities, store", col(&Figures::store_last_ms), "ms");
  report("lastN=1 x 10,000 entities, raw SQLite", col(&Figures::raw_last_ms), "ms");
  if (!std::getenv("CITYROOM_BENCH_KEEP")) std::filesystem::remove_all(dir);
  return 0;
}
