// orderBy: parsing of the Entity Ordering Language (ETSI GS CIM 009 V1.9.1 clause 4.23) and
// the ordering of entities by it. Each entity's key is extracted once (key_of) into plain
// numbers and strings, so that sorting a hundred thousand matches compares small values and
// never walks the entities again.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "query/ast.h"
#include "query/leaf.h"
#include "query/query.h"
#include "query/text.h"

namespace cityroom::query {

struct Ordering::Item {
  bool scope = false;  // the entity's "scope" member (not a q path root)
  ast::Path path;
  bool descending = false;
  bool distance = false;  // dist-asc / dist-desc
};

namespace {

using Rank = Ordering::Rank;
using Value = Ordering::Value;

constexpr std::string_view kPrefix = "orderBy: ";
constexpr std::string_view kCoreVocab = "https://uri.etsi.org/ngsi-ld/";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return text::ascii_lower(x) == text::ascii_lower(y);
         });
}

std::unexpected<base::Error> invalid(std::string detail) {
  return base::fail(base::ErrorKind::kInvalidRequest, std::string(kPrefix) + detail);
}

bool plain_value_path(const ast::Path& p) {
  return p.root == ast::Root::kAttribute && p.subs.empty() && p.keys.empty() &&
         (p.meta == ast::Meta::kNone || p.meta == ast::Meta::kValue);
}

base::Result<Ordering::Item> parse_term(std::string_view raw) {
  const std::string_view term = trim(raw);
  if (term.empty()) return invalid("empty term (a stray ',' or ';'?)");
  Ordering::Item item;
  std::string_view name = term;
  if (const auto semi = term.find(';'); semi != std::string_view::npos) {
    name = trim(term.substr(0, semi));
    const std::string_view dir = trim(term.substr(semi + 1));
    item.descending = iequals(dir, "desc") || iequals(dir, "dist-desc");
    item.distance = iequals(dir, "dist-asc") || iequals(dir, "dist-desc");
    if (!item.descending && !item.distance && !iequals(dir, "asc")) {
      return invalid("unknown direction '" + std::string(dir) + "' in '" + std::string(term) +
                     "'; use asc, desc, dist-asc or dist-desc");
    }
  }
  if (name.empty()) return invalid("missing attribute name in '" + std::string(term) + "'");
  if (name == model::key::kScope) {
    item.scope = true;
  } else {
    auto path = detail::parse_path_only(name, kPrefix);
    if (!path) return std::unexpected(path.error());
    item.path = std::move(*path);
  }
  if (item.distance && (item.scope || !plain_value_path(item.path))) {
    std::string detail = "'";
    detail.append(term).append(
        "': distance ordering applies to a GeoProperty attribute, not to a member or a path "
        "inside one");
    return invalid(std::move(detail));
  }
  return item;
}

std::unexpected<base::Error> too_many_keys() {
  return base::fail(base::ErrorKind::kTooComplexQuery,
                    std::string(kPrefix) + "more than " + std::to_string(kOrderKeysMax) + " keys");
}

base::Result<Ordering> build(std::vector<Ordering::Item> items) {
  if (items.empty()) return invalid("empty");
  return Ordering(std::make_shared<const std::vector<Ordering::Item>>(std::move(items)));
}

// ---- key extraction -------------------------------------------------------------------------

Value absent() { return Value{}; }

Value number(Rank rank, double n) {
  Value v;
  v.rank = rank;
  v.number = n;
  return v;
}

Value text_value(Rank rank, std::string s) {
  Value v;
  v.rank = rank;
  v.text = std::move(s);
  return v;
}

// A string that is an instant (createdAt, observedAt, ...) orders as a date-time when it parses.
Value instant_or_string(std::string_view s) {
  if (auto t = base::parse_iso8601(s)) return number(Rank::kDateTime, static_cast<double>(*t));
  return text_value(Rank::kString, std::string(s));
}

Value classify(const json::value& v, bool instant_strings);

// {"@type": "DateTime", "@value": "..."} and its Date and Time kin; other typed values order
// by their @value.
Value typed_value(const json::object& o, const json::value& inner) {
  std::string_view type = json::get_string(o, "@type").value_or("");
  if (type.starts_with(kCoreVocab)) type.remove_prefix(kCoreVocab.size());
  if (const auto* s = inner.if_string()) {
    if (type == "DateTime") {
      if (auto t = base::parse_iso8601(*s)) return number(Rank::kDateTime, static_cast<double>(*t));
    } else if (type == "Date") {
      if (auto t = base::parse_iso8601(*s, /*date_only_ok=*/true)) {
        return number(Rank::kDate, static_cast<double>(*t));
      }
    } else if (type == "Time") {
      if (auto t = text::parse_time_of_day(*s)) return number(Rank::kTime, static_cast<double>(*t));
    }
  }
  return classify(inner, false);
}

Value classify(const json::value& v, bool instant_strings) {
  switch (v.kind()) {
    case boost::json::kind::int64:
      return number(Rank::kNumber, static_cast<double>(v.get_int64()));
    case boost::json::kind::uint64:
      return number(Rank::kNumber, static_cast<double>(v.get_uint64()));
    case boost::json::kind::double_:
      return number(Rank::kNumber, v.get_double());
    case boost::json::kind::string:
      return instant_strings ? instant_or_string(v.get_string())
                             : text_value(Rank::kString, std::string(v.get_string()));
    case boost::json::kind::bool_:
      return number(Rank::kBoolean, v.get_bool() ? 1 : 0);
    case boost::json::kind::null:
      return Value{Rank::kNull, 0, {}};
    case boost::json::kind::object:
      if (const auto* inner = v.get_object().if_contains("@value")) {
        return typed_value(v.get_object(), *inner);
      }
      return text_value(Rank::kObject, json::serialize(v));
    case boost::json::kind::array:
      return text_value(Rank::kArray, json::serialize(v));
  }
  return absent();
}

// The first element of an array member ("type", "scope"), or the member itself.
Value first_of(const json::value* member) {
  if (member == nullptr) return absent();
  if (const auto* a = member->if_array()) {
    if (a->empty()) return absent();
    return classify(a->front(), false);
  }
  return classify(*member, false);
}

// The instance an attribute orders by: the default one, else the smallest datasetId.
const json::object* ordering_instance(const json::value& slot) {
  if (const auto* o = slot.if_object()) return o;
  const auto* list = slot.if_array();
  if (list == nullptr) return nullptr;
  const json::object* best = nullptr;
  std::string_view best_id;
  for (const auto& item : *list) {
    const auto* o = item.if_object();
    if (o == nullptr) continue;
    const auto ds = json::get_string(*o, model::key::kDatasetId);
    if (!ds) return o;
    if (best == nullptr || *ds < best_id) {
      best = o;
      best_id = *ds;
    }
  }
  return best;
}

bool is_instant_meta(ast::Meta m) {
  return m == ast::Meta::kObservedAt || m == ast::Meta::kCreatedAt ||
         m == ast::Meta::kModifiedAt;
}

Value attribute_value(const model::Entity& e, const Ordering::Item& item,
                      const Ordering::Distance& distance) {
  const auto* slot = e.if_contains(item.path.attribute);
  const json::object* instance = slot ? ordering_instance(*slot) : nullptr;
  if (instance == nullptr) return absent();
  if (item.distance && distance &&
      json::get_string(*instance, model::key::kType).value_or("") == "GeoProperty") {
    if (const auto* g = instance->if_contains(model::key::kValue)) {
      if (auto d = distance(*g)) return number(Rank::kDistance, *d);
    }
  }
  auto leaf = detail::resolve(*instance, item.path);
  if (!leaf) return absent();
  return classify(*leaf->value, is_instant_meta(item.path.meta));
}

Value value_of(const model::Entity& e, const Ordering::Item& item,
               const Ordering::Distance& distance) {
  if (item.scope) return first_of(e.if_contains(model::key::kScope));
  switch (item.path.root) {
    case ast::Root::kAttribute:
      return attribute_value(e, item, distance);
    case ast::Root::kType:
      return first_of(e.if_contains(model::key::kType));
    case ast::Root::kId:
      return first_of(e.if_contains(model::key::kId));
    case ast::Root::kCreatedAt:
    case ast::Root::kModifiedAt: {
      const auto* v = e.if_contains(detail::root_member(item.path.root));
      return v ? classify(*v, true) : absent();
    }
  }
  return absent();
}

// -1, 0, 1 in ascending order of kinds, then of values.
int compare(const Value& a, const Value& b) {
  if (a.rank != b.rank) return a.rank < b.rank ? -1 : 1;
  switch (a.rank) {
    case Rank::kString:
    case Rank::kObject:
    case Rank::kArray: {
      const int c = a.text.compare(b.text);
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case Rank::kNull:
    case Rank::kAbsent:
      return 0;
    default:
      return a.number < b.number ? -1 : (b.number < a.number ? 1 : 0);
  }
}

}  // namespace

base::Result<Ordering> parse_order_by(std::string_view expression) {
  if (expression.size() > kOrderLengthMax) {
    return base::fail(base::ErrorKind::kTooComplexQuery,
                      std::string(kPrefix) + "longer than " + std::to_string(kOrderLengthMax) +
                          " characters");
  }
  std::vector<Ordering::Item> items;
  std::size_t start = 0;
  for (;;) {
    const auto comma = expression.find(',', start);
    const auto end = comma == std::string_view::npos ? expression.size() : comma;
    if (items.size() == kOrderKeysMax) return too_many_keys();
    auto item = parse_term(expression.substr(start, end - start));
    if (!item) return std::unexpected(item.error());
    items.push_back(std::move(*item));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return build(std::move(items));
}

base::Result<Ordering> parse_order_by(const std::vector<std::string>& terms) {
  if (terms.size() > kOrderKeysMax) return too_many_keys();
  std::vector<Ordering::Item> items;
  for (const auto& t : terms) {
    if (t.size() > kOrderLengthMax || t.find(',') != std::string::npos) {
      return invalid("each element of orderBy is one key ('attr' or 'attr;desc')");
    }
    auto item = parse_term(t);
    if (!item) return std::unexpected(item.error());
    items.push_back(std::move(*item));
  }
  return build(std::move(items));
}

void Ordering::expand_names(const Expander& expand) {
  if (!expand || !items_) return;
  auto copy = std::make_shared<std::vector<Item>>(*items_);
  for (auto& item : *copy) {
    if (item.scope || item.path.root != ast::Root::kAttribute) continue;
    item.path.attribute = expand(item.path.attribute);
    for (auto& sub : item.path.subs) sub = expand(sub);
  }
  items_ = std::move(copy);
}

bool Ordering::uses_distance() const {
  return std::any_of(items_->begin(), items_->end(), [](const Item& i) { return i.distance; });
}

Ordering::Key Ordering::key_of(const model::Entity& e) const {
  Key key;
  key.values.reserve(items_->size());
  for (const auto& item : *items_) key.values.push_back(value_of(e, item, distance_));
  key.id = json::get_string(e, model::key::kId).value_or("");
  return key;
}

bool Ordering::before(const Key& a, const Key& b) const {
  const std::size_t n = std::min({items_->size(), a.values.size(), b.values.size()});
  for (std::size_t i = 0; i < n; ++i) {
    const Value& x = a.values[i];
    const Value& y = b.values[i];
    int c = compare(x, y);
    // The direction turns values around within their kind; kinds keep their places.
    if (c != 0 && x.rank == y.rank && (*items_)[i].descending) c = -c;
    if (c != 0) return c < 0;
  }
  return a.id < b.id;
}

bool Ordering::is_id_order() const {
  if (items_->size() != 1) return false;
  const Item& item = items_->front();
  return !item.scope && item.path.root == ast::Root::kId && !item.descending && !item.distance;
}

std::optional<Ordering::SingleAttribute> Ordering::single_attribute() const {
  if (items_->size() != 1) return std::nullopt;
  const Item& item = items_->front();
  if (item.scope || item.distance || !plain_value_path(item.path)) return std::nullopt;
  return SingleAttribute{item.path.attribute, item.descending};
}

}  // namespace cityroom::query
