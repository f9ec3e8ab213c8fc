// query: the NGSI-LD query languages — `q` (and `scopeQ`) and type selection — parsed once into
// an immutable AST, then evaluated against entities in model's internal form.
//
// q grammar (ETSI GS CIM 009 4.9): terms joined by `;` (AND) and `|` (OR), parentheses;
// a term is `path`, `!path` (existence), or `path op value` with op in == != > >= < <= ~= !~=.
// Values: numbers, "quoted strings", true/false, unquoted date-times (2024-01-02T00:00:00Z),
// ranges `1..5`, lists `1,2,3` / `"a","b"`, for ~= a regular expression (ECMAScript).
// Paths: `attr`, `attr.sub` (a sub-attribute; the last segment may also be observedAt,
// unitCode, datasetId, createdAt, modifiedAt), `attr[key]`, `attr[a.b]` (into the JSON value),
// `attr.sub[key]`. On an attribute with several instances (datasetIds) a term matches if any
// instance does. A Relationship compares its object; a LanguageProperty any of its strings; a
// ListProperty any element. Comparisons between incompatible kinds are false, never errors.
// `scopeQ`: `/a/b`, `/a/b/#` (descendants), `/a/+` (children), joined by `;`, `|`, `,`.
// Type selection: `A,B` (any), `A|B`, `A;B` (all), parentheses.
//
// Names in a parsed query are terms until `expand_names` maps them through the request's
// @context (the query module does not know JSON-LD). Thread-safe once built.
//
// Semantics and leniencies, beyond the spec's letter:
// - Numbers compare numerically (int and decimal alike), strings byte-wise, booleans and
//   `null` with == and != only. An unquoted value that is not true/false/null, a number, a
//   date-time/date or a time is taken as a string (URIs, `status==open`); quoted values are
//   always strings (`observedAt=="2024-..."` compares text, `observedAt>2024-...` instants).
//   Unquoted date-times compare as instants with strings and {"@value": ...} objects.
// - Arrays (also Relationship objects, ListProperty, a LanguageProperty's strings): == and
//   ordering match if any element does; != and !~= mean no element does. A term on an absent
//   attribute is false (only `!attr` is true); != between incompatible kinds is false too.
// - Paths: a last segment observedAt/unitCode/datasetId/createdAt/modifiedAt reads that member,
//   `value`/`object` the value itself; `id`, `type`, `createdAt`, `modifiedAt` alone name the
//   entity's own members (a `type` value is expanded like a name). An attribute written as an
//   absolute IRI (`https://x.org/a.b`) keeps its dots: no sub-attributes after it.
// - Patterns: ECMAScript, searched anywhere in the value (anchor with ^ $); `(?i)` in front
//   makes them case-insensitive. No back-references (the engine runs in linear time); an
//   unquoted pattern ends at `;`, `|` or `)` outside its own groups — quote it otherwise.
//   Values longer than 4096 characters are not tested against patterns.
// - Spaces around tokens are ignored; parentheses nest up to kQueryNestingMax.
// Error details give 0-based byte positions into the expression.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "json/json.h"
#include "model/model.h"

namespace cityroom::query {

inline constexpr std::size_t kQueryLengthMax = 8192;   // characters of one q
inline constexpr std::size_t kQueryTermsMax = 256;     // terms, else TooComplexQuery
inline constexpr std::size_t kQueryNestingMax = 32;    // parentheses depth

using Expander = std::function<std::string(std::string_view term)>;

class Filter {  // a parsed q
 public:
  struct Node;
  explicit Filter(std::shared_ptr<Node> root) : root_(std::move(root)) {}
  // Maps attribute and sub-attribute names (not [value keys]) through `expand`.
  void expand_names(const Expander& expand);
  bool matches(const model::Entity& e) const;
  // Attribute IRIs the filter reads (for projections and subscriptions' watchedAttributes).
  std::vector<std::string> attributes() const;
  // Conditions every match must satisfy, for index push-down by the store: only top-level
  // attribute terms under AND. Each is attr IRI + comparison on a number or string.
  struct Condition {
    std::string attribute;
    enum class Op { kEq, kLt, kLe, kGt, kGe, kExists } op;
    json::value literal;  // number or string (empty for kExists)
  };
  std::vector<Condition> necessary_conditions() const;
  const Node& root() const { return *root_; }

 private:
  std::shared_ptr<Node> root_;
};

// Errors: InvalidRequest with a detail pointing at the offending character ("q: unexpected ')'
// at position 12"), TooComplexQuery past the limits.
base::Result<Filter> parse_q(std::string_view q);

class ScopeFilter {
 public:
  struct Node;
  explicit ScopeFilter(std::shared_ptr<Node> root) : root_(std::move(root)) {}
  bool matches(const model::Entity& e) const;

 private:
  std::shared_ptr<Node> root_;
};
base::Result<ScopeFilter> parse_scope_q(std::string_view q);

class TypeFilter {
 public:
  struct Node;
  explicit TypeFilter(std::shared_ptr<Node> root) : root_(std::move(root)) {}
  void expand_names(const Expander& expand);
  bool matches(const std::vector<std::string>& entity_type_iris) const;
  bool matches(const model::Entity& e) const;
  // When the expression is a plain list of alternatives (A,B or A|B), those types (for index
  // push-down); nullopt when it needs AND.
  std::optional<std::vector<std::string>> any_of() const;
  // Every type named in the expression.
  std::vector<std::string> names() const;

 private:
  std::shared_ptr<Node> root_;
};
base::Result<TypeFilter> parse_types(std::string_view expression);

}  // namespace cityroom::query
