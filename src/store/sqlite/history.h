// History rows of the sqlite store: one row per attribute instance written.
//
// Layout (migration 4):
//   history(tenant, entity, attr, t, iid, ds, k, v, x) PRIMARY KEY(tenant, entity, attr, t, iid)
//   WITHOUT ROWID — the points of one attribute of one entity lie together in time order, so a
//   time window, lastN or an aggregation is one range scan. tenant, entity (the entity id),
//   attr and ds (datasetId, 0 = default) are ids in `names`; t = observedAt or the write time
//   in µs; iid = the write time in µs made strictly increasing per writer (the instanceId);
//   k = attribute type code | 16 when t is observedAt; v = the value when it is a number or a
//   string (Property value, Relationship object), natively; x = the other members as JSON
//   (NULL when none — a plain sensor reading has none).
// Entity ids are interned so that a point does not repeat a 50-byte URN; a deleted entity keeps
// its history (its name stays in `names`).
#pragma once

#include <functional>
#include <optional>
#include <span>

#include "store/sqlite/db.h"
#include "store/store.h"

namespace cityroom::store::sqlite {

// Interns a name in `names` (the writer's cache).
using Intern = std::function<base::Result<std::int64_t>(std::string_view)>;

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

}  // namespace cityroom::store::sqlite
