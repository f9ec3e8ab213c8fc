// Decoding source bytes to UTF-8 (glibc iconv) and reading CSV records.
#include <fmt/format.h>
#include <iconv.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "ingest/import.h"

namespace cityroom::ingest {
namespace {

using base::ErrorKind;

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

std::string upper_ascii(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

bool is_utf8_name(std::string_view encoding) {
  const auto e = upper_ascii(encoding);
  return e == "UTF-8" || e == "UTF8";
}

// The 1-based line of byte `offset`, counting LF (CR-only files count as one line; fine for a
// diagnostic).
std::size_t line_of(std::string_view bytes, std::size_t offset) {
  offset = std::min(offset, bytes.size());
  return 1 + static_cast<std::size_t>(std::count(bytes.begin(), bytes.begin() + offset, '\n'));
}

// Closes the iconv descriptor on every path.
struct IconvHandle {
  iconv_t cd;
  ~IconvHandle() {
    if (cd != reinterpret_cast<iconv_t>(-1)) iconv_close(cd);
  }
};

base::Result<std::string> iconv_to_utf8(std::string_view bytes, std::string_view encoding) {
  IconvHandle h{iconv_open("UTF-8", std::string(encoding).c_str())};
  if (h.cd == reinterpret_cast<iconv_t>(-1)) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("the encoding '{}' is not known to iconv (try CP949, EUC-KR, "
                                  "UTF-8, UTF-16)",
                                  encoding));
  }
  std::string out;
  out.resize(bytes.size() * 2 + 16);  // CP949 hangul (2 bytes) becomes 3 bytes of UTF-8
  char* in_ptr = const_cast<char*>(bytes.data());
  std::size_t in_left = bytes.size();
  std::size_t written = 0;
  while (in_left > 0) {
    char* out_ptr = out.data() + written;
    std::size_t out_left = out.size() - written;
    const auto rc = iconv(h.cd, &in_ptr, &in_left, &out_ptr, &out_left);
    written = out.size() - out_left;
    if (rc != static_cast<std::size_t>(-1)) break;
    if (errno == E2BIG) {
      out.resize(out.size() * 2);
      continue;
    }
    const auto offset = static_cast<std::size_t>(in_ptr - bytes.data());
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("line {}: {} byte sequence for the declared encoding {} (byte "
                                  "offset {}); declare the file's real encoding in source.encoding",
                                  line_of(bytes, offset),
                                  errno == EINVAL ? "incomplete" : "invalid", encoding, offset));
  }
  out.resize(written);
  return out;
}

}  // namespace

base::Result<std::string> decode_to_utf8(std::string_view bytes, std::string_view encoding) {
  std::string text;
  if (is_utf8_name(encoding)) {
    if (!base::is_valid_utf8(bytes)) {
      // Find the first bad line for the message. UTF-8 never uses 0x0A inside a sequence, so
      // checking line by line is exact.
      std::size_t line = 1, start = 0;
      while (start < bytes.size()) {
        auto end = bytes.find('\n', start);
        if (end == std::string_view::npos) end = bytes.size();
        if (!base::is_valid_utf8(bytes.substr(start, end - start))) break;
        start = end + 1;
        ++line;
      }
      return base::fail(ErrorKind::kInvalidRequest,
                        fmt::format("line {}: not valid UTF-8; declare the file's real encoding "
                                    "in source.encoding (e.g. CP949)",
                                    line));
    }
    text.assign(bytes);
  } else {
    auto converted = iconv_to_utf8(bytes, encoding);
    if (!converted) return std::unexpected(converted.error());
    text = std::move(*converted);
  }
  if (text.starts_with(kUtf8Bom)) text.erase(0, kUtf8Bom.size());
  return text;
}

CsvParse parse_csv(std::string_view s, char delimiter) {
  CsvParse out;
  std::size_t line = 1;
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto at_line_end = [&](std::size_t k) { return k < n && (s[k] == '\n' || s[k] == '\r'); };
  // Consumes one line end at i (CRLF, LF or CR) and counts it.
  auto eat_line_end = [&] {
    if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') ++i;
    ++i;
    ++line;
  };
  while (i < n) {
    if (at_line_end(i)) {  // a blank line is no record
      eat_line_end();
      continue;
    }
    CsvRecord rec{line, {}};
    std::string field;
    bool bad = false;
    std::string bad_message;
    while (true) {
      if (i < n && s[i] == '"') {  // quoted field
        const auto open_line = line;
        ++i;
        bool closed = false;
        while (i < n) {
          if (s[i] == '"') {
            if (i + 1 < n && s[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (s[i] == '\n' || (s[i] == '\r' && !(i + 1 < n && s[i + 1] == '\n'))) ++line;
          field += s[i++];
        }
        if (!closed) {
          out.errors.push_back(
              {rec.line, fmt::format("the quote opened on line {} is never closed", open_line)});
          return out;
        }
        // Text after the closing quote (`"a"b`) is kept, as spreadsheets do, but noted.
        while (i < n && s[i] != delimiter && !at_line_end(i)) {
          if (!bad) bad_message = fmt::format("field {} has text after its closing quote",
                                              rec.fields.size() + 1);
          bad = true;
          field += s[i++];
        }
      } else {
        while (i < n && s[i] != delimiter && !at_line_end(i)) field += s[i++];
      }
      rec.fields.push_back(std::move(field));
      field.clear();
      if (i < n && s[i] == delimiter) {
        ++i;
        continue;
      }
      break;
    }
    if (i < n) eat_line_end();
    if (bad) {
      out.errors.push_back({rec.line, std::move(bad_message)});
    } else {
      out.records.push_back(std::move(rec));
    }
  }
  return out;
}

}  // namespace cityroom::ingest
