// Evaluates an EntityQuery on one connection: picks the most selective push-down (ids, then the
// geo box, then types, then one value condition, else a scan of the tenant's id index), applies
// every other filter to each candidate (ids and idPattern on the id before the document is
// parsed; types, geo box, conditions and the predicate on the parsed entity) and pages the
// matches in id order. Every plan selects the same entities (see entity_rows.h).
// With an ordering (EntityQuery::order_by) every match's key is taken and the first
// offset+limit are kept in a bounded heap; or, for one key on a top-level attribute whose
// values are all numbers and strings, the value index is walked in order and stops after the
// page — when the filters' candidates are numerous enough that this reads fewer documents.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "store/sqlite/db.h"
#include "store/store.h"

namespace cityroom::store::sqlite {

// `snapshot`: run inside a read transaction of its own (read connections); false when the
// caller is already inside a transaction (the writer).
base::Result<QueryResult> run_query(Connection& c, std::string_view tenant, const EntityQuery& q,
                                    bool snapshot);

// Every matching id (offset/limit/count ignored), in id order.
base::Result<std::vector<std::string>> matching_ids(Connection& c, std::string_view tenant,
                                                    const EntityQuery& q);

// The entity's stored document, decoded (doc_codec.h). InternalError when it is corrupt.
base::Result<model::Entity> parse_doc(std::string_view doc);

// Looks up the interned id of `name`; nullopt when it was never written.
base::Result<std::optional<std::int64_t>> find_name(Connection& c, std::string_view name);

}  // namespace cityroom::store::sqlite
