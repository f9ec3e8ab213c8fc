// live/selector: which entities a subscription watches or a screen stream shows, described by
// NGSI-LD query terms — entity selectors (id / idPattern / type, OR-ed), `q`, `scopeQ` and a
// geo-query (AND-ed) — parsed and expanded once, then evaluated in memory on every change and
// translated into a store query for snapshots and periodic notifications.
// Immutable after build; thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "base/base.h"
#include "geo/geo.h"
#include "ldcontext/ldcontext.h"
#include "model/model.h"
#include "query/query.h"
#include "store/store.h"

namespace cityroom::live {

// The terms as a client wrote them (names not yet expanded). Empty strings mean "absent".
struct SelectorTerms {
  struct Entities {
    std::string id;
    std::string id_pattern;
    std::string type;  // a type expression (A,B  A|B  A;B)
  };
  std::vector<Entities> entities;  // OR-ed; empty = any entity
  std::string q;
  std::string scope_q;
  std::optional<geo::GeoQuery> geo;  // its geoproperty is still a term
};

// Does a GeoProperty instance of `attribute` (expanded IRI) of `e` satisfy `q`?
bool geo_matches(const model::Entity& e, const geo::GeoQuery& q, std::string_view attribute);

class Selector {
 public:
  // Errors: BadRequestData/InvalidRequest naming the term (a broken q, idPattern, type, id).
  static base::Result<Selector> build(const SelectorTerms& terms, const ldcontext::Context& ctx);

  bool matches(const model::Entity& e) const;
  // Expanded attribute IRIs `q` reads (a subscription's implicit watched attributes).
  std::vector<std::string> q_attributes() const;
  // A query whose results are exactly the entities this selector matches, with index push-down
  // where the terms allow it; the caller sets paging.
  store::EntityQuery entity_query() const;

 private:
  struct EntitySelector {
    std::optional<std::string> id;
    std::shared_ptr<const std::regex> id_pattern;
    std::optional<std::string> id_pattern_text;
    std::optional<query::TypeFilter> type;
    bool matches(const model::Entity& e) const;
  };
  struct Geo {
    geo::GeoQuery query;
    std::string attribute;  // expanded IRI of the geoproperty
  };
  bool matches_geo(const model::Entity& e) const;

  std::vector<EntitySelector> entities_;
  std::optional<query::Filter> q_;
  std::optional<query::ScopeFilter> scope_;
  std::optional<Geo> geo_;
};

}  // namespace cityroom::live
