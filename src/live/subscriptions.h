// live/subscriptions: the NGSI-LD subscriptions of every tenant — kept, matched against every
// committed change, and turned into notifications.
//
// Definitions are records in the store (kind "subscription"), written through the store's
// writer so a created subscription survives kill -9 once acknowledged; `load` reads them back at
// start. Delivery status (timesSent, lastSuccess, ...) changes with every notification and is
// written back every `status_flush_interval` and at `stop`, so after a crash it may lag by
// that interval — the definition never does.
//
// Matching runs on one thread that reads the change feed (feed.h) and never blocks the writer:
// for each change and each active subscription of the tenant it decides the triggers
// (entity/attribute created/updated/deleted), watchedAttributes, the entity selectors, q, scopeQ
// and geoQ, applies throttling, and renders the notification with the subscription's @context
// and notification parameters. Changes to one subscription found in one pass over the feed go
// out together in one notification (its `data` array, at most kNotificationEntitiesMax).
// Periodic subscriptions (timeInterval) are queried and notified from the same thread.
// Sending goes through a `Transport` that never blocks; a refused send (full endpoint queue) and
// changes the matcher could not read in time (it fell behind the feed's ring) are counted in the
// subscription's status (`timesDropped`) and in /metrics — never silently lost. For a second
// after a refusal the subscription's matching changes are counted as dropped without being
// rendered, so a dead endpoint costs the matcher almost nothing.
// Thread-safety: every public member may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/base.h"
#include "hub/hub.h"
#include "ldcontext/ldcontext.h"
#include "live/feed.h"
#include "live/subscription.h"

namespace cityroom::live {

inline constexpr std::size_t kNotificationEntitiesMax = 100;  // entities in one notification
inline constexpr std::size_t kSubscriptionsMax = 100'000;     // all tenants
inline constexpr std::size_t kPeriodicEntitiesMax = 1000;     // entities in a periodic notification

// One notification ready to go: the transport adds nothing but the wire.
struct Notification {
  std::string subscription_id;
  std::string uri;
  // content-type, link, and the subscription's receiverInfo.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::vector<std::pair<std::string, std::string>> notifier_info;  // e.g. MQTT-QoS
};

struct SendOutcome {
  bool delivered = false;
  int status = 0;     // HTTP status when there was one
  std::string error;  // when not delivered
  base::Micros at = 0;
};

// Where notifications go (http/https and mqtt implementations are wired by the app).
class Transport {
 public:
  virtual ~Transport() = default;
  // Never blocks. False when refused at once (full queue, unusable URI): counted as dropped and
  // `done` is not called. Otherwise `done` is called exactly once, on any thread (also from
  // inside `send`).
  virtual bool send(Notification n, std::function<void(const SendOutcome&)> done) = 0;
};

class Subscriptions {
 public:
  struct Options {
    std::chrono::milliseconds status_flush_interval{5000};
    std::chrono::milliseconds tick{250};  // periodic subscriptions and expiry are checked so often
  };
  struct Stats {
    std::uint64_t subscriptions = 0;
    std::uint64_t notifications_sent = 0;
    std::uint64_t notifications_delivered = 0;
    std::uint64_t notifications_failed = 0;
    std::uint64_t changes_dropped = 0;  // matching changes not notified: endpoint queue full
    std::uint64_t changes_missed = 0;         // the matcher fell behind the feed's ring
    std::uint64_t matcher_lag = 0;            // changes published but not yet matched
  };

  Subscriptions(hub::Hub& hub, Feed& feed, ldcontext::ContextStore& contexts,
                Transport& transport, Options options);
  Subscriptions(hub::Hub& hub, Feed& feed, ldcontext::ContextStore& contexts,
                Transport& transport)
      : Subscriptions(hub, feed, contexts, transport, Options{}) {}
  ~Subscriptions();
  Subscriptions(const Subscriptions&) = delete;
  Subscriptions& operator=(const Subscriptions&) = delete;

  // Reads the stored subscriptions (call before start). One that no longer parses (its @context
  // gone) is kept out and logged; the others load.
  base::Result<std::size_t> load();
  void start();
  // Stops matching, writes the delivery status back. Idempotent.
  void stop();

  // POST /subscriptions: AlreadyExists when the id is taken. `done` runs after the commit.
  void create(Subscription s, std::function<void(base::Result<void>)> done);
  // PATCH /subscriptions/{id}: `fragment` written in `ctx`.
  void update(std::string_view tenant, std::string_view id, const json::object& fragment,
              ldcontext::ContextPtr ctx, std::function<void(base::Result<void>)> done);
  void remove(std::string_view tenant, std::string_view id,
              std::function<void(base::Result<void>)> done);

  struct View {  // a subscription with the context it was written in
    Subscription subscription;
    ldcontext::ContextPtr context;
  };
  base::Result<View> get(std::string_view tenant, std::string_view id) const;
  // Ordered by id. `total` gets the tenant's count.
  std::vector<View> list(std::string_view tenant, std::size_t offset, std::size_t limit,
                         std::size_t* total) const;

  Stats stats() const;
  std::string prometheus_text() const;

  // Access control's seam: what a subscription owner's scope (see Subscription::owner_scope)
  // may see — the entity filter applied to every change and periodic query before it is
  // notified, and the attribute redaction applied before the subscription's terms (q,
  // watchedAttributes) and the rendering see the entity. Set before load(); null (the
  // default) notifies every matching entity whole.
  using ScopeFilter =
      std::function<Viewer(std::string_view scope, std::string_view tenant)>;
  void set_scope_filter(ScopeFilter filter) { scope_filter_ = std::move(filter); }

 private:
  struct Entry;
  struct Pending;
  void run();
  void match(const std::vector<Event>& events, std::map<std::string, Pending>& out);
  void notify_periodic(base::Micros now);
  void send(Entry& e, json::array data, base::Micros now);
  void dispatch();
  void flush_status(bool all);
  void persist(std::string tenant, std::string id, std::string doc,
               std::function<void(base::Result<void>)> done);

  hub::Hub& hub_;
  Feed& feed_;
  ldcontext::ContextStore& contexts_;
  Transport& transport_;
  Options options_;
  ScopeFilter scope_filter_;
  // compile() plus the owner's scope filter.
  base::Result<CompiledSubscription> compile_owned(const Subscription& s,
                                                   const ldcontext::Context& ctx) const;

  mutable std::mutex mutex_;  // guards entries_ and each Entry
  // key: tenant + '\n' + id
  std::map<std::string, std::shared_ptr<Entry>, std::less<>> entries_;
  std::set<std::string> dirty_;  // keys whose status changed since the last flush
  struct Outgoing {
    std::string key;
    Notification n;
    std::size_t changes = 0;  // entities in its data
  };
  std::vector<Outgoing> outbox_;  // built under mutex_, sent by dispatch() without it

  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::atomic<std::uint64_t> cursor_{0};
  std::atomic<std::uint64_t> sent_{0}, delivered_{0}, failed_{0}, dropped_{0}, missed_{0};
  // dropped_ and DeliveryStatus::dropped count changes, not notifications.
};

}  // namespace cityroom::live
