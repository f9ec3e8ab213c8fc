// alarms: rules over live data, the alarm lifecycle, and who is told what (issue #9).
//
// Rules and notification policies are data: JSON documents (docs/ALARMS.md) shipped per city in
// data/rules/<city>/ and created, edited (each edit a new version) and deleted through the API;
// what the API writes is a store record (kinds "alarm-rule", "alarm-rule-version",
// "alarm-policy") written through the store's writer, so it survives a restart. A stored rule
// wins over a shipped file with the same id.
//
// The `Engine` reads the hub's change feed (live/feed.h) on its own thread with its own cursor,
// so it never slows ingestion; if it falls more than the ring behind it counts the changes it
// missed (`cityroom_alarm_changes_missed_total`). Each change is evaluated only against the
// rules of its (tenant, entity type); a rule's scope (ids, idPattern, q, area) is a
// live::Selector, the same matcher subscriptions and screens use. Absence (silent sensors) and
// escalation run on a tick from an injectable `Clock`.
//
// An alarm is one `Alert` entity per (rule, originator), `urn:ngsi-ld:Alert:<rule>:<originator>`,
// written through the hub (so screens watch it live and the hub keeps its history): raised →
// acknowledged → cleared, re-raised later on the same entity. While it is active, more breaching
// changes only raise `count` / `lastValue` / `lastAt`; all changes to one alarm found in one pass
// over the feed are written together, so a burst costs one write per pass, not per message.
// The engine's memory is the truth for active alarms; at start it reloads the active ones from
// the store.
//
// Notifications (raised, escalated, acknowledged, cleared) are routed by the policies
// (severity, department, area, quiet hours, users) to webhooks and MQTT (a live::Transport) and
// to a command gateway (SMS / e-mail: the alarm as JSON on the command's stdin). Screens need no
// target: they watch Alert entities; critical ones carry `speak: true`.
// Thread-safety: every public member of Engine and Notifier may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "base/base.h"
#include "geo/geo.h"
#include "hub/hub.h"
#include "json/json.h"
#include "ldcontext/ldcontext.h"
#include "live/feed.h"
#include "live/selector.h"
#include "live/subscriptions.h"

namespace cityroom::alarms {

inline constexpr std::string_view kRuleRecordKind = "alarm-rule";
inline constexpr std::string_view kRuleVersionRecordKind = "alarm-rule-version";
inline constexpr std::string_view kPolicyRecordKind = "alarm-policy";
inline constexpr std::string_view kAlertIdPrefix = "urn:ngsi-ld:Alert:";
inline constexpr std::string_view kAlertContextUrl =
    "https://smart-data-models.github.io/dataModel.Alert/context.jsonld";
inline constexpr std::size_t kRulesMax = 10'000;               // per tenant
inline constexpr std::size_t kPoliciesMax = 1'000;             // per tenant
inline constexpr std::size_t kRuleBytesMax = 64 * 1024;        // one serialized rule or policy
inline constexpr std::size_t kAllOfMax = 16;                   // conditions in one all-of rule
inline constexpr std::size_t kRateSamplesMax = 256;            // samples kept per (rule, entity)
inline constexpr std::size_t kActiveAlarmsMax = 100'000;       // all tenants
inline constexpr std::size_t kTrackedEntitiesMax = 1'000'000;  // (rule, entity) states

enum class Severity { kWarning = 0, kMinor = 1, kMajor = 2, kCritical = 3 };
std::string_view severity_name(Severity s);
std::optional<Severity> parse_severity(std::string_view s);

// ---- rules --------------------------------------------------------------------------------

// One numeric comparison with hysteresis: raises when `value` op `limit`; clears when the value
// is past `clear_limit` the other way (default: no longer raising).
struct Threshold {
  std::string attribute;  // term as written
  std::string iri;        // expanded
  enum class Op { kAbove, kAtLeast, kBelow, kAtMost } op = Op::kAbove;
  double limit = 0;
  std::optional<double> clear_limit;
  bool raises(double v) const;
  bool clears(double v) const;
};

struct Rate {
  std::string attribute, iri;
  double rise = 0;             // > 0: an increase of at least this; < 0: a fall of at least |rise|
  base::Micros window_us = 0;  // within this time
  double clear_rise = 0;       // clears when the change over the window is below this (same sign)
};

struct Absence {
  base::Micros period_us = 0;
  std::uint32_t periods = 1;  // silent after periods × period without an update
};

struct Geofence {
  std::string attribute = "location", iri;
  geo::Geometry area;
  bool on_enter = true;  // false: on leave
};

struct Rule {
  std::string id;  // [A-Za-z0-9_.-], 1–64
  std::string tenant;
  std::uint64_t version = 1;
  std::string source = "api";  // "api" or the file it came from
  bool enabled = true;
  Severity severity = Severity::kMajor;
  std::string name, description, category, sub_category, department;
  enum class Kind { kThreshold, kRate, kAbsence, kGeofence, kAllOf } kind = Kind::kThreshold;
  std::vector<Threshold> thresholds;  // one for kThreshold, several for kAllOf
  Rate rate;
  Absence absence;
  Geofence geofence;
  std::optional<base::Micros> escalate_after_us;
  std::optional<Severity> escalate_to;  // default: one step up
  std::vector<std::string> types;       // expanded type IRIs of the scope (the rule index key)
  std::shared_ptr<const live::Selector> selector;
  json::object doc;  // the document as written (plus id/version), for GET
};

// Parses and validates a rule document. Errors are BadRequestData naming the member
// ("threshold.above: must be a number"). `contexts` resolves its optional "@context".
base::Result<Rule> parse_rule(const json::object& doc, std::string_view tenant,
                              ldcontext::ContextStore& contexts);

// ---- policies -----------------------------------------------------------------------------

struct Target {
  enum class Kind { kWebhook, kMqtt, kCommand, kScreen } kind = Kind::kWebhook;
  std::string uri;                   // webhook / http hook / mqtt
  std::vector<std::string> command;  // argv of the gateway command
};

struct UserChoice {
  std::string id;
  std::vector<Severity> severities;      // empty = all
  std::vector<std::string> departments;  // empty = all
};

struct Policy {
  std::string id, tenant;
  std::uint64_t version = 1;
  std::string source = "api";
  std::vector<Severity> severities;      // empty = all
  std::vector<std::string> departments;  // empty = all
  std::optional<geo::GeoQuery> area;     // the alarm's location must satisfy it
  std::vector<std::string> events{"raised", "escalated", "cleared"};
  struct QuietHours {
    int from_min = 0, to_min = 0;                      // minutes after local midnight
    int utc_offset_min = 540;                          // Asia/Seoul
    std::vector<Severity> allow{Severity::kCritical};  // still sent during quiet hours
  };
  std::optional<QuietHours> quiet_hours;
  std::vector<UserChoice> users;
  std::vector<Target> targets;
  json::object doc;
};

base::Result<Policy> parse_policy(const json::object& doc, std::string_view tenant);

// What happened to an alarm, as notifications carry it.
struct AlarmEvent {
  std::string kind;  // raised, escalated, acknowledged, cleared
  std::string tenant;
  Severity severity = Severity::kMajor;
  std::string department;
  std::optional<geo::Geometry> location;
  json::object alarm;  // the alarm as the API renders it
};

// One send the policies ask for: a target and the users (by their choices) it is meant for.
struct Delivery {
  Target target;
  std::string policy_id;
  std::vector<std::string> recipients;
};

// Which targets the event goes to at `now` (pure; quiet hours use each policy's UTC offset).
std::vector<Delivery> route(const std::vector<Policy>& policies, const AlarmEvent& event,
                            base::Micros now);

// ---- time ---------------------------------------------------------------------------------

class Clock {
 public:
  virtual ~Clock() = default;
  virtual base::Micros now() const = 0;
};
class SystemClock final : public Clock {
 public:
  base::Micros now() const override { return base::now_micros(); }
};

// ---- sending ------------------------------------------------------------------------------

// Sends deliveries: webhook and MQTT through a live::Transport (never blocks), gateway commands
// on one worker thread (bounded queue; a command that outlives `command_timeout` is killed).
class Notifier {
 public:
  struct Options {
    std::chrono::milliseconds command_timeout{10'000};
    std::size_t command_queue_max = 256;
  };
  struct Stats {
    std::uint64_t sent = 0, delivered = 0, failed = 0, dropped = 0;
  };
  Notifier(live::Transport* transport, Options options);
  explicit Notifier(live::Transport* transport) : Notifier(transport, Options{}) {}
  ~Notifier();
  void send(const Delivery& d, const AlarmEvent& event);
  void stop();
  Stats stats() const;

 private:
  void run_commands();
  live::Transport* transport_;
  Options options_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::pair<std::vector<std::string>, std::string>> commands_;
  bool stopping_ = false;
  std::thread worker_;
  std::atomic<std::uint64_t> sent_{0}, delivered_{0}, failed_{0}, dropped_{0};
};

// The JSON a notification carries: {"event", "alarm", "policy", "recipients"}.
std::string notification_body(const Delivery& d, const AlarmEvent& event);

// ---- the engine ---------------------------------------------------------------------------

class Engine {
 public:
  struct Options {
    std::chrono::milliseconds tick{1000};  // absence and escalation checks
    std::size_t read_max = 4096;           // feed events per pass
  };
  struct Stats {
    std::uint64_t rules = 0, policies = 0, active = 0;
    std::uint64_t changes = 0, raised = 0, updated = 0, cleared = 0, escalated = 0;
    std::uint64_t changes_missed = 0, write_errors = 0, lag = 0;
  };
  using Done = std::function<void(base::Result<json::object>)>;

  Engine(hub::Hub& hub, live::Feed& feed, ldcontext::ContextStore& contexts, Notifier& notifier,
         const Clock& clock, Options options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Loads stored rules and policies, then the shipped files of `rules_dir` (may be empty) whose
  // ids are not stored, then the active alarms. A bad file is an error naming it.
  base::Result<std::size_t> load(const std::filesystem::path& rules_dir);
  void start();
  void stop();  // idempotent

  // The engine thread's work, public for tests that drive it without the thread.
  void process(const std::vector<live::Event>& events);
  void tick();
  // Reads and processes the feed up to its current end (tests; never with the thread running).
  void drain();

  // Calls `fn` once every change up to `seq` is evaluated and the Alert writes it caused are
  // committed (on the store's writer thread), or at stop.
  void when_processed(std::uint64_t seq, std::function<void()> fn);
  // The same for every change committed so far.
  void when_caught_up(std::function<void()> fn) { when_processed(feed_.last_seq(), std::move(fn)); }

  // Rules (admin). create: AlreadyExists if taken. replace: `expected_version` (when given)
  // must be the current one (else AlreadyExists, "version conflict"); answers the new version.
  void create_rule(std::string tenant, json::object doc, Done done);
  void replace_rule(std::string tenant, std::string id, json::object doc,
                    std::optional<std::uint64_t> expected_version, Done done);
  void remove_rule(std::string tenant, std::string id,
                   std::function<void(base::Result<void>)> done);
  base::Result<json::object> rule(std::string_view tenant, std::string_view id,
                                  std::optional<std::uint64_t> version) const;
  json::array rules(std::string_view tenant) const;

  void create_policy(std::string tenant, json::object doc, Done done);
  void replace_policy(std::string tenant, std::string id, json::object doc, Done done);
  void remove_policy(std::string tenant, std::string id,
                     std::function<void(base::Result<void>)> done);
  base::Result<json::object> policy(std::string_view tenant, std::string_view id) const;
  json::array policies(std::string_view tenant) const;

  // Alarms. `active` lists raised and acknowledged ones, most severe first.
  json::array active(std::string_view tenant) const;
  base::Result<json::object> alarm(std::string_view tenant, std::string_view id) const;
  void acknowledge(std::string tenant, std::string id, std::string by, std::string note, Done done);
  void clear(std::string tenant, std::string id, std::string by, std::string note, Done done);

  Stats stats() const;
  std::string prometheus_text() const;

 private:
  struct Alarm;
  struct Track;
  struct Pass;
  struct TypeRules;
  void run();
  void after_writes(std::vector<std::function<void()>> fns);
  void evaluate(const live::Event& ev, Pass& pass);
  // The alarm of (rule, originator) in `tenant` follows a verdict; `location`: the originator's.
  void apply(const Rule& rule, const std::string& tenant, const std::string& originator,
             const json::value& location, bool raise, json::value value, base::Micros now,
             Pass& pass);
  void set_active(const Alarm& a, bool active);  // keeps active_by_entity_ in step
  void finish(Pass& pass);
  void write_alarms(const std::vector<std::shared_ptr<Alarm>>& alarms,
                    std::function<void(base::Result<void>)> done);
  void notify(const Alarm& a, std::string_view kind);
  json::object render(const Alarm& a) const;
  void install_rule(Rule rule);                                      // under mutex_
  void drop_rule(const std::string& tenant, const std::string& id);  // under mutex_
  void put_rule(std::string tenant, json::object doc, bool create,
                std::optional<std::uint64_t> expected_version, Done done);
  void put_policy(std::string tenant, json::object doc, bool create, Done done);
  void write_record(std::vector<std::tuple<std::string_view, std::string, std::string>> puts,
                    std::vector<std::pair<std::string_view, std::string>> removes,
                    std::string tenant, std::function<void(base::Result<void>)> done);
  void seed_absence(const Rule& rule);
  void seed_pending();  // absence rules created through the API, seeded off the writer thread
  base::Result<void> load_alarms();
  void manual(std::string tenant, std::string id, std::string by, std::string note, bool clear,
              Done done);

  hub::Hub& hub_;
  live::Feed& feed_;
  ldcontext::ContextStore& contexts_;
  Notifier& notifier_;
  const Clock& clock_;
  Options options_;
  ldcontext::ContextPtr alert_context_;

  mutable std::mutex mutex_;  // guards everything below
  // key: tenant + '\n' + id
  std::map<std::string, std::shared_ptr<const Rule>, std::less<>> rules_;
  // key: tenant + '\n' + type IRI → the rules scoped to that type, thresholds sorted by limit
  std::map<std::string, std::shared_ptr<TypeRules>, std::less<>> by_type_;
  // key: tenant + '\n' + originator id → ids of the rules with an active alarm on it
  std::map<std::string, std::vector<std::string>, std::less<>> active_by_entity_;
  std::vector<const Rule*> candidates_;  // scratch of evaluate(), engine thread only
  std::vector<std::shared_ptr<const Rule>> pending_seeds_;
  std::map<std::string, Policy, std::less<>> policies_;
  // key: tenant + '\n' + alert id
  std::map<std::string, std::shared_ptr<Alarm>, std::less<>> alarms_;
  // key: tenant + '\n' + rule id + '\n' + entity id
  std::map<std::string, std::shared_ptr<Track>, std::less<>> tracks_;
  std::vector<std::pair<std::uint64_t, std::function<void()>>> waiters_;
  std::map<std::string, std::uint64_t, std::less<>> versions_;  // last rule version used (key)

  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::atomic<std::uint64_t> cursor_{0};
  std::atomic<std::uint64_t> changes_{0}, raised_{0}, updated_{0}, cleared_{0}, escalated_{0},
      missed_{0}, write_errors_{0};
};

}  // namespace cityroom::alarms
