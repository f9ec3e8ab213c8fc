// access/guard: the one enforcement point — api::Access for every route (prepare() and the
// stream route call `check`), the HTTP hooks (security headers, CORS), and access control's
// own routes: /cityroom/v1/session (log in / who am I / log out), /cityroom/v1/audit and
// /cityroom/v1/keys (admin).
//
// check(): identifies the caller (API key from `Authorization: Bearer crk_...` or `X-API-Key`;
// an OIDC JWT as any other Bearer token when configured; else the session cookie; else
// anonymous = role public), applies the rate limits (per client
// address, and per key), keeps a credential to its tenant, requires admin for administrative
// operations and a key or session for writes, the CSRF token for cookie-authenticated writes,
// and an allowed Origin for cookie-authenticated requests from a browser; then returns the
// Grant that filters every entity the route answers with. Writes (and refused writes) are
// audited with their outcome; reads of restricted data by the grant (policy.h).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "access/directory.h"
#include "access/jwt.h"
#include "access/limiter.h"
#include "access/policy.h"
#include "api/api.h"

namespace cityroom::access {

inline constexpr std::string_view kSessionCookie = "cityroom_session";

struct GuardOptions {
  double address_rate = 100, address_burst = 400;  // requests/s per client address; 0 = off
  double key_rate = 1000, key_burst = 4000;        // requests/s per API key; 0 = off
  std::vector<std::string> cors_origins;  // exact "https://host[:port]" allowed cross-origin
  // Behind a reverse proxy: the client address is the last X-Forwarded-For entry and
  // X-Forwarded-Proto: https marks TLS (Secure cookies, HSTS). Never set it without a proxy:
  // clients could then choose their own address.
  bool trust_proxy = false;
  bool secure_cookies = false;  // always mark the session cookie Secure
  std::chrono::seconds session_ttl{12 * 3600};
  std::chrono::hours audit_retention{24 * 365};
  const JwtVerifier* jwt = nullptr;  // OIDC bearer tokens; null = API keys only
};

class Guard final : public api::Access, public RestrictedReads {
 public:
  Guard(Directory& directory, std::shared_ptr<const Policy> policy, GuardOptions options);
  ~Guard() override;
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

  api::Refused check(const http::Request& request, const api::Operation& op) override;
  http::Respond audited(const http::Request& request, const api::Operation& op,
                        const api::GrantPtr& grant, http::Respond respond) override;
  live::Viewer scope_filter(std::string_view scope, std::string_view tenant) override;
  void restricted_read(const Principal& p, std::string_view tenant, std::string_view address,
                       std::string_view target, base::Micros first_at, std::size_t count,
                       std::vector<std::string> sample_ids) override;

  // Security headers on every answer; CORS for allowed origins (preflight answered here).
  http::Router::Hooks hooks();
  void register_routes(http::Router& router, api::Deps& deps);

  // Background work: audit flush (every 200 ms), audit retention (hourly). Idempotent.
  void start();
  void stop();

  std::string client_address(const http::Request& r) const;
  bool over_tls(const http::Request& r) const;

 private:
  bool origin_allowed(const http::Request& r) const;
  void audit_refusal(const http::Request& r, const Principal& p, const api::Operation& op,
                     const http::Response& answer);
  void run();

  Directory& directory_;
  std::shared_ptr<const Policy> policy_;
  GuardOptions options_;
  RateLimiter by_address_, by_key_;
  LoginThrottle logins_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cityroom::access
