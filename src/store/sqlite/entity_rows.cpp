#include "store/sqlite/entity_rows.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace cityroom::store::sqlite {

namespace {

constexpr std::array<std::string_view, 9> kKindNames = {"",
                                                        "Property",
                                                        "Relationship",
                                                        "GeoProperty",
                                                        "LanguageProperty",
                                                        "VocabProperty",
                                                        "ListProperty",
                                                        "ListRelationship",
                                                        "JsonProperty"};

constexpr std::size_t kGeometryDepthMax = 8;  // MultiPolygon needs 4; GeometryCollection adds

// Extends `box` with every position under `coords`; false when a position is malformed.
bool extend(const json::value& coords, geo::Box& box, bool& any, std::size_t depth) {
  if (depth > kGeometryDepthMax || !coords.is_array()) return false;
  const json::array& a = coords.get_array();
  if (a.size() >= 2 && a[0].is_number() && a[1].is_number()) {
    const double lon = a[0].to_number<double>();
    const double lat = a[1].to_number<double>();
    if (!std::isfinite(lon) || !std::isfinite(lat)) return false;
    if (!any) box = geo::Box{lon, lat, lon, lat};
    box.min_lon = std::min(box.min_lon, lon);
    box.max_lon = std::max(box.max_lon, lon);
    box.min_lat = std::min(box.min_lat, lat);
    box.max_lat = std::max(box.max_lat, lat);
    any = true;
    return true;
  }
  for (const json::value& child : a) {
    if (!extend(child, box, any, depth + 1)) return false;
  }
  return true;
}

bool extend_geometry(const json::value& g, geo::Box& box, bool& any, std::size_t depth) {
  if (depth > kGeometryDepthMax || !g.is_object()) return false;
  const json::object& o = g.get_object();
  if (const json::value* members = o.if_contains("geometries"); members && members->is_array()) {
    for (const json::value& m : members->get_array()) {
      if (!extend_geometry(m, box, any, depth + 1)) return false;
    }
    return true;
  }
  const json::value* coords = o.if_contains("coordinates");
  return coords && extend(*coords, box, any, depth);
}

double number(const json::value& v) {
  return v.to_number<double>();
}

// Compares an indexed value with a literal of the same JSON kind as SQLite does; nullopt when
// the kinds differ (never equal, never ordered).
std::optional<int> compare(const json::value& value, const json::value& literal) {
  if (value.is_number() && literal.is_number()) {
    const double a = number(value), b = number(literal);
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  if (value.is_string() && literal.is_string()) {
    const int c = std::string_view(value.get_string()).compare(literal.get_string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return std::nullopt;
}

bool satisfies(const json::value& value, const query::Filter::Condition& c) {
  using Op = query::Filter::Condition::Op;
  const std::optional<int> cmp = compare(value, c.literal);
  if (!cmp) return false;
  switch (c.op) {
    case Op::kEq:
      return *cmp == 0;
    case Op::kLt:
      return *cmp < 0;
    case Op::kLe:
      return *cmp <= 0;
    case Op::kGt:
      return *cmp > 0;
    case Op::kGe:
      return *cmp >= 0;
    case Op::kExists:
      return true;
  }
  return false;
}

const json::array* instances(const model::Entity& e, std::string_view attr) {
  const json::value* v = e.if_contains(attr);
  return v && v->is_array() ? &v->get_array() : nullptr;
}

Kind instance_kind(const json::object& instance) {
  const json::value* t = instance.if_contains(model::key::kType);
  return t && t->is_string() ? kind_of(t->get_string()) : Kind::kOther;
}

void collect_types(const json::value& t, EntityRows& out) {
  if (t.is_string()) out.types.push_back(t.get_string());
  if (!t.is_array()) return;
  for (const json::value& one : t.get_array()) {
    if (one.is_string()) out.types.push_back(one.get_string());
  }
}

void collect_attribute(std::string_view name, const json::array& list, EntityRows& out) {
  for (const json::value& item : list) {
    if (!item.is_object()) continue;
    const json::object& instance = item.get_object();
    const Kind kind = instance_kind(instance);
    AttrRow row{name, kind, indexed_value(instance, kind), std::nullopt};
    if (kind == Kind::kGeoProperty) {
      if (const json::value* g = instance.if_contains(model::key::kValue)) {
        if (auto box = bounding_box(*g)) row.cell = cell_of(*box);
      }
    }
    out.attrs.push_back(row);
  }
}

}  // namespace

Kind kind_of(std::string_view attribute_type) {
  for (std::size_t i = 1; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == attribute_type) return static_cast<Kind>(i);
  }
  return Kind::kOther;
}

std::string_view kind_name(Kind kind) {
  const auto i = static_cast<std::size_t>(kind);
  return i < kKindNames.size() ? kKindNames[i] : std::string_view();
}

bool is_entity_member(std::string_view name) {
  return name == model::key::kId || name == model::key::kType || name == model::key::kScope ||
         name == model::key::kCreatedAt || name == model::key::kModifiedAt ||
         name == model::key::kContext;
}

const json::value* indexed_value(const json::object& instance, Kind kind) {
  std::string_view member;
  if (kind == Kind::kProperty)
    member = model::key::kValue;
  else if (kind == Kind::kRelationship)
    member = model::key::kObject;
  else
    return nullptr;
  const json::value* v = instance.if_contains(member);
  if (!v || !(v->is_number() || v->is_string())) return nullptr;
  return v;
}

std::optional<geo::Box> bounding_box(const json::value& geometry) {
  geo::Box box;
  bool any = false;
  if (!extend_geometry(geometry, box, any, 0) || !any) return std::nullopt;
  return box;
}

base::Result<void> collect_rows(const model::Entity& e, EntityRows& out) {
  out.types.clear();
  out.attrs.clear();
  const json::value* id = e.if_contains(model::key::kId);
  if (!id || !id->is_string() || id->get_string().empty()) {
    return base::fail(base::ErrorKind::kBadRequestData, "entity has no \"id\" string");
  }
  out.id = id->get_string();
  if (const json::value* t = e.if_contains(model::key::kType)) collect_types(*t, out);
  if (out.types.empty()) {
    return base::fail(base::ErrorKind::kBadRequestData,
                      fmt::format("entity {} has no type", out.id));
  }
  for (const auto& member : e) {
    if (is_entity_member(member.key()) || !member.value().is_array()) continue;
    collect_attribute(member.key(), member.value().get_array(), out);
  }
  return {};
}

bool has_any_type(const model::Entity& e, const std::vector<std::string>& types) {
  const json::value* t = e.if_contains(model::key::kType);
  if (!t) return false;
  auto named = [&](const json::value& v) {
    return v.is_string() &&
           std::find(types.begin(), types.end(), std::string_view(v.get_string())) != types.end();
  };
  if (t->is_string()) return named(*t);
  if (!t->is_array()) return false;
  return std::any_of(t->get_array().begin(), t->get_array().end(), named);
}

bool intersects(const geo::Box& a, const geo::Box& b) {
  return a.min_lon <= b.max_lon && a.max_lon >= b.min_lon && a.min_lat <= b.max_lat &&
         a.max_lat >= b.min_lat;
}

bool geo_may_match(const model::Entity& e, std::string_view attr, const geo::Box& box) {
  const json::array* list = instances(e, attr);
  if (!list) return false;
  for (const json::value& item : *list) {
    if (!item.is_object() || instance_kind(item.get_object()) != Kind::kGeoProperty) continue;
    const json::value* g = item.get_object().if_contains(model::key::kValue);
    if (!g) continue;
    if (auto b = bounding_box(*g); b && intersects(*b, box)) return true;
  }
  return false;
}

bool pushable(const query::Filter::Condition& c) {
  using Op = query::Filter::Condition::Op;
  if (c.op == Op::kExists) return true;
  if (c.literal.is_number()) return true;
  // Strings only for equality, and not date-times: q may compare those as instants, which
  // bytewise equality cannot decide.
  return c.op == Op::kEq && c.literal.is_string() &&
         !base::parse_iso8601(c.literal.get_string(), true);
}

bool condition_may_match(const model::Entity& e, const query::Filter::Condition& c) {
  if (!pushable(c)) return true;
  const json::array* list = instances(e, c.attribute);
  if (!list) return false;
  for (const json::value& item : *list) {
    if (!item.is_object()) continue;
    if (c.op == query::Filter::Condition::Op::kExists) return true;
    const json::value* v = indexed_value(item.get_object(), instance_kind(item.get_object()));
    if (!v || satisfies(*v, c)) return true;
  }
  return false;
}

}  // namespace cityroom::store::sqlite
