// NGSI-LD entity and attribute routes (ETSI GS CIM 009 §5.6, §5.7).
#include <fmt/format.h>

#include "api/call.h"
#include "api/routes.h"

namespace cityroom::api {
namespace {

using base::ErrorKind;

constexpr std::string_view kBase = "/ngsi-ld/v1";

std::string route(std::string_view tail) { return fmt::format("{}{}", kBase, tail); }

base::Micros now() { return base::now_micros(); }

// Parses the body as an attribute fragment of entity `id` (PATCH/POST .../attrs, PATCH and PUT
// /entities/{id}). An id or type in the body must agree with the path.
base::Result<model::Entity> parse_fragment(Call& call, std::string_view id) {
  if (!call.body.is_object()) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("the body must be a JSON object, not {}",
                                  json::kind_name(call.body)));
  }
  const auto& body = call.body.get_object();
  if (const auto* bid = body.if_contains("id")) {
    if (!bid->is_string() || bid->get_string() != id) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("the id in the body does not match the entity id {}", id));
    }
  }
  model::ParseOptions options{model::ParseMode::kFragment, has_option(call.request, "keyValues"),
                              now()};
  return model::parse_entity(body, *call.context, options);
}

template <class T>
hub::Callback<T> answer(std::shared_ptr<Call> call, std::function<void(Call&, T&)> on_ok) {
  return [call, on_ok = std::move(on_ok)](base::Result<T> r) {
    if (!r) return call->fail(r.error());
    on_ok(*call, *r);
  };
}

hub::Callback<void> answer_no_content(std::shared_ptr<Call> call) {
  return [call](base::Result<void> r) {
    if (!r) return call->fail(r.error());
    reply_empty(*call, 204);
  };
}

// 204 when every attribute was updated, else 207 with updated / notUpdated.
void reply_attrs_outcome(Call& call, const hub::AttrsOutcome& outcome) {
  if (outcome.not_updated.empty()) return reply_empty(call, 204);
  json::object body;
  json::array updated, not_updated;
  for (const auto& a : outcome.updated) updated.emplace_back(call.context->compact(a));
  for (const auto& n : outcome.not_updated) {
    not_updated.emplace_back(json::object{{"attributeName", call.context->compact(n.attribute)},
                                          {"reason", n.reason}});
  }
  body["updated"] = std::move(updated);
  body["notUpdated"] = std::move(not_updated);
  reply_json(call, 207, std::move(body), false);
}

// A fragment written to a stored entity names no attribute hidden from the writer on the
// entity's (stored or new) types.
bool writable_fragment(Call& call, const std::optional<model::Entity>& stored,
                       const model::Entity& fragment) {
  auto types = model::entity_types(fragment);
  if (stored) {
    for (auto& t : model::entity_types(*stored)) types.push_back(std::move(t));
  }
  return writable_attributes(call, types, attribute_names(fragment));
}

void create_entity(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.read_only = false, .has_body = true});
  if (!call) return;
  if (!call->body.is_object()) {
    return call->fail(ErrorKind::kBadRequestData,
                      fmt::format("the body must be a JSON object (an entity), not {}",
                                  json::kind_name(call->body)));
  }
  auto entity = model::parse_entity(call->body.get_object(), *call->context,
                                    {model::ParseMode::kEntity, false, now()});
  if (!entity) return call->fail(entity.error());
  if (!writable_types(*call, model::entity_types(*entity))) return;
  if (!writable_attributes(*call, model::entity_types(*entity), attribute_names(*entity))) return;
  std::string id(entity->at(model::key::kId).get_string());
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.create(shared->tenant, std::move(*entity), [shared, id](base::Result<void> r) {
    if (!r) return shared->fail(r.error());
    reply_empty(*shared, 201, {{"location", entity_location(id)}});
  });
}

void retrieve_entity(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.allow_geojson = true});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id) return;
  auto how = render_request(*call);
  if (!how) return call->fail(how.error());
  auto got = deps.hub.get(call->tenant, *id);
  if (!got) return call->fail(got.error());
  if (!*got || !visible(*call, **got)) return call->fail(entity_not_found(*id));
  if (const auto* type = call->request.query_param("type")) {
    auto types = query::parse_types(*type);
    if (!types) return call->fail(types.error());
    const auto& ctx = *call->context;
    types->expand_names([&ctx](std::string_view t) { return ctx.expand(t); });
    if (!types->matches(**got)) {
      return call->fail(ErrorKind::kResourceNotFound,
                        fmt::format("entity {} is not of type {}", *id, *type));
    }
  }
  reply_json(*call, 200, render(*call, **got, *how));
}

void query_entities(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.allow_geojson = true});
  if (call) answer_query(*call);
}

void replace_entity(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.read_only = false, .has_body = true});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id) return;
  std::optional<model::Entity> stored;
  if (!writable(*call, *id, &stored)) return;
  auto fragment = parse_fragment(*call, *id);
  if (!fragment) return call->fail(fragment.error());
  if (!writable_types(*call, model::entity_types(*fragment))) return;
  // A replacement drops every attribute it does not name: hidden ones too, so it needs them all.
  if (stored && !writable_attributes(*call, model::entity_types(*stored),
                                     attribute_names(*stored))) {
    return;
  }
  if (!writable_attributes(*call, model::entity_types(*fragment), attribute_names(*fragment))) {
    return;
  }
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.replace(shared->tenant, *id, std::move(*fragment), answer_no_content(shared));
}

void merge_entity(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps,
                      {.read_only = false, .has_body = true, .allow_merge_patch = true});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id) return;
  std::optional<model::Entity> stored;
  if (!writable(*call, *id, &stored)) return;
  auto fragment = parse_fragment(*call, *id);
  if (!fragment) return call->fail(fragment.error());
  if (!writable_types(*call, model::entity_types(*fragment))) return;
  if (!writable_fragment(*call, stored, *fragment)) return;
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.merge(shared->tenant, *id, std::move(*fragment), answer_no_content(shared));
}

void delete_entity(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.read_only = false});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id) return;
  if (!writable(*call, *id)) return;
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.remove(shared->tenant, *id, answer_no_content(shared));
}

void append_attrs(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.read_only = false, .has_body = true});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id) return;
  std::optional<model::Entity> stored;
  if (!writable(*call, *id, &stored)) return;
  auto fragment = parse_fragment(*call, *id);
  if (!fragment) return call->fail(fragment.error());
  if (!writable_fragment(*call, stored, *fragment)) return;
  const bool no_overwrite = has_option(call->request, "noOverwrite");
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.append_attrs(shared->tenant, *id, std::move(*fragment), no_overwrite,
                        answer<hub::AttrsOutcome>(shared, reply_attrs_outcome));
}

void update_attrs(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps,
                      {.read_only = false, .has_body = true, .allow_merge_patch = true});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id) return;
  std::optional<model::Entity> stored;
  if (!writable(*call, *id, &stored)) return;
  auto fragment = parse_fragment(*call, *id);
  if (!fragment) return call->fail(fragment.error());
  if (!writable_fragment(*call, stored, *fragment)) return;
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.update_attrs(shared->tenant, *id, std::move(*fragment),
                        answer<hub::AttrsOutcome>(shared, reply_attrs_outcome));
}

// The attribute of PATCH/PUT .../attrs/{attrId}: the body is the attribute's own value.
base::Result<json::array> parse_attr_body(Call& call, std::string_view attr) {
  json::value value = call.body;
  if (value.is_object()) value.get_object().erase("@context");
  model::ParseOptions options{model::ParseMode::kFragment, has_option(call.request, "keyValues"),
                              now()};
  return model::parse_attribute(attr, value, *call.context, options);
}

void attr_write(Deps& deps, http::Request&& req, http::Respond respond, bool replace) {
  auto call = prepare(std::move(req), std::move(respond), deps,
                      {.read_only = false, .has_body = true, .allow_merge_patch = !replace});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id) return;
  std::optional<model::Entity> stored;
  if (!writable(*call, *id, &stored)) return;
  const std::string& term = call->request.param("attrId");
  auto instances = parse_attr_body(*call, term);
  if (!instances) return call->fail(instances.error());
  std::string attr = call->context->expand(term);
  if (stored && !writable_attributes(*call, model::entity_types(*stored), {attr})) return;
  auto shared = std::make_shared<Call>(std::move(*call));
  if (replace) {
    deps.hub.replace_attr(shared->tenant, *id, std::move(attr), std::move(*instances),
                          answer_no_content(shared));
  } else {
    deps.hub.patch_attr(shared->tenant, *id, std::move(attr), std::move(*instances),
                        answer_no_content(shared));
  }
}

void delete_attr(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.read_only = false});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id) return;
  std::optional<model::Entity> stored;
  if (!writable(*call, *id, &stored)) return;
  std::string attr = call->context->expand(call->request.param("attrId"));
  if (stored && !writable_attributes(*call, model::entity_types(*stored), {attr})) return;
  std::optional<std::string> dataset;
  if (const auto* d = call->request.query_param("datasetId")) dataset = *d;
  const auto* all = call->request.query_param("deleteAll");
  const bool delete_all = all && *all == "true";
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.delete_attr(shared->tenant, *id, std::move(attr), std::move(dataset), delete_all,
                       answer_no_content(shared));
}

void purge_entities(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.read_only = false});
  if (!call) return;
  const auto& r = call->request;
  if (!r.query_param("type") && !r.query_param("q") && !r.query_param("id") &&
      !r.query_param("idPattern")) {
    return call->fail(ErrorKind::kBadRequestData,
                      "deleting entities needs a type, id, idPattern or q to select them");
  }
  auto q = entity_query(*call);
  if (!q) return call->fail(q.error());
  // A limited grant purges only what it may see and write; the rest is left as if unmatched.
  if (call->grant && call->grant->limited()) {
    q->predicate = [grant = call->grant, inner = std::move(q->predicate)](const model::Entity& e) {
      if (!grant->may_see(e)) return false;
      for (const auto& t : model::entity_types(e)) {
        if (!grant->may_write_type(t)) return false;
      }
      if (!inner) return true;
      const auto view = redact(*grant, e);  // no deleting by a hidden attribute's value
      return inner(view ? *view : e);
    };
  }
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.purge(shared->tenant, std::move(*q), [shared](base::Result<std::size_t> r) {
    if (!r) return shared->fail(r.error());
    reply_empty(*shared, 204);
  });
}

}  // namespace

void register_entities(http::Router& router, Deps& deps) {
  router.add("POST", route("/entities"), bound(deps, create_entity));
  router.add("GET", route("/entities"), bound(deps, query_entities));
  router.add("DELETE", route("/entities"), bound(deps, purge_entities));
  router.add("GET", route("/entities/{entityId}"), bound(deps, retrieve_entity));
  router.add("PUT", route("/entities/{entityId}"), bound(deps, replace_entity));
  router.add("PATCH", route("/entities/{entityId}"), bound(deps, merge_entity));
  router.add("DELETE", route("/entities/{entityId}"), bound(deps, delete_entity));
  router.add("POST", route("/entities/{entityId}/attrs"), bound(deps, append_attrs));
  router.add("PATCH", route("/entities/{entityId}/attrs"), bound(deps, update_attrs));
  router.add("PATCH", route("/entities/{entityId}/attrs/{attrId}"),
             [&deps](http::Request&& r, http::Respond respond) {
               attr_write(deps, std::move(r), std::move(respond), false);
             });
  router.add("PUT", route("/entities/{entityId}/attrs/{attrId}"),
             [&deps](http::Request&& r, http::Respond respond) {
               attr_write(deps, std::move(r), std::move(respond), true);
             });
  router.add("DELETE", route("/entities/{entityId}/attrs/{attrId}"), bound(deps, delete_attr));
}

}  // namespace cityroom::api
