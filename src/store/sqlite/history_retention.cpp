#include "store/sqlite/history_retention.h"

#include <algorithm>

#include "model/model.h"
#include "store/sqlite/query_engine.h"
#include "store/sqlite/sql.h"

namespace cityroom::store::sqlite {
namespace {

constexpr char kNameOfId[] = "SELECT name FROM names WHERE id = ?1";

std::string_view local_name(std::string_view iri) {
  const auto cut = iri.find_last_of("/#:");
  return cut == std::string_view::npos ? iri : iri.substr(cut + 1);
}

bool has_policy_work(const HistoryRetention& r) {
  if (r.raw) return true;
  return std::any_of(r.rollups.begin(), r.rollups.end(),
                     [](const auto& u) { return u.keep.has_value(); });
}

// The entity types of series `key` (empty when the entity is gone).
base::Result<std::vector<std::string>> types_of(Connection& c, const SeriesKey& key) {
  std::string id;
  {
    auto s = c.prepare(kNameOfId);
    if (!s) return std::unexpected(s.error());
    auto row = s->bind(1, key.entity).step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return std::vector<std::string>{};
    id = s->text_at(0);
  }
  auto s = c.prepare(sql::kDocInTenant);
  if (!s) return std::unexpected(s.error());
  auto row = s->bind(1, key.tenant).bind(2, std::string_view(id)).step();
  if (!row) return std::unexpected(row.error());
  std::vector<std::string> out;
  if (!*row) return out;
  auto e = parse_doc(s->blob_at(0));
  if (!e) return std::unexpected(e.error());
  if (const auto* t = e->if_contains(model::key::kType)) {
    if (t->is_string()) out.emplace_back(t->get_string());
    if (t->is_array()) {
      for (const auto& v : t->get_array()) {
        if (v.is_string()) out.emplace_back(v.get_string());
      }
    }
  }
  return out;
}

base::Result<void> apply(Connection& c, const SeriesKey& key, const HistoryRetention& r,
                         base::Micros now) {
  if (r.raw) {
    std::vector<base::Micros> periods;
    for (const auto& u : r.rollups) periods.push_back(u.period);
    if (auto d = drop_raw_before(c, key, now - *r.raw, periods); !d) {
      return std::unexpected(d.error());
    }
  }
  for (const auto& u : r.rollups) {
    if (!u.keep) continue;
    if (auto d = drop_rollups_before(c, key, u.period, now - *u.keep); !d) {
      return std::unexpected(d.error());
    }
  }
  return {};
}

}  // namespace

const HistoryRetention& retention_for(const HistoryPolicy& policy,
                                      const std::vector<std::string>& types) {
  for (const auto& type : types) {
    for (const auto& [name, retention] : policy.types) {
      if (name == type || name == local_name(type)) return retention;
    }
  }
  return policy.fallback;
}

base::Result<bool> maintain_history(Connection& c, const HistoryPolicy& policy, base::Micros now,
                                    bool force, MaintenanceState& state) {
  auto more = seal_head(c, now, force);
  if (!more) return std::unexpected(more.error());
  if (*more) return true;
  const bool any = has_policy_work(policy.fallback) ||
                   std::any_of(policy.types.begin(), policy.types.end(),
                               [](const auto& t) { return has_policy_work(t.second); });
  if (!any) return false;
  if (!state.retention_running) {
    if (!force && now < state.next_retention) return false;
    state.retention_running = true;
    state.cursor = SeriesKey{INT64_MIN, INT64_MIN, INT64_MIN};
  }
  auto batch = history_series(c, state.cursor, kRetentionSeriesPerPass);
  if (!batch) return std::unexpected(batch.error());
  for (const auto& key : *batch) {
    auto types = types_of(c, key);
    if (!types) return std::unexpected(types.error());
    if (auto r = apply(c, key, retention_for(policy, *types), now); !r) {
      return std::unexpected(r.error());
    }
  }
  if (batch->size() == kRetentionSeriesPerPass) {
    state.cursor = batch->back();
    return true;
  }
  state.retention_running = false;
  state.next_retention = now + kRetentionEvery;
  return false;
}

}  // namespace cityroom::store::sqlite
