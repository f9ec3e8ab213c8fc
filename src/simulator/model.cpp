// The simulated world: scenario intensities, traffic, weather, air, sensors, ambulances, road
// works, snow removal, requests, case counts — and the entity writes that report them.
#include "simulator/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace cityroom::simulator {
namespace {

using C = Names::Ctx;

constexpr double kPi = std::numbers::pi;
constexpr double kSecondsPerDay = 86'400;
constexpr double kSeoulOffsetS = 9 * 3600;  // Asia/Seoul has no daylight saving time

// Refresh periods (simulated seconds) of one entity's periodic observation.
constexpr double kRoadPeriod = 60, kAirPeriod = 120, kWeatherPeriod = 60, kSensorPeriod = 10,
                 kFireSensorPeriod = 2, kMovingPeriod = 3, kIdlePeriod = 60, kCasesPeriod = 300;
// Time constants (s) of the scenario intensities.
constexpr double kSnowTau = 60, kStormTau = 30, kFireRiseTau = 45, kFireFallTau = 40;
// Rates (per simulated second) of random happenings in normal weather.
constexpr double kIncidentRate = 1.0 / 600, kCallRate = 1.0 / 240, kRequestRate = 1.0 / 90;
constexpr double kAmbulanceKmh = 50;
constexpr double kFireTempRise = 120;  // °C above the market's normal at full fire
constexpr double kFireSmoke = 25;      // %/m at full fire
constexpr double kTiltSpikeFrom = 90, kTiltSpikeTo = 210;  // s after the typhoon switch
// River gauges: a level every 30 s; the water follows the storm's rain with a lag and drains
// more slowly than it rose.
constexpr double kGaugePeriod = 30;
constexpr double kFloodRiseTau = 45, kFloodFallTau = 90;
// Level bands (m above the gauge's zero). Demo values of the shape of Seoul's: a stream's
// normal water well under a metre, alert and danger a few metres up its banks; the Han a few
// metres normally, alert 8.5 m and danger 10.5 m (its flood advisory and warning stages at the
// Hangang Bridge). Not the official stages of these gauges.
struct LevelBand {
  double normal_lo, normal_hi, swing, alert, danger;
};
constexpr LevelBand kStreamBand{0.4, 0.9, 0.08, 3.0, 4.0};
constexpr LevelBand kHanBand{2.4, 3.4, 0.3, 8.5, 10.5};

// Rounds to a decimal step (0.1, 0.01, ...): dividing by the inverse keeps the nearest double
// (95.6, not 95.60000000000001).
double round_to(double x, double step) {
  const double inverse = std::round(1 / step);
  return std::round(x * inverse) / inverse;
}

// "서울특별시 강남구 논현1동" → "논현1동".
std::string_view short_name(std::string_view name) {
  const auto space = name.rfind(' ');
  return space == std::string_view::npos ? name : name.substr(space + 1);
}

struct ServiceKind {
  std::string_view code, name, description;
};
constexpr ServiceKind kNormalRequests[] = {
    {"illegal-parking", "불법 주정차", "불법 주정차 차량 단속 요청"},
    {"pothole", "도로 파손", "도로에 포트홀이 생겼어요"},
    {"streetlight", "가로등 고장", "가로등이 꺼져 있어요"},
    {"illegal-dumping", "쓰레기 무단투기", "쓰레기 무단투기 신고"},
    {"noise", "생활 소음", "공사장 소음 민원"},
};
constexpr ServiceKind kSnowRequests[] = {
    {"snow-removal", "제설 요청", "이면도로 제설 요청"},
    {"icy-road", "빙판길", "보도 빙판길에 염화칼슘 살포 요청"},
};
constexpr ServiceKind kTyphoonRequests[] = {
    {"fallen-tree", "가로수 쓰러짐", "강풍으로 가로수가 쓰러졌어요"},
    {"flooding", "침수", "도로가 침수되었어요"},
    {"signboard", "간판 낙하 위험", "간판이 흔들려 떨어질 것 같아요"},
};
constexpr ServiceKind kSmokeRequest{"smoke", "연기 신고", "시장 쪽에서 검은 연기가 나요"};

std::string_view snow_name(int s) {
  static constexpr std::string_view names[] = {"none", "scheduled", "inProgress", "done"};
  return names[s];
}

// The last segment of an id (an admin code of an AdministrativeArea id).
std::string_view last_segment(std::string_view id) {
  const auto colon = id.rfind(':');
  return colon == std::string_view::npos ? id : id.substr(colon + 1);
}

std::string_view without_urn(std::string_view id) {
  constexpr std::string_view prefix = "urn:ngsi-ld:";
  return id.starts_with(prefix) ? id.substr(prefix.size()) : id;
}

int grade_pm10(double v) { return v <= 30 ? 1 : v <= 80 ? 2 : v <= 150 ? 3 : 4; }
int grade_pm25(double v) { return v <= 15 ? 1 : v <= 35 ? 2 : v <= 75 ? 3 : 4; }

LonLat midpoint(const std::vector<LonLat>& line) { return line[line.size() / 2]; }

json::value jv(std::string_view s) { return boost::json::string(boost::json::string_view(s.data(), s.size())); }

}  // namespace

// ---- Rng ------------------------------------------------------------------------------------

Rng::Rng(std::uint64_t seed) {
  std::uint64_t x = seed;
  for (auto& s : s_) {
    x += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    s = z ^ (z >> 31);
  }
}

std::uint64_t Rng::next() {
  auto rotl = [](std::uint64_t v, int k) { return (v << k) | (v >> (64 - k)); };
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
double Rng::normal() {
  const double u1 = 1 - uniform();  // (0, 1]
  const double u2 = uniform();
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * kPi * u2);
}
std::size_t Rng::index(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
bool Rng::chance(double p) { return uniform() < p; }

std::string_view dispatch_name(Dispatch d) {
  switch (d) {
    case Dispatch::kAvailable: return "available";
    case Dispatch::kOrdered: return "ordered";
    case Dispatch::kEnRoute: return "enRoute";
    case Dispatch::kOnScene: return "onScene";
    case Dispatch::kTransporting: return "transporting";
    case Dispatch::kAtHospital: return "atHospital";
    case Dispatch::kReturning: return "returning";
  }
  return "available";
}

// ---- Model ----------------------------------------------------------------------------------

Model::Model(std::shared_ptr<const City> city, Names names, std::uint64_t seed,
             Scenario scenario, base::Micros start)
    : city_(std::move(city)), names_(std::move(names)), rng_(seed), start_(start),
      pending_scenario_(scenario), run_tag_(fmt::format("{:x}", start / 1'000'000)) {
  const City& c = *city_;
  for (std::size_t d = 0; d < c.dongs.size(); ++d) dong_offset_.push_back(rng_.uniform(-1, 1));
  for (std::size_t f = 0; f < c.facilities.size(); ++f) facility_base_.push_back(rng_.uniform());
  for (std::size_t g = 0; g < c.gauges.size(); ++g) {
    gauge_base_.push_back(rng_.uniform());
    gauge_phase_.push_back(rng_.uniform(0, 2 * kPi));
  }
  roads_.resize(c.roads.size());
  cases_.assign(c.dongs.size(), 0);
  snow_order_.resize(c.roads.size());
  for (std::size_t i = 0; i < snow_order_.size(); ++i) snow_order_[i] = i;
  // Snow ploughs clear the big roads first.
  std::ranges::stable_sort(snow_order_, {}, [&](std::size_t i) { return c.roads[i].rank; });

  auto add_slot = [&](SlotKind kind, std::size_t index) {
    slots_.push_back({kind, index, start_, false});
    queue_.insert({start_, slots_.size() - 1});
    return slots_.size() - 1;
  };

  // 119 ambulances: two per emergency room, 4 to 12, stationed across the dongs.
  if (!c.dongs.empty() || !c.nodes.empty()) {
    const std::size_t n = std::clamp<std::size_t>(2 * c.hospitals.size(), 4, 12);
    for (std::size_t i = 0; i < n; ++i) {
      Ambulance a;
      a.id = fmt::format("urn:ngsi-ld:Vehicle:119:ambulance-{:02}", i + 1);
      a.name = fmt::format("{} 119 구급차 {}", c.name, i + 1);
      a.home = !c.dongs.empty() ? c.dongs[i * c.dongs.size() / n].centre
                                : c.nodes[i * c.nodes.size() / n];
      if (auto node = c.nearest_node(a.home)) a.home = c.nodes[*node];
      a.at = a.home;
      ambulances_.push_back(std::move(a));
      ambulances_.back().slot = add_slot(SlotKind::kVehicle, ambulances_.size() - 1);
    }
  }
  // At start every entity is due; the few that screens watch most come first, the many road
  // links last (at a low rate their first round takes a while).
  for (std::size_t f = 0; f < c.facilities.size(); ++f) add_slot(SlotKind::kSensor, f);
  for (std::size_t g = 0; g < c.gauges.size(); ++g) add_slot(SlotKind::kGauge, g);
  for (std::size_t d = 0; d < c.dongs.size(); ++d) add_slot(SlotKind::kWeather, d);
  for (std::size_t d = 0; d < c.dongs.size(); ++d) add_slot(SlotKind::kAir, d);
  for (std::size_t d = 0; d < c.dongs.size(); ++d) add_slot(SlotKind::kCases, d);
  for (std::size_t i = 0; i < c.roads.size(); ++i) add_slot(SlotKind::kRoad, i);
  // A few road works under way from the start.
  if (!c.roads.empty()) {
    const std::size_t works = std::max<std::size_t>(1, c.roads.size() / 150);
    for (std::size_t i = 0; i < works; ++i) new_work(0, false, rng_.index(c.roads.size()));
  }
}

double Model::local_hour(double s) const {
  const double t = static_cast<double>(micros(s)) / 1e6 + kSeoulOffsetS;
  return std::fmod(std::fmod(t, kSecondsPerDay) + kSecondsPerDay, kSecondsPerDay) / 3600;
}

std::vector<Model::AmbulanceView> Model::ambulances() const {
  std::vector<AmbulanceView> out;
  for (const auto& a : ambulances_) out.push_back({a.id, a.status, a.at});
  return out;
}

std::vector<Write> Model::tick(base::Micros now_us, std::size_t budget) {
  const double now = secs(now_us);
  const double dt = first_tick_ ? 0 : std::max(0.0, now - last_);
  first_tick_ = false;
  last_ = std::max(last_, now);
  if (pending_scenario_ != scenario_) switch_scenario(pending_scenario_, now);
  advance(now, dt);

  std::vector<Write> out;
  out.reserve(std::min(budget, events_.size() + slots_.size()));
  while (out.size() < budget && !events_.empty()) {
    out.push_back(std::move(events_.front()));
    events_.pop_front();
  }
  // The most overdue observations; each entity at most once per tick.
  std::vector<std::size_t> taken;
  for (auto it = queue_.begin(); out.size() + taken.size() < budget && it != queue_.end();) {
    taken.push_back(it->second);
    it = queue_.erase(it);
  }
  for (const auto s : taken) out.push_back(slot_write(slots_[s], now));
  return out;
}

void Model::reschedule(std::size_t slot, double at) {
  auto& s = slots_[slot];
  queue_.erase({s.due, slot});
  s.due = micros(at);
  queue_.insert({s.due, slot});
}

void Model::switch_scenario(Scenario to, double now) {
  const City& c = *city_;
  // Leaving: undo what the old scenario put in place.
  if (scenario_ == Scenario::kTyphoon) {
    for (auto& w : works_) {
      if (w.closure && w.status != "finished") {
        w.status = "finished";
        w.end = now;
        roads_[w.road].closed = false;
        events_.push_back(work_write(w, now));
      }
    }
  }
  if (scenario_ == Scenario::kHeavySnow) {
    for (auto& r : roads_) r.snow = Snow::kNone;  // written back with the next traffic update
  }
  const bool was_normal = scenario_ == Scenario::kNormal;
  scenario_ = to;
  scenario_since_ = now;
  switch (to) {
    case Scenario::kNormal:
      if (!was_normal) {
        disaster_message("해제", fmt::format("[{}] 기상특보 및 재난 상황이 해제되었습니다. "
                                            "시설물 안전에 계속 유의하시기 바랍니다.", c.name),
                         now);
      }
      break;
    case Scenario::kHeavySnow:
      for (auto& r : roads_) r.snow = Snow::kScheduled;
      snow_next_ = 0;
      disaster_message("대설", fmt::format("[{}] 대설경보 발효. 내 집 앞 눈 치우기에 동참해 "
                                          "주시고 빙판길 보행과 운전에 주의하시기 바랍니다.",
                                          c.name),
                       now);
      break;
    case Scenario::kTyphoon: {
      std::vector<std::size_t> bridges;
      for (std::size_t f = 0; f < c.facilities.size(); ++f) {
        if (c.facilities[f].kind == Facility::Kind::kBridge) bridges.push_back(f);
      }
      has_tilt_bridge_ = !bridges.empty();
      if (has_tilt_bridge_) tilt_bridge_ = bridges[rng_.index(bridges.size())];
      // The gauge that goes past danger: a stream's (they rise fastest), the Han's if none.
      if (!c.gauges.empty()) {
        std::vector<std::size_t> streams;
        for (std::size_t g = 0; g < c.gauges.size(); ++g) {
          if (!c.gauges[g].big_river) streams.push_back(g);
        }
        has_danger_gauge_ = true;
        danger_gauge_ = streams.empty() ? rng_.index(c.gauges.size())
                                        : streams[rng_.index(streams.size())];
      }
      if (!c.roads.empty()) {
        const std::size_t closures = std::max<std::size_t>(2, c.roads.size() / 40);
        for (std::size_t i = 0; i < closures; ++i) new_work(now, true, rng_.index(c.roads.size()));
      }
      disaster_message("태풍", fmt::format("[행정안전부] 태풍경보 발효. {} 지역에 강풍과 호우가 "
                                          "예상되니 외출을 자제하고 저지대·지하공간 접근을 "
                                          "삼가시기 바랍니다.", c.name),
                       now);
      break;
    }
    case Scenario::kMarketFire: {
      std::vector<std::size_t> markets;
      for (std::size_t f = 0; f < c.facilities.size(); ++f) {
        if (c.facilities[f].kind == Facility::Kind::kMarket) markets.push_back(f);
      }
      has_fire_market_ = !markets.empty();
      if (!has_fire_market_) break;
      fire_market_ = markets[rng_.index(markets.size())];
      fire_calls_at_ = now + 20;
      const auto& m = c.facilities[fire_market_];
      const std::string dong =
          c.dongs.empty() ? std::string() : fmt::format("{} ", short_name(c.dongs[m.dong].name));
      disaster_message("화재", fmt::format("[{}] {}{} 화재 발생. 인근 주민은 연기 흡입에 "
                                          "주의하시고 차량은 우회하시기 바랍니다.",
                                          c.name, dong, m.name),
                       now);
      break;
    }
  }
}

void Model::advance(double now, double dt) {
  const City& c = *city_;
  auto relax = [dt](double& x, double target, double tau) {
    x += (target - x) * (1 - std::exp(-dt / tau));
  };
  relax(snow_, scenario_ == Scenario::kHeavySnow ? 1 : 0, kSnowTau);
  relax(storm_, scenario_ == Scenario::kTyphoon ? 1 : 0, kStormTau);
  const bool burning = scenario_ == Scenario::kMarketFire && has_fire_market_;
  relax(fire_, burning ? 1 : 0, burning ? kFireRiseTau : kFireFallTau);
  relax(flood_, storm_, storm_ > flood_ ? kFloodRiseTau : kFloodFallTau);
  if (snow_ > 0.3) {
    snow_height_ = std::min(40.0, snow_height_ + dt / 60 * 0.5 * snow_);  // demo pace: 0.5 cm/min
  } else {
    snow_height_ = std::max(0.0, snow_height_ - dt / 60 * 0.1);
  }

  // Case counts are per local day.
  const int day = static_cast<int>(std::floor((static_cast<double>(micros(now)) / 1e6 +
                                               kSeoulOffsetS) / kSecondsPerDay));
  if (day != cases_day_) {
    const double so_far = local_hour(now) / 24;
    for (auto& n : cases_) n = cases_day_ < 0 ? std::floor(rng_.uniform(5, 25) * so_far) : 0;
    cases_day_ = day;
  }

  const double window = std::min(dt, 60.0);  // a long pause does not unleash a storm of events
  auto happens = [&](double rate) { return window > 0 && rng_.chance(1 - std::exp(-rate * window)); };
  if (!c.roads.empty() && happens(kIncidentRate * (1 + 2 * snow_ + storm_))) {
    const auto r = rng_.index(c.roads.size());
    roads_[r].incident_until = now + rng_.uniform(600, 1800);
    if (rng_.chance(0.4)) new_call(midpoint(c.roads[r].line), now);
  }
  if ((!c.roads.empty() || !c.dongs.empty()) && happens(kCallRate * (1 + snow_ + storm_))) {
    const LonLat at = !c.roads.empty() ? midpoint(c.roads[rng_.index(c.roads.size())].line)
                                       : c.dongs[rng_.index(c.dongs.size())].centre;
    new_call(at, now);
  }
  if (fire_calls_at_ >= 0 && now >= fire_calls_at_) {
    for (int i = 0; i < 3; ++i) new_call(c.facilities[fire_market_].at, now);
    fire_calls_at_ = -1;
  }
  dispatch_calls(now);
  for (auto& a : ambulances_) move_ambulance(a, now, dt);

  // Road works: planned → active → finished, then another one elsewhere.
  for (std::size_t i = 0; i < works_.size(); ++i) {
    auto& w = works_[i];
    if (w.status == "planned" && now >= w.start) {
      w.status = "active";
      events_.push_back(work_write(w, now));
    } else if (w.status == "active" && !w.closure && now >= w.end) {
      w.status = "finished";
      events_.push_back(work_write(w, now));
      new_work(now, false, rng_.index(c.roads.size()));
    }
  }
  std::erase_if(works_, [](const Work& w) { return w.status == "finished"; });
  for (auto& r : roads_) r.work_factor = 1;
  for (const auto& w : works_) {
    if (w.status == "active" && !w.closure) roads_[w.road].work_factor = 0.6;
  }

  if (!c.dongs.empty() && happens(kRequestRate * (1 + 2 * snow_ + 2 * storm_ + fire_))) {
    new_request(now);
  }
  for (const auto& r : requests_) {
    if (r.close_at > now) continue;
    auto e = entity(r.id, C::kCore, "ServiceRequest");
    prop(e, C::kCore, "status", "closed", now);
    events_.push_back({feed::kServiceRequests, std::move(e)});
  }
  std::erase_if(requests_, [now](const Request& r) { return r.close_at <= now; });

  // Snow removal: crews take the links in order, each for a few minutes.
  if (scenario_ == Scenario::kHeavySnow) {
    const std::size_t crews = std::max<std::size_t>(2, c.roads.size() / 100);
    std::size_t busy = 0;
    for (std::size_t i = 0; i < roads_.size(); ++i) {
      auto& r = roads_[i];
      if (r.snow != Snow::kInProgress) continue;
      if (now >= r.snow_until) {
        r.snow = Snow::kDone;
        auto e = entity(c.roads[i].id, C::kTransportation, "RoadSegment");
        prop(e, C::kTransportation, "snowRemovalStatus", "done", now);
        r.snow_written = Snow::kDone;
        events_.push_back({feed::kSnowRemoval, std::move(e)});
      } else {
        ++busy;
      }
    }
    while (busy < crews && snow_next_ < snow_order_.size()) {
      const auto i = snow_order_[snow_next_++];
      auto& r = roads_[i];
      r.snow = Snow::kInProgress;
      r.snow_until = now + rng_.uniform(60, 180);
      auto e = entity(c.roads[i].id, C::kTransportation, "RoadSegment");
      prop(e, C::kTransportation, "snowRemovalStatus", "inProgress", now);
      r.snow_written = Snow::kInProgress;
      events_.push_back({feed::kSnowRemoval, std::move(e)});
      ++busy;
    }
  }
  // The burning market's sensor reports every couple of seconds.
  if (has_fire_market_ && fire_ > 0.01) {
    for (std::size_t s = 0; s < slots_.size(); ++s) {
      if (slots_[s].kind == SlotKind::kSensor && slots_[s].index == fire_market_ &&
          slots_[s].due > micros(now + kFireSensorPeriod)) {
        reschedule(s, now);
      }
    }
  }
}

void Model::new_call(LonLat at, double now) {
  const std::size_t dong = city_->nearest_dong(at);
  calls_.push_back({at, dong, fmt::format("urn:ngsi-ld:Incident:119:sim-{}-{}", run_tag_, ++seq_)});
  if (dong < cases_.size()) cases_[dong] += 1;
  (void)now;
}

void Model::dispatch_calls(double now) {
  while (!calls_.empty()) {
    Ambulance* best = nullptr;
    double best_d = 0;
    for (auto& a : ambulances_) {
      if (a.status != Dispatch::kAvailable) continue;
      const double d = distance_m(a.at, calls_.front().at);
      if (!best || d < best_d) {
        best = &a;
        best_d = d;
      }
    }
    if (!best) return;  // every unit is out: the call waits
    best->scene = calls_.front().at;
    best->incident = calls_.front().incident;
    best->has_hospital = false;
    calls_.pop_front();
    best->until = now + rng_.uniform(20, 60);
    set_status(*best, Dispatch::kOrdered, now);
  }
}

void Model::start_route(Ambulance& a, LonLat to) {
  a.path = city_->route(a.at, to);
  a.cum.assign(a.path.size(), 0);
  for (std::size_t i = 1; i < a.path.size(); ++i) {
    a.cum[i] = a.cum[i - 1] + distance_m(a.path[i - 1], a.path[i]);
  }
  a.travelled = 0;
}

void Model::set_status(Ambulance& a, Dispatch s, double now) {
  a.status = s;
  const bool moving = s == Dispatch::kEnRoute || s == Dispatch::kTransporting ||
                      s == Dispatch::kReturning;
  a.speed_kmh = moving ? kAmbulanceKmh * (1 - 0.4 * snow_) * (1 - 0.25 * storm_) : 0;
  auto& slot = slots_[a.slot];
  events_.push_back(vehicle_write(a, now, !slot.announced));
  slot.announced = true;
  reschedule(a.slot, now + (moving ? kMovingPeriod : kIdlePeriod));
}

void Model::move_ambulance(Ambulance& a, double now, double dt) {
  const City& c = *city_;
  switch (a.status) {
    case Dispatch::kAvailable: return;
    case Dispatch::kOrdered:
      if (now >= a.until) {
        start_route(a, a.scene);
        set_status(a, Dispatch::kEnRoute, now);
      }
      return;
    case Dispatch::kOnScene:
      if (now < a.until) return;
      if (c.hospitals.empty()) {
        start_route(a, a.home);
        set_status(a, Dispatch::kReturning, now);
        return;
      }
      a.hospital = 0;
      for (std::size_t h = 1; h < c.hospitals.size(); ++h) {
        if (distance_m(a.at, c.hospitals[h].at) < distance_m(a.at, c.hospitals[a.hospital].at)) {
          a.hospital = h;
        }
      }
      a.has_hospital = true;
      start_route(a, c.hospitals[a.hospital].at);
      set_status(a, Dispatch::kTransporting, now);
      return;
    case Dispatch::kAtHospital:
      if (now < a.until) return;
      start_route(a, a.home);
      set_status(a, Dispatch::kReturning, now);
      return;
    case Dispatch::kEnRoute:
    case Dispatch::kTransporting:
    case Dispatch::kReturning: break;
  }
  a.travelled += a.speed_kmh / 3.6 * dt;
  if (a.path.empty() || a.travelled >= a.cum.back()) {
    if (!a.path.empty()) a.at = a.path.back();
    if (a.status == Dispatch::kEnRoute) {
      a.until = now + rng_.uniform(120, 300);
      set_status(a, Dispatch::kOnScene, now);
    } else if (a.status == Dispatch::kTransporting) {
      a.until = now + rng_.uniform(120, 300);
      set_status(a, Dispatch::kAtHospital, now);
    } else {
      set_status(a, Dispatch::kAvailable, now);
    }
    return;
  }
  const auto next = std::ranges::upper_bound(a.cum, a.travelled) - a.cum.begin();
  const auto i = static_cast<std::size_t>(std::max<std::ptrdiff_t>(1, next));
  const double seg = a.cum[i] - a.cum[i - 1];
  const double f = seg > 0 ? (a.travelled - a.cum[i - 1]) / seg : 1;
  a.at = {a.path[i - 1].lon + (a.path[i].lon - a.path[i - 1].lon) * f,
          a.path[i - 1].lat + (a.path[i].lat - a.path[i - 1].lat) * f};
  if (seg > 0) a.heading = round_to(bearing_deg(a.path[i - 1], a.path[i]), 1);
}

void Model::new_work(double now, bool closure, std::size_t road) {
  const City& c = *city_;
  Work w;
  w.id = fmt::format("urn:ngsi-ld:RoadWork:sim-{}-{}", run_tag_, ++seq_);
  w.road = road;
  w.closure = closure;
  if (closure) {
    w.start = now;
    w.end = now + 6 * 3600;
    w.delay_min = 30;
    w.status = "active";
    w.description = fmt::format("태풍 호우로 인한 도로 침수 통제 ({})", c.roads[road].name);
    roads_[road].closed = true;
  } else {
    const bool active = now == 0 && rng_.chance(0.5);
    w.start = active ? now - rng_.uniform(0, 600) : now + rng_.uniform(300, 1200);
    w.end = w.start + rng_.uniform(1200, 3600);
    w.delay_min = static_cast<int>(rng_.uniform(5, 25));
    w.status = active ? "active" : "planned";
    static constexpr std::string_view kinds[] = {"상수도 관로 공사", "도로 포장 보수",
                                                 "보도 정비 공사", "통신 맨홀 공사"};
    w.description = fmt::format("{} ({})", kinds[rng_.index(4)], c.roads[road].name);
  }
  works_.push_back(w);
  events_.push_back(work_write(w, now));
}

void Model::new_request(double now) {
  const City& c = *city_;
  const bool smoke = has_fire_market_ && fire_ > 0.3 && rng_.chance(0.5);
  const ServiceKind* kind = nullptr;
  if (smoke) {
    kind = &kSmokeRequest;
  } else if (scenario_ == Scenario::kHeavySnow && rng_.chance(0.7)) {
    kind = &kSnowRequests[rng_.index(std::size(kSnowRequests))];
  } else if (scenario_ == Scenario::kTyphoon && rng_.chance(0.7)) {
    kind = &kTyphoonRequests[rng_.index(std::size(kTyphoonRequests))];
  } else {
    kind = &kNormalRequests[rng_.index(std::size(kNormalRequests))];
  }
  LonLat at = smoke ? c.facilities[fire_market_].at : c.dongs[rng_.index(c.dongs.size())].centre;
  at.lon += rng_.uniform(-0.003, 0.003);
  at.lat += rng_.uniform(-0.003, 0.003);
  const std::size_t dong = c.nearest_dong(at);
  cases_[dong] += 1;
  Request r{fmt::format("urn:ngsi-ld:ServiceRequest:sim-{}-{}", run_tag_, ++seq_),
            now + rng_.uniform(600, 2400)};
  auto e = entity(r.id, C::kCore, "ServiceRequest");
  prop(e, C::kCore, "serviceCode", jv(kind->code), now);
  prop(e, C::kCore, "serviceName", jv(kind->name), now);
  prop(e, C::kCore, "description", jv(kind->description), now);
  prop(e, C::kCore, "status", "open", now);
  prop(e, C::kCore, "requestedAt", jv(base::format_iso8601(micros(now))), now);
  rel(e, C::kCore, "refArea", c.dongs[dong].id);
  point(e, at);
  scope(e, c.dongs[dong].scope);
  events_.push_back({feed::kServiceRequests, std::move(e)});
  requests_.push_back(std::move(r));
}

void Model::disaster_message(std::string category, std::string text, double now) {
  auto e = entity(fmt::format("urn:ngsi-ld:DisasterMessage:simulator:{}-{}", run_tag_, ++seq_), C::kCore,
                  "DisasterMessage");
  prop(e, C::kCore, "message", jv(std::move(text)), now);
  prop(e, C::kCore, "category", jv(std::move(category)), now);
  prop(e, C::kCore, "issuedAt", jv(base::format_iso8601(micros(now))), now);
  prop(e, C::kCore, "areaName", jv(city_->name), now);
  if (!city_->dongs.empty()) scope(e, city_->dongs.front().scope);
  events_.push_back({feed::kDisasterMessages, std::move(e)});
}

// ---- writes ---------------------------------------------------------------------------------

model::Entity Model::entity(std::string id, Names::Ctx ctx, std::string_view type) {
  model::Entity e;
  e["id"] = std::move(id);
  e["type"] = json::array{json::value(names_.get(ctx, type))};
  return e;
}

void Model::prop(model::Entity& e, Names::Ctx ctx, std::string_view term, json::value v,
                 double now, std::string_view unit) {
  json::object inst{{"type", "Property"}, {"value", std::move(v)}};
  if (now >= 0) inst["observedAt"] = base::format_iso8601(micros(now));
  if (!unit.empty()) inst["unitCode"] = unit;
  e[names_.get(ctx, term)] = json::array{std::move(inst)};
}

void Model::rel(model::Entity& e, Names::Ctx ctx, std::string_view term, std::string_view object) {
  e[names_.get(ctx, term)] =
      json::array{json::object{{"type", "Relationship"}, {"object", object}}};
}

void Model::point(model::Entity& e, LonLat at) {
  e[names_.get(C::kCore, "location")] = json::array{json::object{
      {"type", "GeoProperty"},
      {"value", json::object{{"type", "Point"},
                             {"coordinates", json::array{round_to(at.lon, 1e-6),
                                                         round_to(at.lat, 1e-6)}}}}}};
}

void Model::scope(model::Entity& e, const std::vector<std::string>& s) {
  if (s.empty()) return;
  json::array a;
  for (const auto& x : s) a.emplace_back(x);
  e["scope"] = std::move(a);
}

Write Model::slot_write(Slot& s, double now) {
  const bool first = !s.announced;
  s.announced = true;
  double period = kIdlePeriod;
  Write w;
  switch (s.kind) {
    case SlotKind::kRoad: w = road_write(s.index, now); period = kRoadPeriod; break;
    case SlotKind::kAir: w = air_write(s.index, now, first); period = kAirPeriod; break;
    case SlotKind::kWeather: w = weather_write(s.index, now, first); period = kWeatherPeriod; break;
    case SlotKind::kSensor:
      w = sensor_write(s.index, now, first);
      period = has_fire_market_ && s.index == fire_market_ && fire_ > 0.01 ? kFireSensorPeriod
                                                                           : kSensorPeriod;
      break;
    case SlotKind::kVehicle: {
      const auto& a = ambulances_[s.index];
      w = vehicle_write(a, now, first);
      period = a.speed_kmh > 0 ? kMovingPeriod : kIdlePeriod;
      break;
    }
    case SlotKind::kCases: w = cases_write(s.index, now); period = kCasesPeriod; break;
    case SlotKind::kGauge: w = gauge_write(s.index, now, first); period = kGaugePeriod; break;
  }
  s.due = micros(now + period);
  queue_.insert({s.due, static_cast<std::size_t>(&s - slots_.data())});
  return w;
}

Write Model::road_write(std::size_t i, double now) {
  const Road& road = city_->roads[i];
  auto& st = roads_[i];
  const double h = local_hour(now);
  const auto h0 = static_cast<std::size_t>(h) % 24;
  const double f = h - std::floor(h);
  double speed = road.speed_hourly[h0] * (1 - f) + road.speed_hourly[(h0 + 1) % 24] * f;
  const double plough = st.snow == Snow::kDone ? 0.4 : 1;
  speed *= (1 - 0.5 * snow_ * plough) * (1 - 0.3 * storm_) * st.work_factor;
  if (st.incident_until > now) speed *= 0.35;
  speed *= 1 + 0.06 * rng_.normal();
  speed = st.closed ? 0 : std::max(3.0, round_to(speed, 0.1));
  const double ratio = road.free_speed > 0 ? speed / road.free_speed : 1;
  const char* level = ratio >= 0.7 ? "free" : ratio >= 0.5 ? "slow" : ratio >= 0.3 ? "congested"
                                                                                  : "jammed";
  auto e = entity(road.id, C::kTransportation, "RoadSegment");
  prop(e, C::kTransportation, "averageSpeed", speed, now, "KMH");
  prop(e, C::kTransportation, "congestionLevel", level, now);
  if (st.snow != Snow::kNone || st.snow_written != Snow::kNone) {
    prop(e, C::kTransportation, "snowRemovalStatus", jv(snow_name(static_cast<int>(st.snow))), now);
    st.snow_written = st.snow;
  }
  return {feed::kTraffic, std::move(e)};
}

Write Model::weather_write(std::size_t d, double now, bool first) {
  const Dong& dong = city_->dongs[d];
  auto e = entity(fmt::format("urn:ngsi-ld:WeatherObserved:{}", last_segment(dong.id)),
                  C::kWeather, "WeatherObserved");
  if (first) {
    prop(e, C::kWeather, "name", jv(fmt::format("{} 기상 관측 (모의)", short_name(dong.name))), -1);
    rel(e, C::kWeather, "refArea", dong.id);
    point(e, dong.centre);
    scope(e, dong.scope);
  }
  const double h = local_hour(now);
  const double temp = 8 + 5 * std::sin(2 * kPi * (h - 9) / 24) - 9 * snow_ - 3 * storm_ +
                      0.7 * dong_offset_[d] + 0.2 * rng_.normal();
  const double humidity = std::clamp(0.55 + 0.3 * snow_ + 0.4 * storm_ + 0.03 * rng_.normal(),
                                     0.1, 1.0);
  const double precipitation = snow_ * rng_.uniform(2.5, 4) + storm_ * rng_.uniform(42, 55);
  const double wind = rng_.uniform(1, 3.5) + storm_ * rng_.uniform(23, 30) + 2 * snow_;
  prop(e, C::kWeather, "temperature", round_to(temp, 0.1), now, "CEL");
  prop(e, C::kWeather, "relativeHumidity", round_to(humidity, 0.01), now);
  prop(e, C::kWeather, "precipitation", round_to(precipitation, 0.1), now, "MMT");
  prop(e, C::kWeather, "windSpeed", round_to(wind, 0.1), now, "MTS");
  prop(e, C::kWeather, "snowHeight", round_to(snow_height_, 0.1), now, "CMT");
  return {feed::kWeather, std::move(e)};
}

Write Model::air_write(std::size_t d, double now, bool first) {
  const City& c = *city_;
  const Dong& dong = c.dongs[d];
  auto e = entity(fmt::format("urn:ngsi-ld:AirQualityObserved:{}", last_segment(dong.id)),
                  C::kEnvironment, "AirQualityObserved");
  if (first) {
    prop(e, C::kEnvironment, "name", jv(fmt::format("{} 대기질 (모의)", short_name(dong.name))), -1);
    rel(e, C::kEnvironment, "refArea", dong.id);
    point(e, dong.centre);
    scope(e, dong.scope);
  }
  const double h = local_hour(now);
  const double rush = std::exp(-std::pow((h - 8.5) / 1.5, 2)) + std::exp(-std::pow((h - 18.5) / 1.5, 2));
  double pm10 = (38 + 12 * rush + 6 * dong_offset_[d] + 4 * rng_.normal()) * (1 - 0.7 * storm_) *
                (1 - 0.3 * snow_);
  if (has_fire_market_ && c.facilities[fire_market_].dong == d) pm10 += 160 * fire_;
  pm10 = std::max(3.0, pm10);
  const double pm25 = std::max(2.0, pm10 * rng_.uniform(0.5, 0.6));
  const double o3 = std::max(0.003, 0.018 + 0.02 * std::max(0.0, std::sin(2 * kPi * (h - 9) / 24)) +
                                        0.002 * rng_.normal());
  const double no2 = std::max(0.005, 0.02 + 0.015 * rush + 0.002 * rng_.normal());
  prop(e, C::kEnvironment, "pm10", static_cast<std::int64_t>(std::round(pm10)), now, "GQ");
  prop(e, C::kEnvironment, "pm25", static_cast<std::int64_t>(std::round(pm25)), now, "GQ");
  prop(e, C::kEnvironment, "o3", round_to(o3, 0.001), now, "59");
  prop(e, C::kEnvironment, "no2", round_to(no2, 0.001), now, "59");
  prop(e, C::kEnvironment, "pm10Grade", grade_pm10(std::round(pm10)), now);
  prop(e, C::kEnvironment, "pm25Grade", grade_pm25(std::round(pm25)), now);
  return {feed::kAir, std::move(e)};
}

Write Model::sensor_write(std::size_t f, double now, bool first) {
  const Facility& fac = city_->facilities[f];
  const bool bridge = fac.kind == Facility::Kind::kBridge;
  auto e = entity(fmt::format("urn:ngsi-ld:FacilitySensor:{}", without_urn(fac.id)), C::kCore,
                  "FacilitySensor");
  if (first) {
    prop(e, C::kCore, "name",
         jv(fmt::format("{} {} (모의)", fac.name, bridge ? "구조 안전 센서" : "화재 감지 센서")), -1);
    rel(e, C::kCore, "refFacility", fac.id);
    prop(e, C::kCore, "facilityKind", bridge ? "bridge" : "market", -1);
    point(e, fac.at);
    scope(e, fac.scope);
  }
  const double base = facility_base_[f];
  const double h = local_hour(now);
  if (bridge) {
    const double since = now - scenario_since_;
    const bool spike = scenario_ == Scenario::kTyphoon && has_tilt_bridge_ && f == tilt_bridge_ &&
                       since >= kTiltSpikeFrom && since <= kTiltSpikeTo;
    const double tilt = spike ? rng_.uniform(0.55, 0.6)
                              : 0.04 + 0.11 * base + 0.08 * storm_ + 0.005 * rng_.normal();
    const double crack = 0.05 + 0.2 * base + (spike ? 0.05 : 0) + 0.003 * rng_.normal();
    const double traffic = 0.7 + 0.3 * std::sin(2 * kPi * (h - 6) / 24);
    const double vibration = (0.3 + 0.9 * base) * traffic + 3 * storm_ + 0.05 * std::abs(rng_.normal());
    prop(e, C::kCore, "tilt", round_to(std::max(0.0, tilt), 0.001), now, "DD");
    prop(e, C::kCore, "crackWidth", round_to(std::max(0.0, crack), 0.001), now, "MMT");
    prop(e, C::kCore, "vibration", round_to(vibration, 0.01), now, "C16");
  } else {
    const bool burning = has_fire_market_ && f == fire_market_;
    const double temp = 16 + 4 * base + 2 * std::sin(2 * kPi * (h - 9) / 24) +
                        0.2 * rng_.normal() + (burning ? kFireTempRise * fire_ : 0);
    const double smoke = 0.05 + 0.2 * base + 0.02 * std::abs(rng_.normal()) +
                         (burning ? kFireSmoke * fire_ : 0);
    prop(e, C::kCore, "temperature", round_to(temp, 0.1), now, "CEL");
    prop(e, C::kCore, "smokeDensity", round_to(smoke, 0.01), now, "P1");
  }
  return {feed::kFacilitySensors, std::move(e)};
}

Write Model::vehicle_write(const Ambulance& a, double now, bool first) {
  auto e = entity(a.id, C::kTransportation, "Vehicle");
  if (first) {
    prop(e, C::kTransportation, "name", jv(a.name), -1);
    prop(e, C::kTransportation, "vehicleType", "ambulance", -1);
    if (!city_->dongs.empty()) scope(e, city_->dongs.front().scope);
  }
  prop(e, C::kTransportation, "dispatchStatus", jv(dispatch_name(a.status)), now);
  point(e, a.at);
  prop(e, C::kTransportation, "speed", round_to(a.speed_kmh, 0.1), now, "KMH");
  prop(e, C::kTransportation, "heading", a.heading, now, "DD");
  if (!a.incident.empty()) rel(e, C::kTransportation, "refIncident", a.incident);
  if (a.has_hospital) rel(e, C::kTransportation, "refHospital", city_->hospitals[a.hospital].id);
  return {feed::kAmbulances, std::move(e)};
}

Write Model::cases_write(std::size_t d, double now) {
  auto e = entity(city_->dongs[d].id, C::kCore, "AdministrativeArea");
  prop(e, C::kCore, "caseCount", static_cast<std::int64_t>(cases_[d]), now);
  return {feed::kCaseCounts, std::move(e)};
}

Model::GaugeLevels Model::gauge_levels(std::size_t g, double now) const {
  const LevelBand& b = city_->gauges[g].big_river ? kHanBand : kStreamBand;
  // A slow swing over half a day around the gauge's own place in the normal band.
  const double normal = b.normal_lo + (b.normal_hi - b.normal_lo) * gauge_base_[g] +
                        b.swing * std::sin(2 * kPi * local_hour(now) / 12 + gauge_phase_[g]);
  // In full flood every gauge stands past its alert level, the chosen one past danger.
  const bool worst = has_danger_gauge_ && g == danger_gauge_;
  const double peak = worst ? b.danger + 0.25 * (b.danger - b.alert)
                            : b.alert + 0.6 * (b.danger - b.alert);
  return {normal + std::max(0.0, peak - normal) * flood_, b.alert, b.danger};
}

Write Model::gauge_write(std::size_t g, double now, bool first) {
  const Gauge& gauge = city_->gauges[g];
  auto e = entity(gauge.id, C::kEnvironment, "FloodMonitoring");
  const auto lv = gauge_levels(g, now);
  if (first) {
    prop(e, C::kEnvironment, "name",
         jv(fmt::format("{} 수위 관측 ({}, 모의)", gauge.name, gauge.river)), -1);
    prop(e, C::kEnvironment, "riverName", jv(gauge.river), -1);
    rel(e, C::kEnvironment, "refFacility", gauge.bridge);
    prop(e, C::kEnvironment, "alertLevel", lv.alert, -1, "MTR");
    prop(e, C::kEnvironment, "dangerLevel", lv.danger, -1, "MTR");
    point(e, gauge.at);
    scope(e, gauge.scope);
  }
  const double level = std::max(0.0, round_to(lv.level + 0.01 * rng_.normal(), 0.01));
  prop(e, C::kEnvironment, "currentLevel", level, now, "MTR");
  prop(e, C::kEnvironment, "floodLevelStatus",
       level >= lv.danger ? "danger" : level >= lv.alert ? "alert" : "normal", now);
  return {feed::kWaterLevels, std::move(e)};
}

Write Model::work_write(const Work& w, double now) {
  const Road& road = city_->roads[w.road];
  auto e = entity(w.id, C::kCore, "RoadWork");
  prop(e, C::kCore, "name", w.closure ? "도로 통제" : "도로 공사", -1);
  rel(e, C::kCore, "refRoadSegment", road.id);
  prop(e, C::kCore, "description", jv(w.description), -1);
  prop(e, C::kCore, "startDate", jv(base::format_iso8601(micros(w.start))), -1);
  prop(e, C::kCore, "endDate", jv(base::format_iso8601(micros(w.end))), -1);
  prop(e, C::kCore, "expectedDelay", w.delay_min, now, "MIN");
  prop(e, C::kCore, "status", jv(w.status), now);
  point(e, midpoint(road.line));
  scope(e, road.scope);
  return {feed::kRoadWorks, std::move(e)};
}

}  // namespace cityroom::simulator
