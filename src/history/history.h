// history: the pure parts of keeping and reading attribute history — which instances a write
// adds to history, ISO 8601 durations, and temporal aggregation (NGSI-LD aggrMethods). The
// rows themselves live in the store (store.h `HistoryPoint`, store/sqlite/history.h); the hub
// appends in the same transaction as the entity change; api/temporal.cpp serves them.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "json/json.h"
#include "model/model.h"
#include "store/store.h"

namespace cityroom::history {

// The instances of `after` that are new or differ from `before`'s instance with the same
// datasetId (null `before`: a created entity, every instance). Time: observedAt when the
// instance has one, else its modifiedAt (else the entity's, else `now`).
std::vector<store::HistoryPoint> written(const model::Entity* before, const model::Entity& after,
                                         base::Micros now);

// An ISO 8601 duration (PnYnMnWnDTnHnMnS, the last unit may have a fraction) in µs. Calendar
// units are fixed: a year is 365 days, a month 30 days. Zero and negative are refused.
base::Result<base::Micros> parse_duration(std::string_view text);

enum class Method { kTotalCount, kDistinctCount, kSum, kAvg, kMin, kMax, kStddev, kSumsq };
inline constexpr std::size_t kMethodCount = 8;

std::string_view method_name(Method m);
// "avg,max" → methods in that order, duplicates dropped; an unknown name is BadRequestData.
base::Result<std::vector<Method>> parse_methods(std::string_view list);

// The statistics of one period. Numeric methods see only numbers (other values are counted by
// totalCount and distinctCount only); with no number they give null. stddev is the sample
// standard deviation (n - 1; 0 for one number).
struct Accumulator {
  std::size_t count = 0;       // all values
  std::size_t numbers = 0;
  double sum = 0, sumsq = 0, min = 0, max = 0;
  double mean = 0, m2 = 0;     // Welford, for stddev
  std::vector<std::string> seen;  // serialized values, for distinctCount (sorted at the end)

  void add(const json::value& v);
  void add_number(double d);  // a number, without counting it in `count`/`seen`
  // A group of values at once (not for distinctCount: its values are not in `summary`).
  void add_summary(const store::HistorySummary& summary);
  json::value result(Method m) const;
};

// Aggregates points fed in ascending time, in periods [origin + k·period, origin +
// (k+1)·period); without a period, one period [origin, end). Only periods holding points are
// reported, as [[result, startTime, endTime], ...] per method in `methods` order. Without an
// origin the periods start at the first point (with a period: on a multiple of it since the
// epoch, so PT1H periods fall on whole UTC hours); without an end, one past the last point.
class Aggregator {
 public:
  Aggregator(std::vector<Method> methods, std::optional<base::Micros> period,
             std::optional<base::Micros> origin, std::optional<base::Micros> end);
  void add(base::Micros time, const json::value& value);
  std::vector<json::array> finish();

 private:
  void close_period();

  std::vector<Method> methods_;
  bool distinct_ = false;
  std::optional<base::Micros> period_, origin_, end_;
  base::Micros start_ = 0, stop_ = 0, last_ = 0;
  bool open_ = false;
  Accumulator acc_;
  std::vector<json::array> out_;
};

// The same over rows already read (ascending time).
std::vector<json::array> aggregate(std::span<const store::HistoryRow> rows,
                                   std::span<const Method> methods,
                                   std::optional<base::Micros> period, base::Micros origin,
                                   base::Micros end);

// One attribute's aggregates: per method (in the asked order) [[result, start, end], ...].
struct AttributeAggregates {
  std::string attribute;
  std::vector<json::array> results;
};

// Aggregates the history of entity `q.entity_id` as `q` selects it (window, attributes,
// timeproperty, lastN), per attribute, in periods as Aggregator does. Streams the points
// through without holding them (`q.visit` is set here) and, unless distinctCount is asked,
// lets the store hand whole chunks and rollups as summaries (`q.visit_summary`): counts, min
// and max are then exactly the point-by-point ones, sums, avg, stddev and sumsq equal up to
// floating-point rounding (another order of addition). More than `q.limit` points in one
// attribute is TooManyResults.
base::Result<std::vector<AttributeAggregates>> aggregate_history(
    store::Store& store, std::string_view tenant, store::HistoryQuery q,
    const std::vector<Method>& methods, std::optional<base::Micros> period,
    std::optional<base::Micros> origin, std::optional<base::Micros> end);

// The retention policy file (data/history/policy.json):
//   {"default": {"raw": "P90D", "rollups": [{"period": "PT1H", "keep": "P10Y"}]},
//    "types": {"AirQualityObserved": {"raw": "P30D"}, "https://.../Building": {}}}
// Durations are ISO 8601 (parse_duration); "raw" or "keep" absent: kept forever. Types by
// expanded IRI or local name. Unknown members are BadRequestData (a typo must not silently
// keep or drop data).
base::Result<store::HistoryPolicy> parse_policy(std::string_view text);
base::Result<store::HistoryPolicy> load_policy(const std::string& path);

}  // namespace cityroom::history
