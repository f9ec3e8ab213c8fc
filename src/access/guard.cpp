#include "access/guard.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "access/crypto.h"
#include "api/call.h"

namespace cityroom::access {
namespace {

using api::Operation;
using api::refusal;

constexpr auto kFlushInterval = std::chrono::milliseconds(200);
constexpr auto kRetentionInterval = std::chrono::hours(1);
constexpr std::size_t kAuditPageMax = 1000;

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::string> cookie(const http::Request& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k != "cookie") continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      const auto semi = rest.find(';');
      std::string_view part = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      const auto eq = part.find('=');
      if (eq != std::string_view::npos && part.substr(0, eq) == name) {
        return std::string(part.substr(eq + 1));
      }
    }
  }
  return std::nullopt;
}

bool unsafe_method(std::string_view m) {
  return m != "GET" && m != "HEAD" && m != "OPTIONS";
}

http::Response unauthorized(std::string detail) {
  auto r = refusal(401, "Unauthorized", std::move(detail));
  r.headers.emplace_back("www-authenticate", "Bearer realm=\"cityroom\"");
  return r;
}

http::Response too_many(std::uint32_t seconds, std::string detail) {
  auto r = refusal(429, "TooManyRequests", std::move(detail));
  r.headers.emplace_back("retry-after", std::to_string(seconds));
  return r;
}

bool admin_route(const Operation& op) {
  return op.kind == Operation::Kind::kAdmin || op.route.starts_with("/cityroom/v1/admin") ||
         op.route.starts_with("/cityroom/v1/audit") || op.route.starts_with("/cityroom/v1/keys");
}

bool loopback(std::string_view address) {
  return address.starts_with("127.") || address == "::1" || address == "::ffff:127.0.0.1" ||
         address.starts_with("::ffff:127.");
}

std::string iso(base::Micros t) { return t ? base::format_iso8601(t) : std::string(); }

json::object key_json(const ApiKey& k) {
  json::array types;
  for (const auto& t : k.types) types.emplace_back(t);
  json::object o{{"id", k.id},          {"name", k.name},
                 {"role", role_name(k.role)}, {"department", k.department},
                 {"tenant", k.tenant},  {"operations", ops_text(k.ops)},
                 {"types", std::move(types)}, {"created", iso(k.created)},
                 {"revoked", k.revoked ? json::value(iso(k.revoked)) : json::value(nullptr)},
                 {"lastUsed", k.last_used ? json::value(iso(k.last_used)) : json::value(nullptr)}};
  return o;
}

json::object whoami(const Principal& p, bool with_csrf) {
  const bool anonymous = p.via == Principal::Via::kNone;
  std::string user = p.who.starts_with("user:") ? p.who.substr(5) : p.who;
  return json::object{
      {"user", anonymous ? json::value(nullptr) : json::value(user)},
      {"role", role_name(p.role)},
      {"department", p.department.empty() ? json::value(nullptr) : json::value(p.department)},
      {"csrfToken", with_csrf && !p.session_csrf.empty() ? json::value(p.session_csrf)
                                                         : json::value(nullptr)}};
}

}  // namespace

Guard::Guard(Directory& directory, std::shared_ptr<const Policy> policy, GuardOptions options)
    : directory_(directory),
      policy_(std::move(policy)),
      options_(std::move(options)),
      by_address_(options_.address_rate, options_.address_burst),
      by_key_(options_.key_rate, options_.key_burst) {}

Guard::~Guard() { stop(); }

std::string Guard::client_address(const http::Request& r) const {
  if (options_.trust_proxy) {
    if (const auto* f = r.header("x-forwarded-for")) {
      std::string_view list = *f;
      const auto comma = list.rfind(',');
      auto last = trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
      if (!last.empty() && last.size() <= 64) return std::string(last);
    }
  }
  return r.remote_address;
}

bool Guard::over_tls(const http::Request& r) const {
  if (!options_.trust_proxy) return false;
  const auto* proto = r.header("x-forwarded-proto");
  return proto && iequals_prefix(*proto, "https");
}

// A browser names the page's origin; cookie-authenticated requests must come from this
// server's own pages or an allow-listed origin (cross-site WebSocket hijacking, CSRF).
bool Guard::origin_allowed(const http::Request& r) const {
  const auto* origin = r.header("origin");
  if (!origin) return true;  // not a browser cross-origin request
  const auto* host = r.header("host");
  if (host) {
    const auto scheme_end = origin->find("://");
    if (scheme_end != std::string::npos && origin->substr(scheme_end + 3) == *host) return true;
  }
  return std::find(options_.cors_origins.begin(), options_.cors_origins.end(), *origin) !=
         options_.cors_origins.end();
}

void Guard::audit_refusal(const http::Request& r, const Principal& p, const Operation& op,
                          const http::Response& answer) {
  if (op.kind == Operation::Kind::kRead && !admin_route(op)) return;
  directory_.audit(AuditEntry{base::now_micros(), p.who, std::string(role_name(p.role)),
                              std::string(op.tenant), r.method, r.path, answer.status,
                              client_address(r), "refused"});
}

api::Refused Guard::check(const http::Request& r, const Operation& op) {
  // The address limit comes first, so that guessing keys is as limited as anything else.
  const std::string address = client_address(r);
  if (auto wait = by_address_.take(address)) {
    return std::unexpected(too_many(*wait, "too many requests from this address"));
  }
  Principal p;
  std::string_view token;
  if (const auto* a = r.header("authorization")) {
    if (!iequals_prefix(*a, "bearer ")) {
      return std::unexpected(unauthorized("Authorization: only Bearer API keys are accepted"));
    }
    token = trim(std::string_view(*a).substr(7));
  } else if (const auto* k = r.header("x-api-key")) {
    token = trim(*k);
  }
  const bool via_header = r.header("authorization") != nullptr;
  if (!token.empty() && via_header && options_.jwt && !token.starts_with(kKeyPrefix)) {
    auto claims = options_.jwt->verify(token, base::now_micros());
    if (!claims) {
      return std::unexpected(unauthorized("the bearer token is not valid: " + claims.error().detail));
    }
    p = std::move(*claims);
  } else if (!token.empty()) {
    auto key = directory_.authenticate_key(token);
    if (!key) return std::unexpected(unauthorized("the API key is unknown or revoked"));
    p = std::move(*key);
  } else if (auto c = cookie(r, kSessionCookie)) {
    // A stale cookie reads as anonymous: the public pages keep working after a session ends.
    if (auto s = directory_.authenticate_session(*c)) p = std::move(*s);
  }
  if (p.via == Principal::Via::kKey) {
    if (auto wait = by_key_.take(p.key_id)) {
      return std::unexpected(too_many(*wait, "too many requests with this API key"));
    }
  }
  const bool anonymous = p.via == Principal::Via::kNone;
  const auto refuse = [&](http::Response answer) -> api::Refused {
    audit_refusal(r, p, op, answer);
    return std::unexpected(std::move(answer));
  };
  if (!anonymous && p.tenant != "*" && p.tenant != op.tenant) {
    return refuse(refusal(403, "PermissionDenied",
                          fmt::format("{} belongs to another tenant than '{}'", p.who, op.tenant)));
  }
  if (op.route == "/metrics" && anonymous && loopback(address)) {
    // A Prometheus on the server's own host scrapes without a credential. Behind a reverse
    // proxy on the same host this needs --trust-proxy (else every request looks local).
    return std::make_shared<Grant>(std::move(p), policy_, std::string(op.tenant));
  }
  if (admin_route(op)) {
    if (anonymous) return refuse(unauthorized("this operation needs an admin's key or session"));
    if (p.role != Role::kAdmin || !(p.ops & kOpAdmin)) {
      return refuse(refusal(403, "PermissionDenied", fmt::format("{} is not an admin", p.who)));
    }
  } else if (op.kind == Operation::Kind::kWrite) {
    if (anonymous) return refuse(unauthorized("writes need an API key or a session"));
    // Managing one's own subscriptions is part of reading: a public-role key may do it.
    const bool subscription = op.route.starts_with("/ngsi-ld/v1/subscriptions");
    const bool may = subscription ? (p.ops & kOpRead) != 0
                                  : (p.ops & kOpWrite) != 0 && p.role != Role::kPublic;
    if (!may) {
      return refuse(refusal(403, "PermissionDenied", fmt::format("{} may not write", p.who)));
    }
  } else if (!anonymous && !(p.ops & kOpRead)) {
    return refuse(refusal(403, "PermissionDenied", fmt::format("{} may not read", p.who)));
  }
  if (p.via == Principal::Via::kSession) {
    if (unsafe_method(r.method)) {
      const auto* csrf = r.header("x-csrf-token");
      if (!csrf || !equal_constant_time(*csrf, p.session_csrf)) {
        return refuse(refusal(403, "PermissionDenied",
                              "a write with a session cookie needs its X-CSRF-Token header"));
      }
    }
    if (!origin_allowed(r)) {
      return refuse(refusal(403, "PermissionDenied", "requests from this Origin are not allowed"));
    }
  }
  return std::make_shared<Grant>(std::move(p), policy_, std::string(op.tenant), this, address,
                                 r.path, &directory_);
}

http::Respond Guard::audited(const http::Request& r, const Operation& op,
                             const api::GrantPtr& grant, http::Respond respond) {
  if (op.kind == Operation::Kind::kRead && !admin_route(op)) return respond;
  const auto* g = dynamic_cast<const Grant*>(grant.get());
  AuditEntry e;
  e.who = grant ? grant->who() : "anonymous";
  e.role = g ? std::string(role_name(g->principal().role)) : "";
  e.tenant = op.tenant;
  e.action = r.method;
  e.target = r.path;
  e.address = client_address(r);
  return [this, e = std::move(e), respond = std::move(respond)](http::Response answer) mutable {
    e.at = base::now_micros();
    e.status = answer.status;
    directory_.audit(std::move(e));
    respond(std::move(answer));
  };
}

void Guard::restricted_read(const Principal& p, std::string_view tenant, std::string_view address,
                            std::string_view target, base::Micros first_at, std::size_t count,
                            std::vector<std::string> sample_ids) {
  directory_.audit(AuditEntry{first_at, p.who, std::string(role_name(p.role)), std::string(tenant),
                              "read-restricted", std::string(target), 200, std::string(address),
                              fmt::format("{} entities: {}{}", count, fmt::join(sample_ids, " "),
                                          count > sample_ids.size() ? " ..." : "")});
}

live::Viewer Guard::scope_filter(std::string_view scope, std::string_view tenant) {
  auto grant = std::make_shared<Grant>(Grant::from_scope(scope), policy_, std::string(tenant),
                                       nullptr, std::string(), std::string(), &directory_);
  live::Viewer v = api::viewer_of(grant);
  // The owner's credential is checked at every change: a revoked key's (or a removed or
  // re-roled user's) subscriptions notify nothing more, at once.
  v.may_see = [grant](const model::Entity& e) { return grant->may_see(e) && !grant->revoked(); };
  return v;
}

http::Router::Hooks Guard::hooks() {
  http::Router::Hooks h;
  h.headers = [this](const http::Request& r) {
    http::Headers out{
        {"x-content-type-options", "nosniff"},
        {"x-frame-options", "DENY"},
        {"referrer-policy", "no-referrer"},
        {"content-security-policy",
         "frame-ancestors 'none'; base-uri 'self'; object-src 'none'; form-action 'self'"},
        {"cross-origin-opener-policy", "same-origin"},
        {"permissions-policy", "camera=(), microphone=(), geolocation=()"}};
    if (over_tls(r)) out.emplace_back("strict-transport-security", "max-age=31536000");
    if (const auto* origin = r.header("origin")) {
      if (std::find(options_.cors_origins.begin(), options_.cors_origins.end(), *origin) !=
          options_.cors_origins.end()) {
        out.emplace_back("access-control-allow-origin", *origin);
        out.emplace_back("access-control-expose-headers",
                         "location, link, ngsild-results-count, content-range, retry-after");
      }
      out.emplace_back("vary", "Origin");
    }
    return out;
  };
  h.before = [this](const http::Request& r) -> std::optional<http::Response> {
    if (r.method != "OPTIONS" || !r.header("origin") ||
        !r.header("access-control-request-method")) {
      return std::nullopt;
    }
    const std::string& origin = *r.header("origin");
    if (std::find(options_.cors_origins.begin(), options_.cors_origins.end(), origin) ==
        options_.cors_origins.end()) {
      return refusal(403, "PermissionDenied",
                     fmt::format("the origin {} is not allowed (serve --cors-origin)", origin));
    }
    http::Response ok = http::Response::empty(204);
    ok.headers = {{"access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE"},
                  {"access-control-allow-headers",
                   "authorization, x-api-key, content-type, link, ngsild-tenant, x-csrf-token, "
                   "last-event-id, accept"},
                  {"access-control-max-age", "600"}};
    return ok;
  };
  return h;
}

// ---- routes -----------------------------------------------------------------------------

void Guard::register_routes(http::Router& router, api::Deps& deps) {
  // POST /cityroom/v1/session {"username","password"}: log in.
  router.add("POST", "/cityroom/v1/session", [this](http::Request&& r, http::Respond respond) {
    const std::string address = client_address(r);
    if (auto wait = by_address_.take(address)) {
      return respond(too_many(*wait, "too many requests from this address"));
    }
    const auto* ct = r.header("content-type");
    auto body = json::parse(r.body);
    if (!ct || !iequals_prefix(*ct, "application/json") || !body || !body->is_object()) {
      // JSON only: a cross-site HTML form cannot send it without a CORS preflight.
      return respond(refusal(400, "BadRequestData",
                             "send {\"username\",\"password\"} as application/json"));
    }
    const auto& o = body->get_object();
    const auto* u = o.if_contains("username");
    const auto* pw = o.if_contains("password");
    if (!u || !u->is_string() || !pw || !pw->is_string()) {
      return respond(refusal(400, "BadRequestData", "username and password must be strings"));
    }
    const std::string name(u->get_string());
    if (auto wait = logins_.wait(name, address)) {
      return respond(too_many(*wait, "too many failed logins; wait before trying again"));
    }
    auto principal = directory_.check_password(name, std::string_view(pw->get_string()));
    AuditEntry e{base::now_micros(), "user:" + name, "", "", "login", r.path, 0, address, ""};
    if (!principal) {
      logins_.failed(name, address);
      e.status = 401;
      e.detail = "wrong user name or password";
      directory_.audit(std::move(e));
      return respond(refusal(401, "Unauthorized", "wrong user name or password"));
    }
    logins_.succeeded(name);
    auto session = directory_.create_session(name, options_.session_ttl);
    if (!session) return respond(http::Response::problem(session.error()));
    e.status = 200;
    e.role = role_name(principal->role);
    directory_.audit(std::move(e));
    principal->session_csrf = session->csrf;
    auto answer = http::Response::json(200, json::serialize(whoami(*principal, true)));
    answer.headers.emplace_back(
        "set-cookie",
        fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}", kSessionCookie,
                    session->token, options_.session_ttl.count(),
                    options_.secure_cookies || over_tls(r) ? "; Secure" : ""));
    answer.headers.emplace_back("cache-control", "no-store");
    respond(std::move(answer));
  });
  // GET: who am I (anonymous: role public, user null).
  router.add("GET", "/cityroom/v1/session", [this](http::Request&& r, http::Respond respond) {
    auto granted = check(r, {Operation::Kind::kRead, r.route, ""});
    Principal p;
    if (granted) {
      if (const auto* g = dynamic_cast<const Grant*>(granted->get())) p = g->principal();
    } else if (granted.error().status == 429) {
      return respond(std::move(granted.error()));
    }
    auto answer = http::Response::json(200, json::serialize(whoami(p, true)));
    answer.headers.emplace_back("cache-control", "no-store");
    respond(std::move(answer));
  });
  // DELETE: log out (the cookie is cleared whatever its state).
  router.add("DELETE", "/cityroom/v1/session", [this](http::Request&& r, http::Respond respond) {
    if (auto c = cookie(r, kSessionCookie)) {
      if (auto p = directory_.authenticate_session(*c)) {
        directory_.audit(AuditEntry{base::now_micros(), p->who, std::string(role_name(p->role)),
                                    "", "logout", r.path, 204, client_address(r), ""});
      }
      directory_.end_session(*c);
    }
    auto answer = http::Response::empty(204);
    answer.headers.emplace_back(
        "set-cookie", fmt::format("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
                                  kSessionCookie,
                                  options_.secure_cookies || over_tls(r) ? "; Secure" : ""));
    respond(std::move(answer));
  });

  // GET /cityroom/v1/audit?from=&to=&who=&tenant=&action=&limit=&offset= (admin).
  router.add("GET", "/cityroom/v1/audit",
             api::bound(deps, [](api::Deps& d, http::Request&& r, http::Respond respond) {
               auto call = api::prepare(std::move(r), std::move(respond), d, {.admin = true});
               if (!call) return;
               auto* guard = dynamic_cast<Guard*>(&d.access);
               if (!guard) return call->fail(base::ErrorKind::kOperationNotSupported,
                                             "access control is off (--no-auth)");
               AuditQuery q;
               const auto& req = call->request;
               const auto time_param = [&](std::string_view name, base::Micros& into) {
                 const auto* v = req.query_param(name);
                 if (!v) return true;
                 auto t = base::parse_iso8601(*v);
                 if (!t) {
                   call->fail(base::ErrorKind::kBadRequestData,
                              fmt::format("{}: '{}' is not an ISO 8601 time", name, *v));
                   return false;
                 }
                 into = *t;
                 return true;
               };
               if (!time_param("from", q.from) || !time_param("to", q.to)) return;
               if (const auto* v = req.query_param("who")) q.who = *v;
               if (const auto* v = req.query_param("tenant")) q.tenant = *v;
               if (const auto* v = req.query_param("action")) q.action = *v;
               for (auto [name, into] : {std::pair{"limit", &q.limit}, {"offset", &q.offset}}) {
                 if (const auto* v = req.query_param(name)) {
                   auto n = api::parse_size(*v);
                   if (!n || (into == &q.limit && *n > kAuditPageMax)) {
                     return call->fail(base::ErrorKind::kBadRequestData,
                                       fmt::format("{}: '{}' is not an integer in range", name, *v));
                   }
                   *into = *n;
                 }
               }
               auto lines = guard->directory_.audit_query(q);
               if (!lines) return call->fail(lines.error());
               json::array out;
               for (const auto& e : *lines) {
                 out.emplace_back(json::object{{"at", iso(e.at)},       {"who", e.who},
                                               {"role", e.role},        {"tenant", e.tenant},
                                               {"action", e.action},    {"target", e.target},
                                               {"status", e.status},    {"address", e.address},
                                               {"detail", e.detail}});
               }
               api::reply_json(*call, 200, std::move(out), false);
             }));

  // API keys (admin): list, create, revoke — in effect at once.
  router.add("GET", "/cityroom/v1/keys",
             api::bound(deps, [](api::Deps& d, http::Request&& r, http::Respond respond) {
               auto call = api::prepare(std::move(r), std::move(respond), d, {.admin = true});
               if (!call) return;
               auto* guard = dynamic_cast<Guard*>(&d.access);
               if (!guard) return call->fail(base::ErrorKind::kOperationNotSupported,
                                             "access control is off (--no-auth)");
               json::array out;
               for (const auto& k : guard->directory_.keys()) out.emplace_back(key_json(k));
               api::reply_json(*call, 200, std::move(out), false);
             }));
  router.add("POST", "/cityroom/v1/keys",
             api::bound(deps, [](api::Deps& d, http::Request&& r, http::Respond respond) {
               auto call = api::prepare(std::move(r), std::move(respond), d,
                                        {.read_only = false, .has_body = true, .admin = true});
               if (!call) return;
               auto* guard = dynamic_cast<Guard*>(&d.access);
               if (!guard) return call->fail(base::ErrorKind::kOperationNotSupported,
                                             "access control is off (--no-auth)");
               if (!call->body.is_object()) {
                 return call->fail(base::ErrorKind::kBadRequestData, "the body must be an object");
               }
               const auto& o = call->body.get_object();
               ApiKey k;
               const auto str = [&](std::string_view name, std::string& into) {
                 if (const auto* v = o.if_contains(name)) {
                   if (!v->is_string()) return false;
                   into = v->get_string();
                 }
                 return true;
               };
               std::string role = "device", ops;
               if (!str("name", k.name) || !str("role", role) || !str("department", k.department) ||
                   !str("tenant", k.tenant) || !str("operations", ops)) {
                 return call->fail(base::ErrorKind::kBadRequestData,
                                   "name, role, department, tenant, operations must be strings");
               }
               auto parsed_role = parse_role(role);
               if (!parsed_role) {
                 return call->fail(base::ErrorKind::kBadRequestData,
                                   "role: public, device, staff, executive or admin");
               }
               k.role = *parsed_role;
               k.ops = role_ops(k.role);
               if (!ops.empty()) {
                 auto parsed_ops = parse_ops(ops);
                 if (!parsed_ops) {
                   return call->fail(base::ErrorKind::kBadRequestData,
                                     "operations: a comma list of read, write, admin");
                 }
                 k.ops = *parsed_ops;
               }
               if (const auto* t = o.if_contains("types")) {
                 if (!t->is_array()) {
                   return call->fail(base::ErrorKind::kBadRequestData, "types: an array of strings");
                 }
                 for (const auto& v : t->get_array()) {
                   if (!v.is_string()) {
                     return call->fail(base::ErrorKind::kBadRequestData, "types: strings");
                   }
                   k.types.emplace_back(v.get_string());
                 }
               }
               auto made = guard->directory_.create_key(std::move(k));
               if (!made) return call->fail(made.error());
               json::object out = key_json(made->key);
               out["key"] = made->secret;  // shown once
               api::reply_json(*call, 201, std::move(out), false);
             }));
  router.add("DELETE", "/cityroom/v1/keys/{id}",
             api::bound(deps, [](api::Deps& d, http::Request&& r, http::Respond respond) {
               auto call = api::prepare(std::move(r), std::move(respond), d,
                                        {.read_only = false, .admin = true});
               if (!call) return;
               auto* guard = dynamic_cast<Guard*>(&d.access);
               if (!guard) return call->fail(base::ErrorKind::kOperationNotSupported,
                                             "access control is off (--no-auth)");
               auto revoked = guard->directory_.revoke_key(call->request.param("id"));
               if (!revoked) return call->fail(revoked.error());
               if (!*revoked) {
                 return call->fail(base::ErrorKind::kResourceNotFound,
                                   fmt::format("no valid key {}", call->request.param("id")));
               }
               api::reply_empty(*call, 204);
             }));
}

// ---- background -------------------------------------------------------------------------

void Guard::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Guard::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  directory_.flush();
}

void Guard::run() {
  auto next_retention = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    directory_.flush();
    if (std::chrono::steady_clock::now() >= next_retention) {
      const auto cutoff =
          base::now_micros() -
          std::chrono::duration_cast<std::chrono::microseconds>(options_.audit_retention).count();
      if (auto n = directory_.audit_purge(cutoff); !n) {
        spdlog::error("access: audit retention: {}", n.error().detail);
      } else if (*n > 0) {
        spdlog::info("access: audit retention removed {} lines", *n);
      }
      next_retention = std::chrono::steady_clock::now() + kRetentionInterval;
    }
    lock.lock();
    wake_.wait_for(lock, kFlushInterval, [this] { return stopping_; });
  }
}

}  // namespace cityroom::access
