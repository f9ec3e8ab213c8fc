#include "query/text.h"

#include <charconv>
#include <cmath>
#include <string>

namespace cityroom::query::text {
namespace {

constexpr base::Micros kMicrosPerSecond = 1'000'000;
constexpr base::Micros kSecondsPerDay = 86'400;

bool two_digits(std::string_view s, std::size_t at, int& out) {
  if (at + 2 > s.size()) return false;
  const char a = s[at];
  const char b = s[at + 1];
  if (a < '0' || a > '9' || b < '0' || b > '9') return false;
  out = (a - '0') * 10 + (b - '0');
  return true;
}

// Parses `.fff` at `pos` (if present) into microseconds; false on a dot without digits.
bool fraction(std::string_view s, std::size_t& pos, base::Micros& micros) {
  if (pos >= s.size() || (s[pos] != '.' && s[pos] != ',')) return true;
  ++pos;
  base::Micros scale = 100'000;
  std::size_t digits = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    micros += (s[pos] - '0') * scale;
    scale /= 10;
    ++digits;
    ++pos;
  }
  return digits > 0 && digits <= 9;
}

// Parses `Z`, `±HH[:MM]` or nothing at `pos` to the end; offset in seconds east of UTC.
bool zone(std::string_view s, std::size_t pos, base::Micros& offset_s) {
  offset_s = 0;
  if (pos == s.size()) return true;
  if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) return true;
  if (s[pos] != '+' && s[pos] != '-') return false;
  const int sign = s[pos] == '-' ? -1 : 1;
  int hours = 0;
  int minutes = 0;
  if (!two_digits(s, pos + 1, hours)) return false;
  std::size_t p = pos + 3;
  if (p < s.size() && s[p] == ':') ++p;
  if (p < s.size()) {
    if (!two_digits(s, p, minutes)) return false;
    p += 2;
  }
  if (p != s.size() || hours > 23 || minutes > 59) return false;
  offset_s = sign * (hours * 3600 + minutes * 60);
  return true;
}

}  // namespace

std::string describe_char(const Cursor& cur) {
  if (cur.done()) return "end of input";
  const char c = cur.peek();
  if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
    return "control character " + std::to_string(static_cast<unsigned char>(c));
  }
  return std::string("'") + c + "'";
}

std::unexpected<base::Error> invalid_at(std::string_view prefix, std::string_view what,
                                        std::size_t position) {
  std::string detail(prefix);
  detail += what;
  detail += " at position ";
  detail += std::to_string(position);
  return base::fail(base::ErrorKind::kInvalidRequest, std::move(detail));
}

bool parse_number(std::string_view token, ast::Literal& out) {
  std::string_view t = token;
  if (!t.empty() && t.front() == '+') t.remove_prefix(1);
  if (t.empty()) return false;
  // from_chars also reads "inf" and "nan"; NGSI-LD numbers start with a digit, '-' or '.'.
  const std::size_t lead = t.front() == '-' ? 1 : 0;
  if (lead >= t.size()) return false;
  const char first = t[lead];
  if (!(first >= '0' && first <= '9') && first != '.') return false;
  const char* end = t.data() + t.size();
  std::int64_t integer = 0;
  auto [int_end, int_ec] = std::from_chars(t.data(), end, integer);
  if (int_ec == std::errc() && int_end == end) {
    out.kind = ast::LiteralKind::kNumber;
    out.is_int = true;
    out.integer = integer;
    out.number = static_cast<double>(integer);
    return true;
  }
  double number = 0;
  auto [dbl_end, dbl_ec] = std::from_chars(t.data(), end, number);
  if (dbl_ec != std::errc() || dbl_end != end || !std::isfinite(number)) return false;
  out.kind = ast::LiteralKind::kNumber;
  out.is_int = false;
  out.number = number;
  return true;
}

std::optional<base::Micros> parse_time_of_day(std::string_view s) {
  int hours = 0;
  int minutes = 0;
  int seconds = 0;
  if (!two_digits(s, 0, hours) || s.size() < 5 || s[2] != ':' || !two_digits(s, 3, minutes)) {
    return std::nullopt;
  }
  std::size_t pos = 5;
  base::Micros micros = 0;
  if (pos < s.size() && s[pos] == ':') {
    if (!two_digits(s, pos + 1, seconds)) return std::nullopt;
    pos += 3;
    if (!fraction(s, pos, micros)) return std::nullopt;
  }
  base::Micros offset_s = 0;
  if (!zone(s, pos, offset_s)) return std::nullopt;
  if (hours > 23 || minutes > 59 || seconds > 60) return std::nullopt;
  base::Micros total_s = hours * 3600 + minutes * 60 + std::min(seconds, 59) - offset_s;
  total_s = ((total_s % kSecondsPerDay) + kSecondsPerDay) % kSecondsPerDay;
  return total_s * kMicrosPerSecond + micros;
}

}  // namespace cityroom::query::text
