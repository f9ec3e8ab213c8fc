#include "governance/csv.h"

#include <fmt/format.h>

namespace cityroom::governance {

std::size_t CsvTable::column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return i;
  }
  return std::string_view::npos;
}

base::Result<CsvTable> parse_csv(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  if (!base::is_valid_utf8(text)) {
    return base::fail(base::ErrorKind::kBadRequestData, "the CSV is not valid UTF-8");
  }
  CsvTable t;
  std::vector<std::string> record;
  std::string field;
  std::size_t line = 1, record_line = 1;
  bool quoted = false, field_started = false, any = false;
  auto end_field = [&] {
    record.push_back(std::move(field));
    field.clear();
    field_started = false;
  };
  auto end_record = [&]() -> base::Result<void> {
    end_field();
    const bool blank = record.size() == 1 && record[0].empty();
    if (!blank) {
      if (t.header.empty()) {
        t.header = std::move(record);
      } else if (record.size() != t.header.size()) {
        return base::fail(base::ErrorKind::kBadRequestData,
                          fmt::format("line {}: {} fields, the header has {}", record_line,
                                      record.size(), t.header.size()));
      } else {
        t.rows.push_back(std::move(record));
        t.lines.push_back(record_line);
      }
    }
    record.clear();
    return {};
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    any = true;
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      continue;
    } else if (c == '\n') {
      if (auto r = end_record(); !r) return std::unexpected(r.error());
      ++line;
      record_line = line;
      any = false;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted) {
    return base::fail(base::ErrorKind::kBadRequestData,
                      fmt::format("line {}: unterminated quoted field", record_line));
  }
  if (any) {
    if (auto r = end_record(); !r) return std::unexpected(r.error());
  }
  if (t.header.empty()) return base::fail(base::ErrorKind::kBadRequestData, "the CSV is empty");
  return t;
}

}  // namespace cityroom::governance
