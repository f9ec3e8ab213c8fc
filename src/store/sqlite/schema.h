// The sqlite store's schema and its forward migrations.
//
// Layout (tenants, types and attribute IRIs are interned as integers in `names` so that index
// rows stay small):
//   names(id, name)                every tenant, type and attribute IRI ever written (id >= 1)
//   tenants(name_id)               tenants created by a write
//   meta(key, value)               counters kept in the writer's transactions ('entities')
//   entities(pk, tenant, id, doc)  the entity in model's internal form, encoded by doc_codec.h;
//                                  UNIQUE(tenant, id) gives id-ordered scans
//   types(tenant, type, id, pk)    WITHOUT ROWID: the entities of a type in id order, so a
//                                  page of a type is read in order and stops early
//   idx(tenant, attr, v, pk)       WITHOUT ROWID, one B-tree: one row per distinct indexed
//                                  (attribute, value) of an entity (entity_rows.h):
//                                  v = number | string | 8-byte quadtree cell BLOB
//                                      (GeoProperty, geo_cells.h) | x'' (other value)
//   summary(tenant, type, attr, kind, n)
//                                  discovery counters, updated once per group commit:
//                                    (type, 0, 0)       entities of the type
//                                    (type, attr, 0)    entities of the type having attr
//                                    (0, attr, 0)       entities having attr
//                                    (-1, attr, kind)   entities having an attr instance of kind
//   history, history_chunk, history_last, history_rollup
//                                  attribute history (store/sqlite/history.h)
// Numbers sort before text and text before BLOBs, so a numeric range, a string and "other"
// are each one index range.
#pragma once

#include <cstdint>

#include "base/base.h"
#include "store/sqlite/db.h"

namespace cityroom::store::sqlite {

inline constexpr std::int64_t kKindRowType = -1;  // summary.type of attribute-kind rows

// The schema version this build writes (PRAGMA user_version after migrating).
std::int64_t schema_version();

// Applies every missing migration in one transaction. Fails when the database was written by
// a newer cityroom (user_version above ours).
base::Result<void> migrate(Connection& c);

}  // namespace cityroom::store::sqlite
