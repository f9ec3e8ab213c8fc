// Request accessors, Response constructors, percent-decoding and target parsing.
#include <algorithm>

#include "http/http.h"
#include "http/target.h"

namespace cityroom::http {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "http://host:80/p?q" → "/p?q"; anything else is returned as it is.
std::string_view origin_part(std::string_view target) {
  if (target.starts_with('/')) return target;
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return target;
  const auto path_start = target.find_first_of("/?", scheme_end + 3);
  if (path_start == std::string_view::npos) return "/";
  return target.substr(path_start);
}

base::Result<void> parse_query(std::string_view query, Request& request) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string_view raw_name = pair.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    auto name = percent_decode(raw_name);
    auto value = percent_decode(raw_value);
    if (!name || !value) {
      return base::fail(base::ErrorKind::kInvalidRequest,
                        "invalid percent-encoding in query parameter '" + std::string(raw_name) +
                            "'");
    }
    request.query.emplace_back(std::move(*name), std::move(*value));
  }
  return {};
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;  // needs two hex digits after %
    const int hi = hex_value(s[i + 1]);
    const int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

base::Result<void> parse_target(Request& request) {
  const std::string_view origin = origin_part(request.target);
  const auto question = origin.find('?');
  request.path.assign(origin.substr(0, question));
  request.query.clear();
  if (question == std::string_view::npos) return {};
  return parse_query(origin.substr(question + 1), request);
}

const std::string* Request::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

const std::string* Request::query_param(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return &value;
  }
  return nullptr;
}

std::vector<std::string_view> Request::query_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [key, value] : query) {
    if (key == name) out.emplace_back(value);
  }
  return out;
}

const std::string& Request::param(std::string_view name) const {
  static const std::string kEmpty;  // immutable: a missing parameter reads as ""
  auto it = params.find(name);
  return it == params.end() ? kEmpty : it->second;
}

Response Response::problem(const base::Error& e) {
  Response r;
  r.status = base::http_status(e.kind);
  r.headers.emplace_back("content-type", "application/json");
  r.body = base::problem_json(e);
  return r;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers.emplace_back("content-type", "application/json");
  r.body = std::move(body);
  return r;
}

Response Response::empty(int status) {
  Response r;
  r.status = status;
  return r;
}

Response Response::websocket(ChannelCallbacks callbacks) {
  Response r;
  r.status = 101;
  r.channel = ChannelUpgrade{ChannelKind::kWebSocket, std::move(callbacks)};
  return r;
}

Response Response::event_stream(ChannelCallbacks callbacks) {
  Response r;
  r.status = 200;
  r.channel = ChannelUpgrade{ChannelKind::kEventStream, std::move(callbacks)};
  return r;
}

}  // namespace cityroom::http
