// /cityroom/v1 routes of the governance module (docs/GOVERNANCE.md): the pledge tracker
// (list, summary, one pledge, its change history, staff update, CSV import), Korean search,
// request statistics and the staff workflow on requests to the mayor (status lookup, assign,
// notes, close, reopen, contact). Thin: parse → governance/ → hub → JSON. Every route passes
// prepare() (tenant, Access check as read or write).
#include <set>

#include <fmt/format.h>

#include "api/call.h"
#include "api/routes.h"
#include "governance/callcentre.h"
#include "governance/csv.h"
#include "governance/entity_view.h"
#include "governance/governance.h"

namespace cityroom::api {
namespace {

namespace gov = governance;
using base::ErrorKind;

constexpr std::size_t kPledgesMax = 10'000;  // one city's pledges; a summary reads them all

void reply(Call& call, int status, const json::value& body) {
  call.respond(http::Response::json(status, json::serialize(body)));
}

gov::Governance* governance_of(Call& call) {
  if (!call.deps->governance) {
    call.fail(ErrorKind::kOperationNotSupported, "governance is not enabled on this server");
  }
  return call.deps->governance;
}

// What a route needs of its type beyond prepare()'s check: to see it (a whole-type answer,
// visibility.json) or to write it (not, e.g., a device key for another type).
enum class Needs { kNothing, kSee, kWrite };

// The start of every governance route: prepare(), the type check, and the governance service.
// On refusal the answer has been sent and nullopt is returned.
std::optional<Call> start(Deps& deps, http::Request&& request, http::Respond respond,
                          const Prepare& how, std::string_view type = {},
                          Needs needs = Needs::kNothing) {
  auto call = prepare(std::move(request), std::move(respond), deps, how);
  if (!call) return std::nullopt;
  if (needs == Needs::kSee && !sees_type(*call, gov::iri(type))) return std::nullopt;
  if (needs == Needs::kWrite && !writable_types(*call, {gov::iri(type)})) return std::nullopt;
  if (!governance_of(*call)) return std::nullopt;
  return call;
}

// "{id}" may be the full URN or the part after "urn:ngsi-ld:<Type>:".
std::string full_id(std::string_view id, std::string_view type) {
  if (id.starts_with("urn:")) return std::string(id);
  return fmt::format("urn:ngsi-ld:{}:{}", type, id);
}

bool is_pledge(const model::Entity& e) {
  const auto types = model::entity_types(e);
  return std::find(types.begin(), types.end(), gov::iri(gov::kPledgeType)) != types.end();
}

// Attributes hidden from the caller (visibility.json: a pledge's modifiedBy names a staff
// member) are dropped before any view is built.
json::object seen_key_values(const Call& call, gov::Governance& g, const model::Entity& e) {
  std::optional<model::Entity> view;
  return gov::key_values(g.core(), redacted(call, e, view));
}

json::object public_pledge(const Call& call, gov::Governance& g, const model::Entity& e) {
  json::object kv = seen_key_values(call, g, e);
  kv["statusLabel"] = gov::pledge_status_label(gov::str(kv, "status"));
  return kv;
}

base::Result<std::vector<model::Entity>> all_of_type(Call& call, std::string_view type) {
  store::EntityQuery q;
  q.any_of_types = std::vector<std::string>{gov::iri(type)};
  q.limit = kPledgesMax;
  auto r = call.deps->hub.query(call.tenant, q);
  if (!r) return std::unexpected(r.error());
  return std::move(r->entities);
}

void list_pledges(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {});
  if (!call) return;
  auto* g = deps.governance;
  auto all = all_of_type(*call, gov::kPledgeType);
  if (!all) return call->fail(all.error());
  json::array out;
  for (const auto& e : *all) {
    auto kv = public_pledge(*call, *g, e);
    bool keep = true;
    for (std::string_view f : {"field", "status", "department"}) {
      if (const std::string* want = call->request.query_param(f)) {
        keep = keep && gov::str(kv, f) == *want;
      }
    }
    if (keep) out.push_back(std::move(kv));
  }
  std::stable_sort(out.begin(), out.end(), [](const json::value& a, const json::value& b) {
    const auto& ao = a.as_object();
    const auto& bo = b.as_object();
    const auto key = [](const json::object& o) {
      return std::pair{gov::num(o, "fieldNo").value_or(0), gov::num(o, "seqInField").value_or(0)};
    };
    return key(ao) < key(bo);
  });
  reply(*call, 200, out);
}

void pledge_summary(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {});
  if (!call) return;
  auto* g = deps.governance;
  auto all = all_of_type(*call, gov::kPledgeType);
  if (!all) return call->fail(all.error());
  std::vector<json::object> kvs;
  for (const auto& e : *all) kvs.push_back(seen_key_values(*call, *g, e));
  reply(*call, 200, gov::pledge_summary(kvs));
}

void get_pledge(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {});
  if (!call) return;
  auto* g = deps.governance;
  const std::string id = full_id(call->request.param("id"), gov::kPledgeType);
  auto e = deps.hub.get(call->tenant, id);
  if (!e) return call->fail(e.error());
  if (!*e || !is_pledge(**e)) {
    return call->fail(ErrorKind::kResourceNotFound, fmt::format("no pledge '{}'", id));
  }
  auto body = public_pledge(*call, *g, **e);
  body["historyUrl"] = fmt::format("/cityroom/v1/pledges/{}/history", id);
  // The linked indicators' tiles, so the public page shows the numbers behind the pledge
  // (an id that names no indicator is listed with null values).
  json::array tiles;
  if (const auto* refs = json::find(body, "refIndicators")) {
    json::array ids = refs->is_array() ? refs->as_array() : json::array{*refs};
    for (const auto& ref : ids) {
      if (!ref.is_string()) continue;
      auto ind = deps.hub.get(call->tenant, ref.as_string());
      if (!ind) return call->fail(ind.error());
      if (!*ind) {
        tiles.push_back(json::object{{"id", ref}, {"value", nullptr}});
        continue;
      }
      const auto kv = seen_key_values(*call, *g, **ind);
      auto series = gov::indicator_series(deps.hub, call->tenant, kv);
      if (!series) return call->fail(series.error());
      tiles.push_back(gov::indicator_tile(kv, *series));
    }
  }
  body["indicators"] = std::move(tiles);
  reply(*call, 200, body);
}

// Who changed what when: the hub's history of the pledge's attributes, newest first.
void pledge_history(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {});
  if (!call) return;
  auto* g = deps.governance;
  const std::string id = full_id(call->request.param("id"), gov::kPledgeType);
  store::HistoryQuery q;
  q.entity_id = id;
  q.time_property = store::HistoryQuery::TimeProperty::kModifiedAt;
  q.limit = 10'000;
  auto series = deps.hub.history(call->tenant, q);
  if (!series) return call->fail(series.error());
  if (series->empty()) {
    return call->fail(ErrorKind::kResourceNotFound, fmt::format("no history for pledge '{}'", id));
  }
  // Group the points of one write (same modification time) into one change.
  std::map<base::Micros, json::object, std::greater<>> changes;
  for (const auto& s : *series) {
    if (call->grant && !call->grant->may_see_type_attribute(gov::iri(gov::kPledgeType), s.attribute)) {
      continue;  // e.g. modifiedBy for the public: the change is shown, not who made it
    }
    const std::string name = g->core().compact(s.attribute);
    for (const auto& row : s.rows) {
      auto& c = changes[row.time];
      c[name] = row.value;
    }
  }
  json::array out;
  for (auto& [at, values] : changes) {
    json::object change{{"at", base::format_iso8601(at)}};
    if (auto* by = values.if_contains("modifiedBy")) change["by"] = *by;
    if (auto* note = values.if_contains("changeNote")) change["note"] = *note;
    values.erase("modifiedBy");
    values.erase("changeNote");
    change["changed"] = std::move(values);
    out.push_back(std::move(change));
  }
  reply(*call, 200, out);
}

void patch_pledge(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {.read_only = false, .has_body = true}, gov::kPledgeType, Needs::kWrite);
  if (!call) return;
  auto* g = deps.governance;
  if (!call->body.is_object()) return call->fail(ErrorKind::kBadRequestData, "the body must be an object");
  auto fragment = gov::pledge_update_fragment(call->body.as_object());
  if (!fragment) return call->fail(fragment.error());
  // A changeNote belongs to one change: without one, the previous note must not look like
  // this change's.
  if (!fragment->contains("changeNote")) (*fragment)["changeNote"] = "";
  const std::string id = full_id(call->request.param("id"), gov::kPledgeType);
  auto existing = deps.hub.get(call->tenant, id);
  if (!existing) return call->fail(existing.error());
  if (!*existing || !is_pledge(**existing)) {
    return call->fail(ErrorKind::kResourceNotFound, fmt::format("no pledge '{}'", id));
  }
  auto entity = gov::to_entity(g->core(), *fragment, true);
  if (!entity) return call->fail(entity.error());
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.append_attrs(shared->tenant, id, std::move(*entity), false,
                        [shared, g, id](base::Result<hub::AttrsOutcome> r) {
                          if (!r) return shared->fail(r.error());
                          auto e = shared->deps->hub.get(shared->tenant, id);
                          if (!e || !*e) return reply(*shared, 200, json::object{{"id", id}});
                          reply(*shared, 200, public_pledge(*shared, *g, **e));
                        });
}

void import_pledges(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {.read_only = false}, gov::kPledgeType, Needs::kWrite);
  if (!call) return;
  auto* g = deps.governance;
  const std::string* ct = call->request.header("content-type");
  if (!ct || !ct->starts_with("text/csv")) {
    return call->fail(ErrorKind::kUnsupportedMediaType,
                      "send the pledge table as Content-Type: text/csv (UTF-8)");
  }
  const std::string* city = call->request.query_param("city");
  const std::string* by = call->request.query_param("by");
  if (!city || city->empty() || city->find_first_of(":/?# %") != std::string::npos) {
    return call->fail(ErrorKind::kBadRequestData,
                      "city (the id part, e.g. city=boryeong) is required");
  }
  auto shared = std::make_shared<Call>(std::move(*call));
  gov::import_pledges(deps.hub, g->core(), shared->tenant, shared->request.body, *city,
                      by && !by->empty() ? *by : std::string("import"),
                      [shared](base::Result<gov::PledgeImportReport> r) {
                        if (!r) return shared->fail(r.error());
                        reply(*shared, 200, json::object{{"rows", r->rows},
                                                         {"created", r->created},
                                                         {"updated", r->updated}});
                      });
}

void search(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {});
  if (!call) return;
  auto* g = deps.governance;
  const std::string* q = call->request.query_param("q");
  if (!q) return call->fail(ErrorKind::kBadRequestData, "q (the words to search for) is required");
  std::string type;
  if (const std::string* t = call->request.query_param("type")) {
    if (*t != gov::kRequestType && *t != gov::kPledgeType && *t != gov::kNewsType) {
      return call->fail(ErrorKind::kBadRequestData, "type must be ServiceRequest, Pledge or NewsItem");
    }
    type = *t;
  }
  std::size_t limit = 20;
  if (const std::string* l = call->request.query_param("limit")) {
    auto n = parse_size(*l);
    if (!n || *n == 0 || *n > gov::kSearchLimitMax) {
      return call->fail(ErrorKind::kBadRequestData,
                        fmt::format("limit must be 1..{}", gov::kSearchLimitMax));
    }
    limit = *n;
  }
  bool by_relevance = false;
  if (const std::string* order = call->request.query_param("order")) {
    if (*order != "recent" && *order != "relevance") {
      return call->fail(ErrorKind::kBadRequestData, "order must be recent or relevance");
    }
    by_relevance = *order == "relevance";
  }
  // A caller who may not see a type (the public: ServiceRequest, whose text is a citizen's own
  // words) gets no hits of it; fetch the most the index gives so the filter does not starve the
  // page, then cut to `limit`.
  const bool filtered = call->grant && call->grant->limited();
  auto hits = g->current_index().search(call->tenant, *q, type,
                                         filtered ? gov::kSearchLimitMax : limit, by_relevance);
  if (!hits) return call->fail(hits.error());
  json::array out;
  for (const auto& h : *hits) {
    if (filtered && !call->grant->may_see_type(gov::iri(h.type))) continue;
    if (out.size() == limit) break;
    out.push_back(json::object{{"id", h.id}, {"type", h.type}, {"title", h.title},
                               {"snippet", h.snippet}});
  }
  reply(*call, 200, out);
}

// Public like Open311's GET requests: counts over the public view, no personal data.
void request_stats(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {});
  if (!call) return;
  auto* g = deps.governance;
  const auto now = base::now_micros();
  base::Micros from = now - gov::kDefaultWindow, to = now + 1;
  for (auto [name, target] : {std::pair{"from", &from}, std::pair{"to", &to}}) {
    if (const std::string* v = call->request.query_param(name)) {
      auto t = base::parse_iso8601(*v, true);
      if (!t) {
        return call->fail(ErrorKind::kBadRequestData,
                          fmt::format("{} '{}' is not an ISO 8601 date or date-time", name, *v));
      }
      *target = *t;
    }
  }
  auto stats = g->current_index().request_stats(call->tenant, from, to, now);
  if (!stats) return call->fail(stats.error());
  reply(*call, 200, *stats);
}

// Public: the Open311 view of one request (citizens' lookup), no personal data.
void get_request(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {});
  if (!call) return;
  auto* g = deps.governance;
  const std::string id = full_id(call->request.param("id"), gov::kRequestType);
  auto e = deps.hub.get(call->tenant, id);
  if (!e) return call->fail(e.error());
  if (!*e) return call->fail(ErrorKind::kResourceNotFound, fmt::format("no request '{}'", id));
  auto body = gov::open311_request(gov::key_values(g->core(), **e));
  body["id"] = id;
  reply(*call, 200, body);
}

void request_contact(Deps& deps, http::Request&& request, http::Respond respond) {
  // Personal data: a staff action, checked as a write so a read-only (public) role never
  // reaches it.
  auto call = start(deps, std::move(request), std::move(respond), {.read_only = false}, gov::kRequestType, Needs::kSee);
  if (!call) return;
  auto* g = deps.governance;
  const std::string id = full_id(call->request.param("id"), gov::kRequestType);
  auto contact = g->contact_of(call->tenant, id);
  if (!contact) return call->fail(contact.error());
  if (!*contact) return call->fail(ErrorKind::kResourceNotFound, "no contact given for " + id);
  reply(*call, 200, **contact);
}

void workflow(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {.read_only = false, .has_body = true}, gov::kRequestType, Needs::kWrite);
  if (!call) return;
  auto* g = deps.governance;
  const std::string action = call->request.param("action");
  if (action != "assign" && action != "notes" && action != "close" && action != "reopen") {
    return call->fail(ErrorKind::kResourceNotFound,
                      fmt::format("'{}' is not a request action (assign, notes, close, reopen)",
                                  action));
  }
  if (!call->body.is_object()) return call->fail(ErrorKind::kBadRequestData, "the body must be an object");
  const std::string id = full_id(call->request.param("id"), gov::kRequestType);
  auto existing = deps.hub.get(call->tenant, id);
  if (!existing) return call->fail(existing.error());
  if (!*existing) return call->fail(ErrorKind::kResourceNotFound, fmt::format("no request '{}'", id));
  const auto now = base::now_micros();
  auto fragment = gov::workflow_fragment(action, call->body.as_object(), now);
  if (!fragment) return call->fail(fragment.error());
  const auto status = gov::str(gov::key_values(g->core(), **existing), "status");
  if (action == "close" && status == "closed") {
    return call->fail(ErrorKind::kBadRequestData, "the request is already closed");
  }
  if (action == "reopen" && status != "closed") {
    return call->fail(ErrorKind::kBadRequestData, "the request is not closed");
  }
  auto entity = gov::to_entity(g->core(), *fragment, true, now);
  if (!entity) return call->fail(entity.error());
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.append_attrs(shared->tenant, id, std::move(*entity), false,
                        [shared, g, id](base::Result<hub::AttrsOutcome> r) {
                          if (!r) return shared->fail(r.error());
                          auto e = shared->deps->hub.get(shared->tenant, id);
                          if (!e || !*e) return reply(*shared, 200, json::object{{"id", id}});
                          const auto kv = gov::key_values(g->core(), **e);
                          auto body = gov::open311_request(kv);
                          body["id"] = id;
                          reply(*shared, 200, body);
                        });
}


// ---- policy indicators ----------------------------------------------------------------

bool is_indicator(const model::Entity& e) {
  const auto types = model::entity_types(e);
  return std::find(types.begin(), types.end(), gov::iri(gov::kIndicatorType)) != types.end();
}

// The indicator `{id}` names as keyValues, or the error answered.
std::optional<json::object> indicator_of(Call& call, gov::Governance& g) {
  const std::string id = full_id(call.request.param("id"), gov::kIndicatorType);
  auto e = call.deps->hub.get(call.tenant, id);
  if (!e) {
    call.fail(e.error());
    return std::nullopt;
  }
  if (!*e || !is_indicator(**e)) {
    call.fail(ErrorKind::kResourceNotFound, fmt::format("no indicator '{}'", id));
    return std::nullopt;
  }
  return seen_key_values(call, g, **e);
}

json::array series_json(const std::vector<gov::IndicatorPoint>& series) {
  json::array out;
  for (const auto& p : series) {
    out.push_back(json::object{
        {"period", p.period},
        {"value", p.value},
        {"target", p.target ? json::value(*p.target) : json::value(nullptr)},
        {"achievement", p.achievement ? json::value(*p.achievement) : json::value(nullptr)}});
  }
  return out;
}

void list_indicators(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {});
  if (!call) return;
  auto* g = deps.governance;
  auto all = all_of_type(*call, gov::kIndicatorType);
  if (!all) return call->fail(all.error());
  json::array out;
  for (const auto& e : *all) {
    const auto kv = seen_key_values(*call, *g, e);
    if (const std::string* d = call->request.query_param("department")) {
      if (gov::str(kv, "department") != *d) continue;
    }
    auto series = gov::indicator_series(deps.hub, call->tenant, kv);
    if (!series) return call->fail(series.error());
    out.push_back(gov::indicator_tile(kv, *series));
  }
  reply(*call, 200, out);
}

void get_indicator(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {});
  if (!call) return;
  auto* g = deps.governance;
  auto kv = indicator_of(*call, *g);
  if (!kv) return;
  auto series = gov::indicator_series(deps.hub, call->tenant, *kv);
  if (!series) return call->fail(series.error());
  json::object body = *kv;
  body["tile"] = gov::indicator_tile(*kv, *series);
  body["series"] = series_json(*series);
  reply(*call, 200, body);
}

void create_indicator(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {.read_only = false, .has_body = true}, gov::kIndicatorType, Needs::kWrite);
  if (!call) return;
  auto* g = deps.governance;
  if (!call->body.is_object()) return call->fail(ErrorKind::kBadRequestData, "the body must be an object");
  auto def = gov::indicator_from_definition(call->body.as_object());
  if (!def) return call->fail(def.error());
  auto entity = gov::to_entity(g->core(), *def, false);
  if (!entity) return call->fail(entity.error());
  const std::string id(def->at("id").as_string());
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.create(shared->tenant, std::move(*entity), [shared, id](base::Result<void> r) {
    if (!r) return shared->fail(r.error());
    shared->respond([&] {
      auto resp = http::Response::json(201, json::serialize(json::object{{"id", id}}));
      resp.headers.emplace_back("location", "/cityroom/v1/indicators/" + id);
      return resp;
    }());
  });
}

void add_indicator_value(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {.read_only = false, .has_body = true}, gov::kIndicatorType, Needs::kWrite);
  if (!call) return;
  auto* g = deps.governance;
  auto kv = indicator_of(*call, *g);
  if (!kv) return;
  if (!call->body.is_object()) return call->fail(ErrorKind::kBadRequestData, "the body must be an object");
  auto fragment = gov::indicator_value_fragment(call->body.as_object(), gov::str(*kv, "periodicity"));
  if (!fragment) return call->fail(fragment.error());
  auto entity = gov::to_entity(g->core(), *fragment, true);
  if (!entity) return call->fail(entity.error());
  const std::string id = gov::str(*kv, "id");
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.append_attrs(shared->tenant, id, std::move(*entity), false,
                        [shared, g, id](base::Result<hub::AttrsOutcome> r) {
                          if (!r) return shared->fail(r.error());
                          auto e = shared->deps->hub.get(shared->tenant, id);
                          if (!e || !*e) return reply(*shared, 200, json::object{{"id", id}});
                          const auto now = gov::key_values(g->core(), **e);
                          auto series = gov::indicator_series(shared->deps->hub, shared->tenant, now);
                          if (!series) return shared->fail(series.error());
                          reply(*shared, 200, gov::indicator_tile(now, *series));
                        });
}

void recompute_indicator(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {.read_only = false}, gov::kIndicatorType, Needs::kWrite);
  if (!call) return;
  auto* g = deps.governance;
  auto kv = indicator_of(*call, *g);
  if (!kv) return;
  const std::string periodicity = gov::str(*kv, "periodicity");
  gov::Period period = gov::period_of(periodicity, base::now_micros());
  if (const std::string* p = call->request.query_param("period")) {
    auto parsed = gov::parse_period(*p);
    if (!parsed || gov::period_of(periodicity, parsed->start).label != *p) {
      return call->fail(ErrorKind::kBadRequestData,
                        fmt::format("period '{}' is not a {} period", *p, periodicity));
    }
    period = *parsed;
  }
  auto shared = std::make_shared<Call>(std::move(*call));
  g->recompute(shared->tenant, *kv, period, [shared, period](base::Result<double> r) {
    if (!r) return shared->fail(r.error());
    reply(*shared, 200, json::object{{"period", period.label}, {"value", *r}});
  });
}

// CSV: indicator,period,value (indicator = URN or key). All-or-nothing per request: every row
// is checked before anything is written; writes then go one by one through the hub.
void import_indicator_values(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {.read_only = false}, gov::kIndicatorType, Needs::kWrite);
  if (!call) return;
  auto* g = deps.governance;
  const std::string* ct = call->request.header("content-type");
  if (!ct || !ct->starts_with("text/csv")) {
    return call->fail(ErrorKind::kUnsupportedMediaType, "send the values as Content-Type: text/csv");
  }
  const std::string* by = call->request.query_param("by");
  if (!by || by->empty()) return call->fail(ErrorKind::kBadRequestData, "by (who imports) is required");
  auto table = gov::parse_csv(call->request.body);
  if (!table) return call->fail(table.error());
  const auto ci = table->column("indicator"), cp = table->column("period"), cv = table->column("value");
  if (ci == std::string_view::npos || cp == std::string_view::npos || cv == std::string_view::npos) {
    return call->fail(ErrorKind::kBadRequestData, "the CSV needs columns indicator, period, value");
  }
  std::vector<std::pair<std::string, model::Entity>> writes;
  for (std::size_t r = 0; r < table->rows.size(); ++r) {
    auto row = table->rows[r];
    for (auto& cell : row) {  // exported sheets pad cells
      const auto b = cell.find_first_not_of(" \t");
      const auto e = cell.find_last_not_of(" \t\r");
      cell = b == std::string::npos ? std::string() : cell.substr(b, e - b + 1);
    }
    const std::string id = full_id(row[ci], gov::kIndicatorType);
    auto e = deps.hub.get(call->tenant, id);
    if (!e) return call->fail(e.error());
    if (!*e || !is_indicator(**e)) {
      return call->fail(ErrorKind::kBadRequestData,
                        fmt::format("line {}: no indicator '{}'", table->lines[r], row[ci]));
    }
    char* end = nullptr;
    const double v = std::strtod(row[cv].c_str(), &end);
    if (row[cv].empty() || end != row[cv].c_str() + row[cv].size()) {
      return call->fail(ErrorKind::kBadRequestData,
                        fmt::format("line {}: value '{}' is not a number", table->lines[r], row[cv]));
    }
    auto fragment = gov::indicator_value_fragment(
        json::object{{"period", row[cp]}, {"value", v}, {"by", *by}},
        gov::str(gov::key_values(g->core(), **e), "periodicity"));
    if (!fragment) {
      return call->fail(ErrorKind::kBadRequestData,
                        fmt::format("line {}: {}", table->lines[r], fragment.error().detail));
    }
    auto entity = gov::to_entity(g->core(), *fragment, true);
    if (!entity) return call->fail(entity.error());
    writes.emplace_back(id, std::move(*entity));
  }
  struct State {
    Call call;
    std::size_t left = 0;
    std::size_t total = 0;
    std::mutex mutex;
    std::optional<base::Error> error;
  };
  auto state = std::make_shared<State>();
  state->call = std::move(*call);
  state->left = state->total = writes.size();
  if (writes.empty()) return reply(state->call, 200, json::object{{"rows", 0}});
  for (auto& [id, entity] : writes) {
    deps.hub.append_attrs(state->call.tenant, id, std::move(entity), false,
                          [state](base::Result<hub::AttrsOutcome> r) {
                            std::unique_lock lock(state->mutex);
                            if (!r && !state->error) state->error = r.error();
                            if (--state->left > 0) return;
                            lock.unlock();
                            if (state->error) return state->call.fail(*state->error);
                            reply(state->call, 200, json::object{{"rows", state->total}});
                          });
  }
}


// ---- call-centre statistics ------------------------------------------------------------

void import_call_days(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {.read_only = false}, gov::kCallCentreType, Needs::kWrite);
  if (!call) return;
  auto* g = deps.governance;
  const std::string* ct = call->request.header("content-type");
  if (!ct || !ct->starts_with("text/csv")) {
    return call->fail(ErrorKind::kUnsupportedMediaType, "send the statistics as Content-Type: text/csv");
  }
  const std::string* centre = call->request.query_param("centre");
  const std::string* by = call->request.query_param("by");
  if (!centre || centre->empty() || !by || by->empty()) {
    return call->fail(ErrorKind::kBadRequestData, "centre and by are required");
  }
  auto days = gov::call_days_from_csv(call->request.body);
  if (!days) return call->fail(days.error());
  // The series entities first (upsert), then one write per day in file order: the hub's
  // queue keeps that order, so a corrected day later in the file wins.
  std::map<std::string, json::object> series;
  for (const auto& d : *days) {
    const std::string id = gov::call_stat_id(*centre, d.category, d.channel);
    series.emplace(id, json::object{{"id", id}, {"type", gov::kCallCentreType},
                                    {"centre", *centre}, {"category", d.category},
                                    {"channel", d.channel}});
  }
  std::vector<hub::BatchItem> items;
  for (const auto& [id, e] : series) items.push_back({id, gov::to_entity(g->core(), e, false)});
  std::vector<std::pair<std::string, model::Entity>> writes;
  for (const auto& d : *days) {
    const std::string at = base::format_iso8601(*gov::city_day_start(d.date));
    auto fragment = gov::to_entity(
        g->core(),
        json::object{{"callCount", json::object{{"type", "Property"}, {"value", d.count},
                                                {"observedAt", at}, {"unitCode", "C62"}}},
                     {"averageHandlingTime", json::object{{"type", "Property"},
                                                          {"value", d.average_seconds},
                                                          {"observedAt", at}, {"unitCode", "SEC"}}},
                     {"modifiedBy", *by}},
        true);
    if (!fragment) return call->fail(fragment.error());
    writes.emplace_back(gov::call_stat_id(*centre, d.category, d.channel), std::move(*fragment));
  }
  struct State {
    Call call;
    std::size_t left = 0;
    std::size_t rows = 0;
    std::size_t series = 0;
    std::mutex mutex;
    std::optional<base::Error> error;
  };
  auto state = std::make_shared<State>();
  state->call = std::move(*call);
  state->left = state->rows = writes.size();
  state->series = series.size();
  if (writes.empty()) return reply(state->call, 200, json::object{{"rows", 0}, {"series", 0}});
  auto write_days = std::make_shared<std::vector<std::pair<std::string, model::Entity>>>(std::move(writes));
  deps.hub.batch(state->call.tenant, hub::BatchKind::kUpsertUpdate, std::move(items),
                 [state, write_days, &deps](base::Result<hub::BatchOutcome> r) {
                   if (!r || !r->errors.empty()) {
                     return state->call.fail(!r ? r.error() : r->errors.front().error);
                   }
                   for (auto& [id, e] : *write_days) {
                     deps.hub.append_attrs(state->call.tenant, id, std::move(e), false,
                                           [state](base::Result<hub::AttrsOutcome> w) {
                                             std::unique_lock lock(state->mutex);
                                             if (!w && !state->error) state->error = w.error();
                                             if (--state->left > 0) return;
                                             lock.unlock();
                                             if (state->error) return state->call.fail(*state->error);
                                             reply(state->call, 200,
                                                   json::object{{"rows", state->rows},
                                                                {"series", state->series}});
                                           });
                   }
                 });
}

void call_summary(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {}, gov::kCallCentreType, Needs::kSee);
  if (!call) return;
  auto* g = deps.governance;
  // Days are inclusive, in city time; default: the last 30 days.
  const auto today = base::format_iso8601(base::now_micros() + gov::kCityUtcOffsetSeconds * 1'000'000LL).substr(0, 10);
  std::string from = base::format_iso8601(base::now_micros() + (gov::kCityUtcOffsetSeconds - 29 * 86400LL) * 1'000'000LL).substr(0, 10);
  std::string to = today;
  for (auto [name, target] : {std::pair{"from", &from}, std::pair{"to", &to}}) {
    if (const std::string* v = call->request.query_param(name)) {
      if (!gov::city_day_start(*v)) {
        return call->fail(ErrorKind::kBadRequestData, fmt::format("{} '{}' is not YYYY-MM-DD", name, *v));
      }
      *target = *v;
    }
  }
  const base::Micros start = *gov::city_day_start(from);
  const base::Micros end = *gov::city_day_start(to) + 86'400'000'000LL;
  auto all = all_of_type(*call, gov::kCallCentreType);
  if (!all) return call->fail(all.error());
  const std::string* centre = call->request.query_param("centre");
  std::vector<gov::CallDay> days;
  for (const auto& e : *all) {
    const auto kv = gov::key_values(g->core(), e);
    if (centre && gov::str(kv, "centre") != *centre) continue;
    store::HistoryQuery h;
    h.entity_id = gov::str(kv, "id");
    h.attributes = std::vector<std::string>{gov::iri("callCount"), gov::iri("averageHandlingTime")};
    h.from = start;
    h.to = end;
    auto series = deps.hub.history(call->tenant, h);
    if (!series) return call->fail(series.error());
    // day start → (count, average), the latest write of each day winning.
    std::map<base::Micros, std::pair<std::pair<std::int64_t, double>, std::pair<std::int64_t, double>>> by_day;
    for (const auto& s : *series) {
      const bool is_count = s.attribute == gov::iri("callCount");
      for (const auto& row : s.rows) {
        if (!row.value.is_number()) continue;
        auto& slot = is_count ? by_day[row.time].first : by_day[row.time].second;
        if (row.instance >= slot.first) slot = {row.instance, row.value.to_number<double>()};
      }
    }
    for (const auto& [t, v] : by_day) {
      gov::CallDay d;
      d.date = base::format_iso8601(t + gov::kCityUtcOffsetSeconds * 1'000'000LL).substr(0, 10);
      d.category = gov::str(kv, "category");
      d.channel = gov::str(kv, "channel");
      d.count = v.first.second;
      d.average_seconds = v.second.second;
      days.push_back(std::move(d));
    }
  }
  reply(*call, 200, gov::call_summary(days, from, to));
}


// ---- press trends ------------------------------------------------------------------------

void import_press(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {.read_only = false}, gov::kNewsType, Needs::kWrite);
  if (!call) return;
  auto* g = deps.governance;
  const std::string* ct = call->request.header("content-type");
  static constexpr std::string_view kTypes[] = {"application/rss+xml", "application/atom+xml",
                                                "application/xml", "text/xml"};
  if (!ct || std::none_of(std::begin(kTypes), std::end(kTypes),
                          [&](std::string_view t) { return ct->starts_with(t); })) {
    return call->fail(ErrorKind::kUnsupportedMediaType,
                      "send the feed as application/rss+xml, application/atom+xml or text/xml");
  }
  auto feed = gov::parse_feed(call->request.body);
  if (!feed) return call->fail(feed.error());
  const std::string* source_param = call->request.query_param("source");
  const std::string source = source_param && !source_param->empty() ? *source_param
                             : feed->title.empty() ? std::string("feed") : feed->title;
  std::vector<hub::BatchItem> items;
  std::set<std::string> seen;
  for (const auto& item : feed->items) {
    auto e = gov::news_entity(item, source, g->press_topics());
    const std::string id(e.at("id").as_string());
    if (!seen.insert(id).second) continue;  // the same item twice in one feed
    items.push_back({id, gov::to_entity(g->core(), e, false)});
  }
  if (items.empty()) return reply(*call, 200, json::object{{"items", 0}, {"created", 0}});
  auto shared = std::make_shared<Call>(std::move(*call));
  const std::size_t n = items.size();
  deps.hub.batch(shared->tenant, hub::BatchKind::kUpsertUpdate, std::move(items),
                 [shared, n](base::Result<hub::BatchOutcome> r) {
                   if (!r) return shared->fail(r.error());
                   if (!r->errors.empty()) return shared->fail(r->errors.front().error);
                   reply(*shared, 200, json::object{{"items", n}, {"created", r->created.size()}});
                 });
}

// NewsItems published within [from, to] (days, city time), newest first.
base::Result<std::vector<json::object>> news_between(Call& call, gov::Governance& g,
                                                     base::Micros start, base::Micros end) {
  auto all = all_of_type(call, gov::kNewsType);
  if (!all) return std::unexpected(all.error());
  std::vector<std::pair<base::Micros, json::object>> found;
  for (const auto& e : *all) {
    auto kv = gov::key_values(g.core(), e);
    const json::value* p = json::find(kv, "publishedAt");
    const auto iso = p && p->is_object() ? json::get_string(p->as_object(), "@value") : std::nullopt;
    const auto t = iso ? base::parse_iso8601(*iso) : std::nullopt;
    if (t && *t >= start && *t < end) found.emplace_back(*t, std::move(kv));
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<json::object> out;
  for (auto& [t, kv] : found) out.push_back(std::move(kv));
  return out;
}

std::optional<std::pair<std::string, std::string>> day_window(Call& call, long default_days) {
  const auto day = [](long days_ago) {
    return base::format_iso8601(base::now_micros() +
                                (gov::kCityUtcOffsetSeconds - days_ago * 86400LL) * 1'000'000LL)
        .substr(0, 10);
  };
  std::string from = day(default_days - 1), to = day(0);
  for (auto [name, target] : {std::pair{"from", &from}, std::pair{"to", &to}}) {
    if (const std::string* v = call.request.query_param(name)) {
      if (!gov::city_day_start(*v)) {
        call.fail(ErrorKind::kBadRequestData, fmt::format("{} '{}' is not YYYY-MM-DD", name, *v));
        return std::nullopt;
      }
      *target = *v;
    }
  }
  return std::pair{from, to};
}

void press_trends(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {});
  if (!call) return;
  auto* g = deps.governance;
  auto window = day_window(*call, 14);
  if (!window) return;
  auto items = news_between(*call, *g, *gov::city_day_start(window->first),
                            *gov::city_day_start(window->second) + 86'400'000'000LL);
  if (!items) return call->fail(items.error());
  reply(*call, 200, gov::press_trends(*items, g->press_topics(), window->first, window->second));
}

void press_latest(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = start(deps, std::move(request), std::move(respond), {});
  if (!call) return;
  auto* g = deps.governance;
  std::size_t limit = 5;
  if (const std::string* l = call->request.query_param("limit")) {
    auto n = parse_size(*l);
    if (!n || *n == 0 || *n > 100) return call->fail(ErrorKind::kBadRequestData, "limit must be 1..100");
    limit = *n;
  }
  const std::string* only = call->request.query_param("topic");
  auto window = day_window(*call, 30);
  if (!window) return;
  auto items = news_between(*call, *g, *gov::city_day_start(window->first),
                            *gov::city_day_start(window->second) + 86'400'000'000LL);
  if (!items) return call->fail(items.error());
  json::array topics;
  for (const auto& t : g->press_topics()) {
    if (only && *only != t.key) continue;
    json::array latest;
    for (const auto& kv : *items) {
      const auto* ts = json::find(kv, "topics");
      if (!ts || !ts->is_array()) continue;
      if (std::none_of(ts->as_array().begin(), ts->as_array().end(),
                       [&](const json::value& v) { return v.is_string() && v.as_string() == t.key; })) {
        continue;
      }
      json::object item;
      for (std::string_view k : {"id", "title", "link", "source", "publishedAt"}) {
        if (const auto* v = json::find(kv, k)) item[k] = *v;
      }
      latest.push_back(std::move(item));
      if (latest.size() == limit) break;
    }
    topics.push_back(json::object{{"topic", t.key}, {"name", t.name}, {"items", std::move(latest)}});
  }
  if (only && topics.empty()) {
    return call->fail(ErrorKind::kResourceNotFound, fmt::format("no press topic '{}'", *only));
  }
  reply(*call, 200, json::object{{"topics", std::move(topics)}});
}

}  // namespace

void register_governance(http::Router& router, Deps& deps) {
  router.add("GET", "/cityroom/v1/pledges", bound(deps, list_pledges));
  router.add("GET", "/cityroom/v1/pledges/summary", bound(deps, pledge_summary));
  router.add("POST", "/cityroom/v1/pledges/import", bound(deps, import_pledges));
  router.add("GET", "/cityroom/v1/pledges/{id}", bound(deps, get_pledge));
  router.add("PATCH", "/cityroom/v1/pledges/{id}", bound(deps, patch_pledge));
  router.add("GET", "/cityroom/v1/pledges/{id}/history", bound(deps, pledge_history));
  router.add("GET", "/cityroom/v1/search", bound(deps, search));
  router.add("GET", "/cityroom/v1/requests/stats", bound(deps, request_stats));
  router.add("GET", "/cityroom/v1/requests/{id}", bound(deps, get_request));
  router.add("GET", "/cityroom/v1/requests/{id}/contact", bound(deps, request_contact));
  router.add("POST", "/cityroom/v1/requests/{id}/{action}", bound(deps, workflow));
  router.add("GET", "/cityroom/v1/indicators", bound(deps, list_indicators));
  router.add("POST", "/cityroom/v1/indicators", bound(deps, create_indicator));
  router.add("POST", "/cityroom/v1/indicators/import", bound(deps, import_indicator_values));
  router.add("GET", "/cityroom/v1/indicators/{id}", bound(deps, get_indicator));
  router.add("POST", "/cityroom/v1/indicators/{id}/values", bound(deps, add_indicator_value));
  router.add("POST", "/cityroom/v1/indicators/{id}/recompute", bound(deps, recompute_indicator));
  router.add("POST", "/cityroom/v1/callcentre/import", bound(deps, import_call_days));
  router.add("GET", "/cityroom/v1/callcentre/summary", bound(deps, call_summary));
  router.add("POST", "/cityroom/v1/press/import", bound(deps, import_press));
  router.add("GET", "/cityroom/v1/press/trends", bound(deps, press_trends));
  router.add("GET", "/cityroom/v1/press/latest", bound(deps, press_latest));
  register_open311(router, deps);
}

}  // namespace cityroom::api
