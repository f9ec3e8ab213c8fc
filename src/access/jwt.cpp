#include "access/jwt.h"

#include <cstdio>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "json/json.h"

namespace cityroom::access {
namespace {

using base::ErrorKind;

constexpr std::int64_t kLeewaySeconds = 60;
constexpr std::size_t kTokenBytesMax = 16 * 1024;

base::Error bad(std::string why) { return {ErrorKind::kBadRequestData, std::move(why)}; }

}  // namespace

std::optional<std::string> base64url_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    else return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone trailing character is not base64
  return out;
}

struct JwtVerifier::Keys {
  std::vector<EVP_PKEY*> keys;
  ~Keys() {
    for (auto* k : keys) EVP_PKEY_free(k);
  }
};

JwtVerifier::~JwtVerifier() = default;

base::Result<std::unique_ptr<JwtVerifier>> JwtVerifier::load(const OidcOptions& options) {
  if (options.issuer.empty() || options.audience.empty() || options.keys_file.empty()) {
    return base::fail(ErrorKind::kBadRequestData,
                      "OIDC needs --oidc-issuer, --oidc-audience and --oidc-keys together");
  }
  std::unique_ptr<JwtVerifier> v(new JwtVerifier());
  v->options_ = options;
  v->keys_ = std::make_unique<Keys>();
  FILE* f = std::fopen(options.keys_file.c_str(), "r");
  if (!f) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("cannot read {}", options.keys_file.string()));
  }
  while (EVP_PKEY* key = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr)) {
    if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
      EVP_PKEY_free(key);
      std::fclose(f);
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("{}: only RSA public keys (RS256) are supported",
                                    options.keys_file.string()));
    }
    v->keys_->keys.push_back(key);
  }
  std::fclose(f);
  if (v->keys_->keys.empty()) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("{} holds no PEM public key", options.keys_file.string()));
  }
  return v;
}

base::Result<Principal> JwtVerifier::verify(std::string_view token, base::Micros now) const {
  if (token.size() > kTokenBytesMax) return std::unexpected(bad("token too long"));
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return std::unexpected(bad("not a JWT"));
  }
  auto header_raw = base64url_decode(token.substr(0, dot1));
  auto payload_raw = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(token.substr(dot2 + 1));
  if (!header_raw || !payload_raw || !signature) return std::unexpected(bad("bad base64url"));
  auto header = json::parse(*header_raw);
  if (!header || !header->is_object()) return std::unexpected(bad("bad header"));
  const auto* alg = header->get_object().if_contains("alg");
  if (!alg || !alg->is_string() || alg->get_string() != "RS256") {
    return std::unexpected(bad("only RS256 tokens are accepted"));
  }
  const std::string_view signed_part = token.substr(0, dot2);
  bool valid = false;
  for (EVP_PKEY* key : keys_->keys) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature->data()),
                         signature->size(),
                         reinterpret_cast<const unsigned char*>(signed_part.data()),
                         signed_part.size()) == 1) {
      valid = true;
    }
    EVP_MD_CTX_free(ctx);
    if (valid) break;
  }
  if (!valid) return std::unexpected(bad("bad signature"));
  auto payload = json::parse(*payload_raw);
  if (!payload || !payload->is_object()) return std::unexpected(bad("bad payload"));
  const auto& claims = payload->get_object();
  const auto str = [&](std::string_view name) -> std::string {
    const auto* v = claims.if_contains(name);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  const auto num = [&](std::string_view name) -> std::optional<std::int64_t> {
    const auto* v = claims.if_contains(name);
    if (!v || !v->is_number()) return std::nullopt;
    return v->to_number<std::int64_t>();
  };
  if (str("iss") != options_.issuer) return std::unexpected(bad("wrong issuer"));
  bool audience = false;
  if (const auto* aud = claims.if_contains("aud")) {
    if (aud->is_string()) audience = aud->get_string() == options_.audience;
    if (aud->is_array()) {
      for (const auto& a : aud->get_array()) {
        audience = audience || (a.is_string() && a.get_string() == options_.audience);
      }
    }
  }
  if (!audience) return std::unexpected(bad("wrong audience"));
  const std::int64_t seconds = now / 1'000'000;
  const auto exp = num("exp");
  if (!exp || seconds > *exp + kLeewaySeconds) return std::unexpected(bad("expired"));
  if (const auto nbf = num("nbf"); nbf && seconds + kLeewaySeconds < *nbf) {
    return std::unexpected(bad("not yet valid"));
  }
  const std::string sub = str("sub");
  if (sub.empty()) return std::unexpected(bad("no subject"));
  auto role = parse_role(str("cityroom_role"));
  if (!role) return std::unexpected(bad("no valid cityroom_role claim"));
  Principal p;
  p.who = "oidc:" + sub;
  p.role = *role;
  p.department = str("cityroom_department");
  p.tenant = str("cityroom_tenant");
  if (p.tenant == "*" && p.role != Role::kAdmin) return std::unexpected(bad("tenant '*' is admin only"));
  p.ops = role_ops(p.role);
  p.via = Principal::Via::kKey;  // a bearer credential: no cookie, no CSRF
  p.key_id = p.who;              // its own rate-limit bucket
  return p;
}

}  // namespace cityroom::access
