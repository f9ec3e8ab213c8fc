#include "json/json.h"

#include <fmt/format.h>

namespace cityroom::json {

base::Result<value> parse(std::string_view text, std::size_t depth_max) {
  boost::json::parse_options options;
  options.max_depth = depth_max;
  boost::json::stream_parser parser({}, options);
  boost::system::error_code ec;
  const std::size_t used = parser.write_some(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    return base::fail(base::ErrorKind::kInvalidRequest,
                      fmt::format("invalid JSON at byte {}: {}", used, ec.message()));
  }
  if (used != text.size()) {
    return base::fail(base::ErrorKind::kInvalidRequest,
                      fmt::format("invalid JSON: trailing characters at byte {}", used));
  }
  return parser.release();
}

std::string serialize(const value& v) { return boost::json::serialize(v); }

const value* find(const object& o, std::string_view key) { return o.if_contains(key); }

std::optional<std::string_view> get_string(const object& o, std::string_view key) {
  const value* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string_view(v->get_string());
}

std::string_view kind_name(const value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "a boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_: return "a number";
    case boost::json::kind::string: return "a string";
    case boost::json::kind::array: return "an array";
    case boost::json::kind::object: return "an object";
  }
  return "a value";
}

}  // namespace cityroom::json
