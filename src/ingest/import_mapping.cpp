// Reading and checking an import mapping file (the format is documented in docs/IMPORT.md).
#include <fmt/format.h>

#include <fstream>
#include <set>
#include <sstream>

#include "ingest/import.h"

namespace cityroom::ingest {
namespace {

using base::ErrorKind;

base::Error bad(std::string_view where, std::string_view message) {
  return base::Error{ErrorKind::kInvalidRequest, fmt::format("{}: {}", where, message)};
}

// Refuses members outside `known`, so a typo ("atributes") is an error and not silently ignored.
base::Result<void> only_members(const json::object& o, std::string_view where,
                                std::initializer_list<std::string_view> known) {
  for (const auto& [k, v] : o) {
    if (std::ranges::find(known, std::string_view(k)) == known.end()) {
      std::string list;
      for (auto name : known) list += fmt::format("{}{}", list.empty() ? "" : ", ", name);
      return std::unexpected(
          bad(where, fmt::format("unknown member '{}' (known: {})", std::string_view(k), list)));
    }
  }
  return {};
}

base::Result<const json::object*> object_at(const json::value& v, std::string_view where) {
  if (!v.is_object()) {
    return std::unexpected(bad(where, fmt::format("must be an object, not {}", json::kind_name(v))));
  }
  return &v.get_object();
}

base::Result<std::string> string_at(const json::value& v, std::string_view where,
                                    bool allow_empty = false) {
  if (!v.is_string()) {
    return std::unexpected(bad(where, fmt::format("must be a string, not {}", json::kind_name(v))));
  }
  if (!allow_empty && v.get_string().empty()) return std::unexpected(bad(where, "is empty"));
  return std::string(v.get_string());
}

base::Result<bool> bool_at(const json::value& v, std::string_view where) {
  if (!v.is_bool()) {
    return std::unexpected(bad(where, fmt::format("must be true or false, not {}",
                                                  json::kind_name(v))));
  }
  return v.get_bool();
}

// Checks that every `{...}` of a template is closed and non-empty.
base::Result<void> check_template(std::string_view t, std::string_view where) {
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '}') return std::unexpected(bad(where, fmt::format("'}}' without '{{' in {}", t)));
    if (t[i] != '{') continue;
    const auto close = t.find('}', i);
    if (close == std::string_view::npos) {
      return std::unexpected(bad(where, fmt::format("'{{' without '}}' in {}", t)));
    }
    if (close == i + 1) return std::unexpected(bad(where, fmt::format("empty {{}} in {}", t)));
    i = close;
  }
  return {};
}

template <class Enum, std::size_t N>
base::Result<Enum> enum_at(const json::value& v, std::string_view where,
                           const std::pair<std::string_view, Enum> (&names)[N]) {
  auto s = string_at(v, where);
  if (!s) return std::unexpected(s.error());
  std::string list;
  for (const auto& [name, value] : names) {
    if (*s == name) return value;
    list += fmt::format("{}{}", list.empty() ? "" : ", ", name);
  }
  return std::unexpected(bad(where, fmt::format("'{}' is not one of {}", *s, list)));
}

constexpr std::pair<std::string_view, ValueType> kValueTypes[] = {
    {"string", ValueType::kString},   {"number", ValueType::kNumber},
    {"integer", ValueType::kInteger}, {"boolean", ValueType::kBoolean},
    {"date", ValueType::kDate},       {"datetime", ValueType::kDateTime},
    {"json", ValueType::kJson}};
constexpr std::pair<std::string_view, AttrKind> kKinds[] = {
    {"Property", AttrKind::kProperty},
    {"Relationship", AttrKind::kRelationship},
    {"GeoProperty", AttrKind::kGeoProperty}};
constexpr std::pair<std::string_view, SourceFormat> kFormats[] = {{"csv", SourceFormat::kCsv},
                                                                  {"geojson", SourceFormat::kGeoJson}};
constexpr std::pair<std::string_view, UpsertMode> kUpsertModes[] = {
    {"update", UpsertMode::kUpdate}, {"replace", UpsertMode::kReplace}};

base::Result<Condition> parse_condition(const json::value& v, const std::string& where) {
  auto o = object_at(v, where);
  if (!o) return std::unexpected(o.error());
  if (auto ok = only_members(**o, where, {"column", "pick", "equals", "prefix", "in", "contains",
                                          "notEmpty"});
      !ok) {
    return std::unexpected(ok.error());
  }
  Condition c;
  const auto* column = (*o)->if_contains("column");
  if (!column) return std::unexpected(bad(where, "needs a column"));
  auto name = string_at(*column, where + ".column");
  if (!name) return std::unexpected(name.error());
  c.column = *name;
  if (const auto* pick = (*o)->if_contains("pick")) {
    auto key = string_at(*pick, where + ".pick");
    if (!key) return std::unexpected(key.error());
    c.pick = *key;
  }
  int ops = 0;
  static constexpr std::pair<std::string_view, Condition::Op> kOps[] = {
      {"equals", Condition::Op::kEquals},
      {"prefix", Condition::Op::kPrefix},
      {"contains", Condition::Op::kContains}};
  for (const auto& [member, op] : kOps) {
    if (const auto* x = (*o)->if_contains(member)) {
      auto s = string_at(*x, where + "." + std::string(member), true);
      if (!s) return std::unexpected(s.error());
      c.op = op;
      c.values = {*s};
      ++ops;
    }
  }
  if (const auto* in = (*o)->if_contains("in")) {
    if (!in->is_array() || in->get_array().empty()) {
      return std::unexpected(bad(where + ".in", "must be a non-empty array of strings"));
    }
    c.op = Condition::Op::kIn;
    c.values.clear();
    for (const auto& x : in->get_array()) {
      auto s = string_at(x, where + ".in", true);
      if (!s) return std::unexpected(s.error());
      c.values.push_back(*s);
    }
    ++ops;
  }
  if (const auto* ne = (*o)->if_contains("notEmpty")) {
    if (!ne->is_bool() || !ne->get_bool()) {
      return std::unexpected(bad(where + ".notEmpty", "must be true"));
    }
    c.op = Condition::Op::kNotEmpty;
    ++ops;
  }
  if (ops != 1) {
    return std::unexpected(
        bad(where, "needs exactly one test: equals, prefix, contains, in or notEmpty"));
  }
  return c;
}

base::Result<std::vector<Condition>> parse_conditions(const json::value& v,
                                                      const std::string& where) {
  std::vector<Condition> out;
  if (v.is_object()) {
    auto c = parse_condition(v, where);
    if (!c) return std::unexpected(c.error());
    out.push_back(std::move(*c));
    return out;
  }
  if (!v.is_array()) {
    return std::unexpected(bad(where, "must be a condition object or an array of them"));
  }
  if (v.get_array().size() > kImportConditionsMax) {
    return std::unexpected(bad(where, fmt::format("has more than {} conditions",
                                                  kImportConditionsMax)));
  }
  for (std::size_t i = 0; i < v.get_array().size(); ++i) {
    auto c = parse_condition(v.get_array()[i], fmt::format("{}[{}]", where, i));
    if (!c) return std::unexpected(c.error());
    out.push_back(std::move(*c));
  }
  return out;
}

base::Result<AttributeSpec> parse_attribute_spec(std::string name, const json::value& v,
                                                 const std::string& where) {
  auto o = object_at(v, where);
  if (!o) return std::unexpected(o.error());
  if (auto ok = only_members(**o, where, {"column", "pick", "template", "value", "kind", "type",
                                          "unitCode", "scale", "split", "required"});
      !ok) {
    return std::unexpected(ok.error());
  }
  AttributeSpec a;
  a.name = std::move(name);
  int sources = 0;
  if (const auto* c = (*o)->if_contains("column")) {
    auto s = string_at(*c, where + ".column");
    if (!s) return std::unexpected(s.error());
    a.source.from = ValueSource::From::kColumn;
    a.source.column = *s;
    ++sources;
  }
  if (const auto* t = (*o)->if_contains("template")) {
    auto s = string_at(*t, where + ".template");
    if (!s) return std::unexpected(s.error());
    if (auto ok = check_template(*s, where + ".template"); !ok) return std::unexpected(ok.error());
    a.source.from = ValueSource::From::kTemplate;
    a.source.text = *s;
    ++sources;
  }
  if (const auto* c = (*o)->if_contains("value")) {
    a.source.from = ValueSource::From::kConstant;
    a.source.constant = *c;
    ++sources;
  }
  if (sources != 1) {
    return std::unexpected(bad(where, "needs exactly one of column, template or value"));
  }
  if (const auto* p = (*o)->if_contains("pick")) {
    if (a.source.from != ValueSource::From::kColumn) {
      return std::unexpected(bad(where + ".pick", "only applies to a column"));
    }
    auto s = string_at(*p, where + ".pick");
    if (!s) return std::unexpected(s.error());
    a.source.pick = *s;
  }
  if (const auto* k = (*o)->if_contains("kind")) {
    auto kind = enum_at(*k, where + ".kind", kKinds);
    if (!kind) return std::unexpected(kind.error());
    a.kind = *kind;
  }
  if (const auto* t = (*o)->if_contains("type")) {
    auto type = enum_at(*t, where + ".type", kValueTypes);
    if (!type) return std::unexpected(type.error());
    a.type = *type;
  }
  if (a.kind == AttrKind::kGeoProperty) a.type = ValueType::kJson;
  if (const auto* u = (*o)->if_contains("unitCode")) {
    auto s = string_at(*u, where + ".unitCode");
    if (!s) return std::unexpected(s.error());
    a.unit_code = *s;
  }
  if (const auto* s = (*o)->if_contains("scale")) {
    if (!s->is_number() || !std::isfinite(s->to_number<double>())) {
      return std::unexpected(bad(where + ".scale", "must be a finite number"));
    }
    if (a.type != ValueType::kNumber && a.type != ValueType::kInteger) {
      return std::unexpected(bad(where + ".scale", "needs \"type\": \"number\" or \"integer\""));
    }
    a.scale = s->to_number<double>();
  }
  if (const auto* s = (*o)->if_contains("split")) {
    auto sep = string_at(*s, where + ".split");
    if (!sep) return std::unexpected(sep.error());
    a.split = *sep;
  }
  if (const auto* r = (*o)->if_contains("required")) {
    auto b = bool_at(*r, where + ".required");
    if (!b) return std::unexpected(b.error());
    a.required = *b;
  }
  if (a.kind == AttrKind::kRelationship && a.source.from == ValueSource::From::kConstant &&
      !(a.source.constant.is_string() && base::is_uri(a.source.constant.get_string()))) {
    return std::unexpected(bad(where + ".value", "a Relationship's value must be a URI"));
  }
  return a;
}

base::Result<void> parse_source(const json::value& v, const std::filesystem::path& base_dir,
                                ImportMapping& m) {
  auto o = object_at(v, "source");
  if (!o) return std::unexpected(o.error());
  if (auto ok = only_members(**o, "source", {"format", "file", "encoding", "delimiter", "header",
                                             "skipRows", "columns", "nullValues"});
      !ok) {
    return ok;
  }
  const auto* format = (*o)->if_contains("format");
  if (!format) return std::unexpected(bad("source", "needs a format (csv or geojson)"));
  auto f = enum_at(*format, "source.format", kFormats);
  if (!f) return std::unexpected(f.error());
  m.format = *f;
  if (const auto* file = (*o)->if_contains("file")) {
    auto s = string_at(*file, "source.file");
    if (!s) return std::unexpected(s.error());
    m.source_file = base_dir / *s;
  }
  if (const auto* e = (*o)->if_contains("encoding")) {
    auto s = string_at(*e, "source.encoding");
    if (!s) return std::unexpected(s.error());
    m.encoding = *s;
  }
  if (const auto* d = (*o)->if_contains("delimiter")) {
    auto s = string_at(*d, "source.delimiter");
    if (!s) return std::unexpected(s.error());
    if (*s == "\\t") *s = "\t";
    if (s->size() != 1 || *s == "\"" || *s == "\n" || *s == "\r") {
      return std::unexpected(bad("source.delimiter", "must be one character (not a quote or a "
                                                     "line end); write a tab as \"\\t\""));
    }
    m.delimiter = (*s)[0];
  }
  if (const auto* h = (*o)->if_contains("header")) {
    auto b = bool_at(*h, "source.header");
    if (!b) return std::unexpected(b.error());
    m.header = *b;
  }
  if (const auto* s = (*o)->if_contains("skipRows")) {
    if (!s->is_int64() || s->get_int64() < 0 || s->get_int64() > 1'000'000) {
      return std::unexpected(bad("source.skipRows", "must be a whole number from 0"));
    }
    m.skip_rows = static_cast<std::size_t>(s->get_int64());
  }
  if (const auto* c = (*o)->if_contains("columns")) {
    if (!c->is_array() || c->get_array().size() > kImportColumnsMax) {
      return std::unexpected(bad("source.columns", "must be an array of column names"));
    }
    for (const auto& x : c->get_array()) {
      auto s = string_at(x, "source.columns");
      if (!s) return std::unexpected(s.error());
      m.columns.push_back(*s);
    }
  }
  if (const auto* nv = (*o)->if_contains("nullValues")) {
    if (!nv->is_array()) return std::unexpected(bad("source.nullValues", "must be an array"));
    m.null_values.clear();
    for (const auto& x : nv->get_array()) {
      auto s = string_at(x, "source.nullValues", true);
      if (!s) return std::unexpected(s.error());
      m.null_values.push_back(*s);
    }
  }
  if (m.format == SourceFormat::kCsv && !m.header && m.columns.empty()) {
    return std::unexpected(bad("source", "a CSV without a header needs columns"));
  }
  return {};
}

base::Result<void> parse_entity_spec(const json::value& v, ImportMapping& m) {
  auto o = object_at(v, "entity");
  if (!o) return std::unexpected(o.error());
  if (auto ok = only_members(**o, "entity", {"type", "id", "scope", "alsoType"}); !ok) return ok;
  const auto* type = (*o)->if_contains("type");
  const auto* id = (*o)->if_contains("id");
  if (!type || !id) return std::unexpected(bad("entity", "needs a type and an id template"));
  auto t = string_at(*type, "entity.type");
  if (!t) return std::unexpected(t.error());
  m.entity_type = *t;
  auto i = string_at(*id, "entity.id");
  if (!i) return std::unexpected(i.error());
  if (auto ok = check_template(*i, "entity.id"); !ok) return ok;
  if (i->find(':') == std::string::npos || i->front() == '{') {
    return std::unexpected(bad("entity.id", fmt::format("'{}' must start with a URI scheme, "
                                                        "e.g. urn:ngsi-ld:{}:{{row}}",
                                                        *i, m.entity_type)));
  }
  m.id_template = *i;
  if (const auto* s = (*o)->if_contains("scope")) {
    auto scope = string_at(*s, "entity.scope");
    if (!scope) return std::unexpected(scope.error());
    if (auto ok = check_template(*scope, "entity.scope"); !ok) return ok;
    m.scope_template = *scope;
  }
  if (const auto* also = (*o)->if_contains("alsoType")) {
    if (!also->is_array()) return std::unexpected(bad("entity.alsoType", "must be an array"));
    for (std::size_t k = 0; k < also->get_array().size(); ++k) {
      const auto where = fmt::format("entity.alsoType[{}]", k);
      auto x = object_at(also->get_array()[k], where);
      if (!x) return std::unexpected(x.error());
      if (auto ok = only_members(**x, where, {"type", "where"}); !ok) return ok;
      const auto* xt = (*x)->if_contains("type");
      const auto* xw = (*x)->if_contains("where");
      if (!xt || !xw) return std::unexpected(bad(where, "needs a type and a where"));
      auto name = string_at(*xt, where + ".type");
      if (!name) return std::unexpected(name.error());
      auto conditions = parse_conditions(*xw, where + ".where");
      if (!conditions) return std::unexpected(conditions.error());
      m.extra_types.push_back({*name, std::move(*conditions)});
    }
  }
  return {};
}

base::Result<void> parse_location(const json::value& v, ImportMapping& m) {
  if (v.is_bool() && !v.get_bool()) {
    m.location_from_geometry = false;
    return {};
  }
  auto o = object_at(v, "location");
  if (!o) return std::unexpected(o.error());
  if (auto ok = only_members(**o, "location", {"latitude", "longitude", "geometry", "required"});
      !ok) {
    return ok;
  }
  const auto* lat = (*o)->if_contains("latitude");
  const auto* lon = (*o)->if_contains("longitude");
  const auto* geometry = (*o)->if_contains("geometry");
  if (const auto* r = (*o)->if_contains("required")) {
    auto b = bool_at(*r, "location.required");
    if (!b) return std::unexpected(b.error());
    m.location_required = *b;
  }
  if (geometry) {
    if (lat || lon) return std::unexpected(bad("location", "give geometry or latitude/longitude"));
    auto b = bool_at(*geometry, "location.geometry");
    if (!b) return std::unexpected(b.error());
    if (*b && m.format != SourceFormat::kGeoJson) {
      return std::unexpected(bad("location.geometry", "only a GeoJSON source has geometries"));
    }
    m.location_from_geometry = *b;
    return {};
  }
  if (!lat || !lon) {
    return std::unexpected(bad("location", "needs both latitude and longitude columns"));
  }
  auto la = string_at(*lat, "location.latitude");
  if (!la) return std::unexpected(la.error());
  auto lo = string_at(*lon, "location.longitude");
  if (!lo) return std::unexpected(lo.error());
  m.latitude_column = *la;
  m.longitude_column = *lo;
  m.location_from_geometry = false;
  return {};
}

}  // namespace

base::Result<ImportMapping> parse_import_mapping(const json::value& doc,
                                                 const std::filesystem::path& base_dir) {
  auto o = object_at(doc, "the mapping");
  if (!o) return std::unexpected(o.error());
  if (auto ok = only_members(**o, "the mapping",
                             {"name", "description", "source", "where", "tenant", "@context",
                              "upsert", "entity", "location", "attributes",
                              // read by the catalog (docs/CATALOG.md), not by the import
                              "dataset"});
      !ok) {
    return std::unexpected(ok.error());
  }
  ImportMapping m;
  for (auto [member, target] : {std::pair{"name", &m.name}, std::pair{"description",
                                                                      &m.description},
                                std::pair{"tenant", &m.tenant}}) {
    if (const auto* v = (*o)->if_contains(member)) {
      auto s = string_at(*v, member, true);
      if (!s) return std::unexpected(s.error());
      *target = *s;
    }
  }
  const auto* source = (*o)->if_contains("source");
  if (!source) return std::unexpected(bad("the mapping", "needs a source"));
  if (auto ok = parse_source(*source, base_dir, m); !ok) return std::unexpected(ok.error());
  m.location_from_geometry = m.format == SourceFormat::kGeoJson;
  m.location_required = m.location_from_geometry;
  if (const auto* w = (*o)->if_contains("where")) {
    auto conditions = parse_conditions(*w, "where");
    if (!conditions) return std::unexpected(conditions.error());
    m.where = std::move(*conditions);
  }
  if (const auto* c = (*o)->if_contains("@context")) m.context = *c;
  if (const auto* u = (*o)->if_contains("upsert")) {
    auto mode = enum_at(*u, "upsert", kUpsertModes);
    if (!mode) return std::unexpected(mode.error());
    m.upsert = *mode;
  }
  const auto* entity = (*o)->if_contains("entity");
  if (!entity) return std::unexpected(bad("the mapping", "needs an entity (type and id)"));
  if (auto ok = parse_entity_spec(*entity, m); !ok) return std::unexpected(ok.error());
  if (const auto* l = (*o)->if_contains("location")) {
    m.location_required = true;
    if (auto ok = parse_location(*l, m); !ok) return std::unexpected(ok.error());
  }
  if (const auto* a = (*o)->if_contains("attributes")) {
    auto attrs = object_at(*a, "attributes");
    if (!attrs) return std::unexpected(attrs.error());
    if ((*attrs)->size() > kImportAttributesMax) {
      return std::unexpected(bad("attributes", fmt::format("has more than {} attributes",
                                                           kImportAttributesMax)));
    }
    for (const auto& [name, spec] : **attrs) {
      const std::string key(name);
      if (key == "id" || key == "type" || key == "scope" || key == "@context" ||
          (key == "location" && (m.location_from_geometry || m.latitude_column))) {
        return std::unexpected(bad("attributes." + key,
                                   "is set by the mapping itself (entity / location)"));
      }
      auto parsed = parse_attribute_spec(key, spec, "attributes." + key);
      if (!parsed) return std::unexpected(parsed.error());
      m.attributes.push_back(std::move(*parsed));
    }
  }
  return m;
}

base::Result<ImportMapping> load_import_mapping(const std::filesystem::path& path) {
  const auto label = path.filename().string();
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("{}: cannot read: {}", path.string(), ec.message()));
  }
  if (size > kImportMappingBytesMax) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("{}: larger than {} bytes", label, kImportMappingBytesMax));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return base::fail(ErrorKind::kInvalidRequest, fmt::format("{}: cannot read", label));
  auto doc = json::parse(text.str());
  if (!doc) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("{}: {}", label, doc.error().detail));
  }
  auto m = parse_import_mapping(*doc, path.parent_path());
  if (!m) {
    return base::fail(ErrorKind::kInvalidRequest, fmt::format("{}: {}", label, m.error().detail));
  }
  if (m->name.empty()) m->name = path.stem().string();
  return m;
}

}  // namespace cityroom::ingest
