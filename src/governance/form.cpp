#include "governance/form.h"

#include <fmt/format.h>

namespace cityroom::governance {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

base::Result<std::string> decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) {
        return base::fail(base::ErrorKind::kBadRequestData, "form body: truncated %-escape");
      }
      const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) {
        return base::fail(base::ErrorKind::kBadRequestData,
                          fmt::format("form body: bad %-escape '{}'", s.substr(i, 3)));
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  if (!base::is_valid_utf8(out)) {
    return base::fail(base::ErrorKind::kBadRequestData, "form body: a value is not valid UTF-8");
  }
  return out;
}

}  // namespace

base::Result<FormFields> parse_form(std::string_view body) {
  FormFields out;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto name = decode(pair.substr(0, eq));
    if (!name) return std::unexpected(name.error());
    auto value = decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (!value) return std::unexpected(value.error());
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

const std::string* form_value(const FormFields& f, std::string_view name) {
  for (const auto& [k, v] : f) {
    if (k == name) return &v;
  }
  return nullptr;
}

}  // namespace cityroom::governance
