// Temporal aggregation checked against a brute-force reference on random series.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "history/history.h"

namespace cityroom::history {
namespace {

constexpr std::array<Method, kMethodCount> kAll = {
    Method::kTotalCount, Method::kDistinctCount, Method::kSum,    Method::kAvg,
    Method::kMin,        Method::kMax,           Method::kStddev, Method::kSumsq};

// The obvious computation of one method over one period's values.
json::value reference(Method m, const std::vector<json::value>& values) {
  std::vector<double> nums;
  for (const auto& v : values) {
    if (v.is_int64()) nums.push_back(static_cast<double>(v.get_int64()));
    if (v.is_double()) nums.push_back(v.get_double());
  }
  if (m == Method::kTotalCount) return static_cast<std::int64_t>(values.size());
  if (m == Method::kDistinctCount) {
    std::set<std::string> s;
    for (const auto& v : values) s.insert(json::serialize(v));
    return static_cast<std::int64_t>(s.size());
  }
  if (nums.empty()) return nullptr;
  double sum = 0, sumsq = 0;
  for (double d : nums) sum += d, sumsq += d * d;
  const double n = static_cast<double>(nums.size());
  switch (m) {
    case Method::kSum: return sum;
    case Method::kAvg: return sum / n;
    case Method::kMin: return *std::min_element(nums.begin(), nums.end());
    case Method::kMax: return *std::max_element(nums.begin(), nums.end());
    case Method::kSumsq: return sumsq;
    case Method::kStddev: {
      if (nums.size() < 2) return 0.0;
      double mean = sum / n, ss = 0;
      for (double d : nums) ss += (d - mean) * (d - mean);
      return std::sqrt(ss / (n - 1));
    }
    default: return nullptr;
  }
}

double as_double(const json::value& v) {
  return v.is_int64() ? static_cast<double>(v.get_int64()) : v.get_double();
}

void expect_same(const json::value& got, const json::value& want, const std::string& where) {
  if (want.is_null()) {
    EXPECT_TRUE(got.is_null()) << where;
    return;
  }
  ASSERT_TRUE(got.is_number()) << where << ": " << json::serialize(got);
  const double g = as_double(got), w = as_double(want);
  EXPECT_NEAR(g, w, 1e-9 * std::max(1.0, std::fabs(w))) << where;
}

TEST(Aggregate, MatchesBruteForceOnRandomSeries) {
  std::mt19937_64 rng(20240501);
  for (int round = 0; round < 300; ++round) {
    const base::Micros origin = static_cast<base::Micros>(rng() % 1'000'000'000) - 500'000'000;
    const std::optional<base::Micros> period =
        round % 5 == 0 ? std::nullopt
                       : std::optional<base::Micros>(1 + static_cast<base::Micros>(rng() % 5000));
    // A sorted random series: ints, doubles, some strings, some repeats, some before origin.
    std::vector<store::HistoryRow> rows(rng() % 200 + 1);
    base::Micros t = origin - static_cast<base::Micros>(rng() % 3000);
    for (auto& r : rows) {
      t += static_cast<base::Micros>(rng() % 700);
      r.time = t;
      switch (rng() % 5) {
        case 0: r.value = static_cast<std::int64_t>(rng() % 21) - 10; break;
        case 1: r.value = "v" + std::to_string(rng() % 4); break;
        default: r.value = static_cast<double>(rng() % 100000) / 7.0 - 5000; break;
      }
    }
    const base::Micros first = rows.front().time;
    const base::Micros end = rows.back().time + 1;
    const base::Micros agg_origin = period ? origin : first;
    auto got = aggregate(rows, kAll, period, agg_origin, end);

    // Reference: group by floor((t - origin) / period).
    std::map<base::Micros, std::vector<json::value>> groups;
    for (const auto& r : rows) {
      base::Micros k = 0;
      if (period) {
        const long double q = static_cast<long double>(r.time - agg_origin) / *period;
        k = static_cast<base::Micros>(std::floor(q));
      }
      groups[k].push_back(r.value);
    }
    ASSERT_EQ(got.size(), kAll.size());
    for (std::size_t m = 0; m < kAll.size(); ++m) {
      ASSERT_EQ(got[m].size(), groups.size()) << "round " << round << " " << method_name(kAll[m]);
      std::size_t i = 0;
      for (const auto& [k, values] : groups) {
        const auto& entry = got[m][i++].get_array();
        const std::string where = fmt::format("round {} {} period {}", round,
                                              method_name(kAll[m]), k);
        expect_same(entry[0], reference(kAll[m], values), where);
        const base::Micros start = period ? agg_origin + k * *period : agg_origin;
        EXPECT_EQ(entry[1].get_string(), base::format_iso8601(start)) << where;
        EXPECT_EQ(entry[2].get_string(),
                  base::format_iso8601(period ? start + *period : end)) << where;
      }
    }
  }
}

TEST(Aggregate, IntegralResultsStayIntegers) {
  std::vector<store::HistoryRow> rows(3);
  for (int i = 0; i < 3; ++i) rows[i].time = i, rows[i].value = std::int64_t{i + 1};
  const std::array<Method, 3> methods = {Method::kSum, Method::kMax, Method::kAvg};
  auto got = aggregate(rows, methods, std::nullopt, 0, 3);
  EXPECT_TRUE(got[0][0].get_array()[0].is_int64());
  EXPECT_EQ(got[0][0].get_array()[0].get_int64(), 6);
  EXPECT_TRUE(got[1][0].get_array()[0].is_int64());
  EXPECT_DOUBLE_EQ(got[2][0].get_array()[0].as_double(), 2.0);
}

}  // namespace
}  // namespace cityroom::history
