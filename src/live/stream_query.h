// Private to live/: a watch compiled once — its selector, render options, the entity types it
// is indexed under and the key that identifies identical watches, which then share one plan
// (and one evaluation and rendering per change). Immutable after build; thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/base.h"
#include "ldcontext/ldcontext.h"
#include "live/selector.h"
#include "live/streams.h"
#include "model/model.h"
#include "store/store.h"

namespace cityroom::live::stream {

struct QueryPlan {
  std::string tenant;
  std::string key;  // tenant + terms + context + options: equal keys behave identically
  // context + render options: plans with equal render keys render an entity identically, so
  // the fan-out renders each changed entity once per render key, not once per plan.
  std::string render_key;
  Selector selector;
  std::vector<std::string> attrs_present;  // attrs=: an entity must have one of these (IRIs)
  ldcontext::ContextPtr context;
  model::RenderOptions render;
  // Expanded types every match has one of (the fan-out index); nullopt: any type may match.
  std::optional<std::vector<std::string>> index_types;
  // The client's attribute redaction (ClientInfo::redact; part of key and render_key): the
  // terms and the rendering see the entity without the attributes hidden from it.
  Redact redact;

  bool matches(const model::Entity& e) const;
  std::string render_text(const model::Entity& e) const;
  // The snapshot read: exactly the matches, ordered by id, at most `limit`. Refers to this
  // plan: use it while the plan lives.
  store::EntityQuery entity_query(std::size_t limit) const;
};

// Errors: what a GET /entities with the same parameters would answer (BadRequestData,
// InvalidRequest, TooComplexQuery), naming the parameter.
base::Result<std::shared_ptr<const QueryPlan>> build_plan(const Watch& w, std::string tenant,
                                                          ldcontext::ContextPtr context,
                                                          Redact redact = {},
                                                          std::string_view view_key = {});

}  // namespace cityroom::live::stream
