// query/text.h (private to the query module): the character-level tools the three parsers
// share, and the scalar conversions parse and evaluation must agree on.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/base.h"
#include "query/ast.h"

namespace cityroom::query::text {

inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

// A read position in one expression. Positions in error details are 0-based byte offsets.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}
  std::size_t pos() const { return pos_; }
  bool done() const { return pos_ >= text_.size(); }
  char peek(std::size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  bool starts_with(std::string_view s) const { return text_.substr(pos_).starts_with(s); }
  void advance(std::size_t n = 1) { pos_ = std::min(pos_ + n, text_.size()); }
  bool eat(char c) {
    if (done() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  bool eat(std::string_view s) {
    if (!starts_with(s)) return false;
    pos_ += s.size();
    return true;
  }
  void skip_spaces() {
    while (!done() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }
  std::string_view slice(std::size_t from) const { return text_.substr(from, pos_ - from); }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

// "'x'" for a printable character, "end of input" past the end, a code otherwise.
std::string describe_char(const Cursor& cur);

// "<what> at position <n>" as an InvalidRequest with the language's prefix ("q: ").
std::unexpected<base::Error> invalid_at(std::string_view prefix, std::string_view what,
                                        std::size_t position);

// The whole token as a JSON-like number: optional sign, digits, fraction, exponent. Sets
// `is_int` and `integer` when it has neither fraction nor exponent and fits in int64.
bool parse_number(std::string_view token, ast::Literal& out);

// `HH:MM[:SS[.fff]][Z|±HH:MM]` as microseconds since midnight UTC (offsets wrap the day).
std::optional<base::Micros> parse_time_of_day(std::string_view token);

// Joins parts into one node of `kind`, flattening children of the same kind, so that
// `(a;b);c` evaluates as one three-way AND. A single part is returned as is.
template <class N>
N combine(ast::NodeKind kind, std::vector<N> parts) {
  if (parts.size() == 1) return std::move(parts.front());
  N node;
  node.kind = kind;
  for (auto& part : parts) {
    if (part.kind == kind) {
      for (auto& child : part.children) node.children.push_back(std::move(child));
    } else {
      node.children.push_back(std::move(part));
    }
  }
  return node;
}

}  // namespace cityroom::query::text
