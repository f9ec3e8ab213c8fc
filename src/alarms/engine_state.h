// Private to alarms/: the engine's memory of alarms and of (rule, entity) pairs, shared by
// engine.cpp (evaluation, lifecycle) and catalog.cpp (loading, rules CRUD).
#pragma once

#include "alarms/alarms.h"
#include "alarms/evaluate.h"

namespace cityroom::alarms {

struct Engine::Alarm {
  std::string tenant, id, rule_id, originator;
  Severity severity = Severity::kMajor;
  std::string status = "raised";
  std::uint64_t count = 0;
  json::value last_value;
  base::Micros raised_at = 0, last_at = 0, acknowledged_at = 0, cleared_at = 0;
  std::string acknowledged_by, note, cleared_by;
  bool escalated = false;
  std::string name, description, category, sub_category, department;
  json::value location;  // GeoJSON geometry of the originator, null when unknown
  bool dirty = false;
  bool active() const { return status != "cleared"; }
};

struct Engine::Track {
  std::string tenant, rule_id, entity_id;
  json::value location;
  TrackState state;
};

// The rules of one (tenant, type). Single-threshold rules sit in per-attribute lists sorted by
// their raising limit, so a change finds the few that can raise with a scan that stops at the
// first limit its value does not reach: 1,000 rules that are not breached cost a few lookups,
// not 1,000 evaluations. Rules with an active alarm on the entity are added (they may clear);
// every other kind (rate, absence, geofence, all-of) is evaluated on every change.
struct Engine::TypeRules {
  struct Limits {
    std::vector<std::pair<double, std::shared_ptr<const Rule>>> upward;  // above/atLeast, ascending
    std::vector<std::pair<double, std::shared_ptr<const Rule>>>
        downward;  // below/atMost, descending
  };
  std::map<std::string, Limits, std::less<>> thresholds;  // attribute IRI →
  std::vector<std::shared_ptr<const Rule>> others;
  std::size_t size() const {
    std::size_t n = others.size();
    for (const auto& [_, l] : thresholds) n += l.upward.size() + l.downward.size();
    return n;
  }
};

struct Engine::Pass {
  std::vector<std::shared_ptr<Alarm>> dirty;
  std::vector<std::pair<Alarm, std::string>> events;  // a copy as of the event, and its kind
};

}  // namespace cityroom::alarms
