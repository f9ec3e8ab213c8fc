// Evaluates an EntityQuery on one connection: picks the most selective push-down (ids, then the
// geo box, then types, then one value condition, else a scan of the tenant's id index), applies
// every other filter to each candidate (ids and idPattern on the id before the document is
// parsed; types, geo box, conditions and the predicate on the parsed entity) and pages the
// matches in id order. Every plan selects the same entities (see entity_rows.h).
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
