// Reading a city file, the /city document, and importing the city's mappings on start.
#include "city/city.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <map>
#include <sstream>

#include "ingest/import.h"

namespace cityroom::city {
namespace {

using base::ErrorKind;

base::Result<std::string> read_all(const std::filesystem::path& path, std::size_t max) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("{}: cannot read: {}", path.string(), ec.message()));
  }
  if (size > max) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("{}: larger than {} bytes", path.string(), max));
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!in) return base::fail(ErrorKind::kInvalidRequest, fmt::format("{}: cannot read", path.string()));
  return bytes;
}

base::Error bad(std::string_view member, std::string_view message) {
  return {ErrorKind::kInvalidRequest, fmt::format("{}: {}", member, message)};
}

base::Result<std::vector<double>> numbers(const json::object& o, std::string_view key,
                                          std::size_t n) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_array() || v->get_array().size() != n) {
    return std::unexpected(bad(key, fmt::format("must be an array of {} numbers", n)));
  }
  std::vector<double> out;
  for (const auto& x : v->get_array()) {
    if (!x.is_number()) return std::unexpected(bad(key, fmt::format("must be an array of {} numbers", n)));
    out.push_back(x.to_number<double>());
  }
  return out;
}

base::Result<std::string> text(const json::object& o, std::string_view key, bool required) {
  const auto* v = o.if_contains(key);
  if (!v) {
    if (required) return std::unexpected(bad(key, "is required"));
    return std::string();
  }
  if (!v->is_string() || v->get_string().empty()) {
    return std::unexpected(bad(key, "must be a non-empty string"));
  }
  return std::string(v->get_string());
}

base::Result<void> put_stamp(hub::Hub& hub, const std::string& name, const std::string& doc) {
  std::promise<base::Result<store::WorkOutput>> done;
  auto f = done.get_future();
  hub.store().write(
      [&](store::Transaction& tx) -> base::Result<store::WorkOutput> {
        if (auto ok = tx.put_record(kStampKind, "", name, doc); !ok) {
          return std::unexpected(ok.error());
        }
        return store::WorkOutput{};
      },
      [&done](base::Result<store::WorkOutput> r) { done.set_value(std::move(r)); });
  auto r = f.get();
  if (!r) return std::unexpected(r.error());
  return {};
}

}  // namespace

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

base::Result<CityConfig> parse_city(const json::value& doc, const std::filesystem::path& base_dir) {
  if (!doc.is_object()) return std::unexpected(bad("the city", "must be an object"));
  const auto& o = doc.get_object();
  static constexpr std::array kKnown{"id", "name", "adminCode", "centre", "zoom", "bbox",
                                     "boundaryEntity", "timezone", "mappings", "connectors",
                                     "description"};
  for (const auto& [k, v] : o) {
    if (std::ranges::find(kKnown, std::string_view(k)) == kKnown.end()) {
      return std::unexpected(bad(std::string_view(k), "unknown member"));
    }
  }
  CityConfig c;
  auto id = text(o, "id", true);
  if (!id) return std::unexpected(id.error());
  c.id = *id;
  const auto* name = o.if_contains("name");
  if (!name || !name->is_object() || !name->get_object().contains("ko") ||
      !name->get_object().contains("en") || !name->get_object().at("ko").is_string() ||
      !name->get_object().at("en").is_string()) {
    return std::unexpected(bad("name", "must be {\"ko\": ..., \"en\": ...}"));
  }
  c.name = {std::string(name->at("ko").get_string()), std::string(name->at("en").get_string())};
  auto code = text(o, "adminCode", true);
  if (!code) return std::unexpected(code.error());
  if (code->size() != 10 || !std::ranges::all_of(*code, [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return std::unexpected(bad("adminCode", "must be the 10-digit administrative code"));
  }
  c.admin_code = *code;
  auto centre = numbers(o, "centre", 2);
  if (!centre) return std::unexpected(centre.error());
  c.centre = {(*centre)[0], (*centre)[1]};
  auto bbox = numbers(o, "bbox", 4);
  if (!bbox) return std::unexpected(bbox.error());
  c.bbox = {(*bbox)[0], (*bbox)[1], (*bbox)[2], (*bbox)[3]};
  if (c.bbox[0] >= c.bbox[2] || c.bbox[1] >= c.bbox[3]) {
    return std::unexpected(bad("bbox", "must be [west, south, east, north]"));
  }
  if (const auto* z = o.if_contains("zoom")) {
    if (!z->is_number()) return std::unexpected(bad("zoom", "must be a number"));
    c.zoom = z->to_number<double>();
  }
  auto boundary = text(o, "boundaryEntity", false);
  if (!boundary) return std::unexpected(boundary.error());
  c.boundary_entity = boundary->empty()
                          ? "urn:ngsi-ld:AdministrativeArea:" + c.admin_code
                          : *boundary;
  auto tz = text(o, "timezone", false);
  if (!tz) return std::unexpected(tz.error());
  if (!tz->empty()) c.timezone = *tz;
  auto mappings = text(o, "mappings", false);
  if (!mappings) return std::unexpected(mappings.error());
  if (!mappings->empty()) c.mappings_dir = base_dir / *mappings;
  if (const auto* conns = o.if_contains("connectors")) {
    if (!conns->is_array()) return std::unexpected(bad("connectors", "must be an array"));
    c.connectors = conns->get_array();
  }
  return c;
}

base::Result<CityConfig> load_city(const std::filesystem::path& path) {
  auto bytes = read_all(path, kCityFileBytesMax);
  if (!bytes) return std::unexpected(bytes.error());
  auto doc = json::parse(*bytes);
  if (!doc) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("{}: {}", path.string(), doc.error().detail));
  }
  auto c = parse_city(*doc, path.parent_path());
  if (!c) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("{}: {}", path.string(), c.error().detail));
  }
  c->file = path;
  return c;
}

json::object city_json(const CityConfig& c) {
  return json::object{{"id", c.id},
                      {"name", json::object{{"ko", c.name.ko}, {"en", c.name.en}}},
                      {"adminCode", c.admin_code},
                      {"centre", json::array{c.centre[0], c.centre[1]}},
                      {"zoom", c.zoom},
                      {"bbox", json::array{c.bbox[0], c.bbox[1], c.bbox[2], c.bbox[3]}},
                      {"boundaryEntity", c.boundary_entity},
                      {"dongType", "AdministrativeArea"},
                      {"timezone", c.timezone}};
}

base::Result<std::vector<std::filesystem::path>> mapping_files(const CityConfig& c) {
  std::vector<std::filesystem::path> out;
  if (c.mappings_dir.empty()) return out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(c.mappings_dir, ec)) {
    if (entry.path().extension() == ".json") out.push_back(entry.path());
  }
  if (ec) {
    return base::fail(ErrorKind::kInvalidRequest,
                      fmt::format("mappings {}: {}", c.mappings_dir.string(), ec.message()));
  }
  std::ranges::sort(out);
  return out;
}

base::Result<std::vector<MappingOutcome>> import_city(const CityConfig& c, hub::Hub& hub,
                                                      ldcontext::ContextStore& contexts,
                                                      catalog::Catalog* catalog,
                                                      const ImportOptions& options) {
  auto files = mapping_files(c);
  if (!files) return std::unexpected(files.error());
  std::map<std::string, std::string, std::less<>> stamps;
  auto records = hub.store().records(kStampKind);
  if (!records) return std::unexpected(records.error());
  for (auto& r : *records) stamps.emplace(std::move(r.id), std::move(r.doc));

  auto sink = ingest::make_hub_sink(hub, contexts);
  std::vector<MappingOutcome> out;
  for (const auto& path : *files) {
    auto mapping_bytes = read_all(path, ingest::kImportMappingBytesMax);
    if (!mapping_bytes) return std::unexpected(mapping_bytes.error());
    auto m = ingest::load_import_mapping(path);
    if (!m) return std::unexpected(m.error());
    catalog::DatasetInfo defaults;
    defaults.id = m->name;
    defaults.name = {m->description, m->description};
    defaults.kind = catalog::Kind::kImport;
    defaults.entity_types.push_back(m->entity_type);
    for (const auto& extra : m->extra_types) defaults.entity_types.push_back(extra.type);
    auto doc = json::parse(*mapping_bytes);
    const json::value* block = doc && doc->is_object() ? doc->get_object().if_contains("dataset")
                                                       : nullptr;
    auto info = block ? catalog::parse_dataset_info(*block, defaults)
                      : base::Result<catalog::DatasetInfo>(defaults);
    if (!info) {
      return base::fail(ErrorKind::kInvalidRequest,
                        fmt::format("{}: {}", path.filename().string(), info.error().detail));
    }
    const std::string dataset_id = info->id;
    if (catalog) {
      if (auto ok = catalog->register_dataset(*info); !ok) return std::unexpected(ok.error());
    }
    MappingOutcome outcome{m->name};
    auto source_bytes = read_all(m->source_file, ingest::kImportSourceBytesMax);
    if (!source_bytes) {
      outcome.failed = true;
      outcome.report = fmt::format("{}: {}", m->name, source_bytes.error().detail);
      if (catalog) catalog->record_failure(dataset_id, source_bytes.error().detail, base::now_micros());
      if (options.log) options.log(outcome.report);
      out.push_back(std::move(outcome));
      continue;
    }
    const auto hash = fmt::format("{:016x}", fnv1a(*source_bytes, fnv1a(*mapping_bytes)));
    source_bytes->clear();
    source_bytes->shrink_to_fit();
    const auto stamp = stamps.find(m->name);
    if (!options.force && stamp != stamps.end() && stamp->second.find(hash) != std::string::npos) {
      outcome.skipped = true;
      outcome.report = fmt::format("{}: unchanged since the last import", m->name);
      if (options.log) options.log(outcome.report);
      out.push_back(std::move(outcome));
      continue;
    }
    auto report = ingest::run_import(*m, {}, sink.get());
    if (!report) {
      outcome.failed = true;
      outcome.report = fmt::format("{}: {}", m->name, report.error().detail);
      if (catalog) catalog->record_failure(dataset_id, report.error().detail, base::now_micros());
    } else {
      outcome.imported = report->imported;
      outcome.report = ingest::format_report(*report);
      const auto at = base::now_micros();
      json::object stamp_doc{{"hash", hash}, {"importedAt", base::format_iso8601(at)},
                             {"imported", report->imported}, {"bad", report->bad}};
      if (auto ok = put_stamp(hub, m->name, json::serialize(stamp_doc)); !ok) {
        return std::unexpected(ok.error());
      }
      if (catalog) catalog->record_success(dataset_id, report->imported, at);
    }
    if (options.log) options.log(outcome.report);
    out.push_back(std::move(outcome));
  }
  return out;
}

}  // namespace cityroom::city
