#include "hub/hub.h"

#include <fmt/format.h>

#include "history/history.h"

namespace cityroom::hub {
namespace {

using base::ErrorKind;
using model::Entity;

base::Error not_found(std::string_view id) {
  return {ErrorKind::kResourceNotFound, fmt::format("entity {} does not exist", id)};
}

std::shared_ptr<const Entity> share(const Entity& e) { return std::make_shared<const Entity>(e); }

// Reads an entity that must exist.
base::Result<Entity> load(store::Transaction& txn, std::string_view tenant, std::string_view id) {
  auto got = txn.get(tenant, id);
  if (!got) return std::unexpected(got.error());
  if (!*got) return std::unexpected(not_found(id));
  return std::move(**got);
}

// The time of a write to `before`: now, but always after the entity's last modifiedAt. Times
// are kept to the millisecond, so two writes of the same value within one millisecond would
// otherwise give identical instances and the second would be missing from history.
base::Micros write_time(const Entity& before) {
  const base::Micros now = base::now_micros();
  const auto* last = before.if_contains(model::key::kModifiedAt);
  if (!last || !last->is_string()) return now;
  const auto t = base::parse_iso8601(last->get_string());
  return t && *t + 1000 > now ? *t + 1000 : now;
}

// Writes `after`, appends the instances it changed to history (same transaction: history is
// as durable as the entity) and records the change.
// Both versions are moved into the change record: no copy of an entity on the write path.
base::Result<void> save(store::Transaction& txn, std::string_view tenant, Entity&& before,
                        Entity after, std::vector<Change>& changes) {
  if (auto put = txn.put(tenant, after); !put) return put;
  std::string id(after.at(model::key::kId).get_string());
  const auto points = history::written(&before, after, base::now_micros());
  if (auto h = txn.append_history(tenant, id, points); !h) return h;
  changes.push_back({Change::Kind::kUpdated, std::string(tenant), std::move(id),
                     std::make_shared<const Entity>(std::move(before)),
                     std::make_shared<const Entity>(std::move(after))});
  return {};
}

base::Result<void> create_one(store::Transaction& txn, std::string_view tenant,
                              const Entity& entity, std::vector<Change>& changes) {
  const std::string_view id = entity.at(model::key::kId).get_string();
  auto existing = txn.get(tenant, id);
  if (!existing) return std::unexpected(existing.error());
  if (*existing) {
    return base::fail(ErrorKind::kAlreadyExists, fmt::format("entity {} already exists", id));
  }
  if (auto put = txn.put(tenant, entity); !put) return put;
  const auto points = history::written(nullptr, entity, base::now_micros());
  if (auto h = txn.append_history(tenant, id, points); !h) return h;
  changes.push_back(
      {Change::Kind::kCreated, std::string(tenant), std::string(id), nullptr, share(entity)});
  return {};
}

// Replaces an entity's content by `entity`, keeping the original createdAt.
Entity replaced(const Entity& old, Entity entity) {
  if (const auto* c = old.if_contains(model::key::kCreatedAt)) {
    entity[model::key::kCreatedAt] = *c;
  }
  return entity;
}

base::Result<void> apply_batch_item(store::Transaction& txn, std::string_view tenant,
                                    BatchKind kind, const Entity& entity,
                                    std::vector<Change>& changes) {
  const std::string_view id = entity.at(model::key::kId).get_string();
  if (kind == BatchKind::kCreate) return create_one(txn, tenant, entity, changes);
  auto existing = txn.get(tenant, id);
  if (!existing) return std::unexpected(existing.error());
  if (!*existing) {
    if (kind == BatchKind::kUpsertReplace || kind == BatchKind::kUpsertUpdate) {
      return create_one(txn, tenant, entity, changes);
    }
    return std::unexpected(not_found(id));
  }
  Entity before = std::move(**existing);
  Entity after = before;
  const base::Micros now = write_time(before);
  switch (kind) {
    case BatchKind::kUpsertReplace: after = replaced(before, entity); break;
    case BatchKind::kUpsertUpdate:
    case BatchKind::kUpdate: append_attributes(after, entity, false, now); break;
    case BatchKind::kUpdateNoOverwrite: append_attributes(after, entity, true, now); break;
    case BatchKind::kMerge: merge_entity(after, entity, now); break;
    case BatchKind::kCreate: break;
  }
  return save(txn, tenant, std::move(before), std::move(after), changes);
}

}  // namespace

struct Hub::Pending {
  std::shared_ptr<void> value;
  std::vector<Change> changes;
};

Hub::Hub(store::Store& store, ChangeSink sink) : store_(store), sink_(std::move(sink)) {}

template <class T>
void Hub::submit(std::function<base::Result<T>(store::Transaction&, std::vector<Change>&)> op,
                 Callback<T> done) {
  auto work = [op = std::move(op)](store::Transaction& txn) -> base::Result<store::WorkOutput> {
    auto pending = std::make_shared<Pending>();
    auto result = op(txn, pending->changes);
    if (!result) return std::unexpected(result.error());
    if constexpr (!std::is_void_v<T>) {
      pending->value = std::make_shared<T>(std::move(*result));
    }
    return pending;
  };
  auto finish = [this, done = std::move(done)](base::Result<store::WorkOutput> out) {
    if (!out) {
      done(std::unexpected(out.error()));
      return;
    }
    auto pending = std::static_pointer_cast<Pending>(*out);
    if (sink_ && !pending->changes.empty()) sink_(pending->changes);
    if constexpr (std::is_void_v<T>) {
      done({});
    } else {
      done(std::move(*std::static_pointer_cast<T>(pending->value)));
    }
  };
  store_.write(std::move(work), std::move(finish));
}

void Hub::create(std::string tenant, Entity entity, Callback<void> done) {
  submit<void>(
      [tenant = std::move(tenant), entity = std::move(entity)](
          store::Transaction& txn, std::vector<Change>& changes) {
        return create_one(txn, tenant, entity, changes);
      },
      std::move(done));
}

void Hub::replace(std::string tenant, std::string id, Entity entity, Callback<void> done) {
  submit<void>(
      [tenant = std::move(tenant), id = std::move(id), entity = std::move(entity)](
          store::Transaction& txn, std::vector<Change>& changes) -> base::Result<void> {
        auto before = load(txn, tenant, id);
        if (!before) return std::unexpected(before.error());
        Entity after = replaced(*before, entity);
        after[model::key::kId] = id;
        if (!after.contains(model::key::kType)) after[model::key::kType] = before->at(model::key::kType);
        after[model::key::kModifiedAt] = base::format_iso8601(write_time(*before));
        return save(txn, tenant, std::move(*before), std::move(after), changes);
      },
      std::move(done));
}

void Hub::merge(std::string tenant, std::string id, Entity fragment, Callback<void> done) {
  submit<void>(
      [tenant = std::move(tenant), id = std::move(id), fragment = std::move(fragment)](
          store::Transaction& txn, std::vector<Change>& changes) -> base::Result<void> {
        auto before = load(txn, tenant, id);
        if (!before) return std::unexpected(before.error());
        Entity after = *before;
        merge_entity(after, fragment, write_time(*before));
        return save(txn, tenant, std::move(*before), std::move(after), changes);
      },
      std::move(done));
}

void Hub::append_attrs(std::string tenant, std::string id, Entity fragment, bool no_overwrite,
                       Callback<AttrsOutcome> done) {
  submit<AttrsOutcome>(
      [tenant = std::move(tenant), id = std::move(id), fragment = std::move(fragment),
       no_overwrite](store::Transaction& txn,
                     std::vector<Change>& changes) -> base::Result<AttrsOutcome> {
        auto before = load(txn, tenant, id);
        if (!before) return std::unexpected(before.error());
        Entity after = *before;
        auto outcome = append_attributes(after, fragment, no_overwrite, write_time(*before));
        if (!outcome.updated.empty()) {
          if (auto s = save(txn, tenant, std::move(*before), std::move(after), changes); !s) {
            return std::unexpected(s.error());
          }
        }
        return outcome;
      },
      std::move(done));
}

void Hub::update_attrs(std::string tenant, std::string id, Entity fragment,
                       Callback<AttrsOutcome> done) {
  submit<AttrsOutcome>(
      [tenant = std::move(tenant), id = std::move(id), fragment = std::move(fragment)](
          store::Transaction& txn, std::vector<Change>& changes) -> base::Result<AttrsOutcome> {
        auto before = load(txn, tenant, id);
        if (!before) return std::unexpected(before.error());
        Entity after = *before;
        auto outcome = update_attributes(after, fragment, write_time(*before));
        if (!outcome.updated.empty()) {
          if (auto s = save(txn, tenant, std::move(*before), std::move(after), changes); !s) {
            return std::unexpected(s.error());
          }
        }
        return outcome;
      },
      std::move(done));
}

void Hub::patch_attr(std::string tenant, std::string id, std::string attr, json::array instances,
                     Callback<void> done) {
  submit<void>(
      [tenant = std::move(tenant), id = std::move(id), attr = std::move(attr),
       instances = std::move(instances)](store::Transaction& txn,
                                         std::vector<Change>& changes) -> base::Result<void> {
        auto before = load(txn, tenant, id);
        if (!before) return std::unexpected(before.error());
        Entity after = *before;
        if (auto p = patch_attribute(after, attr, instances, write_time(*before)); !p) return p;
        return save(txn, tenant, std::move(*before), std::move(after), changes);
      },
      std::move(done));
}

void Hub::replace_attr(std::string tenant, std::string id, std::string attr,
                       json::array instances, Callback<void> done) {
  submit<void>(
      [tenant = std::move(tenant), id = std::move(id), attr = std::move(attr),
       instances = std::move(instances)](store::Transaction& txn,
                                         std::vector<Change>& changes) -> base::Result<void> {
        auto before = load(txn, tenant, id);
        if (!before) return std::unexpected(before.error());
        if (!before->contains(attr)) {
          return base::fail(ErrorKind::kResourceNotFound,
                            fmt::format("entity {} has no attribute {}", id, attr));
        }
        Entity after = *before;
        Entity fragment;
        fragment[attr] = instances;
        auto outcome = update_attributes(after, fragment, write_time(*before));
        if (outcome.updated.empty()) {
          return base::fail(ErrorKind::kResourceNotFound,
                            fmt::format("attribute {}: {}", attr, outcome.not_updated[0].reason));
        }
        return save(txn, tenant, std::move(*before), std::move(after), changes);
      },
      std::move(done));
}

void Hub::delete_attr(std::string tenant, std::string id, std::string attr,
                      std::optional<std::string> dataset_id, bool delete_all,
                      Callback<void> done) {
  submit<void>(
      [tenant = std::move(tenant), id = std::move(id), attr = std::move(attr),
       dataset_id = std::move(dataset_id),
       delete_all](store::Transaction& txn, std::vector<Change>& changes) -> base::Result<void> {
        auto before = load(txn, tenant, id);
        if (!before) return std::unexpected(before.error());
        Entity after = *before;
        auto* slot = after.if_contains(attr);
        if (!slot || !slot->is_array()) {
          return base::fail(ErrorKind::kResourceNotFound,
                            fmt::format("entity {} has no attribute {}", id, attr));
        }
        if (!delete_all) {
          auto& held = slot->get_array();
          const auto removed = erase_instances_if(held, [&](const json::value& v) {
            const auto* d = v.get_object().if_contains(model::key::kDatasetId);
            const std::optional<std::string_view> ds =
                d && d->is_string() ? std::optional<std::string_view>(d->get_string())
                                    : std::nullopt;
            return ds == (dataset_id ? std::optional<std::string_view>(*dataset_id)
                                     : std::nullopt);
          });
          if (removed == 0) {
            return base::fail(ErrorKind::kResourceNotFound,
                              fmt::format("attribute {} has no instance with datasetId {}", attr,
                                          dataset_id.value_or("(default)")));
          }
          if (held.empty()) after.erase(attr);
        } else {
          after.erase(attr);
        }
        after[model::key::kModifiedAt] = base::format_iso8601(write_time(*before));
        return save(txn, tenant, std::move(*before), std::move(after), changes);
      },
      std::move(done));
}

void Hub::remove(std::string tenant, std::string id, Callback<void> done) {
  submit<void>(
      [tenant = std::move(tenant), id = std::move(id)](
          store::Transaction& txn, std::vector<Change>& changes) -> base::Result<void> {
        auto before = load(txn, tenant, id);
        if (!before) return std::unexpected(before.error());
        auto removed = txn.remove(tenant, id);
        if (!removed) return std::unexpected(removed.error());
        changes.push_back({Change::Kind::kDeleted, tenant, id,
                           std::make_shared<const Entity>(std::move(*before)), nullptr});
        return {};
      },
      std::move(done));
}

void Hub::batch(std::string tenant, BatchKind kind, std::vector<BatchItem> items,
                Callback<BatchOutcome> done) {
  submit<BatchOutcome>(
      [tenant = std::move(tenant), kind, items = std::move(items)](
          store::Transaction& txn, std::vector<Change>& changes) -> base::Result<BatchOutcome> {
        BatchOutcome outcome;
        for (const auto& item : items) {
          if (!item.entity) {
            outcome.errors.push_back({item.id, item.entity.error()});
            continue;
          }
          const auto changes_before = changes.size();
          auto applied = apply_batch_item(txn, tenant, kind, *item.entity, changes);
          if (applied) {
            outcome.success.push_back(item.id);
            if (changes.size() > changes_before && changes.back().kind == Change::Kind::kCreated) {
              outcome.created.push_back(item.id);
            }
          } else if (applied.error().kind == ErrorKind::kInternalError) {
            return std::unexpected(applied.error());  // the store failed: abort the batch
          } else {
            outcome.errors.push_back({item.id, applied.error()});
          }
        }
        return outcome;
      },
      std::move(done));
}

void Hub::batch_delete(std::string tenant, std::vector<std::string> ids,
                       Callback<BatchOutcome> done) {
  submit<BatchOutcome>(
      [tenant = std::move(tenant), ids = std::move(ids)](
          store::Transaction& txn, std::vector<Change>& changes) -> base::Result<BatchOutcome> {
        BatchOutcome outcome;
        for (const auto& id : ids) {
          auto before = txn.get(tenant, id);
          if (!before) return std::unexpected(before.error());
          if (!*before) {
            outcome.errors.push_back({id, not_found(id)});
            continue;
          }
          auto removed = txn.remove(tenant, id);
          if (!removed) return std::unexpected(removed.error());
          changes.push_back({Change::Kind::kDeleted, tenant, id,
                             std::make_shared<const Entity>(std::move(**before)), nullptr});
          outcome.success.push_back(id);
        }
        return outcome;
      },
      std::move(done));
}

void Hub::purge(std::string tenant, store::EntityQuery query, Callback<std::size_t> done) {
  submit<std::size_t>(
      [tenant = std::move(tenant), query = std::move(query)](
          store::Transaction& txn, std::vector<Change>& changes) -> base::Result<std::size_t> {
        auto ids = txn.ids_matching(tenant, query);
        if (!ids) return std::unexpected(ids.error());
        for (const auto& id : *ids) {
          auto before = txn.get(tenant, id);
          if (!before) return std::unexpected(before.error());
          if (!*before) continue;
          auto removed = txn.remove(tenant, id);
          if (!removed) return std::unexpected(removed.error());
          changes.push_back({Change::Kind::kDeleted, tenant, id,
                             std::make_shared<const Entity>(std::move(**before)), nullptr});
        }
        return ids->size();
      },
      std::move(done));
}

base::Result<std::optional<Entity>> Hub::get(std::string_view tenant, std::string_view id) {
  return store_.get(tenant, id);
}

base::Result<store::QueryResult> Hub::query(std::string_view tenant, const store::EntityQuery& q) {
  return store_.query(tenant, q);
}

base::Result<bool> Hub::tenant_exists(std::string_view tenant) {
  return store_.tenant_exists(tenant);
}

base::Result<std::vector<store::HistorySeries>> Hub::history(std::string_view tenant,
                                                             const store::HistoryQuery& q) {
  return store_.history(tenant, q);
}

void Hub::remove_history(std::string tenant, std::string id, Callback<std::size_t> done) {
  submit<std::size_t>(
      [tenant = std::move(tenant), id = std::move(id)](
          store::Transaction& txn, std::vector<Change>&) -> base::Result<std::size_t> {
        return txn.remove_history(tenant, id);
      },
      std::move(done));
}


// ---- temporal writes ---------------------------------------------------------------------

namespace {

bool has_history(store::Store& store, std::string_view tenant, std::string_view id) {
  store::HistoryQuery any;
  any.entity_id = id;
  any.last_n = 1;
  any.values_only = true;
  auto some = store.history(tenant, any);
  return some && !some->empty();
}

bool has_all_types(const Entity& e, const std::vector<std::string>& types) {
  const auto held = model::entity_types(e);
  return std::all_of(types.begin(), types.end(), [&](const std::string& t) {
    return std::find(held.begin(), held.end(), t) != held.end();
  });
}

}  // namespace

void Hub::append_temporal(std::string tenant, std::vector<TemporalWrite> writes, bool must_exist,
                          Callback<TemporalOutcome> done) {
  submit<TemporalOutcome>(
      [tenant = std::move(tenant), writes = std::move(writes), must_exist, &store = store_](
          store::Transaction& txn, std::vector<Change>& changes) -> base::Result<TemporalOutcome> {
        TemporalOutcome outcome;
        const base::Micros now = base::now_micros();
        for (const auto& w : writes) {
          auto existing = txn.get(tenant, w.id);
          if (!existing) return std::unexpected(existing.error());
          // The history read sees the last commit: an entity created earlier in this same
          // group commit counts as new twice (201 twice), which is harmless.
          const bool known = *existing || has_history(store, tenant, w.id);
          if (!known) {
            if (must_exist) {
              return base::fail(ErrorKind::kResourceNotFound,
                                fmt::format("entity {} has no temporal representation", w.id));
            }
            ++outcome.created;
          }
          if (*existing && !w.types.empty() && !has_all_types(**existing, w.types)) {
            return base::fail(ErrorKind::kBadRequestData,
                              fmt::format("entity {} exists with another type; a temporal write "
                                          "does not change an entity's type",
                                          w.id));
          }
          if (auto h = txn.append_history(tenant, w.id, w.points); !h) {
            return std::unexpected(h.error());
          }
          outcome.points += w.points.size();
          if (*existing) {
            Entity after = **existing;
            if (!advance_current(after, w.points, now)) continue;
            if (auto put = txn.put(tenant, after); !put) return std::unexpected(put.error());
            changes.push_back({Change::Kind::kUpdated, tenant, w.id,
                               std::make_shared<const Entity>(std::move(**existing)),
                               std::make_shared<const Entity>(std::move(after))});
            ++outcome.advanced;
          } else if (!w.types.empty()) {
            Entity created;
            created[model::key::kId] = w.id;
            json::array types;
            for (const auto& t : w.types) types.emplace_back(t);
            created[model::key::kType] = std::move(types);
            created[model::key::kCreatedAt] = base::format_iso8601(now);
            advance_current(created, w.points, now);
            if (auto put = txn.put(tenant, created); !put) return std::unexpected(put.error());
            changes.push_back({Change::Kind::kCreated, tenant, w.id, nullptr, share(created)});
            ++outcome.advanced;
          }
        }
        return outcome;
      },
      std::move(done));
}

void Hub::remove_history_attribute(std::string tenant, std::string id, std::string attr,
                                   std::optional<std::string> dataset_id,
                                   Callback<std::size_t> done) {
  submit<std::size_t>(
      [tenant = std::move(tenant), id = std::move(id), attr = std::move(attr),
       dataset_id = std::move(dataset_id)](store::Transaction& txn,
                                           std::vector<Change>&) -> base::Result<std::size_t> {
        return txn.remove_history_attribute(tenant, id, attr, dataset_id);
      },
      std::move(done));
}

void Hub::patch_history_instance(std::string tenant, std::string id, std::string attr,
                                 std::int64_t instance, json::object fragment,
                                 Callback<void> done) {
  submit<void>(
      [tenant = std::move(tenant), id = std::move(id), attr = std::move(attr), instance,
       fragment = std::move(fragment)](store::Transaction& txn,
                                       std::vector<Change>&) -> base::Result<void> {
        auto row = txn.history_instance(tenant, id, attr, instance);
        if (!row) return std::unexpected(row.error());
        if (!*row) {
          return base::fail(ErrorKind::kResourceNotFound,
                            fmt::format("attribute {} of entity {} has no instance {}", attr, id,
                                        instance));
        }
        store::HistoryPoint p;
        p.attribute = attr;
        p.instance = patched_instance((*row)->instance_doc, fragment);
        p.modified = instance;
        p.time = (*row)->time;
        p.observed = false;
        if (const auto* o = p.instance.if_contains(model::key::kObservedAt); o && o->is_string()) {
          if (auto t = base::parse_iso8601(o->get_string())) {
            p.time = *t;
            p.observed = true;
          }
        }
        auto replaced = txn.replace_history_instance(tenant, id, instance, p);
        if (!replaced) return std::unexpected(replaced.error());
        return {};
      },
      std::move(done));
}

void Hub::remove_history_instance(std::string tenant, std::string id, std::string attr,
                                  std::int64_t instance, Callback<bool> done) {
  submit<bool>(
      [tenant = std::move(tenant), id = std::move(id), attr = std::move(attr), instance](
          store::Transaction& txn, std::vector<Change>&) -> base::Result<bool> {
        return txn.remove_history_instance(tenant, id, attr, instance);
      },
      std::move(done));
}

}  // namespace cityroom::hub
