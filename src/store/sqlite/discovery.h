// Type and attribute discovery (GET /types, /attributes with details) from the index tables.
// Each runs in a read transaction of its own on the given (read) connection.
#pragma once

#include <string_view>
#include <vector>

#include "base/base.h"
#include "store/sqlite/db.h"
#include "store/store.h"

namespace cityroom::store::sqlite {

base::Result<std::vector<TypeSummary>> discover_types(Connection& c, std::string_view tenant);
base::Result<std::vector<AttributeSummary>> discover_attributes(Connection& c,
                                                                std::string_view tenant);

}  // namespace cityroom::store::sqlite
