#include "governance/pledges.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "governance/csv.h"
#include "governance/entity_view.h"

namespace cityroom::governance {
namespace {

using base::ErrorKind;

base::Result<long> parse_int(std::string_view s, std::string_view what, std::size_t line) {
  long v = 0;
  bool any = false;
  for (char c : s) {
    if (c < '0' || c > '9' || v > 1'000'000'000) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("line {}: {} '{}' is not a whole number", line, what, s));
    }
    v = v * 10 + (c - '0');
    any = true;
  }
  if (!any) {
    return base::fail(ErrorKind::kBadRequestData, fmt::format("line {}: {} is empty", line, what));
  }
  return v;
}

// Counts per status code, in vocabulary order.
json::object status_counts(const std::map<std::string, std::size_t>& counts) {
  json::object o;
  for (const auto& s : kPledgeStatuses) {
    const auto it = counts.find(std::string(s.code));
    o[s.code] = it == counts.end() ? 0 : it->second;
  }
  return o;
}

struct Group {
  std::size_t count = 0;
  double progress_sum = 0;
  std::map<std::string, std::size_t> statuses;
  long order = 0;  // fieldNo, to list fields in the publisher's order
};

json::object group_json(const Group& g) {
  return {{"count", g.count},
          {"implementationRate", g.count ? round1(g.progress_sum / g.count) : 0.0},
          {"byStatus", status_counts(g.statuses)}};
}

bool is_date(std::string_view s) {
  return s.size() == 10 && base::parse_iso8601(s, true).has_value();
}

}  // namespace

std::optional<std::string_view> pledge_status_code(std::string_view v) {
  for (const auto& s : kPledgeStatuses) {
    if (v == s.code || v == s.label) return s.code;
  }
  return std::nullopt;
}

std::string_view pledge_status_label(std::string_view code) {
  for (const auto& s : kPledgeStatuses) {
    if (code == s.code) return s.label;
  }
  return {};
}

double round1(double x) { return std::round(x * 10.0) / 10.0; }

base::Result<std::vector<json::object>> pledges_from_csv(std::string_view csv,
                                                         std::string_view city_slug,
                                                         std::string_view modified_by) {
  auto table = parse_csv(csv);
  if (!table) return std::unexpected(table.error());
  static constexpr std::string_view kColumns[] = {"pledge_id", "field_no", "field",
                                                  "seq_in_field", "title", "status",
                                                  "progress_pct", "department"};
  for (auto c : kColumns) {
    if (table->column(c) == std::string_view::npos) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("the pledge table has no column '{}'", c));
    }
  }
  const auto col = [&](std::size_t r, std::string_view name) -> std::string {
    // Cells are trimmed: exported tables often pad them, and " 1-1" must not become an id.
    const auto i = table->column(name);
    if (i == std::string_view::npos) return std::string();
    std::string_view v = table->rows[r][i];
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) v.remove_suffix(1);
    return std::string(v);
  };
  std::vector<json::object> out;
  std::map<std::string, std::size_t> seen;
  for (std::size_t r = 0; r < table->rows.size(); ++r) {
    const std::size_t line = table->lines[r];
    const std::string key = col(r, "pledge_id");
    if (key.empty() || key.find_first_of(" /?#%") != std::string::npos) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("line {}: pledge_id '{}' is empty or not usable in an id",
                                    line, key));
    }
    if (!seen.emplace(key, line).second) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("line {}: pledge_id '{}' repeats line {}", line, key,
                                    seen[key]));
    }
    const auto status = pledge_status_code(col(r, "status"));
    if (!status) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("line {}: status '{}' is not one of 완료, 추진중, 보류, 폐기, 기타",
                                    line, col(r, "status")));
    }
    auto progress = parse_int(col(r, "progress_pct"), "progress_pct", line);
    if (!progress) return std::unexpected(progress.error());
    if (*progress > 100) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("line {}: progress_pct {} is above 100", line, *progress));
    }
    auto field_no = parse_int(col(r, "field_no"), "field_no", line);
    if (!field_no) return std::unexpected(field_no.error());
    auto seq = parse_int(col(r, "seq_in_field"), "seq_in_field", line);
    if (!seq) return std::unexpected(seq.error());
    if (col(r, "title").empty()) {
      return base::fail(ErrorKind::kBadRequestData, fmt::format("line {}: title is empty", line));
    }
    json::object e{{"id", fmt::format("urn:ngsi-ld:Pledge:{}:{}", city_slug, key)},
                   {"type", kPledgeType},
                   {"pledgeNo", key},
                   {"title", col(r, "title")},
                   {"field", col(r, "field")},
                   {"fieldNo", *field_no},
                   {"seqInField", *seq},
                   {"department", col(r, "department")},
                   {"status", *status},
                   {"progress", json::object{{"type", "Property"},
                                             {"value", *progress},
                                             {"unitCode", "P1"}}},
                   {"modifiedBy", modified_by}};
    if (const auto as_of = col(r, "as_of"); is_date(as_of)) {
      e["asOf"] = json::object{{"@type", "Date"}, {"@value", as_of}};
    }
    if (const auto city = col(r, "city"); !city.empty()) e["city"] = city;
    out.push_back(std::move(e));
  }
  return out;
}

base::Result<json::object> pledge_update_fragment(const json::object& body) {
  json::object f;
  const auto bad = [](std::string detail) {
    return base::fail(ErrorKind::kBadRequestData, std::move(detail));
  };
  for (const auto& [k, v] : body) {
    if (k == "status") {
      const auto code = v.is_string() ? pledge_status_code(v.as_string()) : std::nullopt;
      if (!code) return bad("status must be one of done, inProgress, onHold, abandoned, other "
                            "(or 완료, 추진중, 보류, 폐기, 기타)");
      f["status"] = *code;
    } else if (k == "progress") {
      if (!v.is_number() || v.to_number<double>() < 0 || v.to_number<double>() > 100) {
        return bad("progress must be a number from 0 to 100 (percent)");
      }
      f["progress"] = json::object{{"type", "Property"}, {"value", v}, {"unitCode", "P1"}};
    } else if (k == "budgetPlanned" || k == "budgetExecuted") {
      if (!v.is_number() || v.to_number<double>() < 0) {
        return bad(fmt::format("{} must be a non-negative number (KRW)", k));
      }
      f[k] = json::object{{"type", "Property"}, {"value", v}, {"unitCode", "KRW"}};
    } else if (k == "milestones") {
      if (!v.is_array()) return bad("milestones must be an array of {title, date, done}");
      for (const auto& m : v.as_array()) {
        const auto* o = m.if_object();
        const auto title = o ? json::get_string(*o, "title") : std::nullopt;
        const auto date = o ? json::get_string(*o, "date") : std::nullopt;
        const auto* done = o ? json::find(*o, "done") : nullptr;
        if (!title || title->empty() || !date || !is_date(*date) || (done && !done->is_bool())) {
          return bad("each milestone needs a title, a date YYYY-MM-DD and optionally done "
                     "(true/false)");
        }
      }
      f["milestones"] = json::object{{"type", "JsonProperty"}, {"json", v}};
    } else if (k == "evidence") {
      if (!v.is_array()) return bad("evidence must be an array of {title, url}");
      for (const auto& m : v.as_array()) {
        const auto* o = m.if_object();
        const auto title = o ? json::get_string(*o, "title") : std::nullopt;
        const auto url = o ? json::get_string(*o, "url") : std::nullopt;
        if (!title || title->empty() || !url || !base::is_uri(*url)) {
          return bad("each evidence document needs a title and a url");
        }
      }
      f["evidence"] = json::object{{"type", "JsonProperty"}, {"json", v}};
    } else if (k == "refIndicators") {
      if (!v.is_array() || v.as_array().empty()) {
        return bad("refIndicators must be a non-empty array of Indicator ids");
      }
      for (const auto& id : v.as_array()) {
        if (!id.is_string() || !base::is_uri(id.as_string())) {
          return bad("refIndicators must hold Indicator ids (URIs)");
        }
      }
      f["refIndicators"] = json::object{{"type", "Relationship"}, {"object", v}};
    } else if (k == "department" || k == "title" || k == "changeNote" || k == "modifiedBy") {
      if (!v.is_string() || v.as_string().empty()) return bad(fmt::format("{} must be a non-empty string", k));
      f[k] = v;
    } else {
      return bad(fmt::format("'{}' is not a pledge attribute staff can change", std::string(k)));
    }
  }
  if (!f.contains("modifiedBy")) return bad("modifiedBy (who makes the change) is required");
  if (f.size() == 1) return bad("nothing to change");
  return f;
}

json::object pledge_summary(const std::vector<json::object>& pledges) {
  Group all;
  std::map<std::string, Group> by_field, by_department;
  for (const auto& p : pledges) {
    const double progress = num(p, "progress").value_or(0);
    const std::string status = str(p, "status");
    for (Group* g : {&all, &by_field[str(p, "field")], &by_department[str(p, "department")]}) {
      ++g->count;
      g->progress_sum += progress;
      ++g->statuses[status];
    }
    by_field[str(p, "field")].order = static_cast<long>(num(p, "fieldNo").value_or(0));
  }
  json::object out{{"count", all.count},
                   {"implementationRate", all.count ? round1(all.progress_sum / all.count) : 0.0},
                   {"implementationRateExact", all.count ? all.progress_sum / all.count : 0.0},
                   {"method", "mean of progress (%) over all pledges, one decimal"}};
  const auto done_it = all.statuses.find("done");
  const std::size_t done = done_it == all.statuses.end() ? 0 : done_it->second;
  out["doneShare"] = all.count ? round1(100.0 * done / all.count) : 0.0;
  json::array statuses;
  for (const auto& s : kPledgeStatuses) {
    const auto it = all.statuses.find(std::string(s.code));
    const std::size_t n = it == all.statuses.end() ? 0 : it->second;
    statuses.push_back(json::object{{"status", s.code},
                                    {"label", s.label},
                                    {"count", n},
                                    {"share", all.count ? round1(100.0 * n / all.count) : 0.0}});
  }
  out["byStatus"] = std::move(statuses);
  std::vector<std::pair<std::string, Group>> fields(by_field.begin(), by_field.end());
  std::stable_sort(fields.begin(), fields.end(),
                   [](const auto& a, const auto& b) { return a.second.order < b.second.order; });
  json::array fa;
  for (const auto& [name, g] : fields) {
    auto o = group_json(g);
    o["field"] = name;
    o["fieldNo"] = g.order;
    fa.push_back(std::move(o));
  }
  out["byField"] = std::move(fa);
  json::array da;
  for (const auto& [name, g] : by_department) {
    auto o = group_json(g);
    o["department"] = name;
    da.push_back(std::move(o));
  }
  out["byDepartment"] = std::move(da);
  return out;
}

}  // namespace cityroom::governance
