// NGSI-LD temporal API, write side (ETSI GS CIM 009 §5.6.11–5.6.16): POST /temporal/entities
// (create or add to a temporal representation), POST /temporal/entities/{id}/attrs (add
// instances), DELETE /temporal/entities/{id}/attrs/{attrId} (datasetId / deleteAll),
// PATCH and DELETE /temporal/entities/{id}/attrs/{attrId}/{instanceId}.
//
// What a temporal write does to the CURRENT entity (Hub::append_temporal): history is the
// past. Added instances advance the current entity only where they are newer than what it
// holds; a temporal create of an entity that does not exist creates it from the newest
// instance of each attribute (so it is found by type); deleting or patching instances never
// touches the current entity. Parsing happens here; bad input is refused before the hub runs,
// so a refused request stores nothing.
#include <fmt/format.h>

#include <algorithm>

#include <charconv>

#include "api/call.h"
#include "api/routes.h"

namespace cityroom::api {
namespace {

using base::ErrorKind;

constexpr std::string_view kBase = "/ngsi-ld/v1/temporal";
constexpr std::string_view kInstancePrefix = "urn:cityroom:instance:";

std::string route(std::string_view tail) { return fmt::format("{}{}", kBase, tail); }

// Entity members of a temporal entity that are not attributes.
bool not_attribute(std::string_view name) {
  return name == "id" || name == "type" || name == "@context" || name == "scope" ||
         name == "createdAt" || name == "modifiedAt" || name == "deletedAt";
}

// The simplified temporal form (§4.5.9) of one attribute: {"type", "values": [[v, t], ...]}
// (objects/languageMaps/vocabs/jsons/valueLists/objectLists) → normalized instances.
std::optional<base::Result<json::array>> simplified(std::string_view name, const json::object& o) {
  static constexpr std::pair<std::string_view, std::string_view> kLists[] = {
      {"values", "value"},      {"objects", "object"},   {"languageMaps", "languageMap"},
      {"vocabs", "vocab"},      {"jsons", "json"},       {"valueLists", "valueList"},
      {"objectLists", "objectList"}};
  for (const auto& [list, member] : kLists) {
    const auto* values = o.if_contains(list);
    if (!values) continue;
    if (!values->is_array()) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("attribute '{}': {} must be an array of [value, time]", name,
                                    list));
    }
    json::array out;
    for (const auto& pair : values->get_array()) {
      if (!pair.is_array() || pair.get_array().size() != 2 || !pair.get_array()[1].is_string()) {
        return base::fail(ErrorKind::kBadRequestData,
                          fmt::format("attribute '{}': each of {} must be [value, time]", name,
                                      list));
      }
      json::object instance;
      if (const auto* type = o.if_contains("type")) instance["type"] = *type;
      instance[member] = pair.get_array()[0];
      instance["observedAt"] = pair.get_array()[1];
      out.emplace_back(std::move(instance));
    }
    return out;
  }
  return std::nullopt;
}

// The instances of a temporal entity body as history points (time: observedAt, else now).
base::Result<std::vector<store::HistoryPoint>> temporal_points(const Call& call,
                                                               const json::object& body) {
  std::vector<store::HistoryPoint> points;
  const base::Micros now = base::now_micros();
  const model::ParseOptions options{model::ParseMode::kFragment, false, now};
  for (const auto& member : body) {
    const std::string_view name = member.key();
    if (not_attribute(name)) continue;
    json::array wire;
    if (member.value().is_array()) {
      wire = member.value().get_array();
    } else if (member.value().is_object()) {
      auto list = simplified(name, member.value().get_object());
      if (list && !*list) return std::unexpected(list->error());
      wire = list ? std::move(**list) : json::array{member.value()};
    } else {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("attribute '{}': a temporal attribute is an array of "
                                    "instances",
                                    name));
    }
    if (wire.empty()) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("attribute '{}' has no instance", name));
    }
    const std::string attribute = call.context->expand(name);
    for (const auto& w : wire) {
      if (!w.is_object()) {
        return base::fail(ErrorKind::kBadRequestData,
                          fmt::format("attribute '{}': each instance must be an object", name));
      }
      auto parsed = model::parse_attribute(name, w, *call.context, options);
      if (!parsed) return std::unexpected(parsed.error());
      for (auto& v : *parsed) {
        store::HistoryPoint p;
        p.attribute = attribute;
        p.modified = now;
        p.time = now;
        p.instance = std::move(v.get_object());
        if (const auto* o = p.instance.if_contains(model::key::kObservedAt); o && o->is_string()) {
          if (auto t = base::parse_iso8601(o->get_string())) {
            p.time = *t;
            p.observed = true;
          }
        }
        points.push_back(std::move(p));
      }
    }
  }
  if (points.empty()) {
    return base::fail(ErrorKind::kBadRequestData, "the body holds no attribute instance");
  }
  return points;
}

bool require_object(Call& call) {
  if (call.body.is_object()) return true;
  call.fail(ErrorKind::kBadRequestData, fmt::format("the body must be a JSON object, not {}",
                                                    json::kind_name(call.body)));
  return false;
}

// For a write of `attributes` (expanded) of existing entity `id` by a limited grant: 403 unless
// the grant may see every one of them on the entity's types (see writable_attributes), so a
// temporal write can neither overwrite nor probe a hidden attribute's history.
bool attributes_writable(Call& call, std::string_view id, const std::vector<std::string>& attributes) {
  if (!call.grant || !call.grant->limited()) return true;
  auto current = call.deps->hub.get(call.tenant, id);
  if (!current) {
    call.fail(current.error());
    return false;
  }
  if (!*current) return true;  // writable() already answered for a missing entity
  return writable_attributes(call, model::entity_types(**current), attributes);
}

std::vector<std::string> attributes_of(const std::vector<store::HistoryPoint>& points) {
  std::vector<std::string> out;
  for (const auto& p : points) {
    if (std::find(out.begin(), out.end(), p.attribute) == out.end()) out.push_back(p.attribute);
  }
  return out;
}

// POST /temporal/entities: 201 (+ Location) when the entity had no temporal representation,
// 204 when instances were added to an existing one.
void create_temporal(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps,
                      {.read_only = false, .has_body = true});
  if (!call || !require_object(*call)) return;
  const auto& body = call->body.get_object();
  // id and type as an entity's (same checks, same expansion).
  json::object head;
  for (auto name : {"id", "type"}) {
    if (const auto* v = body.if_contains(name)) head[name] = *v;
  }
  auto entity = model::parse_entity(head, *call->context, {model::ParseMode::kEntity, false, 0});
  if (!entity) return call->fail(entity.error());
  const std::string id(entity->at(model::key::kId).get_string());
  const auto types = model::entity_types(*entity);
  if (!writable_types(*call, types)) return;
  if (call->grant && call->grant->limited()) {
    auto current = deps.hub.get(call->tenant, id);
    if (!current) return call->fail(current.error());
    if (*current && !writable(*call, id)) return;
  }
  auto points = temporal_points(*call, body);
  if (!points) return call->fail(points.error());
  if (!writable_attributes(*call, types, attributes_of(*points))) return;
  std::vector<hub::TemporalWrite> writes;
  writes.push_back({id, types, std::move(*points)});
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.append_temporal(
      shared->tenant, std::move(writes), false,
      [shared, id](base::Result<hub::TemporalOutcome> r) {
        if (!r) return shared->fail(r.error());
        if (r->created > 0) {
          return reply_empty(*shared, 201,
                             {{"location", fmt::format("{}/entities/{}", kBase, id)}});
        }
        reply_empty(*shared, 204);
      });
}

// POST /temporal/entities/{id}/attrs: adds instances to an existing temporal representation.
void add_temporal_attrs(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps,
                      {.read_only = false, .has_body = true});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id || !require_object(*call)) return;
  if (!writable(*call, *id)) return;
  const auto& body = call->body.get_object();
  if (const auto* bid = body.if_contains("id");
      bid && (!bid->is_string() || bid->get_string() != *id)) {
    return call->fail(ErrorKind::kBadRequestData,
                      fmt::format("the id in the body does not match the entity id {}", *id));
  }
  auto points = temporal_points(*call, body);
  if (!points) return call->fail(points.error());
  if (!attributes_writable(*call, *id, attributes_of(*points))) return;
  std::vector<hub::TemporalWrite> writes;
  writes.push_back({*id, {}, std::move(*points)});
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.append_temporal(shared->tenant, std::move(writes), true,
                           [shared](base::Result<hub::TemporalOutcome> r) {
                             if (!r) return shared->fail(r.error());
                             reply_empty(*shared, 204);
                           });
}

// DELETE /temporal/entities/{id}/attrs/{attrId}[?datasetId=..|deleteAll=true]
void delete_temporal_attr(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.read_only = false});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id) return;
  if (!writable(*call, *id)) return;
  const std::string attr = call->context->expand(call->request.param("attrId"));
  if (!attributes_writable(*call, *id, {attr})) return;
  const auto* all = call->request.query_param("deleteAll");
  const auto* dataset = call->request.query_param("datasetId");
  if (all && *all != "true" && *all != "false") {
    return call->fail(ErrorKind::kBadRequestData, "deleteAll: must be true or false");
  }
  const bool delete_all = all && *all == "true";
  if (delete_all && dataset) {
    return call->fail(ErrorKind::kBadRequestData, "deleteAll=true and datasetId exclude each other");
  }
  if (dataset && !base::is_uri(*dataset)) {
    return call->fail(ErrorKind::kBadRequestData,
                      fmt::format("datasetId: '{}' is not a URI", *dataset));
  }
  std::optional<std::string> which;
  if (!delete_all) which = dataset ? *dataset : std::string();
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.remove_history_attribute(
      shared->tenant, *id, attr, std::move(which),
      [shared, id = *id, name = shared->request.param("attrId")](base::Result<std::size_t> r) {
        if (!r) return shared->fail(r.error());
        if (*r == 0) {
          return shared->fail(ErrorKind::kResourceNotFound,
                              fmt::format("entity {} has no history of attribute {} (with that "
                                          "datasetId)",
                                          id, name));
        }
        reply_empty(*shared, 204);
      });
}

// The instance number of an instanceId path parameter; answers 400/404 and nullopt otherwise.
std::optional<std::int64_t> instance_number(Call& call) {
  auto uri = path_uri(call, "instanceId", "instance");
  if (!uri) return std::nullopt;
  std::int64_t n = 0;
  if (uri->starts_with(kInstancePrefix)) {
    const char* first = uri->data() + kInstancePrefix.size();
    const char* last = uri->data() + uri->size();
    const auto [end, ec] = std::from_chars(first, last, n);
    if (ec == std::errc() && end == last && first != last) return n;
  }
  call.fail(ErrorKind::kResourceNotFound, fmt::format("no attribute instance {}", *uri));
  return std::nullopt;
}

// The stored instance `n` of `attr`, read from the last commit (to complete a partial patch).
base::Result<std::optional<store::HistoryRow>> stored_instance(Call& call, const std::string& id,
                                                               const std::string& attr,
                                                               std::int64_t n) {
  store::HistoryQuery q;
  q.entity_id = id;
  q.attributes = std::vector<std::string>{attr};
  q.time_property = store::HistoryQuery::TimeProperty::kModifiedAt;
  q.from = n;
  q.to = n + 1;
  auto read = call.deps->hub.history(call.tenant, q);
  if (!read) return std::unexpected(read.error());
  if (read->empty() || read->front().rows.empty()) return std::optional<store::HistoryRow>();
  return std::optional<store::HistoryRow>(std::move(read->front().rows.front()));
}

// PATCH /temporal/entities/{id}/attrs/{attrId}/{instanceId}: the body is the instance
// fragment, or an object holding it under the attribute's name.
void patch_temporal_instance(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps,
                      {.read_only = false, .has_body = true, .allow_merge_patch = true});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id || !require_object(*call)) return;
  auto n = instance_number(*call);
  if (!n) return;
  if (!writable(*call, *id)) return;
  const std::string& name = call->request.param("attrId");
  const std::string attr = call->context->expand(name);
  if (!attributes_writable(*call, *id, {attr})) return;
  json::object fragment = call->body.get_object();
  for (const auto& key : {name, attr}) {
    if (const auto* inner = fragment.if_contains(key); inner && inner->is_object()) {
      json::object held = inner->get_object();
      fragment = std::move(held);
      break;
    }
  }
  fragment.erase("@context");
  auto stored = stored_instance(*call, *id, attr, *n);
  if (!stored) return call->fail(stored.error());
  if (!*stored) {
    return call->fail(ErrorKind::kResourceNotFound,
                      fmt::format("attribute {} of entity {} has no instance {}{}", name, *id,
                                  kInstancePrefix, *n));
  }
  // A fragment naming neither type nor value keeps the stored ones (parsing needs them).
  const auto& doc = (*stored)->instance_doc;
  const auto* type = doc.if_contains(model::key::kType);
  const std::string_view type_name =
      type && type->is_string() ? std::string_view(type->get_string()) : "Property";
  const std::string member(model::value_member(type_name));
  if (!fragment.contains(model::key::kType)) fragment[model::key::kType] = type_name;
  if (const auto* given = fragment.if_contains(model::key::kType);
      given && given->is_string() && given->get_string() == type_name &&
      !fragment.contains(member)) {
    if (const auto* v = doc.if_contains(member)) fragment[member] = *v;
  }
  auto parsed = model::parse_attribute(name, fragment, *call->context,
                                       {model::ParseMode::kFragment, false, 0});
  if (!parsed) return call->fail(parsed.error());
  if (parsed->size() != 1 || !(*parsed)[0].is_object()) {
    return call->fail(ErrorKind::kBadRequestData, "the body must be one attribute instance");
  }
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.patch_history_instance(shared->tenant, *id, attr, *n,
                                  std::move((*parsed)[0].get_object()),
                                  [shared](base::Result<void> r) {
                                    if (!r) return shared->fail(r.error());
                                    reply_empty(*shared, 204);
                                  });
}

// DELETE /temporal/entities/{id}/attrs/{attrId}/{instanceId}
void delete_temporal_instance(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.read_only = false});
  if (!call) return;
  auto id = path_uri(*call, "entityId", "entity");
  if (!id) return;
  auto n = instance_number(*call);
  if (!n) return;
  if (!writable(*call, *id)) return;
  const std::string& name = call->request.param("attrId");
  if (!attributes_writable(*call, *id, {call->context->expand(name)})) return;
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.hub.remove_history_instance(
      shared->tenant, *id, shared->context->expand(name), *n,
      [shared, id = *id, name, n = *n](base::Result<bool> r) {
        if (!r) return shared->fail(r.error());
        if (!*r) {
          return shared->fail(ErrorKind::kResourceNotFound,
                              fmt::format("attribute {} of entity {} has no instance {}{}", name,
                                          id, kInstancePrefix, n));
        }
        reply_empty(*shared, 204);
      });
}

}  // namespace

void register_temporal_write(http::Router& router, Deps& deps) {
  router.add("POST", route("/entities"), bound(deps, create_temporal));
  router.add("POST", route("/entities/{entityId}/attrs"), bound(deps, add_temporal_attrs));
  router.add("DELETE", route("/entities/{entityId}/attrs/{attrId}"),
             bound(deps, delete_temporal_attr));
  router.add("PATCH", route("/entities/{entityId}/attrs/{attrId}/{instanceId}"),
             bound(deps, patch_temporal_instance));
  router.add("DELETE", route("/entities/{entityId}/attrs/{attrId}/{instanceId}"),
             bound(deps, delete_temporal_instance));
}

}  // namespace cityroom::api
