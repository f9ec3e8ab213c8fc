// catalog: freshness transitions under a test clock, the dataset block, persistence across a
// restart and the Dataset entity mirror.
#include "catalog/catalog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

namespace cityroom::catalog {
namespace {

namespace fs = std::filesystem;
constexpr base::Micros kSecond = 1'000'000;
constexpr base::Micros kT0 = 1'800'000'000 * kSecond;

DatasetInfo connector_info(std::string id = "kma", std::int64_t period = 600) {
  DatasetInfo d;
  d.id = std::move(id);
  d.name = {"기상청 초단기실황", "KMA now-cast"};
  d.department = {"기상청", "KMA"};
  d.kind = Kind::kConnector;
  d.entity_types = {"WeatherObserved"};
  d.update_period_seconds = period;
  return d;
}

std::string freshness(const Catalog& c, std::string_view id) {
  auto d = c.get(id);
  return d ? std::string(d->at("freshness").get_string()) : "(none)";
}

TEST(Freshness, WalksThroughEveryStateWithATestClock) {
  std::atomic<base::Micros> now{kT0};
  Catalog c(nullptr, nullptr, [&] { return now.load(); });
  ASSERT_TRUE(c.register_dataset(connector_info()));
  EXPECT_EQ(freshness(c, "kma"), "stale");  // never succeeded
  c.record_success("kma", 8, now);
  EXPECT_EQ(freshness(c, "kma"), "fresh");
  now += 1200 * kSecond;  // exactly two periods: still fresh
  EXPECT_EQ(freshness(c, "kma"), "fresh");
  EXPECT_EQ(c.tick(), 0u);
  now += 1;  // past two missed periods
  EXPECT_EQ(freshness(c, "kma"), "stale");
  EXPECT_EQ(c.tick(), 1u);  // the transition is noticed once
  EXPECT_EQ(c.tick(), 0u);
  c.record_failure("kma", "HTTP 500", now);
  EXPECT_EQ(freshness(c, "kma"), "failed");
  EXPECT_EQ(c.get("kma")->at("failureReason"), json::value("HTTP 500"));
  c.record_success("kma", 9, now + kSecond);
  EXPECT_EQ(freshness(c, "kma"), "fresh");
  EXPECT_EQ(c.get("kma")->at("recordCount"), json::value(9));
  // The last failure stays visible after a later success.
  EXPECT_EQ(c.get("kma")->at("failureReason"), json::value("HTTP 500"));
  c.mark("kma", Mark::kUnreachable);
  EXPECT_EQ(freshness(c, "kma"), "unreachable");
  c.record_success("kma", 9, now + 2 * kSecond);  // reachable again
  EXPECT_EQ(freshness(c, "kma"), "fresh");
  c.mark("kma", Mark::kNotConfigured);
  EXPECT_EQ(freshness(c, "kma"), "not-configured");
}

TEST(Freshness, SimulatedStaysSimulatedAndImportsWithoutPeriodStayFresh) {
  base::Micros now = kT0;
  Catalog c(nullptr, nullptr, [&] { return now; });
  auto sim = connector_info("sim-traffic", 1);
  sim.kind = Kind::kSimulator;
  ASSERT_TRUE(c.register_dataset(sim));
  c.mark("sim-traffic", Mark::kSimulated);
  c.record_success("sim-traffic", 648, now);
  now += 3600 * kSecond;
  EXPECT_EQ(freshness(c, "sim-traffic"), "simulated");
  auto imp = connector_info("cctv", 0);
  imp.kind = Kind::kImport;
  ASSERT_TRUE(c.register_dataset(imp));
  c.record_success("cctv", 7007, now);
  now += 365 * 86400 * kSecond;
  EXPECT_EQ(freshness(c, "cctv"), "fresh");
  EXPECT_EQ(c.get("cctv")->at("kind"), json::value("import"));
}

TEST(Catalog, RefusesBadIdsAndIgnoresUnknownOnes) {
  Catalog c(nullptr, nullptr);
  EXPECT_FALSE(c.register_dataset(connector_info("Bad Id")));
  EXPECT_FALSE(c.register_dataset(connector_info("")));
  c.record_success("nobody", 1, kT0);  // no crash, nothing appears
  c.record_failure("nobody", "x", kT0);
  c.mark("nobody", Mark::kSimulated);
  EXPECT_TRUE(c.list().empty());
  EXPECT_FALSE(c.get("nobody"));
}

TEST(DatasetBlock, ParsesAndNamesTheBadMember) {
  auto doc = json::parse(R"({"name": {"ko": "강남구 안심이 CCTV", "en": "Gangnam safety CCTV"},
    "department": {"ko": "스마트도시과", "en": "Smart City Division"}, "source": "서울 열린데이터광장",
    "licence": "KOGL Type 1", "updatePeriodSeconds": 86400})");
  ASSERT_TRUE(doc);
  DatasetInfo defaults;
  defaults.id = "gangnam-safety-cctv";
  defaults.entity_types = {"Camera"};
  auto info = parse_dataset_info(*doc, defaults);
  ASSERT_TRUE(info) << info.error().detail;
  EXPECT_EQ(info->name.ko, "강남구 안심이 CCTV");
  EXPECT_EQ(info->department.en, "Smart City Division");
  EXPECT_EQ(info->update_period_seconds, 86400);
  EXPECT_EQ(info->entity_types, std::vector<std::string>{"Camera"});
  auto typo = parse_dataset_info(*json::parse(R"({"licnce": "x"})"), defaults);
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().detail.find("dataset.licnce"), std::string::npos);
  auto period = parse_dataset_info(*json::parse(R"({"updatePeriodSeconds": -1})"), defaults);
  ASSERT_FALSE(period);
  EXPECT_NE(period.error().detail.find("updatePeriodSeconds"), std::string::npos);
}

class CatalogStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cityroom-catalog-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    contexts_ = std::move(*ldcontext::ContextStore::open("", dir_ / "contexts"));
  }
  void TearDown() override { fs::remove_all(dir_); }
  // The mirror is asynchronous: the entity's freshness once it is `want` (or after 5 s).
  static std::string mirrored(hub::Hub& hub, const std::string& id, std::string_view want) {
    const std::string iri = "https://uri.etsi.org/ngsi-ld/default-context/freshness";
    std::string seen = "(no mirror)";
    for (int i = 0; i < 500 && seen != want; ++i) {
      auto e = hub.get("", std::string(kEntityPrefix) + id);
      if (e && *e && (**e).contains(iri)) {
        seen = std::string((**e).at(iri).as_array().at(0).at("value").as_string());
      }
      if (seen != want) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return seen;
  }
  fs::path dir_;
  std::unique_ptr<ldcontext::ContextStore> contexts_;
};

TEST_F(CatalogStore, StateSurvivesARestartAndTheMirrorFollowsFreshness) {
  std::atomic<base::Micros> now{kT0};
  {
    auto store = store::open_sqlite({.data_dir = dir_ / "db"});
    ASSERT_TRUE(store) << store.error().detail;
    hub::Hub hub(**store);
    Catalog c(&hub, contexts_->core(), [&] { return now.load(); });
    ASSERT_TRUE(c.load());
    ASSERT_TRUE(c.register_dataset(connector_info()));
    c.record_success("kma", 8, now);
    EXPECT_EQ(mirrored(hub, "kma", "fresh"), "fresh");
    now += 1201 * kSecond;
    EXPECT_EQ(c.tick(), 1u);
    EXPECT_EQ(mirrored(hub, "kma", "stale"), "stale");
    c.record_failure("kma", "timeout after 10000 ms", now);
    EXPECT_EQ(mirrored(hub, "kma", "failed"), "failed");
    (*store)->close();
  }
  auto store = store::open_sqlite({.data_dir = dir_ / "db"});
  ASSERT_TRUE(store);
  hub::Hub hub(**store);
  Catalog c(&hub, contexts_->core(), [&] { return now.load(); });
  ASSERT_TRUE(c.load());
  auto d = c.get("kma");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->at("freshness"), json::value("failed"));
  EXPECT_EQ(d->at("recordCount"), json::value(8));
  EXPECT_EQ(d->at("failureReason"), json::value("timeout after 10000 ms"));
  EXPECT_EQ(d->at("name").at("ko"), json::value("기상청 초단기실황"));
  // Registering again at the next start refreshes the metadata, keeps the state.
  auto info = connector_info();
  info.licence = "KOGL Type 1";
  ASSERT_TRUE(c.register_dataset(info));
  EXPECT_EQ(c.get("kma")->at("licence"), json::value("KOGL Type 1"));
  EXPECT_EQ(c.get("kma")->at("recordCount"), json::value(8));
  (*store)->close();
}

TEST_F(CatalogStore, TheTimerMirrorsATransitionThatOnlyTimeMakes) {
  std::atomic<base::Micros> now{kT0};
  auto store = store::open_sqlite({.data_dir = dir_ / "db"});
  ASSERT_TRUE(store);
  hub::Hub hub(**store);
  {
    Catalog c(&hub, contexts_->core(), [&] { return now.load(); });
    ASSERT_TRUE(c.register_dataset(connector_info("air", 60)));
    c.record_success("air", 40, now);
    EXPECT_EQ(mirrored(hub, "air", "fresh"), "fresh");
    c.start(std::chrono::milliseconds(5));
    now += 121 * kSecond;
    EXPECT_EQ(mirrored(hub, "air", "stale"), "stale");
    c.stop();
  }
  (*store)->close();
}

}  // namespace
}  // namespace cityroom::catalog
