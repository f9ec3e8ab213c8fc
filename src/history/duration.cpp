#include <fmt/format.h>

#include <cctype>
#include <cmath>

#include "history/history.h"

namespace cityroom::history {
namespace {

constexpr double kSecond = 1e6;
constexpr double kDay = 86400 * kSecond;

base::Error bad(std::string_view text, std::string_view why) {
  return {base::ErrorKind::kBadRequestData,
          fmt::format("'{}' is not an ISO 8601 duration such as PT1H or P1D: {}", text, why)};
}

}  // namespace

base::Result<base::Micros> parse_duration(std::string_view text) {
  if (text.size() < 3 || text[0] != 'P') return std::unexpected(bad(text, "it must start with P"));
  // Designators allowed in order, before and after 'T'.
  constexpr std::string_view kDateUnits = "YMWD";
  constexpr std::string_view kTimeUnits = "HMS";
  bool in_time = false, fraction_seen = false, any = false;
  std::size_t next_unit = 0;  // index into the current unit list: units must come in order
  double total = 0;
  std::size_t i = 1;
  while (i < text.size()) {
    if (text[i] == 'T') {
      if (in_time) return std::unexpected(bad(text, "two T"));
      in_time = true;
      next_unit = 0;
      ++i;
      if (i == text.size()) return std::unexpected(bad(text, "nothing after T"));
      continue;
    }
    if (fraction_seen) return std::unexpected(bad(text, "only the last number may have a fraction"));
    const std::size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i < text.size() && (text[i] == '.' || text[i] == ',')) {
      fraction_seen = true;
      ++i;
      const std::size_t frac = i;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
      if (i == frac) return std::unexpected(bad(text, "a fraction needs digits"));
    }
    if (i == start || i >= text.size()) return std::unexpected(bad(text, "a number needs a unit"));
    std::string number(text.substr(start, i - start));
    for (char& c : number) if (c == ',') c = '.';
    if (number.size() > 15) return std::unexpected(bad(text, "a number is too long"));
    const double n = std::stod(number);
    const char unit = text[i++];
    const std::string_view units = in_time ? kTimeUnits : kDateUnits;
    const auto at = units.find(unit);
    if (at == std::string_view::npos || at < next_unit) {
      return std::unexpected(bad(text, fmt::format("unexpected unit '{}'", unit)));
    }
    next_unit = at + 1;
    static constexpr double kDateScale[] = {365 * kDay, 30 * kDay, 7 * kDay, kDay};
    static constexpr double kTimeScale[] = {3600 * kSecond, 60 * kSecond, kSecond};
    total += n * (in_time ? kTimeScale[at] : kDateScale[at]);
    any = true;
  }
  if (!any) return std::unexpected(bad(text, "no amount"));
  if (total > 1e17) return std::unexpected(bad(text, "too long"));
  const auto micros = static_cast<base::Micros>(std::llround(total));
  if (micros <= 0) return std::unexpected(bad(text, "it must be longer than zero"));
  return micros;
}

}  // namespace cityroom::history
