#include "governance/callcentre.h"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "governance/csv.h"
#include "governance/pledges.h"
#include "governance/search_index.h"

namespace cityroom::governance {
namespace {

std::string trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) v.remove_suffix(1);
  return std::string(v);
}

std::string encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c >= 0x80) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

struct Sum {
  double count = 0;
  double seconds = 0;  // count × average
};

json::array groups(const std::map<std::string, Sum>& m, std::string_view key) {
  json::array a;
  for (const auto& [k, s] : m) {
    a.push_back(json::object{{key, k},
                             {"count", s.count},
                             {"averageHandlingSeconds", s.count > 0 ? round1(s.seconds / s.count) : 0.0}});
  }
  return a;
}

}  // namespace

std::optional<base::Micros> city_day_start(std::string_view date) {
  if (date.size() != 10) return std::nullopt;
  const auto t = base::parse_iso8601(std::string(date) + "T00:00:00Z");
  if (!t) return std::nullopt;
  return *t - static_cast<base::Micros>(kCityUtcOffsetSeconds) * 1'000'000;
}

base::Result<std::vector<CallDay>> call_days_from_csv(std::string_view csv) {
  auto table = parse_csv(csv);
  if (!table) return std::unexpected(table.error());
  std::size_t col[5];
  const char* names[] = {"date", "category", "channel", "count", "avg_handling_seconds"};
  for (int i = 0; i < 5; ++i) {
    col[i] = table->column(names[i]);
    if (col[i] == std::string_view::npos) {
      return base::fail(base::ErrorKind::kBadRequestData,
                        fmt::format("the CSV has no column '{}' (date, category, channel, count, "
                                    "avg_handling_seconds)", names[i]));
    }
  }
  std::vector<CallDay> out;
  for (std::size_t r = 0; r < table->rows.size(); ++r) {
    const auto& row = table->rows[r];
    CallDay d;
    d.line = table->lines[r];
    d.date = trim(row[col[0]]);
    d.category = trim(row[col[1]]);
    d.channel = trim(row[col[2]]);
    const auto bad = [&](std::string what) {
      return base::fail(base::ErrorKind::kBadRequestData, fmt::format("line {}: {}", d.line, what));
    };
    if (!city_day_start(d.date)) return bad(fmt::format("date '{}' is not YYYY-MM-DD", d.date));
    if (d.category.empty() || d.channel.empty()) return bad("category and channel are required");
    for (auto [text, target, what] : {std::tuple{trim(row[col[3]]), &d.count, "count"},
                                      std::tuple{trim(row[col[4]]), &d.average_seconds,
                                                 "avg_handling_seconds"}}) {
      char* end = nullptr;
      *target = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(*target) ||
          *target < 0) {
        return bad(fmt::format("{} '{}' is not a non-negative number", what, text));
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::string call_stat_id(std::string_view centre, std::string_view category,
                         std::string_view channel) {
  return fmt::format("urn:ngsi-ld:{}:{}:{}:{}", kCallCentreType, encode(centre), encode(category),
                     encode(channel));
}

json::object call_summary(const std::vector<CallDay>& days, std::string_view from,
                          std::string_view to) {
  Sum total;
  std::map<std::string, Sum> by_category, by_channel, by_day;
  for (const auto& d : days) {
    for (Sum* s : {&total, &by_category[d.category], &by_channel[d.channel], &by_day[d.date]}) {
      s->count += d.count;
      s->seconds += d.count * d.average_seconds;
    }
  }
  return {{"from", from},
          {"to", to},
          {"total", total.count},
          {"averageHandlingSeconds", total.count > 0 ? round1(total.seconds / total.count) : 0.0},
          {"byCategory", groups(by_category, "category")},
          {"byChannel", groups(by_channel, "channel")},
          {"daily", groups(by_day, "date")}};
}

}  // namespace cityroom::governance
