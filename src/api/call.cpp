#include "api/call.h"

#include <algorithm>
#include <charconv>
#include <set>

#include <fmt/format.h>

#include "geo/geo.h"
#include "live/selector.h"

namespace cityroom::api {
namespace {

using base::ErrorKind;

constexpr std::string_view kContextRel = "http://www.w3.org/ns/json-ld#context";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The media type of a Content-Type/Accept entry without parameters, lower case.
std::string media_type(std::string_view entry) {
  return lower(trim(entry.substr(0, entry.find(';'))));
}


// Accept negotiation: picks the best of the types we produce; nullopt when none is acceptable.
std::optional<Accept> negotiate(const http::Request& r, bool allow_geojson) {
  const std::string* header = r.header("accept");
  if (!header || trim(*header).empty()) return Accept::kJson;
  std::optional<Accept> best;
  double best_q = 0;
  for (const auto& entry : split_list(*header)) {
    const std::string type = media_type(entry);
    double q = 1;
    if (auto pos = entry.find("q="); pos != std::string::npos) {
      q = std::atof(entry.c_str() + pos + 2);
    }
    std::optional<Accept> kind;
    if (type == "application/json" || type == "*/*" || type == "application/*") {
      kind = Accept::kJson;
    } else if (type == "application/ld+json") {
      kind = Accept::kLdJson;
    } else if (type == "application/geo+json" && allow_geojson) {
      kind = Accept::kGeoJson;
    }
    if (kind && q > best_q) {
      best = kind;
      best_q = q;
    }
  }
  return best;
}


}  // namespace

std::optional<std::size_t> parse_size(std::string_view s) {
  std::size_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

http::Handler bound(Deps& deps, RouteFn fn) {
  return [&deps, fn](http::Request&& r, http::Respond respond) {
    fn(deps, std::move(r), std::move(respond));
  };
}

std::optional<std::string> path_uri(Call& call, std::string_view param, std::string_view what) {
  const std::string& id = call.request.param(param);
  if (!base::is_uri(id)) {
    call.fail(ErrorKind::kBadRequestData, fmt::format("{} id '{}' is not a URI", what, id));
    return std::nullopt;
  }
  return id;
}

std::optional<std::string> link_context(const http::Request& r) {
  const std::string* link = r.header("link");
  if (!link) return std::nullopt;
  const auto open = link->find('<');
  const auto close = link->find('>', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return std::string();
  if (link->find(kContextRel) == std::string::npos) return std::nullopt;
  return link->substr(open + 1, close - open - 1);
}

bool valid_tenant(std::string_view t) {
  if (t.empty() || t.size() > kTenantNameMax) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

std::vector<std::string> split_list(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto end = s.find(sep, start);
    if (end == std::string_view::npos) end = s.size();
    auto item = trim(s.substr(start, end - start));
    if (!item.empty()) out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

bool has_option(const http::Request& r, std::string_view option) {
  for (const auto& [k, v] : r.query) {
    if (k != "options") continue;
    for (const auto& o : split_list(v)) {
      if (o == option) return true;
    }
  }
  return false;
}

bool sees_type(Call& call, std::string_view type) {
  if (!call.grant || call.grant->may_see_type(type)) return true;
  if (call.grant->who() == "anonymous") {
    auto r = refusal(401, "Unauthorized", "this needs a staff member's key or session");
    r.headers.emplace_back("www-authenticate", "Bearer realm=\"cityroom\"");
    call.respond(std::move(r));
  } else {
    call.respond(refusal(403, "PermissionDenied",
                         fmt::format("{} may not see {} data", call.grant->who(), type)));
  }
  return false;
}

std::optional<Call> prepare(http::Request&& request, http::Respond respond, Deps& deps,
                            const Prepare& how) {
  Call call;
  call.deps = &deps;
  call.respond = std::move(respond);
  call.request = std::move(request);
  const http::Request& r = call.request;

  if (const std::string* t = r.header("ngsild-tenant")) {
    if (!valid_tenant(*t)) {
      call.fail(ErrorKind::kBadRequestData,
                fmt::format("NGSILD-Tenant '{}' is not a valid tenant name (1-{} letters, digits, "
                            "'_', '-', '.')",
                            *t, kTenantNameMax));
      return std::nullopt;
    }
    call.tenant = *t;
  }
  const Operation op{how.admin       ? Operation::Kind::kAdmin
                     : how.read_only ? Operation::Kind::kRead
                                     : Operation::Kind::kWrite,
                     r.route, call.tenant};
  auto granted = deps.access.check(r, op);
  if (!granted) {
    call.respond(std::move(granted.error()));
    return std::nullopt;
  }
  call.grant = std::move(*granted);
  call.respond = deps.access.audited(r, op, call.grant, std::move(call.respond));
  auto accept = negotiate(r, how.allow_geojson);
  if (!accept) {
    call.fail(ErrorKind::kNotAcceptable,
              fmt::format("none of the media types in Accept: {} can be produced; use "
                          "application/json or application/ld+json{}",
                          *r.header("accept"), how.allow_geojson ? " or application/geo+json" : ""));
    return std::nullopt;
  }
  call.accept = *accept;
  if (how.read_only && !call.tenant.empty()) {
    auto exists = deps.hub.tenant_exists(call.tenant);
    if (!exists) {
      call.fail(exists.error());
      return std::nullopt;
    }
    if (!*exists) {
      call.fail(ErrorKind::kNonexistentTenant,
                fmt::format("tenant '{}' does not exist", call.tenant));
      return std::nullopt;
    }
  }

  std::optional<std::string> link = link_context(r);
  if (how.has_body) {
    const std::string* ct = r.header("content-type");
    const std::string type = ct ? media_type(*ct) : std::string();
    const bool ld = type == "application/ld+json";
    const bool plain = type == "application/json" ||
                       (how.allow_merge_patch && type == "application/merge-patch+json");
    if (!ld && !plain) {
      call.fail(ErrorKind::kUnsupportedMediaType,
                fmt::format("Content-Type '{}' is not supported; use application/json or "
                            "application/ld+json{}",
                            ct ? *ct : "", how.allow_merge_patch ? " or application/merge-patch+json" : ""));
      return std::nullopt;
    }
    if (!r.has_content_length && r.body.empty()) {
      call.fail(ErrorKind::kLengthRequired, "a request body with Content-Length is required");
      return std::nullopt;
    }
    auto body = json::parse(r.body);
    if (!body) {
      call.fail(body.error());
      return std::nullopt;
    }
    call.body = std::move(*body);
    call.body_is_ld = ld;
    if (ld && link) {
      call.fail(ErrorKind::kBadRequestData,
                "a JSON-LD Link header must not be sent with Content-Type application/ld+json; "
                "put the @context in the body");
      return std::nullopt;
    }
    if (how.context_document) {
      call.context = deps.contexts.core();
      return call;
    }
    if (ld) {
      // The context of the whole request: the body's @context (object bodies) or, for arrays
      // (batch), each element carries its own and the core context stands for the request.
      if (call.body.is_object()) {
        const auto* spec = call.body.get_object().if_contains("@context");
        if (!spec) {
          call.fail(ErrorKind::kBadRequestData,
                    "Content-Type application/ld+json requires an @context member in the body");
          return std::nullopt;
        }
        auto ctx = deps.contexts.resolve(*spec);
        if (!ctx) {
          call.fail(ctx.error());
          return std::nullopt;
        }
        call.context = *ctx;
      } else {
        call.context = deps.contexts.core();
      }
      return call;
    }
    if (call.body.is_object() && call.body.get_object().contains("@context")) {
      call.fail(ErrorKind::kBadRequestData,
                "an @context in the body needs Content-Type application/ld+json; with "
                "application/json send the context in a Link header");
      return std::nullopt;
    }
  }
  if (link) {
    if (link->empty()) {
      call.fail(ErrorKind::kBadRequestData, "the Link header must be <url>; rel=\"" +
                                                std::string(kContextRel) + "\"");
      return std::nullopt;
    }
    auto ctx = deps.contexts.resolve_url(*link);
    if (!ctx) {
      call.fail(ctx.error());
      return std::nullopt;
    }
    call.context = *ctx;
  } else {
    call.context = deps.contexts.core();
  }
  return call;
}

http::Response refusal(int status, std::string_view reason, std::string detail) {
  json::object body{{"type", fmt::format("https://cityroom.dev/errors/{}", reason)},
                    {"title", reason},
                    {"status", status},
                    {"detail", std::move(detail)},
                    {"reason", reason}};
  return http::Response::json(status, json::serialize(body));
}

std::optional<model::Entity> redact(const Grant& grant, const model::Entity& e) {
  if (!grant.hides_attributes_of(e)) return std::nullopt;
  std::vector<std::string_view> hidden;
  for (const auto& [name, _] : e) {
    if (!model::is_reserved_member(name) && !grant.may_see_attribute(e, name)) {
      hidden.push_back(name);
    }
  }
  if (hidden.empty()) return std::nullopt;
  model::Entity out = e;
  for (auto name : hidden) out.erase(name);
  return out;
}

const model::Entity& redacted(const Call& call, const model::Entity& e,
                              std::optional<model::Entity>& scratch) {
  if (!call.grant || !call.grant->limited()) return e;
  scratch = redact(*call.grant, e);
  return scratch ? *scratch : e;
}

live::Viewer viewer_of(const GrantPtr& grant) {
  live::Viewer v;
  if (!grant || !grant->limited()) return v;
  v.may_see = [grant](const model::Entity& e) { return grant->may_see(e); };
  v.view_key = grant->view_key();
  if (!v.view_key.empty()) {
    v.redact = [grant](const model::Entity& e) { return redact(*grant, e); };
  }
  return v;
}

void restrict_query(const Call& call, store::EntityQuery& q) {
  if (!call.grant || !call.grant->limited()) return;
  q.predicate = [grant = call.grant, inner = std::move(q.predicate)](const model::Entity& e) {
    if (!grant->may_see(e)) return false;
    if (!inner) return true;
    // The terms (q, attrs, geoQ, scopeQ) see what the caller sees: no filtering oracle on a
    // hidden attribute. The store's push-down hints only narrow: each needs the attribute.
    const auto view = redact(*grant, e);
    return inner(view ? *view : e);
  };
  if (q.order_by) {
    // The store orders the stored entities: a key on an attribute hidden from this grant on some
    // type is renamed to one no entity has, so the order reveals nothing of its values.
    q.order_by->expand_names([grant = call.grant](std::string_view name) {
      return grant->hides_attribute_somewhere(name) ? "urn:cityroom:hidden:" + std::string(name)
                                                    : std::string(name);
    });
  }
}

base::Error entity_not_found(std::string_view id) {
  return {ErrorKind::kResourceNotFound, fmt::format("entity {} does not exist", id)};
}

bool writable(Call& call, std::string_view id, std::optional<model::Entity>* stored) {
  if (!call.grant || !call.grant->limited()) return true;
  auto got = call.deps->hub.get(call.tenant, id);
  if (!got) {
    call.fail(got.error());
    return false;
  }
  if (!*got || !call.grant->may_see(**got)) {
    call.fail(entity_not_found(id));
    return false;
  }
  if (!writable_types(call, model::entity_types(**got))) return false;
  if (stored) *stored = std::move(**got);
  return true;
}

std::vector<std::string> attribute_names(const model::Entity& e) {
  std::vector<std::string> out;
  for (const auto& [name, _] : e) {
    if (!model::is_reserved_member(name)) out.emplace_back(name);
  }
  return out;
}

std::optional<std::string> hidden_attribute(const Call& call, const std::vector<std::string>& types,
                                            const std::vector<std::string>& attributes) {
  if (!call.grant || !call.grant->limited()) return std::nullopt;
  for (const auto& a : attributes) {
    for (const auto& t : types) {
      if (!call.grant->may_see_type_attribute(t, a)) return a;
    }
  }
  return std::nullopt;
}

bool writable_attributes(Call& call, const std::vector<std::string>& types,
                         const std::vector<std::string>& attributes) {
  const auto hidden = hidden_attribute(call, types, attributes);
  if (!hidden) return true;
  call.respond(refusal(403, "PermissionDenied",
                       fmt::format("{} may not write the attribute {}", call.grant->who(),
                                   call.context->compact(*hidden))));
  return false;
}

bool writable_types(Call& call, const std::vector<std::string>& types) {
  if (!call.grant || !call.grant->limited()) return true;
  for (const auto& t : types) {
    if (!call.grant->may_write_type(t)) {
      call.respond(refusal(403, "PermissionDenied",
                           fmt::format("{} may not write entities of type {}",
                                       call.grant->who(), t)));
      return false;
    }
  }
  return true;
}

base::Result<ldcontext::ContextPtr> context_of(const Call& call, const json::object& element) {
  if (call.body_is_ld) {
    const auto* spec = element.if_contains("@context");
    if (!spec) {
      return base::fail(ErrorKind::kBadRequestData,
                        "with Content-Type application/ld+json every entity needs an @context");
    }
    return call.deps->contexts.resolve(*spec);
  }
  if (element.contains("@context")) {
    return base::fail(ErrorKind::kBadRequestData,
                      "an @context in the body needs Content-Type application/ld+json");
  }
  return call.context;
}

namespace {

std::string link_header(const json::value& source) {
  std::string url(ldcontext::kCoreContextUrl);
  if (source.is_string()) url = source.get_string();
  return fmt::format("<{}>; rel=\"{}\"; type=\"application/ld+json\"", url, kContextRel);
}

void add_context_member(json::value& item, const json::value& source) {
  if (item.is_object()) item.get_object()["@context"] = source;
}

}  // namespace

void reply_json(Call& call, int status, json::value body, bool add_context, http::Headers extra) {
  http::Response response;
  response.status = status;
  response.headers = std::move(extra);
  const json::value& source = call.context->source();
  switch (call.accept) {
    case Accept::kLdJson:
      response.headers.emplace_back("content-type", "application/ld+json");
      if (add_context) {
        if (body.is_array()) {
          for (auto& item : body.get_array()) add_context_member(item, source);
        } else {
          add_context_member(body, source);
        }
      }
      break;
    case Accept::kGeoJson:
      response.headers.emplace_back("content-type", "application/geo+json");
      if (add_context) response.headers.emplace_back("link", link_header(source));
      break;
    case Accept::kJson:
      response.headers.emplace_back("content-type", "application/json");
      if (add_context) response.headers.emplace_back("link", link_header(source));
      break;
  }
  response.body = json::serialize(body);
  call.respond(std::move(response));
}

void reply_empty(Call& call, int status, http::Headers headers) {
  http::Response response = http::Response::empty(status);
  for (auto& h : headers) response.headers.push_back(std::move(h));
  call.respond(std::move(response));
}

std::string entity_location(std::string_view id) {
  return fmt::format("/ngsi-ld/v1/entities/{}", id);
}

base::Result<RenderRequest> render_request(const Call& call) {
  RenderRequest how;
  const auto& r = call.request;
  auto& o = how.options;
  o.format = model::Format::kNormalized;
  const auto set_format = [&](std::string_view name) -> bool {
    if (name == "keyValues" || name == "simplified") {
      o.format = model::Format::kKeyValues;
    } else if (name == "concise") {
      o.format = model::Format::kConcise;
    } else if (name == "normalized") {
      o.format = model::Format::kNormalized;
    } else {
      return false;
    }
    return true;
  };
  for (const auto& [k, v] : r.query) {
    if (k == "options") {
      for (const auto& opt : split_list(v)) {
        if (opt == "sysAttrs") {
          o.sys_attrs = true;
        } else if (!set_format(opt) && opt != "noOverwrite" && opt != "replace" &&
                   opt != "update" && opt != "temporalValues" && opt != "aggregatedValues") {
          return base::fail(ErrorKind::kBadRequestData,
                            fmt::format("options: unknown option '{}'", opt));
        }
      }
    }
  }
  if (const auto* f = r.query_param("format")) {
    if (!set_format(*f)) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("format: '{}' is not keyValues, concise or normalized", *f));
    }
  }
  const auto& ctx = *call.context;
  auto terms = [&](std::string_view list) {
    std::set<std::string, std::less<>> out;
    for (const auto& t : split_list(list)) out.insert(ctx.expand(t));
    return out;
  };
  if (const auto* attrs = r.query_param("attrs")) o.attrs = terms(*attrs);
  if (const auto* pick = r.query_param("pick")) {
    auto picked = terms(*pick);
    o.omit_id = !picked.contains(ctx.expand("id")) && !split_list(*pick).empty();
    o.omit_type = true;
    std::set<std::string, std::less<>> keep;
    for (const auto& t : split_list(*pick)) {
      if (t == "id") {
        o.omit_id = false;
      } else if (t == "type") {
        o.omit_type = false;
      } else {
        keep.insert(ctx.expand(t));
      }
    }
    o.attrs = std::move(keep);
  }
  if (const auto* omit = r.query_param("omit")) {
    for (const auto& t : split_list(*omit)) {
      if (t == "id") {
        o.omit_id = true;
      } else if (t == "type") {
        o.omit_type = true;
      } else {
        o.omit.insert(ctx.expand(t));
      }
    }
  }
  if (const auto* lang = r.query_param("lang")) o.lang = *lang;
  if (const auto* ds = r.query_param("datasetId")) {
    std::set<std::string, std::less<>> ids;
    for (const auto& d : split_list(*ds)) ids.insert(d);
    o.dataset_ids = std::move(ids);
  }
  if (call.accept == Accept::kGeoJson) {
    const auto* gp = r.query_param("geoproperty");
    how.geoproperty = ctx.expand(gp ? std::string_view(*gp) : std::string_view("location"));
  }
  return how;
}

json::value render(const Call& call, const model::Entity& e, const RenderRequest& how) {
  const bool geojson = call.accept == Accept::kGeoJson;
  const auto plain = [&](const model::Entity& entity, const model::RenderOptions& options) {
    return geojson ? json::value(model::render_feature(entity, *call.context, options,
                                                       *how.geoproperty))
                   : json::value(model::render_entity(entity, *call.context, options));
  };
  if (!call.grant || !call.grant->hides_attributes_of(e)) return plain(e, how.options);
  // Hidden attributes are omitted while rendering rather than copied away first: a page of a
  // thousand entities then costs one small set per entity, not a copy of each (a hidden
  // GeoProperty under geo+json, whose geometry is read outside the omit list, is the exception).
  model::RenderOptions options;
  bool copied = false;
  for (const auto& [name, _] : e) {
    if (model::is_reserved_member(name) || call.grant->may_see_attribute(e, name)) continue;
    if (geojson && name == *how.geoproperty) {
      std::optional<model::Entity> scratch;
      return plain(redacted(call, e, scratch), how.options);
    }
    if (!copied) {
      options = how.options;
      copied = true;
    }
    options.omit.emplace(name);
  }
  return plain(e, copied ? options : how.options);
}

namespace {

base::Result<std::optional<geo::GeoQuery>> geo_query(const Call& call) {
  const auto& r = call.request;
  const auto* georel = r.query_param("georel");
  const auto* geometry = r.query_param("geometry");
  const auto* coordinates = r.query_param("coordinates");
  const auto* geoproperty = r.query_param("geoproperty");
  if (!georel && !geometry && !coordinates) return std::nullopt;
  auto q = geo::parse_geoquery(georel ? *georel : "", geometry ? *geometry : "",
                               coordinates ? *coordinates : "", geoproperty ? *geoproperty : "");
  if (!q) return std::unexpected(q.error());
  return std::move(*q);
}

// The reference geometry of distance ordering: orderFrom (coordinates, as in the URL) with
// orderGeometry (default Point), or the ordering object's coordinates/geometry in a Query body.
base::Result<geo::Geometry> order_reference(const json::value* coordinates,
                                            std::string_view geometry) {
  if (coordinates == nullptr) {
    return base::fail(ErrorKind::kBadRequestData,
                      "orderFrom: the coordinates to measure distances from are required with "
                      "dist-asc and dist-desc");
  }
  json::value parsed = *coordinates;
  if (const auto* text = coordinates->if_string()) {
    auto v = json::parse(*text);
    if (!v) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("orderFrom: '{}' is not a JSON array of coordinates",
                                    std::string_view(*text)));
    }
    parsed = std::move(*v);
  }
  json::object geojson{{"type", geometry}, {"coordinates", std::move(parsed)}};
  auto g = geo::parse_geojson(geojson);
  if (!g) {
    return base::fail(ErrorKind::kBadRequestData,
                      "orderFrom/orderGeometry: " + g.error().detail);
  }
  return std::move(*g);
}

// orderBy from the URL (GET, and POST /entityOperations/query) or from the "ordering" member
// of a Query body (ETSI GS CIM 009 V1.9.1 5.2.43), names expanded through the @context.
base::Result<std::optional<query::Ordering>> ordering(const Call& call) {
  const auto& r = call.request;
  const json::object* body = nullptr;
  if (call.body.is_object()) {
    if (const auto* o = call.body.get_object().if_contains("ordering")) {
      if (!o->is_object()) {
        return base::fail(ErrorKind::kBadRequestData, "ordering: must be an OrderingParams object");
      }
      body = &o->get_object();
    }
  }
  const auto* param = r.query_param("orderBy");
  if (param && body) {
    return base::fail(ErrorKind::kBadRequestData,
                      "orderBy is given both in the URL and in the body's ordering; give one");
  }
  const json::value* collation = body ? body->if_contains("collation") : nullptr;
  if (r.query_param("collation") || collation) {
    return base::fail(ErrorKind::kOperationNotSupported,
                      "collation: not supported; strings are ordered by Unicode code point");
  }
  if (!param && !body) {
    if (r.query_param("orderFrom") || r.query_param("orderGeometry")) {
      return base::fail(ErrorKind::kBadRequestData, "orderFrom/orderGeometry need orderBy");
    }
    return std::nullopt;
  }
  base::Result<query::Ordering> parsed = std::unexpected(base::Error{});
  if (param) {
    parsed = query::parse_order_by(*param);
  } else {
    const auto* list = body->if_contains("orderBy");
    std::vector<std::string> terms;
    if (list && list->is_string()) terms.emplace_back(list->get_string());
    if (list && list->is_array()) {
      for (const auto& t : list->get_array()) {
        if (!t.is_string()) {
          return base::fail(ErrorKind::kBadRequestData, "ordering.orderBy: must be strings");
        }
        terms.emplace_back(t.get_string());
      }
    }
    if (terms.empty()) {
      return base::fail(ErrorKind::kBadRequestData,
                        "ordering.orderBy: a non-empty array of strings is required");
    }
    parsed = query::parse_order_by(terms);
  }
  if (!parsed) return std::unexpected(parsed.error());
  const auto& ctx = *call.context;
  parsed->expand_names([&ctx](std::string_view t) { return ctx.expand(t); });
  if (parsed->uses_distance()) {
    json::value from_param;
    const json::value* from = body ? body->if_contains("coordinates") : nullptr;
    if (const auto* f = r.query_param("orderFrom")) {
      from_param = json::value(*f);
      from = &from_param;
    }
    std::string geometry = "Point";
    if (const auto* g = r.query_param("orderGeometry")) geometry = *g;
    if (const auto* g = body ? body->if_contains("geometry") : nullptr; g && g->is_string()) {
      geometry = g->get_string();
    }
    auto reference = order_reference(from, geometry);
    if (!reference) return std::unexpected(reference.error());
    parsed->set_distance([g = std::move(*reference)](const json::value& v) -> std::optional<double> {
      auto other = geo::parse_geojson(v);
      if (!other) return std::nullopt;
      return geo::distance_m(g, *other);
    });
  }
  return std::move(*parsed);
}

}  // namespace

base::Result<store::EntityQuery> entity_query(const Call& call) {
  const auto& r = call.request;
  const auto& ctx = *call.context;
  const query::Expander expand = [&ctx](std::string_view t) { return ctx.expand(t); };
  store::EntityQuery q;
  std::vector<std::function<bool(const model::Entity&)>> checks;

  if (const auto* type = r.query_param("type")) {
    auto types = query::parse_types(*type);
    if (!types) return std::unexpected(types.error());
    types->expand_names(expand);
    if (auto any = types->any_of()) {
      q.any_of_types = std::move(*any);
    } else {
      checks.push_back([t = *types](const model::Entity& e) { return t.matches(e); });
    }
  }
  if (const auto* ids = r.query_param("id")) {
    auto list = split_list(*ids);
    for (const auto& id : list) {
      if (!base::is_uri(id)) {
        return base::fail(ErrorKind::kBadRequestData, fmt::format("id: '{}' is not a URI", id));
      }
    }
    q.ids = std::move(list);
  }
  if (const auto* pattern = r.query_param("idPattern")) {
    q.id_pattern = *pattern;  // the store compiles it once and refuses an invalid one
  }
  if (const auto* text = r.query_param("q")) {
    auto filter = query::parse_q(*text);
    if (!filter) return std::unexpected(filter.error());
    filter->expand_names(expand);
    q.conditions = filter->necessary_conditions();
    checks.push_back([f = std::move(*filter)](const model::Entity& e) { return f.matches(e); });
  }
  if (const auto* scope = r.query_param("scopeQ")) {
    auto filter = query::parse_scope_q(*scope);
    if (!filter) return std::unexpected(filter.error());
    checks.push_back([f = std::move(*filter)](const model::Entity& e) { return f.matches(e); });
  }
  auto geoq = geo_query(call);
  if (!geoq) return std::unexpected(geoq.error());
  if (*geoq) {
    const std::string attr = ctx.expand((*geoq)->geoproperty);
    if (auto box = geo::candidate_box(**geoq)) q.geo_box = store::EntityQuery::GeoBox{attr, *box};
    checks.push_back([g = std::move(**geoq), attr](const model::Entity& e) {
      return live::geo_matches(e, g, attr);
    });
  }
  if (const auto* attrs = r.query_param("attrs")) {
    // An entity matches attrs= only if it has at least one of them (NGSI-LD 6.4.3.2).
    std::vector<std::string> wanted;
    for (const auto& t : split_list(*attrs)) wanted.push_back(ctx.expand(t));
    checks.push_back([wanted = std::move(wanted)](const model::Entity& e) {
      return std::any_of(wanted.begin(), wanted.end(),
                         [&](const std::string& a) { return e.contains(a); });
    });
  }
  if (!checks.empty()) {
    q.predicate = [checks = std::move(checks)](const model::Entity& e) {
      return std::all_of(checks.begin(), checks.end(), [&](const auto& c) { return c(e); });
    };
  }
  q.limit = kPageSizeDefault;
  if (const auto* limit = r.query_param("limit")) {
    auto v = parse_size(*limit);
    if (!v) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("limit: '{}' is not a non-negative integer", *limit));
    }
    if (*v > kPageSizeMax) {
      return base::fail(ErrorKind::kTooManyResults,
                        fmt::format("limit: {} is above the maximum page size {}", *v, kPageSizeMax));
    }
    q.limit = *v;
  }
  if (const auto* offset = r.query_param("offset")) {
    auto v = parse_size(*offset);
    if (!v) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("offset: '{}' is not a non-negative integer", *offset));
    }
    q.offset = *v;
  }
  auto order = ordering(call);
  if (!order) return std::unexpected(order.error());
  q.order_by = std::move(*order);
  if (const auto* count = r.query_param("count")) {
    if (*count != "true" && *count != "false") {
      return base::fail(ErrorKind::kBadRequestData, "count: must be true or false");
    }
    q.count = *count == "true";
  }
  return q;
}

void answer_query(Call& call) {
  auto how = render_request(call);
  if (!how) return call.fail(how.error());
  auto q = entity_query(call);
  if (!q) return call.fail(q.error());
  if (q->limit == 0 && !q->count) {
    return call.fail(ErrorKind::kBadRequestData, "limit=0 is only allowed with count=true");
  }
  restrict_query(call, *q);
  auto result = call.deps->hub.query(call.tenant, *q);
  if (!result) return call.fail(result.error());
  json::array items;
  items.reserve(result->entities.size());
  for (const auto& e : result->entities) items.push_back(render(call, e, *how));
  json::value body;
  if (call.accept == Accept::kGeoJson) {
    body = json::object{{"type", "FeatureCollection"}, {"features", std::move(items)}};
  } else {
    body = std::move(items);
  }
  http::Headers extra;
  if (result->total) extra.emplace_back("ngsild-results-count", std::to_string(*result->total));
  reply_json(call, 200, std::move(body), true, std::move(extra));
}

}  // namespace cityroom::api
