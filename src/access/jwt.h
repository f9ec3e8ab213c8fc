// access/jwt: OIDC bearer tokens for cities with single sign-on — a JWT (RS256) signed by the
// configured issuer's keys, checked for issuer, audience and lifetime, and mapped to a
// principal from its claims. The keys are read from a PEM file of public keys (the issuer's
// JWKS converted once, e.g. with `openssl`); nothing is fetched at run time, so a network or
// IdP outage cannot open or close the door by itself.
//
// Claims: `iss` must equal the issuer, `aud` (string or array) must hold the audience, `exp`
// is required and `nbf` honoured (60 s leeway each); the role comes from `cityroom_role`
// (admin, executive, staff, device, public), the department from `cityroom_department`, the
// tenant from `cityroom_tenant` (default: the default tenant); the principal is
// "oidc:<sub>". Only RS256 is accepted; `alg: none` and HMAC algorithms are refused, so a
// public key can never be used as an HMAC secret.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "access/policy.h"
#include "base/base.h"

namespace cityroom::access {

struct OidcOptions {
  std::string issuer;
  std::string audience;
  std::filesystem::path keys_file;  // PEM public keys (RSA)
};

class JwtVerifier {
 public:
  static base::Result<std::unique_ptr<JwtVerifier>> load(const OidcOptions& options);
  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // The principal of a valid token; otherwise why it was refused (never the token itself).
  base::Result<Principal> verify(std::string_view token, base::Micros now) const;

 private:
  JwtVerifier() = default;
  struct Keys;
  OidcOptions options_;
  std::unique_ptr<Keys> keys_;
};

// base64url without padding → bytes; nullopt when malformed.
std::optional<std::string> base64url_decode(std::string_view in);

}  // namespace cityroom::access
