// live/subscription: one NGSI-LD subscription (ETSI GS CIM 009, 5.2.12) as a value — parsed and
// validated from a request body, merged with a PATCH fragment, rendered back for GET, and
// stored as a record (store.h) that survives restarts.
//
// A subscription keeps its members as the client wrote them (terms, not IRIs) together with the
// @context they were written in (`context_source`); that context expands them for matching and
// compacts the entities it notifies about, as the spec's `jsonldContext` says. Its delivery
// status (timesSent, lastSuccess, ...) is kept beside the definition and stored with it.
// Pure functions; thread-compatible values.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/base.h"
#include "json/json.h"
#include "ldcontext/ldcontext.h"
#include "live/selector.h"
#include "live/viewer.h"
#include "model/model.h"

namespace cityroom::live {

inline constexpr std::string_view kSubscriptionIdPrefix = "urn:ngsi-ld:Subscription:";
inline constexpr std::string_view kSubscriptionRecordKind = "subscription";
inline constexpr std::size_t kSubscriptionBytesMax = 64 * 1024;  // serialized definition

enum class Trigger : std::uint8_t {
  kEntityCreated,
  kEntityUpdated,
  kEntityDeleted,
  kAttributeCreated,
  kAttributeUpdated,
  kAttributeDeleted,
};

struct DeliveryStatus {
  std::uint64_t times_sent = 0;
  std::uint64_t times_failed = 0;
  std::uint64_t dropped = 0;  // changes not notified: endpoint queue full, or matcher behind the feed
  std::optional<base::Micros> last_notification, last_success, last_failure;
  std::string last_failure_reason;
};

struct Subscription {
  std::string id;
  std::string tenant;
  std::optional<std::string> name, description;

  // What to watch (terms as given).
  SelectorTerms selector;
  std::optional<json::object> geo_q;  // as given, for rendering
  std::vector<std::string> watched_attributes;
  std::set<Trigger> triggers;  // never empty (defaults: attributeCreated, attributeUpdated)
  std::optional<double> time_interval_s;  // periodic notifications instead of on change
  std::optional<double> throttling_s;
  std::optional<base::Micros> expires_at;
  bool active = true;
  std::optional<std::string> lang;

  // How to notify.
  std::vector<std::string> notify_attributes;  // empty = all
  model::Format format = model::Format::kNormalized;
  bool sys_attrs = false;
  std::string endpoint_uri;
  std::string endpoint_accept = "application/json";  // or application/ld+json
  std::vector<std::pair<std::string, std::string>> receiver_info;
  std::vector<std::pair<std::string, std::string>> notifier_info;
  // Who created it and the visibility they had (access control's serialised grant scope): its
  // notifications only ever carry entities that scope may see. Empty: created without access
  // control (serve --no-auth); such a subscription is treated as anonymous (public data only).
  std::string owner;
  std::string owner_scope;

  json::value context_source;  // the @context of the creating request
  base::Micros created_at = 0;
  base::Micros modified_at = 0;
  DeliveryStatus status;

  // "active", "paused" or "expired" at `now`.
  std::string_view state(base::Micros now) const;
};

// Parses a POST /subscriptions body (its own "@context" already resolved into `ctx`, whose
// source is kept). Generates an id when none is given. BadRequestData naming the member on any
// violation: missing endpoint, entities without type, both timeInterval and watchedAttributes,
// a broken q or geoQ, expiresAt in the past, unknown trigger, ...
base::Result<Subscription> parse_subscription(const json::object& body, std::string tenant,
                                              const ldcontext::Context& ctx, base::Micros now);

// Applies a PATCH /subscriptions/{id} fragment: each member given replaces the stored one
// (notification and endpoint members merge one level down), then everything is validated
// again as a whole. `id` and `type` may be repeated but not changed.
base::Result<Subscription> patch_subscription(const Subscription& current,
                                              const json::object& fragment,
                                              const ldcontext::Context& ctx, base::Micros now);

// The NGSI-LD representation for GET, status members included. Names were written in `own`
// (the subscription's context) and are shown in `reader`'s terms.
json::object render_subscription(const Subscription& s, const ldcontext::Context& own,
                                 const ldcontext::Context& reader, base::Micros now);

// The stored record and back. The caller resolves the subscription's context from the record
// (`record_context`) before `from_record`.
std::string to_record(const Subscription& s, const ldcontext::Context& own);
json::value record_context(std::string_view doc);
base::Result<Subscription> from_record(std::string_view doc, std::string tenant,
                                       const ldcontext::Context& own);

// The matcher of a subscription: its selector built with its context, plus expanded
// watchedAttributes and notification attributes.
struct CompiledSubscription {
  Selector selector;
  std::vector<std::string> watched;  // expanded; empty = every attribute
  model::RenderOptions render;
  // The owner's visibility (Subscriptions::set_scope_filter); null = every entity, whole.
  std::function<bool(const model::Entity&)> may_see;
  Redact redact;
};
base::Result<CompiledSubscription> compile(const Subscription& s, const ldcontext::Context& ctx);

}  // namespace cityroom::live
