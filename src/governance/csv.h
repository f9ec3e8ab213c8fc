// governance/csv: RFC 4180 CSV text → rows of fields, for the governance imports (pledges,
// indicator values). Small on purpose: UTF-8 input (a BOM is dropped), quoted fields with
// doubled quotes and line breaks, CRLF or LF. The general importer (ingest) handles encodings;
// these files are the city's own exports.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"

namespace cityroom::governance {

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each the header's size
  std::vector<std::size_t> lines;              // the 1-based line each row starts on
  // The column's index, or npos.
  std::size_t column(std::string_view name) const;
};

// Errors (BadRequestData) name the line: "line 4: 9 fields, the header has 10",
// "line 7: unterminated quoted field", "not valid UTF-8".
base::Result<CsvTable> parse_csv(std::string_view text);

}  // namespace cityroom::governance
