// live/streams: screens as live queries. A connected client (a wall, a tablet, a phone) watches
// one or more NGSI-LD queries; for each it receives a snapshot of the matching entities, then
// deltas (upserts and removals) numbered by the feed's sequence, plus heartbeats with the feed
// position. The wire protocol is written down in docs/STREAMS.md.
//
// Invariants
// - A client's state for a query, rebuilt from snapshot + deltas, converges to what a store
//   query with the same terms returns: every query is registered (its deltas buffered) before
//   the snapshot's position S is taken and the store read, and the buffered deltas past S follow
//   the snapshot. Deltas carry whole entities, so replaying one the snapshot already reflects is
//   harmless.
// - Never a silent gap: a resume (`since`) replays exactly the changes the client missed from
//   the feed's ring, or answers with a fresh snapshot (and a reason) when they are gone. A
//   client that cannot keep up (its sink refuses a message) gets nothing until its queue drains
//   below the low-water mark, then a `resync` for every query followed by a fresh snapshot. So
//   server memory per client is bounded by the sink's queue budget, not by the client's speed.
// - `may_see` (the access-control seam) filters every entity a client receives, in snapshots
//   and deltas alike.
//
// Threads: ONE fan-out thread reads the feed and evaluates/renders each change once per group
// of identical watches (same tenant, terms, @context and options), then sends the same bytes to
// every member with only the query name spliced in; watches are indexed by (tenant, expanded
// type) so a change meets only the watches that could match it. Snapshot and resume reads run on
// a small pool (`snapshot_threads`), never on the fan-out thread or the caller's (network)
// thread. `open`, `on_message`, `watch`, `close` and `stats` may be called from any thread;
// none blocks on a client. Sinks are called with a per-client lock held and must not call back
// into Streams.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/base.h"
#include "hub/hub.h"
#include "ldcontext/ldcontext.h"
#include "live/feed.h"
#include "live/viewer.h"
#include "model/model.h"

namespace cityroom::live {

// One connected client, as the transport (WebSocket or SSE channel) presents it.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Never blocks. False when the client's outgoing queue is full (or it is gone): nothing queued.
  virtual bool send(std::string message, std::string event_id) = 0;  // event_id: "<epoch>:<seq>"
  virtual std::size_t queued_bytes() const = 0;
  virtual void close(std::uint16_t code, std::string reason) = 0;
};

// Who is connected. Fixed for the life of the connection.
struct ClientInfo {
  std::string tenant;              // NGSILD-Tenant ("" = default)
  ldcontext::ContextPtr context;   // from the Link header / URL; null = the core context
  std::string remote;              // for logs
  // The access-control seam; null = all. Called from the fan-out and snapshot threads, possibly
  // at the same time: it must be thread-safe and quick (it runs for every change the client's
  // watches match).
  std::function<bool(const model::Entity&)> may_see;
  // Per-attribute visibility: the entity as the client may see it (watch terms and renderings
  // see only that); null = whole. Clients with equal `view_key`s redact alike and share one
  // rendering per change.
  Redact redact;
  std::string view_key;
  // Why the client's credential no longer holds (key revoked, logged out, role changed);
  // nullopt while it does. Asked every tick: the client is then sent a `closed` message and
  // closed (WebSocket code 1008). Null = never revoked.
  std::function<std::optional<std::string>()> revoked;
};

// A watch as the client wrote it: NGSI-LD query parameters as strings, terms not yet expanded.
// Empty strings mean "absent".
struct Watch {
  std::string query;  // the client's name for it; unique per connection
  std::string type, id, id_pattern, q, scope_q;
  std::string georel, geometry, coordinates, geoproperty;
  std::string attrs;    // comma-separated terms: rendered attributes; an entity must have one
  std::string options;  // comma-separated: keyValues|simplified|concise|normalized, sysAttrs
  std::string lang;
  std::string context;  // optional @context URL overriding the connection's
  std::optional<std::string> since;  // "<epoch>:<seq>" to resume
  // WebSocket only ("snapshotPart"): at most this many entities per snapshot message, the
  // snapshot then coming in parts; 0: one message. Not offered on SSE, where a reconnect
  // resumes from the last event id and could not ask again for the parts it missed.
  std::size_t snapshot_part = 0;
};

// Builds a watch from URL query parameters (SSE: GET ...?type=..&q=..); names as in the JSON
// message ("query" defaults to "default"; "since" may also come from Last-Event-ID, which the
// caller then sets on the result). Errors: BadRequestData naming an unknown or repeated
// parameter.
base::Result<Watch> parse_watch_params(
    const std::vector<std::pair<std::string, std::string>>& params);

// What a watch would be refused with, checked before any stream starts (SSE answers a bad query
// with 400 instead of an error event on a stream that then idles). `context` is the client's.
base::Result<void> check_watch(const Watch& watch, const std::string& tenant,
                               ldcontext::ContextPtr context, ldcontext::ContextStore& contexts);

struct StreamOptions {
  std::size_t snapshot_entities_max = 20'000;  // over → TooManyResults error for the watch
  std::chrono::milliseconds heartbeat_interval{15'000};
  std::chrono::milliseconds tick{100};          // how often stalled clients are looked at
  std::size_t queue_low_water_bytes = 256 * 1024;  // a stalled client resyncs below this
  std::size_t queries_per_client_max = 32;
  std::size_t query_name_bytes_max = 256;
  std::size_t client_message_bytes_max = 64 * 1024;
  std::size_t events_per_pass_max = 256;  // feed events per delta batch: bounds its latency
  // Deltas kept per watch while its snapshot is read; beyond, the snapshot is read again.
  std::size_t catchup_buffer_items_max = 10'000;
  std::size_t snapshot_threads = 1;
  std::size_t resyncs_without_heartbeat_max = 8;  // then the client is closed as too slow
};

struct StreamStats {
  std::uint64_t clients = 0;
  std::uint64_t queries = 0;        // watches, all clients
  std::uint64_t query_groups = 0;   // distinct (tenant, terms, context, options)
  std::uint64_t events = 0;         // feed events fanned out
  std::uint64_t feed_missed = 0;    // events the fan-out cursor lost to the ring (→ resync all)
  std::uint64_t deltas_sent = 0;
  std::uint64_t snapshots_sent = 0;
  std::uint64_t resumes = 0;        // watches resumed from the ring without a snapshot
  std::uint64_t resyncs = 0;
  std::uint64_t heartbeats_sent = 0;
  std::uint64_t errors_sent = 0;
  std::uint64_t send_refused = 0;   // sink->send returned false (client stalled)
  std::uint64_t slow_closed = 0;    // clients closed for resyncing too often
  std::uint64_t revoked_closed = 0;  // clients closed because their credential was revoked
  std::uint64_t bytes_sent = 0;
};

// Prometheus text exposition of `stats` (cityroom_stream_* metrics).
std::string prometheus_text(const StreamStats& stats);

using ClientId = std::uint64_t;

class Streams {
 public:
  // Starts the fan-out thread (its cursor starts at feed.last_seq()) and the snapshot pool.
  Streams(Feed& feed, hub::Hub& hub, ldcontext::ContextStore& contexts,
          StreamOptions options = {});
  ~Streams();  // stop()
  Streams(const Streams&) = delete;
  Streams& operator=(const Streams&) = delete;

  // A client connected. Nothing is sent until it watches.
  ClientId open(std::shared_ptr<StreamSink> sink, ClientInfo info);
  // A text message from the client (WebSocket). Bad input is answered with an error message.
  void on_message(ClientId client, std::string_view text);
  // Starts a watch directly (SSE: one watch made with parse_watch_params). Errors are sent.
  void watch(ClientId client, Watch watch);
  // The transport is gone: forget the client (its sink is not called again).
  void close(ClientId client);
  // Joins the threads: no more deltas, snapshots or heartbeats. Idempotent. The owner may also
  // stop the feed (the fan-out then ends by itself).
  void stop();

  StreamStats stats() const;

  struct Client;
  struct Member;
  struct Group;
  struct Job;
  struct Counters;

 private:
  struct TenantIndex {
    std::unordered_map<std::string, std::vector<Group*>> by_type;  // expanded type IRI
    std::vector<Group*> any_type;
  };

  void fan_out_loop();
  void dispatch(const std::vector<Event>& events);
  void deliver(Group& g, std::uint64_t through);
  void heartbeat_all();
  void check_stalled();
  void check_revoked();
  void resync_client(Client& c, std::string_view reason);  // c.mu held
  void start_catch_up(Client& c, Member& m, std::optional<std::uint64_t> since,
                      std::string reason);  // c.mu held; queues a job
  void remove_member(Client& c, const std::string& name);  // mu_ and c.mu held
  void close_client(Client& c);                            // mu_ held
  bool send(Client& c, std::string message, std::string event_id);  // c.mu held
  void stall(Client& c);                                             // c.mu held
  void send_error(Client& c, std::string_view query, const base::Error& e);  // c.mu held
  void add_watch(const std::shared_ptr<Client>& c, Watch w);
  std::shared_ptr<Client> find_client(ClientId id) const;

  void worker_loop();
  void run_job(Job& job);

  Feed& feed_;
  hub::Hub& hub_;
  ldcontext::ContextStore& contexts_;
  const StreamOptions options_;

  // Registry: clients, watch groups and the index. Lock order: mu_ before any Client::mu.
  mutable std::mutex mu_;
  std::unordered_map<ClientId, std::shared_ptr<Client>> clients_;
  std::unordered_map<std::string, std::unique_ptr<Group>> groups_;  // by key
  std::unordered_map<std::string, TenantIndex> index_;              // by tenant
  ClientId next_client_ = 1;
  std::uint64_t queries_ = 0;
  std::uint64_t cursor_ = 0;  // last feed seq fanned out; the fan-out thread's alone
  std::atomic<std::uint64_t> next_generation_{1};  // tells a current catch-up from a stale one

  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<std::unique_ptr<Job>> jobs_;

  std::unique_ptr<Counters> counters_;
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::thread fan_out_;
  std::vector<std::thread> workers_;
};

}  // namespace cityroom::live
