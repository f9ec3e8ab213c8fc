// Every SQL statement of the sqlite store, as static strings (the statement cache of a
// Connection is keyed by their addresses). Schema: see schema.h.
#pragma once

#include "store/sqlite/schema.h"

namespace cityroom::store::sqlite::sql {

// ---- names, tenants, counters -------------------------------------------------------------
inline constexpr char kFindName[] = "SELECT id FROM names WHERE name = ?1";
inline constexpr char kInsertName[] = "INSERT INTO names(name) VALUES(?1)";
inline constexpr char kInsertTenant[] = "INSERT OR IGNORE INTO tenants(name_id) VALUES(?1)";
inline constexpr char kTenantExists[] =
    "SELECT 1 FROM tenants t JOIN names n ON n.id = t.name_id WHERE n.name = ?1";
inline constexpr char kAddEntityCount[] =
    "UPDATE meta SET value = value + ?1 WHERE key = 'entities'";
inline constexpr char kEntityCount[] = "SELECT value FROM meta WHERE key = 'entities'";
inline constexpr char kAddSummary[] =
    "INSERT INTO summary(tenant, type, attr, kind, n) VALUES(?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT(tenant, type, attr, kind) DO UPDATE SET n = n + excluded.n";

// ---- records --------------------------------------------------------------------------------
inline constexpr char kPutRecord[] =
    "INSERT INTO records(kind, tenant, id, doc) VALUES(?1, ?2, ?3, ?4) "
    "ON CONFLICT(kind, tenant, id) DO UPDATE SET doc = excluded.doc";
inline constexpr char kRemoveRecord[] =
    "DELETE FROM records WHERE kind = ?1 AND tenant = ?2 AND id = ?3";
inline constexpr char kRecordsOfKind[] =
    "SELECT tenant, id, doc FROM records WHERE kind = ?1 ORDER BY tenant, id";

// ---- entities and their index rows ----------------------------------------------------------
// Inserts unless the id exists (then changes() is 0 and the caller replaces).
inline constexpr char kInsertEntity[] =
    "INSERT INTO entities(tenant, id, doc) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(tenant, id) DO NOTHING";
inline constexpr char kFindEntity[] = "SELECT pk, doc FROM entities WHERE tenant = ?1 AND id = ?2";
inline constexpr char kUpdateEntity[] = "UPDATE entities SET doc = ?2 WHERE pk = ?1";
inline constexpr char kDeleteEntity[] = "DELETE FROM entities WHERE pk = ?1";
inline constexpr char kDeleteIdx[] =
    "DELETE FROM idx WHERE tenant = ?1 AND attr = ?2 AND v = ?3 AND pk = ?4";
inline constexpr char kInsertIdx1[] =
    "INSERT OR IGNORE INTO idx(tenant, attr, v, pk) VALUES(?1, ?2, ?3, ?4)";
inline constexpr int kInsertIdxRows = 8;  // rows per statement below
inline constexpr char kInsertIdx8[] =
    "INSERT OR IGNORE INTO idx(tenant, attr, v, pk) VALUES(?1, ?2, ?3, ?4), (?5, ?6, ?7, ?8), "
    "(?9, ?10, ?11, ?12), (?13, ?14, ?15, ?16), (?17, ?18, ?19, ?20), (?21, ?22, ?23, ?24), "
    "(?25, ?26, ?27, ?28), (?29, ?30, ?31, ?32)";
inline constexpr char kInsertType[] =
    "INSERT OR IGNORE INTO types(tenant, type, id, pk) VALUES(?1, ?2, ?3, ?4)";
inline constexpr char kDeleteType[] =
    "DELETE FROM types WHERE tenant = ?1 AND type = ?2 AND id = ?3";
inline constexpr char kDocInTenant[] = "SELECT doc FROM entities WHERE tenant = ?1 AND id = ?2";
inline constexpr char kDocByName[] =
    "SELECT e.doc FROM entities e JOIN names n ON e.tenant = n.id "
    "WHERE n.name = ?1 AND e.id = ?2";

// ---- query push-downs -----------------------------------------------------------------------
inline constexpr char kScan[] = "SELECT pk, id, doc FROM entities WHERE tenant = ?1 ORDER BY id";
inline constexpr char kPkDocById[] = "SELECT pk, doc FROM entities WHERE tenant = ?1 AND id = ?2";
inline constexpr char kScanIds[] = "SELECT id, pk FROM entities WHERE tenant = ?1 ORDER BY id";
// The same two scans limited to ids in [?2, ?3): an idPattern anchored on a literal prefix.
inline constexpr char kScanRange[] =
    "SELECT pk, id, doc FROM entities WHERE tenant = ?1 AND id >= ?2 AND id < ?3 ORDER BY id";
inline constexpr char kScanIdsRange[] =
    "SELECT id, pk FROM entities WHERE tenant = ?1 AND id >= ?2 AND id < ?3 ORDER BY id";
// An upper bound of the tenant's entity count (entities with several types count more).
inline constexpr char kTypedEntities[] =
    "SELECT coalesce(sum(n), 0) FROM summary WHERE tenant = ?1 AND type > 0 AND attr = 0";
inline constexpr char kEntitiesOfType[] =
    "SELECT n FROM summary WHERE tenant = ?1 AND type = ?2 AND attr = 0 AND kind = 0";
inline constexpr char kHasType[] =
    "SELECT 1 FROM types WHERE tenant = ?1 AND type = ?2 AND id = ?3";
inline constexpr char kOfType[] =
    "SELECT id, pk FROM types WHERE tenant = ?1 AND type = ?2 ORDER BY id";
inline constexpr char kIdByPk[] = "SELECT id FROM entities WHERE pk = ?1";
inline constexpr char kDocByPk[] = "SELECT doc FROM entities WHERE pk = ?1";
inline constexpr char kIdxAll[] = "SELECT pk FROM idx WHERE tenant = ?1 AND attr = ?2";
inline constexpr char kIdxEq[] = "SELECT pk FROM idx WHERE tenant = ?1 AND attr = ?2 AND v = ?3";
inline constexpr char kIdxBetween[] =
    "SELECT pk FROM idx WHERE tenant = ?1 AND attr = ?2 AND v BETWEEN ?3 AND ?4";
// Geo candidates with their id and document in one pass (the join runs inside SQLite, which is
// several times cheaper than a statement per candidate). ?2 is the GeoProperty's attribute, or
// its per-type twin (typed_geo_attr) when the query names types; cell_meets drops the cells of
// the cover that lie outside the query box before the join.
inline constexpr char kGeoDocs[] =
    "SELECT e.id, e.doc FROM idx g JOIN entities e ON e.pk = g.pk "
    "WHERE g.tenant = ?1 AND g.attr = ?2 AND g.v BETWEEN ?3 AND ?4 "
    "AND cell_meets(g.v, ?5, ?6, ?7, ?8)";
inline constexpr char kIdxBlobs[] =
    "SELECT pk FROM idx WHERE tenant = ?1 AND attr = ?2 AND v >= x''";
inline constexpr char kIdxLt[] = "SELECT pk FROM idx WHERE tenant = ?1 AND attr = ?2 AND v < ?3";
inline constexpr char kIdxLe[] = "SELECT pk FROM idx WHERE tenant = ?1 AND attr = ?2 AND v <= ?3";
// Numbers only: every string and BLOB sorts above ''.
inline constexpr char kIdxGt[] =
    "SELECT pk FROM idx WHERE tenant = ?1 AND attr = ?2 AND v > ?3 AND v < ''";
inline constexpr char kIdxGe[] =
    "SELECT pk FROM idx WHERE tenant = ?1 AND attr = ?2 AND v >= ?3 AND v < ''";

// ---- ordered walks of the value index (orderBy one attribute) --------------------------------
// Numbers sort below every string in SQLite, strings below BLOBs ("other" values and cells), so
// numbers and strings are two ranges of the index, each walked in value order.
inline constexpr char kIdxNumbersAsc[] =
    "SELECT v, pk FROM idx WHERE tenant = ?1 AND attr = ?2 AND v < '' ORDER BY v";
inline constexpr char kIdxNumbersDesc[] =
    "SELECT v, pk FROM idx WHERE tenant = ?1 AND attr = ?2 AND v < '' ORDER BY v DESC";
inline constexpr char kIdxStringsAsc[] =
    "SELECT v, pk FROM idx WHERE tenant = ?1 AND attr = ?2 AND v >= '' AND v < x'' ORDER BY v";
inline constexpr char kIdxStringsDesc[] =
    "SELECT v, pk FROM idx WHERE tenant = ?1 AND attr = ?2 AND v >= '' AND v < x'' "
    "ORDER BY v DESC";
inline constexpr char kIdxHasOther[] =
    "SELECT 1 FROM idx WHERE tenant = ?1 AND attr = ?2 AND v >= x'' LIMIT 1";
inline constexpr char kIdDocByPk[] = "SELECT id, doc FROM entities WHERE pk = ?1";

// ---- discovery ------------------------------------------------------------------------------
inline constexpr char kTypeCounts[] =
    "SELECT n.name, s.n FROM summary s JOIN names n ON n.id = s.type "
    "WHERE s.tenant = ?1 AND s.type > 0 AND s.attr = 0 AND s.n > 0 ORDER BY n.name";
inline constexpr char kTypeAttributePairs[] =
    "SELECT tn.name, an.name FROM summary s JOIN names tn ON tn.id = s.type "
    "JOIN names an ON an.id = s.attr WHERE s.tenant = ?1 AND s.type > 0 AND s.attr > 0 "
    "AND s.n > 0";
inline constexpr char kAttributeCounts[] =
    "SELECT n.name, s.n FROM summary s JOIN names n ON n.id = s.attr "
    "WHERE s.tenant = ?1 AND s.type = 0 AND s.attr > 0 AND s.n > 0 ORDER BY n.name";
inline constexpr char kAttributeKinds[] =
    "SELECT n.name, s.kind FROM summary s JOIN names n ON n.id = s.attr "
    "WHERE s.tenant = ?1 AND s.type = -1 AND s.n > 0";

}  // namespace cityroom::store::sqlite::sql
