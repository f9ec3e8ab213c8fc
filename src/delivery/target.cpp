// Parsing of notification URIs and headers, and the retry/breaker arithmetic: the pure parts of
// delivery, kept apart from the I/O so they are cheap to test.
#include <algorithm>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>
#include <cmath>

#include "delivery/internal.h"

namespace cityroom::delivery {
namespace {

constexpr std::size_t kUriBytesMax = 8 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool is_tchar(unsigned char c) {
  return std::isalnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

std::unexpected<base::Error> bad(std::string detail) {
  return base::fail(base::ErrorKind::kBadRequestData, std::move(detail));
}

}  // namespace

base::Result<Target> parse_target(std::string_view uri) {
  if (uri.size() > kUriBytesMax) return bad("notification URI is longer than 8 KiB");
  auto parsed = boost::urls::parse_absolute_uri(uri);
  if (!parsed) return bad("notification URI is not an absolute URI: " + std::string(uri));
  const auto& u = *parsed;
  Target t;
  const std::string scheme = lower(u.scheme());
  if (scheme == "https") {
    t.tls = true;
  } else if (scheme != "http") {
    return bad("notification URI must use http or https, not '" + scheme + "'");
  }
  if (u.has_userinfo()) return bad("notification URI must not carry user info");
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::name:
      t.host = lower(u.encoded_host());
      break;
    case boost::urls::host_type::ipv6:
      t.host = lower(u.host_ipv6_address().to_string());
      break;
    default:
      return bad("notification URI has no usable host");
  }
  if (t.host.empty() || t.host.find('%') != std::string::npos) {
    return bad("notification URI has no usable host");
  }
  const std::uint16_t default_port = t.tls ? 443 : 80;
  t.port = default_port;
  if (u.has_port()) {
    const std::string_view digits = u.port();
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || value == 0 ||
        value > 65535) {
      return bad("notification URI port must be 1–65535");
    }
    t.port = static_cast<std::uint16_t>(value);
  }
  const bool v6 = u.host_type() == boost::urls::host_type::ipv6;
  std::string host_part;
  if (v6)
    host_part.append("[").append(t.host).append("]");
  else
    host_part = t.host;
  t.host_header = t.port == default_port ? host_part : host_part + ":" + std::to_string(t.port);
  t.path = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
  if (t.path.front() != '/') return bad("notification URI path must be absolute");
  if (u.has_query()) t.path.append("?").append(u.encoded_query());
  t.key = scheme + "://" + host_part + ":" + std::to_string(t.port);
  return t;
}

base::Result<void> check_uri(std::string_view uri) {
  auto t = parse_target(uri);
  if (!t) return std::unexpected(t.error());
  return {};
}

base::Result<void> check_headers(const Headers& headers) {
  for (const auto& [name, value] : headers) {
    if (name.empty() || !std::ranges::all_of(name, [](char c) { return is_tchar(c); })) {
      return bad("notification header name is not a token: '" + name + "'");
    }
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return bad("notification header '" + name + "' holds CR, LF or NUL");
    }
  }
  return {};
}

bool is_framing_header(std::string_view name) {
  const std::string n = lower(name);
  return n == "host" || n == "content-length" || n == "transfer-encoding" || n == "connection" ||
         n == "keep-alive" || n == "upgrade" || n == "te" || n == "trailer";
}

bool is_retryable_status(int status) {
  return status == 429 || (status >= 500 && status < 600);
}

std::chrono::milliseconds retry_delay(std::size_t attempt, std::chrono::milliseconds base,
                                      std::chrono::milliseconds max, double jitter) {
  const std::size_t doublings = std::min<std::size_t>(attempt < 2 ? 0 : attempt - 2, 30);
  const double full = std::min(static_cast<double>(base.count()) * std::ldexp(1.0, doublings),
                               static_cast<double>(max.count()));
  return std::chrono::milliseconds(static_cast<std::int64_t>(full * std::clamp(jitter, 0.5, 1.0)));
}

std::chrono::milliseconds breaker_pause(std::size_t opens, std::chrono::milliseconds min,
                                        std::chrono::milliseconds max) {
  const double full =
      static_cast<double>(min.count()) * std::ldexp(1.0, std::min<std::size_t>(opens, 30));
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(std::min(full, static_cast<double>(max.count()))));
}

}  // namespace cityroom::delivery
