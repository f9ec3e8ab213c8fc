// api: the HTTP route handlers of cityroom, thin: parse → call the hub → format.
//
// `register_ngsi_ld` adds the NGSI-LD API under /ngsi-ld/v1 (entities, attributes, batch
// operations, subscriptions, discovery, @context management); `register_system` adds /health and /metrics.
// Handlers run on the HTTP threads; writes answer from the store's writer thread after commit.
// Every request passes the `Access` seam before it touches data: the place where issue #7's
// access control will decide; today it allows everything.
#pragma once

#include <functional>
#include <string>

#include "base/base.h"
#include "http/http.h"
#include "hub/hub.h"
#include "ldcontext/ldcontext.h"
#include "live/streams.h"
#include "live/subscriptions.h"

namespace cityroom::governance {
class Governance;
}

namespace cityroom::api {

inline constexpr std::size_t kPageSizeDefault = 20;
inline constexpr std::size_t kPageSizeMax = 1000;
inline constexpr std::size_t kTenantNameMax = 64;

// What a request wants to do, for the access check.
struct Operation {
  enum class Kind { kRead, kWrite, kAdmin } kind;
  std::string_view route;  // route pattern
  std::string_view tenant;
};

// The access-control seam: returns an error (401/403 ProblemDetails) to refuse.
class Access {
 public:
  virtual ~Access() = default;
  virtual base::Result<void> check(const http::Request& request, const Operation& op) = 0;
};

class AllowAll final : public Access {
 public:
  base::Result<void> check(const http::Request&, const Operation&) override { return {}; }
};

struct Deps {
  hub::Hub& hub;
  ldcontext::ContextStore& contexts;
  Access& access;
  http::Metrics& metrics;
  std::string version;
  live::Subscriptions* subscriptions = nullptr;  // null: the subscription routes answer 501
  live::Streams* streams = nullptr;              // null: no /live/v1/stream
  governance::Governance* governance = nullptr;  // null: pledges/requests/Open311 answer 422/501
  // More Prometheus text for /metrics (subscriptions, streams, MQTT ingestion, ...).
  std::vector<std::function<std::string()>> metric_sources;
};

void register_ngsi_ld(http::Router& router, Deps& deps);
void register_system(http::Router& router, Deps& deps);
// GET /live/v1/stream: screen streams over WebSocket or Server-Sent Events (docs/STREAMS.md).
void register_streams(http::Router& router, Deps& deps);
// /cityroom/v1 pledges, search, requests and /open311/v2 (docs/GOVERNANCE.md).
void register_governance(http::Router& router, Deps& deps);

}  // namespace cityroom::api
