// orderBy microbenchmarks: one type of N sensors (default 100,000), ordered by one numeric
// attribute, first page of 20 — the value-index walk (orderBy=pm10;desc) against the full pass
// over every match that any other ordering takes (orderBy=pm10;desc,id orders the same, since
// ties end with the id anyway, but is two keys, which the index walk does not serve). With no
// filter, a 10 % filter (q=district=="d3", pushed down), a 1 % one and a 0.1 % one (the walk
// gives up and falls back to the full pass).
//
//   build/release/bench/order_bench
//   CITYROOM_BENCH_ENTITIES=1000000 build/release/bench/order_bench
//   CITYROOM_BENCH_DIR=/var/tmp/x ...                         # where the database goes
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>

#include "store/store.h"

namespace cityroom::store {
namespace {

constexpr std::size_t kBatchRows = 2000;
constexpr std::size_t kDefaultEntities = 100'000;
const std::string kNs = "https://example.org/";
const std::string kSensor = kNs + "Sensor";

std::filesystem::path bench_root() {
  const char* dir = std::getenv("CITYROOM_BENCH_DIR");
  return std::filesystem::path(dir ? dir : "/tmp") /
         fmt::format("cityroom-order-bench-{}", ::getpid());
}

std::size_t entities() {
  const char* n = std::getenv("CITYROOM_BENCH_ENTITIES");
  return n ? std::strtoull(n, nullptr, 10) : kDefaultEntities;
}

json::array property(json::value v) {
  return json::array{json::object{{"type", "Property"},
                                  {"value", std::move(v)},
                                  {"observedAt", "2024-06-11T10:00:00.000Z"}}};
}

// ~400 bytes: pm10 (0..200, two decimals), a district of ten, a rarity bucket, a location.
model::Entity make_entity(std::size_t n, std::mt19937& rng) {
  model::Entity e;
  e["id"] = fmt::format("urn:ngsi-ld:Sensor:{:07}", n);
  e["type"] = json::array{kSensor};
  e[kNs + "pm10"] = property(static_cast<double>(rng() % 20000) / 100);
  e[kNs + "district"] = property(json::value(fmt::format("d{}", n % 10)));
  // 1 in 1,000 "very" rare (0.1 %), 1 in 100 "rare" (1 %), the rest "common".
  e[kNs + "rarity"] = property(n % 1000 == 7 ? "very" : (n % 100 == 3 ? "rare" : "common"));
  e[kNs + "location"] = json::array{json::object{
      {"type", "GeoProperty"},
      {"value", json::object{{"type", "Point"},
                             {"coordinates", json::array{126.9 + static_cast<double>(rng() % 1000) / 1e4,
                                                         37.5 + static_cast<double>(rng() % 1000) / 1e4}}}}}};
  return e;
}

Store& loaded_store() {
  static std::unique_ptr<Store> store = [] {
    const auto dir = bench_root();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    SqliteOptions options;
    options.data_dir = dir;
    options.cache_mib = 64;
    auto s = open_sqlite(options);
    if (!s) {
      fmt::print(stderr, "open failed: {}\n", s.error().detail);
      std::abort();
    }
    std::mt19937 rng(7);
    const std::size_t total = entities();
    for (std::size_t first = 0; first < total; first += kBatchRows) {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      (*s)->write(
          [&](Transaction& t) -> base::Result<WorkOutput> {
            for (std::size_t n = first; n < std::min(total, first + kBatchRows); ++n) {
              if (auto r = t.put("", make_entity(n, rng)); !r) return std::unexpected(r.error());
            }
            return WorkOutput{};
          },
          [&](base::Result<WorkOutput> r) {
            if (!r) {
              fmt::print(stderr, "write failed: {}\n", r.error().detail);
              std::abort();
            }
            std::lock_guard lock(mu);
            done = true;
            cv.notify_all();
          });
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return done; });
    }
    return std::move(*s);
  }();
  return *store;
}

query::Ordering ordering(std::string_view text) {
  auto o = query::parse_order_by(text);
  if (!o) std::abort();
  o->expand_names([](std::string_view t) { return kNs + std::string(t); });
  return *o;
}

// filter: 0 none, 1 district == d3 (10 %), 2 rarity == rare (1 %), 3 rarity == very (0.1 %).
EntityQuery make_query(bool index_walk, int filter, bool count) {
  EntityQuery q;
  q.any_of_types = std::vector<std::string>{kSensor};
  q.order_by = ordering(index_walk ? "pm10;desc" : "pm10;desc,id");
  q.limit = 20;
  q.count = count;
  if (filter > 0) {
    const std::string attr = kNs + (filter == 1 ? "district" : "rarity");
    const std::string value = filter == 1 ? "d3" : (filter == 2 ? "rare" : "very");
    q.conditions.push_back({attr, query::Filter::Condition::Op::kEq, json::value(value)});
    q.predicate = [attr, value](const model::Entity& e) {
      const auto* slot = e.if_contains(attr);
      return slot && slot->as_array()[0].as_object().at("value").as_string() == value;
    };
  }
  return q;
}

std::vector<std::string> ids(const QueryResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.entities) out.emplace_back(e.at("id").as_string());
  return out;
}

void order_bench(benchmark::State& state) {
  const bool index_walk = state.range(0) != 0;
  const int filter = static_cast<int>(state.range(1));
  const bool count = state.range(2) != 0;
  Store& s = loaded_store();
  const EntityQuery q = make_query(index_walk, filter, count);
  // Both plans must give the same page.
  auto a = s.query("", make_query(true, filter, true));
  auto b = s.query("", make_query(false, filter, true));
  if (!a || !b || ids(*a) != ids(*b) || *a->total != *b->total || a->entities.size() != 20) {
    state.SkipWithError("the two plans disagree");
    return;
  }
  for (auto _ : state) {
    auto r = s.query("", q);
    if (!r || r->entities.size() != 20) {
      state.SkipWithError("query failed");
      break;
    }
  }
  state.counters["matches"] = static_cast<double>(*a->total);
  state.counters["entities"] = static_cast<double>(entities());
}

// Args: index walk (1) or full pass (0); filter 0..3; count.
BENCHMARK(order_bench)
    ->ArgNames({"index", "filter", "count"})
    ->Args({1, 0, 0})
    ->Args({0, 0, 0})
    ->Args({1, 0, 1})
    ->Args({1, 1, 0})
    ->Args({0, 1, 0})
    ->Args({1, 2, 0})
    ->Args({0, 2, 0})
    ->Args({1, 3, 0})
    ->Args({0, 3, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace cityroom::store

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::filesystem::remove_all(cityroom::store::bench_root());
  return 0;
}
