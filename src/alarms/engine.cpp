// The alarms engine: feed reader, alarm lifecycle, Alert writes, escalation and absence ticks.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "alarms/alarms.h"
#include "alarms/engine_state.h"
#include "alarms/evaluate.h"

namespace cityroom::alarms {
namespace {

using base::ErrorKind;

std::string key2(std::string_view a, std::string_view b) {
  std::string k(a);
  k += '\n';
  k += b;
  return k;
}

Severity one_up(Severity s) {
  return s == Severity::kCritical ? s : static_cast<Severity>(static_cast<int>(s) + 1);
}

}  // namespace

Engine::Engine(hub::Hub& hub, live::Feed& feed, ldcontext::ContextStore& contexts,
               Notifier& notifier, const Clock& clock, Options options)
    : hub_(hub),
      feed_(feed),
      contexts_(contexts),
      notifier_(notifier),
      clock_(clock),
      options_(options) {
  auto ctx = contexts_.resolve_url(kAlertContextUrl);
  if (!ctx) spdlog::warn("alarms: the Alert context is not available; Alerts use the core context");
  alert_context_ = ctx ? *ctx : contexts_.core();
  cursor_ = feed_.last_seq();
}

Engine::~Engine() {
  stop();
}

void Engine::start() {
  cursor_ = feed_.last_seq();
  thread_ = std::thread([this] { run(); });
}

void Engine::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  std::vector<std::pair<std::uint64_t, std::function<void()>>> waiters;
  {
    std::lock_guard lock(mutex_);
    waiters.swap(waiters_);
  }
  for (auto& [_, fn] : waiters) fn();
}

void Engine::when_processed(std::uint64_t seq, std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    if (cursor_.load() < seq && !stopping_.load()) {
      waiters_.emplace_back(seq, std::move(fn));
      return;
    }
  }
  after_writes({std::move(fn)});
}

// The Alert writes of the evaluated changes were submitted before; an empty work item behind
// them on the (FIFO) writer runs its `done` once they are committed, so a waiter that reads
// the Alert entities next sees them.
void Engine::after_writes(std::vector<std::function<void()>> fns) {
  if (fns.empty()) return;
  auto shared = std::make_shared<std::vector<std::function<void()>>>(std::move(fns));
  hub_.store().write(
      [](store::Transaction&) -> base::Result<store::WorkOutput> { return store::WorkOutput{}; },
      [shared](base::Result<store::WorkOutput>) {
        for (auto& fn : *shared) fn();
      });
}

void Engine::run() {
  std::vector<live::Event> events;
  auto last_tick = std::chrono::steady_clock::now();
  while (!stopping_.load()) {
    bool idle = false;
    {
      std::lock_guard lock(mutex_);
      idle = rules_.empty();
    }
    if (idle) {
      // No rule: skip the changes without waking up for each (as subscriptions do).
      cursor_ = feed_.last_seq();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else {
      feed_.wait(cursor_.load(), std::min(options_.tick, std::chrono::milliseconds(100)));
      if (stopping_.load()) break;
      events.clear();
      const auto missed = feed_.read(cursor_.load(), options_.read_max, events);
      if (missed > 0) {
        missed_ += missed;
        spdlog::warn("alarms: {} changes were overwritten before they could be evaluated", missed);
      }
      if (!events.empty()) {
        process(events);
        cursor_ = events.back().seq;
      }
    }
    seed_pending();
    if (std::chrono::steady_clock::now() - last_tick >= options_.tick) {
      last_tick = std::chrono::steady_clock::now();
      tick();
    }
    std::vector<std::function<void()>> ready;
    {
      std::lock_guard lock(mutex_);
      const auto at = cursor_.load();
      auto split = std::stable_partition(waiters_.begin(), waiters_.end(),
                                         [at](const auto& w) { return w.first > at; });
      for (auto it = split; it != waiters_.end(); ++it) ready.push_back(std::move(it->second));
      waiters_.erase(split, waiters_.end());
    }
    after_writes(std::move(ready));
  }
}

void Engine::drain() {
  seed_pending();
  std::vector<live::Event> events;
  while (true) {
    events.clear();
    missed_ += feed_.read(cursor_.load(), options_.read_max, events);
    if (events.empty()) return;
    process(events);
    cursor_ = events.back().seq;
  }
}

void Engine::process(const std::vector<live::Event>& events) {
  Pass pass;
  std::lock_guard lock(mutex_);
  for (const auto& ev : events) evaluate(ev, pass);
  finish(pass);
}

static const json::value* location_of(const model::Entity& e) {
  const auto* loc = e.if_contains("https://uri.etsi.org/ngsi-ld/location");
  if (!loc || !loc->is_array() || loc->get_array().empty() || !loc->get_array()[0].is_object()) {
    return nullptr;
  }
  return loc->get_array()[0].get_object().if_contains(model::key::kValue);
}

static bool needs_track(const Rule& r) {
  return r.kind == Rule::Kind::kRate || r.kind == Rule::Kind::kGeofence ||
         r.kind == Rule::Kind::kAbsence;
}

void Engine::evaluate(const live::Event& ev, Pass& pass) {
  const hub::Change& c = ev.change;
  if (!c.after || c.id.starts_with(kAlertIdPrefix)) return;
  ++changes_;
  const model::Entity& after = *c.after;
  const base::Micros now = clock_.now();
  const json::value* location = location_of(after);
  const json::value no_location;
  const auto active_rules = active_by_entity_.find(key2(c.tenant, c.id));
  for (const auto& type : model::entity_types(after)) {
    auto it = by_type_.find(key2(c.tenant, type));
    if (it == by_type_.end()) continue;
    // The candidates: thresholds this value reaches, rules already alarmed on this entity (they
    // may clear), and every rule of another kind.
    candidates_.clear();
    for (const auto& [iri, limits] : it->second->thresholds) {
      const auto v = number_of(after, iri);
      if (!v) continue;
      for (const auto& [limit, rule] : limits.upward) {
        if (limit > *v) break;
        candidates_.push_back(rule.get());
      }
      for (const auto& [limit, rule] : limits.downward) {
        if (limit < *v) break;
        candidates_.push_back(rule.get());
      }
    }
    if (active_rules != active_by_entity_.end()) {
      for (const auto& rule_id : active_rules->second) {
        auto r = rules_.find(key2(c.tenant, rule_id));
        if (r != rules_.end() && r->second->kind == Rule::Kind::kThreshold &&
            std::find(r->second->types.begin(), r->second->types.end(), type) !=
                r->second->types.end()) {
          candidates_.push_back(r->second.get());
        }
      }
    }
    for (const auto& rule : it->second->others) candidates_.push_back(rule.get());
    std::sort(candidates_.begin(), candidates_.end());
    candidates_.erase(std::unique(candidates_.begin(), candidates_.end()), candidates_.end());
    for (const Rule* rule : candidates_) {
      if (!rule->enabled || !rule->selector->matches(after)) continue;
      TrackState scratch;
      TrackState* state = &scratch;
      if (needs_track(*rule)) {
        const std::string track_key = key2(key2(c.tenant, rule->id), c.id);
        auto& track = tracks_[track_key];
        if (!track) {
          if (tracks_.size() > kTrackedEntitiesMax) {
            tracks_.erase(track_key);
            continue;
          }
          track = std::make_shared<Track>();
          track->tenant = c.tenant;
          track->rule_id = rule->id;
          track->entity_id = c.id;
        }
        if (location) track->location = *location;
        state = &track->state;
      }
      auto a = alarms_.find(key2(c.tenant, fmt::format("{}{}:{}", kAlertIdPrefix, rule->id, c.id)));
      const bool active = a != alarms_.end() && a->second->active();
      auto out = evaluate_change(*rule, c.before.get(), after, active, ev.at, now, *state);
      if (out.verdict == Verdict::kNone) continue;
      apply(*rule, c.tenant, c.id, location ? *location : no_location,
            out.verdict == Verdict::kRaise, std::move(out.value), now, pass);
    }
  }
}

void Engine::set_active(const Alarm& a, bool active) {
  const std::string key = key2(a.tenant, a.originator);
  auto& rules = active_by_entity_[key];
  std::erase(rules, a.rule_id);
  if (active) rules.push_back(a.rule_id);
  if (rules.empty()) active_by_entity_.erase(key);
}

void Engine::apply(const Rule& rule, const std::string& tenant, const std::string& originator,
                   const json::value& location, bool raise, json::value value, base::Micros now,
                   Pass& pass) {
  const std::string id = fmt::format("{}{}:{}", kAlertIdPrefix, rule.id, originator);
  const std::string key = key2(tenant, id);
  auto it = alarms_.find(key);
  if (!raise) {
    if (it == alarms_.end() || !it->second->active()) return;
    Alarm& a = *it->second;
    a.status = "cleared";
    a.cleared_at = now;
    a.cleared_by = "rule";
    a.last_value = std::move(value);
    a.last_at = now;
    set_active(a, false);
    ++cleared_;
    if (!a.dirty) pass.dirty.push_back(it->second);
    a.dirty = true;
    pass.events.emplace_back(a, "cleared");
    return;
  }
  if (it != alarms_.end() && it->second->active()) {
    Alarm& a = *it->second;
    ++a.count;
    a.last_value = std::move(value);
    a.last_at = now;
    if (!location.is_null()) a.location = location;
    ++updated_;
    if (!a.dirty) pass.dirty.push_back(it->second);
    a.dirty = true;
    return;
  }
  if (it == alarms_.end()) {
    if (alarms_.size() >= kActiveAlarmsMax) {
      std::erase_if(alarms_, [](const auto& kv) { return !kv.second->active(); });
      if (alarms_.size() >= kActiveAlarmsMax) {
        spdlog::error("alarms: {} alarms active; rule {} cannot raise another", alarms_.size(),
                      rule.id);
        return;
      }
    }
    it = alarms_.emplace(key, std::make_shared<Alarm>()).first;
  }
  auto& a = *it->second;
  a = Alarm{};
  a.tenant = tenant;
  a.id = id;
  a.rule_id = rule.id;
  a.originator = originator;
  a.severity = rule.severity;
  a.count = 1;
  a.last_value = std::move(value);
  a.raised_at = a.last_at = now;
  a.name = rule.name;
  a.description = rule.description.empty() ? rule.name : rule.description;
  a.category = rule.category;
  a.sub_category = rule.sub_category;
  a.department = rule.department;
  a.location = location;
  a.dirty = true;
  set_active(a, true);
  ++raised_;
  pass.dirty.push_back(it->second);
  pass.events.emplace_back(a, "raised");
}

void Engine::tick() {
  Pass pass;
  std::lock_guard lock(mutex_);
  const base::Micros now = clock_.now();
  for (auto& [_, track] : tracks_) {
    auto r = rules_.find(key2(track->tenant, track->rule_id));
    if (r == rules_.end() || r->second->kind != Rule::Kind::kAbsence || !r->second->enabled) {
      continue;
    }
    auto a = alarms_.find(key2(
        track->tenant, fmt::format("{}{}:{}", kAlertIdPrefix, track->rule_id, track->entity_id)));
    const bool active = a != alarms_.end() && a->second->active();
    auto out = evaluate_silence(*r->second, active, now, track->state);
    if (out.verdict == Verdict::kRaise) {
      apply(*r->second, track->tenant, track->entity_id, track->location, true,
            std::move(out.value), now, pass);
    }
  }
  for (auto& [_, alarm] : alarms_) {
    Alarm& a = *alarm;
    if (a.status != "raised" || a.escalated) continue;
    auto r = rules_.find(key2(a.tenant, a.rule_id));
    if (r == rules_.end() || !r->second->escalate_after_us) continue;
    if (now - a.raised_at < *r->second->escalate_after_us) continue;
    a.escalated = true;
    a.severity =
        r->second->escalate_to ? std::max(*r->second->escalate_to, a.severity) : one_up(a.severity);
    ++escalated_;
    if (!a.dirty) pass.dirty.push_back(alarm);
    a.dirty = true;
    pass.events.emplace_back(a, "escalated");
  }
  finish(pass);
}

// Under mutex_: writes the changed alarms (one hub batch per tenant, submitted under the lock so
// writes to one alarm commit in the order they were decided) and sends the notifications.
void Engine::finish(Pass& pass) {
  if (!pass.dirty.empty()) {
    write_alarms(pass.dirty, {});
  }
  for (const auto& [alarm, kind] : pass.events) notify(alarm, kind);
}

void Engine::write_alarms(const std::vector<std::shared_ptr<Alarm>>& alarms,
                          std::function<void(base::Result<void>)> done) {
  std::map<std::string, std::vector<hub::BatchItem>> by_tenant;
  const base::Micros now = base::now_micros();
  for (const auto& a : alarms) {
    a->dirty = false;
    json::object e{
        {"id", a->id},
        {"type", "Alert"},
        {"category", a->category},
        {"subCategory", a->sub_category},
        {"severity", severity_name(a->severity)},
        {"description", a->description.empty() ? a->rule_id : a->description},
        {"alertSource", json::object{{"type", "Relationship"}, {"object", a->originator}}},
        {"dateIssued", base::format_iso8601(a->raised_at)},
        {"status", a->status},
        {"count", a->count},
        {"lastAt", base::format_iso8601(a->last_at)},
        {"refRule", a->rule_id},
        {"escalated", a->escalated},
        {"speak", a->severity == Severity::kCritical && a->active()}};
    if (!a->last_value.is_null()) {
      e["lastValue"] = json::object{{"type", "Property"}, {"value", a->last_value}};
    }
    if (!a->name.empty()) e["name"] = a->name;
    if (!a->department.empty()) e["department"] = a->department;
    if (!a->acknowledged_by.empty()) e["acknowledgedBy"] = a->acknowledged_by;
    if (!a->note.empty()) e["note"] = a->note;
    if (!a->location.is_null()) {
      e["location"] = json::object{{"type", "GeoProperty"}, {"value", a->location}};
    }
    auto parsed =
        model::parse_entity(e, *alert_context_, {.mode = model::ParseMode::kEntity, .now = now});
    if (!parsed) {
      spdlog::error("alarms: cannot build Alert {}: {}", a->id, parsed.error().detail);
      ++write_errors_;
      continue;
    }
    by_tenant[a->tenant].push_back({a->id, std::move(*parsed)});
  }
  auto remaining = std::make_shared<std::atomic<std::size_t>>(by_tenant.size());
  auto failure = std::make_shared<std::optional<base::Error>>();
  auto shared_done = std::make_shared<std::function<void(base::Result<void>)>>(std::move(done));
  if (by_tenant.empty() && *shared_done)
    (*shared_done)(base::fail(ErrorKind::kInternalError, "the Alert could not be built"));
  for (auto& [tenant, items] : by_tenant) {
    hub_.batch(tenant, hub::BatchKind::kUpsertReplace, std::move(items),
               [this, remaining, failure, shared_done](base::Result<hub::BatchOutcome> r) {
                 if (!r || !r->errors.empty()) {
                   ++write_errors_;
                   base::Error e = !r ? r.error() : r->errors.front().error;
                   spdlog::error("alarms: writing Alerts failed: {}", e.detail);
                   *failure = e;
                 }
                 if (--*remaining == 0 && *shared_done) {
                   (*shared_done)(*failure ? base::Result<void>(std::unexpected(**failure))
                                           : base::Result<void>());
                 }
               });
  }
}

void Engine::notify(const Alarm& a, std::string_view kind) {
  AlarmEvent ev;
  ev.kind = std::string(kind);
  ev.tenant = a.tenant;
  ev.severity = a.severity;
  ev.department = a.department;
  if (!a.location.is_null()) {
    if (auto g = geo::parse_geojson(a.location)) ev.location = *g;
  }
  ev.alarm = render(a);
  std::vector<Policy> policies;
  for (const auto& [k, p] : policies_) {
    if (p.tenant == a.tenant) policies.push_back(p);
  }
  for (const auto& d : route(policies, ev, clock_.now())) notifier_.send(d, ev);
}

json::object Engine::render(const Alarm& a) const {
  json::object o{{"id", a.id},
                 {"type", "Alert"},
                 {"rule", a.rule_id},
                 {"originator", a.originator},
                 {"severity", severity_name(a.severity)},
                 {"status", a.status},
                 {"count", a.count},
                 {"lastValue", a.last_value},
                 {"lastAt", base::format_iso8601(a.last_at)},
                 {"dateIssued", base::format_iso8601(a.raised_at)},
                 {"escalated", a.escalated},
                 {"speak", a.severity == Severity::kCritical && a.active()},
                 {"name", a.name},
                 {"description", a.description},
                 {"category", a.category},
                 {"subCategory", a.sub_category},
                 {"department", a.department}};
  if (!a.acknowledged_by.empty()) {
    o["acknowledgedBy"] = a.acknowledged_by;
    o["acknowledgedAt"] = base::format_iso8601(a.acknowledged_at);
  }
  if (!a.note.empty()) o["note"] = a.note;
  if (!a.active()) {
    o["clearedBy"] = a.cleared_by;
    o["clearedAt"] = base::format_iso8601(a.cleared_at);
  }
  if (!a.location.is_null()) o["location"] = a.location;
  return o;
}

json::array Engine::active(std::string_view tenant) const {
  std::vector<std::shared_ptr<Alarm>> list;
  std::lock_guard lock(mutex_);
  for (const auto& [k, a] : alarms_) {
    if (a->tenant == tenant && a->active()) list.push_back(a);
  }
  std::sort(list.begin(), list.end(), [](const auto& x, const auto& y) {
    if (x->severity != y->severity) return x->severity > y->severity;
    if (x->last_at != y->last_at) return x->last_at > y->last_at;
    return x->id < y->id;
  });
  json::array out;
  for (const auto& a : list) out.push_back(render(*a));
  return out;
}

base::Result<json::object> Engine::alarm(std::string_view tenant, std::string_view id) const {
  std::lock_guard lock(mutex_);
  auto it = alarms_.find(key2(tenant, id));
  if (it == alarms_.end()) {
    return base::fail(ErrorKind::kResourceNotFound, fmt::format("no alarm '{}'", id));
  }
  return render(*it->second);
}

void Engine::acknowledge(std::string tenant, std::string id, std::string by, std::string note,
                         Done done) {
  manual(std::move(tenant), std::move(id), std::move(by), std::move(note), false, std::move(done));
}

void Engine::clear(std::string tenant, std::string id, std::string by, std::string note,
                   Done done) {
  manual(std::move(tenant), std::move(id), std::move(by), std::move(note), true, std::move(done));
}

void Engine::manual(std::string tenant, std::string id, std::string by, std::string note,
                    bool clear, Done done) {
  std::lock_guard lock(mutex_);
  auto it = alarms_.find(key2(tenant, id));
  if (it == alarms_.end()) {
    return done(base::fail(ErrorKind::kResourceNotFound, fmt::format("no alarm '{}'", id)));
  }
  auto alarm = it->second;
  Alarm& a = *alarm;
  if (!a.active()) {
    return done(base::fail(ErrorKind::kOperationNotSupported,
                           fmt::format("alarm '{}' is already cleared", id)));
  }
  const base::Micros now = clock_.now();
  if (clear) {
    a.status = "cleared";
    a.cleared_at = now;
    a.cleared_by = by;
    set_active(a, false);
    ++cleared_;
  } else {
    a.status = "acknowledged";
    a.acknowledged_by = by;
    a.acknowledged_at = now;
  }
  if (!note.empty()) a.note = note;
  json::object rendered = render(a);
  write_alarms({alarm}, [done, rendered](base::Result<void> r) {
    if (!r) return done(std::unexpected(r.error()));
    done(rendered);
  });
  notify(a, clear ? "cleared" : "acknowledged");
}

Engine::Stats Engine::stats() const {
  Stats s;
  {
    std::lock_guard lock(mutex_);
    s.rules = rules_.size();
    s.policies = policies_.size();
    for (const auto& [_, a] : alarms_) s.active += a->active() ? 1 : 0;
  }
  s.changes = changes_;
  s.raised = raised_;
  s.updated = updated_;
  s.cleared = cleared_;
  s.escalated = escalated_;
  s.changes_missed = missed_;
  s.write_errors = write_errors_;
  const auto last = feed_.last_seq();
  s.lag = last > cursor_ ? last - cursor_ : 0;
  return s;
}

std::string Engine::prometheus_text() const {
  const Stats s = stats();
  const auto n = notifier_.stats();
  std::string out;
  auto metric = [&](std::string_view name, std::string_view type, std::string_view help,
                    std::uint64_t v) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, v);
  };
  metric("cityroom_alarm_rules", "gauge", "Alarm rules loaded (all tenants).", s.rules);
  metric("cityroom_alarm_policies", "gauge", "Notification policies loaded.", s.policies);
  metric("cityroom_alarms_active", "gauge", "Alarms raised or acknowledged.", s.active);
  metric("cityroom_alarm_changes_evaluated_total", "counter", "Changes read by the alarms engine.",
         s.changes);
  metric("cityroom_alarms_raised_total", "counter", "Alarms raised.", s.raised);
  metric("cityroom_alarm_repeats_total", "counter",
         "Breaching changes folded into an active alarm.", s.updated);
  metric("cityroom_alarms_cleared_total", "counter", "Alarms cleared (by rule or by hand).",
         s.cleared);
  metric("cityroom_alarms_escalated_total", "counter", "Alarms escalated.", s.escalated);
  metric("cityroom_alarm_changes_missed_total", "counter",
         "Changes the alarms engine could not read: it fell behind the feed's ring.",
         s.changes_missed);
  metric("cityroom_alarm_write_errors_total", "counter", "Alert writes that failed.",
         s.write_errors);
  metric("cityroom_alarm_engine_lag", "gauge", "Changes published but not yet evaluated.", s.lag);
  metric("cityroom_alarm_notifications_sent_total", "counter", "Alarm notifications sent.", n.sent);
  metric("cityroom_alarm_notifications_failed_total", "counter", "Alarm notifications that failed.",
         n.failed);
  metric("cityroom_alarm_notifications_dropped_total", "counter",
         "Alarm notifications refused (full queue).", n.dropped);
  return out;
}

}  // namespace cityroom::alarms
