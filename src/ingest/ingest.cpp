// MqttIngest: the running half — MQTT messages → hub batch upserts, with back-pressure,
// dead letters and counters.
#include "ingest/ingest.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <condition_variable>
#include <mutex>

namespace cityroom::ingest {
namespace {

using base::ErrorKind;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kLogLinesPerWindow = 10;
constexpr auto kLogWindow = std::chrono::seconds(10);
constexpr std::size_t kErrorsNamedMax = 5;  // per-entity errors quoted in one dead letter

// CPU time of the calling thread: what parsing and mapping cost, whatever else runs on the box.
std::uint64_t thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(t.tv_nsec);
}

std::uint64_t ns_since(Clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count());
}

// A flood of bad messages must not become a flood of log lines: at most kLogLinesPerWindow per
// window; the next line that gets through says how many were suppressed.
class LogLimiter {
 public:
  void warn(std::string line) {
    std::size_t suppressed = 0;
    {
      std::lock_guard lock(mutex_);
      const auto now = Clock::now();
      if (now - window_start_ >= kLogWindow) {
        window_start_ = now;
        lines_ = 0;
      }
      if (lines_ >= kLogLinesPerWindow) {
        ++suppressed_;
        return;
      }
      ++lines_;
      suppressed = std::exchange(suppressed_, 0);
    }
    if (suppressed) {
      spdlog::warn("{} (and {} similar lines suppressed)", line, suppressed);
    } else {
      spdlog::warn("{}", line);
    }
  }

 private:
  std::mutex mutex_;
  Clock::time_point window_start_{};
  std::size_t lines_ = 0;
  std::size_t suppressed_ = 0;
};

std::string describe(const std::vector<hub::BatchOutcome::Failure>& errors) {
  std::string out;
  for (std::size_t i = 0; i < errors.size() && i < kErrorsNamedMax; ++i) {
    if (!out.empty()) out += "; ";
    out += fmt::format("{}: {}", errors[i].id.empty() ? "(no id)" : errors[i].id,
                       errors[i].error.detail);
  }
  if (errors.size() > kErrorsNamedMax) {
    out += fmt::format("; and {} more", errors.size() - kErrorsNamedMax);
  }
  return out;
}

// A fields mapping whose names the model refuses would refuse every message; say so at start.
base::Result<void> probe_mapping(const Mapping& m, const ldcontext::Context& ctx) {
  if (m.mode != PayloadMode::kFields) return {};
  json::object payload;
  for (const auto& f : m.fields) {
    if (f.field.front() != '/') payload[f.field] = 0;
  }
  Mapping probe = m;
  probe.id_template = "urn:ngsi-ld:probe";
  probe.observed_at_field.reset();
  for (auto& f : probe.fields) f.optional = true;
  auto e = fields_to_entity(probe, {}, payload, ctx, base::now_micros());
  if (!e && e.error().detail != "none of the mapped fields is in the payload") {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("MQTT mapping '{}': {}", m.name, e.error().detail));
  }
  return {};
}

struct MappingCounters {
  std::atomic<std::uint64_t> received{0}, ingested{0}, rejected{0}, dead_lettered{0};
};

}  // namespace

struct MqttIngest::Shared : std::enable_shared_from_this<MqttIngest::Shared> {
  Shared(hub::Hub& h, ldcontext::ContextStore& c, Config cfg)
      : hub(h),
        contexts(c),
        config(std::move(cfg)),
        per_mapping(std::make_unique<MappingCounters[]>(config.mappings.size())) {}

  hub::Hub& hub;
  ldcontext::ContextStore& contexts;
  const Config config;
  std::vector<ldcontext::ContextPtr> mapping_contexts;  // set by start(), then read-only
  std::unique_ptr<MappingCounters[]> per_mapping;

  std::atomic<std::uint64_t> backpressure_waits{0}, dropped{0}, unmatched{0},
      dead_letter_failures{0}, map_ns{0}, hub_ns{0};
  std::mutex mutex;
  std::condition_variable cv;
  std::uint64_t in_flight = 0;  // under mutex
  bool started = false, stopping = false;
  LogLimiter log;
  // Last member: destroyed first, which joins the network thread while the rest still exists.
  std::unique_ptr<mqtt::Client> client;

  void on_message(const mqtt::Message& msg);
  base::Result<std::vector<hub::BatchItem>> to_items(std::size_t index,
                                                     const std::vector<std::string_view>& captures,
                                                     std::string_view payload,
                                                     base::Micros received_at);
  void submit(std::size_t index, const mqtt::Message& msg, std::vector<hub::BatchItem> items,
              base::Micros received_at);
  void reject(std::size_t index, std::string_view topic, std::string_view payload,
              std::string_view error, base::Micros received_at);
  bool acquire_slot();
  void release_slot();
};

void MqttIngest::Shared::on_message(const mqtt::Message& msg) {
  const auto cpu_at_start = thread_cpu_ns();
  const base::Micros received_at = base::now_micros();
  std::size_t index = 0;
  std::optional<std::vector<std::string_view>> captures;
  for (; index < config.mappings.size(); ++index) {
    captures = mqtt::match_topic(config.mappings[index].topic, msg.topic);
    if (captures) break;
  }
  if (!captures) {
    // A persistent session can still hold a subscription of an older config.
    unmatched.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  per_mapping[index].received.fetch_add(1, std::memory_order_relaxed);
  auto items = to_items(index, *captures, msg.payload, received_at);
  map_ns.fetch_add(thread_cpu_ns() - cpu_at_start, std::memory_order_relaxed);
  if (!items) return reject(index, msg.topic, msg.payload, items.error().detail, received_at);
  submit(index, msg, std::move(*items), received_at);
}

base::Result<std::vector<hub::BatchItem>> MqttIngest::Shared::to_items(
    std::size_t index, const std::vector<std::string_view>& captures, std::string_view payload,
    base::Micros received_at) {
  if (payload.size() > kPayloadBytesMax) {
    return base::fail(ErrorKind::kPayloadTooLarge,
                      fmt::format("the payload has {} bytes; at most {} are accepted",
                                  payload.size(), kPayloadBytesMax));
  }
  auto doc = json::parse(payload);
  if (!doc) return std::unexpected(doc.error());
  const Mapping& m = config.mappings[index];
  const auto& ctx = *mapping_contexts[index];
  std::vector<hub::BatchItem> items;
  if (m.mode == PayloadMode::kFields) {
    auto entity = fields_to_entity(m, captures, *doc, ctx, received_at);
    if (!entity) return std::unexpected(entity.error());
    std::string id(entity->at("id").get_string());
    items.push_back({std::move(id), std::move(*entity)});
    return items;
  }
  auto parsed = ngsi_ld_items(*doc, ctx, contexts, received_at);
  if (!parsed) return std::unexpected(parsed.error());
  // When nothing parsed there is nothing for the hub to do; report the errors at once.
  if (std::none_of(parsed->begin(), parsed->end(),
                   [](const auto& i) { return i.entity.has_value(); })) {
    std::vector<hub::BatchOutcome::Failure> errors;
    for (auto& i : *parsed) errors.push_back({i.id, i.entity.error()});
    return base::fail(ErrorKind::kBadRequestData, describe(errors));
  }
  return parsed;
}

void MqttIngest::Shared::submit(std::size_t index, const mqtt::Message& msg,
                                std::vector<hub::BatchItem> items, base::Micros received_at) {
  if (!acquire_slot()) {
    dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const auto submitted_at = Clock::now();
  // The topic and payload are kept for a dead letter should the hub refuse the entities.
  hub.batch(config.mappings[index].tenant, hub::BatchKind::kUpsertUpdate, std::move(items),
            [self = shared_from_this(), index, topic = std::string(msg.topic),
             payload = std::string(msg.payload), received_at,
             submitted_at](base::Result<hub::BatchOutcome> r) {
              self->hub_ns.fetch_add(ns_since(submitted_at), std::memory_order_relaxed);
              if (!r) {
                self->reject(index, topic, payload, r.error().detail, received_at);
              } else if (!r->errors.empty()) {
                self->reject(index, topic, payload, describe(r->errors), received_at);
              } else {
                self->per_mapping[index].ingested.fetch_add(1, std::memory_order_relaxed);
              }
              self->release_slot();
            });
}

void MqttIngest::Shared::reject(std::size_t index, std::string_view topic, std::string_view payload,
                                std::string_view error, base::Micros received_at) {
  auto& counters = per_mapping[index];
  counters.rejected.fetch_add(1, std::memory_order_relaxed);
  const auto& name = config.mappings[index].name;
  log.warn(fmt::format("mqtt {}: message on '{}' not ingested: {}", name, topic, error));
  const auto body = dead_letter_json(topic, name, error, payload, received_at);
  if (auto sent = client->publish(config.dead_letter_topic, body, 1, false); sent) {
    counters.dead_lettered.fetch_add(1, std::memory_order_relaxed);
  } else {
    dead_letter_failures.fetch_add(1, std::memory_order_relaxed);
    log.warn(fmt::format("mqtt {}: dead letter not sent: {}", name, sent.error().detail));
  }
}

// Waits while the hub has in_flight_max messages of ours: the network thread stops reading,
// so the broker holds the rest (QoS 1). False when ingestion is stopping.
bool MqttIngest::Shared::acquire_slot() {
  std::unique_lock lock(mutex);
  if (in_flight >= config.in_flight_max && !stopping) {
    backpressure_waits.fetch_add(1, std::memory_order_relaxed);
    cv.wait(lock, [&] { return in_flight < config.in_flight_max || stopping; });
  }
  if (stopping) return false;
  ++in_flight;
  return true;
}

void MqttIngest::Shared::release_slot() {
  {
    std::lock_guard lock(mutex);
    --in_flight;
  }
  cv.notify_all();
}

MqttIngest::MqttIngest(hub::Hub& hub, ldcontext::ContextStore& contexts, Config config)
    : shared_(std::make_shared<Shared>(hub, contexts, std::move(config))) {}

MqttIngest::~MqttIngest() {
  stop();
}

base::Result<void> MqttIngest::start() {
  auto& s = *shared_;
  {
    std::lock_guard lock(s.mutex);
    if (s.started) return base::fail(ErrorKind::kInternalError, "MQTT ingestion started twice");
    s.started = true;
  }
  for (std::size_t i = 0; i < s.config.mappings.size(); ++i) {
    const auto& m = s.config.mappings[i];
    const auto* spec = m.context ? &*m.context : s.config.context ? &*s.config.context : nullptr;
    if (!spec) {
      s.mapping_contexts.push_back(s.contexts.core());
      continue;
    }
    auto ctx = s.contexts.resolve(*spec);
    if (!ctx) {
      return base::fail(ctx.error().kind,
                        fmt::format("MQTT mapping '{}': @context: {}", m.name, ctx.error().detail));
    }
    s.mapping_contexts.push_back(std::move(*ctx));
  }
  for (std::size_t i = 0; i < s.config.mappings.size(); ++i) {
    if (auto ok = probe_mapping(s.config.mappings[i], *s.mapping_contexts[i]); !ok) return ok;
  }
  Shared* raw = shared_.get();  // the client is a member of Shared and stops before it dies
  auto client =
      mqtt::Client::create(s.config.broker, [raw](const mqtt::Message& m) { raw->on_message(m); });
  if (!client) return std::unexpected(client.error());
  for (const auto& m : s.config.mappings) {
    if (auto ok = (*client)->subscribe(m.topic, m.qos); !ok) return ok;
  }
  {
    std::lock_guard lock(s.mutex);  // stats() may read it from another thread
    s.client = std::move(*client);
  }
  if (auto ok = s.client->start(); !ok) return ok;
  spdlog::info("mqtt ingestion: {} mapping(s) from {}:{}", s.config.mappings.size(),
               s.config.broker.host, s.config.broker.port);
  return {};
}

void MqttIngest::stop(std::chrono::milliseconds drain) {
  auto& s = *shared_;
  {
    std::lock_guard lock(s.mutex);
    if (!s.started || s.stopping) return;
    s.stopping = true;
  }
  s.cv.notify_all();  // a network thread waiting for a slot gives up
  if (s.client) s.client->stop();
  std::unique_lock lock(s.mutex);
  if (!s.cv.wait_for(lock, drain, [&] { return s.in_flight == 0; })) {
    spdlog::warn("mqtt ingestion: {} message(s) still with the hub after {} ms", s.in_flight,
                 drain.count());
  }
}

Stats MqttIngest::stats() const {
  const auto& s = *shared_;
  Stats out;
  const mqtt::Client* client = nullptr;
  {
    std::lock_guard lock(shared_->mutex);
    out.in_flight = s.in_flight;
    client = s.client.get();  // set once by start(), then kept until destruction
  }
  if (client) {
    const auto c = client->counters();
    out.connected = c.connected;
    out.connects = c.connects;
    out.connection_losses = c.connection_losses;
  }
  out.backpressure_waits = s.backpressure_waits.load(std::memory_order_relaxed);
  out.dropped = s.dropped.load(std::memory_order_relaxed);
  out.unmatched = s.unmatched.load(std::memory_order_relaxed);
  out.dead_letter_failures = s.dead_letter_failures.load(std::memory_order_relaxed);
  out.map_ns_total = s.map_ns.load(std::memory_order_relaxed);
  out.hub_ns_total = s.hub_ns.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < s.config.mappings.size(); ++i) {
    const auto& c = s.per_mapping[i];
    out.mappings.push_back({s.config.mappings[i].name, c.received.load(std::memory_order_relaxed),
                            c.ingested.load(std::memory_order_relaxed),
                            c.rejected.load(std::memory_order_relaxed),
                            c.dead_lettered.load(std::memory_order_relaxed)});
  }
  return out;
}

namespace {

std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            std::uint64_t value) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
}

}  // namespace

std::string prometheus_text(const Stats& s) {
  std::string out;
  metric(out, "cityroom_mqtt_connected", "gauge", "1 while connected to the MQTT broker.",
         s.connected ? 1 : 0);
  metric(out, "cityroom_mqtt_connects_total", "counter", "Successful MQTT connections.",
         s.connects);
  metric(out, "cityroom_mqtt_connection_losses_total", "counter",
         "MQTT connections lost unexpectedly.", s.connection_losses);
  metric(out, "cityroom_mqtt_in_flight", "gauge",
         "MQTT messages handed to the hub, not yet committed.", s.in_flight);
  metric(out, "cityroom_mqtt_backpressure_waits_total", "counter",
         "Times MQTT intake waited because too many messages were in flight.",
         s.backpressure_waits);
  metric(out, "cityroom_mqtt_dropped_total", "counter",
         "MQTT messages given up because ingestion stopped.", s.dropped);
  metric(out, "cityroom_mqtt_unmatched_total", "counter",
         "MQTT messages on a topic no mapping matches.", s.unmatched);
  metric(out, "cityroom_mqtt_dead_letter_failures_total", "counter",
         "Dead letters that could not be queued for publishing.", s.dead_letter_failures);
  struct PerMapping {
    std::string_view name, help;
    std::uint64_t MappingStats::*field;
  };
  static constexpr PerMapping kPerMapping[] = {
      {"cityroom_mqtt_received_total", "MQTT messages received per mapping.",
       &MappingStats::received},
      {"cityroom_mqtt_ingested_total", "MQTT messages committed per mapping.",
       &MappingStats::ingested},
      {"cityroom_mqtt_rejected_total", "MQTT messages rejected per mapping.",
       &MappingStats::rejected},
      {"cityroom_mqtt_dead_lettered_total",
       "Rejected MQTT messages republished to the dead-letter topic.",
       &MappingStats::dead_lettered},
  };
  for (const auto& p : kPerMapping) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", p.name, p.help, p.name);
    for (const auto& m : s.mappings) {
      out += fmt::format("{}{{mapping=\"{}\"}} {}\n", p.name, label_value(m.name), m.*p.field);
    }
  }
  out +=
      "# HELP cityroom_mqtt_map_seconds_total CPU time spent parsing and mapping MQTT payloads.\n";
  out += "# TYPE cityroom_mqtt_map_seconds_total counter\n";
  out += fmt::format("cityroom_mqtt_map_seconds_total {:.6f}\n", s.map_ns_total / 1e9);
  out +=
      "# HELP cityroom_mqtt_hub_seconds_total Time MQTT messages spent from hub submit to "
      "commit.\n";
  out += "# TYPE cityroom_mqtt_hub_seconds_total counter\n";
  out += fmt::format("cityroom_mqtt_hub_seconds_total {:.6f}\n", s.hub_ns_total / 1e9);
  return out;
}

}  // namespace cityroom::ingest
