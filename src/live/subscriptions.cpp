#include "live/subscriptions.h"
#include <pthread.h>

#include <algorithm>
#include <future>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace cityroom::live {
namespace {

using base::ErrorKind;
using Kind = hub::Change::Kind;

constexpr std::string_view kContextRel = "http://www.w3.org/ns/json-ld#context";
constexpr std::size_t kFeedReadMax = 4096;  // events per matcher pass
constexpr base::Micros kRefusedPause = 1'000'000;  // see Entry::refused_until

std::string key_of(std::string_view tenant, std::string_view id) {
  std::string k;
  k.reserve(tenant.size() + id.size() + 1);
  k.append(tenant).push_back('\n');
  k.append(id);
  return k;
}

// Which attributes a change created, updated and deleted (expanded IRIs).
struct AttributeChanges {
  std::vector<std::string> created, updated, deleted;
};

AttributeChanges diff(const model::Entity* before, const model::Entity* after) {
  AttributeChanges out;
  if (after) {
    for (const auto& [name, value] : *after) {
      if (model::is_reserved_member(name)) continue;
      const auto* old = before ? before->if_contains(name) : nullptr;
      if (!old) {
        out.created.emplace_back(name);
      } else if (*old != value) {
        out.updated.emplace_back(name);
      }
    }
  }
  if (before) {
    for (const auto& [name, value] : *before) {
      if (model::is_reserved_member(name)) continue;
      if (!after || !after->contains(name)) out.deleted.emplace_back(name);
    }
  }
  return out;
}

bool any_watched(const std::vector<std::string>& changed, const std::vector<std::string>& watched) {
  if (watched.empty()) return !changed.empty();
  return std::any_of(changed.begin(), changed.end(), [&](const std::string& a) {
    return std::binary_search(watched.begin(), watched.end(), a);
  });
}

// Does this change fire a subscription with these triggers and watched attributes?
bool fires(Kind kind, const AttributeChanges& c, const std::set<Trigger>& triggers,
           const std::vector<std::string>& watched) {
  switch (kind) {
    case Kind::kCreated:
      if (triggers.contains(Trigger::kEntityCreated) &&
          (watched.empty() || any_watched(c.created, watched))) {
        return true;
      }
      return triggers.contains(Trigger::kAttributeCreated) && any_watched(c.created, watched);
    case Kind::kDeleted:
      return triggers.contains(Trigger::kEntityDeleted);
    case Kind::kUpdated:
      break;
  }
  if (triggers.contains(Trigger::kAttributeCreated) && any_watched(c.created, watched)) return true;
  if (triggers.contains(Trigger::kAttributeUpdated) && any_watched(c.updated, watched)) return true;
  if (triggers.contains(Trigger::kAttributeDeleted) && any_watched(c.deleted, watched)) return true;
  if (triggers.contains(Trigger::kEntityUpdated)) {
    return any_watched(c.created, watched) || any_watched(c.updated, watched) ||
           any_watched(c.deleted, watched);
  }
  return false;
}

std::optional<std::string> context_url(const json::value& source) {
  if (source.is_string()) return std::string(source.get_string());
  if (source.is_array()) {
    for (const auto& v : source.get_array()) {
      if (v.is_string()) return std::string(v.get_string());
    }
  }
  return std::nullopt;
}

}  // namespace

struct Subscriptions::Entry {
  Subscription sub;
  CompiledSubscription compiled;
  ldcontext::ContextPtr context;
  std::uint64_t from_seq = 0;     // changes up to this one happened before it existed
  base::Micros next_due = 0;      // periodic subscriptions
  // After its endpoint refused a notification (full queue), changes are counted as dropped
  // without being rendered until then: a dead endpoint must not cost a rendering per change.
  base::Micros refused_until = 0;
};

struct Subscriptions::Pending {
  std::shared_ptr<Entry> entry;
  json::array data;
};

Subscriptions::Subscriptions(hub::Hub& hub, Feed& feed, ldcontext::ContextStore& contexts,
                             Transport& transport, Options options)
    : hub_(hub), feed_(feed), contexts_(contexts), transport_(transport), options_(options) {}

Subscriptions::~Subscriptions() { stop(); }

base::Result<std::size_t> Subscriptions::load() {
  auto records = hub_.store().records(kSubscriptionRecordKind);
  if (!records) return std::unexpected(records.error());
  std::size_t loaded = 0;
  const auto now = base::now_micros();
  std::lock_guard lock(mutex_);
  for (const auto& r : *records) {
    auto ctx = contexts_.resolve(record_context(r.doc));
    if (!ctx) {
      spdlog::error("subscription {} (tenant '{}') not loaded: its @context: {}", r.id, r.tenant,
                    ctx.error().detail);
      continue;
    }
    auto sub = from_record(r.doc, r.tenant, **ctx);
    if (!sub) {
      spdlog::error("subscription {} (tenant '{}') not loaded: {}", r.id, r.tenant,
                    sub.error().detail);
      continue;
    }
    auto compiled = compile_owned(*sub, **ctx);
    if (!compiled) continue;
    auto e = std::make_shared<Entry>(Entry{std::move(*sub), std::move(*compiled), *ctx,
                                           feed_.last_seq(), now});
    entries_[key_of(r.tenant, e->sub.id)] = std::move(e);
    ++loaded;
  }
  cursor_ = feed_.last_seq();
  return loaded;
}

void Subscriptions::start() {
  if (thread_.joinable()) return;
  cursor_ = feed_.last_seq();
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "subs-matcher");
    run();
  });
}

void Subscriptions::stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  flush_status(true);
}

// ---- CRUD -------------------------------------------------------------------------------

void Subscriptions::persist(std::string tenant, std::string id, std::string doc,
                            std::function<void(base::Result<void>)> done) {
  hub_.store().write(
      [tenant = std::move(tenant), id = std::move(id),
       doc = std::move(doc)](store::Transaction& t) -> base::Result<store::WorkOutput> {
        if (doc.empty()) {
          auto r = t.remove_record(kSubscriptionRecordKind, tenant, id);
          if (!r) return std::unexpected(r.error());
          return store::WorkOutput{};
        }
        if (auto r = t.put_record(kSubscriptionRecordKind, tenant, id, doc); !r) {
          return std::unexpected(r.error());
        }
        return store::WorkOutput{};
      },
      [done = std::move(done)](base::Result<store::WorkOutput> r) {
        if (!r) return done(std::unexpected(r.error()));
        done({});
      });
}

base::Result<CompiledSubscription> Subscriptions::compile_owned(
    const Subscription& s, const ldcontext::Context& ctx) const {
  auto compiled = compile(s, ctx);
  if (compiled && scope_filter_) {
    Viewer viewer = scope_filter_(s.owner_scope, s.tenant);
    compiled->may_see = std::move(viewer.may_see);
    compiled->redact = std::move(viewer.redact);
  }
  return compiled;
}

void Subscriptions::create(Subscription s, std::function<void(base::Result<void>)> done) {
  auto ctx = contexts_.resolve(s.context_source);
  if (!ctx) return done(std::unexpected(ctx.error()));
  auto compiled = compile_owned(s, **ctx);
  if (!compiled) return done(std::unexpected(compiled.error()));
  const std::string key = key_of(s.tenant, s.id);
  {
    std::lock_guard lock(mutex_);
    if (entries_.contains(key)) {
      return done(base::fail(ErrorKind::kAlreadyExists,
                             fmt::format("subscription {} already exists", s.id)));
    }
    if (entries_.size() >= kSubscriptionsMax) {
      return done(base::fail(ErrorKind::kServiceUnavailable,
                             fmt::format("too many subscriptions (the limit is {})",
                                         kSubscriptionsMax)));
    }
    // Reserve the id so a concurrent create of the same id fails; filled after the commit.
    entries_[key] = nullptr;
  }
  auto doc = to_record(s, **ctx);
  auto entry = std::make_shared<Entry>(
      Entry{std::move(s), std::move(*compiled), *ctx, 0, base::now_micros()});
  persist(entry->sub.tenant, entry->sub.id, std::move(doc),
          [this, key, entry, done = std::move(done)](base::Result<void> r) {
            {
              std::lock_guard lock(mutex_);
              if (!r) {
                entries_.erase(key);
              } else {
                entry->from_seq = feed_.last_seq();
                entries_[key] = entry;
              }
            }
            done(std::move(r));
          });
}

base::Result<Subscriptions::View> Subscriptions::get(std::string_view tenant,
                                                     std::string_view id) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key_of(tenant, id));
  if (it == entries_.end() || !it->second) {
    return base::fail(ErrorKind::kResourceNotFound, fmt::format("subscription {} not found", id));
  }
  return View{it->second->sub, it->second->context};
}

std::vector<Subscriptions::View> Subscriptions::list(std::string_view tenant, std::size_t offset,
                                                     std::size_t limit, std::size_t* total) const {
  std::vector<View> out;
  std::size_t n = 0;
  const std::string prefix = key_of(tenant, "");
  std::lock_guard lock(mutex_);
  for (auto it = entries_.lower_bound(prefix);
       it != entries_.end() && it->first.starts_with(prefix); ++it) {
    if (!it->second) continue;
    if (n >= offset && out.size() < limit) out.push_back({it->second->sub, it->second->context});
    ++n;
  }
  if (total) *total = n;
  return out;
}

void Subscriptions::update(std::string_view tenant, std::string_view id,
                           const json::object& fragment, ldcontext::ContextPtr ctx,
                           std::function<void(base::Result<void>)> done) {
  const std::string key = key_of(tenant, id);
  std::shared_ptr<Entry> current;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) current = it->second;
  }
  if (!current) {
    return done(base::fail(ErrorKind::kResourceNotFound,
                           fmt::format("subscription {} not found", id)));
  }
  // A fragment written in another @context than the subscription's: its names are expanded by
  // the fragment's context; the subscription keeps its own for the rest. Re-expressing every
  // term in one context is not possible for type expressions, so the fragment's context wins
  // only when the fragment brings one (the spec's jsonldContext then changes with it).
  const bool new_context = ctx && ctx->source() != current->context->source() &&
                           fragment.contains("@context");
  const auto& use = new_context ? ctx : current->context;
  auto patched = patch_subscription(current->sub, fragment, *use, base::now_micros());
  if (!patched) return done(std::unexpected(patched.error()));
  if (new_context) patched->context_source = use->source();
  auto compiled = compile_owned(*patched, *use);
  if (!compiled) return done(std::unexpected(compiled.error()));
  auto doc = to_record(*patched, *use);
  auto entry = std::make_shared<Entry>(
      Entry{std::move(*patched), std::move(*compiled), use, 0, base::now_micros()});
  persist(std::string(tenant), std::string(id), std::move(doc),
          [this, key, entry, done = std::move(done)](base::Result<void> r) {
            if (r) {
              std::lock_guard lock(mutex_);
              auto it = entries_.find(key);
              if (it != entries_.end() && it->second) {
                entry->sub.status = it->second->sub.status;  // counts since the read above
                entry->from_seq = it->second->from_seq;
                it->second = entry;
              }
            }
            done(std::move(r));
          });
}

void Subscriptions::remove(std::string_view tenant, std::string_view id,
                           std::function<void(base::Result<void>)> done) {
  const std::string key = key_of(tenant, id);
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end() || !it->second) {
      return done(base::fail(ErrorKind::kResourceNotFound,
                             fmt::format("subscription {} not found", id)));
    }
  }
  persist(std::string(tenant), std::string(id), std::string(),
          [this, key, done = std::move(done)](base::Result<void> r) {
            if (r) {
              std::lock_guard lock(mutex_);
              entries_.erase(key);
              dirty_.erase(key);
            }
            done(std::move(r));
          });
}

// ---- matching -----------------------------------------------------------------------------

void Subscriptions::run() {
  std::vector<Event> events;
  std::map<std::string, Pending> pending;
  auto last_flush = std::chrono::steady_clock::now();
  while (!stopping_.load()) {
    {
      // Nothing to match: skip the changes without waking up for each of them (each wake-up is
      // two context switches on the writer's path). A subscription created meanwhile starts
      // after the feed position it saw, so nothing is skipped for it.
      std::unique_lock lock(mutex_);
      if (entries_.empty()) {
        cursor_ = feed_.last_seq();
        lock.unlock();
        std::this_thread::sleep_for(options_.tick);
        continue;
      }
    }
    feed_.wait(cursor_.load(), options_.tick);
    if (stopping_.load()) break;
    events.clear();
    const auto missed = feed_.read(cursor_.load(), kFeedReadMax, events);
    if (missed > 0) {
      missed_ += missed;
      spdlog::warn("subscriptions: {} changes were overwritten before they could be matched",
                   missed);
      std::lock_guard lock(mutex_);
      for (auto& [key, e] : entries_) {
        if (e && e->sub.state(base::now_micros()) == "active") {
          e->sub.status.dropped += missed;
          dirty_.insert(key);
        }
      }
    }
    if (!events.empty()) {
      cursor_ = events.back().seq;
      match(events, pending);
      const auto now = base::now_micros();
      std::lock_guard lock(mutex_);
      for (auto& [key, p] : pending) {
        if (!p.data.empty()) send(*p.entry, std::move(p.data), now);
      }
      pending.clear();
    }
    dispatch();
    notify_periodic(base::now_micros());
    dispatch();
    if (std::chrono::steady_clock::now() - last_flush >= options_.status_flush_interval) {
      flush_status(false);
      last_flush = std::chrono::steady_clock::now();
    }
  }
}

void Subscriptions::match(const std::vector<Event>& events, std::map<std::string, Pending>& out) {
  const base::Micros now = base::now_micros();
  std::lock_guard lock(mutex_);
  if (entries_.empty()) return;
  for (const auto& ev : events) {
    const auto& c = ev.change;
    const model::Entity* subject = c.after ? c.after.get() : c.before.get();
    if (!subject) continue;
    std::optional<AttributeChanges> changes;  // computed once, when some subscription needs it
    const std::string prefix = key_of(c.tenant, "");
    for (auto it = entries_.lower_bound(prefix);
         it != entries_.end() && it->first.starts_with(prefix); ++it) {
      Entry* e = it->second.get();
      if (!e || ev.seq <= e->from_seq || e->sub.time_interval_s) continue;
      if (e->sub.state(now) != "active") continue;
      if (e->compiled.may_see && !e->compiled.may_see(*subject)) continue;
      // An owner who may not see some attributes: the subscription's terms, triggers and
      // rendering see the entity without them (no notification reveals a hidden change).
      std::optional<model::Entity> before_view, after_view;
      const model::Entity* before = c.before.get();
      const model::Entity* after = c.after.get();
      if (e->compiled.redact) {
        if (before) before = &redacted(e->compiled.redact, *before, before_view);
        if (after) after = &redacted(e->compiled.redact, *after, after_view);
      }
      const bool own_view = before_view || after_view;
      if (!e->compiled.selector.matches(after ? *after : *before)) continue;
      std::optional<AttributeChanges> own_changes;
      if (own_view) {
        own_changes = diff(before, after);
      } else if (!changes) {
        changes = diff(c.before.get(), c.after.get());
      }
      const AttributeChanges& changed = own_view ? *own_changes : *changes;
      if (!fires(c.kind, changed, e->sub.triggers, e->compiled.watched)) continue;
      if (now < e->refused_until) {
        ++e->sub.status.dropped;
        ++dropped_;
        dirty_.insert(it->first);
        continue;
      }

      json::object rendered;
      if (c.kind == Kind::kDeleted) {
        model::RenderOptions only_id = e->compiled.render;
        only_id.attrs = std::set<std::string, std::less<>>{};
        rendered = model::render_entity(*before, *e->context, only_id);
        rendered["deletedAt"] = base::format_iso8601(ev.at);
      } else {
        rendered = model::render_entity(*after, *e->context, e->compiled.render);
        if (e->sub.triggers.contains(Trigger::kAttributeDeleted)) {
          for (const auto& gone : changed.deleted) {
            const auto& keep = e->compiled.render.attrs;
            if (keep && !keep->contains(gone)) continue;
            const auto name = e->context->compact(gone);
            if (e->sub.format == model::Format::kNormalized) {
              rendered[name] = json::object{{"type", "Property"}, {"value", hub::kNullUri},
                                            {"deletedAt", base::format_iso8601(ev.at)}};
            } else {
              rendered[name] = hub::kNullUri;
            }
          }
        }
      }
      auto& p = out[it->first];
      if (!p.entry) p.entry = it->second;
      p.data.push_back(std::move(rendered));
      if (p.data.size() >= kNotificationEntitiesMax) {
        send(*p.entry, std::move(p.data), now);
        p.data = json::array();
      }
    }
  }
}

void Subscriptions::notify_periodic(base::Micros now) {
  struct Due {
    std::shared_ptr<Entry> entry;
    store::EntityQuery query;
  };
  std::vector<Due> due;
  {
    std::lock_guard lock(mutex_);
    for (auto& [key, e] : entries_) {
      if (!e || !e->sub.time_interval_s || e->sub.state(now) != "active") continue;
      if (e->next_due > now) continue;
      e->next_due = now + static_cast<base::Micros>(*e->sub.time_interval_s * 1e6);
      auto q = e->compiled.selector.entity_query();
      q.limit = kPeriodicEntitiesMax;
      if (e->compiled.may_see) {
        q.predicate = [see = e->compiled.may_see, redact = e->compiled.redact,
                       inner = std::move(q.predicate)](const model::Entity& entity) {
          if (!see(entity)) return false;
          std::optional<model::Entity> view;
          return !inner || inner(redacted(redact, entity, view));
        };
      }
      due.push_back({e, std::move(q)});
    }
  }
  for (auto& d : due) {
    auto found = hub_.query(d.entry->sub.tenant, d.query);
    if (!found) {
      spdlog::warn("subscription {}: periodic query failed: {}", d.entry->sub.id,
                   found.error().detail);
      continue;
    }
    if (found->entities.empty()) continue;
    json::array data;
    for (const auto& entity : found->entities) {
      std::optional<model::Entity> view;
      data.push_back(model::render_entity(redacted(d.entry->compiled.redact, entity, view),
                                          *d.entry->context, d.entry->compiled.render));
    }
    std::lock_guard lock(mutex_);
    send(*d.entry, std::move(data), now);
  }
}

// Called with mutex_ held: builds the notification (or nothing when throttled) and counts it.
void Subscriptions::send(Entry& e, json::array data, base::Micros now) {
  auto& status = e.sub.status;
  if (e.sub.throttling_s && status.last_notification &&
      now - *status.last_notification < static_cast<base::Micros>(*e.sub.throttling_s * 1e6)) {
    return;  // throttled: the spec drops notifications inside the period
  }
  Notification n;
  n.subscription_id = e.sub.id;
  n.uri = e.sub.endpoint_uri;
  json::object body{{"id", fmt::format("urn:ngsi-ld:Notification:{}", base::random_hex(12))},
                    {"type", "Notification"},
                    {"subscriptionId", e.sub.id},
                    {"notifiedAt", base::format_iso8601(now)},
                    {"data", std::move(data)}};
  if (e.sub.endpoint_accept == "application/ld+json") {
    body["@context"] = e.context->source();
    n.headers.emplace_back("content-type", "application/ld+json");
  } else {
    n.headers.emplace_back("content-type", "application/json");
    const auto url = context_url(e.context->source());
    n.headers.emplace_back(
        "link", fmt::format("<{}>; rel=\"{}\"; type=\"application/ld+json\"",
                            url.value_or(std::string(ldcontext::kCoreContextUrl)), kContextRel));
  }
  for (const auto& kv : e.sub.receiver_info) n.headers.push_back(kv);
  n.notifier_info = e.sub.notifier_info;
  const std::size_t changes = body.at("data").as_array().size();
  n.body = json::serialize(body);
  status.last_notification = now;
  ++status.times_sent;
  dirty_.insert(key_of(e.sub.tenant, e.sub.id));
  outbox_.push_back({key_of(e.sub.tenant, e.sub.id), std::move(n), changes});
}

// Hands the notifications built by send() to the transport, without holding mutex_ (a
// transport may answer at once, from inside its own send).
void Subscriptions::dispatch() {
  std::vector<Outgoing> out;
  {
    std::lock_guard lock(mutex_);
    out.swap(outbox_);
  }
  for (auto& [key, n, changes] : out) {
    const bool accepted = transport_.send(std::move(n), [this, key](const SendOutcome& o) {
      (o.delivered ? delivered_ : failed_)++;
      std::lock_guard lock(mutex_);
      auto it = entries_.find(key);
      if (it == entries_.end() || !it->second) return;
      auto& st = it->second->sub.status;
      if (o.delivered) {
        st.last_success = o.at;
      } else {
        ++st.times_failed;
        st.last_failure = o.at;
        st.last_failure_reason = o.error;
      }
      dirty_.insert(key);
    });
    if (accepted) {
      ++sent_;
      continue;
    }
    dropped_ += changes;
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end() || !it->second) continue;
    auto& st = it->second->sub.status;
    --st.times_sent;  // counted when built; it never left
    st.dropped += changes;
    st.last_failure = base::now_micros();
    st.last_failure_reason = "endpoint queue full";
    it->second->refused_until = *st.last_failure + kRefusedPause;
  }
}

void Subscriptions::flush_status(bool all) {
  std::vector<std::pair<std::shared_ptr<Entry>, std::string>> work;
  {
    std::lock_guard lock(mutex_);
    for (const auto& key : dirty_) {
      auto it = entries_.find(key);
      if (it == entries_.end() || !it->second) continue;
      work.emplace_back(it->second, to_record(it->second->sub, *it->second->context));
    }
    dirty_.clear();
  }
  if (work.empty()) return;
  auto remaining = std::make_shared<std::atomic<std::size_t>>(work.size());
  auto finished = std::make_shared<std::promise<void>>();
  auto future = finished->get_future();
  for (auto& [entry, doc] : work) {
    // Only rewrite a record that still exists: a concurrent DELETE must win.
    hub_.store().write(
        [tenant = entry->sub.tenant, id = entry->sub.id,
         doc = std::move(doc)](store::Transaction& t) -> base::Result<store::WorkOutput> {
          auto removed = t.remove_record(kSubscriptionRecordKind, tenant, id);
          if (!removed) return std::unexpected(removed.error());
          if (*removed) {
            if (auto r = t.put_record(kSubscriptionRecordKind, tenant, id, doc); !r) {
              return std::unexpected(r.error());
            }
          }
          return store::WorkOutput{};
        },
        [remaining, finished](base::Result<store::WorkOutput>) {
          if (--*remaining == 0) finished->set_value();
        });
  }
  if (all) future.wait_for(std::chrono::seconds(5));
}

// ---- metrics ------------------------------------------------------------------------------

Subscriptions::Stats Subscriptions::stats() const {
  Stats s;
  {
    std::lock_guard lock(mutex_);
    s.subscriptions = entries_.size();
  }
  s.notifications_sent = sent_;
  s.notifications_delivered = delivered_;
  s.notifications_failed = failed_;
  s.changes_dropped = dropped_;
  s.changes_missed = missed_;
  const auto last = feed_.last_seq();
  const auto at = cursor_.load();
  s.matcher_lag = last > at ? last - at : 0;
  return s;
}

std::string Subscriptions::prometheus_text() const {
  const auto s = stats();
  return fmt::format(
      "# HELP cityroom_subscriptions NGSI-LD subscriptions, all tenants.\n"
      "# TYPE cityroom_subscriptions gauge\n"
      "cityroom_subscriptions {}\n"
      "# HELP cityroom_notifications_total Notifications by outcome (sent = handed to a "
      "transport).\n"
      "# TYPE cityroom_notifications_total counter\n"
      "cityroom_notifications_total{{outcome=\"sent\"}} {}\n"
      "cityroom_notifications_total{{outcome=\"delivered\"}} {}\n"
      "cityroom_notifications_total{{outcome=\"failed\"}} {}\n"
      "# HELP cityroom_notification_changes_dropped_total Matching changes not notified because "
      "the endpoint's queue was full.\n"
      "# TYPE cityroom_notification_changes_dropped_total counter\n"
      "cityroom_notification_changes_dropped_total {}\n"
      "# HELP cityroom_subscription_changes_missed_total Changes the matcher could not read "
      "before the feed overwrote them.\n"
      "# TYPE cityroom_subscription_changes_missed_total counter\n"
      "cityroom_subscription_changes_missed_total {}\n"
      "# HELP cityroom_subscription_matcher_lag Changes committed but not yet matched.\n"
      "# TYPE cityroom_subscription_matcher_lag gauge\n"
      "cityroom_subscription_matcher_lag {}\n",
      s.subscriptions, s.notifications_sent, s.notifications_delivered, s.notifications_failed,
      s.changes_dropped, s.changes_missed, s.matcher_lag);
}

}  // namespace cityroom::live
