#include "store/sqlite/schema.h"

#include <fmt/format.h>

#include <array>
#include <string_view>

namespace cityroom::store::sqlite {

namespace {

// Migration i (1-based) takes user_version from i-1 to i. Append only; never edit a shipped one.
constexpr std::array<std::string_view, 5> kMigrations = {
    R"sql(
CREATE TABLE names(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE tenants(name_id INTEGER PRIMARY KEY);
CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES('entities', 0);
CREATE TABLE entities(
  pk INTEGER PRIMARY KEY,
  tenant INTEGER NOT NULL,
  id TEXT NOT NULL,
  doc BLOB NOT NULL);
CREATE UNIQUE INDEX entities_by_id ON entities(tenant, id);
CREATE TABLE types(
  tenant INTEGER NOT NULL,
  type INTEGER NOT NULL,
  id TEXT NOT NULL,
  pk INTEGER NOT NULL,
  PRIMARY KEY(tenant, type, id)) WITHOUT ROWID;
CREATE TABLE idx(
  tenant INTEGER NOT NULL,
  attr INTEGER NOT NULL,
  v NOT NULL,
  pk INTEGER NOT NULL,
  PRIMARY KEY(tenant, attr, v, pk)) WITHOUT ROWID;
CREATE TABLE summary(
  tenant INTEGER NOT NULL,
  type INTEGER NOT NULL,
  attr INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY(tenant, type, attr, kind)) WITHOUT ROWID;
)sql",
    // 2: a GeoProperty's cell is also stored once per entity type (typed_geo_attr in
    // entity_rows.h), so that typed geo queries read only their type's cells. Cells are the
    // only 8-byte BLOB values of idx.
    R"sql(
CREATE INDEX migration2_types_by_pk ON types(pk);
INSERT OR IGNORE INTO idx(tenant, attr, v, pk)
  SELECT g.tenant, -((t.type << 32) | g.attr), g.v, g.pk
  FROM idx g JOIN types t ON t.pk = g.pk AND t.tenant = g.tenant
  WHERE g.attr > 0 AND typeof(g.v) = 'blob' AND length(g.v) = 8;
DROP INDEX migration2_types_by_pk;
)sql",
    // 3: records — documents that are not entities (subscriptions), see store.h.
    R"sql(
CREATE TABLE records(
  kind TEXT NOT NULL,
  tenant TEXT NOT NULL,
  id TEXT NOT NULL,
  doc TEXT NOT NULL,
  PRIMARY KEY(kind, tenant, id)) WITHOUT ROWID;
)sql",
    // 4: history — every attribute instance written (store/sqlite/history.h).
    R"sql(
CREATE TABLE history(
  tenant INTEGER NOT NULL,
  entity INTEGER NOT NULL,
  attr INTEGER NOT NULL,
  t INTEGER NOT NULL,
  iid INTEGER NOT NULL,
  ds INTEGER NOT NULL,
  k INTEGER NOT NULL,
  v,
  x TEXT,
  PRIMARY KEY(tenant, entity, attr, t, iid)) WITHOUT ROWID;
)sql",
    // 5: history in compressed chunks; `history` becomes the head of recent points
    // (store/sqlite/history.h). Existing rows stay there and are sealed in the background.
    R"sql(
CREATE TABLE history_chunk(
  id INTEGER PRIMARY KEY,
  tenant INTEGER NOT NULL,
  entity INTEGER NOT NULL,
  attr INTEGER NOT NULL,
  t0 INTEGER NOT NULL,
  t1 INTEGER NOT NULL,
  i0 INTEGER NOT NULL,
  i1 INTEGER NOT NULL,
  n INTEGER NOT NULL,
  nn INTEGER NOT NULL,
  sum REAL,
  sumsq REAL,
  m2 REAL,
  mn REAL,
  mx REAL,
  data BLOB NOT NULL);
CREATE UNIQUE INDEX history_chunk_by_time ON history_chunk(tenant, entity, attr, t0, i0);
CREATE TABLE history_last(
  tenant INTEGER NOT NULL,
  entity INTEGER NOT NULL,
  attr INTEGER NOT NULL,
  t INTEGER NOT NULL,
  iid INTEGER NOT NULL,
  ds INTEGER NOT NULL,
  k INTEGER NOT NULL,
  v,
  x TEXT,
  PRIMARY KEY(tenant, entity, attr)) WITHOUT ROWID;
CREATE TABLE history_rollup(
  tenant INTEGER NOT NULL,
  entity INTEGER NOT NULL,
  attr INTEGER NOT NULL,
  period INTEGER NOT NULL,
  p0 INTEGER NOT NULL,
  first INTEGER NOT NULL,
  last INTEGER NOT NULL,
  n INTEGER NOT NULL,
  nn INTEGER NOT NULL,
  sum REAL,
  sumsq REAL,
  m2 REAL,
  mn REAL,
  mx REAL,
  PRIMARY KEY(tenant, entity, attr, period, p0)) WITHOUT ROWID;
INSERT INTO history_last(tenant, entity, attr, t, iid, ds, k, v, x)
  SELECT tenant, entity, attr, t, iid, ds, k, v, x FROM (
    SELECT *, row_number() OVER (PARTITION BY tenant, entity, attr ORDER BY t DESC, iid DESC)
      AS newest FROM history)
  WHERE newest = 1;
)sql",
};

base::Result<void> apply_missing(Connection& c) {
  auto version = c.query_int("PRAGMA user_version");
  if (!version) return std::unexpected(version.error());
  const auto known = static_cast<std::int64_t>(kMigrations.size());
  if (*version > known) {
    return base::fail(base::ErrorKind::kInternalError,
                      fmt::format("database schema version {} is newer than this cityroom "
                                  "understands ({}); upgrade cityroom",
                                  *version, known));
  }
  for (std::int64_t v = *version; v < known; ++v) {
    if (auto r = c.exec(kMigrations[static_cast<std::size_t>(v)]); !r) {
      return base::fail(r.error().kind,
                        fmt::format("schema migration {}: {}", v + 1, r.error().detail));
    }
  }
  if (*version == known) return {};
  return c.exec(fmt::format("PRAGMA user_version = {}", known));
}

}  // namespace

std::int64_t schema_version() {
  return static_cast<std::int64_t>(kMigrations.size());
}

base::Result<void> migrate(Connection& c) {
  if (auto r = c.exec("BEGIN IMMEDIATE"); !r) return r;
  if (auto r = apply_missing(c); !r) {
    (void)c.exec("ROLLBACK");
    return r;
  }
  return c.exec("COMMIT");
}

}  // namespace cityroom::store::sqlite
