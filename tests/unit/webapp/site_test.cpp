// The static file module as a browser sees it: types, caching, revalidation, app-route
// fallback, and no way out of the web folder.
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "webapp/webapp.h"

namespace cityroom::webapp {
namespace {

namespace fs = std::filesystem;

std::string header(const http::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return {};
}

class SiteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("cityroom-webapp-" + std::to_string(std::random_device{}()));
    fs::create_directories(root_ / "dist" / "assets");
    write("dist/index.html", "<!doctype html><title>wall</title>");
    write("dist/assets/index-abc123.js", "console.log(1)");
    write("dist/assets/font-x.woff2", std::string("wOF2\0\1", 6));
    write("dist/favicon.svg", "<svg/>");
    write("dist/.env", "SECRET=1");
    write("secret.txt", "outside the web folder");
    auto site = Site::load(root_ / "dist");
    ASSERT_TRUE(site) << site.error().detail;
    site_ = *site;
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const std::string& rel, const std::string& body) {
    std::ofstream(root_ / rel, std::ios::binary) << body;
  }

  fs::path root_;
  std::shared_ptr<const Site> site_;
};

TEST_F(SiteTest, ServesIndexAtRootWithHtmlTypeAndSecurityHeaders) {
  const auto r = site_->answer("/", nullptr);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<!doctype html><title>wall</title>");
  EXPECT_EQ(header(r, "content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(header(r, "cache-control"), "no-cache");
  EXPECT_NE(header(r, "content-security-policy").find("default-src 'self'"), std::string::npos);
  EXPECT_NE(header(r, "content-security-policy").find("worker-src 'self' blob:"),
            std::string::npos);
  EXPECT_EQ(header(r, "x-content-type-options"), "nosniff");
}

TEST_F(SiteTest, HashedAssetsAreImmutableWithTheirTypes) {
  const auto js = site_->answer("/assets/index-abc123.js", nullptr);
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(header(js, "content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(header(js, "cache-control"), "public, max-age=31536000, immutable");
  const auto font = site_->answer("/assets/font-x.woff2", nullptr);
  EXPECT_EQ(header(font, "content-type"), "font/woff2");
  EXPECT_EQ(font.body.size(), 6u);
  EXPECT_EQ(header(site_->answer("/favicon.svg", nullptr), "content-type"), "image/svg+xml");
}

TEST_F(SiteTest, IfNoneMatchRevalidatesWithoutBody) {
  const auto first = site_->answer("/assets/index-abc123.js", nullptr);
  const std::string etag = header(first, "etag");
  ASSERT_FALSE(etag.empty());
  const auto again = site_->answer("/assets/index-abc123.js", &etag);
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(header(again, "etag"), etag);
  const std::string listed = "\"nope\", W/" + etag;
  EXPECT_EQ(site_->answer("/assets/index-abc123.js", &listed).status, 304);
  const std::string other = "\"nope\"";
  EXPECT_EQ(site_->answer("/assets/index-abc123.js", &other).status, 200);
  // Different bytes, different tag.
  EXPECT_NE(header(site_->answer("/favicon.svg", nullptr), "etag"), etag);
}

TEST_F(SiteTest, AppRoutesGetIndexButMissingFilesAre404) {
  const auto route = site_->answer("/replay", nullptr);
  EXPECT_EQ(route.status, 200);
  EXPECT_EQ(route.body, "<!doctype html><title>wall</title>");
  EXPECT_EQ(site_->answer("/missing.js", nullptr).status, 404);
  EXPECT_EQ(site_->answer("/assets/gone-123.css", nullptr).status, 404);
  EXPECT_EQ(site_->answer("/assets/noext", nullptr).status, 404);
}

TEST_F(SiteTest, NoPathLeavesTheWebFolder) {
  for (const char* path :
       {"/../secret.txt", "/assets/../../secret.txt", "/assets/..%2F..%2Fsecret.txt",
        "/%2e%2e/secret.txt", "/assets/%2E%2E%2F%2E%2E%2Fsecret.txt", "/..%5Csecret.txt",
        "/.env", "/%2eenv", "/assets//index-abc123.js", "/a%00b.js", "/%zz", "/./index.html"}) {
    const auto r = site_->answer(path, nullptr);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body.find("outside the web folder"), std::string::npos) << path;
    EXPECT_EQ(r.body.find("SECRET"), std::string::npos) << path;
  }
}

TEST_F(SiteTest, SafeRelativePathNormalisesOnlyHarmlessForms) {
  EXPECT_EQ(safe_relative_path("/"), "index.html");
  EXPECT_EQ(safe_relative_path("/assets/a.js"), "assets/a.js");
  EXPECT_EQ(safe_relative_path("/assets/a%20b.js"), "assets/a b.js");
  EXPECT_EQ(safe_relative_path("/wall/"), "wall");
  EXPECT_FALSE(safe_relative_path("/a/../b"));
  EXPECT_FALSE(safe_relative_path("/a\\b"));
}

TEST_F(SiteTest, LoadFailsClearlyWithoutIndex) {
  auto none = Site::load(root_ / "nowhere");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().detail.find("index.html"), std::string::npos);
  EXPECT_NE(none.error().detail.find("scripts/web.sh"), std::string::npos);
}

TEST_F(SiteTest, PlaceholderExplainsHowToBuildTheScreens) {
  const auto site = Site::placeholder("no web/dist <found>");
  const auto r = site->answer("/", nullptr);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("scripts/web.sh"), std::string::npos);
  EXPECT_NE(r.body.find("&lt;found>"), std::string::npos);
}

TEST(ContentType, ByExtensionCaseInsensitive) {
  EXPECT_EQ(content_type_for("a.CSS"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for("a.json"), "application/json");
  EXPECT_EQ(content_type_for("README"), "application/octet-stream");
  EXPECT_EQ(content_type_for("x.unknown"), "application/octet-stream");
}

TEST(FindWebDir, ExplicitWinsThenFirstCandidateWithIndex) {
  const fs::path base = fs::temp_directory_path() /
                        ("cityroom-webdir-" + std::to_string(std::random_device{}()));
  fs::create_directories(base / "a");
  fs::create_directories(base / "b");
  std::ofstream(base / "b" / "index.html") << "x";
  EXPECT_EQ(find_web_dir("/x", {base / "a", base / "b"}), fs::path("/x"));
  EXPECT_EQ(find_web_dir({}, {base / "a", base / "b"}), base / "b");
  EXPECT_TRUE(find_web_dir({}, {base / "a"}).empty());
  fs::remove_all(base);
}

}  // namespace
}  // namespace cityroom::webapp
