// Rule evaluation: threshold with hysteresis, rate of change, absence, geofence, all-of.
#include "alarms/evaluate.h"

#include <algorithm>

namespace cityroom::alarms {
namespace {

const json::object* default_instance(const model::Entity& e, std::string_view iri) {
  const auto* slot = e.if_contains(iri);
  if (!slot || !slot->is_array() || slot->get_array().empty()) return nullptr;
  const json::object* first = nullptr;
  for (const auto& inst : slot->get_array()) {
    if (!inst.is_object()) continue;
    if (!first) first = &inst.get_object();
    if (!inst.get_object().contains(model::key::kDatasetId)) return &inst.get_object();
  }
  return first;
}

base::Micros time_of(const model::Entity& e, std::string_view iri, base::Micros fallback) {
  const auto* inst = default_instance(e, iri);
  if (!inst) return fallback;
  if (auto s = json::get_string(*inst, model::key::kObservedAt)) {
    if (auto t = base::parse_iso8601(*s)) return *t;
  }
  return fallback;
}

Outcome threshold(const Rule& rule, const model::Entity& after, bool active) {
  bool any_written = false;
  bool all_raise = true;
  bool any_clear = false;
  json::value decided;
  for (const auto& t : rule.thresholds) {
    any_written = any_written || after.contains(t.iri);
    auto v = number_of(after, t.iri);
    if (!v) {
      all_raise = false;
      continue;
    }
    if (!t.raises(*v)) all_raise = false;
    if (t.clears(*v)) any_clear = true;
    if (decided.is_null() || (rule.thresholds.size() > 1 && !t.raises(*v))) decided = *v;
  }
  if (!any_written) return {};
  if (all_raise) return {Verdict::kRaise, decided};
  if (active && any_clear) return {Verdict::kClear, decided};
  return {};
}

Outcome rate(const Rule& rule, const model::Entity& after, bool active, base::Micros at,
             TrackState& track) {
  const Rate& r = rule.rate;
  auto v = number_of(after, r.iri);
  if (!v) return {};
  const base::Micros t = time_of(after, r.iri, at);
  auto& s = track.samples;
  while (!s.empty() && s.front().first < t - r.window_us) s.pop_front();
  if (s.size() >= kRateSamplesMax) s.pop_front();
  s.emplace_back(t, *v);
  double base = s.front().second;
  for (const auto& [_, x] : s) base = r.rise > 0 ? std::min(base, x) : std::max(base, x);
  const double change = *v - base;
  const bool raises = r.rise > 0 ? change >= r.rise : change <= r.rise;
  const bool clears = r.rise > 0 ? change < r.clear_rise : change > r.clear_rise;
  if (raises) return {Verdict::kRaise, change};
  if (active && clears) return {Verdict::kClear, change};
  return {};
}

Outcome geofence(const Rule& rule, const model::Entity& after, bool active, TrackState& track) {
  const Geofence& g = rule.geofence;
  if (!after.contains(g.iri)) return {};
  geo::GeoQuery within;
  within.relation = geo::Relation::kWithin;
  within.geometry = g.area;
  const bool inside = live::geo_matches(after, within, g.iri);
  const std::optional<bool> was = track.inside;
  track.inside = inside;
  const json::value value = inside ? "inside" : "outside";
  if (g.on_enter) {
    if (inside) return {Verdict::kRaise, value};
    return active ? Outcome{Verdict::kClear, value} : Outcome{};
  }
  // Leaving needs to have been inside first (an entity first seen outside never left).
  if (!inside && (active || was.value_or(false))) return {Verdict::kRaise, value};
  if (inside && active) return {Verdict::kClear, value};
  return {};
}

}  // namespace

std::optional<double> number_of(const model::Entity& e, std::string_view iri) {
  const auto* inst = default_instance(e, iri);
  if (!inst) return std::nullopt;
  const auto* v = inst->if_contains(model::key::kValue);
  if (!v) return std::nullopt;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return std::nullopt;
}

Outcome evaluate_change(const Rule& rule, const model::Entity* /*before*/,
                        const model::Entity& after, bool active, base::Micros at, base::Micros now,
                        TrackState& track) {
  switch (rule.kind) {
    case Rule::Kind::kThreshold:
    case Rule::Kind::kAllOf:
      return threshold(rule, after, active);
    case Rule::Kind::kRate:
      return rate(rule, after, active, at, track);
    case Rule::Kind::kGeofence:
      return geofence(rule, after, active, track);
    case Rule::Kind::kAbsence:
      track.last_seen = now;
      return active ? Outcome{Verdict::kClear, 0} : Outcome{};
  }
  return {};
}

Outcome evaluate_silence(const Rule& rule, bool active, base::Micros now, const TrackState& track) {
  if (rule.kind != Rule::Kind::kAbsence || active) return {};
  const base::Micros silent = now - track.last_seen;
  if (silent <= rule.absence.period_us * static_cast<base::Micros>(rule.absence.periods)) {
    return {};
  }
  return {Verdict::kRaise, static_cast<double>(silent / 1'000'000)};  // seconds silent
}

}  // namespace cityroom::alarms
