#include "live/streams.h"

#include <pthread.h>

#include <algorithm>

#include <fmt/format.h>

#include "live/stream_protocol.h"
#include "live/stream_query.h"

namespace cityroom::live {

using base::ErrorKind;
using stream::Effect;
using stream::QueryPlan;

namespace {

constexpr std::uint16_t kCloseTryAgainLater = 1013;  // WebSocket close code for "too slow"
constexpr std::uint16_t kClosePolicyViolation = 1008;  // the credential no longer holds

// The last effect per entity id wins: a batch that upserts then removes an entity removes it.
std::vector<Effect> collapse(std::vector<Effect> in) {
  std::vector<bool> keep(in.size(), false);
  {
    std::unordered_map<std::string_view, std::size_t> last;
    for (std::size_t i = 0; i < in.size(); ++i) last[in[i].id] = i;
    for (const auto& [id, i] : last) keep[i] = true;
  }
  std::vector<Effect> out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (keep[i]) out.push_back(std::move(in[i]));
  }
  return out;
}

using MaySee = std::function<bool(const model::Entity&)>;

bool visible(const MaySee* may_see, const model::Entity& e) {
  return !may_see || (*may_see)(e);
}

}  // namespace

struct Streams::Counters {
  std::atomic<std::uint64_t> events{0}, feed_missed{0}, deltas{0}, snapshots{0}, resumes{0},
      resyncs{0}, heartbeats{0}, errors{0}, refused{0}, slow_closed{0}, revoked_closed{0},
      bytes{0};
};

struct Streams::Member {
  std::string name;
  std::string quoted_name;
  std::string head;  // `{"kind":"delta","query":"<name>"`
  Client* client = nullptr;
  Group* group = nullptr;
  std::shared_ptr<const QueryPlan> plan;
  std::size_t snapshot_part = 0;  // the watch's snapshotPart (0: one message)
  bool live = false;  // false: a snapshot/resume is on its way and deltas are buffered
  std::uint64_t generation = 0;
  std::vector<Effect> buffer;
  std::uint64_t buffered_through = 0;  // the last batch buffered
  bool overflowed = false;
  // The feed position the client holds once live: a batch read before the snapshot but
  // delivered after it must not go out again, older than what the client has.
  std::uint64_t position = 0;
};

struct Streams::Client : std::enable_shared_from_this<Streams::Client> {
  ClientId id = 0;
  std::shared_ptr<StreamSink> sink;
  ClientInfo info;  // immutable after open
  ldcontext::ContextPtr context;
  std::mutex mu;  // guards what follows, and every call of the sink
  bool closed = false;
  bool stalled = false;
  std::size_t resyncs_since_heartbeat = 0;
  std::map<std::string, std::unique_ptr<Member>, std::less<>> members;
};

struct Streams::Group {
  std::shared_ptr<const QueryPlan> plan;
  std::vector<Member*> members;
  std::uint64_t stamp = 0;  // the last event seq that met this group (dedupe across type lists)
  struct Item {
    std::uint64_t seq;
    const hub::Change* change;
    bool before, after;  // did the plan match the version before / after the change
    std::shared_ptr<const std::string> rendered;  // after, when it matched
  };
  std::vector<Item> items;  // this batch's
};

struct Streams::Job {
  std::shared_ptr<Client> client;
  std::string name;
  std::uint64_t generation = 0;
  std::optional<std::uint64_t> since;  // resume from the ring after this seq
  std::string reason;                  // for the snapshot, when it replaces something
};

// ---- construction, lifecycle ---------------------------------------------------------------

Streams::Streams(Feed& feed, hub::Hub& hub, ldcontext::ContextStore& contexts,
                 StreamOptions options)
    : feed_(feed),
      hub_(hub),
      contexts_(contexts),
      options_(options),
      cursor_(feed.last_seq()),
      counters_(std::make_unique<Counters>()) {
  fan_out_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "stream-fanout");
    fan_out_loop();
  });
  pthread_setname_np(fan_out_.native_handle(), "stream-fanout");  // for top -H and benches
  const std::size_t workers = std::max<std::size_t>(1, options_.snapshot_threads);
  for (std::size_t i = 0; i < workers; ++i) {
    workers_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "stream-snapshot");
      worker_loop();
    });
    pthread_setname_np(workers_.back().native_handle(), "stream-snapshot");
  }
}

Streams::~Streams() { stop(); }

void Streams::stop() {
  std::lock_guard stop_lock(stop_mu_);
  {
    std::lock_guard lock(jobs_mu_);
    stopping_ = true;
  }
  jobs_cv_.notify_all();
  if (fan_out_.joinable()) fan_out_.join();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  std::lock_guard jobs_lock(jobs_mu_);
  jobs_.clear();  // they hold clients
}

ClientId Streams::open(std::shared_ptr<StreamSink> sink, ClientInfo info) {
  auto c = std::make_shared<Client>();
  c->sink = std::move(sink);
  c->context = info.context ? info.context : contexts_.core();
  c->info = std::move(info);
  std::lock_guard lock(mu_);
  c->id = next_client_++;
  clients_.emplace(c->id, c);
  return c->id;
}

std::shared_ptr<Streams::Client> Streams::find_client(ClientId id) const {
  std::lock_guard lock(mu_);
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : it->second;
}

void Streams::close(ClientId id) {
  std::lock_guard lock(mu_);
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  auto keep = it->second;  // close_client erases the map entry
  close_client(*keep);
}

void Streams::close_client(Client& c) {
  std::lock_guard lock(c.mu);
  c.closed = true;
  while (!c.members.empty()) remove_member(c, c.members.begin()->first);
  clients_.erase(c.id);
}

// ---- client messages -----------------------------------------------------------------------

void Streams::on_message(ClientId id, std::string_view text) {
  auto c = find_client(id);
  if (!c) return;
  if (text.size() > options_.client_message_bytes_max) {
    std::lock_guard lock(c->mu);
    send_error(*c, "", {ErrorKind::kBadRequestData,
                        fmt::format("a stream message may have at most {} bytes",
                                    options_.client_message_bytes_max)});
    return;
  }
  auto msg = stream::parse_client_message(text, options_.query_name_bytes_max);
  if (!msg) {
    std::lock_guard lock(c->mu);
    send_error(*c, msg.error().query, msg.error().error);
    return;
  }
  if (msg->op == stream::ClientMessage::Op::kWatch) return add_watch(c, std::move(msg->watch));
  std::lock_guard lock(mu_);
  std::lock_guard client_lock(c->mu);
  if (c->closed) return;
  if (!c->members.contains(msg->watch.query)) {
    send_error(*c, msg->watch.query,
               {ErrorKind::kResourceNotFound,
                fmt::format("no watch named '{}' on this connection", msg->watch.query)});
    return;
  }
  remove_member(*c, msg->watch.query);
}

void Streams::watch(ClientId id, Watch w) {
  if (auto c = find_client(id)) add_watch(c, std::move(w));
}

void Streams::add_watch(const std::shared_ptr<Client>& c, Watch w) {
  const auto refuse = [&](ErrorKind kind, std::string detail) {
    std::lock_guard lock(c->mu);
    send_error(*c, w.query, {kind, std::move(detail)});
  };
  if (w.query.empty() || w.query.size() > options_.query_name_bytes_max) {
    return refuse(ErrorKind::kBadRequestData,
                  fmt::format("a watch needs a name ('query') of 1 to {} bytes",
                              options_.query_name_bytes_max));
  }
  ldcontext::ContextPtr ctx = c->context;
  if (!w.context.empty()) {
    auto resolved = contexts_.resolve_url(w.context);
    if (!resolved) return refuse(resolved.error().kind, resolved.error().detail);
    ctx = *resolved;
  }
  auto plan = stream::build_plan(w, c->info.tenant, ctx, c->info.redact, c->info.view_key);
  if (!plan) return refuse(plan.error().kind, plan.error().detail);

  std::optional<std::uint64_t> since;
  std::string reason;
  if (w.since) {
    const auto pos = stream::parse_position(*w.since);
    if (!pos) {
      reason = fmt::format("since '{}' is not <epoch>:<seq>", *w.since);
    } else if (pos->epoch != feed_.epoch()) {
      reason = "the server restarted since (another epoch)";
    } else {
      since = pos->seq;
    }
  }

  std::lock_guard lock(mu_);
  std::lock_guard client_lock(c->mu);
  if (c->closed) return;
  const bool replaces = c->members.contains(w.query);
  if (!replaces && c->members.size() >= options_.queries_per_client_max) {
    send_error(*c, w.query,
               {ErrorKind::kBadRequestData,
                fmt::format("too many watches on this connection (at most {}); unwatch one first",
                            options_.queries_per_client_max)});
    return;
  }
  if (replaces) remove_member(*c, w.query);

  auto& slot = groups_[(*plan)->key];
  if (!slot) {
    slot = std::make_unique<Group>();
    slot->plan = *plan;
    auto& tenant = index_[slot->plan->tenant];
    if (slot->plan->index_types) {
      for (const auto& t : *slot->plan->index_types) tenant.by_type[t].push_back(slot.get());
    } else {
      tenant.any_type.push_back(slot.get());
    }
  }
  auto m = std::make_unique<Member>();
  m->name = w.query;
  m->quoted_name = stream::quote_json(w.query);
  m->head = stream::delta_head(m->quoted_name);
  m->client = c.get();
  m->group = slot.get();
  m->plan = slot->plan;  // the shared one: identical watches render once
  m->snapshot_part = w.snapshot_part;
  slot->members.push_back(m.get());
  Member& member = *m;
  c->members.emplace(w.query, std::move(m));
  ++queries_;
  start_catch_up(*c, member, since, std::move(reason));
}

void Streams::remove_member(Client& c, const std::string& name) {
  auto it = c.members.find(name);
  if (it == c.members.end()) return;
  Group* g = it->second->group;
  std::erase(g->members, it->second.get());
  if (g->members.empty()) {
    auto& tenant = index_[g->plan->tenant];
    if (g->plan->index_types) {
      for (const auto& t : *g->plan->index_types) {
        auto& list = tenant.by_type[t];
        std::erase(list, g);
        if (list.empty()) tenant.by_type.erase(t);
      }
    } else {
      std::erase(tenant.any_type, g);
    }
    if (tenant.by_type.empty() && tenant.any_type.empty()) index_.erase(g->plan->tenant);
    groups_.erase(g->plan->key);
  }
  c.members.erase(it);
  --queries_;
}

// ---- sending -------------------------------------------------------------------------------

bool Streams::send(Client& c, std::string message, std::string event_id) {
  if (c.closed || c.stalled) return false;
  const auto bytes = message.size();
  if (!c.sink->send(std::move(message), std::move(event_id))) {
    ++counters_->refused;
    stall(c);
    return false;
  }
  counters_->bytes += bytes;
  return true;
}

void Streams::stall(Client& c) {
  // Everything pending for the client is dropped; it gets a resync and fresh snapshots once its
  // queue drains (check_stalled). Memory stays at what the sink already holds.
  c.stalled = true;
  for (auto& [name, m] : c.members) {
    m->live = false;
    m->generation = next_generation_++;  // a snapshot in flight is now stale
    m->buffer.clear();
    m->buffer.shrink_to_fit();
    m->overflowed = false;
  }
}

void Streams::send_error(Client& c, std::string_view query, const base::Error& e) {
  if (send(c, stream::error_message(query, e), "")) ++counters_->errors;
}

void Streams::start_catch_up(Client& c, Member& m, std::optional<std::uint64_t> since,
                             std::string reason) {
  m.live = false;
  m.generation = next_generation_++;
  m.buffer.clear();
  m.buffered_through = 0;
  m.overflowed = false;
  {
    std::lock_guard lock(jobs_mu_);
    jobs_.push_back(std::make_unique<Job>(
        Job{c.shared_from_this(), m.name, m.generation, since, std::move(reason)}));
  }
  jobs_cv_.notify_one();
}

void Streams::resync_client(Client& c, std::string_view reason) {
  // The resyncs go out before anything else, so that no later heartbeat can make the client
  // believe a query is current when it missed deltas.
  for (auto& [name, m] : c.members) {
    if (!send(c, stream::resync_message(m->quoted_name, reason), "")) return;
  }
  ++c.resyncs_since_heartbeat;
  for (auto& [name, m] : c.members) {
    ++counters_->resyncs;
    start_catch_up(c, *m, std::nullopt, std::string(reason));
  }
}

// ---- the fan-out thread --------------------------------------------------------------------

void Streams::fan_out_loop() {
  using Clock = std::chrono::steady_clock;
  std::vector<Event> events;
  auto next_heartbeat = Clock::now() + options_.heartbeat_interval;
  auto next_check = Clock::now() + options_.tick;
  while (!stopping_) {
    {
      // No screen connected: skip the changes without waking up for each of them. A client
      // that connects meanwhile takes its snapshot position after this, so it misses nothing.
      std::unique_lock lock(mu_);
      if (clients_.empty()) {
        const auto last = feed_.last_seq();
        if (last > cursor_) counters_->events += last - cursor_;  // handled: nobody to tell
        cursor_ = last;
        lock.unlock();
        std::this_thread::sleep_for(options_.tick);
        continue;
      }
    }
    if (!feed_.wait(cursor_, options_.tick)) break;  // the feed was stopped: shutting down
    events.clear();
    const auto missed = feed_.read(cursor_, options_.events_per_pass_max, events);
    const auto now = Clock::now();
    std::lock_guard lock(mu_);
    if (missed > 0) {
      counters_->feed_missed += missed;
      for (auto& [id, c] : clients_) {
        std::lock_guard client_lock(c->mu);
        if (!c->stalled) resync_client(*c, "the server fell behind the change feed");
      }
    }
    if (!events.empty()) {
      dispatch(events);
      cursor_ = events.back().seq;
      counters_->events += events.size();
    }
    if (now >= next_check) {
      check_revoked();
      check_stalled();
      next_check = now + options_.tick;
    }
    if (now >= next_heartbeat) {
      heartbeat_all();
      next_heartbeat = now + options_.heartbeat_interval;
    }
  }
}

void Streams::dispatch(const std::vector<Event>& events) {
  std::vector<Group*> touched;
  std::vector<std::string> types;
  // This event's renderings by render key: groups that differ only in their terms share them.
  std::vector<std::pair<const std::string*, std::shared_ptr<const std::string>>> renderings;
  for (const Event& ev : events) {
    const auto tenant = index_.find(ev.change.tenant);
    if (tenant == index_.end()) continue;
    const hub::Change& ch = ev.change;
    renderings.clear();
    const auto render = [&](const QueryPlan& plan) {
      for (const auto& [key, text] : renderings) {
        if (*key == plan.render_key) return text;
      }
      auto text = std::make_shared<const std::string>(plan.render_text(*ch.after));
      renderings.emplace_back(&plan.render_key, text);
      return text;
    };
    const auto meet = [&](Group* g) {
      if (g->stamp == ev.seq) return;
      g->stamp = ev.seq;
      const bool before = ch.before && g->plan->matches(*ch.before);
      const bool after = ch.after && g->plan->matches(*ch.after);
      if (!before && !after) return;
      std::shared_ptr<const std::string> rendered;
      if (after) rendered = render(*g->plan);
      // A change of attributes hidden from this view alone is no change for it: not even the
      // moment of the change reaches its clients.
      if (before && after && g->plan->redact && *rendered == g->plan->render_text(*ch.before)) {
        return;
      }
      if (g->items.empty()) touched.push_back(g);
      g->items.push_back({ev.seq, &ch, before, after, std::move(rendered)});
    };
    for (Group* g : tenant->second.any_type) meet(g);
    if (tenant->second.by_type.empty()) continue;
    types.clear();
    if (ch.before) types = model::entity_types(*ch.before);
    if (ch.after) {
      for (auto& t : model::entity_types(*ch.after)) types.push_back(std::move(t));
    }
    for (const auto& t : types) {
      const auto it = tenant->second.by_type.find(t);
      if (it == tenant->second.by_type.end()) continue;
      for (Group* g : it->second) meet(g);
    }
  }
  const std::uint64_t through = events.back().seq;
  for (Group* g : touched) {
    deliver(*g, through);
    g->items.clear();
  }
}

namespace {

// What one batch of a group means for one client, from the events after `after_seq`.
template <class Item>
std::vector<Effect> effects_of(const std::vector<Item>& items, const MaySee* may_see,
                               std::uint64_t after_seq = 0) {
  std::vector<Effect> out;
  for (const auto& it : items) {
    if (it.seq <= after_seq) continue;
    const bool after = it.after && visible(may_see, *it.change->after);
    const bool before = it.before && visible(may_see, *it.change->before);
    if (after) {
      out.push_back({it.change->id, it.rendered, it.seq});
    } else if (before) {
      out.push_back({it.change->id, nullptr, it.seq});
    }
  }
  return collapse(std::move(out));
}

}  // namespace

void Streams::deliver(Group& g, std::uint64_t through) {
  std::optional<std::string> shared_tail;  // for every member without a visibility filter
  const std::string id = stream::event_id(feed_.epoch(), through);
  for (Member* m : g.members) {
    Client& c = *m->client;
    std::lock_guard lock(c.mu);
    if (c.closed || c.stalled) continue;
    const MaySee* may_see = c.info.may_see ? &c.info.may_see : nullptr;
    if (!m->live) {
      if (m->overflowed) continue;
      for (auto& e : effects_of(g.items, may_see)) m->buffer.push_back(std::move(e));
      m->buffered_through = through;
      if (m->buffer.size() > options_.catchup_buffer_items_max) {
        m->overflowed = true;  // the snapshot is retaken when it arrives
        m->buffer.clear();
      }
      continue;
    }
    if (through <= m->position) continue;
    std::string tail;
    if (g.items.front().seq <= m->position) {  // partly older than the member's snapshot
      const auto effects = effects_of(g.items, may_see, m->position);
      if (!effects.empty()) tail = stream::delta_tail(through, effects);
    } else if (!may_see) {
      if (!shared_tail) {
        const auto effects = effects_of(g.items, nullptr);
        shared_tail = effects.empty() ? std::string() : stream::delta_tail(through, effects);
      }
      tail = *shared_tail;
    } else {
      const auto effects = effects_of(g.items, may_see);
      if (!effects.empty()) tail = stream::delta_tail(through, effects);
    }
    if (tail.empty()) continue;
    if (send(c, m->head + tail, id)) ++counters_->deltas;
  }
}

void Streams::heartbeat_all() {
  const std::string message = stream::heartbeat_message(feed_.epoch(), cursor_);
  const std::string id = stream::event_id(feed_.epoch(), cursor_);
  for (auto& [cid, c] : clients_) {
    std::lock_guard lock(c->mu);
    if (c->closed || c->stalled) continue;
    // The SSE id only when every query is current: Last-Event-ID must never claim state the
    // client does not have.
    const bool current = !c->members.empty() &&
                         std::all_of(c->members.begin(), c->members.end(),
                                     [](const auto& m) { return m.second->live; });
    if (send(*c, message, current ? id : std::string())) {
      ++counters_->heartbeats;
      c->resyncs_since_heartbeat = 0;
    }
  }
}

void Streams::check_stalled() {
  std::vector<std::shared_ptr<Client>> too_slow;
  for (auto& [id, c] : clients_) {
    std::lock_guard lock(c->mu);
    if (!c->stalled || c->closed) continue;
    if (c->sink->queued_bytes() >= options_.queue_low_water_bytes) continue;
    if (c->resyncs_since_heartbeat >= options_.resyncs_without_heartbeat_max) {
      too_slow.push_back(c);
      continue;
    }
    c->stalled = false;
    resync_client(*c, "the client did not keep up; changes were dropped");
  }
  for (auto& c : too_slow) {
    {
      std::lock_guard lock(c->mu);
      c->sink->close(kCloseTryAgainLater, "too slow: resynced repeatedly without catching up");
    }
    ++counters_->slow_closed;
    close_client(*c);
  }
}

// A revoked key, an ended session or a changed role ends the client's streams at once: a
// `closed` message with the reason, then the transport's close (WebSocket 1008, policy).
void Streams::check_revoked() {
  std::vector<std::pair<std::shared_ptr<Client>, std::string>> revoked;
  for (auto& [id, c] : clients_) {
    if (!c->info.revoked) continue;
    if (auto reason = c->info.revoked()) revoked.emplace_back(c, std::move(*reason));
  }
  for (auto& [c, reason] : revoked) {
    {
      std::lock_guard lock(c->mu);
      if (c->closed) continue;
      send(*c, fmt::format(R"({{"kind":"closed","reason":{}}})", stream::quote_json(reason)), "");
      c->sink->close(kClosePolicyViolation, reason);
    }
    ++counters_->revoked_closed;
    close_client(*c);
  }
}

// ---- snapshots and resumes (the pool) ------------------------------------------------------

void Streams::worker_loop() {
  while (true) {
    std::unique_ptr<Job> job;
    {
      std::unique_lock lock(jobs_mu_);
      jobs_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    run_job(*job);
  }
}

void Streams::run_job(Job& job) {
  Client& c = *job.client;
  const auto current = [&]() -> Member* {
    if (c.closed || c.stalled) return nullptr;
    auto it = c.members.find(job.name);
    if (it == c.members.end() || it->second->generation != job.generation) return nullptr;
    return it->second.get();
  };
  std::shared_ptr<const QueryPlan> plan;
  std::string head, quoted_name;
  std::size_t snapshot_part = 0;
  {
    std::lock_guard lock(c.mu);
    const Member* m = current();
    if (!m) return;
    plan = m->plan;
    head = m->head;
    quoted_name = m->quoted_name;
    snapshot_part = m->snapshot_part;
  }
  const MaySee* may_see = c.info.may_see ? &c.info.may_see : nullptr;

  std::vector<std::string> messages;  // a resume's delta, or the snapshot's part(s)
  std::uint64_t seq = 0;
  bool resumed = false;
  std::string reason = job.reason;
  if (job.since) {
    std::vector<Event> events;
    const std::uint64_t last = feed_.last_seq();
    const std::uint64_t missed =
        *job.since > last ? 0 : feed_.read(*job.since, feed_.capacity(), events);
    if (*job.since > last) {
      reason = fmt::format("since {} is ahead of this server's feed ({})", *job.since, last);
    } else if (missed > 0) {
      reason = fmt::format("since {} is too old: {} of the changes after it are no longer kept",
                           *job.since, missed);
    } else {
      resumed = true;
      seq = events.empty() ? *job.since : events.back().seq;
      std::vector<Effect> effects;
      for (const auto& ev : events) {
        const auto& ch = ev.change;
        if (ch.tenant != plan->tenant) continue;
        const bool after = ch.after && plan->matches(*ch.after) && visible(may_see, *ch.after);
        const bool before =
            ch.before && plan->matches(*ch.before) && visible(may_see, *ch.before);
        if (after) {
          effects.push_back(
              {ch.id, std::make_shared<const std::string>(plan->render_text(*ch.after)), ev.seq});
        } else if (before) {
          effects.push_back({ch.id, nullptr, ev.seq});
        }
      }
      messages.push_back(head + stream::delta_tail(seq, collapse(std::move(effects))));
    }
  }
  if (!resumed) {
    seq = feed_.last_seq();  // taken after the watch was registered: see streams.h
    const auto limit = options_.snapshot_entities_max;
    auto result = hub_.query(plan->tenant, plan->entity_query(limit + 1));
    std::optional<base::Error> error;
    if (!result) {
      error = result.error();
    } else if (result->entities.size() > limit) {
      error = base::Error{ErrorKind::kTooManyResults,
                          fmt::format("the query matches more than {} entities, the most a "
                                      "stream snapshot holds; narrow it (type, q, georel)",
                                      limit)};
    }
    if (error) {
      std::lock_guard lock(mu_);
      std::lock_guard client_lock(c.mu);
      if (!current()) return;
      send_error(c, job.name, *error);
      remove_member(c, job.name);
      return;
    }
    std::vector<std::string> rendered;
    rendered.reserve(result->entities.size());
    for (const auto& e : result->entities) {
      if (visible(may_see, e)) rendered.push_back(plan->render_text(e));
    }
    messages = stream::snapshot_messages(quoted_name, feed_.epoch(), seq, reason, rendered,
                                         snapshot_part);
  }

  std::lock_guard lock(c.mu);
  Member* m = current();
  if (!m) return;
  if (m->overflowed) {
    start_catch_up(c, *m, std::nullopt, "changes arrived faster than the snapshot was read");
    return;
  }
  // Only the last part carries the position: a client that lost the others asks afresh.
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const bool last = i + 1 == messages.size();
    if (!send(c, std::move(messages[i]), last ? stream::event_id(feed_.epoch(), seq) : "")) return;
  }
  ++(resumed ? counters_->resumes : counters_->snapshots);
  // The deltas buffered while reading, past the snapshot's position, in order.
  std::vector<Effect> later;
  for (auto& e : m->buffer) {
    if (e.seq > seq) later.push_back(std::move(e));
  }
  const std::uint64_t through = later.empty() ? seq : std::max(seq, m->buffered_through);
  m->buffer.clear();
  m->live = true;
  m->position = through;
  if (!later.empty()) {
    if (send(c, m->head + stream::delta_tail(through, collapse(std::move(later))),
             stream::event_id(feed_.epoch(), through))) {
      ++counters_->deltas;
    }
  }
}

// ---- metrics -------------------------------------------------------------------------------

StreamStats Streams::stats() const {
  StreamStats s;
  {
    std::lock_guard lock(mu_);
    s.clients = clients_.size();
    s.queries = queries_;
    s.query_groups = groups_.size();
  }
  const auto& k = *counters_;
  s.events = k.events;
  s.feed_missed = k.feed_missed;
  s.deltas_sent = k.deltas;
  s.snapshots_sent = k.snapshots;
  s.resumes = k.resumes;
  s.resyncs = k.resyncs;
  s.heartbeats_sent = k.heartbeats;
  s.errors_sent = k.errors;
  s.send_refused = k.refused;
  s.slow_closed = k.slow_closed;
  s.revoked_closed = k.revoked_closed;
  s.bytes_sent = k.bytes;
  return s;
}

std::string prometheus_text(const StreamStats& s) {
  std::string out;
  const auto metric = [&](std::string_view name, std::string_view type, std::string_view help,
                          std::uint64_t v) {
    out += fmt::format("# HELP cityroom_stream_{} {}\n# TYPE cityroom_stream_{} {}\n"
                       "cityroom_stream_{} {}\n",
                       name, help, name, type, name, v);
  };
  metric("clients", "gauge", "Connected stream clients.", s.clients);
  metric("queries", "gauge", "Watched queries, all clients.", s.queries);
  metric("query_groups", "gauge", "Distinct watched queries (shared evaluation).",
         s.query_groups);
  metric("events_total", "counter", "Feed events fanned out.", s.events);
  metric("feed_missed_total", "counter", "Feed events lost by the fan-out (resync all).",
         s.feed_missed);
  metric("deltas_sent_total", "counter", "Delta messages sent.", s.deltas_sent);
  metric("snapshots_sent_total", "counter", "Snapshot messages sent.", s.snapshots_sent);
  metric("resumes_total", "counter", "Watches resumed from the feed without a snapshot.",
         s.resumes);
  metric("resyncs_total", "counter", "Queries resynced (slow client or feed overrun).",
         s.resyncs);
  metric("heartbeats_sent_total", "counter", "Heartbeat messages sent.", s.heartbeats_sent);
  metric("errors_sent_total", "counter", "Error messages sent.", s.errors_sent);
  metric("send_refused_total", "counter", "Messages a full client queue refused.",
         s.send_refused);
  metric("slow_closed_total", "counter", "Clients closed for not keeping up.", s.slow_closed);
  metric("revoked_closed_total", "counter",
         "Clients closed because their key, session or role was revoked.", s.revoked_closed);
  metric("bytes_sent_total", "counter", "Bytes of messages handed to clients.", s.bytes_sent);
  return out;
}

base::Result<void> check_watch(const Watch& watch, const std::string& tenant,
                               ldcontext::ContextPtr context, ldcontext::ContextStore& contexts) {
  if (!watch.context.empty()) {
    auto resolved = contexts.resolve_url(watch.context);
    if (!resolved) return std::unexpected(resolved.error());
    context = *resolved;
  }
  auto plan = stream::build_plan(watch, tenant, context ? context : contexts.core());
  if (!plan) return std::unexpected(plan.error());
  return {};
}

}  // namespace cityroom::live
