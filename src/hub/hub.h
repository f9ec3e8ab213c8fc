// hub: the one place where entities change.
//
// Every write — from the NGSI-LD API, and later from MQTT, connectors and the simulator — is a
// hub operation: the payload has already been parsed into model's internal form; the hub reads
// the stored entity on the store's writer thread, applies the NGSI-LD semantics of the
// operation (create, replace, merge-patch, append, update, partial attribute update, delete,
// batch), writes it back in the same transaction, and reports the result through a callback
// that runs after the commit. So an acknowledged write is durable, and operations on one entity
// never interleave. After each commit the change sink (the seam for live streams and
// subscriptions) receives the changes.
//
// Reads go straight to the store and never wait for the writer.
// Thread-safety: every member may be called from any thread.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/base.h"
#include "json/json.h"
#include "model/model.h"
#include "store/store.h"

namespace cityroom::hub {

inline constexpr std::size_t kBatchEntitiesMax = 10'000;  // entities in one batch request
inline constexpr std::string_view kNullUri = "urn:ngsi-ld:null";  // merge-patch deletion

// One committed change, handed to the change sink in commit order.
struct Change {
  enum class Kind { kCreated, kUpdated, kDeleted };
  Kind kind;
  std::string tenant;
  std::string id;
  std::shared_ptr<const model::Entity> before;  // null when created
  std::shared_ptr<const model::Entity> after;   // null when deleted
};
using ChangeSink = std::function<void(const std::vector<Change>&)>;

// The outcome of an attribute-level update: attributes that were not changed and why.
struct NotUpdated {
  std::string attribute;  // expanded IRI
  std::string reason;
};
struct AttrsOutcome {
  std::vector<std::string> updated;  // expanded IRIs
  std::vector<NotUpdated> not_updated;
};

// Per-entity outcome of a batch operation.
struct BatchOutcome {
  std::vector<std::string> success;  // ids
  std::vector<std::string> created;  // ids of success that did not exist before
  struct Failure {
    std::string id;  // may be empty when the entity had no usable id
    base::Error error;
  };
  std::vector<Failure> errors;
};

// A batch item: a parsed entity, or the error its parsing produced (reported per entity).
struct BatchItem {
  std::string id;  // as given, for error reports
  base::Result<model::Entity> entity;
};

// Instances to append to one entity's history (temporal create/append, CSV import). Each
// point's `instance` is in the internal form; `time` is its observedAt or the write time.
struct TemporalWrite {
  std::string id;
  std::vector<std::string> types;  // expanded; non-empty: create the entity when absent
  std::vector<store::HistoryPoint> points;
};
struct TemporalOutcome {
  std::size_t created = 0;   // entities whose temporal representation is new (no entity, no history)
  std::size_t points = 0;    // instances appended
  std::size_t advanced = 0;  // current entities created or changed by newer instances
};

enum class BatchKind { kCreate, kUpsertReplace, kUpsertUpdate, kUpdate, kUpdateNoOverwrite,
                       kMerge };

template <class T>
using Callback = std::function<void(base::Result<T>)>;

class Hub {
 public:
  Hub(store::Store& store, ChangeSink sink = {});

  // POST /entities. AlreadyExists when the id is taken.
  void create(std::string tenant, model::Entity entity, Callback<void> done);
  // PUT /entities/{id}: replaces all attributes (and types), keeps createdAt.
  void replace(std::string tenant, std::string id, model::Entity entity, Callback<void> done);
  // PATCH /entities/{id} (merge-patch): adds/merges attributes, `urn:ngsi-ld:null` deletes.
  void merge(std::string tenant, std::string id, model::Entity fragment, Callback<void> done);
  // POST /entities/{id}/attrs: adds or replaces attributes (noOverwrite keeps existing ones).
  void append_attrs(std::string tenant, std::string id, model::Entity fragment,
                    bool no_overwrite, Callback<AttrsOutcome> done);
  // PATCH /entities/{id}/attrs: replaces only attributes that exist.
  void update_attrs(std::string tenant, std::string id, model::Entity fragment,
                    Callback<AttrsOutcome> done);
  // PATCH /entities/{id}/attrs/{attr}: merges into the existing attribute instance.
  void patch_attr(std::string tenant, std::string id, std::string attr, json::array instances,
                  Callback<void> done);
  // PUT /entities/{id}/attrs/{attr}: replaces the existing attribute instance.
  void replace_attr(std::string tenant, std::string id, std::string attr, json::array instances,
                    Callback<void> done);
  // DELETE /entities/{id}/attrs/{attr}[?datasetId=..|deleteAll=true]
  void delete_attr(std::string tenant, std::string id, std::string attr,
                   std::optional<std::string> dataset_id, bool delete_all, Callback<void> done);
  // DELETE /entities/{id}
  void remove(std::string tenant, std::string id, Callback<void> done);
  // POST /entityOperations/{create|upsert|update|merge}
  void batch(std::string tenant, BatchKind kind, std::vector<BatchItem> items,
             Callback<BatchOutcome> done);
  // POST /entityOperations/delete
  void batch_delete(std::string tenant, std::vector<std::string> ids,
                    Callback<BatchOutcome> done);
  // DELETE /entities?type=...&q=... : deletes every match; answers how many.
  void purge(std::string tenant, store::EntityQuery query, Callback<std::size_t> done);

  base::Result<std::optional<model::Entity>> get(std::string_view tenant, std::string_view id);
  base::Result<store::QueryResult> query(std::string_view tenant, const store::EntityQuery& q);
  base::Result<bool> tenant_exists(std::string_view tenant);

  // History (every attribute instance written is kept with the change, see history.h): reads
  // one entity's, and drops it all (temporal DELETE; deleting the entity keeps it). Done gets
  // the number of points removed; 0 means there was none.
  base::Result<std::vector<store::HistorySeries>> history(std::string_view tenant,
                                                          const store::HistoryQuery& q);
  void remove_history(std::string tenant, std::string id, Callback<std::size_t> done);

  // ---- temporal writes (NGSI-LD temporal API, CSV import; see history_ops.cpp) ----------
  // Appends attribute instances to the history of entities, in one transaction. History is the
  // past: the CURRENT entity is only advanced by an instance newer than the one it holds for
  // that attribute and datasetId (or one it lacks); an entity that does not exist is created
  // from the newest instances only when `write.types` is given (temporal create), else it
  // stays absent. Changed entities go to the change feed like any write. With `must_exist`,
  // an entity with neither a current state nor history is ResourceNotFound. An existing
  // entity that lacks one of `write.types` is BadRequestData (a temporal write never retypes).
  void append_temporal(std::string tenant, std::vector<TemporalWrite> writes, bool must_exist,
                       Callback<TemporalOutcome> done);
  // DELETE /temporal/entities/{id}/attrs/{attr}: one dataset ("" = the default instance) or
  // every one (nullopt). Done gets how many instances were removed (0: none matched).
  void remove_history_attribute(std::string tenant, std::string id, std::string attr,
                                std::optional<std::string> dataset_id,
                                Callback<std::size_t> done);
  // PATCH /temporal/entities/{id}/attrs/{attr}/{instance}: merges `fragment` (one instance in
  // the internal form; members given replace those held, observedAt may move it in time) into
  // the stored instance, which keeps its instanceId. ResourceNotFound when there is none.
  void patch_history_instance(std::string tenant, std::string id, std::string attr,
                              std::int64_t instance, json::object fragment, Callback<void> done);
  // DELETE /temporal/entities/{id}/attrs/{attr}/{instance}: false when there was none.
  void remove_history_instance(std::string tenant, std::string id, std::string attr,
                               std::int64_t instance, Callback<bool> done);
  store::Store& store() { return store_; }

 private:
  struct Pending;
  template <class T>
  void submit(std::function<base::Result<T>(store::Transaction&, std::vector<Change>&)> op,
              Callback<T> done);

  store::Store& store_;
  ChangeSink sink_;
};

// Removes the instances for which `pred` holds; returns how many.
template <class Pred>
std::size_t erase_instances_if(json::array& instances, Pred pred) {
  const auto before = instances.size();
  instances.erase(std::remove_if(instances.begin(), instances.end(), pred), instances.end());
  return before - instances.size();
}

// The current state a temporal write leaves: `current` (null: none) advanced by the newest of
// `points` per attribute and datasetId when newer than what it holds (its observedAt, else its
// modifiedAt) or absent. Returns whether anything changed. Instances get createdAt/modifiedAt
// = `now` (createdAt kept from the instance replaced).
bool advance_current(model::Entity& current, std::span<const store::HistoryPoint> points,
                     base::Micros now);
// A stored instance patched by `fragment` (both internal form): members of the fragment
// replace those held; createdAt/modifiedAt are dropped (the store keeps the write time).
json::object patched_instance(const json::object& stored, const json::object& fragment);

// ---- the NGSI-LD update semantics as pure functions (unit-tested on their own) ----------

// Appends attributes of `fragment` to `target` (POST .../attrs, batch update/upsert-update).
AttrsOutcome append_attributes(model::Entity& target, const model::Entity& fragment,
                               bool no_overwrite, base::Micros now);
// Replaces only attributes that exist in `target` (PATCH .../attrs).
AttrsOutcome update_attributes(model::Entity& target, const model::Entity& fragment,
                               base::Micros now);
// Merge-patch (PATCH /entities/{id}, batch merge).
void merge_entity(model::Entity& target, const model::Entity& fragment, base::Micros now);
// Partial update of one attribute (PATCH .../attrs/{attr}); ResourceNotFound when absent.
base::Result<void> patch_attribute(model::Entity& target, std::string_view attr,
                                   const json::array& instances, base::Micros now);

}  // namespace cityroom::hub
