#include "store/sqlite/writer.h"

#include "store/sqlite/history.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <iterator>

#include "store/sqlite/doc_codec.h"
#include "store/sqlite/geo_cells.h"
#include "store/sqlite/query_engine.h"
#include "store/sqlite/schema.h"
#include "store/sqlite/sql.h"

namespace cityroom::store::sqlite {

namespace {
// Runs a work item; anything it throws becomes an InternalError (no exception leaves the
// writer thread).
base::Result<WorkOutput> call(const Work& work, Transaction& txn) {
  try {
    return work(txn);
  } catch (const std::exception& e) {
    return base::fail(base::ErrorKind::kInternalError,
                      fmt::format("write failed with an exception: {}", e.what()));
  } catch (...) {
    return base::fail(base::ErrorKind::kInternalError, "write failed with an unknown exception");
  }
}
}  // namespace

// ---- names and tenants --------------------------------------------------------------------

base::Result<std::optional<std::int64_t>> WriteTxn::known_name(std::string_view name) {
  if (auto it = names_.find(name); it != names_.end()) return it->second;
  auto found = find_name(c_, name);
  if (found && *found) names_.emplace(std::string(name), **found);
  return found;
}

base::Result<std::int64_t> WriteTxn::intern(std::string_view name) {
  auto known = known_name(name);
  if (!known) return std::unexpected(known.error());
  if (*known) return **known;
  auto s = c_.prepare(sql::kInsertName);
  if (!s) return std::unexpected(s.error());
  if (auto r = s->bind(1, name).run(); !r) return std::unexpected(r.error());
  const std::int64_t id = sqlite3_last_insert_rowid(c_.handle());
  names_.emplace(std::string(name), id);
  return id;
}

base::Result<std::int64_t> WriteTxn::register_tenant(std::string_view tenant) {
  auto id = intern(tenant);
  if (!id || tenants_.contains(*id)) return id;
  auto s = c_.prepare(sql::kInsertTenant);
  if (!s) return std::unexpected(s.error());
  if (auto r = s->bind(1, *id).run(); !r) return std::unexpected(r.error());
  tenants_.insert(*id);
  return id;
}

void WriteTxn::forget_caches() {
  names_.clear();
  tenants_.clear();
}

// ---- entities -----------------------------------------------------------------------------

namespace {

void bind_value(Stmt& s, int i, const IndexKey& k) {
  switch (k.tag) {
    case IndexKey::Tag::kNumber:
      s.bind(i, k.number);
      return;
    case IndexKey::Tag::kString:
      s.bind(i, k.text);
      return;
    case IndexKey::Tag::kCell:
      s.bind_blob(i, std::string_view(k.cell.data(), k.cell.size()));
      return;
    case IndexKey::Tag::kOther:
      s.bind_empty_blob(i);
      return;
  }
}

IndexKey value_key(std::int64_t attr, const AttrRow& row) {
  IndexKey k;
  k.attr = attr;
  if (row.cell) {
    k.tag = IndexKey::Tag::kCell;
    k.cell = cell_bytes(*row.cell);
  } else if (!row.value) {
    k.tag = IndexKey::Tag::kOther;
  } else if (row.value->is_string()) {
    k.tag = IndexKey::Tag::kString;
    k.text = row.value->get_string();
  } else {
    k.tag = IndexKey::Tag::kNumber;
    k.number = row.value->to_number<double>();
  }
  return k;
}

template <class T>
void sort_unique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// Summary rows of an entity with `types` and (attr, kind) pairs (schema.h).
void summary_keys(const std::vector<std::int64_t>& types,
                  std::vector<std::pair<std::int64_t, std::int64_t>>& attr_kinds,
                  std::vector<SummaryKey>& out) {
  sort_unique(attr_kinds);
  out.clear();
  std::int64_t last_attr = -1;
  for (const auto& [attr, kind] : attr_kinds) {
    out.push_back({kKindRowType, attr, kind});
    if (attr == last_attr) continue;
    last_attr = attr;
    out.push_back({0, attr, 0});
    for (std::int64_t t : types) out.push_back({t, attr, 0});
  }
  for (std::int64_t t : types) out.push_back({t, 0, 0});
  sort_unique(out);
}

}  // namespace

base::Result<void> WriteTxn::index_entity(const model::Entity& e, Indexed& out) {
  if (auto r = collect_rows(e, out.rows); !r) return r;
  out.keys.clear();
  std::vector<std::int64_t>& types = out.types;
  types.clear();
  for (std::string_view type : out.rows.types) {
    auto id = intern(type);
    if (!id) return std::unexpected(id.error());
    types.push_back(*id);
  }
  sort_unique(types);
  auto& attr_kinds = attr_kinds_scratch_;
  attr_kinds.clear();
  for (const AttrRow& row : out.rows.attrs) {
    auto attr = intern(row.attr);
    if (!attr) return std::unexpected(attr.error());
    out.keys.push_back(value_key(*attr, row));
    if (row.cell) {
      for (std::int64_t type : types) out.keys.push_back(value_key(typed_geo_attr(type, *attr), row));
    }
    attr_kinds.emplace_back(*attr, static_cast<std::int64_t>(row.kind));
  }
  sort_unique(out.keys);
  summary_keys(types, attr_kinds, out.summary);
  return {};
}

base::Result<void> WriteTxn::insert_keys(std::int64_t tenant, std::int64_t pk,
                                         const std::vector<IndexKey>& keys) {
  constexpr auto kRows = static_cast<std::size_t>(sql::kInsertIdxRows);
  std::size_t i = 0;
  for (; i + kRows <= keys.size(); i += kRows) {
    auto s = c_.prepare(sql::kInsertIdx8);
    if (!s) return std::unexpected(s.error());
    for (std::size_t j = 0; j < kRows; ++j) {
      const int p = static_cast<int>(j) * 4;
      s->bind(p + 1, tenant).bind(p + 2, keys[i + j].attr).bind(p + 4, pk);
      bind_value(*s, p + 3, keys[i + j]);
    }
    if (auto r = s->run(); !r) return r;
  }
  for (; i < keys.size(); ++i) {
    auto s = c_.prepare(sql::kInsertIdx1);
    if (!s) return std::unexpected(s.error());
    s->bind(1, tenant).bind(2, keys[i].attr).bind(4, pk);
    bind_value(*s, 3, keys[i]);
    if (auto r = s->run(); !r) return r;
  }
  return {};
}

base::Result<void> WriteTxn::delete_keys(std::int64_t tenant, std::int64_t pk,
                                         const std::vector<IndexKey>& keys) {
  for (const IndexKey& k : keys) {
    auto s = c_.prepare(sql::kDeleteIdx);
    if (!s) return std::unexpected(s.error());
    s->bind(1, tenant).bind(2, k.attr).bind(4, pk);
    bind_value(*s, 3, k);
    if (auto r = s->run(); !r) return r;
  }
  return {};
}

base::Result<void> WriteTxn::write_types(const char* sql, std::int64_t tenant, std::int64_t pk,
                                         const std::vector<std::int64_t>& types) {
  for (std::int64_t type : types) {
    auto s = c_.prepare(sql);
    if (!s) return std::unexpected(s.error());
    s->bind(1, tenant).bind(2, type).bind(3, new_.rows.id);
    if (sql == sql::kInsertType) s->bind(4, pk);
    if (auto r = s->run(); !r) return r;
  }
  return {};
}

void WriteTxn::count(std::int64_t tenant, const std::vector<SummaryKey>& keys, std::int64_t sign) {
  if (tenant != counted_tenant_ || keys != counted_keys_) {
    flush_count();
    counted_tenant_ = tenant;
    counted_keys_ = keys;
  }
  counted_n_ += sign;
}

void WriteTxn::flush_count() {
  if (counted_n_ != 0) {
    for (const SummaryKey& k : counted_keys_) {
      item_summary_[{counted_tenant_, k[0], k[1], k[2]}] += counted_n_;
    }
  }
  counted_n_ = 0;
}

base::Result<std::optional<std::int64_t>> WriteTxn::load_old(std::int64_t tenant,
                                                             std::string_view id) {
  auto s = c_.prepare(sql::kFindEntity);
  if (!s) return std::unexpected(s.error());
  auto row = s->bind(1, tenant).bind(2, id).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::int64_t>();
  const std::int64_t pk = s->int64_at(0);
  auto old = decode_doc(s->blob_at(1));
  if (!old) return std::unexpected(old.error());
  old_entity_ = std::move(*old);
  if (auto r = index_entity(old_entity_, old_); !r) return std::unexpected(r.error());
  return pk;
}

// Rewrites entity `pk` (already in old_) with doc_ / new_, touching only changed index rows.
base::Result<void> WriteTxn::replace(std::int64_t tenant, std::int64_t pk) {
  auto s = c_.prepare(sql::kUpdateEntity);
  if (!s) return std::unexpected(s.error());
  if (auto r = s->bind(1, pk).bind_blob(2, doc_).run(); !r) return r;
  changed_.clear();
  std::set_difference(old_.keys.begin(), old_.keys.end(), new_.keys.begin(), new_.keys.end(),
                      std::back_inserter(changed_));
  if (auto r = delete_keys(tenant, pk, changed_); !r) return r;
  changed_.clear();
  std::set_difference(new_.keys.begin(), new_.keys.end(), old_.keys.begin(), old_.keys.end(),
                      std::back_inserter(changed_));
  if (auto r = insert_keys(tenant, pk, changed_); !r) return r;
  changed_types_.clear();
  std::set_difference(old_.types.begin(), old_.types.end(), new_.types.begin(), new_.types.end(),
                      std::back_inserter(changed_types_));
  if (auto r = write_types(sql::kDeleteType, tenant, pk, changed_types_); !r) return r;
  changed_types_.clear();
  std::set_difference(new_.types.begin(), new_.types.end(), old_.types.begin(), old_.types.end(),
                      std::back_inserter(changed_types_));
  if (auto r = write_types(sql::kInsertType, tenant, pk, changed_types_); !r) return r;
  if (old_.summary != new_.summary) {
    count(tenant, old_.summary, -1);
    count(tenant, new_.summary, +1);
  }
  return {};
}

base::Result<void> WriteTxn::put(std::string_view tenant, const model::Entity& entity) {
  auto tenant_id = register_tenant(tenant);
  if (!tenant_id) return std::unexpected(tenant_id.error());
  if (auto r = index_entity(entity, new_); !r) return r;
  encode_doc(entity, doc_);
  {
    auto s = c_.prepare(sql::kInsertEntity);
    if (!s) return std::unexpected(s.error());
    if (auto r = s->bind(1, *tenant_id).bind(2, new_.rows.id).bind_blob(3, doc_).run(); !r) {
      return r;
    }
  }
  if (sqlite3_changes(c_.handle()) == 1) {  // a new entity: nothing to compare with
    ++item_delta_;
    count(*tenant_id, new_.summary, +1);
    const std::int64_t pk = sqlite3_last_insert_rowid(c_.handle());
    if (auto r = write_types(sql::kInsertType, *tenant_id, pk, new_.types); !r) return r;
    return insert_keys(*tenant_id, pk, new_.keys);
  }
  auto pk = load_old(*tenant_id, new_.rows.id);
  if (!pk) return std::unexpected(pk.error());
  if (!*pk) return base::fail(base::ErrorKind::kInternalError, "entity vanished during put");
  return replace(*tenant_id, **pk);
}

base::Result<bool> WriteTxn::remove(std::string_view tenant, std::string_view id) {
  auto tenant_id = known_name(tenant);
  if (!tenant_id) return std::unexpected(tenant_id.error());
  if (!*tenant_id) return false;
  auto pk = load_old(**tenant_id, id);
  if (!pk) return std::unexpected(pk.error());
  if (!*pk) return false;
  if (auto r = delete_keys(**tenant_id, **pk, old_.keys); !r) return std::unexpected(r.error());
  for (std::int64_t type : old_.types) {
    auto s = c_.prepare(sql::kDeleteType);
    if (!s) return std::unexpected(s.error());
    if (auto r = s->bind(1, **tenant_id).bind(2, type).bind(3, id).run(); !r) {
      return std::unexpected(r.error());
    }
  }
  auto s = c_.prepare(sql::kDeleteEntity);
  if (!s) return std::unexpected(s.error());
  if (auto r = s->bind(1, **pk).run(); !r) return std::unexpected(r.error());
  count(**tenant_id, old_.summary, -1);
  --item_delta_;
  return true;
}

base::Result<std::optional<model::Entity>> WriteTxn::get(std::string_view tenant,
                                                         std::string_view id) {
  auto tenant_id = known_name(tenant);
  if (!tenant_id) return std::unexpected(tenant_id.error());
  if (!*tenant_id) return std::optional<model::Entity>();
  auto s = c_.prepare(sql::kDocInTenant);
  if (!s) return std::unexpected(s.error());
  auto row = s->bind(1, **tenant_id).bind(2, id).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<model::Entity>();
  auto e = parse_doc(s->blob_at(0));
  if (!e) return std::unexpected(e.error());
  return std::optional<model::Entity>(std::move(*e));
}

base::Result<std::vector<std::string>> WriteTxn::ids_matching(std::string_view tenant,
                                                              const EntityQuery& q) {
  return matching_ids(c_, tenant, q);
}

base::Result<void> WriteTxn::put_record(std::string_view kind, std::string_view tenant,
                                        std::string_view id, std::string_view doc) {
  auto s = c_.prepare(sql::kPutRecord);
  if (!s) return std::unexpected(s.error());
  return s->bind(1, kind).bind(2, tenant).bind(3, id).bind(4, doc).run();
}

base::Result<bool> WriteTxn::remove_record(std::string_view kind, std::string_view tenant,
                                           std::string_view id) {
  auto s = c_.prepare(sql::kRemoveRecord);
  if (!s) return std::unexpected(s.error());
  if (auto r = s->bind(1, kind).bind(2, tenant).bind(3, id).run(); !r) {
    return std::unexpected(r.error());
  }
  return sqlite3_changes(c_.handle()) > 0;
}

base::Result<void> WriteTxn::append_history(std::string_view tenant, std::string_view id,
                                            std::span<const HistoryPoint> points) {
  if (points.empty()) return {};
  auto tenant_id = register_tenant(tenant);
  if (!tenant_id) return std::unexpected(tenant_id.error());
  const Intern intern = [this](std::string_view name) { return this->intern(name); };
  return sqlite::append_history(c_, intern, *tenant_id, id, points, last_iid_);
}

base::Result<std::size_t> WriteTxn::remove_history(std::string_view tenant, std::string_view id) {
  auto tenant_id = known_name(tenant);
  if (!tenant_id) return std::unexpected(tenant_id.error());
  auto entity = known_name(id);
  if (!entity) return std::unexpected(entity.error());
  if (!*tenant_id || !*entity) return std::size_t{0};
  return sqlite::remove_history(c_, **tenant_id, **entity);
}

base::Result<std::optional<HistoryRow>> WriteTxn::history_instance(std::string_view tenant,
                                                                   std::string_view id,
                                                                   std::string_view attribute,
                                                                   std::int64_t instance) {
  return sqlite::history_instance(c_, tenant, id, attribute, instance);
}

base::Result<bool> WriteTxn::replace_history_instance(std::string_view tenant,
                                                      std::string_view id, std::int64_t instance,
                                                      const HistoryPoint& point) {
  auto tenant_id = known_name(tenant);
  if (!tenant_id) return std::unexpected(tenant_id.error());
  if (!*tenant_id) return false;
  const Intern intern = [this](std::string_view name) { return this->intern(name); };
  return sqlite::replace_history_instance(c_, intern, **tenant_id, id, instance, point);
}

base::Result<std::optional<std::array<std::int64_t, 3>>> WriteTxn::known_series(
    std::string_view tenant, std::string_view id, std::string_view attribute) {
  std::array<std::int64_t, 3> key{};
  std::size_t i = 0;
  for (const std::string_view name : {tenant, id, attribute}) {
    auto known = known_name(name);
    if (!known) return std::unexpected(known.error());
    if (!*known) return std::optional<std::array<std::int64_t, 3>>();
    key[i++] = **known;
  }
  return std::optional<std::array<std::int64_t, 3>>(key);
}

base::Result<bool> WriteTxn::remove_history_instance(std::string_view tenant,
                                                     std::string_view id,
                                                     std::string_view attribute,
                                                     std::int64_t instance) {
  auto key = known_series(tenant, id, attribute);
  if (!key) return std::unexpected(key.error());
  if (!*key) return false;
  return sqlite::remove_history_instance(c_, (**key)[0], (**key)[1], (**key)[2], instance);
}

base::Result<std::size_t> WriteTxn::remove_history_attribute(
    std::string_view tenant, std::string_view id, std::string_view attribute,
    const std::optional<std::string>& dataset_id) {
  auto key = known_series(tenant, id, attribute);
  if (!key) return std::unexpected(key.error());
  if (!*key) return std::size_t{0};
  std::optional<std::int64_t> dataset;
  if (dataset_id) {
    if (dataset_id->empty()) {
      dataset = 0;
    } else {
      auto ds = known_name(*dataset_id);
      if (!ds) return std::unexpected(ds.error());
      if (!*ds) return std::size_t{0};
      dataset = **ds;
    }
  }
  return sqlite::remove_history_attribute(c_, (**key)[0], (**key)[1], (**key)[2], dataset);
}

// ---- group commit -------------------------------------------------------------------------

base::Result<void> WriteTxn::begin_batch() {
  batch_delta_ = 0;
  batch_summary_.clear();
  return c_.run("BEGIN IMMEDIATE");
}

base::Result<WorkOutput> WriteTxn::run_item(const Work& work) {
  item_delta_ = 0;
  item_summary_.clear();
  if (auto r = c_.run("SAVEPOINT item"); !r) return std::unexpected(r.error());
  base::Result<WorkOutput> out = call(work, *this);
  flush_count();
  if (out) {
    auto released = c_.run("RELEASE item");
    if (released) {
      batch_delta_ += item_delta_;
      for (const auto& [key, n] : item_summary_) batch_summary_[key] += n;
      return out;
    }
    out = std::unexpected(released.error());
  }
  (void)c_.run("ROLLBACK TO item");
  (void)c_.run("RELEASE item");
  forget_caches();
  return out;
}

bool WriteTxn::batch_lost() const {
  return sqlite3_get_autocommit(c_.handle()) != 0;
}

base::Result<void> WriteTxn::flush_counters() {
  for (const auto& [key, n] : batch_summary_) {
    if (n == 0) continue;
    auto s = c_.prepare(sql::kAddSummary);
    if (!s) return std::unexpected(s.error());
    s->bind(1, key[0]).bind(2, key[1]).bind(3, key[2]).bind(4, key[3]).bind(5, n);
    if (auto r = s->run(); !r) return r;
  }
  if (batch_delta_ == 0) return {};
  auto s = c_.prepare(sql::kAddEntityCount);
  if (!s) return std::unexpected(s.error());
  return s->bind(1, batch_delta_).run();
}

base::Result<void> WriteTxn::commit_batch() {
  base::Result<void> r = flush_counters();
  if (r) r = c_.run("COMMIT");
  if (r) {
    committed_delta_ = batch_delta_;
    return r;
  }
  if (!batch_lost()) (void)c_.run("ROLLBACK");
  forget_caches();
  committed_delta_ = 0;
  return base::fail(base::ErrorKind::kInternalError,
                    fmt::format("the write was not committed: {}", r.error().detail));
}

}  // namespace cityroom::store::sqlite
