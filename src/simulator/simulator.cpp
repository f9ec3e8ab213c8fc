// The simulator's runtime: the feed list, settings, the rate limiter and the tick thread that
// writes the model's output into the hub.
#include "simulator/simulator.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <map>

#include "simulator/model.h"

namespace cityroom::simulator {
namespace {

using base::ErrorKind;

constexpr auto kTickMax = std::chrono::milliseconds(100);
constexpr auto kTickMin = std::chrono::milliseconds(5);
constexpr double kRateWindowS = 5;  // achieved rate is measured over this window

const std::vector<FeedInfo>& feed_list() {
  static const std::vector<FeedInfo> list = {
      {"sim-traffic", "도로 소통 정보 (모의)", "Road traffic speeds (simulated)", {"RoadSegment"}, 60},
      {"sim-air-quality", "동별 대기질 (모의)", "Air quality per dong (simulated)", {"AirQualityObserved"}, 120},
      {"sim-weather", "동별 기상 관측 (모의)", "Weather per dong (simulated)", {"WeatherObserved"}, 60},
      {"sim-119-ambulances", "119 구급차 출동 (모의)", "119 ambulance dispatches (simulated)", {"Vehicle"}, 3},
      {"sim-road-works", "도로 공사·통제 (모의)", "Road works and closures (simulated)", {"RoadWork"}, 600},
      {"sim-facility-sensors", "교량·전통시장 IoT 센서 (모의)", "Bridge and market IoT sensors (simulated)", {"FacilitySensor"}, 10},
      {"sim-snow-removal", "제설 작업 현황 (모의)", "Snow removal progress (simulated)", {"RoadSegment"}, 60},
      {"sim-service-requests", "민원 접수 (모의)", "Citizen service requests (simulated)", {"ServiceRequest"}, 90},
      {"sim-disaster-messages", "재난 문자 (모의)", "Disaster messages (simulated)", {"DisasterMessage"}, 3600},
      {"sim-case-counts", "동별 사건 건수 (모의)", "Case counts per dong (simulated)", {"AdministrativeArea"}, 300},
      {"sim-water-levels", "하천 수위 (모의)", "River and stream levels (simulated)", {"FloodMonitoring"}, 30},
  };
  return list;
}

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Stamps the system attributes a parsed entity would carry (the hub keeps createdAt of
// existing instances); the model leaves them out because they are wall-clock times.
void stamp(model::Entity& e, const std::string& now) {
  e["createdAt"] = now;
  e["modifiedAt"] = now;
  for (auto& [k, v] : e) {
    if (!v.is_array() || model::is_reserved_member(k)) continue;
    for (auto& inst : v.as_array()) {
      if (!inst.is_object()) continue;
      inst.as_object()["createdAt"] = now;
      inst.as_object()["modifiedAt"] = now;
    }
  }
}

}  // namespace

std::string_view scenario_name(Scenario s) {
  switch (s) {
    case Scenario::kNormal: return "normal";
    case Scenario::kHeavySnow: return "heavy-snow";
    case Scenario::kTyphoon: return "typhoon";
    case Scenario::kMarketFire: return "market-fire";
  }
  return "normal";
}

std::optional<Scenario> parse_scenario(std::string_view name) {
  for (auto s : {Scenario::kNormal, Scenario::kHeavySnow, Scenario::kTyphoon,
                 Scenario::kMarketFire}) {
    if (scenario_name(s) == name) return s;
  }
  return std::nullopt;
}

std::string_view scenario_names() { return "normal|heavy-snow|typhoon|market-fire"; }

std::span<const FeedInfo> feeds() { return feed_list(); }

std::size_t RateLimiter::take(base::Micros elapsed_us) {
  credit_ += rate_ * static_cast<double>(std::max<base::Micros>(0, elapsed_us)) / 1e6;
  credit_ = std::min(credit_, std::max(rate_, 1.0));  // at most one second of backlog
  const double whole = std::floor(credit_);
  credit_ -= whole;
  return static_cast<std::size_t>(whole);
}

json::object to_json(const Status& s) {
  json::object o{{"running", s.running},
                 {"scenario", scenario_name(s.scenario)},
                 {"seed", s.seed},
                 {"rate", s.rate},
                 {"scenarios", json::array{"normal", "heavy-snow", "typhoon", "market-fire"}},
                 {"updatesTotal", s.updates_total},
                 {"failedTotal", s.failed_total},
                 {"updatesPerSecond", std::round(s.updates_per_second * 10) / 10},
                 {"entities", s.entities}};
  if (!s.error.empty()) o["error"] = s.error;
  return o;
}

std::string prometheus_text(const Status& s) {
  std::string out;
  out += "# HELP cityroom_simulator_running 1 while the demo simulator runs.\n";
  out += "# TYPE cityroom_simulator_running gauge\n";
  out += fmt::format("cityroom_simulator_running {}\n", s.running ? 1 : 0);
  out += "# HELP cityroom_simulator_updates_total Entity updates the simulator committed.\n";
  out += "# TYPE cityroom_simulator_updates_total counter\n";
  out += fmt::format("cityroom_simulator_updates_total {}\n", s.updates_total);
  out += "# HELP cityroom_simulator_failed_total Entity updates the hub refused.\n";
  out += "# TYPE cityroom_simulator_failed_total counter\n";
  out += fmt::format("cityroom_simulator_failed_total {}\n", s.failed_total);
  out += "# HELP cityroom_simulator_rate Configured simulator updates per second.\n";
  out += "# TYPE cityroom_simulator_rate gauge\n";
  out += fmt::format("cityroom_simulator_rate {}\n", s.rate);
  return out;
}

base::Result<Settings> parse_settings(const json::value& body) {
  if (!body.is_object()) {
    return base::fail(ErrorKind::kBadRequestData, "the body must be a JSON object");
  }
  Settings s;
  for (const auto& [k, v] : body.as_object()) {
    if (k == "running") {
      if (!v.is_bool()) return base::fail(ErrorKind::kBadRequestData, "running must be true or false");
      s.running = v.get_bool();
    } else if (k == "scenario") {
      auto sc = v.is_string() ? parse_scenario(v.get_string()) : std::nullopt;
      if (!sc) {
        return base::fail(ErrorKind::kBadRequestData,
                          fmt::format("scenario must be one of {}", scenario_names()));
      }
      s.scenario = sc;
    } else if (k == "seed") {
      if (v.is_uint64()) {
        s.seed = v.get_uint64();
      } else if (v.is_int64() && v.get_int64() >= 0) {
        s.seed = static_cast<std::uint64_t>(v.get_int64());
      } else {
        return base::fail(ErrorKind::kBadRequestData, "seed must be a non-negative integer");
      }
    } else if (k == "rate") {
      double r = -1;
      if (v.is_double()) r = v.get_double();
      if (v.is_int64()) r = static_cast<double>(v.get_int64());
      if (v.is_uint64()) r = static_cast<double>(v.get_uint64());
      if (!(r > 0 && r <= kRateMax)) {
        return base::fail(ErrorKind::kBadRequestData,
                          fmt::format("rate must be a number of updates per second in (0, {}]",
                                      kRateMax));
      }
      s.rate = r;
    } else if (k == "updatesTotal" || k == "failedTotal" || k == "updatesPerSecond" ||
               k == "entities" || k == "scenarios" || k == "error") {
      continue;  // read-only members of a GET body sent back: ignored
    } else {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("unknown member '{}'; expected running, scenario, seed, rate",
                                    std::string_view(k)));
    }
  }
  return s;
}

// ---- Simulator ------------------------------------------------------------------------------

Simulator::Simulator(hub::Hub& hub, ldcontext::ContextStore& contexts, Options options)
    : hub_(hub), contexts_(contexts), options_(std::move(options)) {
  if (!options_.clock) options_.clock = [] { return base::now_micros(); };
}

Simulator::~Simulator() { stop(); }

void Simulator::on_tick(TickHook hook) {
  std::lock_guard lock(mu_);
  hook_ = std::move(hook);
}

base::Result<void> Simulator::ensure_model() {
  if (model_) return {};
  if (!city_) {
    auto names = Names::open(contexts_);
    if (!names) return std::unexpected(names.error());
    auto city = load_city(hub_, *names, options_.tenant);
    if (!city) return std::unexpected(city.error());
    spdlog::info("simulator: {} with {} dongs, {} road links, {} facilities, {} emergency rooms, "
                 "{} river gauges",
                 city->name, city->dongs.size(), city->roads.size(), city->facilities.size(),
                 city->hospitals.size(), city->gauges.size());
    city_ = std::make_shared<const City>(std::move(*city));
  }
  auto names = Names::open(contexts_);
  if (!names) return std::unexpected(names.error());
  model_ = std::make_unique<Model>(city_, std::move(*names), options_.seed, options_.scenario,
                                   options_.clock());
  return {};
}

base::Result<void> Simulator::start() {
  std::unique_lock lock(mu_);
  if (running_) return {};
  if (auto ok = ensure_model(); !ok) {
    error_ = ok.error().detail;
    return ok;
  }
  error_.clear();
  if (thread_.joinable()) {
    lock.unlock();
    thread_.join();
    lock.lock();
  }
  running_ = true;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
  return {};
}

void Simulator::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    running_ = false;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status Simulator::status() const {
  std::lock_guard lock(mu_);
  Status s;
  s.running = running_;
  s.scenario = options_.scenario;
  s.seed = options_.seed;
  s.rate = options_.rate;
  s.updates_total = updates_total_.load();
  s.failed_total = failed_total_.load();
  s.entities = model_ ? model_->periodic_entities() : 0;
  s.error = error_;
  if (samples_.size() >= 2) {
    const auto& [t0, n0] = samples_.front();
    const auto& [t1, n1] = samples_.back();
    if (t1 > t0) s.updates_per_second = static_cast<double>(n1 - n0) / (t1 - t0);
  }
  return s;
}

base::Result<Status> Simulator::apply(const Settings& s) {
  bool start_now = false, stop_now = false;
  {
    std::lock_guard lock(mu_);
    if (s.rate) options_.rate = *s.rate;
    if (s.seed && *s.seed != options_.seed) {
      options_.seed = *s.seed;
      model_.reset();  // a new seed is a new world (same city, same scenario)
    }
    if (s.scenario) {
      options_.scenario = *s.scenario;
      if (model_) model_->set_scenario(*s.scenario);
    }
    if (s.running) {
      start_now = *s.running && !running_;
      stop_now = !*s.running && running_;
    }
  }
  if (stop_now) stop();
  if (start_now) {
    if (auto ok = start(); !ok) return std::unexpected(ok.error());
  }
  wake_.notify_all();
  return status();
}

base::Result<std::size_t> Simulator::step(base::Micros sim_time, std::size_t budget) {
  std::vector<Write> writes;
  {
    std::lock_guard lock(mu_);
    if (auto ok = ensure_model(); !ok) return std::unexpected(ok.error());
    writes = model_->tick(sim_time, std::min(budget, hub::kBatchEntitiesMax));
  }
  if (writes.empty()) return 0;
  auto feed_of = std::make_shared<std::vector<std::string_view>>();
  std::vector<hub::BatchItem> items;
  items.reserve(writes.size());
  const auto now = base::format_iso8601(base::now_micros());
  for (auto& w : writes) {
    stamp(w.entity, now);
    feed_of->push_back(w.feed);
    std::string id(w.entity.at("id").get_string());
    items.push_back({std::move(id), std::move(w.entity)});
  }
  const std::size_t n = items.size();
  std::promise<void> committed;
  auto done = committed.get_future();
  TickHook hook;
  {
    std::lock_guard lock(mu_);
    hook = hook_;
  }
  ++writes_in_flight_;
  hub_.batch(options_.tenant, hub::BatchKind::kUpsertUpdate, std::move(items),
             [this, feed_of, sim_time, hook, &committed](base::Result<hub::BatchOutcome> r) {
               TickReport report;
               report.sim_time = sim_time;
               std::map<std::string_view, std::size_t> counts;
               if (r) {
                 for (const auto& f : *feed_of) ++counts[f];
                 report.failed = r->errors.size();
                 for (const auto& e : r->errors) {
                   spdlog::warn("simulator: {} refused: {}", e.id, e.error.detail);
                 }
               } else {
                 report.failed = feed_of->size();
                 spdlog::warn("simulator: batch refused: {}", r.error().detail);
               }
               // Refusals are rare (logged); they are not attributed to a feed.
               report.records.assign(counts.begin(), counts.end());
               updates_total_ += feed_of->size() - std::min(feed_of->size(), report.failed);
               failed_total_ += report.failed;
               if (hook) hook(report);
               --writes_in_flight_;
               committed.set_value();
             });
  done.wait();  // one tick in flight: a slow writer slows the simulator, never queues up
  return n;
}

void Simulator::run() {
  RateLimiter limiter(0);
  base::Micros last = options_.clock();
  for (;;) {
    std::chrono::microseconds interval;
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;
      limiter.set_rate(options_.rate);
      // Ticks often enough that one tick never needs to write an entity twice.
      const double entities = model_ ? static_cast<double>(std::max<std::size_t>(
                                           model_->periodic_entities(), 1))
                                     : 1;
      const double seconds = std::clamp(0.5 * entities / options_.rate, 0.005, 0.1);
      interval = std::chrono::microseconds(static_cast<long>(seconds * 1e6));
      interval = std::clamp<std::chrono::microseconds>(interval, kTickMin, kTickMax);
      wake_.wait_for(lock, interval, [this] { return stopping_; });
      if (stopping_) return;
    }
    const base::Micros now = options_.clock();
    const auto budget = limiter.take(now - last);
    last = now;
    auto wrote = step(now, budget);
    if (!wrote) {
      spdlog::warn("simulator: tick failed: {}", wrote.error().detail);
      continue;
    }
    std::lock_guard lock(mu_);
    const double t = steady_seconds();
    samples_.emplace_back(t, updates_total_.load());
    std::erase_if(samples_, [t](const auto& p) { return p.first < t - kRateWindowS; });
  }
}

}  // namespace cityroom::simulator
