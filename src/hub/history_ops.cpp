// What a temporal write does to the current entity, and how a stored history instance is
// patched. Pure functions over model's internal form (no I/O, no clock): the hub's temporal
// operations (hub.cpp) call them on the writer thread.
#include <map>

#include "hub/hub.h"

namespace cityroom::hub {
namespace {

std::optional<std::string> dataset_of(const json::object& instance) {
  if (const auto* d = instance.if_contains(model::key::kDatasetId); d && d->is_string()) {
    return std::string(d->get_string());
  }
  return std::nullopt;
}

// The time an instance of the current entity stands for: observedAt, else modifiedAt.
std::optional<base::Micros> current_time(const json::object& instance) {
  for (auto key : {model::key::kObservedAt, model::key::kModifiedAt}) {
    if (const auto* t = instance.if_contains(key); t && t->is_string()) {
      if (auto parsed = base::parse_iso8601(t->get_string())) return parsed;
    }
  }
  return std::nullopt;
}

}  // namespace

bool advance_current(model::Entity& current, std::span<const store::HistoryPoint> points,
                     base::Micros now) {
  // The newest point per (attribute, datasetId); on equal times the later in the write wins.
  std::map<std::pair<std::string_view, std::optional<std::string>>, const store::HistoryPoint*>
      newest;
  for (const auto& p : points) {
    auto& slot = newest[{p.attribute, dataset_of(p.instance)}];
    if (!slot || p.time >= slot->time) slot = &p;
  }
  bool changed = false;
  const std::string stamp = base::format_iso8601(now);
  for (const auto& [key, p] : newest) {
    json::value& held = current[key.first];
    if (!held.is_array()) held = json::array();
    auto& instances = held.get_array();
    json::object* old = nullptr;
    for (auto& v : instances) {
      if (v.is_object() && dataset_of(v.get_object()) == key.second) old = &v.get_object();
    }
    if (old) {
      const auto old_time = current_time(*old);
      if (old_time && *old_time >= p->time) continue;  // the entity already knows better
    }
    json::object instance = p->instance;
    instance[model::key::kCreatedAt] =
        old && old->contains(model::key::kCreatedAt) ? old->at(model::key::kCreatedAt)
                                                     : json::value(stamp);
    instance[model::key::kModifiedAt] = stamp;
    if (old) {
      *old = std::move(instance);
    } else {
      instances.emplace_back(std::move(instance));
    }
    changed = true;
  }
  if (changed) current[model::key::kModifiedAt] = stamp;
  return changed;
}

json::object patched_instance(const json::object& stored, const json::object& fragment) {
  const auto* old_type = stored.if_contains(model::key::kType);
  const auto* new_type = fragment.if_contains(model::key::kType);
  json::object out = old_type && new_type && *old_type != *new_type ? json::object() : stored;
  for (const auto& m : fragment) out[m.key()] = m.value();
  out.erase(model::key::kCreatedAt);
  out.erase(model::key::kModifiedAt);
  return out;
}

}  // namespace cityroom::hub
