// query/leaf.h (private to the query module): what a path names inside one entity. Shared by
// the q evaluator and the orderBy key extraction, so that `q=a.b[c]>1` and `orderBy=a.b[c]`
// read the same value.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "json/json.h"
#include "query/ast.h"

namespace cityroom::query::detail {

// How the elements of a value are enumerated: a plain value (an array is its elements), a
// LanguageProperty's map (its strings), a ListRelationship's list (the objects' URIs).
enum class LeafKind : std::uint8_t { kPlain, kLanguageMap, kObjectList };

struct Leaf {
  const json::value* value;
  LeafKind kind;
};

// The value member of an attribute instance, by its attribute type.
std::optional<Leaf> value_leaf(const json::object& instance);

// Follows the path's sub-attributes, member and keys from one attribute instance.
std::optional<Leaf> resolve(const json::object& instance, const ast::Path& path);

// The entity member a non-attribute root names ("id", "type", "createdAt", "modifiedAt").
std::string_view root_member(ast::Root root);

// Parses `text` as one whole q attribute path (`attr`, `attr.sub.observedAt`, `attr[a.b]`).
// Errors carry `prefix` in their detail.
base::Result<ast::Path> parse_path_only(std::string_view text, std::string_view prefix);

}  // namespace cityroom::query::detail
