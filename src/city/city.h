// city: a city is configuration. A city file (data/cities/*.json, docs/CATALOG.md) names the
// city (ko/en), its administrative code, map centre, zoom, bounding box, boundary entity and
// time zone, the folder of import mappings that load its data, and its connectors.
//
// `load_city` reads and checks the file; `city_json` is what GET /cityroom/v1/city answers.
// `import_city` runs the city's mappings in file-name order through the hub, but only those
// whose mapping or source file changed since their last import: a stamp per mapping (an FNV-1a
// hash of the mapping and its source, store record kind "city.import") says what was imported.
// Re-importing upserts, so it updates and never duplicates. Each mapping is a catalog dataset;
// its metadata comes from the mapping's `dataset` block.
//
// Thread-safety: the functions are called from one thread at start; the hub and catalog they
// use are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "base/base.h"
#include "catalog/catalog.h"
#include "hub/hub.h"
#include "json/json.h"
#include "ldcontext/ldcontext.h"

namespace cityroom::city {

inline constexpr std::string_view kStampKind = "city.import";
inline constexpr std::size_t kCityFileBytesMax = 1024 * 1024;

struct CityConfig {
  std::string id;  // "gangnam"
  catalog::Text name;
  std::string admin_code;             // 10-digit ministry code, e.g. "1168000000"
  std::array<double, 2> centre{};     // lon, lat
  double zoom = 13;
  std::array<double, 4> bbox{};       // west, south, east, north
  std::string boundary_entity;        // urn:ngsi-ld:AdministrativeArea:<adminCode>
  std::string timezone = "Asia/Seoul";
  std::filesystem::path mappings_dir;  // resolved against the city file's folder; empty: none
  json::array connectors;              // each read by connectors::parse_connector_config
  std::filesystem::path file;          // the city file itself
};

// Reads and checks a city file. Errors (InvalidRequest) name the file and the member.
base::Result<CityConfig> load_city(const std::filesystem::path& path);
base::Result<CityConfig> parse_city(const json::value& doc, const std::filesystem::path& base_dir);
// {"id","name":{"ko","en"},"adminCode","centre","zoom","bbox","boundaryEntity","dongType",
//  "timezone"} (docs/DATA-MODEL.md).
json::object city_json(const CityConfig& c);

// The city's mapping files (*.json in mappings_dir), in file-name order.
base::Result<std::vector<std::filesystem::path>> mapping_files(const CityConfig& c);

// FNV-1a 64 over the bytes, continued from `h`.
std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = 0xcbf29ce484222325ull);

struct MappingOutcome {
  std::string name;        // the mapping's name (= its dataset id unless the block says)
  bool skipped = false;    // unchanged since the last import
  std::string report;      // ingest::format_report, or why it failed
  bool failed = false;
  std::size_t imported = 0;
};

struct ImportOptions {
  bool force = false;  // import even when the stamp matches
  std::function<void(const std::string&)> log;  // one line per mapping; may be empty
};

// Imports the city's changed mappings into `hub` and registers each as a catalog dataset
// (catalog may be null). A mapping that fails does not stop the others; it is recorded as a
// failure in the catalog and in the outcome. Fails only when the mapping folder is unreadable
// or a mapping file is invalid.
base::Result<std::vector<MappingOutcome>> import_city(const CityConfig& c, hub::Hub& hub,
                                                      ldcontext::ContextStore& contexts,
                                                      catalog::Catalog* catalog,
                                                      const ImportOptions& options);

}  // namespace cityroom::city
