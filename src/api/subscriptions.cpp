// NGSI-LD subscription routes (ETSI GS CIM 009 §5.8): create, list, retrieve, update, delete.
#include <fmt/format.h>

#include "api/call.h"
#include "api/routes.h"

namespace cityroom::api {
namespace {

using base::ErrorKind;

constexpr std::string_view kCollection = "/ngsi-ld/v1/subscriptions";

std::optional<std::size_t> size_param(Call& call, std::string_view name, std::size_t fallback) {
  const auto* text = call.request.query_param(name);
  if (!text) return fallback;
  auto v = parse_size(*text);
  if (!v) {
    call.fail(ErrorKind::kBadRequestData,
              fmt::format("{}: '{}' is not a non-negative integer", name, *text));
  }
  return v;
}

// The subscriptions service, or a 501 when this server runs without one.
live::Subscriptions* service(Deps& deps, Call& call) {
  if (!deps.subscriptions) {
    call.fail(ErrorKind::kOperationNotSupported, "subscriptions are not enabled on this server");
  }
  return deps.subscriptions;
}

// A grant that is not admin manages only the subscriptions it created; the others are answered
// as missing, so their existence (and endpoints) do not leak.
bool owns(const Call& call, const live::Subscription& s) {
  return !call.grant || call.grant->is_admin() || s.owner == call.grant->who();
}

bool owned(Call& call, live::Subscriptions& subs, std::string_view id) {
  if (!call.grant || call.grant->is_admin()) return true;
  auto got = subs.get(call.tenant, id);
  if (got && owns(call, got->subscription)) return true;
  call.fail(ErrorKind::kResourceNotFound, fmt::format("subscription {} not found", id));
  return false;
}

json::value render(const Call& call, const live::Subscriptions::View& v) {
  return live::render_subscription(v.subscription, *v.context, *call.context, base::now_micros());
}

void create(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps,
                      {.read_only = false, .has_body = true});
  if (!call) return;
  auto* subs = service(deps, *call);
  if (!subs) return;
  if (!call->body.is_object()) {
    return call->fail(ErrorKind::kBadRequestData,
                      fmt::format("the body must be a JSON object (a subscription), not {}",
                                  json::kind_name(call->body)));
  }
  auto parsed = live::parse_subscription(call->body.get_object(), call->tenant, *call->context,
                                         base::now_micros());
  if (!parsed) return call->fail(parsed.error());
  if (call->grant) {
    parsed->owner = call->grant->who();
    parsed->owner_scope = call->grant->scope();
  }
  const std::string id = parsed->id;
  auto shared = std::make_shared<Call>(std::move(*call));
  subs->create(std::move(*parsed), [shared, id](base::Result<void> r) {
    if (!r) return shared->fail(r.error());
    reply_empty(*shared, 201, {{"location", fmt::format("{}/{}", kCollection, id)}});
  });
}

void list(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {});
  if (!call) return;
  auto* subs = service(deps, *call);
  if (!subs) return;
  auto limit = size_param(*call, "limit", kPageSizeDefault);
  if (!limit) return;
  auto offset = size_param(*call, "offset", 0);
  if (!offset) return;
  if (*limit > kPageSizeMax) {
    return call->fail(ErrorKind::kTooManyResults,
                      fmt::format("limit: {} is above the maximum page size {}", *limit,
                                  kPageSizeMax));
  }
  std::size_t total = 0;
  json::array out;
  if (call->grant && !call->grant->is_admin()) {
    std::size_t all = 0;
    std::size_t index = 0;
    for (const auto& v : subs->list(call->tenant, 0, SIZE_MAX, &all)) {
      if (!owns(*call, v.subscription)) continue;
      if (index >= *offset && out.size() < *limit) out.push_back(render(*call, v));
      ++index;
    }
    total = index;
  } else {
    for (const auto& v : subs->list(call->tenant, *offset, *limit, &total)) {
      out.push_back(render(*call, v));
    }
  }
  http::Headers extra;
  if (has_option(call->request, "count") ||
      (call->request.query_param("count") && *call->request.query_param("count") == "true")) {
    extra.emplace_back("ngsild-results-count", std::to_string(total));
  }
  reply_json(*call, 200, std::move(out), true, std::move(extra));
}

void retrieve(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {});
  if (!call) return;
  auto* subs = service(deps, *call);
  if (!subs) return;
  auto id = path_uri(*call, "subscriptionId", "subscription");
  if (!id) return;
  if (!owned(*call, *subs, *id)) return;
  auto got = subs->get(call->tenant, *id);
  if (!got) return call->fail(got.error());
  reply_json(*call, 200, render(*call, *got));
}

void update(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps,
                      {.read_only = false, .has_body = true, .allow_merge_patch = true});
  if (!call) return;
  auto* subs = service(deps, *call);
  if (!subs) return;
  auto id = path_uri(*call, "subscriptionId", "subscription");
  if (!id) return;
  if (!owned(*call, *subs, *id)) return;
  if (!call->body.is_object() || call->body.get_object().empty()) {
    return call->fail(ErrorKind::kBadRequestData,
                      "the body must be a non-empty JSON object (subscription members)");
  }
  auto shared = std::make_shared<Call>(std::move(*call));
  subs->update(shared->tenant, *id, shared->body.get_object(), shared->context,
               [shared](base::Result<void> r) {
                 if (!r) return shared->fail(r.error());
                 reply_empty(*shared, 204);
               });
}

void remove(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = prepare(std::move(req), std::move(respond), deps, {.read_only = false});
  if (!call) return;
  auto* subs = service(deps, *call);
  if (!subs) return;
  auto id = path_uri(*call, "subscriptionId", "subscription");
  if (!id) return;
  if (!owned(*call, *subs, *id)) return;
  auto shared = std::make_shared<Call>(std::move(*call));
  subs->remove(shared->tenant, *id, [shared](base::Result<void> r) {
    if (!r) return shared->fail(r.error());
    reply_empty(*shared, 204);
  });
}

}  // namespace

void register_subscriptions(http::Router& router, Deps& deps) {
  const std::string one = fmt::format("{}/{{subscriptionId}}", kCollection);
  router.add("POST", kCollection, bound(deps, create));
  router.add("GET", kCollection, bound(deps, list));
  router.add("GET", one, bound(deps, retrieve));
  router.add("PATCH", one, bound(deps, update));
  router.add("DELETE", one, bound(deps, remove));
}

}  // namespace cityroom::api
