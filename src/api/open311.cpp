// /open311/v2: Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) on top of the
// governance module: discovery, services, service definitions, requests (POST form-encoded
// with api_key; GET with service_request_id, service_code, start_date, end_date, status),
// one request, tokens — each as .json or .xml. Errors are Open311's
// [{"code","description"}] in the requested format (JSON when the suffix is unknown).
// Requests are ServiceRequest entities; personal fields go to a separate store record and
// never into any answer here (governance/requests.h).
#include <fmt/format.h>

#include "api/call.h"
#include "api/routes.h"
#include "governance/entity_view.h"
#include "governance/form.h"
#include "governance/governance.h"

namespace cityroom::api {
namespace {

namespace gov = governance;
using gov::Open311Format;

void answer(const http::Respond& respond, int status, const json::value& body, Open311Format f,
            std::string_view root, std::string_view item) {
  http::Response r;
  r.status = status;
  r.headers.emplace_back("content-type", std::string(gov::content_type(f)));
  r.body = gov::render_open311(body, f, root, item);
  respond(std::move(r));
}

void error(const http::Respond& respond, Open311Format f, int code, std::string description) {
  answer(respond, code,
         json::array{json::object{{"code", code}, {"description", std::move(description)}}}, f,
         "errors", "error");
}

// The format is in the path, not in Accept: Open311 clients send Accept: text/xml or */*,
// which the NGSI-LD negotiation in prepare() would refuse.
std::optional<Call> prepare_open311(http::Request&& request, http::Respond respond, Deps& deps,
                                    bool read_only) {
  std::erase_if(request.headers, [](const auto& h) { return h.first == "accept"; });
  return prepare(std::move(request), std::move(respond), deps, {.read_only = read_only});
}

// "requests.json" → ("requests", json); an unknown suffix answers 400 (JSON) and nullopt.
std::optional<std::pair<std::string, Open311Format>> file_of(Call& call, std::string_view param) {
  auto split = gov::split_format(call.request.param(param));
  if (!split) {
    error(call.respond, Open311Format::kJson, 400,
          "add the format to the path: .json or .xml (e.g. services.json)");
  }
  return split;
}

gov::Governance* governance_of(Call& call, Open311Format f) {
  if (!call.deps->governance) error(call.respond, f, 501, "Open311 is not enabled on this server");
  return call.deps->governance;
}

json::object service_json(const gov::Service& s) {
  std::string keywords;
  for (const auto& k : s.keywords) keywords += (keywords.empty() ? "" : ",") + k;
  return {{"service_code", s.code},  {"service_name", s.name},
          {"description", s.description}, {"metadata", !s.attributes.empty()},
          {"type", "realtime"},      {"keywords", keywords},
          {"group", s.group}};
}

json::object definition_json(const gov::Service& s) {
  json::array attrs;
  for (const auto& a : s.attributes) {
    json::array values;
    for (const auto& [k, n] : a.values) values.push_back(json::object{{"key", k}, {"name", n}});
    json::object o{{"variable", a.variable},
                   {"code", a.code},
                   {"datatype", a.datatype},
                   {"required", a.required},
                   {"datatype_description", a.datatype_description},
                   {"order", a.order},
                   {"description", a.description}};
    if (!values.empty()) o["values"] = std::move(values);
    attrs.push_back(std::move(o));
  }
  return {{"service_code", s.code}, {"attributes", std::move(attrs)}};
}

void list_requests(Call& call, gov::Governance& g, Open311Format f) {
  auto filter = gov::parse_request_filter(call.request.query, base::now_micros());
  if (!filter) return error(call.respond, f, filter.error().code, filter.error().description);
  std::vector<std::string> ids;
  if (!filter->ids.empty()) {
    for (const auto& key : filter->ids) ids.push_back("urn:ngsi-ld:ServiceRequest:" + key);
  } else {
    auto found = g.current_index().request_ids(call.tenant, *filter);
    if (!found) return error(call.respond, f, 500, found.error().detail);
    ids = std::move(*found);
  }
  json::array out;
  if (!ids.empty()) {
    store::EntityQuery q;
    q.ids = ids;
    q.any_of_types = std::vector<std::string>{gov::iri(gov::kRequestType)};
    q.limit = ids.size();
    auto page = call.deps->hub.query(call.tenant, q);
    if (!page) return error(call.respond, f, 500, page.error().detail);
    std::map<std::string, json::object> by_id;
    for (const auto& e : page->entities) {
      auto kv = gov::key_values(g.core(), e);
      by_id.emplace(gov::str(kv, "id"), std::move(kv));
    }
    for (const auto& id : ids) {  // the index's order: newest first
      if (auto it = by_id.find(id); it != by_id.end()) out.push_back(gov::open311_request(it->second));
    }
  }
  answer(call.respond, 200, out, f, "service_requests", "request");
}

void post_request(Call& call, gov::Governance& g, Open311Format f) {
  const std::string* ct = call.request.header("content-type");
  if (!ct || !ct->starts_with("application/x-www-form-urlencoded")) {
    return error(call.respond, f, 400,
                 "send the request as Content-Type: application/x-www-form-urlencoded");
  }
  auto form = gov::parse_form(call.request.body);
  if (!form) return error(call.respond, f, 400, form.error().detail);
  const auto now = base::now_micros();
  auto made = gov::request_from_form(*form, g.open311(), gov::new_request_key(now), now);
  if (!made) return error(call.respond, f, made.error().code, made.error().description);
  if (made->point) {
    if (auto area = g.area_of(call.tenant, made->point->first, made->point->second)) {
      made->entity["refArea"] = json::object{{"type", "Relationship"}, {"object", *area}};
    }
  }
  const std::string key = made->key;
  std::string notice = g.open311().find(gov::str(made->entity, "serviceCode"))->department;
  auto respond = call.respond;
  g.submit_request(call.tenant, std::move(*made),
                   [respond, f, key, notice](base::Result<std::string> r) {
                     if (!r) {
                       return error(respond, f, base::http_status(r.error().kind),
                                    r.error().detail);
                     }
                     answer(respond, 201,
                            json::array{json::object{
                                {"service_request_id", key},
                                {"token", key},
                                {"service_notice",
                                 notice.empty() ? std::string()
                                                : fmt::format("담당 부서: {}", notice)},
                                {"account_id", nullptr}}},
                            f, "service_requests", "request");
                   });
}

void top_get(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = prepare_open311(std::move(request), std::move(respond), deps, true);
  if (!call) return;
  auto file = file_of(*call, "file");
  if (!file) return;
  auto* g = governance_of(*call, file->second);
  if (!g) return;
  const auto& [name, f] = *file;
  if (name == "discovery") {
    const auto& c = g->open311();
    json::object d{{"changeset", c.changeset},
                   {"contact", c.contact},
                   {"key_service", c.key_service},
                   {"endpoints",
                    json::array{json::object{
                        {"specification", "http://wiki.open311.org/GeoReport_v2"},
                        {"url", "/open311/v2"},
                        {"changeset", c.changeset},
                        {"type", "production"},
                        {"formats", json::array{"text/xml", "application/json"}}}}}};
    return answer(call->respond, 200, d, f, "discovery", "");
  }
  if (name == "services") {
    json::array out;
    for (const auto& s : g->open311().services) out.push_back(service_json(s));
    return answer(call->respond, 200, out, f, "services", "service");
  }
  if (name == "requests") return list_requests(*call, *g, f);
  error(call->respond, f, 404, fmt::format("no Open311 resource '{}'", name));
}

// Open311 clients authorise a POST with the form's api_key (open311.json's apiKeys, checked in
// request_from_form), never with our keys or sessions: an anonymous citizen must get through.
// So the access check runs as a read (caller identified, rate limits, tenant kept), and the
// answer is audited as the write it is.
void top_post(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = prepare_open311(std::move(request), std::move(respond), deps, true);
  if (!call) return;
  call->respond = deps.access.audited(
      call->request, Operation{Operation::Kind::kWrite, call->request.route, call->tenant},
      call->grant, std::move(call->respond));
  auto file = file_of(*call, "file");
  if (!file) return;
  auto* g = governance_of(*call, file->second);
  if (!g) return;
  if (file->first != "requests") {
    return error(call->respond, file->second, 404,
                 fmt::format("POST is only for requests (not '{}')", file->first));
  }
  post_request(*call, *g, file->second);
}

void service_definition(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = prepare_open311(std::move(request), std::move(respond), deps, true);
  if (!call) return;
  auto file = file_of(*call, "file");
  if (!file) return;
  auto* g = governance_of(*call, file->second);
  if (!g) return;
  const gov::Service* s = g->open311().find(file->first);
  if (!s) {
    return error(call->respond, file->second, 404,
                 fmt::format("service_code '{}' is not a service of this jurisdiction",
                             file->first));
  }
  answer(call->respond, 200, definition_json(*s), file->second, "service_definition", "");
}

void one_request(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = prepare_open311(std::move(request), std::move(respond), deps, true);
  if (!call) return;
  auto file = file_of(*call, "file");
  if (!file) return;
  auto* g = governance_of(*call, file->second);
  if (!g) return;
  const std::string id = "urn:ngsi-ld:ServiceRequest:" + file->first;
  auto e = deps.hub.get(call->tenant, id);
  if (!e) return error(call->respond, file->second, 500, e.error().detail);
  if (!*e) {
    return error(call->respond, file->second, 404,
                 fmt::format("service_request_id '{}' does not exist", file->first));
  }
  answer(call->respond, 200,
         json::array{gov::open311_request(gov::key_values(g->core(), **e))}, file->second,
         "service_requests", "request");
}

// Requests are created synchronously, so a token is the request's own id: the lookup only
// confirms it exists.
void token(Deps& deps, http::Request&& request, http::Respond respond) {
  auto call = prepare_open311(std::move(request), std::move(respond), deps, true);
  if (!call) return;
  auto file = file_of(*call, "file");
  if (!file) return;
  auto* g = governance_of(*call, file->second);
  if (!g) return;
  auto e = deps.hub.get(call->tenant, "urn:ngsi-ld:ServiceRequest:" + file->first);
  if (!e) return error(call->respond, file->second, 500, e.error().detail);
  if (!*e) {
    return error(call->respond, file->second, 404,
                 fmt::format("token '{}' is not known", file->first));
  }
  answer(call->respond, 200,
         json::array{json::object{{"service_request_id", file->first}, {"token", file->first}}},
         file->second, "service_requests", "request");
}

}  // namespace

void register_open311(http::Router& router, Deps& deps) {
  router.add("GET", "/open311/v2/{file}", bound(deps, top_get));
  router.add("POST", "/open311/v2/{file}", bound(deps, top_post));
  router.add("GET", "/open311/v2/services/{file}", bound(deps, service_definition));
  router.add("GET", "/open311/v2/requests/{file}", bound(deps, one_request));
  router.add("GET", "/open311/v2/tokens/{file}", bound(deps, token));
}

}  // namespace cityroom::api
