#include "governance/entity_view.h"

namespace cityroom::governance {

std::string iri(std::string_view term) {
  return std::string(ldcontext::kDefaultVocab) + std::string(term);
}

base::Result<model::Entity> to_entity(const ldcontext::Context& core, const json::object& body,
                                      bool fragment, base::Micros now) {
  model::ParseOptions o;
  o.mode = fragment ? model::ParseMode::kFragment : model::ParseMode::kEntity;
  o.now = now;
  return model::parse_entity(body, core, o);
}

json::object key_values(const ldcontext::Context& core, const model::Entity& e) {
  model::RenderOptions o;
  o.format = model::Format::kKeyValues;
  return model::render_entity(e, core, o);
}

std::string str(const json::object& kv, std::string_view key) {
  const json::value* v = json::find(kv, key);
  if (v && v->is_string()) return std::string(v->as_string());
  return {};
}

std::optional<double> num(const json::object& kv, std::string_view key) {
  const json::value* v = json::find(kv, key);
  if (!v) return std::nullopt;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return std::nullopt;
}

std::string id_key(std::string_view id, std::string_view type) {
  const std::string prefix = "urn:ngsi-ld:" + std::string(type) + ":";
  if (!id.starts_with(prefix)) return {};
  return std::string(id.substr(prefix.size()));
}

}  // namespace cityroom::governance
