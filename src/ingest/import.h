// ingest/import: declarative import of files (CSV, GeoJSON) into entities.
//
// An `ImportMapping` (a JSON file, documented in docs/IMPORT.md) says how one source file
// becomes entities: the format and encoding, a row filter, the entity type and id template, the
// location, and one spec per attribute (column → Property/Relationship/GeoProperty with a value
// type, unit and scale). Importing runs in four steps, each a pure function tested on its own:
//   decode (iconv → UTF-8, BOM removed) → read records (CSV or GeoJSON features)
//   → select (the mapping's `where`) → map (record → NGSI-LD entity in terms, normalized).
// The entities then go to an `ImportSink` in batches of at most kImportBatchEntitiesMax as
// upserts: into a hub opened on a data dir, or to a running server over HTTP. Ids come from the
// source, so importing the same file again updates the same entities and never duplicates.
//
// A record that cannot be mapped (a bad number, a missing required column, an unterminated
// quote, an invalid geometry, an id already produced by an earlier row) is a RowError with its
// line (CSV: the file line where the record starts; GeoJSON: the feature's 1-based index) and
// is skipped and counted; only problems of the whole file (unreadable, wrong encoding, no
// FeatureCollection, a column the mapping names but the header lacks) stop an import.
//
// Thread-safety: the pure functions are thread-safe; an ImportSink is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "hub/hub.h"
#include "json/json.h"
#include "ldcontext/ldcontext.h"

namespace cityroom::ingest {

inline constexpr std::size_t kImportBatchEntitiesMax = 1000;  // entities per upsert
// Over HTTP a batch is also cut before its body reaches this size (the server's default body
// limit is 1 MiB; road polylines make 1,000 entities larger than that).
inline constexpr std::size_t kImportBatchBytesMax = 768 * 1024;
inline constexpr std::size_t kImportSourceBytesMax = 512ull * 1024 * 1024;
inline constexpr std::size_t kImportMappingBytesMax = 1024 * 1024;
inline constexpr std::size_t kImportAttributesMax = 256;
inline constexpr std::size_t kImportConditionsMax = 64;
inline constexpr std::size_t kImportColumnsMax = 4096;
inline constexpr std::size_t kImportRowErrorsKept = 1000;  // more are only counted

enum class SourceFormat { kCsv, kGeoJson };
enum class ValueType { kString, kNumber, kInteger, kBoolean, kDate, kDateTime, kJson };
enum class AttrKind { kProperty, kRelationship, kGeoProperty };
enum class UpsertMode { kUpdate, kReplace };

// Where a value comes from: a column (optionally one `key=value` pair of a `k=v;k=v` cell), a
// template over columns, or a constant.
struct ValueSource {
  enum class From { kColumn, kTemplate, kConstant };
  From from = From::kColumn;
  std::string column;               // kColumn
  std::optional<std::string> pick;  // kColumn: the key to pick from a `k=v;k=v` cell
  std::string text;                 // kTemplate: "urn:ngsi-ld:X:{col}"; see expand_template
  json::value constant;             // kConstant
};

// One row-filter test. All conditions of a list must hold.
struct Condition {
  enum class Op { kEquals, kPrefix, kIn, kContains, kNotEmpty };
  std::string column;
  std::optional<std::string> pick;
  Op op = Op::kEquals;
  std::vector<std::string> values;  // one for equals/prefix/contains, any number for in
};

struct AttributeSpec {
  std::string name;  // the attribute term (expanded through the mapping's @context)
  AttrKind kind = AttrKind::kProperty;
  ValueSource source;
  ValueType type = ValueType::kString;
  std::optional<std::string> unit_code;
  std::optional<double> scale;       // numbers are multiplied by it
  std::optional<std::string> split;  // a cell split on this separator gives an array of values
  bool required = false;             // an empty or missing value makes the row bad
};

// An additional type given to the rows that meet `where` (e.g. heat shelters that are senior
// centres also get the type SeniorCenter).
struct ExtraType {
  std::string type;
  std::vector<Condition> where;
};

struct ImportMapping {
  std::string name;  // for reports; defaults to the file's stem
  std::string description;
  // source
  SourceFormat format = SourceFormat::kCsv;
  std::string encoding = "UTF-8";  // any iconv name: CP949, EUC-KR, UTF-16, ...
  char delimiter = ',';
  bool header = true;                // CSV: the first record (after skip_rows) names the columns
  std::size_t skip_rows = 0;         // CSV: records skipped before the header (or the data)
  std::vector<std::string> columns;  // CSV: column names given here instead of (or over) the header
  std::filesystem::path source_file;  // default SOURCE, resolved against the mapping's folder
  std::vector<std::string> null_values = {""};  // cells read as "no value" (after trimming)
  // selection and target
  std::vector<Condition> where;
  std::string tenant;  // empty: the default tenant
  json::value context;  // the @context spec; null: the core context
  UpsertMode upsert = UpsertMode::kUpdate;
  // entity
  std::string entity_type;
  std::vector<ExtraType> extra_types;
  std::string id_template;
  std::optional<std::string> scope_template;
  // location: from latitude/longitude columns (CSV) or the feature's geometry (GeoJSON)
  std::optional<std::string> latitude_column, longitude_column;
  bool location_from_geometry = false;
  bool location_required = true;
  std::vector<AttributeSpec> attributes;
};

// Reads and checks a mapping file. Errors (InvalidRequest) name the file and the member:
// "cctv.json: attributes.cameraNum.type: 'float' is not one of string, number, ...".
base::Result<ImportMapping> load_import_mapping(const std::filesystem::path& path);
// The same on a parsed document; `base_dir` resolves source.file.
base::Result<ImportMapping> parse_import_mapping(const json::value& doc,
                                                 const std::filesystem::path& base_dir);

// ---- the pure steps ---------------------------------------------------------------------

struct RowError {
  std::size_t line = 0;  // CSV: file line where the record starts; GeoJSON: feature number
  std::string message;
};

// `bytes` in `encoding` → UTF-8 without a BOM. Errors name the line of the first bad byte.
base::Result<std::string> decode_to_utf8(std::string_view bytes, std::string_view encoding);

struct CsvRecord {
  std::size_t line = 0;  // 1-based line where the record starts
  std::vector<std::string> fields;
};
struct CsvParse {
  std::vector<CsvRecord> records;
  std::vector<RowError> errors;  // records that cannot be read (e.g. an unterminated quote)
};
// RFC 4180 with the usual leniency: CRLF, LF or CR line ends; quoted fields with "" escapes,
// embedded delimiters and newlines; a blank line is no record; a last line without a newline.
CsvParse parse_csv(std::string_view utf8, char delimiter = ',');

// One source record: its fields by column name (CSV cells are strings; GeoJSON properties keep
// their JSON kinds) and, for GeoJSON, the geometry.
struct SourceRecord {
  std::size_t line = 0;  // see RowError::line
  std::size_t row = 0;   // 1-based data record number, counted before filtering ({row})
  json::object fields;
  json::value geometry;  // null when none
};
struct SourceRecords {
  std::vector<SourceRecord> records;
  std::vector<RowError> errors;
};
// Decodes and reads a whole source file. Fails for problems of the whole file; a column named
// by the mapping that the CSV header lacks is such a problem.
base::Result<SourceRecords> read_source(const ImportMapping& mapping, std::string_view bytes);

// True when the record passes the mapping's `where`.
bool record_selected(const ImportMapping& mapping, const SourceRecord& record);
bool conditions_hold(const std::vector<Condition>& conditions, const SourceRecord& record);

// Replaces `{column}` with the record's (trimmed) value, `{column:key}` with one pair of a
// `k=v;k=v` cell and `{row}` with the record number. When `for_id`, characters a URI may not
// hold (space, <>"{}|\^`%, and /?# to keep ids path-safe) are percent-encoded. BadRequestData
// when a value is empty or missing.
base::Result<std::string> expand_template(std::string_view text, const SourceRecord& record,
                                          bool for_id);

// The record as a normalized NGSI-LD entity in terms (before expansion), or why not.
base::Result<json::object> map_record(const ImportMapping& mapping, const SourceRecord& record);

// ---- running ----------------------------------------------------------------------------

// Where the mapped entities go. `upsert` receives wire entities (terms, no @context) and
// answers which of them failed (by index into the batch).
struct SinkFailure {
  std::size_t index = 0;
  std::string message;
};
struct SinkOutcome {
  std::size_t created = 0;  // of the successes, how many did not exist before (if known)
  std::vector<SinkFailure> failures;
};
class ImportSink {
 public:
  virtual ~ImportSink() = default;
  virtual base::Result<SinkOutcome> upsert(const ImportMapping& mapping,
                                           std::vector<json::object> entities) = 0;
};

// Upserts into `hub` (opened by the caller on a data dir): entities are parsed with
// model::parse_entity exactly as the HTTP API does, with the mapping's @context resolved
// through `contexts`.
std::unique_ptr<ImportSink> make_hub_sink(hub::Hub& hub, ldcontext::ContextStore& contexts);
// POSTs to `base_url` (http://host:port) /ngsi-ld/v1/entityOperations/upsert with the mapping's
// @context in each entity (application/ld+json), in batches cut at kImportBatchBytesMax.
// `api_key` (a cityroom key, "crk_..."), when given, goes in `Authorization: Bearer`.
base::Result<std::unique_ptr<ImportSink>> make_http_sink(std::string_view base_url,
                                                         std::string api_key = {});

struct ImportReport {
  std::string mapping;
  std::string source;  // the file name
  SourceFormat format = SourceFormat::kCsv;
  std::size_t records = 0;       // data records read
  std::size_t filtered_out = 0;  // not selected by `where`
  std::size_t imported = 0;      // upserted successfully
  std::size_t created = 0;       // of those, new entities
  std::size_t bad = 0;           // skipped: unreadable, unmappable or refused
  std::vector<RowError> errors;  // the first kImportRowErrorsKept
  double seconds = 0;
};

// Reads `source` (empty: the mapping's source.file), maps every selected record and upserts in
// batches. `dry_run` maps and validates without a sink (sink may then be null).
base::Result<ImportReport> run_import(const ImportMapping& mapping,
                                      const std::filesystem::path& source, ImportSink* sink,
                                      bool dry_run = false);

// "cctv.csv:12: latitude '' ..." (CSV) or "roads.geojson: feature 7: ..." (GeoJSON).
std::string format_row_error(const ImportReport& report, const RowError& error);
// "gangnam-cctv: 7007 records, 0 filtered out, 7007 imported (7007 new), 0 bad, 0.9 s"
std::string format_report(const ImportReport& report);

}  // namespace cityroom::ingest
