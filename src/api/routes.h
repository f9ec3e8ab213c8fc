// Private to api/: each file registers one family of routes.
#pragma once

#include "api/api.h"

namespace cityroom::api {
void register_entities(http::Router& router, Deps& deps);
void register_batch(http::Router& router, Deps& deps);
void register_discovery(http::Router& router, Deps& deps);
void register_contexts(http::Router& router, Deps& deps);
void register_subscriptions(http::Router& router, Deps& deps);
void register_temporal(http::Router& router, Deps& deps);
void register_temporal_write(http::Router& router, Deps& deps);  // called by register_temporal
void register_history_csv(http::Router& router, Deps& deps);     // called by register_temporal
void register_open311(http::Router& router, Deps& deps);
}  // namespace cityroom::api
