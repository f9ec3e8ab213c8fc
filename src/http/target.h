// Internal: splitting a request target into path and decoded query pairs.
#pragma once

#include <string_view>

#include "base/base.h"
#include "http/http.h"

namespace cityroom::http {

// Fills request.path and request.query from request.target. Origin-form ("/a?b") and
// absolute-form ("http://host/a?b") are accepted; a bad percent escape in the query is an
// InvalidRequest naming the parameter.
base::Result<void> parse_target(Request& request);

}  // namespace cityroom::http
