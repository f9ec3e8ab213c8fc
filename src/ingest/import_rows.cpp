// Source records → NGSI-LD entities in terms: reading records, the row filter, templates and
// value conversion.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "ingest/import.h"

namespace cityroom::ingest {
namespace {

using base::ErrorKind;

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// The value of `key` in a `k=v;k=v` cell.
std::optional<std::string> pick_pair(std::string_view cell, std::string_view key) {
  while (!cell.empty()) {
    const auto end = std::min(cell.find(';'), cell.size());
    const auto pair = cell.substr(0, end);
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == key) {
      return std::string(trim(pair.substr(eq + 1)));
    }
    cell.remove_prefix(std::min(end + 1, cell.size()));
  }
  return std::nullopt;
}

// A field as text (strings trimmed, numbers and booleans printed); nullopt when absent or null.
std::optional<std::string> field_text(const SourceRecord& r, std::string_view column,
                                      const std::optional<std::string>& pick) {
  const auto* v = r.fields.if_contains(column);
  if (!v || v->is_null()) return std::nullopt;
  std::string text;
  if (v->is_string()) {
    text = trim(v->get_string());
  } else if (v->is_number() || v->is_bool()) {
    text = json::serialize(*v);
  } else {
    return std::nullopt;
  }
  if (pick) return pick_pair(text, *pick);
  return text;
}

bool condition_holds(const Condition& c, const SourceRecord& r) {
  const auto text = field_text(r, c.column, c.pick);
  switch (c.op) {
    case Condition::Op::kEquals:
      return text && *text == c.values.front();
    case Condition::Op::kPrefix:
      return text && text->starts_with(c.values.front());
    case Condition::Op::kContains:
      return text && text->find(c.values.front()) != std::string::npos;
    case Condition::Op::kIn:
      return text && std::ranges::find(c.values, *text) != c.values.end();
    case Condition::Op::kNotEmpty:
      return text && !text->empty();
  }
  return false;
}

void percent_encode_for_id(std::string_view s, std::string& out) {
  static constexpr std::string_view kUnsafe = "<>\"{}|\\^`%/?#";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || kUnsafe.find(c) != std::string_view::npos) {
      out += fmt::format("%{:02X}", u);
    } else {
      out += c;
    }
  }
}

// ---- value conversion ------------------------------------------------------------------

// Digits with `,` thousands separators ("1,234,567") lose the separators; others are kept.
std::string drop_thousands(std::string_view s) {
  const auto comma = s.find(',');
  if (comma == std::string_view::npos) return std::string(s);
  std::string out;
  std::size_t group = 0;
  bool first = true;
  std::size_t i = (s.front() == '-' || s.front() == '+') ? 1 : 0;
  out.append(s.substr(0, i));
  for (; i < s.size() && s[i] != '.'; ++i) {
    if (s[i] == ',') {
      if ((first && (group == 0 || group > 3)) || (!first && group != 3)) return std::string(s);
      first = false;
      group = 0;
      continue;
    }
    out += s[i];
    ++group;
  }
  if (!first && group != 3) return std::string(s);
  out.append(s.substr(i));
  return out;
}

std::optional<double> parse_number(std::string_view text) {
  const auto s = drop_thousands(text);
  double d = 0;
  const char* begin = s.data() + (s.starts_with('+') ? 1 : 0);
  const auto [end, ec] = std::from_chars(begin, s.data() + s.size(), d);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(d)) return std::nullopt;
  return d;
}

json::value number_value(double d, bool integer) {
  if ((integer || std::trunc(d) == d) && std::abs(d) < 9.0e15) {
    return json::value(static_cast<std::int64_t>(d));
  }
  return json::value(d);
}

// "2022-12-01", "2022.12.01", "2022/12/01", "20221201", with or without a time after it.
std::optional<std::string> normalize_date(std::string_view s) {
  int y = 0, m = 0, d = 0;
  auto num = [](std::string_view t, int& out) {
    const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return ec == std::errc() && p == t.data() + t.size();
  };
  std::string_view date = s.substr(0, std::min(s.find_first_of(" T"), s.size()));
  if (date.size() == 8 && num(date.substr(0, 4), y) && num(date.substr(4, 2), m) &&
      num(date.substr(6, 2), d)) {
  } else if (date.size() >= 8 && date.size() <= 10) {
    const char sep = date[4];
    if (sep != '-' && sep != '.' && sep != '/') return std::nullopt;
    const auto second = date.find(sep, 5);
    if (second == std::string_view::npos) return std::nullopt;
    if (!num(date.substr(0, 4), y) || !num(date.substr(5, second - 5), m) ||
        !num(date.substr(second + 1), d)) {
      return std::nullopt;
    }
  } else {
    return std::nullopt;
  }
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > kDays[m - 1]) return std::nullopt;
  return fmt::format("{:04}-{:02}-{:02}", y, m, d);
}

base::Result<json::value> convert_text(const AttributeSpec& a, std::string_view text) {
  auto wrong = [&](std::string_view what) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("{} '{}' is not {}", a.name, text, what));
  };
  switch (a.type) {
    case ValueType::kString:
      return json::value(text);
    case ValueType::kNumber:
    case ValueType::kInteger: {
      auto d = parse_number(text);
      if (!d) return wrong("a number");
      if (a.scale) *d *= *a.scale;
      if (a.type == ValueType::kInteger && std::trunc(*d) != *d) return wrong("a whole number");
      return number_value(*d, a.type == ValueType::kInteger);
    }
    case ValueType::kBoolean: {
      std::string lower(text);
      std::ranges::transform(lower, lower.begin(), [](unsigned char c) { return std::tolower(c); });
      if (lower == "true" || lower == "yes" || lower == "y" || lower == "1") return json::value(true);
      if (lower == "false" || lower == "no" || lower == "n" || lower == "0") {
        return json::value(false);
      }
      return wrong("a boolean (true/false, yes/no, Y/N, 1/0)");
    }
    case ValueType::kDate: {
      auto date = normalize_date(text);
      if (!date) return wrong("a date (YYYY-MM-DD, YYYY.MM.DD, YYYYMMDD)");
      return json::object{{"@type", "Date"}, {"@value", *date}};
    }
    case ValueType::kDateTime: {
      std::string iso(text);
      if (iso.size() > 10 && iso[10] == ' ') iso[10] = 'T';
      if (iso.size() >= 10 && (iso[4] == '.' || iso[4] == '/')) iso[4] = iso[7] = '-';
      const auto t = base::parse_iso8601(iso, true);
      if (!t) return wrong("a date-time (ISO 8601; without an offset it is read as UTC)");
      return json::object{{"@type", "DateTime"}, {"@value", base::format_iso8601(*t)}};
    }
    case ValueType::kJson: {
      auto v = json::parse(text);
      if (!v) return wrong("JSON");
      return std::move(*v);
    }
  }
  return wrong("convertible");
}

// A non-string source value (a GeoJSON property) converted to the declared type.
base::Result<json::value> convert_json(const AttributeSpec& a, const json::value& v) {
  if (a.type == ValueType::kJson) return v;
  if (v.is_string()) return convert_text(a, trim(v.get_string()));
  if (v.is_number() || v.is_bool()) return convert_text(a, json::serialize(v));
  return base::fail(ErrorKind::kBadRequestData,
                    fmt::format("{} is {}, not a single value (use \"type\": \"json\")", a.name,
                                json::kind_name(v)));
}

bool is_null_text(const ImportMapping& m, std::string_view text) {
  return std::ranges::find(m.null_values, text) != m.null_values.end();
}

// The attribute's value, or nullopt when the source has none for this record.
base::Result<std::optional<json::value>> attribute_value(const ImportMapping& m,
                                                         const AttributeSpec& a,
                                                         const SourceRecord& r) {
  using From = ValueSource::From;
  if (a.source.from == From::kConstant) return a.source.constant;
  if (a.source.from == From::kTemplate) {
    auto s = expand_template(a.source.text, r, a.kind == AttrKind::kRelationship);
    if (!s) return std::unexpected(s.error());
    return json::value(*s);
  }
  const auto* raw = r.fields.if_contains(a.source.column);
  if (!raw || raw->is_null()) return std::nullopt;
  if (!raw->is_string() && !a.source.pick) {
    if (a.split && raw->is_array()) {  // a GeoJSON array under split: convert each element
      json::array out;
      for (const auto& x : raw->get_array()) {
        auto c = convert_json(a, x);
        if (!c) return std::unexpected(c.error());
        out.push_back(std::move(*c));
      }
      return json::value(std::move(out));
    }
    auto c = convert_json(a, *raw);
    if (!c) return std::unexpected(c.error());
    return std::optional<json::value>(std::move(*c));
  }
  auto text = field_text(r, a.source.column, a.source.pick);
  if (!text || is_null_text(m, *text)) return std::nullopt;
  if (!a.split) {
    auto c = convert_text(a, *text);
    if (!c) return std::unexpected(c.error());
    return std::optional<json::value>(std::move(*c));
  }
  json::array out;
  std::string_view rest = *text;
  while (true) {
    const auto end = std::min(rest.find(*a.split), rest.size());
    const auto part = trim(rest.substr(0, end));
    if (!part.empty() && !is_null_text(m, part)) {
      auto c = convert_text(a, part);
      if (!c) return std::unexpected(c.error());
      out.push_back(std::move(*c));
    }
    if (end == rest.size()) break;
    rest.remove_prefix(end + a.split->size());
  }
  if (out.empty()) return std::nullopt;
  return json::value(std::move(out));
}

base::Result<std::optional<json::value>> csv_location(const ImportMapping& m,
                                                      const SourceRecord& r) {
  const auto lat_text = field_text(r, *m.latitude_column, std::nullopt);
  const auto lon_text = field_text(r, *m.longitude_column, std::nullopt);
  if (!lat_text || !lon_text || is_null_text(m, *lat_text) || is_null_text(m, *lon_text)) {
    if (!m.location_required) return std::nullopt;
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("no location: '{}' or '{}' is empty", *m.latitude_column,
                                  *m.longitude_column));
  }
  const auto lat = parse_number(*lat_text);
  const auto lon = parse_number(*lon_text);
  if (!lat || !lon || *lat < -90 || *lat > 90 || *lon < -180 || *lon > 180 ||
      (*lat == 0 && *lon == 0)) {
    if (!m.location_required && lat && lon && *lat == 0 && *lon == 0) return std::nullopt;
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("the location latitude '{}', longitude '{}' is not a position "
                                  "(WGS84 degrees)",
                                  *lat_text, *lon_text));
  }
  return json::value(json::object{{"type", "Point"}, {"coordinates", json::array{*lon, *lat}}});
}

json::object attribute_instance(const AttributeSpec& a, json::value value) {
  switch (a.kind) {
    case AttrKind::kRelationship:
      return json::object{{"type", "Relationship"}, {"object", std::move(value)}};
    case AttrKind::kGeoProperty:
      return json::object{{"type", "GeoProperty"}, {"value", std::move(value)}};
    case AttrKind::kProperty:
      break;
  }
  json::object p{{"type", "Property"}, {"value", std::move(value)}};
  if (a.unit_code) p["unitCode"] = *a.unit_code;
  return p;
}

// ---- reading sources --------------------------------------------------------------------

// Every column the mapping names, with where it is named (for the "not in the header" error).
std::vector<std::pair<std::string, std::string>> named_columns(const ImportMapping& m) {
  std::vector<std::pair<std::string, std::string>> out;
  auto from_template = [&](std::string_view t, std::string_view where) {
    for (std::size_t i = t.find('{'); i != std::string_view::npos; i = t.find('{', i + 1)) {
      const auto close = t.find('}', i);
      if (close == std::string_view::npos) break;
      auto name = t.substr(i + 1, close - i - 1);
      name = name.substr(0, std::min(name.find(':'), name.size()));
      if (name != "row") out.emplace_back(std::string(name), std::string(where));
    }
  };
  for (const auto& c : m.where) out.emplace_back(c.column, "where");
  for (const auto& x : m.extra_types) {
    for (const auto& c : x.where) out.emplace_back(c.column, "entity.alsoType");
  }
  from_template(m.id_template, "entity.id");
  if (m.scope_template) from_template(*m.scope_template, "entity.scope");
  if (m.latitude_column) out.emplace_back(*m.latitude_column, "location.latitude");
  if (m.longitude_column) out.emplace_back(*m.longitude_column, "location.longitude");
  for (const auto& a : m.attributes) {
    if (a.source.from == ValueSource::From::kColumn) {
      out.emplace_back(a.source.column, "attributes." + a.name);
    } else if (a.source.from == ValueSource::From::kTemplate) {
      from_template(a.source.text, "attributes." + a.name);
    }
  }
  return out;
}

base::Result<SourceRecords> read_csv(const ImportMapping& m, std::string_view text) {
  auto parsed = parse_csv(text, m.delimiter);
  SourceRecords out;
  out.errors = std::move(parsed.errors);
  std::size_t next = std::min(m.skip_rows, parsed.records.size());
  std::vector<std::string> names = m.columns;
  if (m.header) {
    if (next >= parsed.records.size()) {
      return base::fail(ErrorKind::kInvalidRequest, "the file has no header line");
    }
    const auto& header = parsed.records[next++].fields;
    for (std::size_t i = names.size(); i < header.size(); ++i) {
      names.emplace_back(trim(header[i]));
    }
  }
  std::set<std::string_view> known(names.begin(), names.end());
  for (const auto& [column, where] : named_columns(m)) {
    if (known.contains(column)) continue;
    std::string list;
    for (const auto& n : names) list += fmt::format("{}{}", list.empty() ? "" : ", ", n);
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("the column '{}' named in {} is not in the file (columns: {})",
                                  column, where, list));
  }
  std::size_t row = 0;
  for (; next < parsed.records.size(); ++next) {
    auto& rec = parsed.records[next];
    ++row;
    // Trailing empty cells beyond the header (",,,," padding) are tolerated.
    while (rec.fields.size() > names.size() && trim(rec.fields.back()).empty()) {
      rec.fields.pop_back();
    }
    if (rec.fields.size() != names.size()) {
      out.errors.push_back({rec.line, fmt::format("has {} fields, the header {}",
                                                  rec.fields.size(), names.size())});
      continue;
    }
    SourceRecord r{rec.line, row, {}, nullptr};
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!names[i].empty()) r.fields.emplace(names[i], std::move(rec.fields[i]));  // first wins
    }
    out.records.push_back(std::move(r));
  }
  return out;
}

base::Result<SourceRecords> read_geojson(std::string_view text) {
  auto doc = json::parse(text);
  if (!doc) return std::unexpected(doc.error());
  const auto* o = doc->if_object();
  const auto* type = o ? o->if_contains("type") : nullptr;
  const auto* features = o ? o->if_contains("features") : nullptr;
  if (!type || !type->is_string() || type->get_string() != "FeatureCollection" || !features ||
      !features->is_array()) {
    return base::fail(ErrorKind::kInvalidRequest,
                      "not a GeoJSON FeatureCollection (an object with \"type\": "
                      "\"FeatureCollection\" and a \"features\" array)");
  }
  SourceRecords out;
  std::size_t n = 0;
  for (auto& f : doc->get_object()["features"].get_array()) {
    ++n;
    auto* fo = f.if_object();
    if (!fo) {
      out.errors.push_back({n, "the feature is not an object"});
      continue;
    }
    SourceRecord r{n, n, {}, nullptr};
    if (auto* props = fo->if_contains("properties"); props && props->is_object()) {
      r.fields = std::move(props->get_object());
    } else if (props && !props->is_null()) {
      out.errors.push_back({n, "the feature's properties are not an object"});
      continue;
    }
    if (auto* g = fo->if_contains("geometry")) r.geometry = std::move(*g);
    out.records.push_back(std::move(r));
  }
  return out;
}

}  // namespace

bool conditions_hold(const std::vector<Condition>& conditions, const SourceRecord& record) {
  return std::ranges::all_of(conditions,
                             [&](const Condition& c) { return condition_holds(c, record); });
}

bool record_selected(const ImportMapping& m, const SourceRecord& record) {
  return conditions_hold(m.where, record);
}

base::Result<std::string> expand_template(std::string_view t, const SourceRecord& r,
                                          bool for_id) {
  std::string out;
  out.reserve(t.size() + 32);
  for (std::size_t i = 0; i < t.size(); ++i) {
    const auto close = t[i] == '{' ? t.find('}', i) : std::string_view::npos;
    if (close == std::string_view::npos) {
      out += t[i];
      continue;
    }
    const auto name = t.substr(i + 1, close - i - 1);
    i = close;
    std::optional<std::string> value;
    if (name == "row" && !r.fields.contains("row")) {
      value = std::to_string(r.row);
    } else if (const auto colon = name.find(':'); colon != std::string_view::npos) {
      value = field_text(r, name.substr(0, colon), std::string(name.substr(colon + 1)));
    } else {
      value = field_text(r, name, std::nullopt);
    }
    if (!value || value->empty()) {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("'{}' is empty, so {} cannot be made", name, t));
    }
    if (for_id) {
      percent_encode_for_id(*value, out);
    } else {
      out += *value;
    }
  }
  return out;
}

base::Result<SourceRecords> read_source(const ImportMapping& m, std::string_view bytes) {
  auto text = decode_to_utf8(bytes, m.encoding);
  if (!text) return std::unexpected(text.error());
  return m.format == SourceFormat::kCsv ? read_csv(m, *text) : read_geojson(*text);
}

base::Result<json::object> map_record(const ImportMapping& m, const SourceRecord& r) {
  auto id = expand_template(m.id_template, r, true);
  if (!id) return std::unexpected(id.error());
  if (!base::is_uri(*id)) {
    return base::fail(ErrorKind::kBadRequestData, fmt::format("the id '{}' is not a URI", *id));
  }
  json::object e{{"id", *id}};
  json::array types{json::value(m.entity_type)};
  for (const auto& x : m.extra_types) {
    if (conditions_hold(x.where, r)) types.emplace_back(x.type);
  }
  e["type"] = types.size() == 1 ? json::value(m.entity_type) : json::value(std::move(types));
  if (m.scope_template) {
    auto scope = expand_template(*m.scope_template, r, false);
    if (!scope) return std::unexpected(scope.error());
    e["scope"] = *scope;
  }
  if (m.latitude_column) {
    auto location = csv_location(m, r);
    if (!location) return std::unexpected(location.error());
    if (*location) e["location"] = json::object{{"type", "GeoProperty"}, {"value", **location}};
  } else if (m.location_from_geometry) {
    if (r.geometry.is_object()) {
      e["location"] = json::object{{"type", "GeoProperty"}, {"value", r.geometry}};
    } else if (m.location_required) {
      return base::fail(ErrorKind::kBadRequestData, "the feature has no geometry");
    }
  }
  for (const auto& a : m.attributes) {
    auto v = attribute_value(m, a, r);
    if (!v) return std::unexpected(v.error());
    if (!*v) {
      if (a.required) {
        return base::fail(ErrorKind::kBadRequestData, fmt::format("{} is empty", a.name));
      }
      continue;
    }
    e[a.name] = attribute_instance(a, std::move(**v));
  }
  return e;
}

}  // namespace cityroom::ingest
