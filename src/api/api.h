// api: the HTTP route handlers of cityroom, thin: parse → call the hub → format.
//
// `register_ngsi_ld` adds the NGSI-LD API under /ngsi-ld/v1 (entities, attributes, batch
// operations, subscriptions, discovery, @context management); `register_system` adds /health and /metrics.
// Handlers run on the HTTP threads; writes answer from the store's writer thread after commit.
// Every request passes the `Access` seam before it touches data (src/access implements it;
// AllowAll is `serve --no-auth`), and every entity answered passes the request's `Grant`.
#pragma once

#include <expected>
#include <functional>
#include <optional>
#include <memory>
#include <string>

#include "base/base.h"
#include "http/http.h"
#include "hub/hub.h"
#include "ldcontext/ldcontext.h"
#include "live/streams.h"
#include "live/subscriptions.h"
#include "model/model.h"

namespace cityroom::simulator {
class Simulator;
}  // namespace cityroom::simulator
namespace cityroom::catalog {
class Catalog;
}

namespace cityroom::alarms {
class Engine;
}

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

// What the access check granted one request: who asks and which entities they may see and
// change. Every entity a route answers with (GET, query, temporal, discovery, streams) passes
// `may_see`; an invisible one is answered exactly like a missing one (404, not 403), so its
// existence does not leak. Thread-safe; shared with stream fan-out threads.
class Grant {
 public:
  virtual ~Grant() = default;
  // Who, for audit and subscription ownership ("user:ana", "key:3f2a9c1d", "anonymous").
  virtual const std::string& who() const = 0;
  virtual bool is_admin() const = 0;
  // True when some entities are hidden from or not writable by this grant: the routes then
  // filter (a grant that sees and writes everything costs nothing).
  virtual bool limited() const = 0;
  virtual bool may_see_type(std::string_view type_iri) const = 0;  // discovery
  virtual bool may_see(const model::Entity& e) const = 0;  // also audits restricted reads
  virtual bool may_write_type(std::string_view type_iri) const = 0;
  // Per-attribute visibility: whether this grant may see attribute `attribute_iri` of `e` (an
  // entity it may see). Every path that renders attributes (entity GET/query, batch, temporal,
  // streams, notifications) drops the ones this refuses.
  virtual bool may_see_attribute(const model::Entity& /*e*/,
                                 std::string_view /*attribute_iri*/) const {
    return true;
  }
  // Fast paths and companions of may_see_attribute (defaults: nothing hidden). Whether some
  // attribute of `e` may be hidden (false: `e` is rendered whole, no per-attribute checks);
  // whether the attribute is visible on entities of a type (discovery); whether the attribute
  // is hidden on some type (query terms naming it — orderBy — then act as if it did not exist).
  virtual bool hides_attributes_of(const model::Entity& /*e*/) const { return false; }
  virtual bool may_see_type_attribute(std::string_view /*type_iri*/,
                                      std::string_view /*attribute_iri*/) const {
    return true;
  }
  virtual bool hides_attribute_somewhere(std::string_view /*attribute_iri*/) const {
    return false;
  }
  // Grants with equal view keys see the same attributes of every entity (streams render once
  // per view); "" = hides no attribute.
  virtual std::string view_key() const { return {}; }
  // Why the credential behind the grant no longer holds (key revoked, session ended, role
  // changed); nullopt while it does. Long-lived answers (screen streams) poll it and end.
  virtual std::optional<std::string> revoked() const { return std::nullopt; }
  // The grant's visibility, serialised, kept with a subscription it creates so that its
  // notifications only ever carry what the creator may see (`Access::scope_filter`).
  virtual std::string scope() const = 0;
};
using GrantPtr = std::shared_ptr<const Grant>;

// A refused request's whole answer: 401 (with WWW-Authenticate), 403, or 429 (with
// Retry-After), a ProblemDetails body (`refusal`).
using Refused = std::expected<GrantPtr, http::Response>;
http::Response refusal(int status, std::string_view reason, std::string detail);

// The access-control seam every route passes (through prepare()): returns the request's grant,
// or the refusal. A null grant sees and writes everything.
class Access {
 public:
  virtual ~Access() = default;
  virtual Refused check(const http::Request& request, const Operation& op) = 0;
  // The answer to a granted request goes through the returned Respond: the place to audit
  // writes with their outcome. Default: unchanged.
  virtual http::Respond audited(const http::Request&, const Operation&, const GrantPtr&,
                                http::Respond respond) {
    return respond;
  }
  // What a stored grant scope (see Grant::scope) may see: its entity filter and attribute
  // redaction; empty = everything.
  virtual live::Viewer scope_filter(std::string_view /*scope*/, std::string_view /*tenant*/) {
    return {};
  }
};

class AllowAll final : public Access {
 public:
  Refused check(const http::Request&, const Operation&) override { return GrantPtr(); }
};

struct Deps {
  hub::Hub& hub;
  ldcontext::ContextStore& contexts;
  Access& access;
  http::Metrics& metrics;
  std::string version;
  live::Subscriptions* subscriptions = nullptr;  // null: the subscription routes answer 501
  live::Streams* streams = nullptr;              // null: no /live/v1/stream
  simulator::Simulator* simulator = nullptr;     // null: /cityroom/v1/admin/simulator answers 503
  // Called when PUT /cityroom/v1/admin/simulator leaves the simulator running: its feeds enter
  // the catalog (as simulated) even on a server started without --demo. Idempotent.
  std::function<void()> simulator_running;
  catalog::Catalog* catalog = nullptr;           // null: /cityroom/v1/datasets is empty
  std::optional<json::object> city;              // GET /cityroom/v1/city; none: 404
  alarms::Engine* alarms = nullptr;              // null: the alarm routes answer 501
  governance::Governance* governance = nullptr;  // null: pledges/requests/Open311 answer 422/501
  // More Prometheus text for /metrics (subscriptions, streams, MQTT ingestion, ...).
  std::vector<std::function<std::string()>> metric_sources;
};

void register_ngsi_ld(http::Router& router, Deps& deps);
void register_system(http::Router& router, Deps& deps);
// GET /live/v1/stream: screen streams over WebSocket or Server-Sent Events (docs/STREAMS.md).
void register_streams(http::Router& router, Deps& deps);
// GET/PUT /cityroom/v1/admin/simulator: the demo simulator (docs/SIMULATOR.md).
void register_simulator(http::Router& router, Deps& deps);
// GET /cityroom/v1/city and /cityroom/v1/datasets[/{id}] (docs/CATALOG.md).
void register_catalog(http::Router& router, Deps& deps);
// /cityroom/v1/alarms: rules, policies, active alarms, acknowledge, clear (docs/ALARMS.md).
void register_alarms(http::Router& router, Deps& deps);
// /cityroom/v1 pledges, search, requests and /open311/v2 (docs/GOVERNANCE.md).
void register_governance(http::Router& router, Deps& deps);

}  // namespace cityroom::api
