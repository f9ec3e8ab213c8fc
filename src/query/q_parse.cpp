// The q parser: recursive descent over the grammar of ETSI GS CIM 009 4.9, with these
// leniencies (each documented in query.h): spaces around tokens, nested parentheses, unquoted
// strings and URIs as values, `null`, `id`/`type`/`createdAt`/`modifiedAt` as paths,
// `[a.b]` and `[a][b]` into values, and `(?i)` at the start of a pattern for case-insensitive
// matching.
#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "query/ast.h"
#include "query/leaf.h"
#include "query/query.h"
#include "query/text.h"

namespace cityroom::query {
namespace {

using ast::Literal;
using ast::LiteralKind;
using ast::Op;
using ast::Shape;
using ast::Term;
using Node = Filter::Node;

constexpr std::string_view kPrefix = "q: ";
constexpr std::size_t kRegexLengthMax = 256;   // characters of one ~= pattern
constexpr std::size_t kQueryValuesMax = 1024;  // literals in one q, lists included
// Bound on a pattern's size with counted repeats unrolled (`a{500}` counts 500): the matcher's
// work per character grows with it, and a few hundred keeps the worst case per value in
// milliseconds.
constexpr std::size_t kRegexExpandedMax = 256;

struct OpSpelling {
  std::string_view text;
  Op op;
};
// Longest first, so that ">=" is not read as ">" followed by "=".
constexpr std::array<OpSpelling, 8> kOps = {{{"==", Op::kEq},
                                             {"!=", Op::kNe},
                                             {">=", Op::kGe},
                                             {"<=", Op::kLe},
                                             {"!~=", Op::kNoMatch},
                                             {"~=", Op::kMatch},
                                             {">", Op::kGt},
                                             {"<", Op::kLt}}};

bool is_name_char(char c) {
  if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
  switch (c) {
    case '.':
    case '[':
    case ']':
    case ';':
    case '|':
    case '(':
    case ')':
    case '!':
    case '=':
    case '<':
    case '>':
    case '~':
    case ',':
    case '"':
      return false;
    default:
      return true;
  }
}

bool is_control(char c) {
  return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f;
}

bool ends_term(const text::Cursor& cur) {
  const char c = cur.peek();
  return cur.done() || c == ';' || c == '|' || c == ')';
}

bool is_orderable(LiteralKind kind) {
  return kind == LiteralKind::kNumber || kind == LiteralKind::kString ||
         kind == LiteralKind::kInstant || kind == LiteralKind::kTime;
}

ast::Meta meta_of(std::string_view segment) {
  using ast::Meta;
  if (segment == model::key::kObservedAt) return Meta::kObservedAt;
  if (segment == model::key::kUnitCode) return Meta::kUnitCode;
  if (segment == model::key::kDatasetId) return Meta::kDatasetId;
  if (segment == model::key::kCreatedAt) return Meta::kCreatedAt;
  if (segment == model::key::kModifiedAt) return Meta::kModifiedAt;
  if (segment == model::key::kValue || segment == model::key::kObject ||
      segment == model::key::kLanguageMap || segment == model::key::kVocab ||
      segment == model::key::kValueList || segment == model::key::kObjectList ||
      segment == model::key::kJson) {
    return Meta::kValue;
  }
  return Meta::kNone;
}

ast::Root root_of(std::string_view name) {
  if (name == "id" || name == "@id") return ast::Root::kId;
  if (name == "type" || name == "@type") return ast::Root::kType;
  if (name == model::key::kCreatedAt) return ast::Root::kCreatedAt;
  if (name == model::key::kModifiedAt) return ast::Root::kModifiedAt;
  return ast::Root::kAttribute;
}

// Unquoted values are classified in the order the spec lists them; whatever is left is taken
// as a string, so URIs (`rel==urn:ngsi-ld:Car:1`) and bare words work.
Literal classify_unquoted(std::string_view token) {
  Literal lit;
  if (token == "true" || token == "false") {
    lit.kind = LiteralKind::kBool;
    lit.boolean = token == "true";
  } else if (token == "null") {
    lit.kind = LiteralKind::kNull;
  } else if (text::parse_number(token, lit)) {
    // kind set by parse_number
  } else if (auto instant = base::parse_iso8601(token, /*date_only_ok=*/true)) {
    lit.kind = LiteralKind::kInstant;
    lit.micros = *instant;
  } else if (auto time = text::parse_time_of_day(token)) {
    lit.kind = LiteralKind::kTime;
    lit.micros = *time;
  } else {
    lit.kind = LiteralKind::kString;
    lit.text = std::string(token);
  }
  return lit;
}

// Reads `{n}`, `{n,}` or `{n,m}` at `i` (which holds '{'); the repeat bound it implies, or 0
// when the braces are not a quantifier (ECMAScript then takes them literally).
std::size_t repeat_bound(std::string_view p, std::size_t& i) {
  std::size_t j = i + 1;
  auto number = [&](std::size_t& out) {
    const std::size_t start = j;
    out = 0;
    while (j < p.size() && p[j] >= '0' && p[j] <= '9' && j - start < 6) {
      out = out * 10 + static_cast<std::size_t>(p[j++] - '0');
    }
    return j > start;
  };
  std::size_t low = 0;
  std::size_t high = 0;
  if (!number(low)) return 0;
  high = low;
  if (j < p.size() && p[j] == ',') {
    ++j;
    if (!number(high)) high = low + 1;
  }
  if (j >= p.size() || p[j] != '}') return 0;
  i = j;
  return std::max<std::size_t>({low, high, 1});
}

// The pattern's size with counted repeats unrolled, saturating just past the limit.
std::size_t expanded_size(std::string_view p) {
  constexpr std::size_t kCap = kRegexExpandedMax + 1;
  struct Frame {
    std::size_t total = 0;
    std::size_t last = 0;  // size of the last atom, which a quantifier applies to
  };
  std::vector<Frame> frames(1);
  auto add = [&](std::size_t atom) {
    frames.back().total = std::min(frames.back().total + atom, kCap);
    frames.back().last = atom;
  };
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\') {
      ++i;
      add(1);
    } else if (c == '[') {
      while (++i < p.size() && p[i] != ']') i += p[i] == '\\' ? 1 : 0;
      add(1);
    } else if (c == '(') {
      frames.emplace_back();
    } else if (c == ')' && frames.size() > 1) {
      const std::size_t group = frames.back().total + 1;
      frames.pop_back();
      add(group);
    } else if (std::size_t bound = c == '{' ? repeat_bound(p, i) : 0; bound > 0) {
      Frame& f = frames.back();
      f.total = std::min(f.total + f.last * (bound - 1), kCap);
      f.last = std::min(f.last * bound, kCap);
    } else {
      add(1);
    }
  }
  std::size_t total = 0;
  for (const auto& f : frames) total = std::min(total + f.total, kCap);
  return total;
}

// Patterns without metacharacters are plain substring searches; `(?i)` makes them ASCII
// case-insensitive, as it does for the regex engine in the classic locale.
void set_literal(Term& term, std::string_view pattern) {
  constexpr std::string_view kCaseInsensitive = "(?i)";
  term.icase = pattern.starts_with(kCaseInsensitive);
  if (term.icase) pattern.remove_prefix(kCaseInsensitive.size());
  if (pattern.find_first_of("\\^$.|?*+()[]{}") != std::string_view::npos) return;
  term.literal = true;
  term.needle = std::string(pattern);
  if (term.icase) {
    for (char& c : term.needle) c = text::ascii_lower(c);
  }
}

class QParser {
 public:
  explicit QParser(std::string_view q, std::string_view prefix = kPrefix)
      : q_(q), cur_(q), prefix_(prefix) {}

  // The whole text as one attribute path (orderBy's terms name values the way q's do).
  base::Result<ast::Path> parse_whole_path() {
    auto path = parse_path();
    if (!path) return path;
    if (!cur_.done()) return invalid("unexpected " + text::describe_char(cur_));
    return path;
  }

  base::Result<Node> parse() {
    if (q_.size() > kQueryLengthMax) {
      return base::fail(base::ErrorKind::kTooComplexQuery,
                        "q: longer than " + std::to_string(kQueryLengthMax) + " characters");
    }
    auto node = parse_or(0);
    if (!node) return node;
    cur_.skip_spaces();
    if (!cur_.done()) return invalid("unexpected " + text::describe_char(cur_));
    return node;
  }

 private:
  std::unexpected<base::Error> invalid(std::string_view what) const {
    return text::invalid_at(prefix_, what, cur_.pos());
  }
  std::unexpected<base::Error> invalid(std::string_view what, std::size_t pos) const {
    return text::invalid_at(prefix_, what, pos);
  }

  base::Result<Node> parse_or(std::size_t depth) {
    std::vector<Node> parts;
    do {
      auto part = parse_and(depth);
      if (!part) return part;
      parts.push_back(std::move(*part));
      cur_.skip_spaces();
    } while (cur_.eat('|'));
    return text::combine(ast::NodeKind::kOr, std::move(parts));
  }

  base::Result<Node> parse_and(std::size_t depth) {
    std::vector<Node> parts;
    do {
      auto part = parse_factor(depth);
      if (!part) return part;
      parts.push_back(std::move(*part));
      cur_.skip_spaces();
    } while (cur_.eat(';'));
    return text::combine(ast::NodeKind::kAnd, std::move(parts));
  }

  base::Result<Node> parse_factor(std::size_t depth) {
    cur_.skip_spaces();
    const std::size_t open = cur_.pos();
    if (!cur_.eat('(')) {
      auto term = parse_term();
      if (!term) return std::unexpected(term.error());
      Node leaf;
      leaf.term = std::move(*term);
      return leaf;
    }
    if (depth + 1 > kQueryNestingMax) {
      return base::fail(base::ErrorKind::kTooComplexQuery,
                        "q: parentheses nested deeper than " + std::to_string(kQueryNestingMax));
    }
    auto inner = parse_or(depth + 1);
    if (!inner) return inner;
    cur_.skip_spaces();
    if (!cur_.eat(')')) {
      return invalid("expected ')' to close the '(' at position " + std::to_string(open) +
                     ", found " + text::describe_char(cur_));
    }
    return inner;
  }

  base::Result<Term> parse_term() {
    if (++terms_ > kQueryTermsMax) {
      return base::fail(base::ErrorKind::kTooComplexQuery,
                        "q: more than " + std::to_string(kQueryTermsMax) + " terms");
    }
    const bool negated = cur_.eat('!');
    if (negated) cur_.skip_spaces();
    Term term;
    auto path = parse_path();
    if (!path) return std::unexpected(path.error());
    term.path = std::move(*path);
    cur_.skip_spaces();
    if (ends_term(cur_)) {
      term.op = negated ? Op::kNotExists : Op::kExists;
      return term;
    }
    const std::size_t op_pos = cur_.pos();
    const OpSpelling* spelling = nullptr;
    for (const auto& candidate : kOps) {
      if (cur_.eat(candidate.text)) {
        spelling = &candidate;
        break;
      }
    }
    if (spelling == nullptr) {
      return invalid(
          "expected an operator (==, !=, >, >=, <, <=, ~=, !~=) or the end of the "
          "term, found " +
          text::describe_char(cur_));
    }
    if (negated) return invalid("'!' tests absence and takes no comparison", op_pos);
    term.op = spelling->op;
    auto done = (term.op == Op::kMatch || term.op == Op::kNoMatch) ? parse_pattern(term, *spelling)
                                                                   : parse_values(term, *spelling);
    if (!done) return std::unexpected(done.error());
    cur_.skip_spaces();
    if (!ends_term(cur_)) {
      return invalid("expected ';', '|', ')' or the end after the value, found " +
                     text::describe_char(cur_));
    }
    return term;
  }

  // A dotted name, e.g. `attr.sub.observedAt`; empty segments are errors.
  base::Result<std::vector<std::string>> parse_segments(bool in_brackets) {
    std::vector<std::string> segments;
    do {
      const std::size_t start = cur_.pos();
      while (!cur_.done() &&
             (in_brackets ? cur_.peek() != ']' && cur_.peek() != '[' && cur_.peek() != '.'
                          : is_name_char(cur_.peek()))) {
        cur_.advance();
      }
      if (cur_.pos() == start) {
        return invalid(segments.empty() && !in_brackets
                           ? "expected an attribute name, found " + text::describe_char(cur_)
                           : "expected a name, found " + text::describe_char(cur_));
      }
      segments.emplace_back(cur_.slice(start));
    } while (cur_.eat('.'));
    return segments;
  }

  base::Result<ast::Path> parse_path() {
    auto segments = parse_segments(false);
    if (!segments) return std::unexpected(segments.error());
    ast::Path path;
    while (cur_.peek() == '[') {
      cur_.advance();
      auto keys = parse_segments(true);
      if (!keys) return std::unexpected(keys.error());
      if (!cur_.eat(']')) return invalid("expected ']', found " + text::describe_char(cur_));
      for (auto& key : *keys) path.keys.push_back(std::move(key));
    }
    if (cur_.peek() == '.') return invalid("a path cannot continue after ']'");
    auto& names = *segments;
    if (names.size() == 1 && path.keys.empty()) path.root = root_of(names.front());
    if (names.size() > 1) {
      path.meta = meta_of(names.back());
      if (path.meta != ast::Meta::kNone) names.pop_back();
    }
    if (names.front().find("://") != std::string::npos) {
      // An absolute IRI as the attribute (`https://example.org/a.b`): its dots are its own, so
      // such a path names no sub-attributes, only a trailing member like observedAt.
      for (std::size_t i = 1; i < names.size(); ++i) names.front() += "." + names[i];
      names.resize(1);
    }
    path.attribute = std::move(names.front());
    path.subs.assign(std::make_move_iterator(names.begin() + 1),
                     std::make_move_iterator(names.end()));
    return path;
  }

  base::Result<Literal> parse_literal(const OpSpelling& op) {
    cur_.skip_spaces();
    const std::size_t start = cur_.pos();
    if (++values_ > kQueryValuesMax) {
      return base::fail(base::ErrorKind::kTooComplexQuery,
                        "q: more than " + std::to_string(kQueryValuesMax) + " values");
    }
    if (cur_.peek() == '"') {
      auto quoted = parse_quoted();
      if (!quoted) return std::unexpected(quoted.error());
      Literal lit;
      lit.text = std::move(*quoted);
      return lit;
    }
    while (!cur_.done() && !cur_.starts_with("..")) {
      const char c = cur_.peek();
      if (c == ';' || c == '|' || c == ')' || c == ',' || is_control(c)) break;
      cur_.advance();
    }
    std::string_view token = cur_.slice(start);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (token.empty()) {
      return invalid("expected a value after '" + std::string(op.text) + "'", start);
    }
    // Unquoted values are numbers, date-times, booleans and URI-like words; a grammar character
    // inside one means the expression is broken (`a==(`, `a>>1`), not a string to compare.
    if (const auto bad = token.find_first_of("()<>=!~\"'"); bad != std::string_view::npos) {
      return invalid(std::string("unexpected '") + token[bad] +
                         "' in a value; quote strings as \"...\"",
                     start + bad);
    }
    return classify_unquoted(token);
  }

  // A "double-quoted string"; \" and \\ are escapes, any other backslash is kept as written
  // (so patterns like "\d+" need no doubling).
  base::Result<std::string> parse_quoted() {
    const std::size_t open = cur_.pos();
    cur_.advance();
    std::string out;
    while (!cur_.done()) {
      const char c = cur_.peek();
      if (c == '"') {
        cur_.advance();
        return out;
      }
      if (c == '\\' && (cur_.peek(1) == '"' || cur_.peek(1) == '\\')) {
        out += cur_.peek(1);
        cur_.advance(2);
        continue;
      }
      out += c;
      cur_.advance();
    }
    return invalid("unterminated string", open);
  }

  base::Result<void> parse_values(Term& term, const OpSpelling& op) {
    const std::size_t value_pos = cur_.pos();
    auto first = parse_literal(op);
    if (!first) return std::unexpected(first.error());
    term.values.push_back(std::move(*first));
    term.shape = Shape::kSingle;
    cur_.skip_spaces();
    const bool equality = term.op == Op::kEq || term.op == Op::kNe;
    if (cur_.starts_with("..")) {
      if (!equality) return invalid("a range is only allowed after == or !=");
      cur_.advance(2);
      auto high = parse_literal(op);
      if (!high) return std::unexpected(high.error());
      term.values.push_back(std::move(*high));
      term.shape = Shape::kRange;
      const auto kind = term.values.front().kind;
      if (!is_orderable(kind) || kind != term.values.back().kind) {
        return invalid("a range needs two numbers, strings, date-times or times", value_pos);
      }
    } else if (cur_.peek() == ',') {
      if (!equality) return invalid("a list of values is only allowed after == or !=");
      while (cur_.eat(',')) {
        auto next = parse_literal(op);
        if (!next) return std::unexpected(next.error());
        term.values.push_back(std::move(*next));
        cur_.skip_spaces();
      }
      term.shape = Shape::kList;
    } else if (!equality && !is_orderable(term.values.front().kind)) {
      return invalid("'" + std::string(op.text) + "' needs a number, string, date-time or time",
                     value_pos);
    }
    if (term.path.root == ast::Root::kType) {
      // Types are compared as IRIs; a type name is expanded like an attribute name later.
      for (auto& lit : term.values) {
        if (lit.kind != LiteralKind::kString) {
          return invalid("type compares with type names only", value_pos);
        }
      }
    }
    return {};
  }

  // An unquoted pattern runs to the first ';', '|' or unmatched ')' outside its own groups and
  // character classes, so `name~=(a|b)c` is one pattern; quote it when in doubt.
  std::string_view scan_unquoted_pattern() {
    const std::size_t start = cur_.pos();
    int depth = 0;
    bool in_class = false;
    while (!cur_.done()) {
      const char c = cur_.peek();
      if (c == '\\') {
        cur_.advance(2);
        continue;
      }
      if (in_class) {
        in_class = c != ']';
      } else if (c == '[') {
        in_class = true;
      } else if (c == '(') {
        ++depth;
      } else if (c == ')') {
        if (depth == 0) break;
        --depth;
      } else if ((c == ';' || c == '|') && depth == 0) {
        break;
      }
      cur_.advance();
    }
    return cur_.slice(start);
  }

  base::Result<void> parse_pattern(Term& term, const OpSpelling& op) {
    cur_.skip_spaces();
    const std::size_t start = cur_.pos();
    std::string pattern;
    if (cur_.peek() == '"') {
      auto quoted = parse_quoted();
      if (!quoted) return std::unexpected(quoted.error());
      pattern = std::move(*quoted);
    } else {
      pattern = std::string(scan_unquoted_pattern());
    }
    if (pattern.empty()) {
      return invalid("expected a regular expression after '" + std::string(op.text) + "'", start);
    }
    if (pattern.size() > kRegexLengthMax) {
      return base::fail(base::ErrorKind::kTooComplexQuery,
                        "q: regular expression at position " + std::to_string(start) +
                            " is longer than " + std::to_string(kRegexLengthMax) + " characters");
    }
    if (expanded_size(pattern) > kRegexExpandedMax) {
      return base::fail(base::ErrorKind::kTooComplexQuery,
                        "q: regular expression at position " + std::to_string(start) +
                            " is too complex (more than " + std::to_string(kRegexExpandedMax) +
                            " elements once repeats are counted)");
    }
    auto regex = compile_pattern(pattern, start);
    if (!regex) return std::unexpected(regex.error());
    term.regex = std::move(*regex);
    term.shape = Shape::kRegex;
    set_literal(term, pattern);
    return {};
  }

  // Compiled for the polynomial (Thompson) executor of libstdc++: its time is linear in the
  // subject and its recursion does not grow with the subject, unlike the default backtracking
  // one, which blows the stack on long strings. The price: no back-references. Search is
  // turned into a whole-subject match with `[\s\S]*` on both sides, because the polynomial
  // executor restarts at every position when searching (quadratic); `^` and `$` keep their
  // meaning since they only match at the ends of the subject.
  base::Result<std::shared_ptr<const std::regex>> compile_pattern(std::string_view pattern,
                                                                  std::size_t start) const {
    auto flags = std::regex::ECMAScript | std::regex::nosubs | std::regex_constants::__polynomial;
    constexpr std::string_view kCaseInsensitive = "(?i)";
    if (pattern.starts_with(kCaseInsensitive)) {
      pattern.remove_prefix(kCaseInsensitive.size());
      flags |= std::regex::icase;
    }
    try {
      std::regex alone{std::string(pattern), flags};  // validates that the groups balance
      std::string wrapped = "[\\s\\S]*(?:";
      wrapped += pattern;
      wrapped += ")[\\s\\S]*";
      return std::make_shared<const std::regex>(wrapped, flags);
    } catch (const std::regex_error& e) {
      const std::string why = e.code() == std::regex_constants::error_complexity
                                  ? "back-references are not supported"
                                  : e.what();
      return invalid("invalid regular expression (" + why + ")", start);
    } catch (const std::exception& e) {
      return invalid(std::string("invalid regular expression (") + e.what() + ")", start);
    }
  }

  std::string_view q_;
  text::Cursor cur_;
  std::string_view prefix_;
  std::size_t terms_ = 0;
  std::size_t values_ = 0;
};

}  // namespace

namespace detail {

base::Result<ast::Path> parse_path_only(std::string_view text, std::string_view prefix) {
  return QParser(text, prefix).parse_whole_path();
}

}  // namespace detail

base::Result<Filter> parse_q(std::string_view q) {
  std::string_view trimmed = q;
  while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\t')) {
    trimmed.remove_suffix(1);
  }
  if (trimmed.empty()) return base::fail(base::ErrorKind::kInvalidRequest, "q: empty query");
  auto root = QParser(q).parse();
  if (!root) return std::unexpected(root.error());
  return Filter(std::make_shared<Filter::Node>(std::move(*root)));
}

}  // namespace cityroom::query
