// query/ast.h (private to the query module): the parsed forms of q, scopeQ and type
// expressions. Everything a filter evaluates against is decided here at parse time — numbers
// and instants are already converted, regular expressions already compiled — so that
// evaluation over a million entities only walks this tree and the entity, without allocating.
#pragma once

#include <cstdint>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "base/base.h"
#include "query/query.h"

namespace cityroom::query::ast {

enum class Op : std::uint8_t {
  kExists,     // `attr`
  kNotExists,  // `!attr`
  kEq,         // ==  (single value, list = any of, range = inside)
  kNe,         // !=  (single value, list = none of, range = outside)
  kGt,
  kGe,
  kLt,
  kLe,
  kMatch,    // ~=
  kNoMatch,  // !~=
};

// What the first segment of a path names. Only kAttribute reads an attribute; the others are
// the entity's own members, accepted leniently (`id==urn:x`, `type==Building`).
enum class Root : std::uint8_t { kAttribute, kId, kType, kCreatedAt, kModifiedAt };

// A member of an attribute instance named as the last dotted segment (`temp.observedAt`).
// kValue (`temp.value`, `rel.object`) is the instance's value member, as when no segment is
// given.
enum class Meta : std::uint8_t {
  kNone,
  kValue,
  kObservedAt,
  kUnitCode,
  kDatasetId,
  kCreatedAt,
  kModifiedAt,
};

struct Path {
  Root root = Root::kAttribute;
  std::string attribute;          // term as written, IRI after expand_names
  std::vector<std::string> subs;  // sub-attribute names (expanded like attribute)
  Meta meta = Meta::kNone;
  std::vector<std::string> keys;  // `[a.b]` / `[a][b]`: keys into the JSON value, literal
};

enum class LiteralKind : std::uint8_t {
  kNumber,
  kString,
  kBool,
  kNull,
  kInstant,  // an unquoted date-time or date, as UTC microseconds
  kTime,     // an unquoted time of day, microseconds since midnight UTC
};

struct Literal {
  LiteralKind kind = LiteralKind::kString;
  bool is_int = false;   // kNumber written without fraction/exponent and fits in int64
  bool boolean = false;  // kBool
  std::int64_t integer = 0;
  double number = 0;        // kNumber (also set when is_int)
  base::Micros micros = 0;  // kInstant, kTime
  std::string text;         // kString
};

enum class Shape : std::uint8_t { kNone, kSingle, kRange, kList, kRegex };

struct Term {
  Path path;
  Op op = Op::kExists;
  Shape shape = Shape::kNone;
  std::vector<Literal> values;              // kSingle: 1, kRange: 2 (low, high), kList: n
  std::shared_ptr<const std::regex> regex;  // kRegex; immutable, shared by copies
  // kRegex whose pattern is plain text (`name~=park`): searched for directly, which is far
  // cheaper than running the regex engine. `needle` is lower-case when `icase`.
  bool literal = false;
  bool icase = false;
  std::string needle;
};

enum class NodeKind : std::uint8_t { kAnd, kOr, kLeaf };

}  // namespace cityroom::query::ast

namespace cityroom::query {

struct Filter::Node {
  ast::NodeKind kind = ast::NodeKind::kLeaf;
  std::vector<Node> children;  // kAnd, kOr: two or more, never of the same kind (flattened)
  ast::Term term;              // kLeaf
};

// A scope pattern is its levels; "+" stands for any one level and "#" (last only) for any
// number of levels, including none.
struct ScopeFilter::Node {
  ast::NodeKind kind = ast::NodeKind::kLeaf;
  std::vector<Node> children;
  std::vector<std::string> levels;
};

struct TypeFilter::Node {
  ast::NodeKind kind = ast::NodeKind::kLeaf;
  std::vector<Node> children;
  std::string name;  // term as written, IRI after expand_names
};

}  // namespace cityroom::query
