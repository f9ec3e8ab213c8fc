// json: parsing and serialising the JSON that crosses cityroom's boundaries.
//
// Every module uses Boost.JSON's `boost::json::value` as the document type; this module adds
// the guarded entry points: parsing with a depth limit that answers with an InvalidRequest
// whose detail names the position of the error, and small typed accessors. Thread-safe.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "base/base.h"

namespace cityroom::json {

using boost::json::array;
using boost::json::object;
using boost::json::value;

inline constexpr std::size_t kDepthMax = 64;

// Parses `text` as one JSON document. Errors name what and where: "invalid JSON at byte 17:
// syntax error".
base::Result<value> parse(std::string_view text, std::size_t depth_max = kDepthMax);

std::string serialize(const value& v);

// Accessors that return nullptr when the key is absent or of another kind.
const value* find(const object& o, std::string_view key);
std::optional<std::string_view> get_string(const object& o, std::string_view key);

// A human name for a JSON kind, for error details: "a string", "an object", ...
std::string_view kind_name(const value& v);

}  // namespace cityroom::json
