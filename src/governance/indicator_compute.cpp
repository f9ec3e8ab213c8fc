#include "governance/indicator_compute.h"

#include <map>

#include <fmt/format.h>

#include "governance/entity_view.h"

namespace cityroom::governance {
namespace {

// The first instance's value member (value or object) of an internal-form attribute.
const json::value* first_value(const model::Entity& e, const std::string& attr) {
  const auto* a = json::find(e, attr);
  if (!a || !a->is_array() || a->as_array().empty() || !a->as_array()[0].is_object()) return nullptr;
  const auto& inst = a->as_array()[0].as_object();
  if (const auto* v = json::find(inst, "value")) return v;
  return json::find(inst, "object");
}

std::optional<base::Micros> time_value(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_string()) return base::parse_iso8601(v->as_string(), true);
  if (v->is_object()) {
    if (auto s = json::get_string(v->as_object(), "@value")) return base::parse_iso8601(*s, true);
  }
  return std::nullopt;
}

std::optional<double> target_of(const json::object& kv, std::string_view period) {
  const auto* t = json::find(kv, "targets");
  if (!t || !t->is_object()) return std::nullopt;
  const auto* v = json::find(t->as_object(), period);
  if (!v || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

}  // namespace

base::Result<double> compute_formula(hub::Hub& hub, const ldcontext::Context& core,
                                     std::string_view tenant, const json::object& formula,
                                     const Period& period) {
  const std::string kind(json::get_string(formula, "kind").value_or(""));
  const std::string type = core.expand(json::get_string(formula, "entityType").value_or(""));
  const auto area = json::get_string(formula, "area");
  const auto time_attr = json::get_string(formula, "timeAttribute");
  const std::string ref_area = core.expand("refArea");
  const std::string time_iri = time_attr ? core.expand(*time_attr) : std::string();
  store::EntityQuery q;
  q.any_of_types = std::vector<std::string>{type};
  q.predicate = [&](const model::Entity& e) {
    if (area) {
      const auto* v = first_value(e, ref_area);
      if (!v || !v->is_string() || v->as_string() != *area) return false;
    }
    if (time_attr) {
      const auto t = time_value(first_value(e, time_iri));
      if (!t || *t < period.start || *t >= period.end) return false;
    }
    return true;
  };
  if (kind == "count") {
    q.limit = 1;
    q.count = true;
    auto r = hub.query(tenant, q);
    if (!r) return std::unexpected(r.error());
    return static_cast<double>(r->total.value_or(0));
  }
  const std::string attr = core.expand(json::get_string(formula, "attribute").value_or(""));
  q.limit = kFormulaEntitiesMax;
  auto r = hub.query(tenant, q);
  if (!r) return std::unexpected(r.error());
  double sum = 0;
  std::size_t n = 0;
  for (const auto& e : r->entities) {
    store::HistoryQuery h;
    h.entity_id = std::string(e.at("id").as_string());
    h.attributes = std::vector<std::string>{attr};
    h.from = period.start;
    h.to = period.end;
    h.visit = [&](std::string_view, base::Micros, std::int64_t, const json::value& v) {
      if (v.is_number()) {
        sum += v.to_number<double>();
        ++n;
      }
    };
    auto series = hub.history(tenant, h);
    if (!series) return std::unexpected(series.error());
  }
  if (n == 0) {
    return base::fail(base::ErrorKind::kResourceNotFound,
                      fmt::format("no value of the attribute was recorded in {}", period.label));
  }
  return sum / static_cast<double>(n);
}

base::Result<std::vector<IndicatorPoint>> indicator_series(hub::Hub& hub, std::string_view tenant,
                                                           const json::object& kv) {
  store::HistoryQuery h;
  h.entity_id = str(kv, "id");
  h.attributes = std::vector<std::string>{iri("indicatorValue")};
  auto series = hub.history(tenant, h);
  if (!series) return std::unexpected(series.error());
  const std::string periodicity = str(kv, "periodicity");
  // period start → (instance, value): the latest write of a period wins.
  std::map<base::Micros, std::pair<std::int64_t, double>> by_period;
  for (const auto& s : *series) {
    for (const auto& row : s.rows) {
      if (!row.value.is_number()) continue;
      auto& slot = by_period[row.time];
      if (row.instance >= slot.first) slot = {row.instance, row.value.to_number<double>()};
    }
  }
  std::vector<IndicatorPoint> out;
  const std::string direction = str(kv, "direction");
  for (const auto& [start, p] : by_period) {
    IndicatorPoint point;
    point.period = period_of(periodicity, start).label;
    point.value = p.second;
    point.target = target_of(kv, point.period);
    point.achievement = achievement(point.value, point.target, direction);
    out.push_back(std::move(point));
  }
  return out;
}

json::object indicator_tile(const json::object& kv, const std::vector<IndicatorPoint>& series) {
  json::object t;
  for (std::string_view k : {"id", "name", "nameEn", "department", "unit", "direction",
                             "periodicity", "source"}) {
    if (const auto* v = json::find(kv, k)) t[k] = *v;
  }
  const auto opt = [](std::optional<double> d) { return d ? json::value(*d) : json::value(nullptr); };
  if (series.empty()) {
    t["period"] = nullptr;
    t["value"] = nullptr;
    t["target"] = nullptr;
    t["achievement"] = nullptr;
    t["trend"] = "none";
    t["trendMeaning"] = "steady";
    return t;
  }
  const auto& last = series.back();
  t["period"] = last.period;
  t["value"] = last.value;
  t["target"] = opt(last.target);
  t["achievement"] = opt(last.achievement);
  const auto [dir, meaning] =
      trend(series.size() > 1 ? std::optional(series[series.size() - 2].value) : std::nullopt,
            last.value, str(kv, "direction"));
  t["trend"] = dir;
  t["trendMeaning"] = meaning;
  return t;
}

}  // namespace cityroom::governance
