// The NGSI-LD update semantics over model's internal form. Pure functions: no I/O, no clock.
#include <algorithm>

#include "hub/hub.h"

namespace cityroom::hub {
namespace {

using model::Entity;

std::optional<std::string_view> dataset_of(const json::object& instance) {
  if (const auto* d = instance.if_contains(model::key::kDatasetId); d && d->is_string()) {
    return std::string_view(d->get_string());
  }
  return std::nullopt;
}

json::object* find_instance(json::array& instances, std::optional<std::string_view> dataset) {
  for (auto& v : instances) {
    if (v.is_object() && dataset_of(v.get_object()) == dataset) return &v.get_object();
  }
  return nullptr;
}

bool is_null_string(const json::value* v) {
  return v && v->is_string() && v->get_string() == kNullUri;
}

// Is this instance a merge-patch deletion marker (its value is urn:ngsi-ld:null)?
bool is_null_instance(const json::object& instance) {
  for (auto member : {model::key::kValue, model::key::kObject, model::key::kVocab,
                      model::key::kJson}) {
    if (is_null_string(instance.if_contains(member))) return true;
  }
  if (const auto* map = instance.if_contains(model::key::kLanguageMap); map && map->is_object()) {
    return is_null_string(map->get_object().if_contains("@none"));
  }
  if (const auto* list = instance.if_contains(model::key::kValueList); list && list->is_array()) {
    return list->get_array().size() == 1 && is_null_string(&list->get_array()[0]);
  }
  return false;
}

void keep_created_at(json::object& replacement, const json::object& old) {
  if (const auto* c = old.if_contains(model::key::kCreatedAt)) {
    replacement[model::key::kCreatedAt] = *c;
  }
}

void stamp(json::object& instance, base::Micros now) {
  instance[model::key::kModifiedAt] = base::format_iso8601(now);
}

// Merges `patch` into `old` (one attribute instance): members given replace members held,
// sub-attributes whose value is urn:ngsi-ld:null are removed, the rest is kept.
void merge_instance(json::object& old, const json::object& patch, base::Micros now) {
  const auto* old_type = old.if_contains(model::key::kType);
  const auto* new_type = patch.if_contains(model::key::kType);
  if (old_type && new_type && *old_type != *new_type) {
    json::object replacement = patch;
    keep_created_at(replacement, old);
    old = std::move(replacement);
    stamp(old, now);
    return;
  }
  for (const auto& member : patch) {
    const std::string_view name = member.key();
    if (name == model::key::kCreatedAt) continue;
    if (!model::is_reserved_member(name) && member.value().is_object() &&
        is_null_instance(member.value().get_object())) {
      old.erase(name);
      continue;
    }
    old[name] = member.value();
  }
  stamp(old, now);
}

void merge_types(Entity& target, const Entity& fragment) {
  const auto* add = fragment.if_contains(model::key::kType);
  if (!add || !add->is_array()) return;
  auto& types = target[model::key::kType];
  if (!types.is_array()) types = json::array();
  auto& list = types.get_array();
  for (const auto& t : add->get_array()) {
    if (std::find(list.begin(), list.end(), t) == list.end()) list.push_back(t);
  }
}

template <class Visit>
void for_each_attribute(const Entity& fragment, Visit visit) {
  for (const auto& member : fragment) {
    if (model::is_reserved_member(member.key()) || !member.value().is_array()) continue;
    visit(member.key(), member.value().get_array());
  }
}

}  // namespace

AttrsOutcome append_attributes(Entity& target, const Entity& fragment, bool no_overwrite,
                               base::Micros now) {
  AttrsOutcome outcome;
  merge_types(target, fragment);
  if (const auto* scope = fragment.if_contains(model::key::kScope)) {
    target[model::key::kScope] = *scope;
  }
  for_each_attribute(fragment, [&](std::string_view name, const json::array& instances) {
    auto& slot = target[name];
    if (!slot.is_array()) slot = json::array();
    auto& held = slot.get_array();
    bool changed = false;
    for (const auto& v : instances) {
      const auto& instance = v.get_object();
      if (auto* old = find_instance(held, dataset_of(instance))) {
        if (no_overwrite) continue;
        json::object replacement = instance;
        keep_created_at(replacement, *old);
        *old = std::move(replacement);
      } else {
        held.push_back(instance);
      }
      changed = true;
    }
    if (changed) {
      outcome.updated.emplace_back(name);
    } else {
      outcome.not_updated.push_back({std::string(name), "attribute exists and noOverwrite"});
    }
  });
  target[model::key::kModifiedAt] = base::format_iso8601(now);
  return outcome;
}

AttrsOutcome update_attributes(Entity& target, const Entity& fragment, base::Micros now) {
  AttrsOutcome outcome;
  for_each_attribute(fragment, [&](std::string_view name, const json::array& instances) {
    auto* slot = target.if_contains(name);
    if (!slot || !slot->is_array()) {
      outcome.not_updated.push_back({std::string(name), "attribute does not exist"});
      return;
    }
    bool changed = false;
    for (const auto& v : instances) {
      const auto& instance = v.get_object();
      if (auto* old = find_instance(slot->get_array(), dataset_of(instance))) {
        json::object replacement = instance;
        keep_created_at(replacement, *old);
        *old = std::move(replacement);
        changed = true;
      }
    }
    if (changed) {
      outcome.updated.emplace_back(name);
    } else {
      outcome.not_updated.push_back({std::string(name), "no instance with that datasetId"});
    }
  });
  if (!outcome.updated.empty()) target[model::key::kModifiedAt] = base::format_iso8601(now);
  return outcome;
}

void merge_entity(Entity& target, const Entity& fragment, base::Micros now) {
  merge_types(target, fragment);
  if (const auto* scope = fragment.if_contains(model::key::kScope)) {
    target[model::key::kScope] = *scope;
  }
  for_each_attribute(fragment, [&](std::string_view name, const json::array& instances) {
    for (const auto& v : instances) {
      const auto& instance = v.get_object();
      const auto dataset = dataset_of(instance);
      auto* slot = target.if_contains(name);
      if (is_null_instance(instance)) {
        if (!slot || !slot->is_array()) continue;
        auto& held = slot->get_array();
        erase_instances_if(held, [&](const json::value& h) {
          return h.is_object() && dataset_of(h.get_object()) == dataset;
        });
        if (held.empty()) target.erase(name);
        continue;
      }
      if (!slot || !slot->is_array()) {
        target[name] = json::array{instance};
        continue;
      }
      if (auto* old = find_instance(slot->get_array(), dataset)) {
        merge_instance(*old, instance, now);
      } else {
        slot->get_array().push_back(instance);
      }
    }
  });
  target[model::key::kModifiedAt] = base::format_iso8601(now);
}

base::Result<void> patch_attribute(Entity& target, std::string_view attr,
                                   const json::array& instances, base::Micros now) {
  auto* slot = target.if_contains(attr);
  if (!slot || !slot->is_array()) {
    return base::fail(base::ErrorKind::kResourceNotFound,
                      "the entity has no attribute " + std::string(attr));
  }
  for (const auto& v : instances) {
    const auto& instance = v.get_object();
    auto* old = find_instance(slot->get_array(), dataset_of(instance));
    if (!old) {
      return base::fail(base::ErrorKind::kResourceNotFound,
                        "the attribute " + std::string(attr) + " has no instance with datasetId " +
                            std::string(dataset_of(instance).value_or("(default)")));
    }
    merge_instance(*old, instance, now);
  }
  target[model::key::kModifiedAt] = base::format_iso8601(now);
  return {};
}

}  // namespace cityroom::hub
