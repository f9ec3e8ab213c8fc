// governance/callcentre: complaint call-centre statistics (e.g. Chuncheon's 120 centre) as a
// dataset with history. One `CallCentreStat` entity per (centre, category, channel), id
// `urn:ngsi-ld:CallCentreStat:<centre>:<category>:<channel>` (category and channel
// percent-encoded), with `centre`, `category`, `channel`, and per day `callCount` and
// `averageHandlingTime` (seconds, unitCode SEC), each instance observed at the day's start in
// city time. The daily series is the attributes' history; a re-imported day is a correction
// (the last write of a day wins when reading).
// Pure functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "json/json.h"

namespace cityroom::governance {

inline constexpr std::string_view kCallCentreType = "CallCentreStat";

struct CallDay {
  std::string date;       // YYYY-MM-DD (city time)
  std::string category;
  std::string channel;    // phone, chat, web, visit, ...
  double count = 0;
  double average_seconds = 0;
  std::size_t line = 0;
};

// CSV columns: date, category, channel, count, avg_handling_seconds. All-or-nothing: a bad
// row fails with its line.
base::Result<std::vector<CallDay>> call_days_from_csv(std::string_view csv);

std::string call_stat_id(std::string_view centre, std::string_view category,
                         std::string_view channel);

// The day's start in city time (UTC micros); nullopt for a bad date.
std::optional<base::Micros> city_day_start(std::string_view date);

// Daily rows → {"from","to","total","averageHandlingSeconds","byCategory":[{category,count,
// averageHandlingSeconds}],"byChannel":[...],"daily":[{date,count,averageHandlingSeconds}]}
// (averages weighted by count).
json::object call_summary(const std::vector<CallDay>& days, std::string_view from,
                          std::string_view to);

}  // namespace cityroom::governance
