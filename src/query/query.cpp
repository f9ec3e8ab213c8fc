// Evaluation of a parsed q against an entity in the internal form (model.h), and what the
// store and subscriptions learn from a filter (attributes read, necessary conditions).
//
// Evaluation reads the entity in place: attribute lookups are hash lookups in the entity
// object, instants are parsed from the entity's strings without allocating, and literals were
// converted when the query was parsed.
#include "query/query.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <regex>
#include <string>

#include "query/ast.h"
#include "query/leaf.h"
#include "query/text.h"

namespace cityroom::query {
namespace {

using ast::Literal;
using ast::LiteralKind;
using ast::Op;
using ast::Shape;
using ast::Term;
using Node = Filter::Node;

// Longer strings never match a pattern (nor count for !~=): bounds the regex work per value.
constexpr std::size_t kRegexSubjectMax = 4096;
constexpr std::string_view kAtValue = "@value";

// A comparison result: -1, 0, 1, or kIncomparable when the kinds differ.
constexpr int kIncomparable = 2;

template <class T>
int sign(T a, T b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

using detail::Leaf;
using detail::LeafKind;

// Typed values ({"@type": "DateTime", "@value": "..."}) compare by their @value.
const json::value& unwrap(const json::value& v) {
  if (const auto* o = v.if_object()) {
    if (const auto* inner = o->if_contains(kAtValue)) return *inner;
  }
  return v;
}

int compare_number(const json::value& v, const Literal& lit) {
  switch (v.kind()) {
    case boost::json::kind::int64:
      return lit.is_int ? sign(v.get_int64(), lit.integer)
                        : sign(static_cast<double>(v.get_int64()), lit.number);
    case boost::json::kind::uint64:
      if (lit.is_int) {
        return lit.integer < 0 ? 1 : sign(v.get_uint64(), static_cast<std::uint64_t>(lit.integer));
      }
      return sign(static_cast<double>(v.get_uint64()), lit.number);
    case boost::json::kind::double_:
      return std::isnan(v.get_double()) ? kIncomparable : sign(v.get_double(), lit.number);
    default:
      return kIncomparable;
  }
}

int compare(const json::value& raw, const Literal& lit) {
  const json::value& v = unwrap(raw);
  switch (lit.kind) {
    case LiteralKind::kNumber:
      return compare_number(v, lit);
    case LiteralKind::kString:
      if (const auto* s = v.if_string()) {
        return sign(std::string_view(*s).compare(lit.text), 0);
      }
      return kIncomparable;
    case LiteralKind::kBool:
      if (!v.is_bool()) return kIncomparable;
      return v.get_bool() == lit.boolean ? 0 : 1;  // only == and != reach booleans
    case LiteralKind::kNull:
      return v.is_null() ? 0 : 1;
    case LiteralKind::kInstant:
      if (const auto* s = v.if_string()) {
        if (auto t = base::parse_iso8601(*s, /*date_only_ok=*/true)) return sign(*t, lit.micros);
      }
      return kIncomparable;
    case LiteralKind::kTime:
      if (const auto* s = v.if_string()) {
        if (auto t = text::parse_time_of_day(*s)) return sign(*t, lit.micros);
      }
      return kIncomparable;
  }
  return kIncomparable;
}

// For == and !=: 1 when v equals (is in) the term's value, 0 when not, -1 when incomparable.
int equality(const json::value& v, const Term& t) {
  switch (t.shape) {
    case Shape::kSingle: {
      const int c = compare(v, t.values.front());
      return c == kIncomparable ? -1 : (c == 0 ? 1 : 0);
    }
    case Shape::kRange: {
      const int low = compare(v, t.values.front());
      const int high = compare(v, t.values.back());
      if (low == kIncomparable || high == kIncomparable) return -1;
      return low >= 0 && high <= 0 ? 1 : 0;
    }
    case Shape::kList: {
      int state = -1;
      for (const auto& lit : t.values) {
        const int c = compare(v, lit);
        if (c == 0) return 1;
        if (c != kIncomparable) state = 0;
      }
      return state;
    }
    default:
      return -1;
  }
}

bool ordered(const json::value& v, const Term& t) {
  const int c = compare(v, t.values.front());
  if (c == kIncomparable) return false;
  switch (t.op) {
    case Op::kGt:
      return c > 0;
    case Op::kGe:
      return c >= 0;
    case Op::kLt:
      return c < 0;
    case Op::kLe:
      return c <= 0;
    default:
      return false;
  }
}

// 1 match, 0 no match, -1 not a string (or too long to try).
bool contains_ascii_icase(std::string_view haystack, std::string_view lower_needle) {
  if (lower_needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + lower_needle.size() <= haystack.size(); ++i) {
    std::size_t k = 0;
    while (k < lower_needle.size() && text::ascii_lower(haystack[i + k]) == lower_needle[k]) ++k;
    if (k == lower_needle.size()) return true;
  }
  return false;
}

int pattern(const json::value& raw, const Term& t) {
  const auto* s = unwrap(raw).if_string();
  if (s == nullptr || s->size() > kRegexSubjectMax) return -1;
  if (t.literal) {
    const std::string_view subject(*s);
    return (t.icase ? contains_ascii_icase(subject, t.needle)
                    : subject.find(t.needle) != std::string_view::npos)
               ? 1
               : 0;
  }
  try {
    return std::regex_match(s->data(), s->data() + s->size(), *t.regex) ? 1 : 0;
  } catch (const std::exception&) {
    return -1;  // resource limits inside the regex engine: treat as "cannot tell"
  }
}

template <class F>
bool any_of_array(const json::value& v, F& f) {
  if (const auto* a = v.if_array()) {
    for (const auto& e : *a) {
      if (f(e)) return true;
    }
    return false;
  }
  return f(v);
}

// Calls f on each element of the leaf's value until it returns true.
template <class F>
bool any_element(const Leaf& leaf, F&& f) {
  const json::value& v = *leaf.value;
  switch (leaf.kind) {
    case LeafKind::kPlain:
      return any_of_array(v, f);
    case LeafKind::kLanguageMap:
      if (const auto* map = v.if_object()) {
        for (const auto& entry : *map) {
          if (any_of_array(entry.value(), f)) return true;
        }
      }
      return false;
    case LeafKind::kObjectList:
      if (const auto* list = v.if_array()) {
        for (const auto& e : *list) {
          const auto* o = e.if_object();
          const auto* object = o ? o->if_contains(model::key::kObject) : nullptr;
          if (object && any_of_array(*object, f)) return true;
        }
      }
      return false;
  }
  return false;
}

bool test(const Term& t, const Leaf& leaf) {
  switch (t.op) {
    case Op::kEq:
      return any_element(leaf, [&](const json::value& v) { return equality(v, t) == 1; });
    case Op::kNe: {
      bool comparable = false;
      const bool equal = any_element(leaf, [&](const json::value& v) {
        const int state = equality(v, t);
        comparable = comparable || state >= 0;
        return state == 1;
      });
      return comparable && !equal;
    }
    case Op::kGt:
    case Op::kGe:
    case Op::kLt:
    case Op::kLe:
      return any_element(leaf, [&](const json::value& v) { return ordered(v, t); });
    case Op::kMatch:
      return any_element(leaf, [&](const json::value& v) { return pattern(v, t) == 1; });
    case Op::kNoMatch: {
      bool tried = false;
      const bool matched = any_element(leaf, [&](const json::value& v) {
        const int state = pattern(v, t);
        tried = tried || state >= 0;
        return state == 1;
      });
      return tried && !matched;
    }
    default:
      return false;
  }
}

}  // namespace

namespace detail {

std::optional<Leaf> value_leaf(const json::object& instance) {
  namespace k = model::key;
  const auto type = json::get_string(instance, k::kType).value_or("");
  std::string_view member = k::kValue;
  LeafKind kind = LeafKind::kPlain;
  if (type == "Relationship") {
    member = k::kObject;
  } else if (type == "LanguageProperty") {
    member = k::kLanguageMap;
    kind = LeafKind::kLanguageMap;
  } else if (type == "VocabProperty") {
    member = k::kVocab;
  } else if (type == "ListProperty") {
    member = k::kValueList;
  } else if (type == "ListRelationship") {
    member = k::kObjectList;
    kind = LeafKind::kObjectList;
  } else if (type == "JsonProperty") {
    member = k::kJson;
  }
  const json::value* v = instance.if_contains(member);
  if (v == nullptr && type.empty()) v = instance.if_contains(k::kObject);
  if (v == nullptr) return std::nullopt;
  return Leaf{v, kind};
}

namespace {

std::string_view meta_member(ast::Meta meta) {
  switch (meta) {
    case ast::Meta::kObservedAt:
      return model::key::kObservedAt;
    case ast::Meta::kUnitCode:
      return model::key::kUnitCode;
    case ast::Meta::kDatasetId:
      return model::key::kDatasetId;
    case ast::Meta::kCreatedAt:
      return model::key::kCreatedAt;
    case ast::Meta::kModifiedAt:
      return model::key::kModifiedAt;
    default:
      return {};
  }
}

}  // namespace

std::optional<Leaf> resolve(const json::object& instance, const ast::Path& path) {
  const json::object* at = &instance;
  for (const auto& sub : path.subs) {
    const json::value* next = at->if_contains(sub);
    if (next == nullptr) return std::nullopt;
    if (const auto* list = next->if_array(); list && !list->empty()) next = &list->front();
    at = next->if_object();
    if (at == nullptr) return std::nullopt;
  }
  std::optional<Leaf> leaf;
  if (path.meta == ast::Meta::kNone || path.meta == ast::Meta::kValue) {
    leaf = value_leaf(*at);
  } else if (const json::value* v = at->if_contains(meta_member(path.meta))) {
    leaf = Leaf{v, LeafKind::kPlain};
  }
  for (const auto& key : path.keys) {
    if (!leaf) break;
    const auto* o = leaf->value->if_object();
    const json::value* v = o ? o->if_contains(key) : nullptr;
    if (v == nullptr) return std::nullopt;
    leaf = Leaf{v, LeafKind::kPlain};
  }
  return leaf;
}

std::string_view root_member(ast::Root root) {
  switch (root) {
    case ast::Root::kId:
      return model::key::kId;
    case ast::Root::kType:
      return model::key::kType;
    case ast::Root::kCreatedAt:
      return model::key::kCreatedAt;
    case ast::Root::kModifiedAt:
      return model::key::kModifiedAt;
    default:
      return {};
  }
}

}  // namespace detail

namespace {

using detail::resolve;
using detail::root_member;

// Calls f on what the path names in each instance of the attribute, until it returns true.
template <class F>
bool any_leaf(const json::object& e, const ast::Path& path, F&& f) {
  if (path.root != ast::Root::kAttribute) {
    const json::value* v = e.if_contains(root_member(path.root));
    return v != nullptr && f(Leaf{v, LeafKind::kPlain});
  }
  const json::value* attribute = e.if_contains(path.attribute);
  if (attribute == nullptr) return false;
  auto one = [&](const json::value& instance) {
    const auto* o = instance.if_object();
    if (o == nullptr) return false;
    auto leaf = resolve(*o, path);
    return leaf && f(*leaf);
  };
  return any_of_array(*attribute, one);
}

bool is_plain_attribute(const ast::Path& path) {
  return path.root == ast::Root::kAttribute && path.subs.empty() && path.keys.empty() &&
         path.meta == ast::Meta::kNone;
}

bool exists(const json::object& e, const ast::Path& path) {
  if (is_plain_attribute(path)) {
    const json::value* attribute = e.if_contains(path.attribute);
    if (attribute == nullptr) return false;
    const auto* instances = attribute->if_array();
    return instances == nullptr || !instances->empty();
  }
  return any_leaf(e, path, [](const Leaf&) { return true; });
}

bool eval_term(const Term& t, const json::object& e) {
  switch (t.op) {
    case Op::kExists:
      return exists(e, t.path);
    case Op::kNotExists:
      return !exists(e, t.path);
    default:
      return any_leaf(e, t.path, [&](const Leaf& leaf) { return test(t, leaf); });
  }
}

bool eval(const Node& n, const json::object& e) {
  switch (n.kind) {
    case ast::NodeKind::kAnd:
      for (const auto& child : n.children) {
        if (!eval(child, e)) return false;
      }
      return true;
    case ast::NodeKind::kOr:
      for (const auto& child : n.children) {
        if (eval(child, e)) return true;
      }
      return false;
    case ast::NodeKind::kLeaf:
      return eval_term(n.term, e);
  }
  return false;
}

void expand_node(Node& n, const Expander& expand) {
  for (auto& child : n.children) expand_node(child, expand);
  if (n.kind != ast::NodeKind::kLeaf) return;
  auto& path = n.term.path;
  if (path.root == ast::Root::kAttribute) {
    path.attribute = expand(path.attribute);
    for (auto& sub : path.subs) sub = expand(sub);
  } else if (path.root == ast::Root::kType) {
    for (auto& lit : n.term.values) lit.text = expand(lit.text);
  }
}

void collect_attributes(const Node& n, std::vector<std::string>& out) {
  for (const auto& child : n.children) collect_attributes(child, out);
  if (n.kind != ast::NodeKind::kLeaf || n.term.path.root != ast::Root::kAttribute) return;
  const auto& name = n.term.path.attribute;
  if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
}

json::value literal_json(const Literal& lit) {
  if (lit.kind == LiteralKind::kString) return json::value(lit.text);
  if (lit.is_int) return json::value(lit.integer);
  return json::value(lit.number);
}

bool pushable(const Literal& lit) {
  return lit.kind == LiteralKind::kNumber || lit.kind == LiteralKind::kString;
}

// What one top-level term requires of every match.
void conditions_of(const Term& t, std::vector<Filter::Condition>& out) {
  using C = Filter::Condition;
  if (t.path.root != ast::Root::kAttribute || t.op == Op::kNotExists) return;
  const auto& name = t.path.attribute;
  const bool on_value = t.path.subs.empty() && t.path.keys.empty() &&
                        (t.path.meta == ast::Meta::kNone || t.path.meta == ast::Meta::kValue);
  const std::size_t before = out.size();
  if (on_value && t.op != Op::kExists) {
    const auto& values = t.values;
    if (t.shape == Shape::kSingle && pushable(values.front())) {
      std::optional<C::Op> op;
      switch (t.op) {
        case Op::kEq:
          op = C::Op::kEq;
          break;
        case Op::kGt:
          op = C::Op::kGt;
          break;
        case Op::kGe:
          op = C::Op::kGe;
          break;
        case Op::kLt:
          op = C::Op::kLt;
          break;
        case Op::kLe:
          op = C::Op::kLe;
          break;
        default:
          break;
      }
      if (op) out.push_back(C{name, *op, literal_json(values.front())});
    } else if (t.shape == Shape::kRange && t.op == Op::kEq && pushable(values.front())) {
      out.push_back(C{name, C::Op::kGe, literal_json(values.front())});
      out.push_back(C{name, C::Op::kLe, literal_json(values.back())});
    }
  }
  // Every other term on an attribute (comparison or existence) needs the attribute present.
  if (out.size() == before) out.push_back(C{name, C::Op::kExists, json::value()});
}

}  // namespace

void Filter::expand_names(const Expander& expand) {
  if (!expand || !root_) return;
  // Copies first: a Filter may share its tree with copies made before expansion.
  auto copy = std::make_shared<Node>(*root_);
  expand_node(*copy, expand);
  root_ = std::move(copy);
}

bool Filter::matches(const model::Entity& e) const {
  return root_ && eval(*root_, e);
}

std::vector<std::string> Filter::attributes() const {
  std::vector<std::string> out;
  if (root_) collect_attributes(*root_, out);
  return out;
}

std::vector<Filter::Condition> Filter::necessary_conditions() const {
  std::vector<Condition> out;
  if (!root_) return out;
  if (root_->kind == ast::NodeKind::kLeaf) {
    conditions_of(root_->term, out);
  } else if (root_->kind == ast::NodeKind::kAnd) {
    for (const auto& child : root_->children) {
      if (child.kind == ast::NodeKind::kLeaf) conditions_of(child.term, out);
    }
  }
  return out;
}

}  // namespace cityroom::query
