// Connector configs, the URLs of a pull, upserting through the hub, replay, and the Runner.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <future>
#include <map>

#include "connectors/connectors.h"
#include "model/model.h"

namespace cityroom::connectors {
namespace {

using base::ErrorKind;

constexpr std::string_view kDataGoKr = "https://apis.data.go.kr";
constexpr std::string_view kSeoulOpenApi = "http://openapi.seoul.go.kr:8088";
constexpr std::size_t kUpsertChunk = 1000;

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// data.go.kr hands out the key both plain and already percent-encoded; send either as one.
std::string key_param(std::string_view key) {
  return key.find('%') != std::string_view::npos ? std::string(key) : url_encode(key);
}

base::Error bad(std::string_view where, std::string_view message) {
  return {ErrorKind::kInvalidRequest, fmt::format("connectors[].{}: {}", where, message)};
}

catalog::DatasetInfo default_dataset(Type type, const std::string& name, std::int64_t period) {
  catalog::DatasetInfo d;
  d.id = name;
  d.kind = catalog::Kind::kConnector;
  d.update_period_seconds = period;
  d.licence = "KOGL Type 1";
  switch (type) {
    case Type::kKmaNcst:
      d.name = {"기상청 초단기실황", "KMA ultra-short-term now-cast"};
      d.department = {"기상청", "Korea Meteorological Administration"};
      d.source = "기상청 단기예보 조회서비스 (data.go.kr)";
      d.entity_types = {"WeatherObserved"};
      break;
    case Type::kKmaFcst:
      d.name = {"기상청 단기예보", "KMA village forecast"};
      d.department = {"기상청", "Korea Meteorological Administration"};
      d.source = "기상청 단기예보 조회서비스 (data.go.kr)";
      d.entity_types = {"WeatherForecast"};
      break;
    case Type::kAirKoreaProvince:
    case Type::kAirKoreaStation:
      d.name = {"에어코리아 실시간 대기오염", "AirKorea real-time air quality"};
      d.department = {"한국환경공단", "Korea Environment Corporation"};
      d.source = "에어코리아 대기오염정보 (data.go.kr)";
      d.entity_types = {"AirQualityObserved"};
      break;
    case Type::kSeoulCitydata:
      d.name = {"서울 실시간 도시데이터", "Seoul real-time city data"};
      d.department = {"서울특별시 빅데이터담당관", "Seoul Big Data Division"};
      d.source = "서울 열린데이터광장 citydata";
      d.entity_types = {"CrowdFlowObserved", "RoadSegment", "WeatherObserved",
                        "AirQualityObserved", "DisasterMessage"};
      break;
  }
  return d;
}

std::string default_key_env(Type t) {
  switch (t) {
    case Type::kKmaNcst:
    case Type::kKmaFcst: return "CITYROOM_KMA_KEY";
    case Type::kAirKoreaProvince:
    case Type::kAirKoreaStation: return "CITYROOM_AIRKOREA_KEY";
    case Type::kSeoulCitydata: return "CITYROOM_SEOUL_KEY";
  }
  return {};
}

// Hints from an entry of points/stations/areas: refArea and location ([lon, lat]).
ParseHints hints_of(const json::value& v) {
  ParseHints h;
  if (!v.is_object()) return h;
  if (const auto* r = v.get_object().if_contains("refArea"); r && r->is_string()) {
    h.ref_area = r->get_string();
  }
  if (const auto* l = v.get_object().if_contains("location");
      l && l->is_array() && l->get_array().size() == 2 && l->get_array()[0].is_number() &&
      l->get_array()[1].is_number()) {
    h.location = std::array<double, 2>{l->get_array()[0].to_number<double>(),
                                       l->get_array()[1].to_number<double>()};
  }
  return h;
}

std::optional<GridPoint> grid_of(const json::value& p) {
  if (!p.is_object()) return std::nullopt;
  const auto& o = p.get_object();
  const auto* nx = o.if_contains("nx");
  const auto* ny = o.if_contains("ny");
  if (nx && ny && nx->is_int64() && ny->is_int64()) {
    return GridPoint{static_cast<int>(nx->get_int64()), static_cast<int>(ny->get_int64())};
  }
  const auto* lat = o.if_contains("lat");
  const auto* lon = o.if_contains("lon");
  if (lat && lon && lat->is_number() && lon->is_number()) {
    return kma_grid(lat->to_number<double>(), lon->to_number<double>());
  }
  return std::nullopt;
}

struct KstClock {
  int year, month, day, hour, minute;
};
KstClock kst_fields(base::Micros t) {
  const std::int64_t s = t / 1'000'000 + 9 * 3600;
  std::int64_t days = s / 86400;
  const std::int64_t secs = s % 86400;
  // civil_from_days
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const int y = static_cast<int>(yoe + era * 400 + (m <= 2));
  return {y, static_cast<int>(m), static_cast<int>(d), static_cast<int>(secs / 3600),
          static_cast<int>(secs % 3600 / 60)};
}

std::pair<std::string, std::string> base_date_time(base::Micros t) {
  const auto k = kst_fields(t);
  return {fmt::format("{:04}{:02}{:02}", k.year, k.month, k.day), fmt::format("{:02}00", k.hour)};
}

}  // namespace

ConnectorConfig default_config(Type type, std::string name) {
  ConnectorConfig c;
  c.type = type;
  c.name = std::move(name);
  c.key_env = default_key_env(type);
  c.period = type == Type::kKmaFcst ? std::chrono::seconds(10800) : std::chrono::seconds(
      type == Type::kSeoulCitydata ? 300 : type == Type::kKmaNcst ? 600 : 3600);
  c.base_url = std::string(type == Type::kSeoulCitydata ? kSeoulOpenApi : kDataGoKr);
  c.dataset = default_dataset(type, c.name, c.period.count());
  return c;
}

base::Result<ConnectorConfig> parse_connector_config(const json::value& v) {
  if (!v.is_object()) return std::unexpected(bad("", "must be an object"));
  const auto& o = v.get_object();
  const auto* type_v = o.if_contains("type");
  const auto type = type_v && type_v->is_string() ? parse_type(type_v->get_string()) : std::nullopt;
  if (!type) {
    return std::unexpected(bad("type", "must be one of kma-ncst, kma-fcst, airkorea-province, "
                                       "airkorea-station, seoul-citydata"));
  }
  const auto* name_v = o.if_contains("name");
  if (!name_v || !name_v->is_string() || !catalog::valid_dataset_id(name_v->get_string())) {
    return std::unexpected(bad("name", "must be 1-100 of [a-z0-9._-]"));
  }
  auto c = default_config(*type, std::string(name_v->get_string()));
  for (const auto& [k, x] : o) {
    const std::string_view key = k;
    if (key == "type" || key == "name" || key == "dataset") continue;
    if (key == "key" || key == "keyEnv" || key == "baseUrl" || key == "province") {
      if (!x.is_string()) return std::unexpected(bad(key, "must be a string"));
      (key == "key" ? c.key : key == "keyEnv" ? c.key_env : key == "baseUrl" ? c.base_url
                                                                             : c.province) =
          std::string(x.get_string());
    } else if (key == "periodSeconds" || key == "timeoutMs" || key == "attempts" ||
               key == "backoffMs") {
      if (!x.is_int64() || x.get_int64() < 1) {
        return std::unexpected(bad(key, "must be a positive integer"));
      }
      const auto n = x.get_int64();
      if (key == "periodSeconds") c.period = std::chrono::seconds(n);
      if (key == "timeoutMs") c.timeout = std::chrono::milliseconds(n);
      if (key == "attempts") c.attempts = static_cast<std::size_t>(std::min<std::int64_t>(n, 10));
      if (key == "backoffMs") c.backoff = std::chrono::milliseconds(n);
    } else if (key == "points" || key == "stations" || key == "areas") {
      if (!x.is_array()) return std::unexpected(bad(key, "must be an array"));
      (key == "points" ? c.points : key == "stations" ? c.stations : c.areas) = x.get_array();
    } else {
      return std::unexpected(bad(key, "unknown member"));
    }
  }
  for (const auto& p : c.points) {
    if (!grid_of(p)) {
      return std::unexpected(bad("points", "each must be {\"nx\",\"ny\"} or {\"lat\",\"lon\"}"));
    }
  }
  c.dataset = default_dataset(c.type, c.name, c.period.count());
  if (const auto* d = o.if_contains("dataset")) {
    auto info = catalog::parse_dataset_info(*d, c.dataset);
    if (!info) return std::unexpected(info.error());
    c.dataset = std::move(*info);
    c.dataset.id = c.name;  // one connector, one dataset
  }
  return c;
}

std::string resolve_key(const ConnectorConfig& c) {
  if (!c.key.empty()) return c.key;
  if (c.key_env.empty()) return {};
  const char* v = std::getenv(c.key_env.c_str());
  return v ? std::string(v) : std::string();
}

std::vector<Request> requests(const ConnectorConfig& c, std::string_view key, base::Micros now) {
  std::vector<Request> out;
  const auto k = key_param(key);
  switch (c.type) {
    case Type::kKmaNcst:
    case Type::kKmaFcst: {
      std::string date, time;
      if (c.type == Type::kKmaNcst) {
        // The hour's observation is published about 40 minutes past the hour.
        std::tie(date, time) = base_date_time(now - 40 * 60'000'000ll);
      } else {
        // Forecasts are issued at 02, 05, ..., 23 h and published about 10 minutes later.
        const auto k2 = kst_fields(now - 10 * 60'000'000ll);
        const int back = (k2.hour + 24 - 2) % 3;
        std::tie(date, time) =
            base_date_time(now - 10 * 60'000'000ll - static_cast<base::Micros>(back) * 3'600'000'000ll);
      }
      const char* op = c.type == Type::kKmaNcst ? "getUltraSrtNcst" : "getVilageFcst";
      for (const auto& p : c.points) {
        const auto g = grid_of(p);
        if (!g) continue;
        out.push_back({fmt::format("{}/1360000/VilageFcstInfoService_2.0/{}?serviceKey={}&pageNo=1"
                                   "&numOfRows={}&dataType=JSON&base_date={}&base_time={}&nx={}&ny={}",
                                   c.base_url, op, k, c.type == Type::kKmaNcst ? 100 : 1000, date,
                                   time, g->nx, g->ny),
                       hints_of(p)});
      }
      break;
    }
    case Type::kAirKoreaProvince:
      out.push_back({fmt::format("{}/B552584/ArpltnInforInqireSvc/getCtprvnRltmMesureDnsty?"
                                 "serviceKey={}&returnType=json&numOfRows=1000&pageNo=1&sidoName={}"
                                 "&ver=1.3",
                                 c.base_url, k, url_encode(c.province)),
                     {}});
      break;
    case Type::kAirKoreaStation:
      for (const auto& s : c.stations) {
        auto hints = hints_of(s);
        hints.station = s.is_string() ? std::string(s.get_string())
                        : s.is_object() && s.get_object().contains("name") &&
                                s.get_object().at("name").is_string()
                            ? std::string(s.get_object().at("name").get_string())
                            : std::string();
        if (hints.station.empty()) continue;
        out.push_back({fmt::format("{}/B552584/ArpltnInforInqireSvc/getMsrstnAcctoRltmMesureDnsty?"
                                   "serviceKey={}&returnType=json&numOfRows=1&pageNo=1&stationName={}"
                                   "&dataTerm=DAILY&ver=1.3",
                                   c.base_url, k, url_encode(hints.station)),
                       hints});
      }
      break;
    case Type::kSeoulCitydata:
      for (const auto& a : c.areas) {
        const std::string area = a.is_string() ? std::string(a.get_string())
                                 : a.is_object() && a.get_object().contains("area") &&
                                         a.get_object().at("area").is_string()
                                     ? std::string(a.get_object().at("area").get_string())
                                     : std::string();
        if (area.empty()) continue;
        out.push_back({fmt::format("{}/{}/json/citydata/1/5/{}", c.base_url, url_encode(key),
                                   url_encode(area)),
                       hints_of(a)});
      }
      break;
  }
  return out;
}

PullReport upsert(hub::Hub& hub, ldcontext::ContextStore& contexts, Parsed parsed) {
  PullReport report;
  report.entities = parsed.entities.size();
  report.skipped = parsed.skipped;
  std::map<std::string, std::vector<json::object>> by_context;
  for (auto& e : parsed.entities) by_context[e.context].push_back(std::move(e.body));
  const auto now = base::now_micros();
  for (auto& [url, bodies] : by_context) {
    auto ctx = url.empty() ? base::Result<ldcontext::ContextPtr>(contexts.core())
                           : contexts.resolve(json::value(url));
    if (!ctx) {
      report.failed += bodies.size();
      report.error = fmt::format("@context {}: {}", url, ctx.error().detail);
      continue;
    }
    for (std::size_t start = 0; start < bodies.size(); start += kUpsertChunk) {
      std::vector<hub::BatchItem> items;
      for (std::size_t i = start; i < std::min(bodies.size(), start + kUpsertChunk); ++i) {
        std::string id(bodies[i].at("id").get_string());
        items.push_back({id, model::parse_entity(bodies[i], **ctx,
                                                 {model::ParseMode::kEntity, false, now})});
      }
      const auto n = items.size();
      std::promise<base::Result<hub::BatchOutcome>> done;
      auto f = done.get_future();
      hub.batch("", hub::BatchKind::kUpsertUpdate, std::move(items),
                [&done](base::Result<hub::BatchOutcome> r) { done.set_value(std::move(r)); });
      auto outcome = f.get();
      if (!outcome) {
        report.failed += n;
        report.error = outcome.error().detail;
        continue;
      }
      report.upserted += outcome->success.size();
      report.failed += outcome->errors.size();
      if (!outcome->errors.empty() && report.error.empty()) {
        report.error = fmt::format("{}: {}", outcome->errors[0].id, outcome->errors[0].error.detail);
      }
    }
  }
  // Some entities refused is not a failed pull; all refused is.
  if (report.upserted > 0 || report.entities == 0) report.error.clear();
  return report;
}

PullReport replay(const ConnectorConfig& c, std::string_view body, hub::Hub& hub,
                  ldcontext::ContextStore& contexts, catalog::Catalog* catalog) {
  ParseHints hints;
  if (c.type == Type::kAirKoreaStation && !c.stations.empty()) {
    const auto& s = c.stations[0];
    if (s.is_string()) hints.station = s.get_string();
    if (s.is_object() && s.get_object().contains("name") && s.get_object().at("name").is_string()) {
      hints.station = s.get_object().at("name").get_string();
    }
  }
  if (catalog) (void)catalog->register_dataset(c.dataset);
  auto parsed = parse_body(c.type, body, hints);
  PullReport report;
  if (!parsed) {
    report.error = parsed.error().detail;
  } else {
    report = upsert(hub, contexts, std::move(*parsed));
  }
  if (catalog) {
    if (report.error.empty()) {
      catalog->record_success(c.name, report.upserted, base::now_micros());
    } else {
      catalog->record_failure(c.name, report.error, base::now_micros());
    }
  }
  return report;
}

Runner::Runner(hub::Hub& hub, ldcontext::ContextStore& contexts, catalog::Catalog& catalog,
               std::vector<ConnectorConfig> configs)
    : hub_(hub), contexts_(contexts), catalog_(catalog), configs_(std::move(configs)) {
  for (const auto& c : configs_) {
    if (auto ok = catalog_.register_dataset(c.dataset); !ok) {
      spdlog::warn("connector {}: {}", c.name, ok.error().detail);
    }
    keys_.push_back(resolve_key(c));
    // Marked here, not in start(), so the catalog says so from the server's first answer.
    if (keys_.back().empty()) catalog_.mark(c.name, catalog::Mark::kNotConfigured);
  }
}

Runner::~Runner() { stop(); }

bool Runner::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return !cv_.wait_for(lock, d, [this] { return stopping_; });
}

PullReport Runner::pull(std::size_t index) {
  const auto& c = configs_.at(index);
  const auto& key = keys_.at(index);
  PullReport total;
  if (key.empty()) {
    catalog_.mark(c.name, catalog::Mark::kNotConfigured);
    total.error = fmt::format("no key (set \"key\" or ${})", c.key_env);
    return total;
  }
  std::size_t reached = 0, answered_ok = 0;
  std::string last_error;
  for (const auto& r : requests(c, key, base::now_micros())) {
    std::optional<HttpAnswer> answer;
    for (std::size_t attempt = 0; attempt < c.attempts && !answer; ++attempt) {
      if (attempt > 0 && !sleep_for(c.backoff * (1ll << (attempt - 1)))) return total;
      auto got = http_get(r.url, c.timeout);
      if (!got) {
        last_error = got.error().detail;
        continue;
      }
      if (got->status >= 500 || got->status == 429) {
        ++reached;
        last_error = fmt::format("HTTP {}", got->status);
        continue;
      }
      ++reached;
      answer = std::move(*got);
    }
    if (!answer) continue;
    if (answer->status < 200 || answer->status > 299) {
      last_error = fmt::format("HTTP {}", answer->status);
      continue;
    }
    auto parsed = parse_body(c.type, answer->body, r.hints);
    if (!parsed) {
      last_error = parsed.error().detail;
      continue;
    }
    auto report = upsert(hub_, contexts_, std::move(*parsed));
    if (!report.error.empty()) {
      last_error = report.error;
      continue;
    }
    ++answered_ok;
    total.entities += report.entities;
    total.upserted += report.upserted;
    total.failed += report.failed;
    total.skipped += report.skipped;
  }
  const auto now = base::now_micros();
  if (answered_ok > 0) {
    catalog_.record_success(c.name, total.upserted, now);
  } else {
    total.error = last_error.empty() ? "nothing to ask (no points/stations/areas)" : last_error;
    total.unreachable = reached == 0 && !last_error.empty();
    catalog_.record_failure(c.name, total.error, now);
    // Reached but refused or unreadable: `failed`, no longer `unreachable`.
    catalog_.mark(c.name, total.unreachable ? catalog::Mark::kUnreachable : catalog::Mark::kNone);
    spdlog::warn("connector {}: {}", c.name, total.error);
  }
  return total;
}

void Runner::start() {
  std::vector<std::size_t> active;
  for (std::size_t i = 0; i < configs_.size(); ++i) {
    if (!keys_[i].empty()) active.push_back(i);
  }
  if (active.empty() || thread_.joinable()) return;
  thread_ = std::thread([this, active] {
    pthread_setname_np(pthread_self(), "connectors");
    std::vector<std::chrono::steady_clock::time_point> due(active.size(),
                                                           std::chrono::steady_clock::now());
    while (true) {
      const auto next = std::ranges::min_element(due);
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          *next - std::chrono::steady_clock::now());
      if (wait.count() > 0 && !sleep_for(wait)) return;
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      const auto i = static_cast<std::size_t>(next - due.begin());
      pull(active[i]);
      *next = std::chrono::steady_clock::now() + configs_[active[i]].period;
    }
  });
}

void Runner::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace cityroom::connectors
