// NGSI-LD temporal representation of entities (ETSI GS CIM 009 §5.6.11–5.6.12, §4.5.7–4.5.9,
// §4.11): GET /temporal/entities/{id}, GET /temporal/entities, DELETE /temporal/entities/{id}.
// The history comes from the store (store.h HistoryQuery); aggregation from history/.
// Query of many entities selects them by their CURRENT state (type, id, idPattern, q, attrs);
// entities deleted since are not listed (their history can still be read by id).
#include <fmt/format.h>

#include <charconv>
#include <map>

#include "api/call.h"
#include "api/routes.h"
#include "history/history.h"

namespace cityroom::api {
namespace {

using base::ErrorKind;
using store::HistoryQuery;

constexpr std::string_view kBase = "/ngsi-ld/v1/temporal";
// Instances of one attribute in one answer; more → 206 with Content-Range (paging, §6.3.10).
constexpr std::size_t kInstancesMax = 10'000;
constexpr std::string_view kInstancePrefix = "urn:cityroom:instance:";
// Points one aggregation may read (streamed, not held): ~40 years of minute data.
constexpr std::size_t kAggregateRowsMax = 20'000'000;

std::string route(std::string_view tail) { return fmt::format("{}{}", kBase, tail); }

enum class Shape { kNormalized, kTemporalValues, kAggregated };

struct Temporal {
  HistoryQuery query;  // everything but entity_id
  Shape shape = Shape::kNormalized;
  std::vector<history::Method> methods;
  std::optional<base::Micros> period;
  // Aggregation periods start at `origin` (timeAt of after/between; else at the first point)
  // and, without aggrPeriodDuration, end at `end` (endTimeAt, timeAt of before; else just
  // after the last point).
  std::optional<base::Micros> origin, end;
  bool sys_attrs = false;
};

base::Result<base::Micros> time_param(const http::Request& r, std::string_view name) {
  const auto* text = r.query_param(name);
  if (!text) {
    return base::fail(ErrorKind::kBadRequestData, fmt::format("{} is required with timerel", name));
  }
  auto t = base::parse_iso8601(*text);
  if (!t) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("{}: '{}' is not an ISO 8601 date-time", name, *text));
  }
  return *t;
}

base::Result<Temporal> temporal_request(const Call& call) {
  const auto& r = call.request;
  Temporal t;
  auto& q = t.query;
  if (const auto* rel = r.query_param("timerel")) {
    auto at = time_param(r, "timeAt");
    if (!at) return std::unexpected(at.error());
    if (*rel == "before") {
      q.to = *at;
      t.end = *at;
    } else if (*rel == "after") {
      q.from = *at + 1;  // strictly after: paging continues from the last time seen
      t.origin = *at;
    } else if (*rel == "between") {
      auto end = time_param(r, "endTimeAt");
      if (!end) return std::unexpected(end.error());
      if (*end <= *at) {
        return base::fail(ErrorKind::kBadRequestData, "endTimeAt must be later than timeAt");
      }
      t.origin = *at;
      t.end = *end;
      q.from = *at;
      q.to = *end;
    } else {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("timerel: '{}' is not before, after or between", *rel));
    }
  } else if (r.query_param("timeAt") || r.query_param("endTimeAt")) {
    return base::fail(ErrorKind::kBadRequestData, "timeAt and endTimeAt need timerel");
  }
  if (const auto* prop = r.query_param("timeproperty")) {
    if (*prop == "modifiedAt" || *prop == "createdAt") {
      // An instance is created when it is written: both name the write time.
      q.time_property = HistoryQuery::TimeProperty::kModifiedAt;
    } else if (*prop != "observedAt") {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("timeproperty: '{}' is not observedAt, modifiedAt or createdAt",
                                    *prop));
    }
  }
  if (const auto* n = r.query_param("lastN")) {
    std::size_t v = 0;
    const auto [end, ec] = std::from_chars(n->data(), n->data() + n->size(), v);
    if (ec != std::errc() || end != n->data() + n->size() || v == 0) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("lastN: '{}' is not a positive integer", *n));
    }
    q.last_n = v;
  }
  if (const auto* attrs = r.query_param("attrs")) {
    std::vector<std::string> names;
    for (const auto& a : split_list(*attrs)) names.push_back(call.context->expand(a));
    q.attributes = std::move(names);
  }
  const bool values = has_option(r, "temporalValues");
  const bool aggregated = has_option(r, "aggregatedValues");
  if (values && aggregated) {
    return base::fail(ErrorKind::kBadRequestData,
                      "options: temporalValues and aggregatedValues exclude each other");
  }
  t.sys_attrs = has_option(r, "sysAttrs");
  t.shape = values ? Shape::kTemporalValues : aggregated ? Shape::kAggregated : Shape::kNormalized;
  if (const auto* d = r.query_param("aggrPeriodDuration")) {
    auto period = history::parse_duration(*d);
    if (!period) {
      return base::fail(period.error().kind,
                        fmt::format("aggrPeriodDuration: {}", period.error().detail));
    }
    t.period = *period;
  }
  if (aggregated) {
    const auto* methods = r.query_param("aggrMethods");
    if (!methods) {
      return base::fail(ErrorKind::kBadRequestData, "options=aggregatedValues needs aggrMethods");
    }
    auto parsed = history::parse_methods(*methods);
    if (!parsed) return std::unexpected(parsed.error());
    t.methods = std::move(*parsed);
    q.values_only = true;
    q.limit = kAggregateRowsMax;
  } else {
    q.limit = kInstancesMax;
  }
  return t;
}

std::string_view type_of(const json::object& instance) {
  const auto* t = instance.if_contains(model::key::kType);
  return t && t->is_string() ? std::string_view(t->get_string()) : "Property";
}

// The member holding the list of values in the simplified temporal form (§4.5.9).
std::string_view values_member(std::string_view type) {
  if (type == "Relationship") return "objects";
  if (type == "LanguageProperty") return "languageMaps";
  if (type == "VocabProperty") return "vocabs";
  if (type == "JsonProperty") return "jsons";
  if (type == "ListProperty") return "valueLists";
  if (type == "ListRelationship") return "objectLists";
  return "values";
}

base::Micros row_time(const Temporal& t, const store::HistoryRow& row) {
  return t.query.time_property == HistoryQuery::TimeProperty::kModifiedAt ? row.instance
                                                                           : row.time;
}

// One entity's history as read: rows, or per attribute the aggregates.
struct History {
  std::vector<store::HistorySeries> series;
  std::vector<history::AttributeAggregates> aggregates;
};

// Renders one entity's history; `partial` is set when an attribute was cut at kInstancesMax.
json::object render_temporal(const Call& call, const Temporal& t, std::string_view id,
                             const model::Entity* current, History& read, bool& partial,
                             std::string& range) {
  auto& series = read.series;
  const auto& ctx = *call.context;
  json::object out;
  out["id"] = id;
  if (current) {
    const auto types = model::entity_types(*current);
    if (types.size() == 1) {
      out["type"] = ctx.compact(types[0]);
    } else {
      json::array a;
      for (const auto& type : types) a.emplace_back(ctx.compact(type));
      out["type"] = std::move(a);
    }
  }
  model::RenderOptions options;
  options.sys_attrs =
      t.sys_attrs || t.query.time_property == HistoryQuery::TimeProperty::kModifiedAt;
  for (auto& a : read.aggregates) {
    json::object attr;
    attr["type"] = "Property";
    for (std::size_t m = 0; m < t.methods.size(); ++m) {
      attr[history::method_name(t.methods[m])] = std::move(a.results[m]);
    }
    out[ctx.compact(a.attribute)] = std::move(attr);
  }
  for (auto& s : series) {
    const std::string name = ctx.compact(s.attribute);
    if (s.truncated && !s.rows.empty()) {
      partial = true;
      range = fmt::format("date-time {}-{}/*", base::format_iso8601(row_time(t, s.rows.front())),
                          base::format_iso8601(row_time(t, s.rows.back())));
    }
    if (t.shape == Shape::kTemporalValues) {
      // One list per attribute type (normally one); several types give an array of objects.
      json::array objects;
      for (const auto& row : s.rows) {
        const std::string_view type = type_of(row.instance_doc);
        if (objects.empty() || type_of(objects.back().get_object()) != type) {
          json::object o;
          o["type"] = type;
          o[values_member(type)] = json::array();
          objects.push_back(std::move(o));
        }
        json::value v = row.value;
        if (type == "VocabProperty" && v.is_string()) v = ctx.compact(v.get_string());
        objects.back().get_object()[values_member(type)].get_array().push_back(
            json::array{std::move(v), base::format_iso8601(row_time(t, row))});
      }
      out[name] = objects.size() == 1 ? std::move(objects[0]) : json::value(std::move(objects));
      continue;
    }
    json::array instances;
    instances.reserve(s.rows.size());
    for (const auto& row : s.rows) {
      json::value rendered = model::render_attribute(json::array{row.instance_doc}, ctx, options);
      if (!rendered.is_object()) continue;
      rendered.get_object()["instanceId"] = fmt::format("{}{}", kInstancePrefix, row.instance);
      instances.push_back(std::move(rendered));
    }
    out[name] = std::move(instances);
  }
  return out;
}

// Reads one entity's history as the request asks; a too long aggregation is refused.
base::Result<History> read(Call& call, const Temporal& t, std::string_view id) {
  History out;
  HistoryQuery q = t.query;
  q.entity_id = id;
  if (t.shape == Shape::kAggregated) {
    auto aggregates = history::aggregate_history(call.deps->hub.store(), call.tenant, std::move(q),
                                                 t.methods, t.period, t.origin, t.end);
    if (!aggregates) return std::unexpected(aggregates.error());
    out.aggregates = std::move(*aggregates);
    return out;
  }
  auto series = call.deps->hub.history(call.tenant, q);
  if (!series) return std::unexpected(series.error());
  out.series = std::move(*series);
  return out;
}

void reply_temporal(Call& call, json::value body, bool partial, const std::string& range) {
  http::Headers extra;
  if (partial) extra.emplace_back("content-range", range);
  reply_json(call, partial ? 206 : 200, std::move(body), true, std::move(extra));
}

void retrieve_temporal(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id) return;
  auto t = temporal_request(*call);
  if (!t) return call->fail(t.error());
  auto current = deps.hub.get(call->tenant, *id);
  if (!current) return call->fail(current.error());
  // A limited grant reads the history of a visible current entity only (a deleted entity's
  // type is unknown, so its history stays hidden).
  if (call->grant && call->grant->limited() && (!*current || !visible(*call, **current))) {
    return call->fail(ErrorKind::kResourceNotFound,
                      fmt::format("entity {} has no temporal representation", *id));
  }
  auto series = read(*call, *t, *id);
  if (!series) return call->fail(series.error());
  if (!*current && series->series.empty() && series->aggregates.empty()) {
    HistoryQuery any;  // does the entity have history outside the asked window?
    any.entity_id = *id;
    any.last_n = 1;
    any.values_only = true;
    auto some = deps.hub.history(call->tenant, any);
    if (!some) return call->fail(some.error());
    if (some->empty()) {
      return call->fail(ErrorKind::kResourceNotFound,
                        fmt::format("entity {} has no temporal representation", *id));
    }
  }
  bool partial = false;
  std::string range;
  json::object body = render_temporal(*call, *t, *id, *current ? &**current : nullptr, *series,
                                      partial, range);
  reply_temporal(*call, std::move(body), partial, range);
}

void query_temporal(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {});
  if (!call) return;
  const auto& r = call->request;
  if (!r.query_param("type") && !r.query_param("attrs") && !r.query_param("id") &&
      !r.query_param("idPattern") && !r.query_param("q")) {
    return call->fail(ErrorKind::kBadRequestData,
                      "a temporal query needs type, attrs, id, idPattern or q");
  }
  auto t = temporal_request(*call);
  if (!t) return call->fail(t.error());
  auto q = entity_query(*call);
  if (!q) return call->fail(q.error());
  restrict_query(*call, *q);
  auto found = deps.hub.query(call->tenant, *q);
  if (!found) return call->fail(found.error());
  json::array items;
  bool partial = false;
  std::string range;
  for (const auto& e : found->entities) {
    const std::string_view id = e.at(model::key::kId).get_string();
    auto series = read(*call, *t, id);
    if (!series) return call->fail(series.error());
    items.push_back(render_temporal(*call, *t, id, &e, *series, partial, range));
  }
  http::Headers extra;
  if (found->total) extra.emplace_back("ngsild-results-count", std::to_string(*found->total));
  if (partial) extra.emplace_back("content-range", range);
  reply_json(*call, partial ? 206 : 200, std::move(items), true, std::move(extra));
}

void delete_temporal(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.read_only = false});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id) return;
  if (!writable(*call, *id)) return;
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.remove_history(shared->tenant, *id, [shared, id = *id](base::Result<std::size_t> r) {
    if (!r) return shared->fail(r.error());
    if (*r == 0) {
      return shared->fail(ErrorKind::kResourceNotFound,
                          fmt::format("entity {} has no temporal representation", id));
    }
    reply_empty(*shared, 204);
  });
}

}  // namespace

void register_temporal(http::Router& router, Deps& deps) {
  router.add("GET", route("/entities"), bound(deps, query_temporal));
  router.add("GET", route("/entities/{entityId}"), bound(deps, retrieve_temporal));
  router.add("DELETE", route("/entities/{entityId}"), bound(deps, delete_temporal));
}

}  // namespace cityroom::api
