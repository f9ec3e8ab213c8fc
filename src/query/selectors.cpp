// scopeQ (ETSI GS CIM 009 4.19) and entity type selection (4.17): two small languages of
// names joined by AND and OR, parsed into the same tree shape as q.
#include <algorithm>
#include <string>
#include <utility>

#include "query/ast.h"
#include "query/query.h"
#include "query/text.h"

namespace cityroom::query {
namespace {

constexpr std::string_view kScopePrefix = "scopeQ: ";
constexpr std::string_view kTypePrefix = "type: ";
constexpr std::string_view kOneLevel = "+";
constexpr std::string_view kAnyLevels = "#";

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

// The shared shell of both languages: `|` (and `,`) for OR, `;` for AND, parentheses, and a
// leaf parser supplied by the language. N is ScopeFilter::Node or TypeFilter::Node.
template <class N, class LeafParser>
class SelectorParser {
 public:
  SelectorParser(std::string_view text, std::string_view prefix, LeafParser leaf)
      : cur_(text), prefix_(prefix), leaf_(std::move(leaf)) {}

  base::Result<N> parse() {
    if (cur_.done()) return invalid("empty expression");
    auto node = parse_or(0);
    if (!node) return node;
    cur_.skip_spaces();
    if (!cur_.done()) return invalid("unexpected " + text::describe_char(cur_));
    return node;
  }

  text::Cursor& cursor() { return cur_; }
  std::unexpected<base::Error> invalid(std::string_view what) const {
    return text::invalid_at(prefix_, what, cur_.pos());
  }

 private:
  base::Result<N> parse_or(std::size_t depth) {
    std::vector<N> parts;
    do {
      auto part = parse_and(depth);
      if (!part) return part;
      parts.push_back(std::move(*part));
      cur_.skip_spaces();
    } while (cur_.eat('|') || cur_.eat(','));
    return text::combine(ast::NodeKind::kOr, std::move(parts));
  }

  base::Result<N> parse_and(std::size_t depth) {
    std::vector<N> parts;
    do {
      auto part = parse_factor(depth);
      if (!part) return part;
      parts.push_back(std::move(*part));
      cur_.skip_spaces();
    } while (cur_.eat(';'));
    return text::combine(ast::NodeKind::kAnd, std::move(parts));
  }

  base::Result<N> parse_factor(std::size_t depth) {
    cur_.skip_spaces();
    const std::size_t open = cur_.pos();
    if (!cur_.eat('(')) {
      if (++leaves_ > kQueryTermsMax) {
        return too_complex("more than " + std::to_string(kQueryTermsMax) + " terms");
      }
      return leaf_(*this);
    }
    if (depth + 1 > kQueryNestingMax) {
      return too_complex("parentheses nested deeper than " + std::to_string(kQueryNestingMax));
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

  std::unexpected<base::Error> too_complex(std::string_view what) const {
    return base::fail(base::ErrorKind::kTooComplexQuery, std::string(prefix_) + std::string(what));
  }

  text::Cursor cur_;
  std::string_view prefix_;
  LeafParser leaf_;
  std::size_t leaves_ = 0;
};

bool ends_name(char c) {
  return c == ';' || c == '|' || c == ',' || c == '(' || c == ')' ||
         static_cast<unsigned char>(c) <= ' ';
}

template <class P>
base::Result<ScopeFilter::Node> parse_scope(P& parser) {
  auto& cur = parser.cursor();
  if (!cur.eat('/'))
    return parser.invalid("a scope starts with '/', found " + text::describe_char(cur));
  ScopeFilter::Node node;
  do {
    const std::size_t start = cur.pos();
    while (!cur.done() && !ends_name(cur.peek()) && cur.peek() != '/') cur.advance();
    const std::string_view level = cur.slice(start);
    if (level.empty())
      return parser.invalid("expected a scope level, found " + text::describe_char(cur));
    const bool wildcard = level == kOneLevel || level == kAnyLevels;
    if (!wildcard && level.find_first_of("+#") != std::string_view::npos) {
      return parser.invalid("'+' and '#' must stand alone as a level");
    }
    if (!node.levels.empty() && node.levels.back() == kAnyLevels) {
      return parser.invalid("'#' must be the last level");
    }
    node.levels.emplace_back(level);
  } while (cur.eat('/'));
  return node;
}

template <class P>
base::Result<TypeFilter::Node> parse_type_name(P& parser) {
  auto& cur = parser.cursor();
  const std::size_t start = cur.pos();
  while (!cur.done() && !ends_name(cur.peek())) cur.advance();
  if (cur.pos() == start) {
    return parser.invalid("expected a type name, found " + text::describe_char(cur));
  }
  TypeFilter::Node node;
  node.name = std::string(cur.slice(start));
  return node;
}

// Whether one entity scope ("/a/b/c") lies under a pattern's levels.
bool scope_matches(const std::vector<std::string>& pattern, std::string_view scope) {
  if (scope.empty() || scope.front() != '/') return false;
  std::string_view rest = scope.substr(1);
  bool more = true;
  for (const auto& want : pattern) {
    if (want == kAnyLevels) return true;
    if (!more) return false;
    const std::size_t slash = rest.find('/');
    const std::string_view level = rest.substr(0, slash);
    if (slash == std::string_view::npos) {
      more = false;
    } else {
      rest.remove_prefix(slash + 1);
    }
    if (want != kOneLevel && want != level) return false;
  }
  return !more;
}

// Evaluates an AND/OR tree whose leaves are decided by `leaf`.
template <class N, class Leaf>
bool eval_tree(const N& n, const Leaf& leaf) {
  switch (n.kind) {
    case ast::NodeKind::kAnd:
      return std::all_of(n.children.begin(), n.children.end(),
                         [&](const N& c) { return eval_tree(c, leaf); });
    case ast::NodeKind::kOr:
      return std::any_of(n.children.begin(), n.children.end(),
                         [&](const N& c) { return eval_tree(c, leaf); });
    case ast::NodeKind::kLeaf:
      return leaf(n);
  }
  return false;
}

// Calls f on each string of a member that holds a string or an array of strings.
template <class F>
bool any_string(const model::Entity& e, std::string_view member, F&& f) {
  const json::value* v = e.if_contains(member);
  if (v == nullptr) return false;
  if (const auto* s = v->if_string()) return f(std::string_view(*s));
  if (const auto* a = v->if_array()) {
    for (const auto& item : *a) {
      if (const auto* s = item.if_string(); s && f(std::string_view(*s))) return true;
    }
  }
  return false;
}

void collect_names(const TypeFilter::Node& n, std::vector<std::string>& out) {
  for (const auto& child : n.children) collect_names(child, out);
  if (n.kind == ast::NodeKind::kLeaf && std::find(out.begin(), out.end(), n.name) == out.end()) {
    out.push_back(n.name);
  }
}

void expand_type_names(TypeFilter::Node& n, const Expander& expand) {
  for (auto& child : n.children) expand_type_names(child, expand);
  if (n.kind == ast::NodeKind::kLeaf) n.name = expand(n.name);
}

template <class N, class LeafFn>
base::Result<N> parse_selector(std::string_view text, std::string_view prefix, LeafFn leaf) {
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  if (text.size() > kQueryLengthMax) {
    return base::fail(
        base::ErrorKind::kTooComplexQuery,
        std::string(prefix) + "longer than " + std::to_string(kQueryLengthMax) + " characters");
  }
  SelectorParser<N, LeafFn> parser(text, prefix, std::move(leaf));
  return parser.parse();
}

}  // namespace

// ---- scopeQ ------------------------------------------------------------------------------

base::Result<ScopeFilter> parse_scope_q(std::string_view q) {
  auto leaf = [](auto& parser) { return parse_scope(parser); };
  auto root = parse_selector<ScopeFilter::Node>(q, kScopePrefix, leaf);
  if (!root) return std::unexpected(root.error());
  return ScopeFilter(std::make_shared<ScopeFilter::Node>(std::move(*root)));
}

bool ScopeFilter::matches(const model::Entity& e) const {
  if (!root_) return false;
  return eval_tree(*root_, [&](const Node& leaf) {
    return any_string(e, model::key::kScope,
                      [&](std::string_view scope) { return scope_matches(leaf.levels, scope); });
  });
}

// ---- type selection ----------------------------------------------------------------------

base::Result<TypeFilter> parse_types(std::string_view expression) {
  auto leaf = [](auto& parser) { return parse_type_name(parser); };
  auto root = parse_selector<TypeFilter::Node>(expression, kTypePrefix, leaf);
  if (!root) return std::unexpected(root.error());
  return TypeFilter(std::make_shared<TypeFilter::Node>(std::move(*root)));
}

void TypeFilter::expand_names(const Expander& expand) {
  if (!expand || !root_) return;
  auto copy = std::make_shared<Node>(*root_);  // copies may share the unexpanded tree
  expand_type_names(*copy, expand);
  root_ = std::move(copy);
}

bool TypeFilter::matches(const std::vector<std::string>& entity_type_iris) const {
  if (!root_) return false;
  return eval_tree(*root_, [&](const Node& leaf) {
    return std::find(entity_type_iris.begin(), entity_type_iris.end(), leaf.name) !=
           entity_type_iris.end();
  });
}

bool TypeFilter::matches(const model::Entity& e) const {
  if (!root_) return false;
  return eval_tree(*root_, [&](const Node& leaf) {
    return any_string(e, model::key::kType,
                      [&](std::string_view type) { return type == leaf.name; });
  });
}

std::optional<std::vector<std::string>> TypeFilter::any_of() const {
  if (!root_) return std::nullopt;
  if (root_->kind == ast::NodeKind::kLeaf) return std::vector<std::string>{root_->name};
  if (root_->kind == ast::NodeKind::kAnd) return std::nullopt;
  for (const auto& child : root_->children) {
    if (child.kind != ast::NodeKind::kLeaf) return std::nullopt;
  }
  return names();
}

std::vector<std::string> TypeFilter::names() const {
  std::vector<std::string> out;
  if (root_) collect_names(*root_, out);
  return out;
}

}  // namespace cityroom::query
