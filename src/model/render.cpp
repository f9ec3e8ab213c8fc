// Rendering the internal form as NGSI-LD normalized, concise or keyValues JSON.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "model/internal.h"
#include "model/model.h"

namespace cityroom::model {
namespace {

constexpr std::string_view kLangMember = "lang";
constexpr std::string_view kNoLanguage = "@none";
constexpr std::size_t kLanguageRangesMax = 32;  // entries of lang= honoured

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// BCP 47 basic filtering: range "ko" matches "ko" and "ko-KR" (case-insensitive).
bool language_matches(std::string_view range, std::string_view tag) {
  if (iequals(range, tag)) return true;
  return tag.size() > range.size() && tag[range.size()] == '-' &&
         iequals(tag.substr(0, range.size()), range);
}

// lang= as a preference list: "ko", "ko,en", "en;q=0.5,ko" (highest q first, stable).
std::vector<std::string_view> language_ranges(std::string_view spec) {
  std::vector<std::pair<double, std::string_view>> weighted;
  while (!spec.empty() && weighted.size() < kLanguageRangesMax) {
    const auto comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    double q = 1.0;
    if (const auto semi = item.find(';'); semi != std::string_view::npos) {
      const std::string_view param = item.substr(semi + 1);
      if (param.starts_with("q=")) q = std::strtod(std::string(param.substr(2)).c_str(), nullptr);
      item = item.substr(0, semi);
    }
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) weighted.emplace_back(q, item);
  }
  std::stable_sort(weighted.begin(), weighted.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string_view> out;
  for (const auto& [q, range] : weighted) out.push_back(range);
  return out;
}

// The entry of a languageMap that best answers lang=: the first range with an exact or prefix
// match ("*" takes the first entry), else "@none", else the first entry.
const boost::json::key_value_pair* pick_language(const json::object& map, std::string_view spec) {
  if (map.empty()) return nullptr;
  for (std::string_view range : language_ranges(spec)) {
    if (range == "*") return &*map.begin();
    for (const auto& kv : map) {
      if (iequals(kv.key(), range)) return &kv;
    }
    for (const auto& kv : map) {
      if (language_matches(range, kv.key())) return &kv;
    }
  }
  if (auto it = map.find(kNoLanguage); it != map.end()) return &*it;
  return &*map.begin();
}

bool selected(const json::object& instance, const RenderOptions& options) {
  if (!options.dataset_ids) return true;
  const json::value* id = instance.if_contains(key::kDatasetId);
  if (!id) return options.dataset_ids->contains(kNoLanguage);  // "@none": the default instance
  return id->is_string() && options.dataset_ids->contains(std::string_view(id->get_string()));
}

// A Property value that a concise reader would not read back as this Property's plain value.
bool needs_value_wrapper(const json::value& v) {
  if (const json::object* o = v.if_object()) return internal::looks_like_attribute(*o);
  if (const json::array* a = v.if_array()) {
    return !a->empty() && std::all_of(a->begin(), a->end(), [](const json::value& e) {
      return e.is_object() && internal::looks_like_attribute(e.get_object());
    });
  }
  return false;
}

class Renderer {
 public:
  Renderer(const ldcontext::Context& ctx, const RenderOptions& options)
      : ctx_(ctx), options_(options) {}

  // The rendered attribute, or null when no instance is selected.
  json::value attribute(const json::array& instances) const {
    std::vector<const json::object*> chosen;
    for (const json::value& inst : instances) {
      if (inst.is_object() && selected(inst.get_object(), options_)) {
        chosen.push_back(&inst.get_object());
      }
    }
    if (chosen.empty()) return nullptr;
    if (options_.format == Format::kKeyValues) return key_value(default_instance(chosen));
    if (chosen.size() == 1) return instance(*chosen.front(), false);
    json::array out;
    for (const json::object* inst : chosen) out.push_back(instance(*inst, true));
    return out;
  }

  json::value instance(const json::object& inst, bool in_array) const {
    return options_.format == Format::kConcise ? concise(inst, in_array) : normalized(inst);
  }

 private:
  static const json::object& default_instance(const std::vector<const json::object*>& chosen) {
    for (const json::object* inst : chosen) {
      if (!inst->contains(key::kDatasetId)) return *inst;
    }
    return *chosen.front();
  }

  std::string_view type_of(const json::object& inst) const {
    const auto type = json::get_string(inst, key::kType);
    return type ? *type : std::string_view("Property");
  }

  bool picks_language(std::string_view type) const {
    return type == "LanguageProperty" && options_.lang && *options_.lang != "*";
  }

  json::value vocab_compacted(const json::value& v) const {
    if (v.is_string()) return json::value(ctx_.compact(v.get_string()));
    json::array out;
    if (const json::array* a = v.if_array()) {
      for (const json::value& t : *a) {
        out.push_back(t.is_string() ? json::value(ctx_.compact(t.get_string())) : t);
      }
    }
    return out;
  }

  // Writes the value member (or, for a LanguageProperty under lang=, "value" and "lang").
  void value_members(const json::object& inst, std::string_view type, json::object& out) const {
    const std::string_view member = value_member(type);
    const json::value* v = inst.if_contains(member);
    if (!v) return;
    if (picks_language(type) && v->is_object()) {
      if (const auto* kv = pick_language(v->get_object(), *options_.lang)) {
        out[key::kValue] = kv->value();
        out[kLangMember] = kv->key();
      }
      return;
    }
    out[member] = type == "VocabProperty" ? vocab_compacted(*v) : *v;
  }

  // observedAt, unitCode, datasetId, system attributes and sub-attributes.
  void other_members(const json::object& inst, json::object& out) const {
    for (const auto& m : inst) {
      const std::string_view name = m.key();
      if (name == key::kType || name == value_member(type_of(inst))) continue;
      if (name == key::kCreatedAt || name == key::kModifiedAt) {
        if (options_.sys_attrs) out[name] = m.value();
        continue;
      }
      if (is_reserved_member(name)) {
        out[name] = m.value();
        continue;
      }
      if (m.value().is_object()) out[ctx_.compact(name)] = instance(m.value().get_object(), false);
    }
  }

  json::value normalized(const json::object& inst) const {
    const std::string_view type = type_of(inst);
    json::object out;
    out[key::kType] = picks_language(type) ? std::string_view("Property") : type;
    value_members(inst, type, out);
    other_members(inst, out);
    return out;
  }

  json::value concise(const json::object& inst, bool in_array) const {
    const std::string_view type = type_of(inst);
    json::object out;
    value_members(inst, type, out);
    other_members(inst, out);
    const bool bare_ok = !in_array && out.size() == 1 && out.contains(key::kValue);
    if (type == "GeoProperty" && bare_ok) return out[key::kValue];
    if (type == "Property" && !picks_language(type)) {
      const json::value* v = out.if_contains(key::kValue);
      // A geometry held by a plain Property would be read back as a GeoProperty: keep "type".
      if (v && v->is_object() && internal::looks_like_geometry(v->get_object())) {
        out[key::kType] = "Property";
        return out;
      }
      if (bare_ok && !needs_value_wrapper(*v)) return *v;
    }
    return out;
  }

  json::value key_value(const json::object& inst) const {
    const std::string_view type = type_of(inst);
    const json::value* v = inst.if_contains(value_member(type));
    if (!v) return nullptr;
    if (type == "LanguageProperty" && picks_language(type) && v->is_object()) {
      const auto* kv = pick_language(v->get_object(), *options_.lang);
      return kv ? kv->value() : json::value(nullptr);
    }
    if (type == "VocabProperty") return vocab_compacted(*v);
    if (type == "ListRelationship" && v->is_array()) {
      json::array uris;
      for (const json::value& item : v->get_array()) {
        const json::value* uri = item.is_object() ? item.get_object().if_contains(key::kObject)
                                                  : &item;
        if (uri) uris.push_back(*uri);
      }
      return uris;
    }
    return *v;
  }

  const ldcontext::Context& ctx_;
  const RenderOptions& options_;
};

json::value render_types(const json::value& types, const ldcontext::Context& ctx) {
  const json::array* a = types.if_array();
  if (!a) return types.is_string() ? json::value(ctx.compact(types.get_string())) : types;
  if (a->size() == 1 && a->front().is_string()) return json::value(ctx.compact(a->front().get_string()));
  json::array out;
  for (const json::value& t : *a) {
    out.push_back(t.is_string() ? json::value(ctx.compact(t.get_string())) : t);
  }
  return out;
}

bool attribute_wanted(std::string_view iri, const RenderOptions& options) {
  if (options.attrs && !options.attrs->contains(iri)) return false;
  return !options.omit.contains(iri);
}

}  // namespace

json::object render_entity(const Entity& e, const ldcontext::Context& ctx,
                           const RenderOptions& options) {
  const Renderer renderer(ctx, options);
  json::object out;
  if (const json::value* id = e.if_contains(key::kId); id && !options.omit_id) out[key::kId] = *id;
  if (const json::value* type = e.if_contains(key::kType); type && !options.omit_type) {
    out[key::kType] = render_types(*type, ctx);
  }
  if (const json::value* scope = e.if_contains(key::kScope)) {
    const json::array* a = scope->if_array();
    out[key::kScope] = a && a->size() == 1 ? a->front() : *scope;
  }
  if (options.sys_attrs) {
    for (std::string_view name : {key::kCreatedAt, key::kModifiedAt}) {
      if (const json::value* t = e.if_contains(name)) out[name] = *t;
    }
  }
  for (const auto& m : e) {
    if (is_reserved_member(m.key()) || !m.value().is_array()) continue;
    if (!attribute_wanted(m.key(), options)) continue;
    json::value rendered = renderer.attribute(m.value().get_array());
    if (!rendered.is_null()) out[ctx.compact(m.key())] = std::move(rendered);
  }
  return out;
}

json::value render_attribute(const json::array& instances, const ldcontext::Context& ctx,
                             const RenderOptions& options) {
  return Renderer(ctx, options).attribute(instances);
}

json::object render_feature(const Entity& e, const ldcontext::Context& ctx,
                            const RenderOptions& options, std::string_view geoproperty_iri) {
  const std::string default_geo = ctx.expand("location");
  const std::string_view geo_iri = geoproperty_iri.empty() ? default_geo : geoproperty_iri;
  json::value geometry = nullptr;
  if (const json::value* attr = e.if_contains(geo_iri); attr && attr->is_array()) {
    const json::object* chosen = nullptr;
    for (const json::value& inst : attr->get_array()) {
      if (!inst.is_object()) continue;
      if (!chosen || !inst.get_object().contains(key::kDatasetId)) chosen = &inst.get_object();
      if (!inst.get_object().contains(key::kDatasetId)) break;
    }
    const json::value* v = chosen ? chosen->if_contains(key::kValue) : nullptr;
    if (v && json::get_string(*chosen, key::kType) == "GeoProperty") geometry = *v;
  }
  RenderOptions without_id = options;
  without_id.omit_id = true;
  json::object out;
  if (const json::value* id = e.if_contains(key::kId); id && !options.omit_id) out[key::kId] = *id;
  out[key::kType] = "Feature";
  out["geometry"] = std::move(geometry);
  out["properties"] = render_entity(e, ctx, without_id);
  return out;
}

}  // namespace cityroom::model
