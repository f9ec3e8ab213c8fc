// simulator: the demo city's live feeds (docs/SIMULATOR.md).
//
// Reads the imported city from the hub (dongs, road links with their real hourly speeds,
// bridges, markets, emergency rooms) and then, tick by tick, writes what a city's sensors and
// control rooms would report — traffic, air, weather, 119 ambulances, road works, structural
// and fire sensors, snow removal, citizen requests, case counts — through the hub like any
// connector: one batch upsert (update mode) per tick.
//
// Split in three so each part can be tested alone:
//   - `Model` (model.h): the world and its scenarios; a pure function of (city, seed, the
//     sequence of simulated times it is ticked at, scenario switches) → writes. No clock, no
//     threads, no hub.
//   - `RateLimiter` (below): how many writes a tick may make at a given rate.
//   - `Simulator` (here): loads the city, owns a Model, runs the tick thread against an
//     injectable clock, writes batches into the hub, reports record counts per feed.
// Thread-safety: every public member of Simulator may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/base.h"
#include "hub/hub.h"
#include "json/json.h"
#include "ldcontext/ldcontext.h"

namespace cityroom::simulator {

inline constexpr double kRateMax = 100'000;   // updates per second accepted
inline constexpr double kRateDefault = 50;
inline constexpr std::uint64_t kSeedDefault = 42;

enum class Scenario { kNormal, kHeavySnow, kTyphoon, kMarketFire };
std::string_view scenario_name(Scenario s);
std::optional<Scenario> parse_scenario(std::string_view name);
// "normal|heavy-snow|typhoon|market-fire", for error messages and --help.
std::string_view scenario_names();

// One simulated feed, as the dataset catalog lists it (kind "simulator", freshness
// "simulated"). `id` is the catalog's dataset id.
struct FeedInfo {
  std::string_view id;
  std::string_view name_ko;
  std::string_view name_en;
  std::vector<std::string_view> entity_types;
  int period_seconds;  // the nominal refresh period of one entity of the feed at 1× time
};
// Every feed the simulator writes; stable ids.
std::span<const FeedInfo> feeds();

// After every committed tick: how many records each feed wrote (only feeds with writes).
struct TickReport {
  base::Micros sim_time = 0;  // the simulated time of the tick
  std::vector<std::pair<std::string_view, std::size_t>> records;  // feed id → entities written
  std::size_t failed = 0;     // entities the hub refused (logged)
};
// Called on the store's writer thread right after the commit: must be quick, must not block.
using TickHook = std::function<void(const TickReport&)>;

// Writes a tick may make: `rate` per second of simulated time, with the fraction carried to
// the next tick, and at most one second of backlog (a stalled writer does not cause a burst).
class RateLimiter {
 public:
  explicit RateLimiter(double rate) : rate_(rate) {}
  void set_rate(double rate) { rate_ = rate; }
  double rate() const { return rate_; }
  // The budget for a tick `elapsed_us` after the previous one.
  std::size_t take(base::Micros elapsed_us);

 private:
  double rate_;
  double credit_ = 0;
};

struct Options {
  std::string tenant;  // "" = the default tenant
  Scenario scenario = Scenario::kNormal;
  std::uint64_t seed = kSeedDefault;
  double rate = kRateDefault;  // updates per second
  // The simulated clock, read only by the tick thread (never by the model). Default: the wall
  // clock. Tests and benchmarks inject their own.
  std::function<base::Micros()> clock;
};

// What GET /cityroom/v1/admin/simulator answers.
struct Status {
  bool running = false;
  Scenario scenario = Scenario::kNormal;
  std::uint64_t seed = kSeedDefault;
  double rate = kRateDefault;
  std::uint64_t updates_total = 0;   // entities written since start
  std::uint64_t failed_total = 0;
  double updates_per_second = 0;     // achieved over the last few seconds
  std::size_t entities = 0;          // entities the simulator keeps alive
  std::string error;                 // why it is not running, when it failed to start
};
json::object to_json(const Status& s);
// Prometheus text for /metrics: cityroom_simulator_{running,updates_total,failed_total,rate}.
std::string prometheus_text(const Status& s);

// A PUT body, validated: the members given change, the others stay.
struct Settings {
  std::optional<bool> running;
  std::optional<Scenario> scenario;
  std::optional<std::uint64_t> seed;
  std::optional<double> rate;
};
// BadRequestData naming the member on a wrong value; unknown members are refused too.
base::Result<Settings> parse_settings(const json::value& body);

class Model;
struct City;

class Simulator {
 public:
  Simulator(hub::Hub& hub, ldcontext::ContextStore& contexts, Options options);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Set before start(); one hook (the catalog's).
  void on_tick(TickHook hook);

  // Loads the city from the hub and starts the tick thread. Idempotent.
  base::Result<void> start();
  void stop();
  Status status() const;
  // Applies a PUT: switches the scenario, reseeds (a new model, same scenario), changes the
  // rate, starts or stops. Returns the new status.
  base::Result<Status> apply(const Settings& s);

  // One tick, synchronously: advances the model to `sim_time`, writes at most `budget`
  // entities and waits for the commit. For tests and benchmarks (the thread does the same).
  base::Result<std::size_t> step(base::Micros sim_time, std::size_t budget);

 private:
  struct Runtime;
  void run();
  base::Result<void> ensure_model();  // under mu_

  hub::Hub& hub_;
  ldcontext::ContextStore& contexts_;
  Options options_;
  TickHook hook_;
  mutable std::mutex mu_;  // guards the model, options_, runtime state
  std::condition_variable wake_;
  std::shared_ptr<const City> city_;
  std::unique_ptr<Model> model_;
  std::thread thread_;
  bool running_ = false;
  bool stopping_ = false;
  std::string error_;
  std::atomic<std::uint64_t> updates_total_{0};
  std::atomic<std::uint64_t> failed_total_{0};
  std::atomic<std::uint64_t> writes_in_flight_{0};
  // (steady seconds, updates_total) samples for the achieved rate
  std::vector<std::pair<double, std::uint64_t>> samples_;
};

}  // namespace cityroom::simulator
