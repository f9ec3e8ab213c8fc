// Router, percent-decoding, Response helpers and Metrics text, without a network.
#include <gtest/gtest.h>

#include "http/http.h"

using namespace cityroom;
using namespace cityroom::http;

namespace {

Handler tagged(std::string tag) {
  return [tag](Request&&, Respond respond) { respond(Response::json(200, tag)); };
}

Request make_request(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = r.target = std::move(path);
  return r;
}

std::string run(const Router& router, Request& request) {
  auto matched = router.match(request);
  if (auto* response = std::get_if<Response>(&matched)) {
    return "status " + std::to_string(response->status);
  }
  std::string body;
  (*std::get<const Handler*>(matched))(Request(request), [&](Response r) { body = r.body; });
  return body;
}

}  // namespace

TEST(PercentDecode, DecodesEscapesAndKeepsPlus) {
  EXPECT_EQ(percent_decode("urn%3Angsi-ld%3ABridge%3A1"), "urn:ngsi-ld:Bridge:1");
  EXPECT_EQ(percent_decode("a+b%20c"), "a+b c");
  EXPECT_EQ(percent_decode("%e2%82%AC"), "\xe2\x82\xac");
}

TEST(PercentDecode, RejectsBrokenEscapes) {
  EXPECT_FALSE(percent_decode("abc%"));
  EXPECT_FALSE(percent_decode("abc%4"));
  EXPECT_FALSE(percent_decode("%zz"));
}

TEST(Router, CapturesDecodedSegments) {
  Router router;
  router.add("GET", "/ngsi-ld/v1/entities/{entityId}/attrs/{attrId}", tagged("attr"));
  auto request = make_request("GET", "/ngsi-ld/v1/entities/urn%3Angsi-ld%3ABridge%3A1/attrs/speed");
  EXPECT_EQ(run(router, request), "attr");
  EXPECT_EQ(request.param("entityId"), "urn:ngsi-ld:Bridge:1");
  EXPECT_EQ(request.param("attrId"), "speed");
  EXPECT_EQ(request.param("missing"), "");
  EXPECT_EQ(request.route, "/ngsi-ld/v1/entities/{entityId}/attrs/{attrId}");
}

TEST(Router, TrailingSlashIsNotSignificant) {
  Router router;
  router.add("GET", "/ngsi-ld/v1/types", tagged("types"));
  auto with_slash = make_request("GET", "/ngsi-ld/v1/types/");
  EXPECT_EQ(run(router, with_slash), "types");
}

TEST(Router, LiteralSegmentBeatsCaptureWhateverTheOrder) {
  Router router;
  router.add("GET", "/entities/{id}", tagged("by-id"));
  router.add("GET", "/entities/count", tagged("count"));
  auto count = make_request("GET", "/entities/count");
  auto other = make_request("GET", "/entities/urn:x");
  EXPECT_EQ(run(router, count), "count");
  EXPECT_EQ(run(router, other), "by-id");
}

TEST(Router, OtherMethodAnswers405WithAllow) {
  Router router;
  router.add("GET", "/entities/{id}", tagged("get"));
  router.add("DELETE", "/entities/{id}", tagged("delete"));
  auto request = make_request("POST", "/entities/a");
  auto matched = router.match(request);
  auto* response = std::get_if<Response>(&matched);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 405);
  std::string allow;
  for (const auto& [name, value] : response->headers) {
    if (name == "allow") allow = value;
  }
  EXPECT_EQ(allow, "GET, HEAD, DELETE");
}

TEST(Router, UnknownPathAnswers404NamingThePath) {
  Router router;
  router.add("GET", "/a", tagged("a"));
  auto request = make_request("GET", "/nowhere/else");
  auto matched = router.match(request);
  auto* response = std::get_if<Response>(&matched);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  EXPECT_NE(response->body.find("ResourceNotFound"), std::string::npos);
  EXPECT_NE(response->body.find("/nowhere/else"), std::string::npos);
}

TEST(Router, HeadIsServedByGet) {
  Router router;
  router.add("GET", "/a", tagged("a"));
  auto request = make_request("HEAD", "/a");
  EXPECT_EQ(run(router, request), "a");
}

TEST(Router, BadEscapeInCaptureIs400) {
  Router router;
  router.add("GET", "/entities/{id}", tagged("get"));
  auto request = make_request("GET", "/entities/bad%zzid");
  EXPECT_EQ(run(router, request), "status 400");
}

TEST(Response, ProblemCarriesStatusAndJson) {
  auto r = Response::problem({base::ErrorKind::kPayloadTooLarge, "too big"});
  EXPECT_EQ(r.status, 413);
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers[0].second, "application/json");
  EXPECT_NE(r.body.find("too big"), std::string::npos);
}

TEST(Metrics, RendersCountersHistogramAndEscapesLabels) {
  Metrics metrics;
  metrics.observe("/a", 200, std::chrono::microseconds(50));
  metrics.observe("/a", 200, std::chrono::microseconds(2'000));
  metrics.observe("/a", 404, std::chrono::microseconds(20'000'000));
  metrics.observe("/we\"ird\\", 500, std::chrono::microseconds(1));
  metrics.rejected("body_bytes");
  metrics.connection_opened();
  const std::string text = metrics.prometheus_text();
  EXPECT_NE(text.find("cityroom_http_requests_total{route=\"/a\",status=\"200\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("cityroom_http_requests_total{route=\"/a\",status=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("route=\"/we\\\"ird\\\\\""), std::string::npos);
  EXPECT_NE(text.find("cityroom_http_request_duration_seconds_bucket{le=\"0.0001\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("cityroom_http_request_duration_seconds_bucket{le=\"0.0025\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("cityroom_http_request_duration_seconds_bucket{le=\"10\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("cityroom_http_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"),
            std::string::npos);
  EXPECT_NE(text.find("cityroom_http_request_duration_seconds_count 4\n"), std::string::npos);
  EXPECT_NE(text.find("cityroom_http_open_connections 1\n"), std::string::npos);
  EXPECT_NE(text.find("cityroom_http_rejected_total{limit=\"body_bytes\"} 1\n"), std::string::npos);
}
