#include "live/stream_query.h"

#include <algorithm>

#include <fmt/format.h>

#include "json/json.h"

namespace cityroom::live::stream {

using base::ErrorKind;

namespace {

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    auto item = s.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

base::Result<void> apply_options(std::string_view options, model::RenderOptions& o) {
  for (const auto& opt : split_list(options)) {
    if (opt == "sysAttrs") {
      o.sys_attrs = true;
    } else if (opt == "keyValues" || opt == "simplified") {
      o.format = model::Format::kKeyValues;
    } else if (opt == "concise") {
      o.format = model::Format::kConcise;
    } else if (opt == "normalized") {
      o.format = model::Format::kNormalized;
    } else {
      return base::fail(ErrorKind::kBadRequestData,
                        fmt::format("options: unknown option '{}' (keyValues, concise, "
                                    "normalized, sysAttrs)",
                                    opt));
    }
  }
  return {};
}

SelectorTerms terms_of(const Watch& w) {
  SelectorTerms t;
  const auto ids = split_list(w.id);
  if (!ids.empty()) {
    // id=a,b&type=T reads "id in {a,b} and type T": one alternative per id.
    for (const auto& id : ids) t.entities.push_back({id, w.id_pattern, w.type});
  } else if (!w.id_pattern.empty() || !w.type.empty()) {
    t.entities.push_back({"", w.id_pattern, w.type});
  }
  t.q = w.q;
  t.scope_q = w.scope_q;
  return t;
}

std::string render_key_of(const Watch& w, const ldcontext::Context& ctx) {
  constexpr char kSep = '\x1f';
  return fmt::format("{}{}{}{}{}{}{}", json::serialize(ctx.source()), kSep, w.options, kSep,
                     w.attrs, kSep, w.lang);
}

std::string key_of(const Watch& w, std::string_view tenant, const ldcontext::Context& ctx) {
  constexpr char kSep = '\x1f';
  return fmt::format("{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}", tenant, kSep,
                     json::serialize(ctx.source()), kSep, w.type, kSep, w.id, kSep, w.id_pattern,
                     kSep, w.q, kSep, w.scope_q, kSep, w.georel, kSep, w.geometry, kSep,
                     w.coordinates, kSep, w.geoproperty, kSep, w.attrs, kSep,
                     w.options + kSep + w.lang);
}

}  // namespace

base::Result<std::shared_ptr<const QueryPlan>> build_plan(const Watch& w, std::string tenant,
                                                          ldcontext::ContextPtr context,
                                                          Redact redact,
                                                          std::string_view view_key) {
  const auto& ctx = *context;
  auto terms = terms_of(w);
  if (!w.georel.empty() || !w.geometry.empty() || !w.coordinates.empty()) {
    auto g = geo::parse_geoquery(w.georel, w.geometry, w.coordinates, w.geoproperty);
    if (!g) return std::unexpected(g.error());
    terms.geo = std::move(*g);
  } else if (!w.geoproperty.empty()) {
    return base::fail(ErrorKind::kBadRequestData,
                      "geoproperty: needs georel, geometry and coordinates");
  }
  auto selector = Selector::build(terms, ctx);
  if (!selector) return std::unexpected(selector.error());

  auto plan = std::make_shared<QueryPlan>(QueryPlan{.tenant = tenant,
                                                    .key = key_of(w, tenant, ctx),
                                                    .render_key = render_key_of(w, ctx),
                                                    .selector = std::move(*selector),
                                                    .attrs_present = {},
                                                    .context = context,
                                                    .render = {},
                                                    .index_types = std::nullopt,
                                                    .redact = {}});
  if (redact && !view_key.empty()) {
    plan->redact = std::move(redact);
    plan->key = fmt::format("{}\x1f{}", plan->key, view_key);
    plan->render_key = fmt::format("{}\x1f{}", plan->render_key, view_key);
  }
  if (auto r = apply_options(w.options, plan->render); !r) return std::unexpected(r.error());
  if (!w.attrs.empty()) {
    std::set<std::string, std::less<>> keep;
    for (const auto& a : split_list(w.attrs)) {
      plan->attrs_present.push_back(ctx.expand(a));
      keep.insert(ctx.expand(a));
    }
    plan->render.attrs = std::move(keep);
  }
  if (!w.lang.empty()) plan->render.lang = w.lang;
  if (!w.type.empty()) {
    // Already validated by Selector::build; parsed again here only for its alternatives.
    auto types = query::parse_types(w.type);
    if (types) {
      types->expand_names([&ctx](std::string_view t) { return ctx.expand(t); });
      plan->index_types = types->any_of();
    }
  }
  return std::shared_ptr<const QueryPlan>(std::move(plan));
}

bool QueryPlan::matches(const model::Entity& entity) const {
  std::optional<model::Entity> view;
  const model::Entity& e = redacted(redact, entity, view);
  if (!attrs_present.empty() &&
      std::none_of(attrs_present.begin(), attrs_present.end(),
                   [&](const std::string& a) { return e.contains(a); })) {
    return false;
  }
  return selector.matches(e);
}

std::string QueryPlan::render_text(const model::Entity& entity) const {
  std::optional<model::Entity> view;
  return json::serialize(model::render_entity(redacted(redact, entity, view), *context, render));
}

store::EntityQuery QueryPlan::entity_query(std::size_t limit) const {
  store::EntityQuery q = selector.entity_query();
  q.predicate = [this](const model::Entity& e) { return matches(e); };
  q.offset = 0;
  q.limit = limit;
  return q;
}

}  // namespace cityroom::live::stream
