// NGSI-LD discovery (§5.7.5–§5.7.8: /types, /attributes) and @context management (§5.13).
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "api/call.h"
#include "api/routes.h"

namespace cityroom::api {
namespace {

using base::ErrorKind;

bool details(const http::Request& r) {
  const auto* d = r.query_param("details");
  return d && *d == "true";
}

json::array compacted(const Call& call, const std::vector<std::string>& iris) {
  json::array out;
  for (const auto& i : iris) out.emplace_back(call.context->compact(i));
  return out;
}

// Discovery answers only what the grant may see (no staff-only type or attribute names to the
// public): invisible types vanish, a type's attributes hidden from the caller vanish from it,
// and so do attributes no visible type shows the caller. Figures are exact: an attribute shared
// with types (or entities) the caller may not see is counted again over what the caller sees.
base::Result<void> restrict_types(const Call& call, std::vector<store::TypeSummary>& types) {
  if (!call.grant || !call.grant->limited()) return {};
  const Grant& grant = *call.grant;
  std::erase_if(types, [&](const store::TypeSummary& t) { return !grant.may_see_type(t.type); });
  for (auto& t : types) {
    std::erase_if(t.attributes, [&](const std::string& a) {
      return !grant.may_see_type_attribute(t.type, a);
    });
  }
  return {};
}

// The exact count and attribute types of `a` over the entities the grant sees it on, among
// `a.types` (already cut to the visible ones).
base::Result<void> recount(const Call& call, store::AttributeSummary& a) {
  const Grant& grant = *call.grant;
  std::set<std::string> kinds;
  store::EntityQuery q;
  q.any_of_types = a.types;
  q.conditions.push_back({a.attribute, query::Filter::Condition::Op::kExists, {}});
  q.predicate = [&](const model::Entity& e) {
    if (!grant.may_see(e) || !grant.may_see_attribute(e, a.attribute)) return false;
    const auto* instances = e.if_contains(a.attribute);
    if (!instances || !instances->is_array()) return false;
    for (const auto& i : instances->get_array()) {
      if (!i.is_object()) continue;
      if (const auto* k = i.get_object().if_contains("type"); k && k->is_string()) {
        kinds.emplace(k->get_string());
      }
    }
    return true;
  };
  q.limit = 0;
  q.count = true;
  auto found = call.deps->hub.query(call.tenant, q);
  if (!found) return std::unexpected(found.error());
  a.entity_count = found->total.value_or(0);
  a.attribute_types.assign(kinds.begin(), kinds.end());
  if (a.entity_count == 0) a.types.clear();
  return {};
}

base::Result<void> restrict_attributes(const Call& call,
                                       std::vector<store::AttributeSummary>& attrs) {
  if (!call.grant || !call.grant->limited()) return {};
  const Grant& grant = *call.grant;
  for (auto& a : attrs) {
    const auto before = a.types.size();
    std::erase_if(a.types, [&](const std::string& t) {
      return !grant.may_see_type(t) || !grant.may_see_type_attribute(t, a.attribute);
    });
    if (a.types.empty() || a.types.size() == before) continue;
    if (auto ok = recount(call, a); !ok) return ok;
  }
  std::erase_if(attrs, [](const store::AttributeSummary& a) { return a.types.empty(); });
  return {};
}

void list_types(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {});
  if (!call) return;
  auto types = deps.hub.store().types(call->tenant);
  if (!types) return call->fail(types.error());
  if (auto ok = restrict_types(*call, *types); !ok) return call->fail(ok.error());
  if (details(call->request)) {
    json::array out;
    for (const auto& t : *types) {
      out.emplace_back(json::object{{"id", t.type},
                                    {"type", "EntityType"},
                                    {"typeName", call->context->compact(t.type)},
                                    {"attributeNames", compacted(*call, t.attributes)}});
    }
    return reply_json(*call, 200, std::move(out));
  }
  json::array names;
  for (const auto& t : *types) names.emplace_back(call->context->compact(t.type));
  reply_json(*call, 200,
             json::object{{"id", "urn:ngsi-ld:EntityTypeList:" + call->tenant},
                          {"type", "EntityTypeList"},
                          {"typeList", std::move(names)}});
}

void get_type(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {});
  if (!call) return;
  const std::string iri = call->context->expand(call->request.param("type"));
  auto types = deps.hub.store().types(call->tenant);
  if (!types) return call->fail(types.error());
  if (auto ok = restrict_types(*call, *types); !ok) return call->fail(ok.error());
  auto attrs = deps.hub.store().attributes(call->tenant);
  if (!attrs) return call->fail(attrs.error());
  if (auto ok = restrict_attributes(*call, *attrs); !ok) return call->fail(ok.error());
  for (const auto& t : *types) {
    if (t.type != iri) continue;
    json::array details;
    for (const auto& a : t.attributes) {
      json::array kinds;
      for (const auto& summary : *attrs) {
        if (summary.attribute != a) continue;
        for (const auto& k : summary.attribute_types) kinds.emplace_back(k);
      }
      details.emplace_back(json::object{{"id", a},
                                        {"type", "Attribute"},
                                        {"attributeName", call->context->compact(a)},
                                        {"attributeTypes", std::move(kinds)}});
    }
    return reply_json(*call, 200,
                      json::object{{"id", t.type},
                                   {"type", "EntityTypeInfo"},
                                   {"typeName", call->context->compact(t.type)},
                                   {"entityCount", t.entity_count},
                                   {"attributeDetails", std::move(details)}});
  }
  call->fail(ErrorKind::kResourceNotFound,
             fmt::format("no entity of type {} exists", call->request.param("type")));
}

json::object attribute_body(const Call& call, const store::AttributeSummary& a, bool full) {
  json::object o{{"id", a.attribute},
                 {"type", "Attribute"},
                 {"attributeName", call.context->compact(a.attribute)}};
  if (full) {
    o["attributeCount"] = a.entity_count;
    json::array kinds;
    for (const auto& k : a.attribute_types) kinds.emplace_back(k);
    o["attributeTypes"] = std::move(kinds);
  }
  o["typeNames"] = compacted(call, a.types);
  return o;
}

void list_attributes(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {});
  if (!call) return;
  auto attrs = deps.hub.store().attributes(call->tenant);
  if (!attrs) return call->fail(attrs.error());
  if (auto ok = restrict_attributes(*call, *attrs); !ok) return call->fail(ok.error());
  if (details(call->request)) {
    json::array out;
    for (const auto& a : *attrs) out.emplace_back(attribute_body(*call, a, false));
    return reply_json(*call, 200, std::move(out));
  }
  json::array names;
  for (const auto& a : *attrs) names.emplace_back(call->context->compact(a.attribute));
  reply_json(*call, 200,
             json::object{{"id", "urn:ngsi-ld:AttributeList:" + call->tenant},
                          {"type", "AttributeList"},
                          {"attributeList", std::move(names)}});
}

void get_attribute(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {});
  if (!call) return;
  const std::string iri = call->context->expand(call->request.param("attrId"));
  auto attrs = deps.hub.store().attributes(call->tenant);
  if (!attrs) return call->fail(attrs.error());
  if (auto ok = restrict_attributes(*call, *attrs); !ok) return call->fail(ok.error());
  for (const auto& a : *attrs) {
    if (a.attribute == iri) return reply_json(*call, 200, attribute_body(*call, a, true));
  }
  call->fail(ErrorKind::kResourceNotFound,
             fmt::format("no entity has an attribute {}", call->request.param("attrId")));
}

// ---- /jsonldContexts -------------------------------------------------------------------

http::Response ld_json(int status, const json::value& body) {
  http::Response r;
  r.status = status;
  r.headers.emplace_back("content-type", "application/ld+json");
  r.body = json::serialize(body);
  return r;
}

void add_context(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps,
                      {.read_only = false, .has_body = true, .context_document = true});
  if (!call) return;
  auto id = deps.contexts.add(call->body);
  if (!id) return call->fail(id.error());
  reply_empty(*call, 201, {{"location", "/ngsi-ld/v1/jsonldContexts/" + *id}});
}

void list_contexts(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {});
  if (!call) return;
  json::array out;
  const bool full = details(call->request);
  const std::string* kind = call->request.query_param("kind");
  if (kind && *kind != "Hosted" && *kind != "Cached" && *kind != "ImplicitlyCreated") {
    return call->fail(ErrorKind::kBadRequestData,
                      fmt::format("kind: '{}' is not Hosted, Cached or ImplicitlyCreated", *kind));
  }
  for (const auto& info : deps.contexts.list()) {
    if (kind && info.kind != *kind) continue;
    if (!full) {
      out.emplace_back(info.id);
      continue;
    }
    out.emplace_back(json::object{{"id", info.id},
                                  {"url", info.id},
                                  {"kind", info.kind},
                                  {"numberOfHits", info.number_of_hits},
                                  {"createdAt", base::format_iso8601(info.created_at)}});
  }
  http::Response r = http::Response::json(200, json::serialize(out));
  call->respond(std::move(r));
}

void get_context(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {});
  if (!call) return;
  auto doc = deps.contexts.get(call->request.param("contextId"));
  if (!doc) return call->fail(doc.error());
  call->respond(ld_json(200, *doc));
}

void delete_context(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.read_only = false});
  if (!call) return;
  auto removed = deps.contexts.remove(call->request.param("contextId"));
  if (!removed) return call->fail(removed.error());
  reply_empty(*call, 204);
}

}  // namespace

void register_discovery(http::Router& router, Deps& deps) {
  router.add("GET", "/ngsi-ld/v1/types", bound(deps, list_types));
  router.add("GET", "/ngsi-ld/v1/types/{type}", bound(deps, get_type));
  router.add("GET", "/ngsi-ld/v1/attributes", bound(deps, list_attributes));
  router.add("GET", "/ngsi-ld/v1/attributes/{attrId}", bound(deps, get_attribute));
}

void register_contexts(http::Router& router, Deps& deps) {
  router.add("POST", "/ngsi-ld/v1/jsonldContexts", bound(deps, add_context));
  router.add("GET", "/ngsi-ld/v1/jsonldContexts", bound(deps, list_contexts));
  router.add("GET", "/ngsi-ld/v1/jsonldContexts/{contextId}", bound(deps, get_context));
  router.add("DELETE", "/ngsi-ld/v1/jsonldContexts/{contextId}", bound(deps, delete_context));
}

void register_ngsi_ld(http::Router& router, Deps& deps) {
  register_entities(router, deps);
  register_batch(router, deps);
  register_discovery(router, deps);
  register_contexts(router, deps);
  register_subscriptions(router, deps);
  register_temporal(router, deps);
}

}  // namespace cityroom::api
