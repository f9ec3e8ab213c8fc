// The pure parts of delivery: which URIs and headers post() accepts, and the backoff numbers.
#include <gtest/gtest.h>

#include "delivery/internal.h"

namespace cityroom::delivery {
namespace {

using std::chrono::milliseconds;

TEST(ParseTarget, HttpWithDefaultPortAndQuery) {
  auto t = parse_target("http://Example.ORG/ngsi/notify?x=1&y=%20");
  ASSERT_TRUE(t) << t.error().detail;
  EXPECT_FALSE(t->tls);
  EXPECT_EQ(t->host, "example.org");
  EXPECT_EQ(t->port, 80);
  EXPECT_EQ(t->host_header, "example.org");
  EXPECT_EQ(t->path, "/ngsi/notify?x=1&y=%20");
  EXPECT_EQ(t->key, "http://example.org:80");
}

TEST(ParseTarget, HttpsWithPortAndEmptyPath) {
  auto t = parse_target("https://127.0.0.1:8443");
  ASSERT_TRUE(t) << t.error().detail;
  EXPECT_TRUE(t->tls);
  EXPECT_EQ(t->port, 8443);
  EXPECT_EQ(t->host_header, "127.0.0.1:8443");
  EXPECT_EQ(t->path, "/");
  EXPECT_EQ(t->key, "https://127.0.0.1:8443");
}

TEST(ParseTarget, Ipv6Literal) {
  auto t = parse_target("http://[::1]:9000/n");
  ASSERT_TRUE(t) << t.error().detail;
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->host_header, "[::1]:9000");
}

TEST(ParseTarget, SameEndpointForDifferentPaths) {
  EXPECT_EQ(parse_target("http://h:1/a")->key, parse_target("HTTP://H:1/b?c")->key);
  EXPECT_NE(parse_target("http://h/a")->key, parse_target("https://h/a")->key);
}

TEST(ParseTarget, RefusesWhatCannotBeDelivered) {
  for (const char* bad :
       {"", "notify", "/relative", "ftp://h/x", "mqtt://broker:1883/t", "http://user:pw@h/x",
        "http:///path", "http://h:0/x", "http://h:99999/x", "http://h:/x", "urn:ngsi-ld:Thing:1"}) {
    auto t = parse_target(bad);
    EXPECT_FALSE(t) << bad;
    if (!t) {
      EXPECT_FALSE(t.error().detail.empty());
    }
  }
  EXPECT_FALSE(parse_target("http://h/" + std::string(9000, 'a')));
}

TEST(CheckUri, IsThePublicFaceOfParseTarget) {
  EXPECT_TRUE(check_uri("https://example.org/hook"));
  auto bad = check_uri("mqtt://example.org/hook");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, base::ErrorKind::kBadRequestData);
}

TEST(CheckHeaders, RefusesInjectionAndBadNames) {
  EXPECT_TRUE(check_headers({{"Content-Type", "application/json"}, {"X-Auth", "a b;c"}}));
  EXPECT_FALSE(check_headers({{"X-Evil", "a\r\nHost: other"}}));
  EXPECT_FALSE(check_headers({{"X-Evil", std::string("a\0b", 3)}}));
  EXPECT_FALSE(check_headers({{"Bad Name", "v"}}));
  EXPECT_FALSE(check_headers({{"", "v"}}));
}

TEST(FramingHeaders, AreTheOnesTheDelivererOwns) {
  EXPECT_TRUE(is_framing_header("Content-Length"));
  EXPECT_TRUE(is_framing_header("HOST"));
  EXPECT_TRUE(is_framing_header("transfer-encoding"));
  EXPECT_FALSE(is_framing_header("Content-Type"));
  EXPECT_FALSE(is_framing_header("Link"));
}

TEST(Policy, RetryableStatuses) {
  EXPECT_TRUE(is_retryable_status(500));
  EXPECT_TRUE(is_retryable_status(503));
  EXPECT_TRUE(is_retryable_status(429));
  EXPECT_FALSE(is_retryable_status(400));
  EXPECT_FALSE(is_retryable_status(404));
  EXPECT_FALSE(is_retryable_status(301));
}

TEST(Policy, RetryDelayDoublesIsCappedAndJittered) {
  const milliseconds base{200}, max{10'000};
  EXPECT_EQ(retry_delay(2, base, max, 1.0), milliseconds{200});
  EXPECT_EQ(retry_delay(3, base, max, 1.0), milliseconds{400});
  EXPECT_EQ(retry_delay(4, base, max, 1.0), milliseconds{800});
  EXPECT_EQ(retry_delay(4, base, max, 0.5), milliseconds{400});
  EXPECT_EQ(retry_delay(60, base, max, 1.0), max);
  EXPECT_EQ(retry_delay(3, base, max, 7.0), milliseconds{400});  // jitter clamped
}

TEST(Policy, BreakerPauseDoublesUpToMax) {
  const milliseconds min{1'000}, max{30'000};
  EXPECT_EQ(breaker_pause(0, min, max), milliseconds{1'000});
  EXPECT_EQ(breaker_pause(1, min, max), milliseconds{2'000});
  EXPECT_EQ(breaker_pause(5, min, max), milliseconds{30'000});
  EXPECT_EQ(breaker_pause(500, min, max), milliseconds{30'000});
}

}  // namespace
}  // namespace cityroom::delivery
