// NGSI-LD temporal representation of entities, read side (ETSI GS CIM 009 §5.7.3–5.7.4,
// §4.5.7–4.5.9, §4.5.19, §4.11, §6.3.10 paging): GET /temporal/entities/{id},
// GET /temporal/entities, POST /temporal/entityOperations/query, DELETE /temporal/entities/{id}.
// The write side is temporal_write.cpp, CSV import/export history_csv.cpp.
// The history comes from the store (store.h HistoryQuery; a query reads the page's entities
// through ONE history_many call); aggregation from history/.
// Query of many entities selects them by their CURRENT state (type, id, idPattern, q, attrs);
// entities deleted since are not listed (their history can still be read by id).
#include <fmt/format.h>

#include <charconv>
#include <map>

#include "api/call.h"
#include "api/history_csv.h"
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
  // As asked, for the paging range (§6.3.10).
  std::string timerel;
  std::optional<base::Micros> time_at, end_time_at;
  std::optional<std::size_t> last_n;
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
    t.timerel = *rel;
    t.time_at = *at;
    if (*rel == "before") {
      q.to = *at;
      t.end = *at;
    } else if (*rel == "after") {
      q.from = *at + 1;  // strictly after: paging continues from the last time seen
      t.origin = *at;
      if (r.query_param("endTimeAt")) {
        // cityroom extension: an upper bound (exclusive) with after, so that a `between`
        // answer cut into pages continues without repeating the page's last instant.
        auto end = time_param(r, "endTimeAt");
        if (!end) return std::unexpected(end.error());
        if (*end <= *at) {
          return base::fail(ErrorKind::kBadRequestData, "endTimeAt must be later than timeAt");
        }
        q.to = *end;
        t.end = *end;
        t.end_time_at = *end;
      }
    } else if (*rel == "between") {
      auto end = time_param(r, "endTimeAt");
      if (!end) return std::unexpected(end.error());
      if (*end <= *at) {
        return base::fail(ErrorKind::kBadRequestData, "endTimeAt must be later than timeAt");
      }
      t.origin = *at;
      t.end = *end;
      t.end_time_at = *end;
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
    t.last_n = v;
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
    // One more than a page: whether an attribute goes on (and at which time) decides the cut.
    q.limit = kInstancesMax + 1;
    if (q.last_n && *q.last_n > kInstancesMax) q.last_n = kInstancesMax + 1;
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

// The paging of long histories (GS CIM 009 §6.3.10): at most kInstancesMax instances of one
// attribute per answer. Without lastN pages go forward from the oldest instance, with a lastN
// above the page size backward from the newest. A page ends on a whole instant (every instance
// sharing its last time is in it), and one range holds for every attribute of every entity of
// the answer, so the next page — `timerel=after&timeAt=<end>` forward, `timerel=before&
// timeAt=<end>` (or `between` with `endTimeAt=<end>`) backward — neither repeats nor skips.
struct Page {
  bool partial = false;
  std::string range;  // Content-Range value
};

Page cut_page(const Temporal& t, std::vector<History*>& histories) {
  Page page;
  const bool backward = t.last_n && *t.last_n > kInstancesMax;
  std::optional<base::Micros> edge;  // forward: last time kept; backward: first time kept
  for (auto* h : histories) {
    for (auto& s : h->series) {
      auto& rows = s.rows;
      if (rows.size() <= kInstancesMax) continue;
      base::Micros kept_edge;
      if (!backward) {
        const base::Micros next = row_time(t, rows[kInstancesMax]);
        std::size_t n = kInstancesMax;
        while (n > 0 && row_time(t, rows[n - 1]) == next) --n;
        if (n == 0) n = kInstancesMax;  // one instant holds a whole page: the rest is lost
        kept_edge = row_time(t, rows[n - 1]);
        edge = edge ? std::min(*edge, kept_edge) : kept_edge;
      } else {
        const base::Micros before = row_time(t, rows[0]);  // one too many, the oldest
        std::size_t first = 1;
        while (first < rows.size() && row_time(t, rows[first]) == before) ++first;
        if (first == rows.size()) first = 1;
        kept_edge = row_time(t, rows[first]);
        edge = edge ? std::max(*edge, kept_edge) : kept_edge;
      }
    }
  }
  if (!edge) return page;
  page.partial = true;
  std::optional<base::Micros> far;  // the other end of what is answered
  for (auto* h : histories) {
    for (auto& s : h->series) {
      auto& rows = s.rows;
      std::erase_if(rows, [&](const store::HistoryRow& r) {
        const base::Micros time = row_time(t, r);
        return backward ? time < *edge : time > *edge;
      });
      if (!backward && rows.size() > kInstancesMax) rows.resize(kInstancesMax);
      if (backward && rows.size() > kInstancesMax) {
        rows.erase(rows.begin(), rows.end() - static_cast<std::ptrdiff_t>(kInstancesMax));
      }
      if (rows.empty()) continue;
      const base::Micros outer = row_time(t, backward ? rows.back() : rows.front());
      far = !far ? outer : backward ? std::max(*far, outer) : std::min(*far, outer);
    }
    std::erase_if(h->series, [](const store::HistorySeries& s) { return s.rows.empty(); });
  }
  base::Micros start = far.value_or(*edge);
  if (!backward && (t.timerel == "after" || t.timerel == "between")) start = *t.time_at;
  if (backward && t.timerel == "before") start = *t.time_at;
  if (backward && t.timerel == "between") start = *t.end_time_at;
  page.range = fmt::format("date-time {}-{}/{}", exact_time(start), exact_time(*edge),
                           backward ? std::to_string(*t.last_n) : std::string("*"));
  return page;
}

// Drops what the grant may not see of entity `e`: whole attributes (series or aggregates).
void drop_hidden(const Call& call, const model::Entity* e, History& h) {
  if (!call.grant || !e) return;
  const auto& grant = *call.grant;
  std::erase_if(h.series, [&](const store::HistorySeries& s) {
    return !grant.may_see_attribute(*e, s.attribute);
  });
  std::erase_if(h.aggregates, [&](const history::AttributeAggregates& a) {
    return !grant.may_see_attribute(*e, a.attribute);
  });
}

// Renders one entity's history (already cut to the page).
json::object render_temporal(const Call& call, const Temporal& t, std::string_view id,
                             const model::Entity* current, History& read) {
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
    if (t.shape == Shape::kTemporalValues) {
      // One list per attribute type (normally one); several types give an array of objects.
      json::array objects;
      for (auto& row : s.rows) {
        const std::string_view type = type_of(row.instance_doc);
        if (objects.empty() || type_of(objects.back().get_object()) != type) {
          json::object o;
          o["type"] = type;
          o[values_member(type)] = json::array();
          objects.push_back(std::move(o));
        }
        json::value v = std::move(row.value);
        if (type == "VocabProperty" && v.is_string()) v = ctx.compact(v.get_string());
        objects.back().get_object()[values_member(type)].get_array().push_back(
            json::array{std::move(v), base::format_iso8601(row_time(t, row))});
      }
      out[name] = objects.size() == 1 ? std::move(objects[0]) : json::value(std::move(objects));
      continue;
    }
    json::array instances;
    instances.reserve(s.rows.size());
    for (auto& row : s.rows) {
      // The rows are not needed after rendering: move each instance instead of copying it.
      json::array one;
      one.emplace_back(std::move(row.instance_doc));
      json::value rendered = model::render_attribute(one, ctx, options);
      if (!rendered.is_object()) continue;
      rendered.get_object()["instanceId"] = fmt::format("{}{}", kInstancePrefix, row.instance);
      instances.push_back(std::move(rendered));
    }
    out[name] = std::move(instances);
  }
  return out;
}

// Aggregates one entity's history as the request asks; a too long aggregation is refused.
base::Result<History> aggregate(Call& call, const Temporal& t, std::string_view id) {
  History out;
  HistoryQuery q = t.query;
  q.entity_id = id;
  auto aggregates = history::aggregate_history(call.deps->hub.store(), call.tenant, std::move(q),
                                               t.methods, t.period, t.origin, t.end);
  if (!aggregates) return std::unexpected(aggregates.error());
  out.aggregates = std::move(*aggregates);
  return out;
}

// Reads one entity's history (rows or aggregates).
base::Result<History> read(Call& call, const Temporal& t, std::string_view id) {
  if (t.shape == Shape::kAggregated) return aggregate(call, t, id);
  History out;
  HistoryQuery q = t.query;
  q.entity_id = id;
  auto series = call.deps->hub.history(call.tenant, q);
  if (!series) return std::unexpected(series.error());
  out.series = std::move(*series);
  return out;
}

// Reads many entities' histories: rows through ONE history_many call (the store answers a
// page of entities at once, e.g. lastN=1 over thousands), aggregates entity by entity.
base::Result<std::vector<History>> read_many(Call& call, const Temporal& t,
                                             const std::vector<std::string>& ids) {
  std::vector<History> out(ids.size());
  if (t.shape == Shape::kAggregated) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      auto h = aggregate(call, t, ids[i]);
      if (!h) return std::unexpected(h.error());
      out[i] = std::move(*h);
    }
    return out;
  }
  auto many = call.deps->hub.store().history_many(call.tenant, ids, t.query);
  if (!many) return std::unexpected(many.error());
  if (many->size() != ids.size()) {
    return base::fail(ErrorKind::kInternalError, "history_many answered the wrong number of lists");
  }
  for (std::size_t i = 0; i < ids.size(); ++i) out[i].series = std::move((*many)[i]);
  return out;
}

void reply_temporal(Call& call, json::value body, const Page& page, http::Headers extra = {}) {
  if (page.partial) extra.emplace_back("content-range", page.range);
  reply_json(call, page.partial ? 206 : 200, std::move(body), true, std::move(extra));
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
  auto history = read(*call, *t, *id);
  if (!history) return call->fail(history.error());
  if (!*current && history->series.empty() && history->aggregates.empty()) {
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
  const model::Entity* e = *current ? &**current : nullptr;
  drop_hidden(*call, e, *history);
  std::vector<History*> all{&*history};
  const Page page = cut_page(*t, all);
  reply_temporal(*call, render_temporal(*call, *t, *id, e, *history), page);
}

// GET /temporal/entities and POST /temporal/entityOperations/query (translated to parameters).
void answer_temporal_query(Call& call) {
  const auto& r = call.request;
  if (!r.query_param("type") && !r.query_param("attrs") && !r.query_param("id") &&
      !r.query_param("idPattern") && !r.query_param("q")) {
    return call.fail(ErrorKind::kBadRequestData,
                     "a temporal query needs type, attrs, id, idPattern or q");
  }
  auto t = temporal_request(call);
  if (!t) return call.fail(t.error());
  auto q = entity_query(call);
  if (!q) return call.fail(q.error());
  restrict_query(call, *q);
  auto found = call.deps->hub.query(call.tenant, *q);
  if (!found) return call.fail(found.error());
  std::vector<std::string> ids;
  ids.reserve(found->entities.size());
  for (const auto& e : found->entities) ids.emplace_back(e.at(model::key::kId).get_string());
  auto histories = read_many(call, *t, ids);
  if (!histories) return call.fail(histories.error());
  std::vector<History*> all;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    drop_hidden(call, &found->entities[i], (*histories)[i]);
    all.push_back(&(*histories)[i]);
  }
  const Page page = cut_page(*t, all);
  json::array items;
  items.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    items.push_back(render_temporal(call, *t, ids[i], &found->entities[i], (*histories)[i]));
  }
  http::Headers extra;
  if (found->total) extra.emplace_back("ngsild-results-count", std::to_string(*found->total));
  reply_temporal(call, std::move(items), page, std::move(extra));
}

void query_temporal(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {});
  if (call) answer_temporal_query(*call);
}

// POST /temporal/entityOperations/query (§5.7.4 by POST, §5.2.23 Query): the body's entities,
// attrs, q, geoQ, scopeQ and temporalQ become the GET's parameters; options, limit, offset,
// count, aggrMethods and aggrPeriodDuration stay in the URL (temporalQ may also carry lastN,
// aggrMethods and aggrPeriodDuration).
void post_query_temporal(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.has_body = true});
  if (!call) return;
  if (!call->body.is_object()) {
    return call->fail(ErrorKind::kBadRequestData, "the body must be a Query object");
  }
  const auto& body = call->body.get_object();
  if (const auto* type = body.if_contains("type");
      !type || !type->is_string() || type->get_string() != "Query") {
    return call->fail(ErrorKind::kBadRequestData, "the body must have \"type\": \"Query\"");
  }
  auto& params = call->request.query;
  // The body wins over the URL for what it names: drop URL parameters it sets.
  auto set = [&](std::string name, std::string value) {
    std::erase_if(params, [&](const auto& p) { return p.first == name; });
    params.emplace_back(std::move(name), std::move(value));
  };
  auto text = [](const json::value& v) {
    return v.is_string() ? std::string(v.get_string()) : json::serialize(v);
  };
  if (const auto* entities = body.if_contains("entities")) {
    if (!entities->is_array()) {
      return call->fail(ErrorKind::kBadRequestData, "entities: must be an array of EntitySelector");
    }
    std::string types, ids;
    for (const auto& sel : entities->get_array()) {
      if (!sel.is_object()) {
        return call->fail(ErrorKind::kBadRequestData, "entities: each element must be an object");
      }
      const auto& o = sel.get_object();
      if (const auto* t = o.if_contains("type"); t && t->is_string()) {
        types += (types.empty() ? "" : ",") + std::string(t->get_string());
      }
      if (const auto* i = o.if_contains("id"); i && i->is_string()) {
        ids += (ids.empty() ? "" : ",") + std::string(i->get_string());
      }
      if (const auto* p = o.if_contains("idPattern"); p && p->is_string()) {
        set("idPattern", std::string(p->get_string()));
      }
    }
    if (!types.empty()) set("type", types);
    if (!ids.empty()) set("id", ids);
  }
  if (const auto* attrs = body.if_contains("attrs")) {
    if (!attrs->is_array()) return call->fail(ErrorKind::kBadRequestData, "attrs: must be an array");
    std::string list;
    for (const auto& a : attrs->get_array()) {
      if (a.is_string()) list += (list.empty() ? "" : ",") + std::string(a.get_string());
    }
    set("attrs", list);
  }
  for (auto name : {"q", "scopeQ"}) {
    if (const auto* v = body.if_contains(name)) set(name, text(*v));
  }
  if (const auto* g = body.if_contains("geoQ"); g && g->is_object()) {
    for (const auto& m : g->get_object()) set(std::string(m.key()), text(m.value()));
  }
  if (const auto* tq = body.if_contains("temporalQ")) {
    if (!tq->is_object()) {
      return call->fail(ErrorKind::kBadRequestData, "temporalQ: must be a TemporalQuery object");
    }
    for (const auto& m : tq->get_object()) {
      const std::string name(m.key());
      if (name != "timerel" && name != "timeAt" && name != "endTimeAt" &&
          name != "timeproperty" && name != "lastN" && name != "aggrMethods" &&
          name != "aggrPeriodDuration") {
        return call->fail(ErrorKind::kBadRequestData,
                          fmt::format("temporalQ: unknown member '{}'", name));
      }
      if (m.value().is_array()) {  // aggrMethods as an array
        std::string list;
        for (const auto& v : m.value().get_array()) list += (list.empty() ? "" : ",") + text(v);
        set(name, list);
      } else {
        set(name, text(m.value()));
      }
    }
  }
  answer_temporal_query(*call);
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
  router.add("POST", route("/entityOperations/query"), bound(deps, post_query_temporal));
  register_temporal_write(router, deps);
  register_history_csv(router, deps);
}

}  // namespace cityroom::api
