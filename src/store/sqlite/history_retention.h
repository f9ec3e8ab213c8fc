// History maintenance of the sqlite store, run on the writer thread in bounded transactions
// (the background pass of sqlite_store.cpp, and Store::maintain_history): seals the head into
// chunks (history.h), then applies the retention policy (store.h HistoryPolicy) series by
// series: raw points older than the entity type's `raw` are dropped and, first, added to each
// configured rollup period; rollup rows older than their `keep` are dropped.
// The entity type of a series is the entity's current type (looked up once per series per
// pass); a deleted entity's history follows the policy's fallback.
#pragma once

#include "store/sqlite/db.h"
#include "store/sqlite/history.h"
#include "store/store.h"

namespace cityroom::store::sqlite {

inline constexpr std::size_t kRetentionSeriesPerPass = 256;
inline constexpr base::Micros kRetentionEvery = 600'000'000;  // a full retention pass

// Where the passes are; kept by the writer between passes.
struct MaintenanceState {
  SeriesKey cursor;               // retention resumes after this series
  bool retention_running = false;
  base::Micros next_retention = 0;  // by the store's clock
};

// The retention of an entity with `types` (expanded IRIs) under `policy`.
const HistoryRetention& retention_for(const HistoryPolicy& policy,
                                      const std::vector<std::string>& types);

// One bounded pass in the caller's transaction. `force`: seal every head point and run
// retention now. Returns true when more work is left (call again).
base::Result<bool> maintain_history(Connection& c, const HistoryPolicy& policy, base::Micros now,
                                    bool force, MaintenanceState& state);

}  // namespace cityroom::store::sqlite
