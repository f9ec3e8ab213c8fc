// NGSI-LD batch operations (ETSI GS CIM 009 §5.6.7–§5.6.10, §5.7.2 query by POST).
#include <fmt/format.h>

#include "api/call.h"
#include "api/routes.h"

namespace cityroom::api {
namespace {

using base::ErrorKind;

base::Result<const json::array*> body_array(const Call& call) {
  if (!call.body.is_array()) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("a batch body must be a JSON array, not {}",
                                  json::kind_name(call.body)));
  }
  const auto& items = call.body.get_array();
  if (items.empty()) {
    return base::fail(ErrorKind::kBadRequestData, "a batch body must not be empty");
  }
  if (items.size() > hub::kBatchEntitiesMax) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("a batch holds at most {} entities, this one {}",
                                  hub::kBatchEntitiesMax, items.size()));
  }
  return &items;
}

// Parses every element; an element that fails becomes a per-entity error, not a failed batch.
std::vector<hub::BatchItem> parse_items(const Call& call, const json::array& items,
                                        bool key_values) {
  std::vector<hub::BatchItem> out;
  out.reserve(items.size());
  const base::Micros now = base::now_micros();
  for (const auto& v : items) {
    hub::BatchItem item{"", base::fail(ErrorKind::kBadRequestData, "")};
    if (!v.is_object()) {
      item.entity = base::fail(ErrorKind::kBadRequestData,
                               fmt::format("a batch element must be an entity object, not {}",
                                           json::kind_name(v)));
      out.push_back(std::move(item));
      continue;
    }
    const auto& o = v.get_object();
    if (const auto* id = o.if_contains("id"); id && id->is_string()) item.id = id->get_string();
    auto ctx = context_of(call, o);
    if (!ctx) {
      item.entity = std::unexpected(ctx.error());
    } else {
      item.entity = model::parse_entity(o, **ctx, {model::ParseMode::kEntity, key_values, now});
    }
    out.push_back(std::move(item));
  }
  return out;
}

json::value outcome_body(const hub::BatchOutcome& outcome) {
  json::array success, errors;
  for (const auto& id : outcome.success) success.emplace_back(id);
  for (const auto& f : outcome.errors) {
    auto problem = json::parse(base::problem_json(f.error));
    errors.emplace_back(json::object{{"entityId", f.id},
                                     {"error", problem ? *problem : json::value()}});
  }
  return json::object{{"success", std::move(success)}, {"errors", std::move(errors)}};
}

void reply_outcome(Call& call, hub::BatchKind kind, const hub::BatchOutcome& outcome) {
  if (!outcome.errors.empty()) return reply_json(call, 207, outcome_body(outcome), false);
  const bool upsert =
      kind == hub::BatchKind::kUpsertReplace || kind == hub::BatchKind::kUpsertUpdate;
  if (kind == hub::BatchKind::kCreate || (upsert && !outcome.created.empty())) {
    json::array ids;
    for (const auto& id : kind == hub::BatchKind::kCreate ? outcome.success : outcome.created) {
      ids.emplace_back(id);
    }
    return reply_json(call, 201, std::move(ids), false);
  }
  reply_empty(call, 204);
}

// A limited grant writes only entities it may see, of types it may write: any other element
// fails alone, as NotFound when the stored entity is invisible (its existence must not leak).
void restrict_items(const Call& call, std::vector<hub::BatchItem>& items, bool replaces) {
  if (!call.grant || !call.grant->limited()) return;
  const auto refuse = [&](hub::BatchItem& item, base::Error e) { item.entity = std::unexpected(e); };
  for (auto& item : items) {
    if (!item.entity) continue;
    bool ok = true;
    for (const auto& t : model::entity_types(*item.entity)) {
      if (!call.grant->may_write_type(t)) {
        refuse(item, {ErrorKind::kBadRequestData,
                      fmt::format("{} may not write entities of type {}", call.grant->who(), t)});
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    auto stored = call.deps->hub.get(call.tenant, item.id);
    if (stored) {
      // No attribute hidden from the writer on the entity's types (new or stored) is written.
      auto types = model::entity_types(*item.entity);
      if (*stored) {
        for (auto& t : model::entity_types(**stored)) types.push_back(std::move(t));
      }
      auto names = attribute_names(*item.entity);
      // A replacing upsert drops the stored attributes it does not name, hidden ones too.
      if (*stored && replaces && call.grant->may_see(**stored)) {
        for (auto& n : attribute_names(**stored)) names.push_back(std::move(n));
      }
      if (auto hidden = hidden_attribute(call, types, names)) {
        refuse(item, {ErrorKind::kBadRequestData,
                      fmt::format("{} may not write the attribute {}", call.grant->who(),
                                  call.context->compact(*hidden))});
        continue;
      }
    }
    if (!stored) {
      refuse(item, stored.error());
    } else if (*stored && !call.grant->may_see(**stored)) {
      refuse(item, entity_not_found(item.id));
    } else if (*stored) {
      for (const auto& t : model::entity_types(**stored)) {
        if (!call.grant->may_write_type(t)) {
          refuse(item, {ErrorKind::kBadRequestData,
                        fmt::format("{} may not write entities of type {}", call.grant->who(), t)});
          break;
        }
      }
    }
  }
}

void run_batch(Deps& deps, http::Request&& req, http::Respond respond, hub::BatchKind kind) {
  auto call = prepare(std::move(req), std::move(respond), deps,
                      {.read_only = false, .has_body = true});
  if (!call) return;
  auto items = body_array(*call);
  if (!items) return call->fail(items.error());
  if (kind == hub::BatchKind::kUpsertReplace && has_option(call->request, "update")) {
    kind = hub::BatchKind::kUpsertUpdate;
  }
  if (kind == hub::BatchKind::kUpdate && has_option(call->request, "noOverwrite")) {
    kind = hub::BatchKind::kUpdateNoOverwrite;
  }
  auto parsed = parse_items(*call, **items, has_option(call->request, "keyValues"));
  restrict_items(*call, parsed, kind == hub::BatchKind::kUpsertReplace);
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.batch(shared->tenant, kind, std::move(parsed),
                 [shared, kind](base::Result<hub::BatchOutcome> r) {
                   if (!r) return shared->fail(r.error());
                   reply_outcome(*shared, kind, *r);
                 });
}

void batch_delete(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps,
                      {.read_only = false, .has_body = true});
  if (!call) return;
  auto items = body_array(*call);
  if (!items) return call->fail(items.error());
  std::vector<std::string> ids;
  hub::BatchOutcome invalid;
  for (const auto& v : **items) {
    if (v.is_string() && base::is_uri(v.get_string())) {
      if (call->grant && call->grant->limited()) {
        const std::string id(v.get_string());
        auto stored = deps.hub.get(call->tenant, id);
        bool may = stored && (!*stored || call->grant->may_see(**stored));
        if (may && *stored) {
          for (const auto& t : model::entity_types(**stored)) may = may && call->grant->may_write_type(t);
        }
        if (!may) {
          invalid.errors.push_back({id, entity_not_found(id)});
          continue;
        }
      }
      ids.emplace_back(v.get_string());
    } else {
      invalid.errors.push_back(
          {v.is_string() ? std::string(v.get_string()) : json::serialize(v),
           {ErrorKind::kBadRequestData, "a batch delete element must be an entity id (a URI)"}});
    }
  }
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.batch_delete(
      shared->tenant, std::move(ids),
      [shared, invalid = std::move(invalid)](base::Result<hub::BatchOutcome> r) {
        if (!r) return shared->fail(r.error());
        for (const auto& e : invalid.errors) r->errors.push_back(e);
        if (!r->errors.empty()) return reply_json(*shared, 207, outcome_body(*r), false);
        reply_empty(*shared, 204);
      });
}

// POST /entityOperations/query: the body is a Query data type; it becomes query parameters.
void batch_query(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps,
                      {.read_only = true, .has_body = true, .allow_geojson = true});
  if (!call) return;
  if (!call->body.is_object()) {
    return call->fail(ErrorKind::kBadRequestData, "the body must be a Query object");
  }
  const auto& body = call->body.get_object();
  if (const auto* t = body.if_contains("type"); !t || !t->is_string() || t->get_string() != "Query") {
    return call->fail(ErrorKind::kBadRequestData, "the body must have \"type\": \"Query\"");
  }
  auto& query = call->request.query;
  auto set = [&](std::string name, std::string value) { query.emplace_back(std::move(name), std::move(value)); };
  auto join = [](const json::array& a) {
    std::string out;
    for (const auto& v : a) {
      if (!v.is_string()) continue;
      if (!out.empty()) out += ',';
      out += v.get_string();
    }
    return out;
  };
  if (const auto* entities = body.if_contains("entities")) {
    if (!entities->is_array()) return call->fail(ErrorKind::kBadRequestData, "entities must be an array");
    std::vector<std::string> types, ids;
    for (const auto& sel : entities->get_array()) {
      if (!sel.is_object()) return call->fail(ErrorKind::kBadRequestData, "each entities element must be an object");
      const auto& o = sel.get_object();
      if (const auto* t = o.if_contains("type"); t && t->is_string()) types.emplace_back(t->get_string());
      if (const auto* i = o.if_contains("id"); i && i->is_string()) ids.emplace_back(i->get_string());
      if (const auto* p = o.if_contains("idPattern"); p && p->is_string()) set("idPattern", std::string(p->get_string()));
    }
    auto comma = [](const std::vector<std::string>& v) {
      std::string out;
      for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
      return out;
    };
    if (!types.empty()) set("type", comma(types));
    if (!ids.empty()) set("id", comma(ids));
  }
  if (const auto* attrs = body.if_contains("attrs"); attrs && attrs->is_array()) set("attrs", join(attrs->get_array()));
  if (const auto* q = body.if_contains("q"); q && q->is_string()) set("q", std::string(q->get_string()));
  if (const auto* s = body.if_contains("scopeQ"); s && s->is_string()) set("scopeQ", std::string(s->get_string()));
  if (const auto* g = body.if_contains("geoQ"); g && g->is_object()) {
    const auto& o = g->get_object();
    auto str = [&](std::string_view k) -> std::string {
      const auto* v = o.if_contains(k);
      if (!v) return "";
      return v->is_string() ? std::string(v->get_string()) : json::serialize(*v);
    };
    set("georel", str("georel"));
    set("geometry", str("geometry"));
    set("coordinates", str("coordinates"));
    if (o.contains("geoproperty")) set("geoproperty", str("geoproperty"));
  }
  answer_query(*call);
}

}  // namespace

void register_batch(http::Router& router, Deps& deps) {
  auto bind = [&deps](hub::BatchKind kind) {
    return [&deps, kind](http::Request&& r, http::Respond respond) {
      run_batch(deps, std::move(r), std::move(respond), kind);
    };
  };
  router.add("POST", "/ngsi-ld/v1/entityOperations/create", bind(hub::BatchKind::kCreate));
  router.add("POST", "/ngsi-ld/v1/entityOperations/upsert", bind(hub::BatchKind::kUpsertReplace));
  router.add("POST", "/ngsi-ld/v1/entityOperations/update", bind(hub::BatchKind::kUpdate));
  router.add("POST", "/ngsi-ld/v1/entityOperations/merge", bind(hub::BatchKind::kMerge));
  router.add("POST", "/ngsi-ld/v1/entityOperations/delete",
             [&deps](http::Request&& r, http::Respond respond) {
               batch_delete(deps, std::move(r), std::move(respond));
             });
  router.add("POST", "/ngsi-ld/v1/entityOperations/query",
             [&deps](http::Request&& r, http::Respond respond) {
               batch_query(deps, std::move(r), std::move(respond));
             });
}

}  // namespace cityroom::api
