// ingest: MQTT device ingestion — messages on mapped topics become hub upserts.
//
// A `Config` (a JSON file, see docs/MQTT.md) names the broker and a list of mappings, each a
// topic filter with a payload mode:
//   - "ngsi-ld": the payload is one NGSI-LD entity (normalized or concise, with or without
//     @context) or an array of them, parsed with model::parse_entity exactly like the body of
//     POST /entityOperations/upsert?options=update;
//   - "fields": the payload is plain device JSON; a field map turns it into one entity whose id
//     comes from a template over the topic's wildcard levels (`urn:ngsi-ld:Sensor:{1}`).
// Either way the result is applied as a batch upsert with update semantics
// (hub::BatchKind::kUpsertUpdate): created if missing, else the given attributes are replaced.
// Attribute and type names are terms expanded through the mapping's @context (default: the core
// context; URLs resolve through ldcontext::ContextStore, which never touches the network).
//
// A message that cannot be ingested (bad JSON, missing field, invalid NGSI-LD, refused by the
// hub) is counted for its mapping, logged (rate-limited) and republished to the dead-letter
// topic as {"topic", "mapping", "error", "payload", "receivedAt"}. Nothing in a payload can
// crash or stop ingestion.
//
// Threads: messages are parsed and mapped on the MQTT client's network thread; hub calls are
// asynchronous and finish on the store's writer thread. At most `in_flight_max` messages wait
// for the hub; beyond that the network thread waits (the broker then holds further QoS 1
// messages) — nothing is dropped silently. Messages still waiting when ingestion stops are
// counted as dropped. Every public member may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "hub/hub.h"
#include "json/json.h"
#include "ldcontext/ldcontext.h"
#include "model/model.h"
#include "mqtt/mqtt.h"

namespace cityroom::ingest {

inline constexpr std::size_t kInFlightMaxDefault = 10'000;
inline constexpr std::size_t kInFlightMaxLimit = 1'000'000;
inline constexpr std::size_t kPayloadBytesMax = 1024 * 1024;  // as the HTTP body limit
inline constexpr std::size_t kMappingsMax = 256;
inline constexpr std::size_t kFieldsMax = 256;
inline constexpr std::size_t kDeadLetterPayloadBytesMax = 64 * 1024;  // copied into a dead letter
inline constexpr std::size_t kConfigBytesMax = 1024 * 1024;
inline constexpr std::string_view kDeadLetterTopicDefault = "cityroom/dead-letter";
inline constexpr std::string_view kClientIdDefault = "cityroom-ingest";

enum class PayloadMode { kNgsiLd, kFields };
enum class TimeFormat { kIso8601, kEpochSeconds, kEpochMillis };

// One device field → one Property.
struct FieldMap {
  std::string field;      // payload member name, or a JSON pointer when it starts with '/'
  std::string attribute;  // attribute term (expanded through the mapping's @context)
  std::optional<std::string> unit_code;  // UN/CEFACT code, e.g. "CEL"
  std::optional<double> scale;           // the value is multiplied by it (numbers only)
  bool optional = false;                 // absent or null in a payload is not an error
};

struct Mapping {
  std::string name;   // label in stats and dead letters; defaults to the topic filter
  std::string topic;  // MQTT topic filter
  int qos = 1;
  PayloadMode mode = PayloadMode::kNgsiLd;
  std::string tenant;                  // empty: the default tenant
  std::optional<json::value> context;  // @context spec; nullopt: the config's, else core
  // fields mode only:
  std::string id_template;  // `{N}`: the N-th wildcard level of the topic (1-based)
  std::string entity_type;  // term
  std::vector<FieldMap> fields;
  std::optional<std::string> observed_at_field;  // nullopt: the time of receipt
  TimeFormat observed_at_format = TimeFormat::kIso8601;
};

struct Config {
  mqtt::Options broker;  // clean_session = false and client id "cityroom-ingest" by default
  std::string dead_letter_topic = std::string(kDeadLetterTopicDefault);
  std::size_t in_flight_max = kInFlightMaxDefault;
  std::optional<json::value> context;  // default @context of every mapping
  std::vector<Mapping> mappings;
};

// Reads and checks a config file. Errors (InvalidRequest) name the file and the member:
// "cfg.json: mappings[1].entityId: {2} but the topic filter has 1 wildcard".
base::Result<Config> load_mqtt_config(const std::filesystem::path& path);
// The same on an already parsed document (errors without the file name).
base::Result<Config> parse_mqtt_config(const json::value& doc);

// ---- the mapping as pure functions (unit-tested on their own) -----------------------------

// Replaces each `{N}` with the N-th capture (1-based). BadRequestData when a capture is empty
// or the result is not a URI.
base::Result<std::string> expand_id_template(std::string_view id_template,
                                             const std::vector<std::string_view>& captures);

// "fields" mode: the device payload as a normalized NGSI-LD entity in terms (before expansion).
// `received_at` stamps observedAt when the mapping has no observedAt field.
base::Result<json::object> map_fields(const Mapping& mapping,
                                      const std::vector<std::string_view>& captures,
                                      const json::value& payload, base::Micros received_at);
// map_fields, then model::parse_entity with `ctx` (the same validation as the HTTP API).
base::Result<model::Entity> fields_to_entity(const Mapping& mapping,
                                             const std::vector<std::string_view>& captures,
                                             const json::value& payload,
                                             const ldcontext::Context& ctx,
                                             base::Micros received_at);

// "ngsi-ld" mode: one entity object or a non-empty array of at most hub::kBatchEntitiesMax.
// An element with its own @context is expanded with it (resolved through `contexts`), else with
// `ctx`. An element that fails to parse becomes a failed BatchItem; a payload that is neither an
// entity nor an array of entities is an error for the whole message.
base::Result<std::vector<hub::BatchItem>> ngsi_ld_items(const json::value& payload,
                                                        const ldcontext::Context& ctx,
                                                        ldcontext::ContextStore& contexts,
                                                        base::Micros now);

// The dead-letter message body: {"topic","mapping","error","payload","receivedAt"}; a payload
// that is not UTF-8 goes in "payloadBase64" instead; over kDeadLetterPayloadBytesMax it is cut
// and "payloadTruncated": true is added.
std::string dead_letter_json(std::string_view topic, std::string_view mapping,
                             std::string_view error, std::string_view payload,
                             base::Micros received_at);

// ---- running -------------------------------------------------------------------------------

struct MappingStats {
  std::string name;
  std::uint64_t received = 0;       // messages matched to this mapping
  std::uint64_t ingested = 0;       // messages whose every entity was committed
  std::uint64_t rejected = 0;       // messages with an error (whole or for some entity)
  std::uint64_t dead_lettered = 0;  // rejected messages republished to the dead-letter topic
};

struct Stats {
  bool connected = false;
  std::uint64_t connects = 0;
  std::uint64_t connection_losses = 0;
  std::uint64_t in_flight = 0;             // messages handed to the hub, not yet committed
  std::uint64_t backpressure_waits = 0;    // times the network thread waited for the hub
  std::uint64_t dropped = 0;               // messages given up because ingestion stopped
  std::uint64_t unmatched = 0;             // messages on no mapping (e.g. an old subscription)
  std::uint64_t dead_letter_failures = 0;  // dead letters the client could not queue
  // Where the time goes, summed over messages: CPU time of parse + map on the network thread,
  // and wall time from hub submit to the commit callback (queueing behind other writes + the
  // store; with a full in-flight window this is about in_flight / throughput).
  std::uint64_t map_ns_total = 0;
  std::uint64_t hub_ns_total = 0;
  std::vector<MappingStats> mappings;
};

// Prometheus text exposition lines, all named cityroom_mqtt_*.
std::string prometheus_text(const Stats& stats);

class MqttIngest {
 public:
  // `hub` and `contexts` must outlive this object.
  MqttIngest(hub::Hub& hub, ldcontext::ContextStore& contexts, Config config);
  ~MqttIngest();  // stop()
  MqttIngest(const MqttIngest&) = delete;
  MqttIngest& operator=(const MqttIngest&) = delete;

  // Resolves the mappings' @contexts, subscribes (QoS per mapping) and starts the client. An
  // unreachable broker is not an error (the client keeps retrying); an unresolvable @context
  // or bad client options are. Call once.
  base::Result<void> start();
  // Stops receiving, then waits up to `drain` for the hub to finish the messages in flight.
  // Idempotent.
  void stop(std::chrono::milliseconds drain = std::chrono::seconds(5));
  Stats stats() const;

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace cityroom::ingest
