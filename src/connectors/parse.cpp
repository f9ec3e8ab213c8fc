// The KMA grid, Korean times, and the parsers from API answers to entities.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <charconv>
#include <cmath>
#include <map>
#include <numbers>

#include "connectors/connectors.h"

namespace cityroom::connectors {
namespace {

using base::ErrorKind;

base::Error bad_answer(std::string message) {
  return {ErrorKind::kBadRequestData, std::move(message)};
}

std::optional<int> digits(std::string_view s) {
  int v = 0;
  if (s.empty()) return std::nullopt;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Days since 1970-01-01 of a proleptic Gregorian date.
std::int64_t days_from_civil(int y, unsigned m, unsigned d) {
  return std::chrono::sys_days{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}}
      .time_since_epoch()
      .count();
}

// A value as the APIs write it: a string or a number; "-", "", null are no value.
std::optional<double> number_of(const json::value* v) {
  if (!v || v->is_null()) return std::nullopt;
  double x = 0;
  if (v->is_number()) {
    x = v->to_number<double>();
  } else if (v->is_string()) {
    std::string s(v->get_string());
    std::erase(s, ' ');
    if (s.empty() || s == "-") return std::nullopt;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (!std::isfinite(x)) return std::nullopt;
  return x;
}

// KMA also writes missing observations as -998.9, -999, 900 and more.
std::optional<double> kma_number(const json::value* v) {
  auto x = number_of(v);
  if (x && std::fabs(*x) >= 900) return std::nullopt;
  return x;
}

std::string string_of(const json::value* v) {
  if (!v || v->is_null()) return {};
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_number()) return json::serialize(*v);
  return {};
}

const json::value* member(const json::value& v, std::string_view key) {
  if (!v.is_object()) return nullptr;
  return v.get_object().if_contains(key);
}

json::object prop(json::value value, std::optional<base::Micros> observed,
                  std::string_view unit = {}) {
  json::object p{{"type", "Property"}, {"value", std::move(value)}};
  if (observed) p["observedAt"] = base::format_iso8601(*observed);
  if (!unit.empty()) p["unitCode"] = unit;
  return p;
}

json::object sprop(std::string_view s, std::optional<base::Micros> observed) {
  return prop(json::value(boost::json::string(s)), observed);
}

void stamp_hints(json::object& e, const ParseHints& h) {
  if (!h.ref_area.empty()) {
    e["refArea"] = json::object{{"type", "Relationship"}, {"object", h.ref_area}};
  }
  if (h.location) {
    e["location"] = json::object{
        {"type", "GeoProperty"},
        {"value", json::object{{"type", "Point"},
                               {"coordinates", json::array{(*h.location)[0], (*h.location)[1]}}}}};
  }
}

base::Result<json::value> parse_json(std::string_view body) {
  auto doc = json::parse(body);
  if (!doc) {
    std::string head(body.substr(0, 60));
    std::ranges::replace(head, '\n', ' ');
    return std::unexpected(bad_answer(fmt::format("the answer is not JSON ({}): '{}'",
                                                  doc.error().detail, head)));
  }
  return std::move(*doc);
}

// data.go.kr style: {"response":{"header":{"resultCode","resultMsg"},"body":{"items":...}}};
// AirKorea puts body first and items as a plain array, KMA as {"item": [...]}.
base::Result<json::array> data_go_kr_items(const json::value& doc, std::string_view api) {
  const auto* response = member(doc, "response");
  const auto* header = response ? member(*response, "header") : nullptr;
  if (!header) return std::unexpected(bad_answer(fmt::format("{}: no response.header", api)));
  const auto code = string_of(member(*header, "resultCode"));
  if (code != "00") {
    const auto msg = string_of(member(*header, "resultMsg"));
    return std::unexpected(bad_answer(fmt::format("{}: resultCode {} {}", api,
                                                  code.empty() ? "?" : code, msg)));
  }
  const auto* body = member(*response, "body");
  const auto* items = body ? member(*body, "items") : nullptr;
  if (items && items->is_object()) items = member(*items, "item");
  if (!items || items->is_null() || (items->is_string() && items->get_string().empty())) {
    return json::array{};
  }
  if (!items->is_array()) return std::unexpected(bad_answer(fmt::format("{}: items is not a list", api)));
  return items->get_array();
}

// Stable short keys for ids made from text (FNV-1a 64).
std::uint64_t fnv1a(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string safe_key(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c <= ' ' || c == '/' || c == '?' || c == '#' || c == '%' || c == '<' || c == '>' ||
        c == '"' || c == '{' || c == '}' || c == '|' || c == '\\' || c == '^' || c == '`') {
      out += fmt::format("%{:02X}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// KMA precipitation/snow texts: "강수없음", "1mm 미만", "1.0mm", "30.0~50.0mm", "50.0mm 이상",
// "적설없음", "1cm 미만", "5.0cm". Returns the lower bound in mm (or cm) as a number.
std::optional<double> kma_amount(const json::value* v) {
  const auto s = string_of(v);
  if (s.find("없음") != std::string::npos) return 0.0;
  if (s.find("미만") != std::string::npos) return 0.5;
  std::string digits_part;
  for (char c : s) {
    if ((c >= '0' && c <= '9') || c == '.') {
      digits_part += c;
    } else if (!digits_part.empty()) {
      break;
    }
  }
  if (digits_part.empty()) return kma_number(v);
  json::value as_string(digits_part);
  return kma_number(&as_string);
}

void set_weather(json::object& e, std::string_view category, const json::value* raw,
                 std::optional<base::Micros> at) {
  if (category == "T1H" || category == "TMP") {
    if (auto x = kma_number(raw)) e["temperature"] = prop(*x, at, "CEL");
  } else if (category == "REH") {
    if (auto x = kma_number(raw)) e["relativeHumidity"] = prop(*x / 100.0, at);
  } else if (category == "RN1" || category == "PCP") {
    if (auto x = kma_amount(raw)) e["precipitation"] = prop(*x, at, "MMT");
  } else if (category == "WSD") {
    if (auto x = kma_number(raw)) e["windSpeed"] = prop(*x, at, "MTS");
  } else if (category == "VEC") {
    if (auto x = kma_number(raw)) e["windDirection"] = prop(*x, at, "DD");
  } else if (category == "SNO") {
    if (auto x = kma_amount(raw)) e["snowHeight"] = prop(*x, at, "CMT");
  } else if (category == "POP") {
    if (auto x = kma_number(raw)) e["precipitationProbability"] = prop(*x / 100.0, at);
  } else if (category == "PTY") {
    if (auto x = kma_number(raw)) e["precipitationType"] = prop(static_cast<int>(*x), at);
  } else if (category == "SKY") {
    if (auto x = kma_number(raw)) e["skyCondition"] = prop(static_cast<int>(*x), at);
  }
}

}  // namespace

GridPoint kma_grid(double lat, double lon) {
  constexpr double kEarthKm = 6371.00877, kGridKm = 5.0;
  constexpr double kDeg = std::numbers::pi / 180.0;
  constexpr double slat1 = 30.0 * kDeg, slat2 = 60.0 * kDeg, olon = 126.0 * kDeg,
                   olat = 38.0 * kDeg;
  const double re = kEarthKm / kGridKm;
  const double quarter = std::numbers::pi * 0.25;
  double sn = std::tan(quarter + slat2 * 0.5) / std::tan(quarter + slat1 * 0.5);
  sn = std::log(std::cos(slat1) / std::cos(slat2)) / std::log(sn);
  const double sf = std::pow(std::tan(quarter + slat1 * 0.5), sn) * std::cos(slat1) / sn;
  const double ro = re * sf / std::pow(std::tan(quarter + olat * 0.5), sn);
  const double ra = re * sf / std::pow(std::tan(quarter + lat * kDeg * 0.5), sn);
  double theta = lon * kDeg - olon;
  if (theta > std::numbers::pi) theta -= 2.0 * std::numbers::pi;
  if (theta < -std::numbers::pi) theta += 2.0 * std::numbers::pi;
  theta *= sn;
  return {static_cast<int>(std::floor(ra * std::sin(theta) + 43 + 0.5)),
          static_cast<int>(std::floor(ro - ra * std::cos(theta) + 136 + 0.5))};
}

std::optional<base::Micros> kst_micros(int year, int month, int day, int hour, int minute) {
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 24 || minute < 0 ||
      minute > 59 || (hour == 24 && minute != 0)) {
    return std::nullopt;
  }
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kDays[month - 1] || (month == 2 && day == 29 && !leap)) return std::nullopt;
  const std::int64_t days = days_from_civil(year, static_cast<unsigned>(month),
                                            static_cast<unsigned>(day));
  const std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 - 9 * 3600;
  return seconds * 1'000'000;
}

std::optional<base::Micros> parse_kst(std::string_view date, std::string_view hhmm) {
  std::string d;
  for (char c : date) {
    if (c != '-' && c != '.') d += c;
  }
  std::string t;
  for (char c : hhmm) {
    if (c != ':') t += c;
  }
  if (d.size() != 8 || t.size() != 4) return std::nullopt;
  const auto y = digits(std::string_view(d).substr(0, 4));
  const auto mo = digits(std::string_view(d).substr(4, 2));
  const auto dd = digits(std::string_view(d).substr(6, 2));
  const auto h = digits(std::string_view(t).substr(0, 2));
  const auto mi = digits(std::string_view(t).substr(2, 2));
  if (!y || !mo || !dd || !h || !mi) return std::nullopt;
  return kst_micros(*y, *mo, *dd, *h, *mi);
}

std::optional<base::Micros> parse_kst(std::string_view s) {
  // "2024-07-02 24:00", "20260826 0110", "202608231100"
  if (const auto space = s.find(' '); space != std::string_view::npos) {
    return parse_kst(s.substr(0, space), s.substr(space + 1));
  }
  if (s.size() == 12) return parse_kst(s.substr(0, 8), s.substr(8));
  return std::nullopt;
}

std::string_view type_name(Type t) {
  switch (t) {
    case Type::kKmaNcst: return "kma-ncst";
    case Type::kKmaFcst: return "kma-fcst";
    case Type::kAirKoreaProvince: return "airkorea-province";
    case Type::kAirKoreaStation: return "airkorea-station";
    case Type::kSeoulCitydata: return "seoul-citydata";
  }
  return "";
}

std::optional<Type> parse_type(std::string_view s) {
  for (auto t : {Type::kKmaNcst, Type::kKmaFcst, Type::kAirKoreaProvince, Type::kAirKoreaStation,
                 Type::kSeoulCitydata}) {
    if (type_name(t) == s) return t;
  }
  return std::nullopt;
}

base::Result<Parsed> parse_kma_ncst(std::string_view body, const ParseHints& hints) {
  auto doc = parse_json(body);
  if (!doc) return std::unexpected(doc.error());
  auto items = data_go_kr_items(*doc, "KMA getUltraSrtNcst");
  if (!items) return std::unexpected(items.error());
  Parsed out;
  std::map<std::string, json::object> by_point;
  for (const auto& item : *items) {
    const auto nx = string_of(member(item, "nx")), ny = string_of(member(item, "ny"));
    const auto at = parse_kst(string_of(member(item, "baseDate")), string_of(member(item, "baseTime")));
    if (!digits(nx) || !digits(ny) || !at) {
      ++out.skipped;
      continue;
    }
    const auto id = fmt::format("urn:ngsi-ld:WeatherObserved:kma:{}_{}", nx, ny);
    auto& e = by_point[id];
    if (e.empty()) {
      e = json::object{{"id", id}, {"type", "WeatherObserved"},
                       {"dateObserved", sprop(base::format_iso8601(*at), std::nullopt)},
                       {"source", sprop("KMA getUltraSrtNcst", std::nullopt)}};
      stamp_hints(e, hints);
    }
    const auto before = e.size();
    set_weather(e, string_of(member(item, "category")), member(item, "obsrValue"), at);
    if (e.size() == before) ++out.skipped;
  }
  for (auto& [id, e] : by_point) out.entities.push_back({std::move(e), std::string(kWeatherContext)});
  return out;
}

base::Result<Parsed> parse_kma_fcst(std::string_view body, const ParseHints& hints) {
  auto doc = parse_json(body);
  if (!doc) return std::unexpected(doc.error());
  auto items = data_go_kr_items(*doc, "KMA getVilageFcst");
  if (!items) return std::unexpected(items.error());
  Parsed out;
  std::map<std::string, json::object> by_time;
  for (const auto& item : *items) {
    const auto nx = string_of(member(item, "nx")), ny = string_of(member(item, "ny"));
    const auto date = string_of(member(item, "fcstDate")), time = string_of(member(item, "fcstTime"));
    const auto valid = parse_kst(date, time);
    const auto issued = parse_kst(string_of(member(item, "baseDate")), string_of(member(item, "baseTime")));
    if (!digits(nx) || !digits(ny) || !valid || !issued) {
      ++out.skipped;
      continue;
    }
    const auto id = fmt::format("urn:ngsi-ld:WeatherForecast:kma:{}_{}:{}{}", nx, ny, date, time);
    auto& e = by_time[id];
    if (e.empty()) {
      e = json::object{{"id", id}, {"type", "WeatherForecast"},
                       {"validFrom", sprop(base::format_iso8601(*valid), std::nullopt)},
                       {"validTo", sprop(base::format_iso8601(*valid + 3'600'000'000), std::nullopt)},
                       {"dateIssued", sprop(base::format_iso8601(*issued), std::nullopt)},
                       {"source", sprop("KMA getVilageFcst", std::nullopt)}};
      stamp_hints(e, hints);
    }
    const auto before = e.size();
    set_weather(e, string_of(member(item, "category")), member(item, "fcstValue"), issued);
    if (e.size() == before) ++out.skipped;
  }
  for (auto& [id, e] : by_time) out.entities.push_back({std::move(e), std::string(kWeatherContext)});
  return out;
}

base::Result<Parsed> parse_airkorea(std::string_view body, const ParseHints& hints) {
  auto doc = parse_json(body);
  if (!doc) return std::unexpected(doc.error());
  auto items = data_go_kr_items(*doc, "AirKorea");
  if (!items) return std::unexpected(items.error());
  Parsed out;
  std::map<std::string, bool> seen;
  for (const auto& item : *items) {
    auto station = string_of(member(item, "stationName"));
    if (station.empty()) station = hints.station;
    const auto at = parse_kst(string_of(member(item, "dataTime")));
    if (station.empty() || !at) {
      ++out.skipped;
      continue;
    }
    const auto id = "urn:ngsi-ld:AirQualityObserved:airkorea:" + safe_key(station);
    // Per-station answers list the newest hour first; keep only it.
    if (!seen.emplace(id, true).second) continue;
    json::object e{{"id", id}, {"type", "AirQualityObserved"},
                   {"name", sprop(station, std::nullopt)},
                   {"dateObserved", sprop(base::format_iso8601(*at), std::nullopt)},
                   {"source", sprop("AirKorea", std::nullopt)}};
    stamp_hints(e, hints);
    struct Field { const char* value; const char* flag; const char* attribute; const char* unit; };
    static constexpr Field kFields[] = {
        {"pm10Value", "pm10Flag", "pm10", "GQ"}, {"pm25Value", "pm25Flag", "pm25", "GQ"},
        {"o3Value", "o3Flag", "o3", "59"},       {"no2Value", "no2Flag", "no2", "59"},
        {"so2Value", "so2Flag", "so2", "59"},    {"coValue", "coFlag", "co", "59"},
        {"khaiValue", nullptr, "airQualityIndex", ""}};
    std::size_t values = 0;
    for (const auto& f : kFields) {
      // A flag ("통신장애", "점검및교정", ...) means the value is not a measurement.
      if (f.flag && !string_of(member(item, f.flag)).empty()) continue;
      if (auto x = number_of(member(item, f.value))) {
        e[f.attribute] = prop(*x, at, f.unit);
        ++values;
      }
    }
    for (auto [grade, attribute] : {std::pair{"pm10Grade", "pm10Grade"},
                                    std::pair{"pm25Grade", "pm25Grade"},
                                    std::pair{"khaiGrade", "airQualityLevel"}}) {
      if (auto x = number_of(member(item, grade)); x && *x >= 1 && *x <= 4) {
        e[attribute] = prop(static_cast<int>(*x), at);
      }
    }
    if (values == 0) {
      ++out.skipped;
      continue;
    }
    out.entities.push_back({std::move(e), std::string(kEnvironmentContext)});
  }
  return out;
}

base::Result<Parsed> parse_seoul_citydata(std::string_view body, const ParseHints& hints) {
  auto doc = parse_json(body);
  if (!doc) return std::unexpected(doc.error());
  const auto* result = member(*doc, "RESULT");
  const auto code = result ? string_of(member(*result, "RESULT.CODE")) : std::string();
  if (code != "INFO-000") {
    const auto msg = result ? string_of(member(*result, "RESULT.MESSAGE")) : std::string();
    return std::unexpected(bad_answer(fmt::format("Seoul citydata: {} {}",
                                                  code.empty() ? "no RESULT.CODE" : code, msg)));
  }
  const auto* city = member(*doc, "CITYDATA");
  if (!city || !city->is_object()) return std::unexpected(bad_answer("Seoul citydata: no CITYDATA"));
  const auto area = string_of(member(*city, "AREA_CD"));
  const auto area_name = string_of(member(*city, "AREA_NM"));
  if (area.empty()) return std::unexpected(bad_answer("Seoul citydata: no AREA_CD"));
  const auto key = safe_key(area);
  Parsed out;
  auto list = [&](const json::value* v) -> json::array {
    if (v && v->is_array()) return v->get_array();
    if (v && v->is_object()) return json::array{*v};
    return {};
  };

  // Live population congestion.
  for (const auto& p : list(member(*city, "LIVE_PPLTN_STTS"))) {
    const auto at = parse_kst(string_of(member(p, "PPLTN_TIME")));
    const auto level = string_of(member(p, "AREA_CONGEST_LVL"));
    if (!at || level.empty()) {
      ++out.skipped;
      continue;
    }
    static const std::map<std::string, std::string> kLevels{
        {"여유", "relaxed"}, {"보통", "normal"}, {"약간 붐빔", "slightlyBusy"}, {"붐빔", "busy"}};
    const auto it = kLevels.find(level);
    json::object e{{"id", "urn:ngsi-ld:CrowdFlowObserved:seoul-citydata:" + key},
                   {"type", "CrowdFlowObserved"},
                   {"name", sprop(area_name, std::nullopt)},
                   {"dateObserved", sprop(base::format_iso8601(*at), std::nullopt)},
                   {"congestionLevel", sprop(it == kLevels.end() ? "unknown" : it->second, at)},
                   {"congested", prop(it != kLevels.end() && (it->second == "busy" ||
                                                              it->second == "slightlyBusy"), at)}};
    if (auto msg = string_of(member(p, "AREA_CONGEST_MSG")); !msg.empty()) {
      e["congestionMessage"] = sprop(msg, at);
    }
    if (auto x = number_of(member(p, "AREA_PPLTN_MIN"))) e["peopleCountMin"] = prop(static_cast<std::int64_t>(*x), at);
    if (auto x = number_of(member(p, "AREA_PPLTN_MAX"))) e["peopleCountMax"] = prop(static_cast<std::int64_t>(*x), at);
    stamp_hints(e, hints);
    out.entities.push_back({std::move(e), std::string(kTransportationContext)});
  }

  // Road traffic per ITS standard link, with its geometry.
  const auto* road = member(*city, "ROAD_TRAFFIC_STTS");
  const auto* avg = road ? member(*road, "AVG_ROAD_DATA") : nullptr;
  const auto road_time = avg ? parse_kst(string_of(member(*avg, "ROAD_TRAFFIC_TIME"))) : std::nullopt;
  for (const auto& link : list(road ? member(*road, "ROAD_TRAFFIC_STTS") : nullptr)) {
    const auto id = string_of(member(link, "LINK_ID"));
    const auto speed = number_of(member(link, "SPD"));
    if (id.empty() || !digits(id) || !speed) {
      ++out.skipped;
      continue;
    }
    static const std::map<std::string, std::string> kIdx{
        {"원활", "free"}, {"서행", "slow"}, {"정체", "congested"}};
    json::object e{{"id", "urn:ngsi-ld:RoadSegment:its:" + id}, {"type", "RoadSegment"},
                   {"averageSpeed", prop(*speed, road_time, "KMH")}};
    if (const auto it = kIdx.find(string_of(member(link, "IDX"))); it != kIdx.end()) {
      e["congestionLevel"] = sprop(it->second, road_time);
    }
    if (auto name = string_of(member(link, "ROAD_NM")); !name.empty()) e["name"] = sprop(name, std::nullopt);
    if (auto d = number_of(member(link, "DIST"))) e["length"] = prop(*d, std::nullopt, "MTR");
    json::array coords;
    const auto xy = string_of(member(link, "XYLIST"));
    std::size_t start = 0;
    bool good = !xy.empty();
    while (good && start <= xy.size()) {
      const auto end = std::min(xy.find('|', start), xy.size());
      const auto pair = std::string_view(xy).substr(start, end - start);
      const auto us = pair.find('_');
      json::value lon(std::string(pair.substr(0, us == std::string_view::npos ? 0 : us)));
      json::value lat(std::string(us == std::string_view::npos ? "" : pair.substr(us + 1)));
      auto x = number_of(&lon), y = number_of(&lat);
      if (!x || !y || *x < -180 || *x > 180 || *y < -90 || *y > 90) {
        good = false;
        break;
      }
      coords.push_back(json::array{*x, *y});
      start = end + 1;
    }
    if (good && coords.size() >= 2) {
      e["location"] = json::object{{"type", "GeoProperty"},
                                   {"value", json::object{{"type", "LineString"},
                                                          {"coordinates", std::move(coords)}}}};
    }
    out.entities.push_back({std::move(e), std::string(kTransportationContext)});
  }

  // Weather and air at the area, and the weather warnings in force.
  for (const auto& w : list(member(*city, "WEATHER_STTS"))) {
    const auto at = parse_kst(string_of(member(w, "WEATHER_TIME")));
    if (!at) {
      ++out.skipped;
      continue;
    }
    json::object e{{"id", "urn:ngsi-ld:WeatherObserved:seoul-citydata:" + key},
                   {"type", "WeatherObserved"}, {"name", sprop(area_name, std::nullopt)},
                   {"dateObserved", sprop(base::format_iso8601(*at), std::nullopt)},
                   {"source", sprop("Seoul citydata", std::nullopt)}};
    if (auto x = number_of(member(w, "TEMP"))) e["temperature"] = prop(*x, at, "CEL");
    if (auto x = number_of(member(w, "HUMIDITY"))) e["relativeHumidity"] = prop(*x / 100.0, at);
    if (auto x = number_of(member(w, "WIND_SPD"))) e["windSpeed"] = prop(*x, at, "MTS");
    if (auto x = kma_amount(member(w, "PRECIPITATION")); x && string_of(member(w, "PRECIPITATION")) != "-") {
      e["precipitation"] = prop(*x, at, "MMT");
    }
    stamp_hints(e, hints);
    out.entities.push_back({std::move(e), std::string(kWeatherContext)});
    json::object air{{"id", "urn:ngsi-ld:AirQualityObserved:seoul-citydata:" + key},
                     {"type", "AirQualityObserved"}, {"name", sprop(area_name, std::nullopt)},
                     {"dateObserved", sprop(base::format_iso8601(*at), std::nullopt)},
                     {"source", sprop("Seoul citydata", std::nullopt)}};
    std::size_t values = 0;
    if (auto x = number_of(member(w, "PM10"))) { air["pm10"] = prop(*x, at, "GQ"); ++values; }
    if (auto x = number_of(member(w, "PM25"))) { air["pm25"] = prop(*x, at, "GQ"); ++values; }
    if (values > 0) {
      stamp_hints(air, hints);
      out.entities.push_back({std::move(air), std::string(kEnvironmentContext)});
    }
    for (const auto& n : list(member(w, "NEWS_LIST"))) {
      const auto issued = parse_kst(string_of(member(n, "ANNOUNCE_TIME")));
      const auto kind = string_of(member(n, "WARN_VAL"));
      const auto stress = string_of(member(n, "WARN_STRESS"));
      if (!issued || kind.empty()) {
        ++out.skipped;
        continue;
      }
      const auto digest = fnv1a(kind + stress + string_of(member(n, "ANNOUNCE_TIME")));
      json::object m{{"id", fmt::format("urn:ngsi-ld:DisasterMessage:seoul-citydata:warn-{:016x}", digest)},
                     {"type", "DisasterMessage"},
                     {"message", sprop(string_of(member(n, "WARN_MSG")), std::nullopt)},
                     {"category", sprop(fmt::format("{} {}", kind, stress), std::nullopt)},
                     {"issuedAt", prop(json::object{{"@type", "DateTime"},
                                                    {"@value", base::format_iso8601(*issued)}},
                                       std::nullopt)},
                     {"areaName", sprop(area_name, std::nullopt)}};
      out.entities.push_back({std::move(m), std::string()});
    }
  }

  // Emergency disaster texts (재난문자).
  for (const auto& d : list(member(*city, "LIVE_DST_MESSAGE"))) {
    const auto text = string_of(member(d, "MSG_CN"));
    const auto issued = parse_kst(string_of(member(d, "CRT_DT")));
    if (text.empty() || !issued) {
      ++out.skipped;
      continue;
    }
    const auto digest = fnv1a(text + string_of(member(d, "CRT_DT")));
    auto category = string_of(member(d, "DST_SE_NM"));
    if (auto step = string_of(member(d, "EMRG_STEP_NM")); !step.empty()) {
      category += category.empty() ? step : " " + step;
    }
    json::object m{{"id", fmt::format("urn:ngsi-ld:DisasterMessage:seoul-citydata:{:016x}", digest)},
                   {"type", "DisasterMessage"},
                   {"message", sprop(text, std::nullopt)},
                   {"category", sprop(category.empty() ? "disaster" : category, std::nullopt)},
                   {"issuedAt", prop(json::object{{"@type", "DateTime"},
                                                  {"@value", base::format_iso8601(*issued)}},
                                     std::nullopt)},
                   {"areaName", sprop(area_name, std::nullopt)}};
    out.entities.push_back({std::move(m), std::string()});
  }
  return out;
}

base::Result<Parsed> parse_body(Type type, std::string_view body, const ParseHints& hints) {
  switch (type) {
    case Type::kKmaNcst: return parse_kma_ncst(body, hints);
    case Type::kKmaFcst: return parse_kma_fcst(body, hints);
    case Type::kAirKoreaProvince:
    case Type::kAirKoreaStation: return parse_airkorea(body, hints);
    case Type::kSeoulCitydata: return parse_seoul_citydata(body, hints);
  }
  return base::fail(ErrorKind::kInternalError, "unknown connector type");
}

}  // namespace cityroom::connectors
