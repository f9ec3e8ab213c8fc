// governance/indicator_compute: indicators against the hub — a formula's value for a period
// (indicators.h describes the formulas), the series of an indicator's values from its
// attribute history, and the tile a wall shows (latest value, target, achievement, trend).
// Reads only; writes go through the hub like every other write. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "governance/indicators.h"
#include "hub/hub.h"
#include "ldcontext/ldcontext.h"

namespace cityroom::governance {

inline constexpr std::size_t kFormulaEntitiesMax = 100'000;  // entities one formula may read

base::Result<double> compute_formula(hub::Hub& hub, const ldcontext::Context& core,
                                     std::string_view tenant, const json::object& formula,
                                     const Period& period);

struct IndicatorPoint {
  std::string period;
  double value = 0;
  std::optional<double> target;
  std::optional<double> achievement;
};

// The values recorded per period (the last write of each period wins), ascending.
base::Result<std::vector<IndicatorPoint>> indicator_series(hub::Hub& hub,
                                                           std::string_view tenant,
                                                           const json::object& kv);

// keyValues definition + series → the tile: {"id","name","nameEn","department","unit",
// "direction","source","period","value","target","achievement","trend","trendMeaning"}.
json::object indicator_tile(const json::object& kv, const std::vector<IndicatorPoint>& series);

}  // namespace cityroom::governance
