// store: where entities persist, behind one interface; `store/sqlite/` is the embedded backend.
//
// Writes go through ONE writer thread. A caller submits a `Work` (a function run on the writer
// thread inside a transaction); the writer takes every pending work item (up to
// kGroupCommitMax), runs each in its own savepoint — a failing item rolls back only itself —
// and commits them together (group commit). Each item's `done` callback runs after the commit
// is durable (WAL, synchronous=NORMAL by default: survives kill -9; FULL on request survives
// power loss), or with the error. So an HTTP write is answered only after its commit.
// Reads (`get`, `query`, discovery) run on any thread through a pool of read connections and
// see the last committed state.
//
// Indexes: (tenant, id) primary key; (tenant, type, id) for each entity type; the bounding box
// of every GeoProperty instance, as a quadtree cell keyed by (tenant, attribute) (the sqlite
// backend keeps it in the value index: an R*Tree insert cost more than the rest of a put); a
// value index of every top-level Property/Relationship with a number or string value keyed by
// (tenant, attribute, value) for q push-down. Tenants are created on first write.
// Schema is versioned (`PRAGMA user_version`) with forward migrations applied at open.
// History: every attribute instance a work item writes can be appended (`append_history`) in
// the same transaction, so history is exactly as durable as the entity; `history` reads it
// (store/sqlite/history.h holds the layout: compressed chunks per series, sealed from a head
// of recent points by the writer thread in the background; retention and rollups per entity
// type as `SqliteOptions::history_policy` says).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/base.h"
#include "geo/geo.h"
#include "json/json.h"
#include "model/model.h"
#include "query/query.h"

namespace cityroom::store {

inline constexpr std::size_t kGroupCommitMax = 2048;  // work items per transaction
inline constexpr std::size_t kWriteQueueMax = 65536;  // pending items; beyond → ServiceUnavailable
inline constexpr std::size_t kQueryScanMax = 10'000'000;  // rows examined by one query
// offset + limit of a query with orderBy (each of those matches' keys is held while ordering)
inline constexpr std::size_t kOrderWindowMax = 100'000;

inline constexpr std::string_view kDefaultTenant = "";  // no NGSILD-Tenant header

// One attribute instance as written, for history. The instance keeps its internal form (see
// model.h); the store keeps numbers and strings natively and the rest as JSON.
struct HistoryPoint {
  std::string attribute;      // expanded IRI
  base::Micros time = 0;      // observedAt when `observed`, else the write time
  base::Micros modified = 0;  // the write time (becomes the instanceId, made unique)
  bool observed = false;
  json::object instance;
};

inline constexpr std::size_t kHistoryRowsMax = 1'000'000;  // rows one history read may return

// A group of points of one series as aggregation needs them (all numbers finite).
struct HistorySummary {
  base::Micros first = 0, last = 0;  // times of the first and last point
  std::uint64_t count = 0;           // all values
  std::uint64_t numbers = 0;         // numeric values; the rest describe those only
  double sum = 0, sumsq = 0, min = 0, max = 0;
  double m2 = 0;  // sum of squared deviations from the mean (for stddev)
};

// Which points a history read wants: one entity, some attributes, a time window.
struct HistoryQuery {
  enum class TimeProperty { kObservedAt, kModifiedAt };
  std::string entity_id;
  std::optional<std::vector<std::string>> attributes;  // expanded IRIs; nullopt = all
  TimeProperty time_property = TimeProperty::kObservedAt;
  base::Micros from = INT64_MIN;  // inclusive
  base::Micros to = INT64_MAX;    // exclusive
  std::optional<std::size_t> last_n;  // the last N points of each attribute in the window
  bool values_only = false;  // skip instance members (aggregation reads only value + time)
  std::size_t limit = kHistoryRowsMax;  // per attribute
  // When set, each row's time, instance number and value go to `visit` (attribute by
  // attribute, ascending time) instead of into the answer's rows: an aggregation over a long
  // history streams through without holding it. Implies values_only.
  std::function<void(std::string_view attribute, base::Micros time, std::int64_t instance,
                     const json::value& value)>
      visit;
  // Aggregation fast path (history::aggregate_history sets both; used only with `visit`, an
  // observedAt window and no lastN). `period_end(t)` is the end (exclusive) of the
  // aggregation period holding time t (INT64_MAX: one period). The store may then hand a group
  // of points that lie in one period — a sealed chunk wholly inside the window, a run of a
  // chunk's numbers, a rollup row standing for points retention dropped — as one summary to
  // `visit_summary` instead of point by point. Summaries and points then come in no
  // particular order; summaries count in `visited` and against `limit` by their `count`.
  std::function<base::Micros(base::Micros t)> period_end;
  std::function<void(std::string_view attribute, const HistorySummary& summary)>
      visit_summary;
};

// Retention and downsampling of history per entity type (store/sqlite/history_retention.h).
struct HistoryRetention {
  std::optional<base::Micros> raw;  // raw points older than this are dropped; nullopt: kept
  struct Rollup {
    base::Micros period = 0;           // e.g. one hour
    std::optional<base::Micros> keep;  // rollup rows older than this are dropped
  };
  std::vector<Rollup> rollups;  // made from raw points as they are dropped
};
struct HistoryPolicy {
  HistoryRetention fallback;  // entities of no listed type (and deleted entities)
  // By expanded type IRI, or by its local name (after the last '/', '#' or ':').
  std::vector<std::pair<std::string, HistoryRetention>> types;
};

struct HistoryRow {
  base::Micros time = 0;       // observedAt or the write time (HistoryPoint::time)
  std::int64_t instance = 0;   // the instanceId number (the write time in µs, made unique)
  json::value value;           // the value member (value, object, languageMap, ...)
  json::object instance_doc;   // the whole instance, with observedAt/modifiedAt (not values_only)
};

struct HistorySeries {
  std::string attribute;
  std::vector<HistoryRow> rows;  // ascending time (empty when the query had `visit`)
  std::size_t visited = 0;       // rows handed to `visit`
  bool truncated = false;        // more rows matched than `limit`
};

// The writer thread's view inside one work item. Valid only during the Work call.
class Transaction {
 public:
  virtual ~Transaction() = default;
  virtual base::Result<std::optional<model::Entity>> get(std::string_view tenant,
                                                         std::string_view id) = 0;
  // Inserts or replaces the whole entity (index rows are rewritten).
  virtual base::Result<void> put(std::string_view tenant, const model::Entity& entity) = 0;
  // Returns false when there was no such entity.
  virtual base::Result<bool> remove(std::string_view tenant, std::string_view id) = 0;
  // Ids of the entities of `tenant` matching `filter` (for purge: DELETE /entities?type=...).
  virtual base::Result<std::vector<std::string>> ids_matching(std::string_view tenant,
                                                              const struct EntityQuery& q) = 0;
  // Records (see `Record`): inserts or replaces; remove returns false when there was none.
  virtual base::Result<void> put_record(std::string_view kind, std::string_view tenant,
                                        std::string_view id, std::string_view doc) = 0;
  virtual base::Result<bool> remove_record(std::string_view kind, std::string_view tenant,
                                           std::string_view id) = 0;
  // History (see `HistoryPoint`): appended points of entity `id`; remove drops all of them and
  // returns how many there were.
  virtual base::Result<void> append_history(std::string_view tenant, std::string_view id,
                                            std::span<const HistoryPoint> points) = 0;
  virtual base::Result<std::size_t> remove_history(std::string_view tenant,
                                                   std::string_view id) = 0;
  // One instance of an attribute's history by its instance number, with its whole document
  // (the temporal API's instance PATCH reads it to merge); nullopt when there is none.
  virtual base::Result<std::optional<HistoryRow>> history_instance(
      std::string_view tenant, std::string_view id, std::string_view attribute,
      std::int64_t instance) = 0;
  // Replaces instance `instance` of `point.attribute` by `point` (which may move it in time);
  // the instance keeps its number. False when there was none.
  virtual base::Result<bool> replace_history_instance(std::string_view tenant,
                                                      std::string_view id, std::int64_t instance,
                                                      const HistoryPoint& point) = 0;
  virtual base::Result<bool> remove_history_instance(std::string_view tenant,
                                                     std::string_view id,
                                                     std::string_view attribute,
                                                     std::int64_t instance) = 0;
  // Drops an attribute's history: every dataset (`dataset_id` nullopt) or one ("" = the
  // default instance, no datasetId). Returns how many points there were.
  virtual base::Result<std::size_t> remove_history_attribute(
      std::string_view tenant, std::string_view id, std::string_view attribute,
      const std::optional<std::string>& dataset_id) = 0;
};

// A small document that is not an entity — a subscription today, later a rule or a user — kept
// in the same database and transactions as the entities, keyed by (kind, tenant, id). The store
// does not look inside `doc`.
struct Record {
  std::string tenant;
  std::string id;
  std::string doc;
};

// The result a work item hands back to its `done` callback (opaque to the store).
using WorkOutput = std::shared_ptr<void>;
using Work = std::function<base::Result<WorkOutput>(Transaction&)>;
using Done = std::function<void(base::Result<WorkOutput>)>;

struct EntityQuery {
  // Push-down filters (all optional, ANDed).
  std::optional<std::vector<std::string>> ids;
  std::optional<std::string> id_pattern;                    // ECMAScript regex on the id
  std::optional<std::vector<std::string>> any_of_types;     // expanded type IRIs
  struct GeoBox {
    std::string attribute;  // expanded IRI of the GeoProperty
    geo::Box box;
  };
  std::optional<GeoBox> geo_box;
  std::vector<query::Filter::Condition> conditions;  // store may use any subset as index hints
  // The exact filter; runs on the parsed entity after the push-downs. Null = accept.
  std::function<bool(const model::Entity&)> predicate;
  // Order of the matches: by id unless `order_by` is set; then by its keys, ties by id. An
  // ordering sees every match before paging (offset/limit cut the ordered list, count is the
  // same as without it), so it costs a pass over all matches unless the store can walk a
  // value index in order (one key on a top-level attribute, see store/sqlite/query_engine.h).
  std::optional<query::Ordering> order_by;
  // Paging.
  std::size_t offset = 0;
  std::size_t limit = 20;
  bool count = false;  // also compute the total number of matches
};

struct QueryResult {
  std::vector<model::Entity> entities;
  std::optional<std::size_t> total;
};

struct TypeSummary {
  std::string type;  // expanded IRI
  std::size_t entity_count = 0;
  std::vector<std::string> attributes;  // expanded IRIs seen on entities of the type
};

struct AttributeSummary {
  std::string attribute;  // expanded IRI
  std::size_t entity_count = 0;
  std::vector<std::string> types;           // entity types that have it
  std::vector<std::string> attribute_types; // Property, Relationship, ...
};

struct Stats {
  std::uint64_t commits = 0;
  std::uint64_t work_items = 0;
  std::uint64_t queue_depth = 0;
  // Histogram of group-commit batch sizes: bucket upper bounds 1,2,4,...,2048.
  std::vector<std::uint64_t> batch_size_buckets;
  std::uint64_t entities = 0;  // all tenants
  std::string state;           // "ok", "read-only", "closed"
};

class Store {
 public:
  virtual ~Store() = default;

  // Submits a unit of work to the writer. `done` is called exactly once, on the writer thread,
  // after the commit (or with the error). A full queue answers ServiceUnavailable at once.
  virtual void write(Work work, Done done) = 0;

  virtual base::Result<std::optional<model::Entity>> get(std::string_view tenant,
                                                         std::string_view id) = 0;
  virtual base::Result<QueryResult> query(std::string_view tenant, const EntityQuery& q) = 0;
  virtual base::Result<bool> tenant_exists(std::string_view tenant) = 0;
  virtual base::Result<std::vector<TypeSummary>> types(std::string_view tenant) = 0;
  virtual base::Result<std::vector<AttributeSummary>> attributes(std::string_view tenant) = 0;
  // Every record of a kind, all tenants, ordered by (tenant, id). For loading at start.
  virtual base::Result<std::vector<Record>> records(std::string_view kind) = 0;
  // History of one entity; an entity with none answers an empty list.
  virtual base::Result<std::vector<HistorySeries>> history(std::string_view tenant,
                                                           const HistoryQuery& q) = 0;
  // The same for many entities at once (a temporal query; `q.entity_id` is ignored): one list
  // per id, in the order of `ids`. Default: one `history` read per id.
  virtual base::Result<std::vector<std::vector<HistorySeries>>> history_many(
      std::string_view tenant, std::span<const std::string> ids, const HistoryQuery& q);

  // Runs history maintenance now (seals every head point into chunks, applies retention
  // and rollups with the store's clock) and returns when done. The store also does this in
  // the background; this is for tests, benchmarks and tools. Default: nothing to do.
  virtual base::Result<void> maintain_history() { return {}; }

  virtual Stats stats() = 0;
  // Stops accepting work, drains the queue, commits, checkpoints, closes. Idempotent.
  virtual void close() = 0;
};

struct SqliteOptions {
  std::filesystem::path data_dir;   // holds cityroom.db (+ -wal, -shm)
  bool synchronous_full = false;    // FULL survives power loss; NORMAL survives process crashes
  std::size_t read_connections = 4;
  std::size_t cache_mib = 256;
  HistoryPolicy history_policy{};           // default: keep every raw point forever
  std::function<base::Micros()> clock{};    // history maintenance's "now"; null: system time
  bool history_background = true;           // seal and apply retention on the writer thread
};

base::Result<std::unique_ptr<Store>> open_sqlite(const SqliteOptions& options);

}  // namespace cityroom::store
