// The demo simulator: determinism for a seed, the ambulance dispatch cycle, traffic following
// the hourly profile, what each scenario does to the values alarms watch, the rate limiter,
// PUT validation, and writes reaching the hub with per-feed counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <set>
#include <map>

#include "model/model.h"
#include "simulator/city.h"
#include "simulator/model.h"
#include "simulator/simulator.h"
#include "store/store.h"

namespace cityroom::simulator {
namespace {

namespace fs = std::filesystem;

fs::path source_dir() {
  const char* env = std::getenv("CITYROOM_SOURCE_DIR");
  return env ? fs::path(env) : fs::path(CITYROOM_SOURCE_DIR_DEFAULT);
}

// 2026-11-22T00:00:00Z = 09:00 in Seoul.
constexpr base::Micros kMorning = 1'795'392'000'000'000;
constexpr base::Micros kSecond = 1'000'000;

std::unique_ptr<ldcontext::ContextStore> open_contexts() {
  auto c = ldcontext::ContextStore::open(source_dir() / "data" / "contexts",
                                         fs::temp_directory_path() / "cityroom-sim-ctx");
  EXPECT_TRUE(c) << c.error().detail;
  return std::move(*c);
}

// Speed by local hour: 60 km/h at night (0-5), 20 in the evening peak (17-19), 40 otherwise.
std::array<double, 24> profile() {
  std::array<double, 24> p{};
  for (int h = 0; h < 24; ++h) p[h] = h < 6 ? 60 : (h >= 17 && h < 20) ? 20 : 40;
  return p;
}

// A 3×3 grid of streets, two dongs, two bridges, two markets, one emergency room.
std::shared_ptr<const City> test_city() {
  City c;
  c.name = "시험구";
  c.dongs = {{"urn:ngsi-ld:AdministrativeArea:1100000101", "시험구 가동", {127.005, 37.505}, {"/T"}},
             {"urn:ngsi-ld:AdministrativeArea:1100000102", "시험구 나동", {127.015, 37.515}, {"/T"}}};
  auto node = [](int i, int j) { return LonLat{127.0 + 0.01 * i, 37.5 + 0.01 * j}; };
  auto key = [](int i, int j) { return std::to_string(i) + "-" + std::to_string(j); };
  int n = 0;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (auto [di, dj] : {std::pair{1, 0}, std::pair{0, 1}}) {
        if (i + di > 2 || j + dj > 2) continue;
        Road r;
        r.id = "urn:ngsi-ld:RoadSegment:ktdb:" + std::to_string(++n);
        r.name = "시험로" + std::to_string(n);
        r.line = {node(i, j), node(i + di, j + dj)};
        r.start_node = key(i, j);
        r.end_node = key(i + di, j + dj);
        r.speed_hourly = profile();
        r.free_speed = 60;
        r.rank = 100 + n % 3;
        r.dong = i + j < 2 ? 0 : 1;
        c.roads.push_back(r);
      }
    }
  }
  c.facilities = {
      {Facility::Kind::kBridge, "urn:ngsi-ld:Bridge:its:1", "가교", {127.001, 37.501}, 0, {"/T"}},
      {Facility::Kind::kBridge, "urn:ngsi-ld:Bridge:its:2", "나교", {127.019, 37.519}, 1, {"/T"}},
      {Facility::Kind::kMarket, "urn:ngsi-ld:PointOfInterest:seoul-market:1", "가시장",
       {127.004, 37.506}, 0, {"/T"}},
      {Facility::Kind::kMarket, "urn:ngsi-ld:PointOfInterest:seoul-market:2", "나시장",
       {127.016, 37.514}, 1, {"/T"}}};
  c.hospitals = {{"urn:ngsi-ld:PointOfInterest:seoul-er:A1", "시험병원", {127.02, 37.5}}};
  c.build_graph();
  return std::make_shared<const City>(std::move(c));
}

Names names() {
  static auto contexts = open_contexts();
  auto n = Names::open(*contexts);
  EXPECT_TRUE(n);
  return *n;
}

// The value of an attribute by its short name (the last segment of its expanded IRI).
const json::value* attr(const model::Entity& e, std::string_view term) {
  for (const auto& [k, v] : e) {
    std::string_view key = k;
    const auto cut = key.find_last_of("/#");
    if (cut == std::string_view::npos || key.substr(cut + 1) != term) continue;
    const auto& inst = v.as_array().at(0).as_object();
    if (const auto* x = inst.if_contains("value")) return x;
    if (const auto* x = inst.if_contains("object")) return x;
  }
  return nullptr;
}
double num(const model::Entity& e, std::string_view term) {
  const auto* v = attr(e, term);
  if (!v) return std::nan("");
  return v->is_double() ? v->get_double() : static_cast<double>(v->to_number<double>());
}
std::string str(const model::Entity& e, std::string_view term) {
  const auto* v = attr(e, term);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}
std::string id(const Write& w) { return std::string(w.entity.at("id").get_string()); }

// Runs a model for `seconds` of simulated time in ticks of `step_s`, calling `visit(t, write)`.
template <class Visit>
void run(Model& m, base::Micros from, double seconds, double step_s, std::size_t budget,
         Visit visit) {
  const auto steps = static_cast<long>(seconds / step_s);
  for (long k = 0; k <= steps; ++k) {
    const base::Micros t = from + static_cast<base::Micros>(k * step_s * 1e6);
    for (auto& w : m.tick(t, budget)) visit(t, w);
  }
}

std::string transcript(std::uint64_t seed) {
  Model m(test_city(), names(), seed, Scenario::kNormal, kMorning);
  std::string out;
  const auto steps = 3000;
  for (int k = 0; k < steps; ++k) {
    if (k == 1000) m.set_scenario(Scenario::kTyphoon);
    if (k == 2000) m.set_scenario(Scenario::kMarketFire);
    for (auto& w : m.tick(kMorning + k * 200'000, 10)) {
      out += json::serialize(w.entity);
      out += '\n';
    }
  }
  return out;
}

TEST(SimulatorModel, SameSeedSameWritesDifferentSeedDifferentWrites) {
  const auto a = transcript(7);
  EXPECT_GT(a.size(), 100'000u);
  EXPECT_EQ(a, transcript(7));
  EXPECT_NE(a, transcript(8));
}

TEST(SimulatorModel, AmbulancesGoThroughTheDispatchStatesInOrder) {
  Model m(test_city(), names(), 3, Scenario::kNormal, kMorning);
  const std::vector<std::string> cycle = {"available", "ordered", "enRoute", "onScene",
                                          "transporting", "atHospital", "returning"};
  std::map<std::string, std::string> last;
  std::map<std::string, int> cycles;
  bool saw_hospital = false;
  // Three simulated hours: calls come every few minutes.
  run(m, kMorning, 3 * 3600, 1, 1000, [&](base::Micros, const Write& w) {
    if (w.feed != feed::kAmbulances) return;
    const auto status = str(w.entity, "dispatchStatus");
    ASSERT_NE(std::ranges::find(cycle, status), cycle.end()) << status;
    auto& prev = last[id(w)];
    if (prev.empty()) prev = "available";
    if (status == prev) return;
    const auto at = std::ranges::find(cycle, prev) - cycle.begin();
    EXPECT_EQ(status, cycle[(at + 1) % cycle.size()]) << id(w) << " went " << prev << " → " << status;
    if (status == "atHospital") {
      saw_hospital = true;
      EXPECT_EQ(str(w.entity, "refHospital"), "urn:ngsi-ld:PointOfInterest:seoul-er:A1");
    }
    if (status == "available") ++cycles[id(w)];
    prev = status;
  });
  EXPECT_TRUE(saw_hospital);
  int total = 0;
  for (const auto& [_, n] : cycles) total += n;
  EXPECT_GE(total, 3) << "few complete dispatches in three hours";
}

TEST(SimulatorModel, AmbulancesMoveAlongTheRoads) {
  auto city = test_city();
  // Calls come from points on the roads in normal weather, so every leg is on a road.
  Model m(city, names(), 5, Scenario::kNormal, kMorning);
  std::size_t moving = 0, on_road = 0;
  run(m, kMorning, 7200, 1, 1000, [&](base::Micros, const Write& w) {
    if (w.feed != feed::kAmbulances || str(w.entity, "dispatchStatus") != "enRoute") return;
    const auto& c = w.entity.at("https://uri.etsi.org/ngsi-ld/location").as_array()[0]
                        .as_object().at("value").as_object().at("coordinates").as_array();
    const LonLat p{c[0].to_number<double>(), c[1].to_number<double>()};
    ++moving;
    // On the grid every road runs along a line of constant lon or lat.
    const double fi = (p.lon - 127.0) / 0.01, fj = (p.lat - 37.5) / 0.01;
    if (std::abs(fi - std::round(fi)) < 0.05 || std::abs(fj - std::round(fj)) < 0.05) ++on_road;
  });
  EXPECT_GT(moving, 10u);
  EXPECT_GE(on_road * 10, moving * 9) << "positions off the roads";
}

TEST(SimulatorModel, TrafficSpeedFollowsTheHourlyProfile) {
  auto median_speed = [](base::Micros from) {
    Model m(test_city(), names(), 11, Scenario::kNormal, from);
    std::vector<double> speeds;
    // Ten minutes inside one local hour (the profile is flat within it).
    run(m, from, 600, 1, 1000, [&](base::Micros, const Write& w) {
      if (w.feed == feed::kTraffic) speeds.push_back(num(w.entity, "averageSpeed"));
    });
    std::ranges::sort(speeds);
    return speeds.at(speeds.size() / 2);
  };
  const base::Micros three_am = kMorning + 18 * 3600 * kSecond + 15 * 60 * kSecond;  // 03:15 KST
  const base::Micros six_pm = kMorning + 9 * 3600 * kSecond + 15 * 60 * kSecond;    // 18:15 KST
  EXPECT_NEAR(median_speed(three_am), 60, 4);
  EXPECT_NEAR(median_speed(six_pm), 20, 2);
}

struct Extremes {
  double market_temp = -1e9, market_smoke = -1e9, tilt_max = -1e9, precipitation = -1e9,
         wind = -1e9, snow_height = -1e9;
  std::size_t bridges_over_03 = 0, messages = 0, closures = 0, inprogress = 0, done = 0;
  double road_speed_sum = 0;
  std::size_t road_speeds = 0;
};

Extremes watch(Model& m, base::Micros from, double seconds) {
  Extremes x;
  std::set<std::string> tilted;
  run(m, from, seconds, 1, 1000, [&](base::Micros, const Write& w) {
    if (w.feed == feed::kFacilitySensors) {
      if (attr(w.entity, "temperature")) {
        x.market_temp = std::max(x.market_temp, num(w.entity, "temperature"));
        x.market_smoke = std::max(x.market_smoke, num(w.entity, "smokeDensity"));
      } else {
        x.tilt_max = std::max(x.tilt_max, num(w.entity, "tilt"));
        if (num(w.entity, "tilt") >= 0.3) tilted.insert(id(w));
      }
    } else if (w.feed == feed::kWeather) {
      x.precipitation = std::max(x.precipitation, num(w.entity, "precipitation"));
      x.wind = std::max(x.wind, num(w.entity, "windSpeed"));
      x.snow_height = std::max(x.snow_height, num(w.entity, "snowHeight"));
    } else if (w.feed == feed::kDisasterMessages) {
      ++x.messages;
    } else if (w.feed == feed::kRoadWorks && str(w.entity, "description").find("태풍") != std::string::npos) {
      ++x.closures;
    } else if (w.feed == feed::kSnowRemoval) {
      if (str(w.entity, "snowRemovalStatus") == "inProgress") ++x.inprogress;
      if (str(w.entity, "snowRemovalStatus") == "done") ++x.done;
    } else if (w.feed == feed::kTraffic) {
      x.road_speed_sum += num(w.entity, "averageSpeed");
      ++x.road_speeds;
    }
  });
  x.bridges_over_03 = tilted.size();
  return x;
}

TEST(SimulatorScenario, NormalStaysBelowEveryAlarmLevel) {
  Model m(test_city(), names(), 1, Scenario::kNormal, kMorning);
  const auto x = watch(m, kMorning, 1800);
  EXPECT_LT(x.market_temp, 40);
  EXPECT_LT(x.market_smoke, 2);
  EXPECT_LT(x.tilt_max, 0.3);
  EXPECT_LT(x.precipitation, 1);
  EXPECT_LT(x.wind, 10);
  EXPECT_EQ(x.messages, 0u);
}

TEST(SimulatorScenario, MarketFirePassesTheAlarmLevelsWithinTwoMinutesAndRecovers) {
  Model m(test_city(), names(), 1, Scenario::kNormal, kMorning);
  watch(m, kMorning, 300);
  m.set_scenario(Scenario::kMarketFire);
  const auto fire = watch(m, kMorning + 301 * kSecond, 120);
  EXPECT_GT(fire.market_temp, 60);
  EXPECT_GT(fire.market_smoke, 10);
  EXPECT_EQ(fire.messages, 1u);
  // Ambulances are sent to the fire.
  EXPECT_GE(std::ranges::count_if(m.ambulances(), [](const auto& a) {
              return a.status != Dispatch::kAvailable;
            }),
            3);
  m.set_scenario(Scenario::kNormal);
  watch(m, kMorning + 422 * kSecond, 300);
  const auto after = watch(m, kMorning + 723 * kSecond, 60);
  EXPECT_LT(after.market_temp, 40);
  EXPECT_LT(after.market_smoke, 2);
}

TEST(SimulatorScenario, TyphoonBringsRainWindClosuresAndOneTiltedBridge) {
  Model m(test_city(), names(), 1, Scenario::kTyphoon, kMorning);
  const auto x = watch(m, kMorning, 300);
  EXPECT_GT(x.precipitation, 30);
  EXPECT_GT(x.wind, 20);
  EXPECT_GE(x.closures, 2u);
  EXPECT_EQ(x.messages, 1u);
  EXPECT_GT(x.tilt_max, 0.5);
  EXPECT_EQ(x.bridges_over_03, 1u) << "only one bridge may tilt past 0.3°";
  const auto later = watch(m, kMorning + 301 * kSecond, 300);
  EXPECT_LT(later.tilt_max, 0.3) << "the tilt comes back";
}

// The test city with two river gauges: one at a stream bridge, one at a bridge over the Han.
std::shared_ptr<const City> city_with_gauges() {
  City c = *test_city();
  c.gauges = {{"urn:ngsi-ld:FloodMonitoring:Bridge:its:1", "가교", "탄천", "urn:ngsi-ld:Bridge:its:1",
               {127.001, 37.501}, false, {"/T"}},
              {"urn:ngsi-ld:FloodMonitoring:Bridge:its:2", "나교", "한강", "urn:ngsi-ld:Bridge:its:2",
               {127.019, 37.519}, true, {"/T"}}};
  return std::make_shared<const City>(std::move(c));
}

struct Levels {
  std::map<std::string, double> lowest, highest;
  std::map<std::string, std::set<std::string>> statuses;
  std::map<std::string, double> alert, danger;
};

Levels levels(Model& m, base::Micros from, double seconds) {
  Levels x;
  run(m, from, seconds, 1, 1000, [&](base::Micros, const Write& w) {
    if (w.feed != feed::kWaterLevels) return;
    const auto i = id(w);
    const double v = num(w.entity, "currentLevel");
    x.lowest[i] = x.lowest.contains(i) ? std::min(x.lowest[i], v) : v;
    x.highest[i] = x.highest.contains(i) ? std::max(x.highest[i], v) : v;
    x.statuses[i].insert(str(w.entity, "floodLevelStatus"));
    if (attr(w.entity, "alertLevel")) {
      x.alert[i] = num(w.entity, "alertLevel");
      x.danger[i] = num(w.entity, "dangerLevel");
      EXPECT_FALSE(str(w.entity, "riverName").empty());
      EXPECT_TRUE(str(w.entity, "refFacility").starts_with("urn:ngsi-ld:Bridge:"));
    }
  });
  return x;
}

TEST(SimulatorWater, ABridgeNamesTheRiverItCrosses) {
  const auto tancheon = crossing_of("삼성교", "올림픽로", {"강남구-송파구경계(8)", "강남소방서"});
  ASSERT_TRUE(tancheon);
  EXPECT_EQ(tancheon->river, "탄천");
  EXPECT_EQ(tancheon->bridge, "삼성교");
  EXPECT_FALSE(crossing_of("삼성교", "신림로7길", {})) << "Gwanak's 삼성교 crosses another stream";
  const auto by_node = crossing_of("", "동부간선도로", {"수서지하차도(북측)", "탄천2고가교(남단)"});
  ASSERT_TRUE(by_node);
  EXPECT_EQ(by_node->river, "탄천");
  EXPECT_EQ(by_node->bridge, "탄천2고가교");
  const auto han = crossing_of("영동대로_영동대교", "영동대로", {});
  ASSERT_TRUE(han);
  EXPECT_EQ(han->river, "한강");
  EXPECT_EQ(han->bridge, "영동대교");
  EXPECT_FALSE(crossing_of("", "논현로", {"압구정고가차도(북측)", "압구정고가차도(남측)"}))
      << "an overpass crosses no river";
}

TEST(SimulatorWater, NormalLevelsStayLowAndMoveSlowly) {
  Model m(city_with_gauges(), names(), 1, Scenario::kNormal, kMorning);
  const auto x = levels(m, kMorning, 3 * 3600);
  ASSERT_EQ(x.highest.size(), 2u);
  for (const auto& [gauge, high] : x.highest) {
    EXPECT_LT(high, x.alert.at(gauge)) << gauge;
    EXPECT_EQ(x.statuses.at(gauge), std::set<std::string>{"normal"}) << gauge;
    EXPECT_GT(high - x.lowest.at(gauge), 0.03) << gauge << " does not vary";
    EXPECT_LT(high - x.lowest.at(gauge), 1.0) << gauge << " jumps";
  }
  EXPECT_LT(x.highest.at("urn:ngsi-ld:FloodMonitoring:Bridge:its:1"), 1.5) << "a stream runs low";
}

TEST(SimulatorWater, TyphoonRaisesEveryGaugePastAlertOnePastDangerThenTheyRecede) {
  Model m(city_with_gauges(), names(), 1, Scenario::kNormal, kMorning);
  const auto before = levels(m, kMorning, 60);  // the first readings carry the levels
  ASSERT_EQ(before.alert.size(), 2u);
  m.set_scenario(Scenario::kTyphoon);
  const auto storm = levels(m, kMorning + 61 * kSecond, 300);
  std::size_t past_danger = 0;
  for (const auto& [gauge, high] : storm.highest) {
    EXPECT_GE(high, before.alert.at(gauge)) << gauge;
    EXPECT_TRUE(storm.statuses.at(gauge).contains("alert")) << gauge;
    if (high >= before.danger.at(gauge)) {
      ++past_danger;
      EXPECT_TRUE(storm.statuses.at(gauge).contains("danger")) << gauge;
    }
  }
  EXPECT_EQ(past_danger, 1u) << "one gauge goes past its danger level";
  EXPECT_EQ(m.danger_gauge(), std::optional<std::size_t>(0)) << "a stream's, not the Han's";
  m.set_scenario(Scenario::kNormal);
  levels(m, kMorning + 362 * kSecond, 600);
  const auto after = levels(m, kMorning + 963 * kSecond, 120);
  for (const auto& [gauge, high] : after.highest) {
    EXPECT_EQ(after.statuses.at(gauge), std::set<std::string>{"normal"}) << gauge;
  }
}

TEST(SimulatorScenario, HeavySnowPilesUpSlowsRoadsAndClearsThemLinkByLink) {
  Model normal(test_city(), names(), 1, Scenario::kNormal, kMorning);
  Model snow(test_city(), names(), 1, Scenario::kHeavySnow, kMorning);
  const auto n = watch(normal, kMorning, 1200);
  const auto s = watch(snow, kMorning, 1200);
  EXPECT_GT(s.snow_height, 5);
  EXPECT_EQ(n.snow_height, 0);
  EXPECT_LT(s.road_speed_sum / s.road_speeds, 0.8 * n.road_speed_sum / n.road_speeds);
  EXPECT_GT(s.inprogress, 2u);
  EXPECT_GT(s.done, 2u);
  EXPECT_EQ(s.messages, 1u);
}

TEST(SimulatorModel, NeverWritesMoreThanTheBudgetNorAnEntityTwiceFromItsSlot) {
  Model m(test_city(), names(), 1, Scenario::kNormal, kMorning);
  for (std::size_t budget : {0, 1, 5, 1000}) {
    for (int k = 0; k < 50; ++k) {
      const auto writes = m.tick(kMorning + (k + 1) * 100'000, budget);
      EXPECT_LE(writes.size(), budget);
    }
  }
  const auto writes = m.tick(kMorning + 60 * kSecond, 100'000);
  EXPECT_LE(writes.size(), m.periodic_entities() + 50);
}

TEST(RateLimiter, GivesTheRateOverTimeWithoutBursts) {
  RateLimiter r(1000);
  std::size_t total = 0;
  for (int k = 0; k < 10'000 / 7; ++k) total += r.take(7'000);
  EXPECT_NEAR(static_cast<double>(total), 1000.0 * (10'000 / 7) * 0.007, 1.0);
  RateLimiter slow(0.5);
  total = 0;
  for (int k = 0; k < 100; ++k) total += slow.take(100'000);
  EXPECT_EQ(total, 5u);
  RateLimiter stalled(100);
  EXPECT_EQ(stalled.take(10 * kSecond), 100u) << "a stall yields at most one second of writes";
}

TEST(Settings, ValidatesEveryMember) {
  auto ok = parse_settings(*json::parse(R"({"scenario":"typhoon","rate":2000,"seed":9,"running":true})"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->scenario, Scenario::kTyphoon);
  EXPECT_EQ(ok->rate, 2000);
  EXPECT_EQ(ok->seed, 9u);
  for (const char* bad : {R"({"scenario":"flood"})", R"({"rate":0})", R"({"rate":-5})",
                          R"({"rate":"fast"})", R"({"rate":1e9})", R"({"seed":-1})",
                          R"({"running":"yes"})", R"({"colour":"red"})", "[1]"}) {
    auto r = parse_settings(*json::parse(bad));
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().kind, base::ErrorKind::kBadRequestData);
    }
  }
}

TEST(Simulator, ReadsTheCityFromTheHubAndWritesThroughIt) {
  const auto dir = fs::temp_directory_path() / "cityroom-sim-hub-test";
  fs::remove_all(dir);
  auto store = store::open_sqlite({.data_dir = dir});
  ASSERT_TRUE(store) << store.error().detail;
  auto contexts = open_contexts();
  hub::Hub hub(**store);
  auto put = [&](const char* ctx_url, const char* body) {
    auto ctx = ctx_url ? contexts->resolve_url(ctx_url) : contexts->core();
    ASSERT_TRUE(ctx);
    auto e = model::parse_entity(json::parse(body)->as_object(), **ctx, {});
    ASSERT_TRUE(e) << e.error().detail;
    std::promise<base::Result<void>> done;
    hub.create("", std::move(*e), [&](base::Result<void> r) { done.set_value(r); });
    ASSERT_TRUE(done.get_future().get());
  };
  const char* transport =
      "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld";
  const char* poi =
      "https://raw.githubusercontent.com/smart-data-models/dataModel.PointOfInterest/master/context.jsonld";
  put(nullptr, R"({"id":"urn:ngsi-ld:AdministrativeArea:1100000101","type":"AdministrativeArea",
      "adminLevel":"dong","name":"가동","location":{"type":"Polygon","coordinates":
      [[[127.0,37.5],[127.01,37.5],[127.01,37.51],[127.0,37.51],[127.0,37.5]]]}})");
  put(transport, R"({"id":"urn:ngsi-ld:RoadSegment:ktdb:1","type":"RoadSegment","startNode":"a",
      "endNode":"b","speedHourly":{"type":"Property","value":[30,30,30,30,30,30,30,30,30,30,30,30,
      30,30,30,30,30,30,30,30,30,30,30,30]},"location":{"type":"LineString","coordinates":
      [[127.0,37.5],[127.01,37.5]]}})");
  put(poi, R"({"id":"urn:ngsi-ld:PointOfInterest:seoul-market:1","type":"PointOfInterest",
      "category":["traditionalMarket"],"name":"가시장","location":{"type":"Point",
      "coordinates":[127.005,37.505]}})");
  put(nullptr, R"js({"id":"urn:ngsi-ld:Bridge:its:1220029400","type":"Bridge","name":"삼성교",
      "roadName":"올림픽로","startNodeName":"강남구-송파구경계(8)","endNodeName":"강남소방서",
      "location":{"type":"LineString","coordinates":[[127.068576,37.510249],[127.067385,37.510045]]}})js");
  put(nullptr, R"js({"id":"urn:ngsi-ld:Bridge:its:1220029500","type":"Bridge","name":"삼성교",
      "roadName":"올림픽로","location":{"type":"LineString","coordinates":[[127.067385,37.510045],
      [127.068576,37.510249]]}})js");
  put(nullptr, R"js({"id":"urn:ngsi-ld:Bridge:its:1220035700","type":"Bridge","roadName":"논현로",
      "startNodeName":"압구정고가차도(남측)","endNodeName":"압구정고가차도(북측)","location":{"type":
      "LineString","coordinates":[[127.028407,37.525004],[127.026888,37.528724]]}})js");
  Simulator sim(hub, *contexts, {.tenant = "", .scenario = Scenario::kMarketFire, .seed = 1,
                                 .rate = 100, .clock = [] { return kMorning; }});
  std::map<std::string, std::size_t> records;
  sim.on_tick([&](const TickReport& r) {
    for (const auto& [feed, n] : r.records) records[std::string(feed)] += n;
  });
  std::size_t written = 0;
  for (int k = 0; k < 90; ++k) {
    auto n = sim.step(kMorning + k * kSecond, 100);
    ASSERT_TRUE(n) << n.error().detail;
    written += *n;
  }
  EXPECT_GT(written, 0u);
  EXPECT_GT(records["sim-traffic"], 0u);
  EXPECT_GT(records["sim-facility-sensors"], 0u);
  EXPECT_GT(records["sim-disaster-messages"], 0u);
  EXPECT_EQ(sim.status().updates_total, written);
  auto sensor = hub.get("", "urn:ngsi-ld:FacilitySensor:PointOfInterest:seoul-market:1");
  ASSERT_TRUE(sensor && *sensor);
  EXPECT_GT(num(**sensor, "temperature"), 60);
  EXPECT_EQ(str(**sensor, "refFacility"), "urn:ngsi-ld:PointOfInterest:seoul-market:1");
  auto road = hub.get("", "urn:ngsi-ld:RoadSegment:ktdb:1");
  ASSERT_TRUE(road && *road);
  EXPECT_GT(num(**road, "averageSpeed"), 0);
  EXPECT_TRUE(attr(**road, "speedHourly")) << "the imported attributes stay";
  // One gauge for the two links of 삼성교 (over the Tancheon), none at the overpass.
  EXPECT_GT(records["sim-water-levels"], 0u);
  auto gauge = hub.get("", "urn:ngsi-ld:FloodMonitoring:Bridge:its:1220029400");
  ASSERT_TRUE(gauge && *gauge);
  EXPECT_EQ(str(**gauge, "riverName"), "탄천");
  EXPECT_EQ(str(**gauge, "refFacility"), "urn:ngsi-ld:Bridge:its:1220029400");
  EXPECT_EQ(str(**gauge, "floodLevelStatus"), "normal");
  EXPECT_GT(num(**gauge, "currentLevel"), 0);
  EXPECT_FALSE(*hub.get("", "urn:ngsi-ld:FloodMonitoring:Bridge:its:1220029500"));
  EXPECT_FALSE(*hub.get("", "urn:ngsi-ld:FloodMonitoring:Bridge:its:1220035700"));
  (*store)->close();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cityroom::simulator
