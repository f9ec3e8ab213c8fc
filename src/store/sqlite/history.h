// History of the sqlite store: every attribute instance written, as compressed chunks per
// series plus a small head of recent points (issue #4; figures in docs/PERFORMANCE.md
// "History storage (issue #4)").
//
// Layout (migrations 4 and 5). A series is (tenant, entity, attr); tenant, entity (the entity
// id), attr and ds (datasetId, 0 = default) are ids in `names`; t = observedAt or the write time
// in µs; iid = the write time in µs made strictly increasing per writer (the instanceId);
// k = attribute type code | 16 when t is observedAt; v = the value when it is a number or a
// string (Property value, Relationship object); x = the other members as JSON (NULL when none).
//   history(tenant, entity, attr, t, iid, ds, k, v, x) PRIMARY KEY(tenant, entity, attr, t, iid)
//       WITHOUT ROWID — the head: points written a few at a time (an entity update) land here,
//       in the entity's transaction. (Before migration 5 it held all history; those rows are
//       the head of a migrated database and are sealed in the background.)
//   history_chunk(id, tenant, entity, attr, t0, t1, i0, i1, n, nn, sum, sumsq, m2, mn, mx, data)
//       UNIQUE(tenant, entity, attr, t0, i0) — sealed points: every point of a series in one
//       UTC-day slice, at most kChunkMax per chunk, chunks of a series never overlap in
//       (t, iid) order. `data` is history_codec.h's blob; t0/t1 and i0/i1 the range of times
//       and instance numbers; n points, nn numbers, and over those numbers sum, sumsq, m2
//       (squared deviations), min, max — NULL when not finite, then the chunk is decoded.
//       A rowid table, so that a ~2 KB blob stays in its B-tree page (WITHOUT ROWID rows spill
//       beyond ~1 KB into overflow pages that are mostly empty).
//   history_last(tenant, entity, attr, t, iid, ds, k, v, x) PRIMARY KEY(tenant, entity, attr)
//       WITHOUT ROWID — the newest point (by t, iid) of each series, kept with each write:
//       lastN=1 over many entities is one statement.
//   history_rollup(tenant, entity, attr, period, p0, first, last, n, nn, sum, sumsq, m2, mn,
//       mx) WITHOUT ROWID — per series and rollup period the summary of the raw points that
//       retention dropped from [p0, p0 + period) (history_retention.h).
// Writes: a work item's points of one series go to the head, or — 32 or more at once (an
// import, a batch) — straight into chunks (merged into the day's last chunk). Either way in the
// work item's transaction: an acknowledged write's history survives kill -9. `seal_head` (the
// writer thread's background pass) moves head points into chunks. Points older than a sealed
// chunk, and instance patch/delete on sealed points, rewrite the chunk (decode, change,
// encode).
// Reads merge chunks and head in (t, iid) order; an aggregation (HistoryQuery::visit_summary)
// takes a whole chunk inside one period from its header without decoding it.
// Entity ids are interned so that a point does not repeat a 50-byte URN; a deleted entity keeps
// its history (its name stays in `names`).
#pragma once

#include <functional>
#include <shared_mutex>
#include <unordered_map>
#include <optional>
#include <span>

#include "store/sqlite/db.h"
#include "store/store.h"

namespace cityroom::store::sqlite {

inline constexpr base::Micros kHistorySliceMicros = 86'400'000'000;  // a chunk's time slice
inline constexpr std::size_t kChunkMax = 2048;        // points per chunk
inline constexpr std::size_t kDirectChunkMin = 32;    // points of one series per append → chunk
inline constexpr std::size_t kSealRows = 64;          // head points of a series → seal it
inline constexpr base::Micros kSealAge = 3'600'000'000;  // or its oldest point is this old
inline constexpr std::size_t kSealRowsPerPass = 50'000;  // bounded transactions

// Interns a name in `names` (the writer's cache).
using Intern = std::function<base::Result<std::int64_t>(std::string_view)>;

struct SeriesKey {
  std::int64_t tenant = 0, entity = 0, attr = 0;
};

// Appends points; `last_iid` carries the writer's last instance number (kept increasing).
base::Result<void> append_history(Connection& c, const Intern& intern, std::int64_t tenant,
                                  std::string_view entity_id,
                                  std::span<const HistoryPoint> points, std::int64_t& last_iid);

base::Result<std::size_t> remove_history(Connection& c, std::int64_t tenant,
                                         std::int64_t entity);

// Instance operations of the temporal API (store.h Transaction); tenant, entity and attribute
// by name id where the caller has them.
base::Result<std::optional<HistoryRow>> history_instance(Connection& c, std::string_view tenant,
                                                         std::string_view entity_id,
                                                         std::string_view attribute,
                                                         std::int64_t instance);
base::Result<bool> replace_history_instance(Connection& c, const Intern& intern,
                                            std::int64_t tenant, std::string_view entity_id,
                                            std::int64_t instance, const HistoryPoint& point);
base::Result<bool> remove_history_instance(Connection& c, std::int64_t tenant,
                                           std::int64_t entity, std::int64_t attr,
                                           std::int64_t instance);
// `dataset`: nullopt = every dataset; 0 = the default instance.
base::Result<std::size_t> remove_history_attribute(Connection& c, std::int64_t tenant,
                                                   std::int64_t entity, std::int64_t attr,
                                                   std::optional<std::int64_t> dataset);

// Reads on any connection; tenant by name.
base::Result<std::vector<HistorySeries>> read_history(Connection& c, std::string_view tenant,
                                                      const HistoryQuery& q);
// Entity names → name ids for reads that name many entities (lastN=1 over a page of 10,000).
// Names are append-only and a reader sees only committed ones, so a name's id never changes
// once read: a hit never goes stale. Misses are resolved in one statement and remembered when
// found. Bounded: cleared when it passes kMax names. Thread-safe (shared by read connections).
class NameIds {
 public:
  static constexpr std::size_t kMax = 1'000'000;
  // The ids of `names` in order; 0 for a name that is not (yet) interned.
  base::Result<std::vector<std::int64_t>> resolve(Connection& c,
                                                  std::span<const std::string> names);

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::shared_mutex mu_;
  std::unordered_map<std::string, std::int64_t, Hash, std::equal_to<>> ids_;
};

// Many entities: lastN=1 by observedAt from history_last in one statement, else one
// read_history per id.
base::Result<std::vector<std::vector<HistorySeries>>> read_history_many(
    Connection& c, NameIds& names, std::string_view tenant, std::span<const std::string> ids,
    const HistoryQuery& q);

// ---- maintenance (the writer thread) ----

// Seals head points into chunks: series with kSealRows points or one older than
// `now - kSealAge` (every series when `force`), up to kSealRowsPerPass points. Returns true
// when more is left to seal.
base::Result<bool> seal_head(Connection& c, base::Micros now, bool force);

// Every series with history, after `after` in key order, at most `limit`.
base::Result<std::vector<SeriesKey>> history_series(Connection& c, const SeriesKey& after,
                                                    std::size_t limit);
// Drops the raw points of `key` with time < `cutoff` (sealing its head first), adding them to
// the rollups of each period in `rollup_periods`. Returns how many points were dropped.
base::Result<std::size_t> drop_raw_before(Connection& c, const SeriesKey& key,
                                          base::Micros cutoff,
                                          std::span<const base::Micros> rollup_periods);
// Drops rollup rows of `key` and `period` that end before `cutoff`.
base::Result<std::size_t> drop_rollups_before(Connection& c, const SeriesKey& key,
                                              base::Micros period, base::Micros cutoff);

}  // namespace cityroom::store::sqlite
