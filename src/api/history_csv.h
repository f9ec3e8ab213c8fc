// Bulk history as CSV (issue #4): the file format, the HTTP routes and the command line.
//
// Format: a header line `entityId,attribute,time,value`, then one attribute instance per line.
// `attribute` is a short name (expanded with the request's @context) or a full IRI; `time` is
// ISO 8601 (it becomes the instance's observedAt); `value` unquoted and numeric is a number,
// anything else a string (a quoted field is always a string; `""` inside quotes is one quote).
// Routes (registered by register_temporal):
//   POST /cityroom/v1/history/import   (text/csv; ?validate=true checks only) — write
//   GET  /cityroom/v1/history/export?type=|id=&attrs=&timeAt=&endTimeAt= → text/csv — read
// Command line: `cityroom history import FILE.csv`, `cityroom history export ...` (main.cpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "json/json.h"
#include "ldcontext/ldcontext.h"

namespace cityroom::api {

inline constexpr std::string_view kHistoryCsvHeader = "entityId,attribute,time,value";

struct CsvPoint {
  std::string entity;
  std::string attribute;  // expanded
  base::Micros time = 0;
  json::value value;
  std::size_t line = 0;
};
struct CsvError {
  std::size_t line = 0;  // 1-based, the header is line 1
  std::string reason;
};
struct CsvParsed {
  std::vector<CsvPoint> points;
  std::vector<CsvError> errors;  // nothing may be stored when this is not empty
};

// Parses a whole file; every bad line is reported (line numbers start at 1 + line_offset).
CsvParsed parse_history_csv(std::string_view text, const ldcontext::Context& ctx,
                            std::size_t line_offset = 0);

// One CSV line (with the newline) of an instance; the value quoted when it would not read back
// as itself (strings that look like numbers, commas, quotes, line breaks, blanks at the ends).
std::string history_csv_line(std::string_view entity, std::string_view attribute,
                             std::string_view time, const json::value& value);

// A time as exact as it is stored: milliseconds, or microseconds when it has them.
std::string exact_time(base::Micros t);

// The command line (blocking HTTP against a running server).
struct HistoryCliOptions {
  std::string url = "http://127.0.0.1:8080";
  std::string key;     // API key (X-Api-Key), if the server needs one
  std::string tenant;  // NGSILD-Tenant
  std::string context; // @context URL sent as a Link header (short attribute names)
};
// Checks every chunk of the file first (?validate=true) and writes only when all are good.
int history_import_command(const std::string& file, const HistoryCliOptions& o);
// Writes the export answer to `out_file` ("" or "-": stdout). `query` is the export's query
// string (type=...&attrs=...).
int history_export_command(const std::string& query, const std::string& out_file,
                           const HistoryCliOptions& o);

}  // namespace cityroom::api
