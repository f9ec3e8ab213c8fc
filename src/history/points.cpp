#include "history/history.h"

namespace cityroom::history {
namespace {

std::optional<base::Micros> time_member(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  if (!v || !v->is_string()) return std::nullopt;
  return base::parse_iso8601(v->get_string());
}

const json::value* dataset_of(const json::object& instance) {
  return instance.if_contains(model::key::kDatasetId);
}

bool same_dataset(const json::object& a, const json::object& b) {
  const auto* da = dataset_of(a);
  const auto* db = dataset_of(b);
  if (!da || !db) return !da && !db;
  return *da == *db;
}

// The instance of `before[attribute]` with the same datasetId as `instance`, if any.
const json::object* counterpart(const model::Entity* before, std::string_view attribute,
                                const json::object& instance) {
  if (!before) return nullptr;
  const auto* held = before->if_contains(attribute);
  if (!held || !held->is_array()) return nullptr;
  for (const auto& h : held->get_array()) {
    if (h.is_object() && same_dataset(h.get_object(), instance)) return &h.get_object();
  }
  return nullptr;
}

}  // namespace

std::vector<store::HistoryPoint> written(const model::Entity* before, const model::Entity& after,
                                         base::Micros now) {
  std::vector<store::HistoryPoint> out;
  const base::Micros entity_modified =
      time_member(after, model::key::kModifiedAt).value_or(now);
  for (const auto& m : after) {
    if (model::is_reserved_member(m.key()) || !m.value().is_array()) continue;
    for (const auto& v : m.value().get_array()) {
      if (!v.is_object()) continue;
      const json::object& instance = v.get_object();
      const json::object* old = counterpart(before, m.key(), instance);
      if (old && *old == instance) continue;  // untouched by this write
      store::HistoryPoint p;
      p.attribute = m.key();
      p.modified = time_member(instance, model::key::kModifiedAt).value_or(entity_modified);
      const auto observed = time_member(instance, model::key::kObservedAt);
      p.observed = observed.has_value();
      p.time = observed.value_or(p.modified);
      p.instance = instance;
      out.push_back(std::move(p));
    }
  }
  return out;
}

}  // namespace cityroom::history
