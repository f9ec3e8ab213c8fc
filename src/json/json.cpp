#include "json/json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace cityroom::json {

namespace {

// Builds values like boost::json::parser, except that doubles are converted from their text
// with std::from_chars: Boost.JSON 1.81's fast conversion is off by one ulp for about 6 % of
// 17-digit numbers, which would change a client's value on its way through the store.
class ExactHandler {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  explicit ExactHandler(boost::json::storage_ptr sp) : stack_(std::move(sp)) {}

  bool on_document_begin(boost::system::error_code&) {
    stack_.reset();
    return true;
  }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) { return true; }
  bool on_object_end(std::size_t n, boost::system::error_code&) {
    stack_.push_object(n);
    return true;
  }
  bool on_array_begin(boost::system::error_code&) { return true; }
  bool on_array_end(std::size_t n, boost::system::error_code&) {
    stack_.push_array(n);
    return true;
  }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    stack_.push_key(s);
    return true;
  }
  bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    stack_.push_string(s);
    return true;
  }
  bool on_number_part(boost::json::string_view s, boost::system::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t v, boost::json::string_view, boost::system::error_code&) {
    number_.clear();
    stack_.push_int64(v);
    return true;
  }
  bool on_uint64(std::uint64_t v, boost::json::string_view, boost::system::error_code&) {
    number_.clear();
    stack_.push_uint64(v);
    return true;
  }
  bool on_double(double v, boost::json::string_view s, boost::system::error_code&) {
    number_.append(s.data(), s.size());
    double exact = v;
    const auto* first = number_.data();
    const auto* last = first + number_.size();
    if (auto [end, ec] = std::from_chars(first, last, exact); ec == std::errc() && end == last) {
      v = exact;
    }
    number_.clear();
    stack_.push_double(v);
    return true;
  }
  bool on_bool(bool b, boost::system::error_code&) {
    stack_.push_bool(b);
    return true;
  }
  bool on_null(boost::system::error_code&) {
    stack_.push_null();
    return true;
  }
  bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

  value release() { return stack_.release(); }

 private:
  boost::json::value_stack stack_;
  std::string number_;
};

}  // namespace

base::Result<value> parse(std::string_view text, std::size_t depth_max) {
  boost::json::parse_options options;
  options.max_depth = depth_max;
  boost::json::basic_parser<ExactHandler> parser(options, boost::json::storage_ptr());
  boost::system::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    return base::fail(base::ErrorKind::kInvalidRequest,
                      fmt::format("invalid JSON at byte {}: {}", used, ec.message()));
  }
  if (used != text.size()) {
    return base::fail(base::ErrorKind::kInvalidRequest,
                      fmt::format("invalid JSON: trailing characters at byte {}", used));
  }
  return parser.handler().release();
}

namespace {

// Boost.JSON 1.81 writes doubles as "2E-1"; clients and people expect "0.2". Numbers are
// written with std::to_chars (shortest form that reads back to the same double); the rest
// follows RFC 8259 with UTF-8 passed through.
void write_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

void write_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";  // JSON has no NaN/Infinity
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  std::string_view text(buf, static_cast<std::size_t>(end - buf));
  out += text;
  // Keep it a JSON number that reads back as a double, not an integer.
  if (text.find_first_of(".eEn") == std::string_view::npos) out += ".0";
}

void write(std::string& out, const value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; break;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case boost::json::kind::int64: {
      char buf[24];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.get_int64());
      out.append(buf, end);
      break;
    }
    case boost::json::kind::uint64: {
      char buf[24];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.get_uint64());
      out.append(buf, end);
      break;
    }
    case boost::json::kind::double_: write_double(out, v.get_double()); break;
    case boost::json::kind::string: write_string(out, v.get_string()); break;
    case boost::json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        write(out, e);
      }
      out.push_back(']');
      break;
    }
    case boost::json::kind::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& m : v.get_object()) {
        if (!first) out.push_back(',');
        first = false;
        write_string(out, m.key());
        out.push_back(':');
        write(out, m.value());
      }
      out.push_back('}');
      break;
    }
  }
}

}  // namespace

std::string serialize(const value& v) {
  std::string out;
  out.reserve(256);
  write(out, v);
  return out;
}

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
