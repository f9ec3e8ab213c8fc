// cityroom's alarm routes (/cityroom/v1/alarms, docs/ALARMS.md): active alarms, acknowledge,
// clear (write), and the rule and policy documents (GET: read; POST/PUT/DELETE: admin).
#include "alarms/alarms.h"

#include <fmt/format.h>

#include "api/call.h"
#include "api/routes.h"

namespace cityroom::api {
namespace {

using base::ErrorKind;

constexpr std::string_view kBase = "/cityroom/v1/alarms";
constexpr std::size_t kNoteBytesMax = 4096;

alarms::Engine* engine(Deps& deps, Call& call) {
  if (!deps.alarms)
    call.fail(ErrorKind::kOperationNotSupported, "alarms are not enabled on this server");
  return deps.alarms;
}

// Rule and policy changes are admin operations (prepare()'s `admin`).
std::optional<Call> start(Deps& deps, http::Request&& req, http::Respond respond, bool write,
                          bool body, bool admin = false) {
  auto call = prepare(std::move(req), std::move(respond), deps,
                      {.read_only = !write, .has_body = body, .admin = admin});
  if (!call) return std::nullopt;
  // Alarms are Alert data: the routes are as visible as the Alert type (staff by default).
  if (!admin && !sees_type(*call, "Alert")) return std::nullopt;
  if (!engine(deps, *call)) return std::nullopt;
  if (body && !call->body.is_object()) {
    call->fail(ErrorKind::kBadRequestData,
               fmt::format("the body must be a JSON object, not {}", json::kind_name(call->body)));
    return std::nullopt;
  }
  return call;
}

void json_reply(Call& call, int status, json::value body) {
  reply_json(call, status, std::move(body), false);
}

// Answers `done`'s result on `shared` (any thread).
alarms::Engine::Done answer(std::shared_ptr<Call> shared, int status) {
  return [shared, status](base::Result<json::object> r) {
    if (!r) return shared->fail(r.error());
    json_reply(*shared, status, std::move(*r));
  };
}

std::function<void(base::Result<void>)> answer_empty(std::shared_ptr<Call> shared) {
  return [shared](base::Result<void> r) {
    if (!r) return shared->fail(r.error());
    reply_empty(*shared, 204);
  };
}

// ---- alarms -----------------------------------------------------------------------------

void list_active(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = start(deps, std::move(req), std::move(respond), false, false);
  if (!call) return;
  const auto* sync = call->request.query_param("sync");
  if (sync && *sync != "true" && *sync != "false") {
    return call->fail(ErrorKind::kBadRequestData, "sync: must be true or false");
  }
  if (!sync || *sync == "false") return json_reply(*call, 200, deps.alarms->active(call->tenant));
  // sync=true: answer once every change committed before this request has been evaluated, so
  // a client that just wrote a breaching value sees its alarm.
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.alarms->when_caught_up(
      [shared, &deps] { json_reply(*shared, 200, deps.alarms->active(shared->tenant)); });
}

void get_alarm(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = start(deps, std::move(req), std::move(respond), false, false);
  if (!call) return;
  auto id = path_uri(*call, "alarmId", "alarm");
  if (!id) return;
  auto got = deps.alarms->alarm(call->tenant, *id);
  if (!got) return call->fail(got.error());
  json_reply(*call, 200, std::move(*got));
}

void act(Deps& deps, http::Request&& req, http::Respond respond, bool clear) {
  auto call = start(deps, std::move(req), std::move(respond), true, true);
  if (!call) return;
  auto id = path_uri(*call, "alarmId", "alarm");
  if (!id) return;
  const auto& body = call->body.get_object();
  for (const auto& [k, _] : body) {
    if (k != "by" && k != "note") {
      return call->fail(ErrorKind::kBadRequestData,
                        fmt::format("unknown member '{}' (by, note)", std::string_view(k)));
    }
  }
  auto by = json::get_string(body, "by");
  if (!by || by->empty()) {
    return call->fail(ErrorKind::kBadRequestData,
                      "by: required, who acts on the alarm (a user id)");
  }
  const auto* note_v = body.if_contains("note");
  if (note_v && (!note_v->is_string() || note_v->get_string().size() > kNoteBytesMax)) {
    return call->fail(ErrorKind::kBadRequestData,
                      fmt::format("note: must be a string of at most {} bytes", kNoteBytesMax));
  }
  std::string note = note_v ? std::string(note_v->get_string()) : std::string();
  auto shared = std::make_shared<Call>(std::move(*call));
  auto fn = clear ? &alarms::Engine::clear : &alarms::Engine::acknowledge;
  (deps.alarms->*fn)(shared->tenant, *id, std::string(*by), std::move(note), answer(shared, 200));
}

void acknowledge(Deps& deps, http::Request&& req, http::Respond respond) {
  act(deps, std::move(req), std::move(respond), false);
}

void clear(Deps& deps, http::Request&& req, http::Respond respond) {
  act(deps, std::move(req), std::move(respond), true);
}

// ---- rules ------------------------------------------------------------------------------

void list_rules(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = start(deps, std::move(req), std::move(respond), false, false);
  if (!call) return;
  json_reply(*call, 200, deps.alarms->rules(call->tenant));
}

void get_rule(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = start(deps, std::move(req), std::move(respond), false, false);
  if (!call) return;
  std::optional<std::uint64_t> version;
  if (const auto* v = call->request.query_param("version")) {
    auto n = parse_size(*v);
    if (!n || *n == 0) {
      return call->fail(ErrorKind::kBadRequestData,
                        fmt::format("version: '{}' is not a positive integer", *v));
    }
    version = *n;
  }
  auto got = deps.alarms->rule(call->tenant, call->request.param("ruleId"), version);
  if (!got) return call->fail(got.error());
  json_reply(*call, 200, std::move(*got));
}

void create_rule(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = start(deps, std::move(req), std::move(respond), true, true, true);
  if (!call) return;
  auto shared = std::make_shared<Call>(std::move(*call));
  json::object doc = shared->body.get_object();
  deps.alarms->create_rule(shared->tenant, std::move(doc), [shared](base::Result<json::object> r) {
    if (!r) return shared->fail(r.error());
    const std::string id(json::get_string(*r, "id").value_or(""));
    reply_json(*shared, 201, std::move(*r), false,
               {{"location", fmt::format("{}/rules/{}", kBase, id)}});
  });
}

void replace_rule(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = start(deps, std::move(req), std::move(respond), true, true, true);
  if (!call) return;
  std::optional<std::uint64_t> expected;
  if (const auto* m = call->request.header("if-match")) {
    auto n = parse_size(*m);
    if (!n) {
      return call->fail(ErrorKind::kBadRequestData,
                        fmt::format("If-Match: '{}' is not a rule version number", *m));
    }
    expected = *n;
  }
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.alarms->replace_rule(shared->tenant, shared->request.param("ruleId"),
                            shared->body.get_object(), expected, answer(shared, 200));
}

void remove_rule(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = start(deps, std::move(req), std::move(respond), true, false, true);
  if (!call) return;
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.alarms->remove_rule(shared->tenant, shared->request.param("ruleId"), answer_empty(shared));
}

// ---- policies ---------------------------------------------------------------------------

void list_policies(Deps& deps, http::Request&& req, http::Respond respond) {
  // Policies name the people and addresses alarms are sent to: admin only, like their changes.
  auto call = start(deps, std::move(req), std::move(respond), false, false, true);
  if (!call) return;
  json_reply(*call, 200, deps.alarms->policies(call->tenant));
}

void get_policy(Deps& deps, http::Request&& req, http::Respond respond) {
  // Policies name the people and addresses alarms are sent to: admin only, like their changes.
  auto call = start(deps, std::move(req), std::move(respond), false, false, true);
  if (!call) return;
  auto got = deps.alarms->policy(call->tenant, call->request.param("policyId"));
  if (!got) return call->fail(got.error());
  json_reply(*call, 200, std::move(*got));
}

void create_policy(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = start(deps, std::move(req), std::move(respond), true, true, true);
  if (!call) return;
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.alarms->create_policy(shared->tenant, shared->body.get_object(),
                             [shared](base::Result<json::object> r) {
                               if (!r) return shared->fail(r.error());
                               const std::string id(json::get_string(*r, "id").value_or(""));
                               reply_json(*shared, 201, std::move(*r), false,
                                          {{"location", fmt::format("{}/policies/{}", kBase, id)}});
                             });
}

void replace_policy(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = start(deps, std::move(req), std::move(respond), true, true, true);
  if (!call) return;
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.alarms->replace_policy(shared->tenant, shared->request.param("policyId"),
                              shared->body.get_object(), answer(shared, 200));
}

void remove_policy(Deps& deps, http::Request&& req, http::Respond respond) {
  auto call = start(deps, std::move(req), std::move(respond), true, false, true);
  if (!call) return;
  auto shared = std::make_shared<Call>(std::move(*call));
  deps.alarms->remove_policy(shared->tenant, shared->request.param("policyId"),
                             answer_empty(shared));
}

}  // namespace

void register_alarms(http::Router& router, Deps& deps) {
  const std::string base(kBase);
  router.add("GET", base, bound(deps, list_active));
  router.add("GET", base + "/{alarmId}", bound(deps, get_alarm));
  router.add("POST", base + "/{alarmId}/acknowledge", bound(deps, acknowledge));
  router.add("POST", base + "/{alarmId}/clear", bound(deps, clear));
  router.add("GET", base + "/rules", bound(deps, list_rules));
  router.add("POST", base + "/rules", bound(deps, create_rule));
  router.add("GET", base + "/rules/{ruleId}", bound(deps, get_rule));
  router.add("PUT", base + "/rules/{ruleId}", bound(deps, replace_rule));
  router.add("DELETE", base + "/rules/{ruleId}", bound(deps, remove_rule));
  router.add("GET", base + "/policies", bound(deps, list_policies));
  router.add("POST", base + "/policies", bound(deps, create_policy));
  router.add("GET", base + "/policies/{policyId}", bound(deps, get_policy));
  router.add("PUT", base + "/policies/{policyId}", bound(deps, replace_policy));
  router.add("DELETE", base + "/policies/{policyId}", bound(deps, remove_policy));
}

}  // namespace cityroom::api
