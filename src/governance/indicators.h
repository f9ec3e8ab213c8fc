// governance/indicators: policy indicators — definitions, periods, achievement and trend.
//
// An indicator is an `Indicator` entity (core context, short names): `name` (Korean),
// `nameEn`, `department`, `unit` (display unit, e.g. "건", "%", "µg/m³"), `direction`
// ("higher" or "lower" is better), `periodicity` ("month", "quarter", "year"), `targets`
// (JsonProperty {"<period>": number}), `source` ("manual" or "formula"), `formula`
// (JsonProperty, below), and the periodic value: `value` (a Property whose observedAt is the
// start of its period) with `period` ("2026-11", "2026-Q4", "2026") and `modifiedBy`. The
// series of values is the attribute history of `indicatorValue` (temporal API).
//
// Formulas (recomputed on a timer for the current period, or on request):
//   {"kind": "count", "entityType": T, "area"?: areaId, "timeAttribute"?: A}
//       the number of entities of type T [whose refArea is areaId] [whose A lies in the period]
//   {"kind": "average", "entityType": T, "attribute": A, "area"?: areaId}
//       the mean of every value of A recorded during the period (attribute history) over the
//       entities of type T [whose refArea is areaId]
// Achievement: higher is better → value / target × 100; lower is better → target / value ×
// 100 (100 when both are 0), one decimal. Trend: the last value against the one before.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "json/json.h"

namespace cityroom::governance {

inline constexpr std::string_view kIndicatorType = "Indicator";

struct Period {
  std::string label;   // "2026-11", "2026-Q4", "2026"
  base::Micros start;  // inclusive, city time midnight
  base::Micros end;    // exclusive
};

// "2026-11" (month), "2026-Q4" (quarter), "2026" (year); city time (Asia/Seoul).
std::optional<Period> parse_period(std::string_view label);
// The period of `periodicity` holding `t`.
Period period_of(std::string_view periodicity, base::Micros t);

// A definition body → a concise Indicator entity (id urn:ngsi-ld:Indicator:<key>).
// Required: key, name, unit, direction, periodicity; source manual unless a formula is given.
base::Result<json::object> indicator_from_definition(const json::object& body);

// A value entry {"period","value","by"} → a concise fragment (indicatorValue with observedAt,
// period, modifiedBy; `value` itself is an NGSI-LD core term, so it cannot be the name). `periodicity` checks that the period has the indicator's granularity.
base::Result<json::object> indicator_value_fragment(const json::object& body,
                                                    std::string_view periodicity);

std::optional<double> achievement(double value, std::optional<double> target,
                                  std::string_view direction);

// "up", "down", "flat" and whether that is "improving"/"worsening"/"steady" given direction.
std::pair<std::string, std::string> trend(std::optional<double> previous, double last,
                                          std::string_view direction);

}  // namespace cityroom::governance
