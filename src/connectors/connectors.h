// connectors: scheduled HTTP(S) pulls of Korean public APIs turned into entities.
//
// A connector (one entry of a city file's "connectors", docs/CONNECTORS.md) has a type, a key
// (from the config or an environment variable), a period and type-specific settings (grid
// points, stations, province, areas). Each pull asks one or more URLs, with a timeout and
// retries with exponential backoff; every answer goes through the type's parser, a pure
// function from the response body to NGSI-LD entities (normalized, in terms of one @context):
//   kma-ncst          KMA getUltraSrtNcst        → WeatherObserved  …:kma:<nx>_<ny>
//   kma-fcst          KMA getVilageFcst          → WeatherForecast  …:kma:<nx>_<ny>:<yyyymmddhhmm>
//   airkorea-province AirKorea getCtprvnRltmMesureDnsty (ver=1.3) → AirQualityObserved …:airkorea:<station>
//   airkorea-station  AirKorea getMsrstnAcctoRltmMesureDnsty (ver=1.3) → the same
//   seoul-citydata    Seoul citydata → CrowdFlowObserved, RoadSegment (live speed), WeatherObserved,
//                     AirQualityObserved, DisasterMessage
// The entities are batch-upserted through the hub (update semantics: live attributes replace,
// others stay) and the outcome goes to the catalog: success with the record count; failure
// with the reason; `unreachable` when no URL could be reached; `not-configured` without a key.
// Nothing a server answers (NO_DATA, "-"/null values, "24:00", HTTP errors, timeouts, bad JSON,
// XML error pages) can crash a connector: each becomes a failure with a reason.
//
// Threads: a Runner owns one thread ("connectors") that pulls the connectors in turn; parsers
// and the grid conversion are thread-safe pure functions.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/base.h"
#include "catalog/catalog.h"
#include "hub/hub.h"
#include "json/json.h"
#include "ldcontext/ldcontext.h"

namespace cityroom::connectors {

inline constexpr std::size_t kResponseBytesMax = 16 * 1024 * 1024;
inline constexpr std::string_view kWeatherContext =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Weather/master/context.jsonld";
inline constexpr std::string_view kEnvironmentContext =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld";
inline constexpr std::string_view kTransportationContext =
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Transportation/master/context.jsonld";

// ---- the KMA forecast grid ------------------------------------------------------------------

struct GridPoint {
  int nx = 0;
  int ny = 0;
  friend bool operator==(const GridPoint&, const GridPoint&) = default;
};
// WGS84 latitude/longitude (degrees) → the KMA 5 km "DFS" Lambert conformal conic grid
// (Re 6371.00877 km, standard parallels 30°/60°, origin 126°E 38°N at grid (43, 136)).
GridPoint kma_grid(double lat, double lon);

// ---- times ---------------------------------------------------------------------------------

// Korean local time (UTC+9, no DST) to UTC micros. Hour 24 (AirKorea's "24:00") is midnight of
// the next day. nullopt for an impossible date or time.
std::optional<base::Micros> kst_micros(int year, int month, int day, int hour, int minute);
// "20260122" + "1100" (KMA), "2024-07-02 24:00" / "2026-08-26 05:30" (AirKorea, Seoul),
// "202608231100" (Seoul warnings).
std::optional<base::Micros> parse_kst(std::string_view date, std::string_view hhmm);
std::optional<base::Micros> parse_kst(std::string_view date_time);

// ---- parsers (pure) --------------------------------------------------------------------------

struct Entity {
  json::object body;    // normalized NGSI-LD in terms of `context`
  std::string context;  // @context URL; empty: the core context
};
struct Parsed {
  std::vector<Entity> entities;
  std::size_t skipped = 0;  // records left out (no usable value, bad id, ...)
};

enum class Type { kKmaNcst, kKmaFcst, kAirKoreaProvince, kAirKoreaStation, kSeoulCitydata };
std::string_view type_name(Type t);
std::optional<Type> parse_type(std::string_view s);

// What a parser needs beyond the body: the station name for per-station AirKorea answers
// (their items do not repeat it), a refArea relationship and a location to stamp.
struct ParseHints {
  std::string station;
  std::string ref_area;                          // URI or empty
  std::optional<std::array<double, 2>> location;  // lon, lat
};

base::Result<Parsed> parse_kma_ncst(std::string_view body, const ParseHints& hints = {});
base::Result<Parsed> parse_kma_fcst(std::string_view body, const ParseHints& hints = {});
base::Result<Parsed> parse_airkorea(std::string_view body, const ParseHints& hints = {});
base::Result<Parsed> parse_seoul_citydata(std::string_view body, const ParseHints& hints = {});
base::Result<Parsed> parse_body(Type type, std::string_view body, const ParseHints& hints = {});

// ---- config ------------------------------------------------------------------------------------

// One request of a pull: its URL and the hints its answer is parsed with.
struct Request {
  std::string url;
  ParseHints hints;
};

struct ConnectorConfig {
  std::string name;  // also the dataset id
  Type type = Type::kKmaNcst;
  std::string key;      // the API key as configured ("key"); else read from key_env at start
  std::string key_env;  // default CITYROOM_KMA_KEY / CITYROOM_AIRKOREA_KEY / CITYROOM_SEOUL_KEY
  std::string base_url;  // default: the public API; tests point it at a local port
  std::chrono::seconds period{600};
  std::chrono::milliseconds timeout{10'000};
  std::size_t attempts = 3;                    // per URL per pull, first try included
  std::chrono::milliseconds backoff{1'000};    // before retry n: backoff × 2^(n-1)
  json::array points;    // kma: [{"nx","ny"} | {"lat","lon"}, optional "refArea", "location"]
  json::array stations;  // airkorea-station: ["강남구", ...] or [{"name","refArea","location"}]
  std::string province = "서울";  // airkorea-province: sidoName
  json::array areas;     // seoul-citydata: ["POI009", ...] or [{"area","location"}]
  catalog::DatasetInfo dataset;
};

// Reads one connector entry; errors name the member.
base::Result<ConnectorConfig> parse_connector_config(const json::value& v);
// A config of `type` with defaults only (for `connector replay TYPE FILE` without a city).
ConnectorConfig default_config(Type type, std::string name);
// The key as configured, else from the environment; empty when neither.
std::string resolve_key(const ConnectorConfig& c);
// The URLs of one pull at `now` (KMA base date/time chosen for data already published).
std::vector<Request> requests(const ConnectorConfig& c, std::string_view key, base::Micros now);

// ---- HTTP ------------------------------------------------------------------------------------

struct HttpAnswer {
  int status = 0;
  std::string body;
};
// Blocking GET of an http:// or https:// URL (TLS verified against the system store) within
// `timeout`. A transport problem (resolve, refused, timeout, TLS) is ServiceUnavailable with
// the reason; any HTTP answer is a value (the caller judges the status).
base::Result<HttpAnswer> http_get(std::string_view url, std::chrono::milliseconds timeout);

// ---- running -----------------------------------------------------------------------------------

struct PullReport {
  std::size_t entities = 0;  // parsed
  std::size_t upserted = 0;
  std::size_t failed = 0;    // refused by the hub
  std::size_t skipped = 0;
  std::string error;         // empty on success
  bool unreachable = false;
};

// Upserts parsed entities through the hub (batch upsert, update semantics), waiting for the
// commit. Entities whose @context cannot be resolved, or that the hub refuses, count as failed.
PullReport upsert(hub::Hub& hub, ldcontext::ContextStore& contexts, Parsed parsed);

// Feeds one recorded response through a connector once: parse, upsert, catalog outcome.
PullReport replay(const ConnectorConfig& c, std::string_view body, hub::Hub& hub,
                  ldcontext::ContextStore& contexts, catalog::Catalog* catalog);

class Runner {
 public:
  // Everything must outlive the runner. Registers every connector in the catalog.
  Runner(hub::Hub& hub, ldcontext::ContextStore& contexts, catalog::Catalog& catalog,
         std::vector<ConnectorConfig> configs);
  ~Runner();  // stop()
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Marks connectors without a key not-configured and starts the thread for the others.
  void start();
  // Stops the thread (an HTTP call in progress ends within its timeout). Idempotent.
  void stop();
  // One pull of connector `index` on the caller's thread (tests, benchmarks).
  PullReport pull(std::size_t index);

 private:
  bool sleep_for(std::chrono::milliseconds d);  // false when stopping

  hub::Hub& hub_;
  ldcontext::ContextStore& contexts_;
  catalog::Catalog& catalog_;
  std::vector<ConnectorConfig> configs_;
  std::vector<std::string> keys_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cityroom::connectors
