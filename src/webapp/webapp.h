// webapp: serves the built screens (web/dist: the wall, tablet and phone app) at `/`.
//
// `Site` holds every file of the built app in memory, loaded once at start: the bundle is a few
// megabytes, and a request can then only ever name a file that was in the folder — no path
// from the network reaches the file system, so traversal is impossible by construction (the
// path is still checked, to answer such requests with a plain 404). Each file gets its content
// type from its extension and a strong ETag from its bytes; Vite's hashed files under assets/
// are cached for a year as immutable, everything else is revalidated (no-cache) so a new build
// shows at the next reload. A path without a file extension that names no file is an app
// route and gets index.html. Every answer carries the security headers, among them a CSP that
// allows only the server itself plus the blob: and data: URLs MapLibre needs for its workers
// and images.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/api.h"
#include "base/base.h"
#include "http/http.h"

namespace cityroom::webapp {

inline constexpr std::uint64_t kSiteBytesMax = 256ull * 1024 * 1024;
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
    "worker-src 'self' blob:; child-src 'self' blob:; media-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

struct File {
  std::string body;
  std::string content_type;
  std::string etag;    // strong, quoted
  bool immutable = false;  // a content-hashed build output (assets/…)
};

class Site {
 public:
  // Reads every regular file under `dir` (which must hold index.html). Fails with a message
  // naming the problem: missing folder or index.html, unreadable file, more than kSiteBytesMax.
  static base::Result<std::shared_ptr<const Site>> load(const std::filesystem::path& dir);
  // A site with nothing but a page saying the screens are not built (and how to build them).
  static std::shared_ptr<const Site> placeholder(std::string_view why);

  // The answer to GET/HEAD of `raw_path` (as received, percent-encoded, without the query),
  // honouring If-None-Match (`if_none_match` null when absent).
  http::Response answer(std::string_view raw_path, const std::string* if_none_match) const;

  std::size_t files() const { return files_.size(); }
  std::uint64_t bytes() const { return bytes_; }

 private:
  std::map<std::string, File, std::less<>> files_;  // relative path with '/' → file
  std::uint64_t bytes_ = 0;
};

// Content type by file extension (lower-cased); application/octet-stream when unknown.
std::string_view content_type_for(std::string_view file_name);

// The relative file path a request path names, or nullopt when it is not a safe path: bad
// percent-encoding, NUL or backslash, an empty, "." or ".." segment, a dot-file.
std::optional<std::string> safe_relative_path(std::string_view raw_path);

// The built app: `explicit_dir` when given, else the first of `candidates` holding index.html;
// empty when none does.
std::filesystem::path find_web_dir(const std::filesystem::path& explicit_dir,
                                   const std::vector<std::filesystem::path>& candidates);

// GET (and HEAD) on `/`, `/{file}` and `/assets/{file}`, each passing the access check as a read.
// More literal routes (/health, /metrics, /ngsi-ld/…) keep winning over these patterns.
void register_routes(http::Router& router, api::Access& access,
                     std::shared_ptr<const Site> site);

}  // namespace cityroom::webapp
