#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "history/history.h"

namespace cityroom::history {
namespace {

constexpr std::array<std::string_view, kMethodCount> kNames = {
    "totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq"};

std::optional<double> number_of(const json::value& v) {
  if (v.is_double()) return v.get_double();
  if (v.is_int64()) return static_cast<double>(v.get_int64());
  if (v.is_uint64()) return static_cast<double>(v.get_uint64());
  return std::nullopt;
}

// A number as JSON: integral results stay integers (a count, a sum of integers).
json::value number_json(double d) {
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9e15) {
    return static_cast<std::int64_t>(d);
  }
  return d;
}

}  // namespace

std::string_view method_name(Method m) { return kNames[static_cast<std::size_t>(m)]; }

base::Result<std::vector<Method>> parse_methods(std::string_view list) {
  std::vector<Method> out;
  std::size_t pos = 0;
  while (pos <= list.size()) {
    const auto comma = list.find(',', pos);
    const std::string_view name =
        list.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    const auto it = std::find(kNames.begin(), kNames.end(), name);
    if (it == kNames.end()) {
      return base::fail(base::ErrorKind::kBadRequestData,
                        fmt::format("aggrMethods: unknown method '{}' (one of totalCount, "
                                    "distinctCount, sum, avg, min, max, stddev, sumsq)",
                                    name));
    }
    const auto m = static_cast<Method>(it - kNames.begin());
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

void Accumulator::add(const json::value& v) {
  ++count;
  seen.push_back(json::serialize(v));
  if (const auto d = number_of(v)) add_number(*d);
}

void Accumulator::add_number(double d) {
  ++numbers;
  sum += d;
  sumsq += d * d;
  if (numbers == 1) {
    min = max = d;
  } else {
    min = std::min(min, d);
    max = std::max(max, d);
  }
  const double delta = d - mean;
  mean += delta / static_cast<double>(numbers);
  m2 += delta * (d - mean);
}

void Accumulator::add_summary(const store::HistorySummary& s) {
  count += s.count;
  if (s.numbers == 0) return;
  const double nb = static_cast<double>(s.numbers);
  if (numbers == 0) {
    numbers = s.numbers;
    sum = s.sum;
    sumsq = s.sumsq;
    min = s.min;
    max = s.max;
    mean = s.sum / nb;
    m2 = s.m2;
    return;
  }
  // Chan et al.: combine two (n, mean, m2)
  const double na = static_cast<double>(numbers);
  const double delta = s.sum / nb - mean;
  const double n = na + nb;
  mean += delta * nb / n;
  m2 += s.m2 + delta * delta * na * nb / n;
  numbers += s.numbers;
  sum += s.sum;
  sumsq += s.sumsq;
  min = std::min(min, s.min);
  max = std::max(max, s.max);
}

json::value Accumulator::result(Method m) const {
  switch (m) {
    case Method::kTotalCount: return static_cast<std::int64_t>(count);
    case Method::kDistinctCount: {
      auto sorted = seen;
      std::sort(sorted.begin(), sorted.end());
      return static_cast<std::int64_t>(std::unique(sorted.begin(), sorted.end()) - sorted.begin());
    }
    default: break;
  }
  if (numbers == 0) return nullptr;
  switch (m) {
    case Method::kSum: return number_json(sum);
    case Method::kAvg: return sum / static_cast<double>(numbers);
    case Method::kMin: return number_json(min);
    case Method::kMax: return number_json(max);
    case Method::kStddev:
      return numbers < 2 ? 0.0 : std::sqrt(m2 / static_cast<double>(numbers - 1));
    case Method::kSumsq: return number_json(sumsq);
    default: return nullptr;
  }
}

Aggregator::Aggregator(std::vector<Method> methods, std::optional<base::Micros> period,
                       std::optional<base::Micros> origin, std::optional<base::Micros> end)
    : methods_(std::move(methods)), period_(period), origin_(origin), end_(end),
      out_(methods_.size()) {
  distinct_ = std::find(methods_.begin(), methods_.end(), Method::kDistinctCount) != methods_.end();
}

void Aggregator::add(base::Micros time, const json::value& value) {
  if (!origin_) {
    base::Micros o = time;
    if (period_) o -= ((o % *period_) + *period_) % *period_;
    origin_ = o;
  }
  if (!open_ || (period_ && time >= stop_)) {
    if (open_) close_period();
    if (period_) {
      // floor division: points before the origin fall in earlier periods
      const base::Micros offset = time - *origin_;
      base::Micros k = offset / *period_;
      if (offset % *period_ < 0) --k;
      start_ = *origin_ + k * *period_;
      stop_ = start_ + *period_;
    } else {
      start_ = *origin_;
    }
    open_ = true;
  }
  last_ = time;
  if (distinct_) {
    acc_.add(value);
  } else {  // no distinctCount: do not serialize every value
    ++acc_.count;
    if (const auto d = number_of(value)) acc_.add_number(*d);
  }
}

void Aggregator::close_period() {
  const base::Micros stop = period_ ? stop_ : end_.value_or(last_ + 1);
  const json::value start_text(base::format_iso8601(start_));
  const json::value stop_text(base::format_iso8601(stop));
  for (std::size_t m = 0; m < methods_.size(); ++m) {
    out_[m].push_back(json::array{acc_.result(methods_[m]), start_text, stop_text});
  }
  acc_ = Accumulator{};
}

std::vector<json::array> Aggregator::finish() {
  if (open_) close_period();
  open_ = false;
  return std::move(out_);
}

std::vector<json::array> aggregate(std::span<const store::HistoryRow> rows,
                                   std::span<const Method> methods,
                                   std::optional<base::Micros> period, base::Micros origin,
                                   base::Micros end) {
  Aggregator a(std::vector<Method>(methods.begin(), methods.end()), period, origin, end);
  for (const auto& row : rows) a.add(row.time, row.value);
  return a.finish();
}

namespace {

// Aggregator's periods for values that come in any order (summaries of chunks and rollups
// among points): one Accumulator per period index, reported in time order at the end.
class PeriodTable {
 public:
  PeriodTable(const std::vector<Method>& methods, std::optional<base::Micros> period,
              std::optional<base::Micros> origin, std::optional<base::Micros> end)
      : methods_(methods), period_(period), origin_(origin), end_(end) {
    distinct_ = std::find(methods_.begin(), methods_.end(), Method::kDistinctCount) !=
                methods_.end();
  }

  // The period holding `time` (0 without a period). With a period and no origin, periods
  // fall on multiples of it since the epoch, as Aggregator's do.
  std::int64_t index(base::Micros time) const {
    if (!period_) return 0;
    const base::Micros offset = time - origin_.value_or(0);
    base::Micros k = offset / *period_;
    if (offset % *period_ < 0) --k;
    return k;
  }

  // The end (exclusive) of the period holding `time`.
  base::Micros end_of(base::Micros time) const {
    if (!period_) return INT64_MAX;
    const base::Micros stop = origin_.value_or(0) + (index(time) + 1) * *period_;
    return stop;
  }

  void add(base::Micros time, const json::value& value) {
    see(time, time);
    Accumulator& acc = at(index(time));
    if (distinct_) {
      acc.add(value);
    } else {
      ++acc.count;
      if (const auto d = number_of(value)) acc.add_number(*d);
    }
  }

  void add(const store::HistorySummary& s) {
    see(s.first, s.last);
    at(index(s.first)).add_summary(s);
  }

  std::vector<json::array> finish() const {
    std::vector<json::array> out(methods_.size());
    for (const auto& [k, acc] : periods_) {
      const base::Micros start = period_ ? origin_.value_or(0) + k * *period_
                                         : origin_.value_or(first_);
      const base::Micros stop = period_ ? start + *period_ : end_.value_or(last_ + 1);
      const json::value start_text(base::format_iso8601(start));
      const json::value stop_text(base::format_iso8601(stop));
      for (std::size_t m = 0; m < methods_.size(); ++m) {
        out[m].push_back(json::array{acc.result(methods_[m]), start_text, stop_text});
      }
    }
    return out;
  }

 private:
  // Consecutive values mostly fall in the same period: skip the map look-up then.
  Accumulator& at(std::int64_t k) {
    if (!cached_ || cached_index_ != k) {
      cached_ = &periods_[k];
      cached_index_ = k;
    }
    return *cached_;
  }

  void see(base::Micros first, base::Micros last) {
    if (periods_.empty()) {
      first_ = first;
      last_ = last;
    } else {
      first_ = std::min(first_, first);
      last_ = std::max(last_, last);
    }
  }

  std::vector<Method> methods_;
  std::optional<base::Micros> period_, origin_, end_;
  bool distinct_ = false;
  base::Micros first_ = 0, last_ = 0;
  std::map<std::int64_t, Accumulator> periods_;
  Accumulator* cached_ = nullptr;  // map nodes do not move
  std::int64_t cached_index_ = 0;
};

}  // namespace

base::Result<std::vector<AttributeAggregates>> aggregate_history(
    store::Store& store, std::string_view tenant, store::HistoryQuery q,
    const std::vector<Method>& methods, std::optional<base::Micros> period,
    std::optional<base::Micros> origin, std::optional<base::Micros> end) {
  std::vector<std::pair<std::string, PeriodTable>> tables;
  const bool by_write = q.time_property == store::HistoryQuery::TimeProperty::kModifiedAt;
  const bool distinct =
      std::find(methods.begin(), methods.end(), Method::kDistinctCount) != methods.end();
  auto table = [&](std::string_view attribute) -> PeriodTable& {
    if (tables.empty() || tables.back().first != attribute) {
      tables.emplace_back(std::string(attribute), PeriodTable(methods, period, origin, end));
    }
    return tables.back().second;
  };
  q.values_only = true;
  q.visit = [&](std::string_view attribute, base::Micros time, std::int64_t instance,
                const json::value& value) {
    table(attribute).add(by_write ? instance : time, value);
  };
  if (!distinct && !by_write && !q.last_n) {
    PeriodTable probe(methods, period, origin, end);
    q.period_end = [probe](base::Micros t) { return probe.end_of(t); };
    q.visit_summary = [&](std::string_view attribute, const store::HistorySummary& s) {
      table(attribute).add(s);
    };
  }
  auto series = store.history(tenant, q);
  if (!series) return std::unexpected(series.error());
  for (const auto& s : *series) {
    if (s.truncated) {
      return base::fail(base::ErrorKind::kTooManyResults,
                        fmt::format("more than {} instances to aggregate for {}; narrow the time "
                                    "range with timerel",
                                    q.limit, s.attribute));
    }
  }
  std::vector<AttributeAggregates> out;
  out.reserve(tables.size());
  for (auto& [attribute, t] : tables) out.push_back({attribute, t.finish()});
  return out;
}

}  // namespace cityroom::history
