// Store microbenchmarks: the write path against raw SQLite in the same run (project goal: the
// store's batch upsert reaches at least 0.7x the rows/s of plain batched INSERTs of the same
// documents), get by id, and an indexed query (type + value condition + geo box).
//
//   build/release/bench/store_bench                          # 100,000 entities for queries
//   CITYROOM_BENCH_ENTITIES=1000000 build/release/bench/store_bench --benchmark_filter=Query
//   CITYROOM_BENCH_DIR=/var/tmp/x ...                         # where the databases go
//
// Entities are ~1 KB normalized NGSI-LD (smart-data-models style, expanded IRIs, 5 Properties
// with observedAt/unitCode, a GeoProperty Point, a Relationship). Both sides use WAL,
// synchronous=NORMAL, the same page cache, one transaction per 1,000 rows.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>

#include "store/store.h"

namespace cityroom::store {
namespace {

constexpr std::size_t kBatchRows = 1000;
constexpr std::size_t kDefaultQueryEntities = 100'000;
constexpr std::size_t kCacheMib = 64;
const std::string kNs = "https://smartdatamodels.org/dataModel.Environment/";
const std::vector<std::string> kTypes = {kNs + "AirQualityObserved", kNs + "WeatherObserved",
                                         kNs + "NoiseLevelObserved", kNs + "TrafficFlowObserved"};
const std::vector<std::string> kNumbers = {"no2", "pm10", "pm25", "temperature"};

std::filesystem::path bench_root() {
  const char* dir = std::getenv("CITYROOM_BENCH_DIR");
  return std::filesystem::path(dir ? dir : "/tmp") /
         fmt::format("cityroom-store-bench-{}", ::getpid());
}

// A fresh, empty directory for one benchmark run.
std::filesystem::path fresh_dir(std::string_view name) {
  const auto dir = bench_root() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

json::object property(json::value v) {
  return {{"type", "Property"},
          {"value", std::move(v)},
          {"observedAt", "2024-06-11T10:00:00.000Z"},
          {"unitCode", "GQ"}};
}

model::Entity make_entity(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> value(0, 100), lon(126.8, 127.2), lat(37.4, 37.7);
  model::Entity e;
  const std::string& type = kTypes[n % kTypes.size()];
  e["id"] = fmt::format("urn:ngsi-ld:{}:Seoul-{:07}", type.substr(kNs.size()), n);
  e["type"] = json::array{json::value(type)};
  for (const auto& name : kNumbers) {
    e[kNs + name] = json::array{property(std::round(value(rng) * 10) / 10)};
  }
  e[kNs + "airQualityLevel"] = json::array{property(n % 3 ? "moderate" : "good")};
  e[kNs + "refDevice"] = json::array{json::object{
      {"type", "Relationship"}, {"object", fmt::format("urn:ngsi-ld:Device:{}", n % 500)}}};
  e[kNs + "location"] = json::array{json::object{
      {"type", "GeoProperty"},
      {"value",
       json::object{{"type", "Point"}, {"coordinates", json::array{lon(rng), lat(rng)}}}}}};
  e["createdAt"] = "2024-06-11T10:00:01.123Z";
  e["modifiedAt"] = "2024-06-11T10:00:01.123Z";
  return e;
}

// The same entities for every benchmark (generated once), with their JSON text.
struct Corpus {
  std::vector<model::Entity> entities;
  std::vector<std::string> ids, docs;
  double doc_bytes_mean = 0;

  static const Corpus& get() {
    static const Corpus corpus = [] {
      Corpus c;
      std::mt19937 rng(20240611);
      constexpr std::size_t kSize = 20'000;
      double bytes = 0;
      for (std::size_t n = 0; n < kSize; ++n) {
        c.entities.push_back(make_entity(n, rng));
        c.ids.emplace_back(c.entities.back().at("id").as_string());
        c.docs.push_back(json::serialize(c.entities.back()));
        bytes += static_cast<double>(c.docs.back().size());
      }
      c.doc_bytes_mean = bytes / kSize;
      return c;
    }();
    return corpus;
  }
};

std::unique_ptr<Store> open_bench_store(const std::filesystem::path& dir) {
  SqliteOptions options;
  options.data_dir = dir;
  options.cache_mib = kCacheMib;
  auto s = open_sqlite(options);
  if (!s) {
    fmt::print(stderr, "open failed: {}\n", s.error().detail);
    std::abort();
  }
  return std::move(*s);
}

// A fresh id for the n-th written entity: beyond the corpus, ids get a generation suffix so
// every write of the insert benchmarks creates a new entity.
model::Entity nth_entity(const Corpus& c, std::size_t n, bool fresh) {
  model::Entity e = c.entities[n % c.entities.size()];
  if (fresh) e["id"] = fmt::format("{}-{}", c.ids[n % c.ids.size()], n / c.ids.size());
  return e;
}

// CPU time of the whole process (all threads: the store's writer works on its own thread), so
// that write figures stay comparable when the machine is busy with other work.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

class CpuMeter {
 public:
  void start() { started_ = process_cpu_seconds(); }
  void stop() { total_ += process_cpu_seconds() - started_; }
  void report(benchmark::State& state) const {
    const double rows = static_cast<double>(state.iterations()) * kBatchRows;
    state.counters["cpu_us_per_row"] = rows > 0 ? total_ * 1e6 / rows : 0;
  }

 private:
  double started_ = 0, total_ = 0;
};

// Waits for a number of done callbacks.
class Countdown {
 public:
  explicit Countdown(std::size_t n) : left_(n) {}
  void done() {
    std::lock_guard lock(mu_);
    if (--left_ == 0) cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return left_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t left_;
};

void check(const base::Result<WorkOutput>& r) {
  if (!r) {
    fmt::print(stderr, "write failed: {}\n", r.error().detail);
    std::abort();
  }
}

// (a) one Work putting 1,000 entities; `fresh`: inserts, else replaces existing entities.
void store_batch(benchmark::State& state, bool fresh) {
  const Corpus& c = Corpus::get();
  auto store = open_bench_store(fresh_dir(fresh ? "one-work-insert" : "one-work-replace"));
  std::size_t n = 0;
  std::vector<model::Entity> batch(kBatchRows);
  CpuMeter cpu;
  for (auto _ : state) {
    state.PauseTiming();  // building the entities is the caller's work, not the store's
    for (auto& e : batch) e = nth_entity(c, n++, fresh);
    state.ResumeTiming();
    cpu.start();
    Countdown done(1);
    store->write(
        [&](Transaction& t) -> base::Result<WorkOutput> {
          for (const auto& e : batch) {
            if (auto r = t.put("", e); !r) return std::unexpected(r.error());
          }
          return WorkOutput{};
        },
        [&](base::Result<WorkOutput> r) {
          check(r);
          done.done();
        });
    done.wait();
    cpu.stop();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatchRows));
  state.counters["doc_bytes"] = c.doc_bytes_mean;
  cpu.report(state);
}
void BM_StoreOneWorkInsert(benchmark::State& state) {
  store_batch(state, true);
}
void BM_StoreOneWorkReplace(benchmark::State& state) {
  store_batch(state, false);
}

// (a') 1,000 separate Works of one put each (group commit gathers them).
void BM_StoreThousandWorksInsert(benchmark::State& state) {
  const Corpus& c = Corpus::get();
  auto store = open_bench_store(fresh_dir("thousand-works"));
  std::size_t n = 0;
  std::vector<std::shared_ptr<const model::Entity>> batch(kBatchRows);
  CpuMeter cpu;
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& e : batch) e = std::make_shared<const model::Entity>(nth_entity(c, n++, true));
    state.ResumeTiming();
    cpu.start();
    Countdown done(kBatchRows);
    for (const auto& e : batch) {
      store->write(
          [e](Transaction& t) -> base::Result<WorkOutput> {
            if (auto r = t.put("", *e); !r) return std::unexpected(r.error());
            return WorkOutput{};
          },
          [&](base::Result<WorkOutput> r) {
            check(r);
            done.done();
          });
    }
    done.wait();
    cpu.stop();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatchRows));
  cpu.report(state);
  const Stats s = store->stats();
  state.counters["items_per_commit"] = static_cast<double>(s.work_items) /
                                       static_cast<double>(std::max<std::uint64_t>(s.commits, 1));
}

void exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    fmt::print(stderr, "sqlite: {}: {}\n", sql, message ? message : "?");
    std::abort();
  }
}

// (b) the peer: plain SQLite, one table (tenant, id, doc) keyed by (tenant, id), the same JSON
// text, one transaction per 1,000 rows, the same durability settings.
void raw_sqlite(benchmark::State& state, bool fresh) {
  const Corpus& c = Corpus::get();
  const auto dir = fresh_dir(fresh ? "raw-insert" : "raw-replace");
  sqlite3* db = nullptr;
  sqlite3_open((dir / "raw.db").c_str(), &db);
  exec(db, "PRAGMA journal_mode = WAL");
  exec(db, fmt::format("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -{}", kCacheMib * 1024)
               .c_str());
  exec(db,
       "CREATE TABLE entities(tenant TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL, "
       "PRIMARY KEY(tenant, id))");
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO entities(tenant, id, doc) VALUES('', ?1, ?2)", -1,
                     &insert, nullptr);
  std::size_t n = 0;
  std::vector<std::string> ids(kBatchRows);
  CpuMeter cpu;
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& id : ids) {
      id = fresh ? fmt::format("{}-{}", c.ids[n % c.ids.size()], n / c.ids.size())
                 : c.ids[n % c.ids.size()];
      ++n;
    }
    state.ResumeTiming();
    cpu.start();
    exec(db, "BEGIN");
    for (std::size_t i = 0; i < kBatchRows; ++i) {
      const std::string& doc = c.docs[(n - kBatchRows + i) % c.docs.size()];
      sqlite3_bind_text(insert, 1, ids[i].data(), static_cast<int>(ids[i].size()), SQLITE_STATIC);
      sqlite3_bind_text(insert, 2, doc.data(), static_cast<int>(doc.size()), SQLITE_STATIC);
      if (sqlite3_step(insert) != SQLITE_DONE) std::abort();
      sqlite3_reset(insert);
    }
    exec(db, "COMMIT");
    cpu.stop();
  }
  sqlite3_finalize(insert);
  sqlite3_close(db);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatchRows));
  cpu.report(state);
}
void BM_RawSqliteInsert(benchmark::State& state) {
  raw_sqlite(state, true);
}
void BM_RawSqliteReplace(benchmark::State& state) {
  raw_sqlite(state, false);
}

std::size_t query_entities() {
  const char* n = std::getenv("CITYROOM_BENCH_ENTITIES");
  return n ? std::strtoull(n, nullptr, 10) : kDefaultQueryEntities;
}

// A store holding query_entities() entities, loaded once for (c) and (d).
Store& loaded_store() {
  static std::unique_ptr<Store> store = [] {
    const Corpus& c = Corpus::get();
    auto s = open_bench_store(fresh_dir("loaded"));
    const std::size_t total = query_entities();
    std::mt19937 rng(7);
    for (std::size_t first = 0; first < total; first += kBatchRows) {
      Countdown done(1);
      s->write(
          [&](Transaction& t) -> base::Result<WorkOutput> {
            for (std::size_t n = first; n < std::min(total, first + kBatchRows); ++n) {
              model::Entity e = make_entity(n, rng);
              if (auto r = t.put("", e); !r) return std::unexpected(r.error());
            }
            return WorkOutput{};
          },
          [&](base::Result<WorkOutput> r) {
            check(r);
            done.done();
          });
      done.wait();
    }
    (void)c;
    return s;
  }();
  return *store;
}

// (c) get by id.
void BM_StoreGet(benchmark::State& state) {
  Store& s = loaded_store();
  const std::size_t total = query_entities();
  std::mt19937 rng(3);
  std::size_t found = 0;
  for (auto _ : state) {
    const std::size_t n = rng() % total;
    const std::string& type = kTypes[n % kTypes.size()];
    auto e = s.get("", fmt::format("urn:ngsi-ld:{}:Seoul-{:07}", type.substr(kNs.size()), n));
    found += e && *e;
  }
  if (found != static_cast<std::size_t>(state.iterations()))
    state.SkipWithError("an entity was missing");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// (d) type + value condition + geo box, first page of 100 with count.
void BM_StoreQueryTypeConditionBox(benchmark::State& state) {
  Store& s = loaded_store();
  EntityQuery q;
  q.any_of_types = std::vector<std::string>{kTypes[0]};
  q.conditions.push_back({kNs + "temperature", query::Filter::Condition::Op::kGt, json::value(50)});
  q.geo_box = EntityQuery::GeoBox{kNs + "location", {126.95, 37.50, 127.00, 37.55}};
  q.limit = 100;
  q.count = true;
  std::size_t matches = 0;
  for (auto _ : state) {
    auto r = s.query("", q);
    if (!r) {
      state.SkipWithError(r.error().detail.c_str());
      break;
    }
    matches = *r->total;
  }
  state.counters["matches"] = static_cast<double>(matches);
  state.counters["entities"] = static_cast<double>(query_entities());
}

// (d') a list screen: one type, first page of 20, no count (stops early).
void BM_StoreQueryTypeFirstPage(benchmark::State& state) {
  Store& s = loaded_store();
  EntityQuery q;
  q.any_of_types = std::vector<std::string>{kTypes[1]};
  q.limit = 20;
  for (auto _ : state) {
    auto r = s.query("", q);
    if (!r || r->entities.size() != 20) {
      state.SkipWithError("query failed");
      break;
    }
  }
}

BENCHMARK(BM_StoreOneWorkInsert)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_RawSqliteInsert)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StoreThousandWorksInsert)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StoreOneWorkReplace)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_RawSqliteReplace)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StoreGet)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_StoreQueryTypeConditionBox)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StoreQueryTypeFirstPage)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace cityroom::store

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::filesystem::remove_all(cityroom::store::bench_root());
  return 0;
}
