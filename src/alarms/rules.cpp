// Parsing and validating rule and policy documents (formats: docs/ALARMS.md).
#include <fmt/format.h>

#include <cmath>

#include "alarms/alarms.h"

namespace cityroom::alarms {
namespace {

using base::ErrorKind;

constexpr std::size_t kIdBytesMax = 64;
constexpr double kSecondsMax = 366.0 * 24 * 3600;  // a year: longer windows are a typo

std::unexpected<base::Error> bad(std::string detail) {
  return base::fail(ErrorKind::kBadRequestData, std::move(detail));
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > kIdBytesMax) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

base::Result<std::string> id_of(const json::object& doc, std::string_view what) {
  auto id = json::get_string(doc, "id");
  if (!id) return bad(fmt::format("{}: \"id\" is required (a string)", what));
  if (!valid_id(*id)) {
    return bad(fmt::format("{}: id '{}' must be 1-{} letters, digits, '_', '-' or '.'", what, *id,
                           kIdBytesMax));
  }
  return std::string(*id);
}

std::optional<double> number(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_double()) return v->get_double();
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  return std::nullopt;
}

base::Result<std::optional<double>> opt_number(const json::object& o, std::string_view key,
                                               std::string_view where) {
  const auto* v = o.if_contains(key);
  if (!v) return std::optional<double>();
  auto n = number(v);
  if (!n || !std::isfinite(*n)) return bad(fmt::format("{}.{}: must be a number", where, key));
  return n;
}

base::Result<std::string> opt_string(const json::object& o, std::string_view key,
                                     std::string_view where) {
  const auto* v = o.if_contains(key);
  if (!v) return std::string();
  if (!v->is_string()) return bad(fmt::format("{}.{}: must be a string", where, key));
  return std::string(v->get_string());
}

base::Result<base::Micros> seconds(const json::object& o, std::string_view key,
                                   std::string_view where) {
  auto n = opt_number(o, key, where);
  if (!n) return std::unexpected(n.error());
  if (!*n || **n <= 0 || **n > kSecondsMax) {
    return bad(fmt::format("{}.{}: must be a number of seconds above 0 and at most {}", where, key,
                           kSecondsMax));
  }
  return static_cast<base::Micros>(**n * 1e6);
}

base::Result<std::string> attribute(const json::object& o, std::string_view where) {
  auto a = json::get_string(o, "attribute");
  if (!a || a->empty())
    return bad(fmt::format("{}.attribute: required (an attribute name)", where));
  return std::string(*a);
}

base::Result<Threshold> parse_threshold(const json::value& v, std::string_view where,
                                        const ldcontext::Context& ctx) {
  if (!v.is_object()) return bad(fmt::format("{}: must be an object", where));
  const auto& o = v.get_object();
  Threshold t;
  auto a = attribute(o, where);
  if (!a) return std::unexpected(a.error());
  t.attribute = *a;
  t.iri = ctx.expand(t.attribute);
  static constexpr std::pair<std::string_view, Threshold::Op> kOps[] = {
      {"above", Threshold::Op::kAbove},
      {"atLeast", Threshold::Op::kAtLeast},
      {"below", Threshold::Op::kBelow},
      {"atMost", Threshold::Op::kAtMost}};
  int found = 0;
  for (const auto& [key, op] : kOps) {
    auto n = opt_number(o, key, where);
    if (!n) return std::unexpected(n.error());
    if (*n) {
      t.op = op;
      t.limit = **n;
      ++found;
    }
  }
  if (found != 1) {
    return bad(fmt::format("{}: exactly one of above, atLeast, below, atMost is required", where));
  }
  const bool upward = t.op == Threshold::Op::kAbove || t.op == Threshold::Op::kAtLeast;
  const std::string_view clear_key = upward ? "clearBelow" : "clearAbove";
  const std::string_view wrong_key = upward ? "clearAbove" : "clearBelow";
  if (o.contains(wrong_key)) {
    return bad(fmt::format("{}.{}: does not fit a threshold that raises {}; use {}", where,
                           wrong_key, upward ? "upwards" : "downwards", clear_key));
  }
  auto clear = opt_number(o, clear_key, where);
  if (!clear) return std::unexpected(clear.error());
  if (*clear) {
    if (upward ? **clear > t.limit : **clear < t.limit) {
      return bad(
          fmt::format("{}.{}: {} lies beyond the raising limit {}; hysteresis needs it "
                      "on the other side",
                      where, clear_key, **clear, t.limit));
    }
    t.clear_limit = *clear;
  }
  for (const auto& [k, _] : o) {
    if (k != "attribute" && k != "above" && k != "atLeast" && k != "below" && k != "atMost" &&
        k != clear_key) {
      return bad(fmt::format("{}: unknown member '{}'", where, std::string_view(k)));
    }
  }
  return t;
}

base::Result<void> parse_condition(const json::object& doc, Rule& r,
                                   const ldcontext::Context& ctx) {
  int kinds = 0;
  for (std::string_view k : {"threshold", "rate", "absence", "geofence", "all"}) {
    kinds += doc.contains(k) ? 1 : 0;
  }
  if (kinds != 1) {
    return bad(
        "rule: exactly one condition is required: threshold, rate, absence, geofence or "
        "all");
  }
  if (const auto* v = doc.if_contains("threshold")) {
    r.kind = Rule::Kind::kThreshold;
    auto t = parse_threshold(*v, "threshold", ctx);
    if (!t) return std::unexpected(t.error());
    r.thresholds.push_back(std::move(*t));
  } else if (const auto* v = doc.if_contains("all")) {
    r.kind = Rule::Kind::kAllOf;
    if (!v->is_array() || v->get_array().empty() || v->get_array().size() > kAllOfMax) {
      return bad(fmt::format("all: must be an array of 1-{} threshold conditions", kAllOfMax));
    }
    for (std::size_t i = 0; i < v->get_array().size(); ++i) {
      auto t = parse_threshold(v->get_array()[i], fmt::format("all[{}]", i), ctx);
      if (!t) return std::unexpected(t.error());
      r.thresholds.push_back(std::move(*t));
    }
  } else if (const auto* v = doc.if_contains("rate")) {
    r.kind = Rule::Kind::kRate;
    if (!v->is_object()) return bad("rate: must be an object");
    const auto& o = v->get_object();
    auto a = attribute(o, "rate");
    if (!a) return std::unexpected(a.error());
    r.rate.attribute = *a;
    r.rate.iri = ctx.expand(*a);
    auto rise = opt_number(o, "rise", "rate");
    if (!rise) return std::unexpected(rise.error());
    if (!*rise || **rise == 0)
      return bad("rate.rise: required, a non-zero number (negative: a fall)");
    r.rate.rise = **rise;
    auto window = seconds(o, "withinSeconds", "rate");
    if (!window) return std::unexpected(window.error());
    r.rate.window_us = *window;
    auto clear = opt_number(o, "clearRise", "rate");
    if (!clear) return std::unexpected(clear.error());
    r.rate.clear_rise = *clear ? **clear : r.rate.rise / 2;
    if (std::abs(r.rate.clear_rise) > std::abs(r.rate.rise) ||
        (r.rate.clear_rise != 0 && (r.rate.clear_rise > 0) != (r.rate.rise > 0))) {
      return bad("rate.clearRise: must have the sign of rise and be no larger");
    }
  } else if (const auto* v = doc.if_contains("absence")) {
    r.kind = Rule::Kind::kAbsence;
    if (!v->is_object()) return bad("absence: must be an object");
    const auto& o = v->get_object();
    auto period = seconds(o, "periodSeconds", "absence");
    if (!period) return std::unexpected(period.error());
    r.absence.period_us = *period;
    auto periods = opt_number(o, "periods", "absence");
    if (!periods) return std::unexpected(periods.error());
    if (*periods) {
      if (**periods < 1 || **periods > 1000 || std::floor(**periods) != **periods) {
        return bad("absence.periods: must be a whole number 1-1000");
      }
      r.absence.periods = static_cast<std::uint32_t>(**periods);
    }
  } else if (const auto* v = doc.if_contains("geofence")) {
    r.kind = Rule::Kind::kGeofence;
    if (!v->is_object()) return bad("geofence: must be an object");
    const auto& o = v->get_object();
    if (auto a = json::get_string(o, "attribute")) r.geofence.attribute = std::string(*a);
    r.geofence.iri = ctx.expand(r.geofence.attribute);
    const auto* area = o.if_contains("area");
    if (!area) return bad("geofence.area: required (a GeoJSON Polygon or MultiPolygon)");
    auto g = geo::parse_geojson(*area);
    if (!g) return bad("geofence.area: " + g.error().detail);
    r.geofence.area = *g;
    auto on = json::get_string(o, "on");
    if (!on || (*on != "enter" && *on != "leave")) {
      return bad("geofence.on: required, \"enter\" or \"leave\"");
    }
    r.geofence.on_enter = *on == "enter";
  }
  return {};
}

base::Result<void> parse_scope(const json::object& doc, Rule& r, const ldcontext::Context& ctx) {
  const auto* v = doc.if_contains("scope");
  if (!v || !v->is_object()) {
    return bad("scope: required, an object with at least \"type\" (the entity type watched)");
  }
  const auto& s = v->get_object();
  auto type = json::get_string(s, "type");
  if (!type || type->empty())
    return bad("scope.type: required (an entity type, e.g. \"FacilitySensor\")");
  for (const auto& [k, _] : s) {
    if (k != "type" && k != "ids" && k != "idPattern" && k != "q" && k != "area") {
      return bad(fmt::format("scope: unknown member '{}' (type, ids, idPattern, q, area)",
                             std::string_view(k)));
    }
  }
  live::SelectorTerms terms;
  if (const auto* ids = s.if_contains("ids")) {
    if (!ids->is_array() || ids->get_array().empty())
      return bad("scope.ids: must be a non-empty array of entity ids");
    for (const auto& id : ids->get_array()) {
      if (!id.is_string() || !base::is_uri(id.get_string())) {
        return bad("scope.ids: every element must be an entity id (a URI)");
      }
      terms.entities.push_back({std::string(id.get_string()), "", std::string(*type)});
    }
  }
  auto pattern = opt_string(s, "idPattern", "scope");
  if (!pattern) return std::unexpected(pattern.error());
  if (!pattern->empty()) {
    if (!terms.entities.empty()) return bad("scope: give ids or idPattern, not both");
    terms.entities.push_back({"", *pattern, std::string(*type)});
  }
  if (terms.entities.empty()) terms.entities.push_back({"", "", std::string(*type)});
  auto q = opt_string(s, "q", "scope");
  if (!q) return std::unexpected(q.error());
  terms.q = *q;
  if (const auto* area = s.if_contains("area")) {
    if (!area->is_object())
      return bad("scope.area: must be a geoQ object {georel, geometry, coordinates}");
    auto g = geo::parse_geoquery(area->get_object());
    if (!g) return bad("scope.area: " + g.error().detail);
    terms.geo = std::move(*g);
  }
  auto selector = live::Selector::build(terms, ctx);
  if (!selector) return bad("scope: " + selector.error().detail);
  r.selector = std::make_shared<const live::Selector>(std::move(*selector));
  // The index key: the type as one name (a type expression would need the selector anyway).
  if (type->find_first_of(",|;()") != std::string_view::npos) {
    return bad("scope.type: one entity type name, not an expression");
  }
  r.types = {ctx.expand(*type)};
  return {};
}

base::Result<void> severity_list(const json::value* v, std::string_view where,
                                 std::vector<Severity>& out) {
  if (!v) return {};
  if (!v->is_array()) return bad(fmt::format("{}: must be an array of severities", where));
  for (const auto& s : v->get_array()) {
    auto sev = s.is_string() ? parse_severity(s.get_string()) : std::nullopt;
    if (!sev) {
      return bad(fmt::format("{}: '{}' is not one of critical, major, minor, warning", where,
                             json::serialize(s)));
    }
    out.push_back(*sev);
  }
  return {};
}

base::Result<void> string_list(const json::value* v, std::string_view where,
                               std::vector<std::string>& out) {
  if (!v) return {};
  if (!v->is_array()) return bad(fmt::format("{}: must be an array of strings", where));
  for (const auto& s : v->get_array()) {
    if (!s.is_string()) return bad(fmt::format("{}: must be an array of strings", where));
    out.emplace_back(s.get_string());
  }
  return {};
}

// "HH:MM" → minutes after midnight.
std::optional<int> hhmm(std::optional<std::string_view> s) {
  if (!s || s->size() != 5 || (*s)[2] != ':') return std::nullopt;
  for (std::size_t i : {0, 1, 3, 4}) {
    if (!std::isdigit(static_cast<unsigned char>((*s)[i]))) return std::nullopt;
  }
  const int h = ((*s)[0] - '0') * 10 + ((*s)[1] - '0');
  const int m = ((*s)[3] - '0') * 10 + ((*s)[4] - '0');
  if (h > 23 || m > 59) return std::nullopt;
  return h * 60 + m;
}

base::Result<Policy::QuietHours> parse_quiet_hours(const json::value& v) {
  if (!v.is_object()) return bad("quietHours: must be an object {from, to, utcOffset, allow}");
  const auto& o = v.get_object();
  Policy::QuietHours q;
  auto from = hhmm(json::get_string(o, "from"));
  auto to = hhmm(json::get_string(o, "to"));
  if (!from || !to) return bad("quietHours.from/to: required, \"HH:MM\" local time");
  q.from_min = *from;
  q.to_min = *to;
  if (auto off = json::get_string(o, "utcOffset")) {
    auto m = off->size() == 6 && ((*off)[0] == '+' || (*off)[0] == '-') ? hhmm(off->substr(1))
                                                                        : std::nullopt;
    if (!m) return bad("quietHours.utcOffset: \"+HH:MM\" or \"-HH:MM\"");
    q.utc_offset_min = (*off)[0] == '-' ? -*m : *m;
  }
  if (const auto* allow = o.if_contains("allow")) {
    q.allow.clear();
    if (auto ok = severity_list(allow, "quietHours.allow", q.allow); !ok)
      return std::unexpected(ok.error());
  }
  return q;
}

base::Result<void> parse_users(const json::value* v, std::vector<UserChoice>& out) {
  if (!v) return {};
  if (!v->is_array()) return bad("users: must be an array of {id, severities, departments}");
  for (const auto& u : v->get_array()) {
    if (!u.is_object() || !json::get_string(u.get_object(), "id")) {
      return bad("users: every element needs an \"id\" string");
    }
    UserChoice c;
    c.id = std::string(*json::get_string(u.get_object(), "id"));
    if (auto ok = severity_list(u.get_object().if_contains("severities"), "users[].severities",
                                c.severities);
        !ok)
      return std::unexpected(ok.error());
    if (auto ok = string_list(u.get_object().if_contains("departments"), "users[].departments",
                              c.departments);
        !ok)
      return std::unexpected(ok.error());
    out.push_back(std::move(c));
  }
  return {};
}

base::Result<Target> parse_target(const json::value& t, const std::string& where) {
  if (!t.is_object()) return bad(where + ": must be an object");
  const auto& o = t.get_object();
  auto kind = json::get_string(o, "kind");
  Target target;
  if (kind == "webhook" || kind == "http-hook") {
    target.kind = Target::Kind::kWebhook;
  } else if (kind == "mqtt") {
    target.kind = Target::Kind::kMqtt;
  } else if (kind == "command") {
    target.kind = Target::Kind::kCommand;
  } else if (kind == "screen") {
    target.kind = Target::Kind::kScreen;
  } else {
    return bad(where + ".kind: one of webhook, http-hook, mqtt, command, screen");
  }
  if (target.kind == Target::Kind::kWebhook || target.kind == Target::Kind::kMqtt) {
    auto uri = json::get_string(o, "uri");
    const std::string_view want = target.kind == Target::Kind::kMqtt ? "mqtt" : "http";
    if (!uri || !(uri->starts_with(std::string(want) + "://") ||
                  uri->starts_with(std::string(want) + "s://"))) {
      return bad(fmt::format("{}.uri: required, a {}:// or {}s:// URI", where, want, want));
    }
    target.uri = std::string(*uri);
  }
  if (target.kind == Target::Kind::kCommand) {
    if (auto ok = string_list(o.if_contains("command"), where + ".command", target.command); !ok)
      return std::unexpected(ok.error());
    if (target.command.empty() || !target.command.front().starts_with("/")) {
      return bad(where +
                 ".command: required, an argv array whose first element is an "
                 "absolute path");
    }
  }
  return target;
}

base::Result<void> parse_targets(const json::value* v, std::vector<Target>& out) {
  if (!v || !v->is_array() || v->get_array().empty()) {
    return bad("targets: required, a non-empty array of {kind, uri | command}");
  }
  for (std::size_t i = 0; i < v->get_array().size(); ++i) {
    auto t = parse_target(v->get_array()[i], fmt::format("targets[{}]", i));
    if (!t) return std::unexpected(t.error());
    out.push_back(std::move(*t));
  }
  return {};
}

}  // namespace

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::kWarning:
      return "warning";
    case Severity::kMinor:
      return "minor";
    case Severity::kMajor:
      return "major";
    case Severity::kCritical:
      return "critical";
  }
  return "major";
}

std::optional<Severity> parse_severity(std::string_view s) {
  for (auto v : {Severity::kWarning, Severity::kMinor, Severity::kMajor, Severity::kCritical}) {
    if (severity_name(v) == s) return v;
  }
  return std::nullopt;
}

bool Threshold::raises(double v) const {
  switch (op) {
    case Op::kAbove:
      return v > limit;
    case Op::kAtLeast:
      return v >= limit;
    case Op::kBelow:
      return v < limit;
    case Op::kAtMost:
      return v <= limit;
  }
  return false;
}

bool Threshold::clears(double v) const {
  const bool upward = op == Op::kAbove || op == Op::kAtLeast;
  if (clear_limit) return upward ? v < *clear_limit : v > *clear_limit;
  return !raises(v);
}

base::Result<Rule> parse_rule(const json::object& doc, std::string_view tenant,
                              ldcontext::ContextStore& contexts) {
  if (json::serialize(doc).size() > kRuleBytesMax) {
    return bad(fmt::format("rule: larger than {} bytes", kRuleBytesMax));
  }
  static constexpr std::string_view kKnown[] = {
      "id",          "version",    "name",    "description", "severity",  "category",
      "subCategory", "department", "enabled", "scope",       "threshold", "rate",
      "absence",     "geofence",   "all",     "escalation",  "@context",  "source"};
  for (const auto& [k, _] : doc) {
    if (std::find(std::begin(kKnown), std::end(kKnown), std::string_view(k)) == std::end(kKnown)) {
      return bad(fmt::format("rule: unknown member '{}'", std::string_view(k)));
    }
  }
  Rule r;
  auto id = id_of(doc, "rule");
  if (!id) return std::unexpected(id.error());
  r.id = *id;
  r.tenant = tenant;
  ldcontext::ContextPtr ctx = contexts.core();
  if (const auto* spec = doc.if_contains("@context")) {
    auto resolved = contexts.resolve(*spec);
    if (!resolved) return bad("rule @context: " + resolved.error().detail);
    ctx = *resolved;
  }
  auto sev = json::get_string(doc, "severity");
  if (!sev || !parse_severity(*sev)) {
    return bad("severity: required, one of critical, major, minor, warning");
  }
  r.severity = *parse_severity(*sev);
  for (auto [key, out] :
       {std::pair{"name", &r.name}, std::pair{"description", &r.description},
        std::pair{"category", &r.category}, std::pair{"subCategory", &r.sub_category},
        std::pair{"department", &r.department}}) {
    auto s = opt_string(doc, key, "rule");
    if (!s) return std::unexpected(s.error());
    *out = *s;
  }
  if (r.category.empty()) r.category = "facility";
  if (r.sub_category.empty()) r.sub_category = r.id;
  if (const auto* en = doc.if_contains("enabled")) {
    if (!en->is_bool()) return bad("enabled: must be true or false");
    r.enabled = en->get_bool();
  }
  if (auto ok = parse_scope(doc, r, *ctx); !ok) return std::unexpected(ok.error());
  if (auto ok = parse_condition(doc, r, *ctx); !ok) return std::unexpected(ok.error());
  if (const auto* esc = doc.if_contains("escalation")) {
    if (!esc->is_object()) return bad("escalation: must be an object {afterSeconds, severity}");
    auto after = seconds(esc->get_object(), "afterSeconds", "escalation");
    if (!after) return std::unexpected(after.error());
    r.escalate_after_us = *after;
    if (auto to = json::get_string(esc->get_object(), "severity")) {
      if (!parse_severity(*to))
        return bad("escalation.severity: one of critical, major, minor, warning");
      r.escalate_to = parse_severity(*to);
    }
  }
  r.doc = doc;
  r.doc.erase("version");
  r.doc.erase("source");
  return r;
}

base::Result<Policy> parse_policy(const json::object& doc, std::string_view tenant) {
  if (json::serialize(doc).size() > kRuleBytesMax) {
    return bad(fmt::format("policy: larger than {} bytes", kRuleBytesMax));
  }
  Policy p;
  auto id = id_of(doc, "policy");
  if (!id) return std::unexpected(id.error());
  p.id = *id;
  p.tenant = tenant;
  if (auto ok = severity_list(doc.if_contains("severities"), "severities", p.severities); !ok)
    return std::unexpected(ok.error());
  if (auto ok = string_list(doc.if_contains("departments"), "departments", p.departments); !ok)
    return std::unexpected(ok.error());
  if (const auto* ev = doc.if_contains("events")) {
    p.events.clear();
    if (auto ok = string_list(ev, "events", p.events); !ok) return std::unexpected(ok.error());
    for (const auto& e : p.events) {
      if (e != "raised" && e != "escalated" && e != "acknowledged" && e != "cleared") {
        return bad(
            fmt::format("events: '{}' is not one of raised, escalated, acknowledged, "
                        "cleared",
                        e));
      }
    }
  }
  if (const auto* area = doc.if_contains("area")) {
    if (!area->is_object())
      return bad("area: must be a geoQ object {georel, geometry, coordinates}");
    auto g = geo::parse_geoquery(area->get_object());
    if (!g) return bad("area: " + g.error().detail);
    p.area = std::move(*g);
  }
  if (const auto* qh = doc.if_contains("quietHours")) {
    auto q = parse_quiet_hours(*qh);
    if (!q) return std::unexpected(q.error());
    p.quiet_hours = *q;
  }
  if (auto ok = parse_users(doc.if_contains("users"), p.users); !ok)
    return std::unexpected(ok.error());
  if (auto ok = parse_targets(doc.if_contains("targets"), p.targets); !ok)
    return std::unexpected(ok.error());
  p.doc = doc;
  p.doc.erase("version");
  p.doc.erase("source");
  return p;
}

}  // namespace cityroom::alarms
