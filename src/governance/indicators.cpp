#include "governance/indicators.h"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "governance/entity_view.h"
#include "governance/pledges.h"
#include "governance/search_index.h"

namespace cityroom::governance {
namespace {

using base::ErrorKind;

// Midnight in city time of a civil date, as UTC micros.
base::Micros city_midnight(int y, unsigned m, unsigned d) {
  const auto t = base::parse_iso8601(fmt::format("{:04}-{:02}-{:02}T00:00:00Z", y, m, d));
  return *t - static_cast<base::Micros>(kCityUtcOffsetSeconds) * 1'000'000;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::optional<Period> parse_period(std::string_view s) {
  if (s.size() < 4 || !all_digits(s.substr(0, 4))) return std::nullopt;
  const int y = std::atoi(std::string(s.substr(0, 4)).c_str());
  if (y < 1900 || y > 2200) return std::nullopt;
  if (s.size() == 4) return Period{std::string(s), city_midnight(y, 1, 1), city_midnight(y + 1, 1, 1)};
  if (s.size() == 7 && s[4] == '-' && s[5] == 'Q' && s[6] >= '1' && s[6] <= '4') {
    const unsigned q = static_cast<unsigned>(s[6] - '0');
    const unsigned m = 3 * (q - 1) + 1;
    return Period{std::string(s), city_midnight(y, m, 1),
                  q == 4 ? city_midnight(y + 1, 1, 1) : city_midnight(y, m + 3, 1)};
  }
  if (s.size() == 7 && s[4] == '-' && all_digits(s.substr(5))) {
    const unsigned m = static_cast<unsigned>(std::atoi(std::string(s.substr(5)).c_str()));
    if (m < 1 || m > 12) return std::nullopt;
    return Period{std::string(s), city_midnight(y, m, 1),
                  m == 12 ? city_midnight(y + 1, 1, 1) : city_midnight(y, m + 1, 1)};
  }
  return std::nullopt;
}

Period period_of(std::string_view periodicity, base::Micros t) {
  const std::string local =
      base::format_iso8601(t + static_cast<base::Micros>(kCityUtcOffsetSeconds) * 1'000'000);
  const std::string year = local.substr(0, 4);
  if (periodicity == "year") return *parse_period(year);
  const int month = std::atoi(local.substr(5, 2).c_str());
  if (periodicity == "quarter") return *parse_period(fmt::format("{}-Q{}", year, (month - 1) / 3 + 1));
  return *parse_period(local.substr(0, 7));
}

base::Result<json::object> indicator_from_definition(const json::object& body) {
  static constexpr std::string_view kMembers[] = {"key", "name", "nameEn", "department", "unit",
                                                  "direction", "periodicity", "targets",
                                                  "formula", "modifiedBy"};
  for (const auto& [k, v] : body) {
    if (std::find(std::begin(kMembers), std::end(kMembers), std::string_view(k)) == std::end(kMembers)) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("'{}' is not a member of an indicator definition", std::string(k)));
    }
  }
  const auto text = [&](std::string_view k, bool required) -> base::Result<std::string> {
    const auto* v = json::find(body, k);
    if (!v) {
      if (required) return base::fail(ErrorKind::kBadRequestData, fmt::format("{} is required", k));
      return std::string();
    }
    if (!v->is_string() || v->as_string().empty()) {
      return base::fail(ErrorKind::kBadRequestData, fmt::format("{} must be a non-empty string", k));
    }
    return std::string(v->as_string());
  };
  auto key = text("key", true);
  auto name = text("name", true);
  auto unit = text("unit", true);
  auto direction = text("direction", true);
  auto periodicity = text("periodicity", true);
  auto name_en = text("nameEn", false);
  auto department = text("department", false);
  auto by = text("modifiedBy", false);
  for (const auto* r : {&key, &name, &unit, &direction, &periodicity, &name_en, &department, &by}) {
    if (!*r) return std::unexpected(r->error());
  }
  if (key->find_first_of(" /?#%") != std::string::npos) {
    return base::fail(ErrorKind::kBadRequestData, "key must not hold spaces or / ? # %");
  }
  if (*direction != "higher" && *direction != "lower") {
    return base::fail(ErrorKind::kBadRequestData, "direction must be higher or lower (which is better)");
  }
  if (*periodicity != "month" && *periodicity != "quarter" && *periodicity != "year") {
    return base::fail(ErrorKind::kBadRequestData, "periodicity must be month, quarter or year");
  }
  json::object e{{"id", "urn:ngsi-ld:Indicator:" + *key}, {"type", kIndicatorType},
                 {"name", *name},      {"unit", *unit},
                 {"direction", *direction}, {"periodicity", *periodicity},
                 {"source", "manual"}};
  if (!name_en->empty()) e["nameEn"] = *name_en;
  if (!department->empty()) e["department"] = *department;
  if (!by->empty()) e["modifiedBy"] = *by;
  if (const auto* t = json::find(body, "targets")) {
    if (!t->is_object()) return base::fail(ErrorKind::kBadRequestData, "targets must be {\"<period>\": number}");
    for (const auto& [p, v] : t->as_object()) {
      if (!parse_period(p) || !v.is_number()) {
        return base::fail(ErrorKind::kBadRequestData,
                          fmt::format("targets: '{}' must be a period (2026, 2026-Q4, 2026-11) with a number",
                                      std::string(p)));
      }
    }
    e["targets"] = json::object{{"type", "JsonProperty"}, {"json", *t}};
  }
  if (const auto* f = json::find(body, "formula")) {
    const auto* fo = f->if_object();
    const auto kind = fo ? json::get_string(*fo, "kind") : std::nullopt;
    const auto type = fo ? json::get_string(*fo, "entityType") : std::nullopt;
    if (!kind || (*kind != "count" && *kind != "average") || !type || type->empty()) {
      return base::fail(ErrorKind::kBadRequestData,
                        "formula needs kind (count or average) and entityType");
    }
    if (*kind == "average" && !json::get_string(*fo, "attribute")) {
      return base::fail(ErrorKind::kBadRequestData, "an average formula needs attribute");
    }
    for (const auto& [k, v] : *fo) {
      if (k != "kind" && k != "entityType" && k != "attribute" && k != "area" && k != "timeAttribute") {
        return base::fail(ErrorKind::kBadRequestData,
                          fmt::format("formula: '{}' is not one of kind, entityType, attribute, area, timeAttribute",
                                      std::string(k)));
      }
      if (!v.is_string() || v.as_string().empty()) {
        return base::fail(ErrorKind::kBadRequestData, fmt::format("formula.{} must be a string", std::string(k)));
      }
    }
    e["formula"] = json::object{{"type", "JsonProperty"}, {"json", *f}};
    e["source"] = "formula";
  }
  return e;
}

base::Result<json::object> indicator_value_fragment(const json::object& body,
                                                    std::string_view periodicity) {
  for (const auto& [k, v] : body) {
    if (k != "period" && k != "value" && k != "by") {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("'{}' is not a member of a value entry (period, value, by)", std::string(k)));
    }
  }
  const auto period_s = json::get_string(body, "period");
  const auto* value = json::find(body, "value");
  const auto by = json::get_string(body, "by");
  if (!period_s || !value || !value->is_number() || !std::isfinite(value->to_number<double>()) || !by || by->empty()) {
    return base::fail(ErrorKind::kBadRequestData, "a value entry needs period, a numeric value and by");
  }
  const auto period = parse_period(*period_s);
  if (!period) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("period '{}' is not 2026, 2026-Q4 or 2026-11", *period_s));
  }
  const auto expected = periodicity == "year" ? 4u : 7u;
  const bool quarter = period_s->find('Q') != std::string_view::npos;
  if (period_s->size() != expected || (periodicity == "quarter") != quarter) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("period '{}' is not a {} (the indicator's periodicity)", *period_s,
                                  periodicity));
  }
  return json::object{{"indicatorValue", json::object{{"type", "Property"},
                                             {"value", *value},
                                             {"observedAt", base::format_iso8601(period->start)}}},
                      {"period", *period_s},
                      {"modifiedBy", *by}};
}

std::optional<double> achievement(double value, std::optional<double> target,
                                  std::string_view direction) {
  if (!target) return std::nullopt;
  if (direction == "lower") {
    if (value == 0) return *target == 0 ? std::optional(100.0) : std::nullopt;
    return round1(*target / value * 100.0);
  }
  if (*target == 0) return std::nullopt;
  return round1(value / *target * 100.0);
}

std::pair<std::string, std::string> trend(std::optional<double> previous, double last,
                                          std::string_view direction) {
  if (!previous) return {"none", "steady"};
  if (last == *previous) return {"flat", "steady"};
  const bool up = last > *previous;
  const bool better = up == (direction != "lower");
  return {up ? "up" : "down", better ? "improving" : "worsening"};
}

}  // namespace cityroom::governance
