// connector_bench: parse and parse+upsert throughput of the connectors on the recorded samples
// (records/s). Not a test: built with the connector tests, run by hand:
//   build/release/tests/unit/connectors/connector_bench [iterations]
// Parse-only runs the parser on the body `iterations` times; parse+upsert also upserts each
// pull's entities through a hub on a temporary SQLite store (update semantics, one batch per
// pull and @context, waiting for the commit as the Runner does).
#include <chrono>
#include <cstdio>
#include <random>

#include "common.h"
#include "connectors/connectors.h"

using namespace cityroom;
using namespace cityroom::connectors;

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 2000;
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("cityroom-connector-bench-" +
                                                std::to_string(std::random_device{}()));
  auto store = store::open_sqlite({.data_dir = dir / "db"});
  auto contexts = ldcontext::ContextStore::open(testing::repo() / "data" / "contexts", dir / "ctx");
  if (!store || !contexts) return 1;
  hub::Hub hub(**store);
  struct Sample {
    Type type;
    const char* file;
  };
  const Sample samples[] = {
      {Type::kKmaNcst, "kma_getUltraSrtNcst_20260122_1100_nx60_ny127.json"},
      {Type::kAirKoreaProvince, "airkorea_getCtprvnRltmMesureDnsty_seoul_20240702_1700_nover.json"},
      {Type::kSeoulCitydata, "seoul_citydata_POI009_20260826_EXCERPT.json"},
  };
  std::printf("%-20s %8s %10s %14s %14s %14s\n", "connector", "bytes", "entities",
              "parse rec/s", "parse MB/s", "parse+upsert rec/s");
  for (const auto& s : samples) {
    const auto body = testing::read(testing::samples() / s.file);
    std::size_t entities = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) entities += parse_body(s.type, body)->entities.size();
    const double parse_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::size_t upserted = 0;
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) {
      upserted += upsert(hub, **contexts, *parse_body(s.type, body)).upserted;
    }
    const double both_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-20s %8zu %10zu %14.0f %14.1f %14.0f\n", std::string(type_name(s.type)).c_str(),
                body.size(), entities / iterations, entities / parse_s,
                body.size() * iterations / parse_s / 1e6, upserted / both_s);
  }
  (*store)->close();
  fs::remove_all(dir);
  return 0;
}
