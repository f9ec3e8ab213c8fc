#include "live/selector.h"

#include <algorithm>

#include <fmt/format.h>

namespace cityroom::live {

using base::ErrorKind;

base::Result<Selector> Selector::build(const SelectorTerms& terms, const ldcontext::Context& ctx) {
  const query::Expander expand = [&ctx](std::string_view t) { return ctx.expand(t); };
  Selector s;
  for (const auto& e : terms.entities) {
    EntitySelector sel;
    if (!e.id.empty()) {
      if (!base::is_uri(e.id)) {
        return base::fail(ErrorKind::kBadRequestData, fmt::format("id: '{}' is not a URI", e.id));
      }
      sel.id = e.id;
    }
    if (!e.id_pattern.empty()) {
      try {
        sel.id_pattern = std::make_shared<const std::regex>(
            e.id_pattern, std::regex::ECMAScript | std::regex::optimize);
      } catch (const std::regex_error&) {
        return base::fail(ErrorKind::kBadRequestData,
                          fmt::format("idPattern: '{}' is not a valid regular expression",
                                      e.id_pattern));
      }
      sel.id_pattern_text = e.id_pattern;
    }
    if (!e.type.empty()) {
      auto type = query::parse_types(e.type);
      if (!type) return std::unexpected(type.error());
      type->expand_names(expand);
      sel.type = std::move(*type);
    }
    s.entities_.push_back(std::move(sel));
  }
  if (!terms.q.empty()) {
    auto q = query::parse_q(terms.q);
    if (!q) return std::unexpected(q.error());
    q->expand_names(expand);
    s.q_ = std::move(*q);
  }
  if (!terms.scope_q.empty()) {
    auto scope = query::parse_scope_q(terms.scope_q);
    if (!scope) return std::unexpected(scope.error());
    s.scope_ = std::move(*scope);
  }
  if (terms.geo) {
    s.geo_ = Geo{*terms.geo, ctx.expand(terms.geo->geoproperty.empty()
                                            ? std::string_view("location")
                                            : std::string_view(terms.geo->geoproperty))};
  }
  return s;
}

bool Selector::EntitySelector::matches(const model::Entity& e) const {
  const auto* idv = e.if_contains(model::key::kId);
  const std::string_view entity_id = idv && idv->is_string() ? std::string_view(idv->get_string())
                                                             : std::string_view();
  if (id && entity_id != *id) return false;
  if (id_pattern && !std::regex_search(entity_id.begin(), entity_id.end(), *id_pattern)) {
    return false;
  }
  return !type || type->matches(e);
}

bool geo_matches(const model::Entity& e, const geo::GeoQuery& q, std::string_view attribute) {
  const auto* slot = e.if_contains(attribute);
  if (!slot || !slot->is_array()) return false;
  for (const auto& inst : slot->get_array()) {
    if (!inst.is_object()) continue;
    const auto* value = inst.get_object().if_contains(model::key::kValue);
    if (!value) continue;
    auto g = geo::parse_geojson(*value);
    if (g && geo::matches(q, *g)) return true;
  }
  return false;
}

bool Selector::matches_geo(const model::Entity& e) const {
  return geo_matches(e, geo_->query, geo_->attribute);
}

bool Selector::matches(const model::Entity& e) const {
  if (!entities_.empty() &&
      std::none_of(entities_.begin(), entities_.end(),
                   [&](const EntitySelector& s) { return s.matches(e); })) {
    return false;
  }
  if (q_ && !q_->matches(e)) return false;
  if (scope_ && !scope_->matches(e)) return false;
  return !geo_ || matches_geo(e);
}

std::vector<std::string> Selector::q_attributes() const {
  return q_ ? q_->attributes() : std::vector<std::string>{};
}

store::EntityQuery Selector::entity_query() const {
  store::EntityQuery q;
  if (entities_.size() == 1) {
    const auto& only = entities_.front();
    if (only.id) q.ids = std::vector<std::string>{*only.id};
    if (only.id_pattern_text) q.id_pattern = only.id_pattern_text;
    if (only.type) q.any_of_types = only.type->any_of();
  } else if (!entities_.empty()) {
    // Several selectors: push down the union of their types when each is a plain list.
    std::vector<std::string> types;
    bool all_plain = true;
    for (const auto& s : entities_) {
      auto any = s.type ? s.type->any_of() : std::nullopt;
      if (!any) {
        all_plain = false;
        break;
      }
      types.insert(types.end(), any->begin(), any->end());
    }
    if (all_plain) q.any_of_types = std::move(types);
  }
  if (q_) q.conditions = q_->necessary_conditions();
  if (geo_) {
    if (auto box = geo::candidate_box(geo_->query)) {
      q.geo_box = store::EntityQuery::GeoBox{geo_->attribute, *box};
    }
  }
  q.predicate = [self = std::make_shared<const Selector>(*this)](const model::Entity& e) {
    return self->matches(e);
  };
  return q;
}

}  // namespace cityroom::live
