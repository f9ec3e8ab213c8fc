// Rate limits and login throttling (access/limiter): refusal with a wait, per key.
#include <gtest/gtest.h>

#include "access/crypto.h"
#include "access/jwt.h"
#include "access/limiter.h"

namespace cityroom::access {
namespace {

TEST(RateLimiter, RefusesBeyondTheBurstWithAWait) {
  RateLimiter r(1, 3);  // 1/s, burst 3: the refill within this test is negligible
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(r.take("a")) << i;
  auto wait = r.take("a");
  ASSERT_TRUE(wait);
  EXPECT_GE(*wait, 1u);
  EXPECT_FALSE(r.take("b")) << "buckets are per key";
}

TEST(RateLimiter, ZeroRateIsOff) {
  RateLimiter r(0, 0);
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(r.take("a"));
}

TEST(LoginThrottle, LocksANameAfterFiveFailures) {
  LoginThrottle t;
  for (int i = 0; i < LoginThrottle::kFreeFailures; ++i) {
    EXPECT_FALSE(t.wait("ana", "10.0.0.1")) << i;
    t.failed("ana", "10.0.0.1");
  }
  auto wait = t.wait("ana", "10.0.0.9");
  ASSERT_TRUE(wait) << "the name is locked from any address";
  EXPECT_GE(*wait, 1u);
  EXPECT_FALSE(t.wait("bob", "10.0.0.9")) << "other names are not";
  t.succeeded("ana");
  EXPECT_FALSE(t.wait("ana", "10.0.0.9"));
}

TEST(LoginThrottle, LocksAnAddressTryingManyNames) {
  LoginThrottle t;
  for (int i = 0; i < LoginThrottle::kFreeFailures * 4; ++i) {
    t.failed("user" + std::to_string(i), "10.0.0.2");
  }
  EXPECT_TRUE(t.wait("someone-new", "10.0.0.2"));
  EXPECT_FALSE(t.wait("someone-new", "10.0.0.3"));
}

TEST(Crypto, Argon2idRoundTrip) {
  auto h = hash_password("correct horse");
  ASSERT_TRUE(h) << h.error().detail;
  EXPECT_TRUE(h->starts_with("$argon2id$"));
  EXPECT_TRUE(verify_password("correct horse", *h));
  EXPECT_FALSE(verify_password("correct horsf", *h));
  EXPECT_FALSE(verify_password("x", "not a hash"));
  EXPECT_NE(*h, *hash_password("correct horse")) << "salted";
  EXPECT_FALSE(hash_password(""));
}

TEST(Crypto, Sha256AndTokens) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(random_hex(16).size(), 32u);
  EXPECT_NE(random_hex(16), random_hex(16));
  EXPECT_EQ(random_password(20).size(), 20u);
  EXPECT_TRUE(equal_constant_time("abc", "abc"));
  EXPECT_FALSE(equal_constant_time("abc", "abd"));
  EXPECT_FALSE(equal_constant_time("abc", "ab"));
}

}  // namespace
}  // namespace cityroom::access

namespace cityroom::access {
namespace {

TEST(Jwt, Base64UrlDecodes) {
  EXPECT_EQ(base64url_decode("eyJhbGciOiJSUzI1NiJ9"), std::string(R"({"alg":"RS256"})"));
  EXPECT_EQ(base64url_decode(""), std::string());
  EXPECT_EQ(base64url_decode("_-8"), std::string("\xff\xef", 2));
  EXPECT_FALSE(base64url_decode("ab+c")) << "'+' is base64, not base64url";
  EXPECT_FALSE(base64url_decode("abcde")) << "a lone trailing character";
}

TEST(Jwt, RefusesIncompleteConfigurationAndMissingKeys) {
  EXPECT_FALSE(JwtVerifier::load({"https://sso", "", "keys.pem"}));
  EXPECT_FALSE(JwtVerifier::load({"https://sso", "cityroom", "/nonexistent/keys.pem"}));
}

}  // namespace
}  // namespace cityroom::access
