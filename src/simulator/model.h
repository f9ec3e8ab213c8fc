// simulator/model: the simulated world and its scenarios, as a deterministic step function.
//
// `tick(now, budget)` advances the world to simulated time `now` (scenario intensities, fire,
// snow, incidents, ambulances, road works, requests) and returns at most `budget` entity
// writes: first the event writes (state changes: a dispatch, a new request, a disaster
// message), then the periodic observations whose refresh is most overdue. With the same city,
// seed, tick times and scenario switches the writes are identical — the model reads no clock
// and draws every random number from its own seeded generator.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/model.h"
#include "simulator/city.h"
#include "simulator/simulator.h"

namespace cityroom::simulator {

// xoshiro256** seeded through splitmix64: the same numbers on every platform (the standard
// library's distributions are not specified exactly, so the model draws only from this).
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next();
  double uniform();                      // [0, 1)
  double uniform(double lo, double hi);  // [lo, hi)
  double normal();                       // mean 0, sd 1 (Box–Muller)
  std::size_t index(std::size_t n);      // [0, n); 0 when n == 0
  bool chance(double p);

 private:
  std::uint64_t s_[4];
};

// One entity write in the hub's internal form (expanded names), tagged with its feed.
struct Write {
  std::string_view feed;
  model::Entity entity;
};

// Feed ids (see feeds()).
namespace feed {
inline constexpr std::string_view kTraffic = "sim-traffic";
inline constexpr std::string_view kAir = "sim-air-quality";
inline constexpr std::string_view kWeather = "sim-weather";
inline constexpr std::string_view kAmbulances = "sim-119-ambulances";
inline constexpr std::string_view kRoadWorks = "sim-road-works";
inline constexpr std::string_view kFacilitySensors = "sim-facility-sensors";
inline constexpr std::string_view kSnowRemoval = "sim-snow-removal";
inline constexpr std::string_view kServiceRequests = "sim-service-requests";
inline constexpr std::string_view kDisasterMessages = "sim-disaster-messages";
inline constexpr std::string_view kCaseCounts = "sim-case-counts";
inline constexpr std::string_view kWaterLevels = "sim-water-levels";
}  // namespace feed

// The dispatch states in the order an ambulance goes through them.
enum class Dispatch { kAvailable, kOrdered, kEnRoute, kOnScene, kTransporting, kAtHospital,
                      kReturning };
std::string_view dispatch_name(Dispatch d);

class Model {
 public:
  Model(std::shared_ptr<const City> city, Names names, std::uint64_t seed, Scenario scenario,
        base::Micros start);

  // Takes effect at the next tick (whose time is the switch time).
  void set_scenario(Scenario s) { pending_scenario_ = s; }
  Scenario scenario() const { return pending_scenario_; }
  std::vector<Write> tick(base::Micros now, std::size_t budget);
  // Entities refreshed periodically (the size of one full refresh round).
  std::size_t periodic_entities() const { return slots_.size(); }

  // Read-only views for tests.
  struct AmbulanceView {
    std::string id;
    Dispatch status;
    LonLat at;
  };
  std::vector<AmbulanceView> ambulances() const;
  double fire_intensity() const { return fire_; }
  double storm_intensity() const { return storm_; }
  double snow_intensity() const { return snow_; }
  double snow_height_cm() const { return snow_height_; }
  double flood_intensity() const { return flood_; }
  // The gauge the typhoon takes past its danger level (an index into the city's gauges).
  std::optional<std::size_t> danger_gauge() const {
    return has_danger_gauge_ ? std::optional(danger_gauge_) : std::nullopt;
  }
  // A gauge's level (m) now, and its alert and danger levels: for tests.
  struct GaugeLevels {
    double level, alert, danger;
  };
  GaugeLevels gauge_levels(std::size_t g, double now_s) const;

 private:
  enum class SlotKind { kRoad, kAir, kWeather, kSensor, kVehicle, kCases, kGauge };
  struct Slot {
    SlotKind kind;
    std::size_t index;
    base::Micros due = 0;
    bool announced = false;  // static attributes written (the first write creates the entity)
  };
  enum class Snow { kNone, kScheduled, kInProgress, kDone };
  struct RoadState {
    double incident_until = 0;  // seconds of simulated time (model clock)
    bool closed = false;
    double work_factor = 1;
    Snow snow = Snow::kNone;
    Snow snow_written = Snow::kNone;
    double snow_until = 0;
  };
  struct Ambulance {
    std::string id, name;
    LonLat home, at;
    Dispatch status = Dispatch::kAvailable;
    double until = 0;
    std::vector<LonLat> path;
    std::vector<double> cum;  // metres along path
    double travelled = 0;
    double speed_kmh = 0, heading = 0;
    LonLat scene;
    std::string incident;
    std::size_t hospital = 0;
    bool has_hospital = false;
    std::size_t slot = 0;
  };
  struct Call {
    LonLat at;
    std::size_t dong;
    std::string incident;
  };
  struct Work {
    std::string id;
    std::size_t road;
    double start, end;
    int delay_min;
    std::string status;  // planned / active / finished
    std::string description;
    bool closure = false;
  };
  struct Request {
    std::string id;
    double close_at;
  };

  double secs(base::Micros t) const { return static_cast<double>(t - start_) / 1e6; }
  base::Micros micros(double s) const { return start_ + static_cast<base::Micros>(s * 1e6); }
  double local_hour(double s) const;

  void switch_scenario(Scenario to, double now);
  void advance(double now, double dt);
  void dispatch_calls(double now);
  void move_ambulance(Ambulance& a, double now, double dt);
  void set_status(Ambulance& a, Dispatch s, double now);
  void start_route(Ambulance& a, LonLat to);
  void new_call(LonLat at, double now);
  void new_request(double now);
  void new_work(double now, bool closure, std::size_t road);
  void disaster_message(std::string category, std::string text, double now);
  void reschedule(std::size_t slot, double at);

  Write road_write(std::size_t i, double now);
  Write air_write(std::size_t d, double now, bool first);
  Write weather_write(std::size_t d, double now, bool first);
  Write sensor_write(std::size_t f, double now, bool first);
  Write vehicle_write(const Ambulance& a, double now, bool first);
  Write cases_write(std::size_t d, double now);
  Write gauge_write(std::size_t g, double now, bool first);
  Write work_write(const Work& w, double now);
  Write slot_write(Slot& s, double now);

  // Building blocks of a write.
  model::Entity entity(std::string id, Names::Ctx ctx, std::string_view type);
  void prop(model::Entity& e, Names::Ctx ctx, std::string_view term, json::value v,
            double now, std::string_view unit = {});
  void rel(model::Entity& e, Names::Ctx ctx, std::string_view term, std::string_view object);
  void point(model::Entity& e, LonLat at);
  void scope(model::Entity& e, const std::vector<std::string>& s);

  std::shared_ptr<const City> city_;
  Names names_;
  Rng rng_;
  base::Micros start_;
  Scenario scenario_ = Scenario::kNormal;
  Scenario pending_scenario_;
  double scenario_since_ = 0;
  double last_ = 0;
  bool first_tick_ = true;

  // Scenario intensities 0..1 that relax toward their target (so switches ramp, not jump).
  double snow_ = 0, storm_ = 0, fire_ = 0;
  double snow_height_ = 0;  // cm
  std::size_t fire_market_ = 0;  // index into city facilities
  bool has_fire_market_ = false;
  double fire_calls_at_ = -1;
  std::size_t tilt_bridge_ = 0;
  bool has_tilt_bridge_ = false;
  // River levels follow the storm's rain with a lag (flood_ relaxes toward storm_).
  double flood_ = 0;
  std::size_t danger_gauge_ = 0;
  bool has_danger_gauge_ = false;

  std::vector<double> dong_offset_;     // per dong, -1..1
  std::vector<double> facility_base_;   // per facility, 0..1
  std::vector<double> gauge_base_;      // per gauge, 0..1: where in its normal band it sits
  std::vector<double> gauge_phase_;     // per gauge, radians: its slow daily swing
  std::vector<RoadState> roads_;
  std::vector<std::size_t> snow_order_;
  std::size_t snow_next_ = 0;
  std::vector<Ambulance> ambulances_;
  std::deque<Call> calls_;
  std::vector<Work> works_;
  std::vector<Request> requests_;
  std::vector<double> cases_;  // today's cases per dong
  int cases_day_ = -1;
  std::uint64_t seq_ = 0;      // ids of new incidents, requests, messages
  // The start time in hex seconds, in those ids: a restarted server does not overwrite the
  // previous run's requests and messages.
  std::string run_tag_;

  std::vector<Slot> slots_;
  std::set<std::pair<base::Micros, std::size_t>> queue_;  // (due, slot)
  std::deque<Write> events_;
};

}  // namespace cityroom::simulator
