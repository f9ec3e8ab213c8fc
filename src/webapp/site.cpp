// Site: the in-memory copy of the built app and the answers to GET/HEAD on it.
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "webapp/webapp.h"

namespace cityroom::webapp {
namespace {

// FNV-1a, 64 bits: an ETag needs to change with the bytes, not to resist an adversary.
std::string etag_of(std::string_view bytes) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("\"{:016x}-{:x}\"", h, bytes.size());
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// True when `header` (an If-None-Match value: "*" or a comma list, weak or strong) names `etag`.
bool etag_matches(std::string_view header, std::string_view etag) {
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);  // weak comparison, as RFC 9110 says
    if (item == "*" || item == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

void add_security_headers(http::Headers& h) {
  h.emplace_back("content-security-policy", std::string(kContentSecurityPolicy));
  h.emplace_back("x-content-type-options", "nosniff");
  h.emplace_back("x-frame-options", "DENY");
  h.emplace_back("referrer-policy", "no-referrer");
  h.emplace_back("cross-origin-opener-policy", "same-origin");
}

http::Response not_found(std::string_view raw_path) {
  http::Response r = http::Response::problem(
      {base::ErrorKind::kResourceNotFound, fmt::format("no file at path {}", raw_path)});
  add_security_headers(r.headers);
  return r;
}

bool has_extension(std::string_view relative) {
  const auto slash = relative.rfind('/');
  const std::string_view last = slash == std::string_view::npos ? relative
                                                                 : relative.substr(slash + 1);
  return last.find('.') != std::string_view::npos;
}

}  // namespace

std::string_view content_type_for(std::string_view file_name) {
  static const std::map<std::string, std::string_view, std::less<>> kTypes = {
      {"html", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"json", "application/json"},
      {"jsonld", "application/ld+json"},
      {"map", "application/json"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"woff2", "font/woff2"},
      {"woff", "font/woff"},
      {"ttf", "font/ttf"},
      {"otf", "font/otf"},
      {"pbf", "application/x-protobuf"},
      {"txt", "text/plain; charset=utf-8"},
      {"webmanifest", "application/manifest+json"},
      {"wasm", "application/wasm"},
  };
  const auto dot = file_name.rfind('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  const auto it = kTypes.find(lower(file_name.substr(dot + 1)));
  return it == kTypes.end() ? std::string_view("application/octet-stream") : it->second;
}

std::optional<std::string> safe_relative_path(std::string_view raw_path) {
  auto decoded = http::percent_decode(raw_path);
  if (!decoded) return std::nullopt;
  std::string_view p = *decoded;
  if (p.starts_with('/')) p.remove_prefix(1);
  if (p.empty()) return std::string("index.html");
  std::string out;
  while (true) {
    const auto slash = p.find('/');
    const std::string_view segment = p.substr(0, slash);
    if (segment.empty() || segment.starts_with('.')) return std::nullopt;  // "", ".", "..", dot-files
    for (char c : segment) {
      if (c == '\0' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return std::nullopt;
    }
    if (!out.empty()) out += '/';
    out += segment;
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
    if (p.empty()) break;  // a trailing slash
  }
  return out;
}

base::Result<std::shared_ptr<const Site>> Site::load(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(dir / "index.html", ec)) {
    return base::fail(base::ErrorKind::kInternalError,
                      fmt::format("{} has no index.html (build the screens: scripts/web.sh)",
                                  dir.string()));
  }
  auto site = std::make_shared<Site>();
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string relative = fs::relative(it->path(), dir, ec).generic_string();
    if (ec) break;
    if (!safe_relative_path(relative)) continue;  // dot-files are never served
    std::ifstream in(it->path(), std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return base::fail(base::ErrorKind::kInternalError,
                        fmt::format("cannot read {}", it->path().string()));
    }
    File f;
    f.body = std::move(content).str();
    site->bytes_ += f.body.size();
    if (site->bytes_ > kSiteBytesMax) {
      return base::fail(base::ErrorKind::kInternalError,
                        fmt::format("{} holds more than {} bytes", dir.string(), kSiteBytesMax));
    }
    f.content_type = std::string(content_type_for(relative));
    f.etag = etag_of(f.body);
    f.immutable = relative.starts_with("assets/");
    site->files_.emplace(relative, std::move(f));
  }
  if (ec) {
    return base::fail(base::ErrorKind::kInternalError,
                      fmt::format("cannot read {}: {}", dir.string(), ec.message()));
  }
  return std::shared_ptr<const Site>(std::move(site));
}

std::shared_ptr<const Site> Site::placeholder(std::string_view why) {
  auto site = std::make_shared<Site>();
  std::string escaped;  // why may name a path: keep it out of the markup's way
  for (char c : why) {
    if (c == '<') escaped += "&lt;";
    else if (c == '&') escaped += "&amp;";
    else escaped += c;
  }
  File f;
  f.body = fmt::format(
      "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>cityroom</title>"
      "<body style=\"font-family:sans-serif;padding:2em\"><h1>cityroom</h1>"
      "<p>The screens are not built: {}</p><p>Run <code>bash scripts/web.sh</code> and restart "
      "the server (or pass <code>--web-dir</code>). The API is at /ngsi-ld/v1.</p></body></html>",
      escaped);
  f.content_type = "text/html; charset=utf-8";
  f.etag = etag_of(f.body);
  site->bytes_ = f.body.size();
  site->files_.emplace("index.html", std::move(f));
  return site;
}

http::Response Site::answer(std::string_view raw_path, const std::string* if_none_match) const {
  const auto relative = safe_relative_path(raw_path);
  if (!relative) return not_found(raw_path);
  auto it = files_.find(*relative);
  if (it == files_.end()) {
    // An app route (/wall, /replay) is the app's to interpret; a missing file stays missing.
    if (has_extension(*relative) || relative->starts_with("assets/")) return not_found(raw_path);
    it = files_.find("index.html");
    if (it == files_.end()) return not_found(raw_path);
  }
  const File& f = it->second;
  http::Response r;
  r.headers.emplace_back("etag", f.etag);
  r.headers.emplace_back("cache-control",
                         f.immutable ? "public, max-age=31536000, immutable" : "no-cache");
  add_security_headers(r.headers);
  if (if_none_match != nullptr && etag_matches(*if_none_match, f.etag)) {
    r.status = 304;
    return r;
  }
  r.status = 200;
  r.headers.emplace_back("content-type", f.content_type);
  r.body = f.body;
  return r;
}

std::filesystem::path find_web_dir(const std::filesystem::path& explicit_dir,
                                   const std::vector<std::filesystem::path>& candidates) {
  if (!explicit_dir.empty()) return explicit_dir;
  std::error_code ec;
  for (const auto& c : candidates) {
    if (!c.empty() && std::filesystem::is_regular_file(c / "index.html", ec)) return c;
  }
  return {};
}

}  // namespace cityroom::webapp
