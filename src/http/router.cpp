// Router: method + path-pattern matching with `{name}` captures, 404 and 405 answers.
#include <array>
#include <stdexcept>

#include "http/http.h"

namespace cityroom::http {
namespace {

// Deeper paths than this cannot match any route (add() refuses longer patterns).
constexpr std::size_t kSegmentsMax = 32;

struct Segments {
  std::array<std::string_view, kSegmentsMax> items;
  std::size_t size = 0;
  bool too_deep = false;
};

// "/a/b/" and "/a/b" split alike: a trailing slash is not significant.
Segments split_path(std::string_view path) {
  Segments out;
  if (path.starts_with('/')) path.remove_prefix(1);
  if (path.ends_with('/')) path.remove_suffix(1);
  if (path.empty()) return out;
  while (true) {
    if (out.size == kSegmentsMax) {
      out.too_deep = true;
      return out;
    }
    const auto slash = path.find('/');
    out.items[out.size++] = path.substr(0, slash);
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

bool is_capture(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// Higher = more literal segments early on, so "/entities/count" beats "/entities/{id}".
std::uint64_t specificity(const std::vector<std::string>& segments) {
  std::uint64_t score = 0;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (!is_capture(segments[i])) score |= std::uint64_t{1} << (kSegmentsMax - 1 - i);
  }
  return score;
}

bool matches(const std::vector<std::string>& pattern, const Segments& path) {
  if (pattern.size() != path.size) return false;
  for (std::size_t i = 0; i < path.size; ++i) {
    if (is_capture(pattern[i])) {
      if (path.items[i].empty()) return false;
    } else if (pattern[i] != path.items[i]) {
      return false;
    }
  }
  return true;
}

void add_allowed(std::string& allow, std::string_view method) {
  // A handful of methods at most, so a substring scan is fine; compare whole tokens.
  std::string_view rest = allow;
  while (!rest.empty()) {
    const auto comma = rest.find(", ");
    if (rest.substr(0, comma) == method) return;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 2);
  }
  if (!allow.empty()) allow += ", ";
  allow += method;
}

Response method_not_allowed(const Request& request, std::string allow) {
  Response r = Response::problem(
      {base::ErrorKind::kMethodNotAllowed,
       "method " + request.method + " is not allowed on " + request.path + " (allowed: " + allow +
           ")"});
  r.headers.emplace_back("allow", std::move(allow));
  return r;
}

}  // namespace

void Router::add(std::string_view method, std::string_view pattern, Handler handler) {
  Route route{std::string(method), std::string(pattern), {}, std::move(handler)};
  const Segments split = split_path(pattern);
  // A pattern deeper than the limit is a programming error in the route table.
  if (split.too_deep) throw std::invalid_argument("route pattern too deep: " + route.pattern);
  for (std::size_t i = 0; i < split.size; ++i) route.segments.emplace_back(split.items[i]);
  routes_.push_back(std::move(route));
}

std::variant<const Handler*, Response> Router::match(Request& request) const {
  const Segments path = split_path(request.path);
  const bool head = request.method == "HEAD";
  const Route* best = nullptr;
  std::uint64_t best_score = 0;
  bool best_exact = false;
  std::string allow;
  for (const Route& route : routes_) {
    if (path.too_deep || !matches(route.segments, path)) continue;
    add_allowed(allow, route.method);
    if (route.method == "GET") add_allowed(allow, "HEAD");
    const bool exact = route.method == request.method;
    if (!exact && !(head && route.method == "GET")) continue;
    const std::uint64_t score = specificity(route.segments);
    // An explicit HEAD route beats HEAD-served-as-GET; then the more literal pattern wins.
    if (best == nullptr || (exact && !best_exact) ||
        (exact == best_exact && score > best_score)) {
      best = &route;
      best_score = score;
      best_exact = exact;
    }
  }
  if (best == nullptr) {
    if (!allow.empty()) return method_not_allowed(request, std::move(allow));
    return Response::problem(
        {base::ErrorKind::kResourceNotFound, "no resource at path " + request.path});
  }
  request.params.clear();
  for (std::size_t i = 0; i < path.size; ++i) {
    const std::string& segment = best->segments[i];
    if (!is_capture(segment)) continue;
    auto decoded = percent_decode(path.items[i]);
    if (!decoded) {
      return Response::problem({base::ErrorKind::kInvalidRequest,
                                "invalid percent-encoding in path segment '" +
                                    std::string(path.items[i]) + "'"});
    }
    request.params.emplace(segment.substr(1, segment.size() - 2), std::move(*decoded));
  }
  request.route = best->pattern;
  return &best->handler;
}

}  // namespace cityroom::http
