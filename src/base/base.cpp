#include "base/base.h"

#include <fmt/format.h>

#include <random>

#include <array>
#include <chrono>
#include <cstdio>

#include <boost/json.hpp>

namespace cityroom::base {
namespace {

struct KindInfo {
  int status;
  std::string_view name;
  std::string_view title;
};

KindInfo info(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidRequest: return {400, "InvalidRequest", "Invalid request"};
    case ErrorKind::kBadRequestData: return {400, "BadRequestData", "Bad request data"};
    case ErrorKind::kAlreadyExists: return {409, "AlreadyExists", "Already exists"};
    case ErrorKind::kOperationNotSupported:
      return {422, "OperationNotSupported", "Operation not supported"};
    case ErrorKind::kResourceNotFound: return {404, "ResourceNotFound", "Resource not found"};
    case ErrorKind::kInternalError: return {500, "InternalError", "Internal error"};
    case ErrorKind::kTooComplexQuery: return {403, "TooComplexQuery", "Too complex query"};
    case ErrorKind::kTooManyResults: return {403, "TooManyResults", "Too many results"};
    case ErrorKind::kLdContextNotAvailable:
      return {503, "LdContextNotAvailable", "JSON-LD context not available"};
    case ErrorKind::kNonexistentTenant: return {404, "NonexistentTenant", "Nonexistent tenant"};
    case ErrorKind::kNotAcceptable: return {406, "NotAcceptable", "Not acceptable"};
    case ErrorKind::kUnsupportedMediaType:
      return {415, "UnsupportedMediaType", "Unsupported media type"};
    case ErrorKind::kLengthRequired: return {411, "LengthRequired", "Length required"};
    case ErrorKind::kPayloadTooLarge: return {413, "PayloadTooLarge", "Payload too large"};
    case ErrorKind::kHeaderTooLarge:
      return {431, "RequestHeaderFieldsTooLarge", "Request header fields too large"};
    case ErrorKind::kServiceUnavailable:
      return {503, "ServiceUnavailable", "Service unavailable"};
    case ErrorKind::kMethodNotAllowed: return {405, "MethodNotAllowed", "Method not allowed"};
    case ErrorKind::kRequestTimeout: return {408, "RequestTimeout", "Request timeout"};
  }
  return {500, "InternalError", "Internal error"};
}

constexpr std::array kEtsiKinds = {
    ErrorKind::kInvalidRequest,     ErrorKind::kBadRequestData,      ErrorKind::kAlreadyExists,
    ErrorKind::kOperationNotSupported, ErrorKind::kResourceNotFound, ErrorKind::kInternalError,
    ErrorKind::kTooComplexQuery,    ErrorKind::kTooManyResults,
    ErrorKind::kLdContextNotAvailable, ErrorKind::kNonexistentTenant};

bool is_etsi_kind(ErrorKind kind) {
  for (auto k : kEtsiKinds) {
    if (k == kind) return true;
  }
  return false;
}

}  // namespace

int http_status(ErrorKind kind) { return info(kind).status; }

std::string_view problem_type(ErrorKind kind) {
  // Kinds that ETSI does not define use the same namespace so clients see one vocabulary;
  // their names are the HTTP reason phrases.
  static_assert(sizeof(KindInfo) > 0);
  switch (kind) {
#define CITYROOM_KIND(k, n) \
  case ErrorKind::k:        \
    return "https://uri.etsi.org/ngsi-ld/errors/" n;
    CITYROOM_KIND(kInvalidRequest, "InvalidRequest")
    CITYROOM_KIND(kBadRequestData, "BadRequestData")
    CITYROOM_KIND(kAlreadyExists, "AlreadyExists")
    CITYROOM_KIND(kOperationNotSupported, "OperationNotSupported")
    CITYROOM_KIND(kResourceNotFound, "ResourceNotFound")
    CITYROOM_KIND(kInternalError, "InternalError")
    CITYROOM_KIND(kTooComplexQuery, "TooComplexQuery")
    CITYROOM_KIND(kTooManyResults, "TooManyResults")
    CITYROOM_KIND(kLdContextNotAvailable, "LdContextNotAvailable")
    CITYROOM_KIND(kNonexistentTenant, "NonexistentTenant")
#undef CITYROOM_KIND
    // HTTP-level errors: the InvalidRequest family, as Orion-LD does.
    default: return "https://uri.etsi.org/ngsi-ld/errors/InvalidRequest";
  }
}

std::string_view problem_title(ErrorKind kind) { return info(kind).title; }

std::string problem_json(const Error& error) {
  boost::json::object body;
  body["type"] = problem_type(error.kind);
  body["title"] = problem_title(error.kind);
  body["status"] = http_status(error.kind);
  body["detail"] = error.detail;
  if (!is_etsi_kind(error.kind)) body["reason"] = info(error.kind).name;
  return boost::json::serialize(body);
}

Micros now_micros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date.
std::int64_t days_from_civil(int y, unsigned m, unsigned d) {
  return std::chrono::sys_days{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}}
      .time_since_epoch()
      .count();
}

void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t yy = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2));
}

unsigned days_in_month(int y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

std::optional<Micros> parse_iso8601(std::string_view s, bool date_only_ok) {
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) ||
      s[7] != '-' || !digits(s, 8, 2, d)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || static_cast<unsigned>(d) > days_in_month(y, mo)) {
    return std::nullopt;
  }
  std::int64_t frac_us = 0;
  std::int64_t offset_s = 0;
  size_t pos = 10;
  if (s.size() == 10) {
    if (!date_only_ok) return std::nullopt;
  } else {
    if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return std::nullopt;
    if (!digits(s, 11, 2, h) || s.size() < 16 || s[13] != ':' || !digits(s, 14, 2, mi)) {
      return std::nullopt;
    }
    pos = 16;
    if (pos < s.size() && s[pos] == ':') {
      if (!digits(s, 17, 2, sec)) return std::nullopt;
      pos = 19;
      if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
        ++pos;
        int n = 0;
        std::int64_t scale = 100000;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          if (n < 6) frac_us += (s[pos] - '0') * scale;
          scale /= 10;
          ++n;
          ++pos;
        }
        if (n == 0 || n > 9) return std::nullopt;
      }
    }
    if (h > 24 || mi > 59 || sec > 60 || (h == 24 && (mi || sec || frac_us))) {
      return std::nullopt;
    }
    if (pos < s.size()) {
      if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) {
        pos = s.size();
      } else if (s[pos] == '+' || s[pos] == '-') {
        int oh, om = 0;
        const int sign = s[pos] == '-' ? -1 : 1;
        if (!digits(s, pos + 1, 2, oh)) return std::nullopt;
        size_t p = pos + 3;
        if (p < s.size() && s[p] == ':') ++p;
        if (p < s.size()) {
          if (!digits(s, p, 2, om)) return std::nullopt;
          p += 2;
        }
        if (p != s.size() || oh > 23 || om > 59) return std::nullopt;
        offset_s = sign * (oh * 3600 + om * 60);
      } else {
        return std::nullopt;
      }
    }
  }
  const std::int64_t days = days_from_civil(y, mo, d);
  const std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + std::min(sec, 59) - offset_s;
  return secs * 1000000 + frac_us;
}

std::string random_hex(std::size_t bytes) {
  std::random_device device;
  std::string out;
  out.reserve(bytes * 2);
  while (out.size() < bytes * 2) {
    out += fmt::format("{:08x}", static_cast<std::uint32_t>(device()));
  }
  out.resize(bytes * 2);
  return out;
}

std::string format_iso8601(Micros t) {
  std::int64_t secs = t >= 0 ? t / 1000000 : (t - 999999) / 1000000;
  const std::int64_t us = t - secs * 1000000;
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  std::int64_t rem = secs - days * 86400;
  int y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", y, m, d,
                static_cast<int>(rem / 3600), static_cast<int>(rem % 3600 / 60),
                static_cast<int>(rem % 60), static_cast<int>(us / 1000));
  return buf;
}

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t extra;
    if (c < 0x80) extra = 0;
    else if ((c >> 5) == 0x6) extra = 1;
    else if ((c >> 4) == 0xE) extra = 2;
    else if ((c >> 3) == 0x1E) extra = 3;
    else return false;
    if (i + extra >= s.size() + (extra == 0 ? 1 : 0) && extra != 0) return false;
    for (size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += extra + 1;
  }
  return true;
}

bool is_uri(std::string_view s) {
  if (s.empty() || s.size() > 2048) return false;
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(s[0])) return false;
  for (size_t i = 1; i < colon; ++i) {
    const char c = s[i];
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || c == '<' || c == '>' || c == '"' || c == '{' || c == '}' || c == '|' ||
        c == '\\' || c == '^' || c == '`' || u == 0x7f) {
      return false;
    }
  }
  return true;
}

}  // namespace cityroom::base
