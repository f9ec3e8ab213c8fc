// What the sqlite store indexes of an entity, and the same facts evaluated on a parsed entity
// (so that every query plan, index-driven or a full scan, selects exactly the same entities).
//
// Index semantics (documented once, used by the writer and the query engine):
// - types: every string of the entity's "type" array.
// - attribute rows: one per top-level attribute instance. Its value is indexed when it is a JSON
//   number (as a double) or string: a Property's "value" or a Relationship's "object"; any other
//   value (object, array, boolean, LanguageProperty, GeoProperty, ...) is indexed as "other".
// - A condition (query::Filter::Condition) *may match* an entity when some instance of its
//   attribute is "other", or has an indexed value that compares true with the literal (numbers
//   numerically, strings bytewise). kExists: the attribute is present. Conditions the index
//   cannot decide (see `pushable`) are treated as always true here; the query's predicate is
//   the exact filter.
// - geo: the bounding box of each GeoProperty instance's GeoJSON geometry (all positions of
//   "coordinates", recursively; GeometryCollection members too), stored as the quadtree cell
//   containing it (geo_cells.h) in place of the "other" value. For conditions a cell counts as
//   "other": the index answers "other" with every BLOB value.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "geo/geo.h"
#include "json/json.h"
#include "model/model.h"
#include "query/query.h"
#include "store/sqlite/geo_cells.h"

namespace cityroom::store::sqlite {

// Attribute instance kinds as stored in attr_values.kind.
enum class Kind : int {
  kOther = 0,
  kProperty = 1,
  kRelationship = 2,
  kGeoProperty = 3,
  kLanguageProperty = 4,
  kVocabProperty = 5,
  kListProperty = 6,
  kListRelationship = 7,
  kJsonProperty = 8,
};
Kind kind_of(std::string_view attribute_type);
std::string_view kind_name(Kind kind);

// True for the members of an entity that are not attributes.
bool is_entity_member(std::string_view name);

struct AttrRow {
  std::string_view attr;
  Kind kind = Kind::kOther;
  const json::value* value = nullptr;  // a number or string, or null for "other"
  std::optional<CellId> cell;          // GeoProperty with a geometry
};

// The index rows of one entity; views into the entity, valid while it lives. Reused by the
// writer from put to put (clear keeps the capacity).
struct EntityRows {
  std::string_view id;
  std::vector<std::string_view> types;
  std::vector<AttrRow> attrs;
};

// The index attribute under which a GeoProperty's cell is also stored once per entity type, so
// that a geo query restricted to a type reads only that type's cells. Negative, so it never
// collides with an interned name id (those are positive).
constexpr std::int64_t typed_geo_attr(std::int64_t type, std::int64_t attr) {
  return -((type << 32) | attr);
}

// Fills `out` from `e`. BadRequestData when the entity has no string "id" or no type.
base::Result<void> collect_rows(const model::Entity& e, EntityRows& out);

// The indexed value of an instance: its number or string value, else nullptr ("other").
const json::value* indexed_value(const json::object& instance, Kind kind);

std::optional<geo::Box> bounding_box(const json::value& geometry);

// ---- the same facts on a parsed entity ----------------------------------------------------
bool has_any_type(const model::Entity& e, const std::vector<std::string>& types);
bool intersects(const geo::Box& a, const geo::Box& b);
bool geo_may_match(const model::Entity& e, std::string_view attr, const geo::Box& box);
// Whether the store can answer `c` from attr_values (else it is ignored as a hint).
bool pushable(const query::Filter::Condition& c);
bool condition_may_match(const model::Entity& e, const query::Filter::Condition& c);

}  // namespace cityroom::store::sqlite
