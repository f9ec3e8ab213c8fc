// The writer side of the sqlite store: one connection, used only by the writer thread (and by
// open/close before and after it runs). `WriteTxn` is the Transaction handed to work items and
// also drives the group commit: begin_batch → run_item (each in a savepoint) → commit_batch.
//
// A put writes the entity row and its index rows (schema.h). Replacing an entity rewrites only
// the index rows that changed (a sensor update usually changes a few values, not its types or
// location). Discovery counters and the entity count are accumulated in memory per item, merged
// into the batch when the item's savepoint is released, and written once before COMMIT.
// Caches of interned names and registered tenants forget everything when a savepoint or a
// commit is rolled back (they may name rows that no longer exist).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "store/sqlite/db.h"
#include "store/sqlite/entity_rows.h"
#include "store/store.h"

namespace cityroom::store::sqlite {

// One idx row of an entity, less tenant and pk.
struct IndexKey {
  enum class Tag : std::uint8_t { kNumber, kString, kCell, kOther };
  std::int64_t attr = 0;
  Tag tag = Tag::kOther;
  double number = 0;
  std::string_view text;
  std::array<char, 8> cell{};

  auto order() const { return std::tie(attr, tag, number, text, cell); }
  bool operator<(const IndexKey& o) const { return order() < o.order(); }
  bool operator==(const IndexKey& o) const { return order() == o.order(); }
};

// (type, attr, kind) of a summary row (schema.h).
using SummaryKey = std::array<std::int64_t, 3>;

class WriteTxn final : public Transaction {
 public:
  explicit WriteTxn(Connection& c) : c_(c) {}

  base::Result<std::optional<model::Entity>> get(std::string_view tenant,
                                                 std::string_view id) override;
  base::Result<void> put(std::string_view tenant, const model::Entity& entity) override;
  base::Result<bool> remove(std::string_view tenant, std::string_view id) override;
  base::Result<std::vector<std::string>> ids_matching(std::string_view tenant,
                                                      const EntityQuery& q) override;
  base::Result<void> put_record(std::string_view kind, std::string_view tenant,
                                std::string_view id, std::string_view doc) override;
  base::Result<bool> remove_record(std::string_view kind, std::string_view tenant,
                                   std::string_view id) override;
  base::Result<void> append_history(std::string_view tenant, std::string_view id,
                                    std::span<const HistoryPoint> points) override;
  base::Result<std::size_t> remove_history(std::string_view tenant, std::string_view id) override;
  base::Result<std::optional<HistoryRow>> history_instance(std::string_view tenant,
                                                           std::string_view id,
                                                           std::string_view attribute,
                                                           std::int64_t instance) override;
  base::Result<bool> replace_history_instance(std::string_view tenant, std::string_view id,
                                              std::int64_t instance,
                                              const HistoryPoint& point) override;
  base::Result<bool> remove_history_instance(std::string_view tenant, std::string_view id,
                                             std::string_view attribute,
                                             std::int64_t instance) override;
  base::Result<std::size_t> remove_history_attribute(
      std::string_view tenant, std::string_view id, std::string_view attribute,
      const std::optional<std::string>& dataset_id) override;

  // ---- group commit, for the writer loop ----
  base::Result<void> begin_batch();
  // Runs `work` in a savepoint; on its failure only its own changes are rolled back.
  base::Result<WorkOutput> run_item(const Work& work);
  // True when SQLite itself abandoned the transaction (e.g. disk full): nothing of the batch
  // will be committed.
  bool batch_lost() const;
  base::Result<void> commit_batch();
  // Entities added minus removed by the last committed batch.
  std::int64_t committed_delta() const { return committed_delta_; }

 private:
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // The index rows and summary keys of one entity version.
  struct Indexed {
    EntityRows rows;
    std::vector<std::int64_t> types;  // name ids, sorted
    std::vector<IndexKey> keys;
    std::vector<SummaryKey> summary;
  };

  base::Result<std::int64_t> intern(std::string_view name);
  base::Result<std::int64_t> register_tenant(std::string_view tenant);
  base::Result<std::optional<std::int64_t>> known_name(std::string_view name);
  // (tenant, entity, attribute) name ids of a series; nullopt when one was never interned.
  base::Result<std::optional<std::array<std::int64_t, 3>>> known_series(
      std::string_view tenant, std::string_view id, std::string_view attribute);
  void forget_caches();

  base::Result<void> index_entity(const model::Entity& e, Indexed& out);
  base::Result<void> insert_keys(std::int64_t tenant, std::int64_t pk,
                                 const std::vector<IndexKey>& keys);
  base::Result<void> delete_keys(std::int64_t tenant, std::int64_t pk,
                                 const std::vector<IndexKey>& keys);
  base::Result<void> write_types(const char* sql, std::int64_t tenant, std::int64_t pk,
                                 const std::vector<std::int64_t>& types);
  // Counts an entity version in or out of the discovery summary. Consecutive entities with the
  // same summary keys (a bulk load of one type) are only multiplied, not re-added per key.
  void count(std::int64_t tenant, const std::vector<SummaryKey>& keys, std::int64_t sign);
  void flush_count();
  // Loads the stored version of (tenant, id) into old_; nullopt when there is none.
  base::Result<std::optional<std::int64_t>> load_old(std::int64_t tenant, std::string_view id);
  base::Result<void> replace(std::int64_t tenant, std::int64_t pk);
  base::Result<void> flush_counters();

  Connection& c_;
  std::unordered_map<std::string, std::int64_t, NameHash, std::equal_to<>> names_;
  std::unordered_set<std::int64_t> tenants_;
  Indexed new_, old_;
  model::Entity old_entity_;
  std::vector<IndexKey> changed_;
  std::vector<std::int64_t> changed_types_;
  std::vector<std::pair<std::int64_t, std::int64_t>> attr_kinds_scratch_;
  std::int64_t counted_tenant_ = 0;
  std::vector<SummaryKey> counted_keys_;
  std::int64_t counted_n_ = 0;
  std::string doc_;
  std::int64_t last_iid_ = 0;  // the last history instance number (history.h)
  std::int64_t item_delta_ = 0;
  std::int64_t batch_delta_ = 0;
  std::int64_t committed_delta_ = 0;
  std::map<std::array<std::int64_t, 4>, std::int64_t> item_summary_, batch_summary_;
};

}  // namespace cityroom::store::sqlite
