// Private to alarms/: what one change means for one rule and one entity — pure functions over
// the rule, the entity before/after and the per-(rule, entity) memory (`Track`), so recorded
// event sequences can be replayed in tests without a store or threads.
#pragma once

#include <deque>
#include <optional>
#include <utility>

#include "alarms/alarms.h"

namespace cityroom::alarms {

struct TrackState {
  std::deque<std::pair<base::Micros, double>> samples;  // rate: (time, value) in the window
  base::Micros last_seen = 0;                           // absence: last update (clock time)
  std::optional<bool> inside;                           // geofence: last known side
};

enum class Verdict { kNone, kRaise, kClear };

struct Outcome {
  Verdict verdict = Verdict::kNone;
  json::value value;  // the value that decided it (lastValue)
};

// The number of the attribute's default instance (or its first one); nullopt when absent or
// not a number.
std::optional<double> number_of(const model::Entity& e, std::string_view iri);

// One change to an entity the rule's scope matches. Every change of an entity that carries the
// rule's attribute counts as a message about it: two identical messages within one millisecond
// leave identical entities (timestamps are kept to the millisecond), so comparing `before` and
// `after` could not tell a burst of repeats from one message. `active`: the rule's alarm for this
// entity is raised or acknowledged. `at`: the change's time (observedAt of the value when it has
// one, else commit time) for rate windows; `now`: the engine clock, for absence.
Outcome evaluate_change(const Rule& rule, const model::Entity* before, const model::Entity& after,
                        bool active, base::Micros at, base::Micros now, TrackState& track);

// Absence at `now`: raise when silent for periods × period (and not yet active).
Outcome evaluate_silence(const Rule& rule, bool active, base::Micros now, const TrackState& track);

}  // namespace cityroom::alarms
