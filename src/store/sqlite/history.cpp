#include "store/sqlite/history.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <tuple>
#include <unordered_map>

#include "model/model.h"
#include "store/sqlite/history_codec.h"

namespace cityroom::store::sqlite {
namespace {

using model::key::kCreatedAt;
using model::key::kDatasetId;
using model::key::kModifiedAt;
using model::key::kObservedAt;
using model::key::kType;
using Tag = StoredPoint::Tag;

// Attribute type codes of the k column (append only: the codes are on disk).
constexpr std::array<std::string_view, 8> kTypes = {
    "Property",     "Relationship", "GeoProperty",      "LanguageProperty",
    "VocabProperty", "ListProperty", "ListRelationship", "JsonProperty"};
constexpr std::int64_t kObservedFlag = 16;

// ---- statements ---------------------------------------------------------------------------

#define SERIES "tenant = ?1 AND entity = ?2 AND attr = ?3"
#define POINT_COLS "t, iid, ds, k, v, x"
#define CHUNK_COLS "id, t0, t1, i0, i1, n, nn, sum, sumsq, m2, mn, mx, data"

constexpr char kHeadInsert[] =
    "INSERT OR REPLACE INTO history(tenant, entity, attr, t, iid, ds, k, v, x) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
constexpr char kHeadRange[] = "SELECT " POINT_COLS " FROM history WHERE " SERIES
                              " AND t >= ?4 AND t < ?5 ORDER BY t, iid";
constexpr char kHeadRangeDesc[] = "SELECT " POINT_COLS " FROM history WHERE " SERIES
                                  " AND t >= ?4 AND t < ?5 ORDER BY t DESC, iid DESC LIMIT ?6";
constexpr char kHeadByWrite[] =
    "SELECT " POINT_COLS " FROM history WHERE " SERIES " AND iid >= ?4 AND iid < ?5";
constexpr char kHeadFirst[] =
    "SELECT " POINT_COLS " FROM history WHERE " SERIES " ORDER BY t, iid LIMIT ?4";
constexpr char kHeadDeleteUpTo[] =
    "DELETE FROM history WHERE " SERIES " AND (t < ?4 OR (t = ?4 AND iid <= ?5))";
constexpr char kHeadBefore[] =
    "SELECT " POINT_COLS " FROM history WHERE " SERIES " AND t < ?4 ORDER BY t, iid";
constexpr char kHeadDeleteBefore[] = "DELETE FROM history WHERE " SERIES " AND t < ?4";
constexpr char kHeadSeries[] =
    "SELECT tenant, entity, attr, count(*), min(t) FROM history GROUP BY tenant, entity, attr";
constexpr char kHeadRemoveEntity[] = "DELETE FROM history WHERE tenant = ?1 AND entity = ?2";
constexpr char kHeadRemoveInstance[] = "DELETE FROM history WHERE " SERIES " AND iid = ?4";
constexpr char kHeadRemoveSeries[] = "DELETE FROM history WHERE " SERIES;
constexpr char kHeadRemoveDataset[] = "DELETE FROM history WHERE " SERIES " AND ds = ?4";
constexpr char kHeadLast[] =
    "SELECT " POINT_COLS " FROM history WHERE " SERIES " ORDER BY t DESC, iid DESC LIMIT 1";

constexpr char kChunkInsert[] =
    "INSERT INTO history_chunk(tenant, entity, attr, t0, t1, i0, i1, n, nn, sum, sumsq, m2, "
    "mn, mx, data) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
constexpr char kChunkDelete[] = "DELETE FROM history_chunk WHERE id = ?1";
constexpr char kChunksOfSlice[] = "SELECT id, data FROM history_chunk WHERE " SERIES
                                  " AND t0 >= ?4 AND t0 < ?5 AND (t1 >= ?6 OR n < ?7)"
                                  " ORDER BY t0, i0";
constexpr char kChunksRange[] = "SELECT " CHUNK_COLS " FROM history_chunk WHERE " SERIES
                                " AND t0 >= ?4 AND t0 < ?5 ORDER BY t0, i0";
constexpr char kChunksRangeDesc[] = "SELECT " CHUNK_COLS " FROM history_chunk WHERE " SERIES
                                    " AND t0 >= ?4 AND t0 < ?5 ORDER BY t0 DESC, i0 DESC";
constexpr char kChunksByWrite[] = "SELECT " CHUNK_COLS " FROM history_chunk WHERE " SERIES
                                  " AND i1 >= ?4 AND i0 < ?5";
constexpr char kChunksAll[] =
    "SELECT " CHUNK_COLS " FROM history_chunk WHERE " SERIES " ORDER BY t0, i0";
constexpr char kChunkLast[] = "SELECT " CHUNK_COLS " FROM history_chunk WHERE " SERIES
                              " ORDER BY t0 DESC, i0 DESC LIMIT 1";
constexpr char kChunksBefore[] = "SELECT " CHUNK_COLS " FROM history_chunk WHERE " SERIES
                                 " AND t0 < ?4 ORDER BY t0, i0";
constexpr char kChunkCountSeries[] =
    "SELECT coalesce(sum(n), 0) FROM history_chunk WHERE " SERIES;
constexpr char kChunkRemoveSeries[] = "DELETE FROM history_chunk WHERE " SERIES;
constexpr char kChunkCountEntity[] =
    "SELECT coalesce(sum(n), 0) FROM history_chunk WHERE tenant = ?1 AND entity = ?2";
constexpr char kChunkRemoveEntity[] =
    "DELETE FROM history_chunk WHERE tenant = ?1 AND entity = ?2";

constexpr char kLastUpsert[] =
    "INSERT INTO history_last(tenant, entity, attr, t, iid, ds, k, v, x) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(tenant, entity, attr) DO UPDATE "
    "SET t = excluded.t, iid = excluded.iid, ds = excluded.ds, k = excluded.k, v = excluded.v, "
    "x = excluded.x WHERE excluded.t > history_last.t OR "
    "(excluded.t = history_last.t AND excluded.iid >= history_last.iid)";
constexpr char kLastDelete[] = "DELETE FROM history_last WHERE " SERIES;
constexpr char kLastDeleteEntity[] =
    "DELETE FROM history_last WHERE tenant = ?1 AND entity = ?2";
constexpr char kLastMany[] =
    // ?2: a JSON array of entity name ids (NameIds). CROSS JOIN fixes the loop order (ids
    // outside, one seek each in history_last): left to itself the planner may scan
    // history_last per id (measured: 15 s for 10,000 ids)
    "SELECT j.key, h.attr, h.t, h.iid, h.ds, h.k, h.v, h.x FROM json_each(?2) AS j "
    "CROSS JOIN history_last AS h ON h.tenant = ?1 AND h.entity = j.value";
constexpr char kLastOfTenant[] =
    "SELECT entity, attr, t, iid, ds, k, v, x FROM history_last WHERE tenant = ?1 LIMIT ?2";
constexpr char kNameIds[] =
    "SELECT j.key, n.id FROM json_each(?1) AS j CROSS JOIN names AS n ON n.name = j.value";
constexpr char kSeriesAfter[] =
    "SELECT tenant, entity, attr FROM history_last WHERE (tenant, entity, attr) > (?1, ?2, ?3) "
    "ORDER BY tenant, entity, attr LIMIT ?4";

constexpr char kRollupGet[] =
    "SELECT first, last, n, nn, sum, sumsq, m2, mn, mx FROM history_rollup WHERE " SERIES
    " AND period = ?4 AND p0 = ?5";
constexpr char kRollupPut[] =
    "INSERT OR REPLACE INTO history_rollup(tenant, entity, attr, period, p0, first, last, n, "
    "nn, sum, sumsq, m2, mn, mx) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
    "?13, ?14)";
constexpr char kRollupNextPeriod[] = "SELECT period FROM history_rollup WHERE " SERIES
                                     " AND period > ?4 ORDER BY period LIMIT 1";
constexpr char kRollupRange[] =
    "SELECT p0, first, last, n, nn, sum, sumsq, m2, mn, mx FROM history_rollup WHERE " SERIES
    " AND period = ?4 AND p0 >= ?5 AND p0 <= ?6 ORDER BY p0";
constexpr char kRollupDropBefore[] =
    "DELETE FROM history_rollup WHERE " SERIES " AND period = ?4 AND p0 <= ?5";
constexpr char kRollupRemoveEntity[] =
    "DELETE FROM history_rollup WHERE tenant = ?1 AND entity = ?2";
constexpr char kRollupRemoveSeries[] = "DELETE FROM history_rollup WHERE " SERIES;

constexpr char kNameId[] = "SELECT id FROM names WHERE name = ?1";
constexpr char kNameOf[] = "SELECT name FROM names WHERE id = ?1";
constexpr char kNextAttrHead[] =
    "SELECT attr FROM history WHERE tenant = ?1 AND entity = ?2 AND attr > ?3 "
    "ORDER BY attr LIMIT 1";
constexpr char kNextAttrRollup[] =
    "SELECT attr FROM history_rollup WHERE tenant = ?1 AND entity = ?2 AND attr > ?3 "
    "ORDER BY attr LIMIT 1";
constexpr char kNextSeriesRollup[] =
    "SELECT tenant, entity, attr FROM history_rollup WHERE (tenant, entity, attr) > "
    "(?1, ?2, ?3) ORDER BY tenant, entity, attr LIMIT 1";
constexpr char kNextAttrLast[] =
    "SELECT attr FROM history_last WHERE tenant = ?1 AND entity = ?2 AND attr > ?3 "
    "ORDER BY attr LIMIT 1";

#undef SERIES
#undef POINT_COLS
#undef CHUNK_COLS

// ---- small helpers ------------------------------------------------------------------------

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::int64_t type_code(std::string_view type) {
  const auto it = std::find(kTypes.begin(), kTypes.end(), type);
  return it == kTypes.end() ? 0 : static_cast<std::int64_t>(it - kTypes.begin());
}

bool before(const StoredPoint& a, const StoredPoint& b) {
  return a.t != b.t ? a.t < b.t : a.iid < b.iid;
}

Stmt& bind_key(Stmt& s, const SeriesKey& k) {
  return s.bind(1, k.tenant).bind(2, k.entity).bind(3, k.attr);
}

// A head (or history_last) row's columns from `col` on.
StoredPoint point_at(const Stmt& s, int col) {
  StoredPoint p;
  p.t = s.int64_at(col);
  p.iid = s.int64_at(col + 1);
  p.ds = s.int64_at(col + 2);
  p.k = s.int64_at(col + 3);
  switch (s.type_at(col + 4)) {
    case SQLITE_INTEGER: p.tag = Tag::kInt; p.i = s.int64_at(col + 4); break;
    case SQLITE_FLOAT: p.tag = Tag::kDouble; p.d = s.double_at(col + 4); break;
    case SQLITE_TEXT: p.tag = Tag::kText; p.text = s.text_at(col + 4); break;
    default: break;
  }
  if (!s.is_null(col + 5)) p.x = std::string(s.text_at(col + 5));
  return p;
}

// Binds a point to ?4..?9 (t, iid, ds, k, v, x) after the series key.
void bind_point(Stmt& s, const StoredPoint& p) {
  s.bind(4, p.t).bind(5, p.iid).bind(6, p.ds).bind(7, p.k);
  switch (p.tag) {
    case Tag::kInt: s.bind(8, p.i); break;
    case Tag::kDouble: s.bind(8, p.d); break;
    case Tag::kText: s.bind(8, std::string_view(p.text)); break;
    case Tag::kNone: s.bind_null(8); break;
  }
  if (p.x)
    s.bind(9, std::string_view(*p.x));
  else
    s.bind_null(9);
}

base::Result<std::optional<std::int64_t>> name_id(Connection& c, std::string_view name) {
  auto s = c.prepare(kNameId);
  if (!s) return std::unexpected(s.error());
  auto row = s->bind(1, name).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(s->int64_at(0));
}

base::Result<std::string> name_of(Connection& c, std::int64_t id) {
  auto s = c.prepare(kNameOf);
  if (!s) return std::unexpected(s.error());
  auto row = s->bind(1, id).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return base::fail(base::ErrorKind::kInternalError, "history names a lost name");
  return std::string(s->text_at(0));
}

// The attributes of an entity with history: in history_last (every series with raw points),
// the head (the same, checked for safety) and the rollups (a series whose raw points all
// expired).
base::Result<std::vector<std::int64_t>> attributes_of(Connection& c, std::int64_t tenant,
                                                      std::int64_t entity) {
  std::vector<std::int64_t> out;
  for (const char* sql : {kNextAttrLast, kNextAttrHead, kNextAttrRollup}) {
    std::int64_t after = INT64_MIN;
    for (;;) {
      auto s = c.prepare(sql);
      if (!s) return std::unexpected(s.error());
      auto row = s->bind(1, tenant).bind(2, entity).bind(3, after).step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      after = s->int64_at(0);
      out.push_back(after);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// ---- summaries ----------------------------------------------------------------------------

struct Stats {
  HistorySummary s;
  bool finite = true;  // every number finite, and the sums too
  void add(const StoredPoint& p) {
    if (s.count == 0) s.first = p.t;
    s.last = std::max(s.last, p.t);
    s.first = std::min(s.first, p.t);
    ++s.count;
    if (!p.is_number()) return;
    const double d = p.number();
    ++s.numbers;
    if (!std::isfinite(d)) finite = false;
    s.sum += d;
    s.sumsq += d * d;
    if (s.numbers == 1) {
      s.min = s.max = d;
      mean_ = d;
      s.m2 = 0;
    } else {
      s.min = std::min(s.min, d);
      s.max = std::max(s.max, d);
      const double delta = d - mean_;
      mean_ += delta / static_cast<double>(s.numbers);
      s.m2 += delta * (d - mean_);
    }
  }
  bool usable() const {
    return finite && std::isfinite(s.sum) && std::isfinite(s.sumsq) && std::isfinite(s.m2);
  }

 private:
  double mean_ = 0;
};

// Binds n, nn, sum, sumsq, m2, mn, mx at `first`.. (NULL numbers: not usable as a summary).
void bind_stats(Stmt& s, int first, const Stats& st) {
  s.bind(first, static_cast<std::int64_t>(st.s.count));
  s.bind(first + 1, static_cast<std::int64_t>(st.s.numbers));
  if (st.usable() && st.s.numbers > 0) {
    s.bind(first + 2, st.s.sum).bind(first + 3, st.s.sumsq).bind(first + 4, st.s.m2);
    s.bind(first + 5, st.s.min).bind(first + 6, st.s.max);
  } else if (st.usable()) {
    s.bind(first + 2, 0.0).bind(first + 3, 0.0).bind(first + 4, 0.0);
    s.bind_null(first + 5).bind_null(first + 6);
  } else {
    for (int i = 2; i <= 6; ++i) s.bind_null(first + i);
  }
}

// Reads n, nn, sum, sumsq, m2, mn, mx from `col`; nullopt when not usable.
std::optional<HistorySummary> summary_at(const Stmt& s, int col) {
  HistorySummary h;
  h.count = static_cast<std::uint64_t>(s.int64_at(col));
  h.numbers = static_cast<std::uint64_t>(s.int64_at(col + 1));
  if (s.is_null(col + 2) || s.is_null(col + 3) || s.is_null(col + 4)) return std::nullopt;
  h.sum = s.double_at(col + 2);
  h.sumsq = s.double_at(col + 3);
  h.m2 = s.double_at(col + 4);
  if (h.numbers > 0) {
    if (s.is_null(col + 5) || s.is_null(col + 6)) return std::nullopt;
    h.min = s.double_at(col + 5);
    h.max = s.double_at(col + 6);
  }
  return h;
}

// Chan et al.'s pairwise combination (count, sums, m2, min, max).
void combine(HistorySummary& a, const HistorySummary& b) {
  if (b.count == 0) return;
  if (a.count == 0) {
    a = b;
    return;
  }
  a.first = std::min(a.first, b.first);
  a.last = std::max(a.last, b.last);
  a.count += b.count;
  if (b.numbers > 0) {
    if (a.numbers == 0) {
      a.sum = b.sum, a.sumsq = b.sumsq, a.m2 = b.m2, a.min = b.min, a.max = b.max;
    } else {
      const double na = static_cast<double>(a.numbers), nb = static_cast<double>(b.numbers);
      const double delta = b.sum / nb - a.sum / na;
      a.m2 += b.m2 + delta * delta * na * nb / (na + nb);
      a.sum += b.sum;
      a.sumsq += b.sumsq;
      a.min = std::min(a.min, b.min);
      a.max = std::max(a.max, b.max);
    }
    a.numbers += b.numbers;
  }
}

// ---- chunks -------------------------------------------------------------------------------

struct ChunkHeader {
  std::int64_t id = 0, t0 = 0, t1 = 0, i0 = 0, i1 = 0;
  std::optional<HistorySummary> summary;  // nullopt: not usable
};

ChunkHeader header_at(const Stmt& s) {
  ChunkHeader h;
  h.id = s.int64_at(0);
  h.t0 = s.int64_at(1);
  h.t1 = s.int64_at(2);
  h.i0 = s.int64_at(3);
  h.i1 = s.int64_at(4);
  h.summary = summary_at(s, 5);
  if (h.summary) {
    h.summary->first = h.t0;
    h.summary->last = h.t1;
  }
  return h;
}
constexpr int kChunkDataCol = 12;

// Inserts `pts` (sorted, one slice, at most kChunkMax) as one chunk.
base::Result<void> insert_chunk(Connection& c, const SeriesKey& key,
                                std::span<const StoredPoint> pts, std::string& blob) {
  Stats st;
  std::int64_t i0 = INT64_MAX, i1 = INT64_MIN;
  for (const auto& p : pts) {
    st.add(p);
    i0 = std::min(i0, p.iid);
    i1 = std::max(i1, p.iid);
  }
  encode_points(std::vector<StoredPoint>(pts.begin(), pts.end()), blob);
  auto s = c.prepare(kChunkInsert);
  if (!s) return std::unexpected(s.error());
  bind_key(*s, key).bind(4, pts.front().t).bind(5, pts.back().t).bind(6, i0).bind(7, i1);
  bind_stats(*s, 8, st);
  s->bind_blob(15, blob);
  return s->run();
}

// Writes `pts` (sorted) as chunks of at most kChunkMax.
base::Result<void> insert_chunks(Connection& c, const SeriesKey& key,
                                 std::span<const StoredPoint> pts) {
  std::string blob;
  for (std::size_t i = 0; i < pts.size(); i += kChunkMax) {
    const auto n = std::min(kChunkMax, pts.size() - i);
    if (auto r = insert_chunk(c, key, pts.subspan(i, n), blob); !r) return r;
  }
  return {};
}

base::Result<void> delete_chunk(Connection& c, std::int64_t id) {
  auto s = c.prepare(kChunkDelete);
  if (!s) return std::unexpected(s.error());
  return s->bind(1, id).run();
}

// Sorts and drops repeated (t, iid) (the later one wins: a replaced instance).
void sort_unique(std::vector<StoredPoint>& pts) {
  std::stable_sort(pts.begin(), pts.end(), before);
  std::size_t out = 0;
  for (std::size_t i = 0; i < pts.size(); ++i) {
    if (i + 1 < pts.size() && pts[i].t == pts[i + 1].t && pts[i].iid == pts[i + 1].iid) continue;
    if (out != i) pts[out] = std::move(pts[i]);
    ++out;
  }
  pts.resize(out);
}

// Merges `pts` (any order) into the chunks of `key`: per day slice, the chunks they overlap
// and the slice's open (not full) chunk are decoded, merged with them and written again.
base::Result<void> write_chunks(Connection& c, const SeriesKey& key,
                                std::vector<StoredPoint> pts) {
  std::stable_sort(pts.begin(), pts.end(), before);
  for (std::size_t i = 0; i < pts.size();) {
    const std::int64_t slice = floor_div(pts[i].t, kHistorySliceMicros);
    std::size_t j = i;
    while (j < pts.size() && floor_div(pts[j].t, kHistorySliceMicros) == slice) ++j;
    std::vector<StoredPoint> merged;
    std::vector<std::int64_t> old_ids;
    {
      auto s = c.prepare(kChunksOfSlice);
      if (!s) return std::unexpected(s.error());
      // the slice's start and end, clamped where they would overflow
      const std::int64_t start =
          slice <= INT64_MIN / kHistorySliceMicros ? INT64_MIN : slice * kHistorySliceMicros;
      const std::int64_t end = slice >= INT64_MAX / kHistorySliceMicros - 1
                                   ? INT64_MAX
                                   : (slice + 1) * kHistorySliceMicros;
      bind_key(*s, key).bind(4, start).bind(5, end).bind(6, pts[i].t);
      s->bind(7, static_cast<std::int64_t>(kChunkMax));
      for (;;) {
        auto row = s->step();
        if (!row) return std::unexpected(row.error());
        if (!*row) break;
        old_ids.push_back(s->int64_at(0));
        auto old = decode_points(s->blob_at(1));
        if (!old) return std::unexpected(old.error());
        for (auto& p : *old) merged.push_back(std::move(p));
      }
    }
    for (std::int64_t id : old_ids) {
      if (auto r = delete_chunk(c, id); !r) return r;
    }
    for (std::size_t k = i; k < j; ++k) merged.push_back(std::move(pts[k]));
    sort_unique(merged);
    if (auto r = insert_chunks(c, key, merged); !r) return r;
    i = j;
  }
  return {};
}

base::Result<void> insert_head(Connection& c, const SeriesKey& key, const StoredPoint& p) {
  auto s = c.prepare(kHeadInsert);
  if (!s) return std::unexpected(s.error());
  bind_key(*s, key);
  bind_point(*s, p);
  return s->run();
}

base::Result<void> upsert_last(Connection& c, const SeriesKey& key, const StoredPoint& p) {
  auto s = c.prepare(kLastUpsert);
  if (!s) return std::unexpected(s.error());
  bind_key(*s, key);
  bind_point(*s, p);
  return s->run();
}

base::Result<void> run_keyed(Connection& c, const char* sql, const SeriesKey& key) {
  auto s = c.prepare(sql);
  if (!s) return std::unexpected(s.error());
  return bind_key(*s, key).run();
}

base::Result<std::int64_t> int_keyed(Connection& c, const char* sql, const SeriesKey& key) {
  auto s = c.prepare(sql);
  if (!s) return std::unexpected(s.error());
  auto row = bind_key(*s, key).step();
  if (!row) return std::unexpected(row.error());
  return *row ? s->int64_at(0) : 0;
}

// Finds the newest point of `key` again (after a delete) and keeps it in history_last.
base::Result<void> recompute_last(Connection& c, const SeriesKey& key) {
  if (auto r = run_keyed(c, kLastDelete, key); !r) return r;
  std::optional<StoredPoint> best;
  {
    auto s = c.prepare(kHeadLast);
    if (!s) return std::unexpected(s.error());
    auto row = bind_key(*s, key).step();
    if (!row) return std::unexpected(row.error());
    if (*row) best = point_at(*s, 0);
  }
  {
    auto s = c.prepare(kChunkLast);
    if (!s) return std::unexpected(s.error());
    auto row = bind_key(*s, key).step();
    if (!row) return std::unexpected(row.error());
    if (*row) {
      auto pts = decode_points(s->blob_at(kChunkDataCol));
      if (!pts) return std::unexpected(pts.error());
      if (!pts->empty() && (!best || before(*best, pts->back()))) best = std::move(pts->back());
    }
  }
  if (!best) return {};
  return upsert_last(c, key, *best);
}

// ---- from HistoryPoint, to HistoryRow -----------------------------------------------------

// True when `v` goes into the v column natively (and is dropped from x).
bool native(std::string_view type, const json::value& v) {
  if (type != "Property" && type != "Relationship" && type != "VocabProperty") return false;
  return v.is_int64() || v.is_double() || v.is_uint64() || v.is_string();
}

base::Result<StoredPoint> stored(const Intern& intern, const HistoryPoint& p, std::int64_t iid) {
  StoredPoint out;
  out.t = p.time;
  out.iid = iid;
  const auto* type_v = p.instance.if_contains(kType);
  const std::string_view type =
      type_v && type_v->is_string() ? std::string_view(type_v->get_string()) : "Property";
  const std::string_view member = model::value_member(type);
  const json::value* value = member.empty() ? nullptr : p.instance.if_contains(member);
  const bool is_native = value && native(type, *value);
  if (is_native) {
    if (value->is_int64()) {
      out.tag = Tag::kInt;
      out.i = value->get_int64();
    } else if (value->is_double()) {
      out.tag = Tag::kDouble;
      out.d = value->get_double();
    } else if (value->is_uint64()) {
      out.tag = Tag::kDouble;
      out.d = static_cast<double>(value->get_uint64());
    } else {
      out.tag = Tag::kText;
      out.text = value->get_string();
    }
  }
  json::object x;
  for (const auto& m : p.instance) {
    const std::string_view name = m.key();
    if (name == kType || name == kCreatedAt || name == kModifiedAt) continue;
    if (name == kObservedAt && p.observed) continue;
    if (name == member && is_native) continue;
    if (name == kDatasetId && m.value().is_string()) {
      auto id = intern(m.value().get_string());
      if (!id) return std::unexpected(id.error());
      out.ds = *id;
      continue;
    }
    x[name] = m.value();
  }
  out.k = type_code(type) | (p.observed ? kObservedFlag : 0);
  if (!x.empty()) out.x = json::serialize(x);
  return out;
}

class RowMaker {
 public:
  RowMaker(Connection& c, const HistoryQuery& q) : c_(c), q_(q) {}

  base::Result<HistoryRow> make(StoredPoint&& p) {
    HistoryRow r;
    r.time = p.t;
    r.instance = p.iid;
    const std::string_view type = kTypes[static_cast<std::size_t>(p.k & 15) % kTypes.size()];
    const std::string_view member = model::value_member(type);
    const bool values_only = q_.values_only || q_.visit;
    json::object x;
    if (!(values_only && p.tag != Tag::kNone) && p.x) {
      auto parsed = json::parse(*p.x);
      if (!parsed || !parsed->is_object()) {
        return base::fail(base::ErrorKind::kInternalError, "a history row has a bad document");
      }
      x = std::move(parsed->get_object());
    }
    switch (p.tag) {
      case Tag::kInt: r.value = p.i; break;
      case Tag::kDouble: r.value = p.d; break;
      case Tag::kText: r.value = json::value(p.text); break;
      case Tag::kNone:
        if (auto* v = x.if_contains(member)) r.value = *v;
        break;
    }
    if (values_only) return r;
    json::object doc;
    doc[kType] = type;
    if (p.tag != Tag::kNone) doc[member] = r.value;
    for (auto& m : x) doc[m.key()] = std::move(m.value());
    if (p.k & kObservedFlag) doc[kObservedAt] = base::format_iso8601(r.time);
    doc[kModifiedAt] = base::format_iso8601(r.instance);
    if (p.ds != 0) {
      auto it = datasets_.find(p.ds);
      if (it == datasets_.end()) {
        auto name = name_of(c_, p.ds);
        if (!name) return std::unexpected(name.error());
        it = datasets_.emplace(p.ds, std::move(*name)).first;
      }
      doc[kDatasetId] = it->second;
    }
    r.instance_doc = std::move(doc);
    return r;
  }

 private:
  Connection& c_;
  const HistoryQuery& q_;
  std::unordered_map<std::int64_t, std::string> datasets_;
};

// ---- reading one series -------------------------------------------------------------------

base::Micros slice_floor(base::Micros t) {
  const std::int64_t slice = floor_div(t, kHistorySliceMicros);
  return slice <= INT64_MIN / kHistorySliceMicros ? INT64_MIN : slice * kHistorySliceMicros;
}

// Every point of the series with iid in [from, to), ordered by iid.
base::Result<std::vector<StoredPoint>> points_by_write(Connection& c, const SeriesKey& key,
                                                       base::Micros from, base::Micros to) {
  std::vector<StoredPoint> out;
  {
    auto s = c.prepare(kChunksByWrite);
    if (!s) return std::unexpected(s.error());
    bind_key(*s, key).bind(4, from).bind(5, to);
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto pts = decode_points(s->blob_at(kChunkDataCol));
      if (!pts) return std::unexpected(pts.error());
      for (auto& p : *pts) {
        if (p.iid >= from && p.iid < to) out.push_back(std::move(p));
      }
    }
  }
  {
    auto s = c.prepare(kHeadByWrite);
    if (!s) return std::unexpected(s.error());
    bind_key(*s, key).bind(4, from).bind(5, to);
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      out.push_back(point_at(*s, 0));
    }
  }
  std::sort(out.begin(), out.end(), [](const StoredPoint& a, const StoredPoint& b) {
    return a.iid != b.iid ? a.iid < b.iid : a.t < b.t;
  });
  return out;
}

// The last `n` points by time in [from, to), ascending.
base::Result<std::vector<StoredPoint>> last_points(Connection& c, const SeriesKey& key,
                                                   base::Micros from, base::Micros to,
                                                   std::size_t n) {
  std::vector<StoredPoint> chunked;  // newest first
  if (n > 0) {
    auto s = c.prepare(kChunksRangeDesc);
    if (!s) return std::unexpected(s.error());
    bind_key(*s, key).bind(4, slice_floor(from)).bind(5, to);
    while (chunked.size() < n) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto pts = decode_points(s->blob_at(kChunkDataCol));
      if (!pts) return std::unexpected(pts.error());
      for (auto it = pts->rbegin(); it != pts->rend() && chunked.size() < n; ++it) {
        if (it->t >= from && it->t < to) chunked.push_back(std::move(*it));
      }
    }
  }
  std::vector<StoredPoint> head;
  {
    auto s = c.prepare(kHeadRangeDesc);
    if (!s) return std::unexpected(s.error());
    bind_key(*s, key).bind(4, from).bind(5, to);
    s->bind(6, static_cast<std::int64_t>(std::min<std::size_t>(n, INT64_MAX)));
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      head.push_back(point_at(*s, 0));
    }
  }
  std::vector<StoredPoint> out;
  std::size_t a = 0, b = 0;
  while (out.size() < n && (a < chunked.size() || b < head.size())) {
    if (b == head.size() || (a < chunked.size() && before(head[b], chunked[a])))
      out.push_back(std::move(chunked[a++]));
    else
      out.push_back(std::move(head[b++]));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// Points by time in [from, to), ascending, chunks and head merged. `summary(h)` may take a
// chunk wholly inside the window as a whole (returns true); `emit` returns false to stop.
class SeriesScan {
 public:
  using Summarize = std::function<bool(const ChunkHeader&)>;
  using Emit = std::function<base::Result<bool>(StoredPoint&&)>;
  // For a chunk of numbers only, when set: its points [begin, end) inside the window, without
  // building points (head points are not merged in between: for aggregation only).
  using EmitNumbers =
      std::function<bool(const NumericColumns& cols, std::size_t begin, std::size_t end)>;

  static base::Result<void> run(Connection& c, const SeriesKey& key, base::Micros from,
                                base::Micros to, const Summarize& summarize, const Emit& emit,
                                const EmitNumbers& emit_numbers = {}) {
    NumericColumns numeric;
    auto head = c.prepare(kHeadRange);
    if (!head) return std::unexpected(head.error());
    bind_key(*head, key).bind(4, from).bind(5, to);
    std::optional<StoredPoint> pending;
    bool head_done = false;
    // Emits head points ordered before `limit` (all when null); false when `emit` stopped.
    auto flush_head = [&](const StoredPoint* limit) -> base::Result<bool> {
      for (;;) {
        if (!pending && !head_done) {
          auto row = head->step();
          if (!row) return std::unexpected(row.error());
          if (!*row)
            head_done = true;
          else
            pending = point_at(*head, 0);
        }
        if (!pending) return true;
        if (limit && !before(*pending, *limit)) return true;
        auto go = emit(std::move(*pending));
        pending.reset();
        if (!go || !*go) return go;
      }
    };
    auto chunks = c.prepare(kChunksRange);
    if (!chunks) return std::unexpected(chunks.error());
    bind_key(*chunks, key).bind(4, slice_floor(from)).bind(5, to);
    for (;;) {
      auto row = chunks->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      const ChunkHeader h = header_at(*chunks);
      if (h.t1 < from) continue;
      if (summarize && h.t0 >= from && h.t1 < to) {
        StoredPoint first;
        first.t = h.t0;
        first.iid = h.i0;
        auto go = flush_head(&first);
        if (!go) return std::unexpected(go.error());
        if (!*go) return {};
        if (summarize(h)) continue;
      }
      if (emit_numbers) {
        if (auto r = decode_numeric(chunks->blob_at(kChunkDataCol), numeric); !r) return r;
        if (std::all_of(numeric.is_number.begin(), numeric.is_number.end(),
                        [](std::uint8_t b) { return b != 0; })) {
          const auto begin = static_cast<std::size_t>(
              std::lower_bound(numeric.t.begin(), numeric.t.end(), from) - numeric.t.begin());
          const auto end = static_cast<std::size_t>(
              std::lower_bound(numeric.t.begin(), numeric.t.end(), to) - numeric.t.begin());
          if (begin < end && !emit_numbers(numeric, begin, end)) return {};
          continue;
        }
      }
      auto pts = decode_points(chunks->blob_at(kChunkDataCol));
      if (!pts) return std::unexpected(pts.error());
      for (auto& p : *pts) {
        if (p.t < from || p.t >= to) continue;
        auto go = flush_head(&p);
        if (!go) return std::unexpected(go.error());
        if (!*go) return {};
        auto more = emit(std::move(p));
        if (!more) return std::unexpected(more.error());
        if (!*more) return {};
      }
    }
    auto go = flush_head(nullptr);
    if (!go) return std::unexpected(go.error());
    return {};
  }
};

// Rollup rows of `key` in [from, to) as summaries, from the finest rollup period whose every
// row in the window lies in one aggregation period (and that has rows there); none when there
// is no such period.
base::Result<void> visit_rollups(Connection& c, const SeriesKey& key, const HistoryQuery& q,
                                 HistorySeries& series) {
  std::int64_t period = 0;
  for (;;) {
    {
      auto s = c.prepare(kRollupNextPeriod);
      if (!s) return std::unexpected(s.error());
      auto row = bind_key(*s, key).bind(4, period).step();
      if (!row) return std::unexpected(row.error());
      if (!*row) return {};
      period = s->int64_at(0);
    }
    std::vector<HistorySummary> rows;
    bool usable = true;
    {
      auto s = c.prepare(kRollupRange);
      if (!s) return std::unexpected(s.error());
      const base::Micros last_start = q.to == INT64_MAX ? INT64_MAX : q.to - period;
      bind_key(*s, key).bind(4, period).bind(5, q.from).bind(6, last_start);
      for (;;) {
        auto row = s->step();
        if (!row) return std::unexpected(row.error());
        if (!*row) break;
        const std::int64_t p0 = s->int64_at(0);
        auto h = summary_at(*s, 3);
        if (!h || q.period_end(p0) < p0 + period) {
          usable = false;
          break;
        }
        h->first = s->int64_at(1);
        h->last = s->int64_at(2);
        rows.push_back(*h);
      }
    }
    if (!usable || rows.empty()) continue;  // a coarser period may cover the window
    for (const auto& h : rows) {
      q.visit_summary(series.attribute, h);
      series.visited += h.count;
    }
    return {};
  }
}

base::Result<void> read_series(Connection& c, const SeriesKey& key, const HistoryQuery& q,
                               HistorySeries& series, RowMaker& maker) {
  const bool by_write = q.time_property == HistoryQuery::TimeProperty::kModifiedAt;
  const bool last = q.last_n.has_value();
  const std::size_t want = last ? std::min(*q.last_n, q.limit) : q.limit;
  auto take = [&](StoredPoint&& p) -> base::Result<void> {
    auto r = maker.make(std::move(p));
    if (!r) return std::unexpected(r.error());
    if (q.visit) {
      q.visit(series.attribute, r->time, r->instance, r->value);
      ++series.visited;
    } else {
      series.rows.push_back(std::move(*r));
    }
    return {};
  };
  if (by_write || last) {
    std::vector<StoredPoint> pts;
    if (by_write) {
      auto got = points_by_write(c, key, q.from, q.to);
      if (!got) return std::unexpected(got.error());
      pts = std::move(*got);
      if (last) {
        if (pts.size() > want) pts.erase(pts.begin(), pts.end() - static_cast<std::ptrdiff_t>(want));
      } else if (pts.size() > want) {
        pts.resize(want);
        series.truncated = true;
      }
    } else {
      auto got = last_points(c, key, q.from, q.to, want);
      if (!got) return std::unexpected(got.error());
      pts = std::move(*got);
    }
    for (auto& p : pts) {
      if (auto r = take(std::move(p)); !r) return r;
    }
    return {};
  }
  const bool fast = q.visit && q.visit_summary && q.period_end;
  std::size_t seen = 0;
  SeriesScan::Summarize summarize;
  if (fast) {
    summarize = [&](const ChunkHeader& h) {
      if (!h.summary || seen + h.summary->count > want) return false;
      if (q.period_end(h.t0) <= h.t1) return false;
      q.visit_summary(series.attribute, *h.summary);
      series.visited += h.summary->count;
      seen += h.summary->count;
      return true;
    };
  }
  // A chunk of numbers: each run of points in one period as one summary (as a whole chunk
  // would be), point by point where a run has a non-finite number.
  SeriesScan::EmitNumbers emit_numbers;
  if (fast) {
    emit_numbers = [&](const NumericColumns& cols, std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end;) {
        const base::Micros stop = q.period_end(cols.t[i]);
        std::size_t j = i;
        Stats st;
        StoredPoint p;
        p.tag = Tag::kDouble;
        while (j < end && cols.t[j] < stop) {
          p.t = cols.t[j];
          p.d = cols.value[j];
          st.add(p);
          ++j;
        }
        if (seen + (j - i) > want) {
          series.truncated = true;
          return false;
        }
        seen += j - i;
        if (st.usable()) {
          q.visit_summary(series.attribute, st.s);
          series.visited += j - i;
        } else {
          for (std::size_t k = i; k < j; ++k) {
            const json::value v = cols.tag[k] == 1
                                      ? json::value(static_cast<std::int64_t>(cols.value[k]))
                                      : json::value(cols.value[k]);
            q.visit(series.attribute, cols.t[k], cols.iid[k], v);
            ++series.visited;
          }
        }
        i = j;
      }
      return true;
    };
  }
  auto scanned = SeriesScan::run(c, key, q.from, q.to, summarize,
                                 [&](StoredPoint&& p) -> base::Result<bool> {
                                   if (seen == want) {
                                     series.truncated = true;
                                     return false;
                                   }
                                   ++seen;
                                   if (auto r = take(std::move(p)); !r) {
                                     return std::unexpected(r.error());
                                   }
                                   return true;
                                 },
                                 emit_numbers);
  if (!scanned) return scanned;
  if (fast && !series.truncated) return visit_rollups(c, key, q, series);
  return {};
}

// The series of one entity a query names: (attr id, name).
base::Result<std::vector<std::pair<std::int64_t, std::string>>> series_of(
    Connection& c, std::int64_t tenant, std::int64_t entity, const HistoryQuery& q) {
  std::vector<std::pair<std::int64_t, std::string>> attrs;
  if (q.attributes) {
    for (const auto& name : *q.attributes) {
      auto id = name_id(c, name);
      if (!id) return std::unexpected(id.error());
      if (*id) attrs.emplace_back(**id, name);
    }
    return attrs;
  }
  auto ids = attributes_of(c, tenant, entity);
  if (!ids) return std::unexpected(ids.error());
  for (std::int64_t id : *ids) {
    auto name = name_of(c, id);
    if (!name) return std::unexpected(name.error());
    attrs.emplace_back(id, std::move(*name));
  }
  return attrs;
}

// Rollup rows for the dropped points `pts` (sorted) for each period.
base::Result<void> roll_up(Connection& c, const SeriesKey& key,
                           std::span<const StoredPoint> pts,
                           std::span<const base::Micros> periods) {
  for (const base::Micros period : periods) {
    for (std::size_t i = 0; i < pts.size();) {
      const std::int64_t p0 = floor_div(pts[i].t, period) * period;
      Stats st;
      std::size_t j = i;
      while (j < pts.size() && floor_div(pts[j].t, period) * period == p0) st.add(pts[j++]);
      i = j;
      HistorySummary merged;
      bool usable = st.usable();
      {
        auto s = c.prepare(kRollupGet);
        if (!s) return std::unexpected(s.error());
        auto row = bind_key(*s, key).bind(4, period).bind(5, p0).step();
        if (!row) return std::unexpected(row.error());
        if (*row) {
          auto old = summary_at(*s, 2);
          if (old) {
            old->first = s->int64_at(0);
            old->last = s->int64_at(1);
            merged = *old;
          } else {
            usable = false;
            merged.count = static_cast<std::uint64_t>(s->int64_at(2));
            merged.numbers = static_cast<std::uint64_t>(s->int64_at(3));
            merged.first = s->int64_at(0);
            merged.last = s->int64_at(1);
          }
        }
      }
      combine(merged, st.s);
      Stats out;
      out.s = merged;
      out.finite = usable && std::isfinite(merged.sum) && std::isfinite(merged.sumsq) &&
                   std::isfinite(merged.m2);
      auto s = c.prepare(kRollupPut);
      if (!s) return std::unexpected(s.error());
      bind_key(*s, key).bind(4, period).bind(5, p0).bind(6, merged.first).bind(7, merged.last);
      bind_stats(*s, 8, out);
      if (auto r = s->run(); !r) return r;
    }
  }
  return {};
}

// Seals up to `max` of the oldest head points of `key`; returns how many.
base::Result<std::size_t> seal_series(Connection& c, const SeriesKey& key, std::size_t max) {
  std::vector<StoredPoint> pts;
  {
    auto s = c.prepare(kHeadFirst);
    if (!s) return std::unexpected(s.error());
    bind_key(*s, key).bind(4, static_cast<std::int64_t>(max));
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      pts.push_back(point_at(*s, 0));
    }
  }
  if (pts.empty()) return std::size_t{0};
  const StoredPoint last = pts.back();  // rows come in (t, iid) order
  if (auto r = write_chunks(c, key, std::move(pts)); !r) return std::unexpected(r.error());
  auto s = c.prepare(kHeadDeleteUpTo);
  if (!s) return std::unexpected(s.error());
  if (auto r = bind_key(*s, key).bind(4, last.t).bind(5, last.iid).run(); !r) {
    return std::unexpected(r.error());
  }
  return static_cast<std::size_t>(sqlite3_changes(c.handle()));
}

}  // namespace

// ---- public -------------------------------------------------------------------------------

base::Result<void> append_history(Connection& c, const Intern& intern, std::int64_t tenant,
                                  std::string_view entity_id,
                                  std::span<const HistoryPoint> points, std::int64_t& last_iid) {
  if (points.empty()) return {};
  auto entity = intern(entity_id);
  if (!entity) return std::unexpected(entity.error());
  // points per attribute, in the order given
  std::vector<std::pair<std::int64_t, std::vector<StoredPoint>>> groups;
  for (const HistoryPoint& p : points) {
    const std::int64_t iid = std::max(p.modified, last_iid + 1);
    last_iid = iid;
    auto attr = intern(p.attribute);
    if (!attr) return std::unexpected(attr.error());
    auto sp = stored(intern, p, iid);
    if (!sp) return std::unexpected(sp.error());
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == *attr; });
    if (it == groups.end()) {
      groups.emplace_back(*attr, std::vector<StoredPoint>{});
      it = groups.end() - 1;
    }
    it->second.push_back(std::move(*sp));
  }
  for (auto& [attr, pts] : groups) {
    const SeriesKey key{tenant, *entity, attr};
    const auto newest = std::max_element(
        pts.begin(), pts.end(), [](const StoredPoint& a, const StoredPoint& b) { return before(a, b); });
    if (auto r = upsert_last(c, key, *newest); !r) return r;
    if (pts.size() >= kDirectChunkMin) {
      if (auto r = write_chunks(c, key, std::move(pts)); !r) return r;
      continue;
    }
    for (const auto& p : pts) {
      if (auto r = insert_head(c, key, p); !r) return r;
    }
  }
  return {};
}

base::Result<std::optional<HistoryRow>> history_instance(Connection& c, std::string_view tenant,
                                                         std::string_view entity_id,
                                                         std::string_view attribute,
                                                         std::int64_t instance) {
  HistoryQuery q;
  q.entity_id = entity_id;
  q.attributes = std::vector<std::string>{std::string(attribute)};
  q.time_property = HistoryQuery::TimeProperty::kModifiedAt;
  q.from = instance;
  q.to = instance + 1;
  auto read = read_history(c, tenant, q);
  if (!read) return std::unexpected(read.error());
  if (read->empty() || read->front().rows.empty()) return std::optional<HistoryRow>();
  return std::optional<HistoryRow>(std::move(read->front().rows.front()));
}

base::Result<bool> replace_history_instance(Connection& c, const Intern& intern,
                                            std::int64_t tenant, std::string_view entity_id,
                                            std::int64_t instance, const HistoryPoint& point) {
  auto entity = intern(entity_id);
  if (!entity) return std::unexpected(entity.error());
  auto attr = intern(point.attribute);
  if (!attr) return std::unexpected(attr.error());
  auto removed = remove_history_instance(c, tenant, *entity, *attr, instance);
  if (!removed) return std::unexpected(removed.error());
  if (!*removed) return false;
  auto sp = stored(intern, point, instance);
  if (!sp) return std::unexpected(sp.error());
  const SeriesKey key{tenant, *entity, *attr};
  if (auto r = insert_head(c, key, *sp); !r) return std::unexpected(r.error());
  if (auto r = upsert_last(c, key, *sp); !r) return std::unexpected(r.error());
  return true;
}

base::Result<bool> remove_history_instance(Connection& c, std::int64_t tenant,
                                           std::int64_t entity, std::int64_t attr,
                                           std::int64_t instance) {
  const SeriesKey key{tenant, entity, attr};
  bool found = false;
  {
    auto s = c.prepare(kHeadRemoveInstance);
    if (!s) return std::unexpected(s.error());
    if (auto r = bind_key(*s, key).bind(4, instance).run(); !r) return std::unexpected(r.error());
    found = sqlite3_changes(c.handle()) > 0;
  }
  if (!found) {
    std::vector<std::pair<ChunkHeader, std::vector<StoredPoint>>> hit;
    {
      auto s = c.prepare(kChunksByWrite);
      if (!s) return std::unexpected(s.error());
      bind_key(*s, key).bind(4, instance).bind(5, instance + 1);
      for (;;) {
        auto row = s->step();
        if (!row) return std::unexpected(row.error());
        if (!*row) break;
        auto pts = decode_points(s->blob_at(kChunkDataCol));
        if (!pts) return std::unexpected(pts.error());
        const auto n = pts->size();
        std::erase_if(*pts, [&](const StoredPoint& p) { return p.iid == instance; });
        if (pts->size() != n) hit.emplace_back(header_at(*s), std::move(*pts));
      }
    }
    for (auto& [h, pts] : hit) {
      found = true;
      if (auto r = delete_chunk(c, h.id); !r) return std::unexpected(r.error());
      if (auto r = insert_chunks(c, key, pts); !r) return std::unexpected(r.error());
    }
  }
  if (!found) return false;
  if (auto r = recompute_last(c, key); !r) return std::unexpected(r.error());
  return true;
}

base::Result<std::size_t> remove_history_attribute(Connection& c, std::int64_t tenant,
                                                   std::int64_t entity, std::int64_t attr,
                                                   std::optional<std::int64_t> dataset) {
  const SeriesKey key{tenant, entity, attr};
  std::size_t removed = 0;
  if (!dataset) {
    auto n = int_keyed(c, kChunkCountSeries, key);
    if (!n) return std::unexpected(n.error());
    removed += static_cast<std::size_t>(*n);
    for (const char* sql : {kChunkRemoveSeries, kLastDelete, kRollupRemoveSeries}) {
      if (auto r = run_keyed(c, sql, key); !r) return std::unexpected(r.error());
    }
    if (auto r = run_keyed(c, kHeadRemoveSeries, key); !r) return std::unexpected(r.error());
    removed += static_cast<std::size_t>(sqlite3_changes(c.handle()));
    return removed;
  }
  {
    auto s = c.prepare(kHeadRemoveDataset);
    if (!s) return std::unexpected(s.error());
    if (auto r = bind_key(*s, key).bind(4, *dataset).run(); !r) return std::unexpected(r.error());
    removed += static_cast<std::size_t>(sqlite3_changes(c.handle()));
  }
  std::vector<std::pair<std::int64_t, std::vector<StoredPoint>>> changed;
  {
    auto s = c.prepare(kChunksAll);
    if (!s) return std::unexpected(s.error());
    bind_key(*s, key);
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto pts = decode_points(s->blob_at(kChunkDataCol));
      if (!pts) return std::unexpected(pts.error());
      const auto n = pts->size();
      std::erase_if(*pts, [&](const StoredPoint& p) { return p.ds == *dataset; });
      if (pts->size() != n) {
        removed += n - pts->size();
        changed.emplace_back(s->int64_at(0), std::move(*pts));
      }
    }
  }
  for (auto& [id, pts] : changed) {
    if (auto r = delete_chunk(c, id); !r) return std::unexpected(r.error());
    if (auto r = insert_chunks(c, key, pts); !r) return std::unexpected(r.error());
  }
  if (removed > 0) {
    if (auto r = recompute_last(c, key); !r) return std::unexpected(r.error());
  }
  return removed;
}

base::Result<std::size_t> remove_history(Connection& c, std::int64_t tenant,
                                         std::int64_t entity) {
  std::size_t removed = 0;
  {
    auto s = c.prepare(kChunkCountEntity);
    if (!s) return std::unexpected(s.error());
    auto row = s->bind(1, tenant).bind(2, entity).step();
    if (!row) return std::unexpected(row.error());
    if (*row) removed += static_cast<std::size_t>(s->int64_at(0));
  }
  for (const char* sql : {kChunkRemoveEntity, kLastDeleteEntity, kRollupRemoveEntity}) {
    auto s = c.prepare(sql);
    if (!s) return std::unexpected(s.error());
    if (auto r = s->bind(1, tenant).bind(2, entity).run(); !r) return std::unexpected(r.error());
  }
  auto s = c.prepare(kHeadRemoveEntity);
  if (!s) return std::unexpected(s.error());
  if (auto r = s->bind(1, tenant).bind(2, entity).run(); !r) return std::unexpected(r.error());
  removed += static_cast<std::size_t>(sqlite3_changes(c.handle()));
  return removed;
}

base::Result<std::vector<HistorySeries>> read_history(Connection& c, std::string_view tenant,
                                                      const HistoryQuery& q) {
  std::vector<HistorySeries> out;
  auto tenant_id = name_id(c, tenant);
  if (!tenant_id) return std::unexpected(tenant_id.error());
  if (!*tenant_id) return out;
  auto entity = name_id(c, q.entity_id);
  if (!entity) return std::unexpected(entity.error());
  if (!*entity) return out;
  auto attrs = series_of(c, **tenant_id, **entity, q);
  if (!attrs) return std::unexpected(attrs.error());
  RowMaker maker(c, q);
  for (auto& [id, name] : *attrs) {
    HistorySeries series;
    series.attribute = name;
    if (auto r = read_series(c, SeriesKey{**tenant_id, **entity, id}, q, series, maker); !r) {
      return std::unexpected(r.error());
    }
    if (!series.rows.empty() || series.visited > 0) out.push_back(std::move(series));
  }
  return out;
}

base::Result<std::vector<std::int64_t>> NameIds::resolve(Connection& c,
                                                         std::span<const std::string> names) {
  std::vector<std::int64_t> out(names.size(), 0);
  json::array missing;
  std::vector<std::size_t> missing_at;
  {
    std::shared_lock lock(mu_);
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (auto it = ids_.find(names[i]); it != ids_.end()) {
        out[i] = it->second;
      } else {
        missing.emplace_back(names[i]);
        missing_at.push_back(i);
      }
    }
  }
  if (missing.empty()) return out;
  const std::string list = json::serialize(missing);
  auto s = c.prepare(kNameIds);
  if (!s) return std::unexpected(s.error());
  s->bind(1, std::string_view(list));
  std::vector<std::pair<std::size_t, std::int64_t>> found;
  for (;;) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    found.emplace_back(missing_at.at(static_cast<std::size_t>(s->int64_at(0))), s->int64_at(1));
  }
  std::unique_lock lock(mu_);
  if (ids_.size() + found.size() > kMax) ids_.clear();
  for (const auto& [i, id] : found) {
    out[i] = id;
    ids_.emplace(names[i], id);
  }
  return out;
}

base::Result<std::vector<std::vector<HistorySeries>>> read_history_many(
    Connection& c, NameIds& names, std::string_view tenant, std::span<const std::string> ids,
    const HistoryQuery& q) {
  std::vector<std::vector<HistorySeries>> out(ids.size());
  const bool from_last = q.last_n == std::size_t{1} && q.limit >= 1 &&
                         q.time_property == HistoryQuery::TimeProperty::kObservedAt;
  if (!from_last) {
    HistoryQuery one = q;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      one.entity_id = ids[i];
      auto got = read_history(c, tenant, one);
      if (!got) return std::unexpected(got.error());
      out[i] = std::move(*got);
    }
    return out;
  }
  auto tenant_id = name_id(c, tenant);
  if (!tenant_id) return std::unexpected(tenant_id.error());
  if (!*tenant_id || ids.empty()) return out;
  // which attributes, in which order (by name id when not asked)
  std::unordered_map<std::int64_t, std::size_t> wanted;  // attr id → position
  std::vector<std::string> wanted_names;
  if (q.attributes) {
    for (const auto& name : *q.attributes) {
      auto id = name_id(c, name);
      if (!id) return std::unexpected(id.error());
      if (*id && wanted.emplace(**id, wanted_names.size()).second) wanted_names.push_back(name);
    }
    if (wanted.empty()) return out;
  }
  std::unordered_map<std::int64_t, std::string> attr_names;
  auto entity_ids = names.resolve(c, ids);
  if (!entity_ids) return std::unexpected(entity_ids.error());
  RowMaker maker(c, q);
  // (position of id, attr order key, series); the few series whose last point lies after the
  // window are read the long way
  struct Found {
    std::size_t index;
    std::int64_t attr;
    StoredPoint point;
  };
  std::vector<Found> found;
  std::vector<std::pair<std::size_t, std::int64_t>> slow;
  // One row of history_last (columns from `first`: t, iid, ds, k, v, x) of entity `index`.
  auto take = [&](const Stmt& s, std::size_t index, std::int64_t attr, int first) {
    if (q.attributes && !wanted.contains(attr)) return;
    StoredPoint p = point_at(s, first);
    if (p.t >= q.to) {
      slow.emplace_back(index, attr);
    } else if (p.t >= q.from) {
      found.push_back({index, attr, std::move(p)});
    }
  };
  // A page of many ids: one sequential pass over the tenant's newest points costs less than a
  // B-tree seek per id, when the tenant has few series beyond the asked ones. The pass stops
  // after kScanFactor rows per asked id and the seeks answer instead.
  constexpr std::size_t kScanMin = 1000, kScanFactor = 4;
  bool scanned = false;
  if (ids.size() >= kScanMin) {
    std::unordered_map<std::int64_t, std::size_t> index_of;
    index_of.reserve(ids.size());
    for (std::size_t i = 0; i < entity_ids->size(); ++i) {
      if ((*entity_ids)[i] != 0) index_of.emplace((*entity_ids)[i], i);
    }
    const std::size_t budget = ids.size() * kScanFactor;
    auto s = c.prepare(kLastOfTenant);
    if (!s) return std::unexpected(s.error());
    s->bind(1, **tenant_id).bind(2, static_cast<std::int64_t>(budget + 1));
    std::size_t rows = 0;
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      if (++rows > budget) break;
      const auto it = index_of.find(s->int64_at(0));
      if (it != index_of.end()) take(*s, it->second, s->int64_at(1), 2);
    }
    scanned = rows <= budget;
    if (!scanned) {
      found.clear();
      slow.clear();
    }
  }
  if (!scanned) {
    json::array list;  // 0 (no entity) keeps the positions of unknown ids
    for (const std::int64_t id : *entity_ids) list.emplace_back(id);
    const std::string list_text = json::serialize(list);
    auto s = c.prepare(kLastMany);
    if (!s) return std::unexpected(s.error());
    s->bind(1, **tenant_id).bind(2, std::string_view(list_text));
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      take(*s, static_cast<std::size_t>(s->int64_at(0)), s->int64_at(1), 2);
    }
  }
  for (const auto& [index, attr] : slow) {
    // the newest point in the window is older than the series' newest point
    const std::int64_t entity = (*entity_ids)[index];
    auto pts = last_points(c, SeriesKey{**tenant_id, entity, attr}, q.from, q.to, 1);
    if (!pts) return std::unexpected(pts.error());
    if (!pts->empty()) found.push_back({index, attr, std::move(pts->back())});
  }
  auto order = [&](std::int64_t attr) -> std::int64_t {
    return q.attributes ? static_cast<std::int64_t>(wanted.at(attr)) : attr;
  };
  std::sort(found.begin(), found.end(), [&](const Found& a, const Found& b) {
    return a.index != b.index ? a.index < b.index : order(a.attr) < order(b.attr);
  });
  for (auto& f : found) {
    std::string name;
    if (q.attributes) {
      name = wanted_names[wanted.at(f.attr)];
    } else {
      auto it = attr_names.find(f.attr);
      if (it == attr_names.end()) {
        auto n = name_of(c, f.attr);
        if (!n) return std::unexpected(n.error());
        it = attr_names.emplace(f.attr, std::move(*n)).first;
      }
      name = it->second;
    }
    auto r = maker.make(std::move(f.point));
    if (!r) return std::unexpected(r.error());
    HistorySeries series;
    series.attribute = std::move(name);
    if (q.visit) {
      q.visit(series.attribute, r->time, r->instance, r->value);
      series.visited = 1;
    } else {
      series.rows.push_back(std::move(*r));
    }
    out[f.index].push_back(std::move(series));
  }
  return out;
}

// ---- maintenance --------------------------------------------------------------------------

base::Result<bool> seal_head(Connection& c, base::Micros now, bool force) {
  std::vector<SeriesKey> due;
  {
    auto s = c.prepare(kHeadSeries);
    if (!s) return std::unexpected(s.error());
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      const auto n = static_cast<std::size_t>(s->int64_at(3));
      const base::Micros oldest = s->int64_at(4);
      if (force || n >= kSealRows || oldest < now - kSealAge) {
        due.push_back({s->int64_at(0), s->int64_at(1), s->int64_at(2)});
      }
    }
  }
  std::size_t budget = kSealRowsPerPass;
  for (const auto& key : due) {
    if (budget == 0) return true;
    auto n = seal_series(c, key, budget);
    if (!n) return std::unexpected(n.error());
    budget -= std::min(budget, *n);
  }
  return budget == 0;
}

base::Result<std::vector<SeriesKey>> history_series(Connection& c, const SeriesKey& after,
                                                    std::size_t limit) {
  // series with raw points (history_last) merged with series with rollups only
  std::vector<SeriesKey> out;
  {
    auto s = c.prepare(kSeriesAfter);
    if (!s) return std::unexpected(s.error());
    bind_key(*s, after).bind(4, static_cast<std::int64_t>(limit));
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      out.push_back({s->int64_at(0), s->int64_at(1), s->int64_at(2)});
    }
  }
  auto order = [](const SeriesKey& k) { return std::tie(k.tenant, k.entity, k.attr); };
  SeriesKey from = after;
  for (std::size_t i = 0; i < limit; ++i) {
    auto s = c.prepare(kNextSeriesRollup);
    if (!s) return std::unexpected(s.error());
    auto row = bind_key(*s, from).step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    from = {s->int64_at(0), s->int64_at(1), s->int64_at(2)};
    if (out.size() == limit && order(from) > order(out.back())) break;
    out.push_back(from);
  }
  std::sort(out.begin(), out.end(),
            [&](const SeriesKey& a, const SeriesKey& b) { return order(a) < order(b); });
  out.erase(std::unique(out.begin(), out.end(),
                        [&](const SeriesKey& a, const SeriesKey& b) { return order(a) == order(b); }),
            out.end());
  if (out.size() > limit) out.resize(limit);
  return out;
}

base::Result<std::size_t> drop_raw_before(Connection& c, const SeriesKey& key,
                                          base::Micros cutoff,
                                          std::span<const base::Micros> rollup_periods) {
  std::vector<StoredPoint> dropped;
  {
    auto s = c.prepare(kHeadBefore);
    if (!s) return std::unexpected(s.error());
    bind_key(*s, key).bind(4, cutoff);
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      dropped.push_back(point_at(*s, 0));
    }
  }
  if (!dropped.empty()) {
    auto s = c.prepare(kHeadDeleteBefore);
    if (!s) return std::unexpected(s.error());
    if (auto r = bind_key(*s, key).bind(4, cutoff).run(); !r) return std::unexpected(r.error());
  }
  std::vector<std::pair<std::int64_t, std::vector<StoredPoint>>> changed;
  {
    auto s = c.prepare(kChunksBefore);
    if (!s) return std::unexpected(s.error());
    bind_key(*s, key).bind(4, cutoff);
    for (;;) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto pts = decode_points(s->blob_at(kChunkDataCol));
      if (!pts) return std::unexpected(pts.error());
      std::vector<StoredPoint> kept;
      for (auto& p : *pts) {
        if (p.t < cutoff)
          dropped.push_back(std::move(p));
        else
          kept.push_back(std::move(p));
      }
      changed.emplace_back(s->int64_at(0), std::move(kept));
    }
  }
  for (auto& [id, kept] : changed) {
    if (auto r = delete_chunk(c, id); !r) return std::unexpected(r.error());
    if (!kept.empty()) {
      if (auto r = insert_chunks(c, key, kept); !r) return std::unexpected(r.error());
    }
  }
  if (dropped.empty()) return std::size_t{0};
  std::sort(dropped.begin(), dropped.end(), before);
  if (auto r = roll_up(c, key, dropped, rollup_periods); !r) return std::unexpected(r.error());
  if (auto r = recompute_last(c, key); !r) return std::unexpected(r.error());
  return dropped.size();
}

base::Result<std::size_t> drop_rollups_before(Connection& c, const SeriesKey& key,
                                              base::Micros period, base::Micros cutoff) {
  auto s = c.prepare(kRollupDropBefore);
  if (!s) return std::unexpected(s.error());
  if (auto r = bind_key(*s, key).bind(4, period).bind(5, cutoff - period).run(); !r) {
    return std::unexpected(r.error());
  }
  return static_cast<std::size_t>(sqlite3_changes(c.handle()));
}

}  // namespace cityroom::store::sqlite
