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
//
// orderBy (ETSI GS CIM 009 V1.9.1 clause 4.23, the Entity Ordering Language): `key[;dir]`
// joined by `,`, applied left to right; dir is asc (default), desc, dist-asc, dist-desc. A key
// is `id`, `type`, `scope`, `createdAt`, `modifiedAt` or an attribute path as in q (`temp`,
// `temp.observedAt`, `address[city]`, `a.sub`). Values rank by kind before value (4.23.2):
// numbers < strings < objects < arrays < booleans < times < dates < date-times < null <
// attribute absent; the direction reverses the order of values within a kind, never the kinds,
// so null and absent stay last in both directions. With dist-*, instances that are
// GeoProperties come first, by distance from the request's reference geometry; the others
// follow by value. Ties end with the entity id, ascending, so pages never overlap.
// Choices where the spec is silent (documented in docs/NGSI-LD.md): strings compare by code
// point, not ICU collation; a multi-instance attribute orders by its default instance, else by
// the instance with the smallest datasetId; `type` and `scope` by their first element (types as
// expanded IRIs); objects and arrays by their compact JSON text; date-times as instants.
#pragma once

#include <cstdint>
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

inline constexpr std::size_t kOrderKeysMax = 16;         // keys in one orderBy
inline constexpr std::size_t kOrderLengthMax = 2048;     // characters of one orderBy

class Ordering {  // a parsed orderBy
 public:
  // Kinds in the order 4.23.2 ranks them; kDistance (a GeoProperty under dist-*) comes first.
  enum class Rank : std::uint8_t {
    kDistance,
    kNumber,
    kString,
    kObject,
    kArray,
    kBoolean,
    kTime,
    kDate,
    kDateTime,
    kNull,
    kAbsent,
  };
  // One key of one entity: numbers, booleans, instants (UTC microseconds) and distances
  // (metres) in `number`; strings and the JSON text of objects and arrays in `text`.
  struct Value {
    Rank rank = Rank::kAbsent;
    double number = 0;
    std::string text;
  };
  // Everything an entity is ordered by, extracted once so that sorting does not re-read it.
  struct Key {
    std::vector<Value> values;
    std::string id;
  };
  struct Item;
  // Distance in metres from the reference geometry (orderFrom) to a GeoJSON geometry; nullopt
  // when it is not one. Needed only by dist-asc / dist-desc keys.
  using Distance = std::function<std::optional<double>(const json::value& geometry)>;

  explicit Ordering(std::shared_ptr<const std::vector<Item>> items) : items_(std::move(items)) {}
  // Maps attribute and sub-attribute names through `expand`, as Filter::expand_names does.
  void expand_names(const Expander& expand);
  void set_distance(Distance distance) { distance_ = std::move(distance); }
  bool uses_distance() const;

  Key key_of(const model::Entity& e) const;
  // The strict weak order of the keys (ties broken by id): true when `a` goes first.
  bool before(const Key& a, const Key& b) const;
  // Whether the order is exactly that of ids ascending (`orderBy=id`), the store's own order.
  bool is_id_order() const;
  // One key on the value of a top-level attribute, asc or desc: what a value index can serve.
  struct SingleAttribute {
    std::string attribute;
    bool descending = false;
  };
  std::optional<SingleAttribute> single_attribute() const;

 private:
  std::shared_ptr<const std::vector<Item>> items_;
  Distance distance_;
};

// Errors: InvalidRequest, "orderBy: ..." naming the offending term; TooComplexQuery past
// kOrderKeysMax or kOrderLengthMax.
base::Result<Ordering> parse_order_by(std::string_view expression);
// The same from a list of terms, one key each (the `ordering.orderBy` array of a Query body).
base::Result<Ordering> parse_order_by(const std::vector<std::string>& terms);

}  // namespace cityroom::query
