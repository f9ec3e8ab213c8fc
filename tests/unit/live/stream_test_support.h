// Helpers for the screen-stream tests: a real store + hub + feed + streams, fake sinks with a
// byte budget, and a "screen" that rebuilds its state from the messages like a client would.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "hub/hub.h"
#include "json/json.h"
#include "ldcontext/ldcontext.h"
#include "live/feed.h"
#include "live/stream_query.h"
#include "live/streams.h"
#include "store/store.h"

namespace cityroom::live::testing {

// A client's outgoing queue: refuses a message that would exceed its byte budget.
class FakeSink : public StreamSink {
 public:
  explicit FakeSink(std::size_t budget_bytes = 64 << 20) : budget_(budget_bytes) {}
  bool send(std::string message, std::string event_id) override {
    std::lock_guard lock(mu_);
    if (closed_ || bytes_ + message.size() > budget_) {
      ++refused_;
      return false;
    }
    bytes_ += message.size();
    queue_.emplace_back(std::move(message), std::move(event_id));
    return true;
  }
  std::size_t queued_bytes() const override {
    std::lock_guard lock(mu_);
    return bytes_;
  }
  void close(std::uint16_t code, std::string reason) override {
    std::lock_guard lock(mu_);
    closed_ = true;
    close_code_ = code;
  }
  // Takes every queued message (the transport wrote them out).
  std::vector<std::pair<std::string, std::string>> drain() {
    std::lock_guard lock(mu_);
    std::vector<std::pair<std::string, std::string>> out(queue_.begin(), queue_.end());
    queue_.clear();
    bytes_ = 0;
    return out;
  }
  std::size_t refused() const {
    std::lock_guard lock(mu_);
    return refused_;
  }
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }
  std::uint16_t close_code() const {
    std::lock_guard lock(mu_);
    return close_code_;
  }

 private:
  mutable std::mutex mu_;
  std::deque<std::pair<std::string, std::string>> queue_;
  std::size_t bytes_ = 0;
  const std::size_t budget_;
  std::size_t refused_ = 0;
  bool closed_ = false;
  std::uint16_t close_code_ = 0;
};

// A client's view: per query, the entities by id, rebuilt from snapshot + deltas.
struct Screen {
  struct Query {
    bool have = false;  // got a snapshot (or resume) and is current
    bool resuming = false;  // watched again with `since`: the first delta makes it current
    std::uint64_t since = 0;
    std::uint64_t next_part = 1;  // of a snapshot coming in parts
    std::map<std::string, json::value> entities;
  };
  std::map<std::string, Query> queries;
  std::string epoch;
  std::vector<json::object> log;  // every message, in order
  std::vector<json::object> errors;
  std::string problem;  // the first protocol violation seen
  std::string closed_reason;  // the server ended the stream (credential revoked)

  void apply(const std::string& text) {
    auto v = json::parse(text);
    if (!v || !v->is_object()) {
      if (problem.empty()) problem = "not a JSON object: " + text;
      return;
    }
    const auto& o = v->get_object();
    log.push_back(o);
    const std::string kind(o.at("kind").as_string());
    const auto name = [&] { return std::string(o.at("query").as_string()); };
    if (kind == "snapshot") {
      // In parts (snapshotPart): the first replaces, the others add; current after the last.
      const auto number = [&](const char* k, std::uint64_t dflt) {
        return o.contains(k) ? o.at(k).to_number<std::uint64_t>() : dflt;
      };
      const auto part = number("part", 1), parts = number("parts", 1);
      auto& q = queries[name()];
      if (part == 1) {
        q.entities.clear();
        q.next_part = 1;
      }
      if (part != q.next_part && problem.empty()) problem = "snapshot part out of order: " + text;
      q.next_part = part + 1;
      for (const auto& e : o.at("entities").as_array()) {
        q.entities[std::string(e.as_object().at("id").as_string())] = e;
      }
      q.have = part == parts;
      q.resuming = false;
      q.since = o.at("seq").to_number<std::uint64_t>();
      epoch = std::string(o.at("epoch").as_string());
    } else if (kind == "delta") {
      auto& q = queries[name()];
      if (!q.have && !q.resuming && problem.empty()) {
        problem = "delta before snapshot for " + name();
      }
      const auto seq = o.at("seq").to_number<std::uint64_t>();
      if (seq < q.since && problem.empty()) problem = "delta seq went backwards: " + text;
      q.have = true;
      q.resuming = false;
      for (const auto& e : o.at("upsert").as_array()) {
        q.entities[std::string(e.as_object().at("id").as_string())] = e;
      }
      for (const auto& id : o.at("remove").as_array()) {
        q.entities.erase(std::string(id.as_string()));
      }
      q.since = seq;
    } else if (kind == "heartbeat") {
      epoch = std::string(o.at("epoch").as_string());
      const auto seq = o.at("seq").to_number<std::uint64_t>();
      for (auto& [n, q] : queries) {
        if (q.have) q.since = std::max(q.since, seq);
      }
    } else if (kind == "resync") {
      queries[name()].have = false;
      queries[name()].resuming = false;
    } else if (kind == "error") {
      errors.push_back(o);
    } else if (kind == "closed") {
      closed_reason = std::string(o.at("reason").as_string());
    } else if (problem.empty()) {
      problem = "unknown kind: " + text;
    }
  }
  // Before sending a watch again on a new connection: the query is not current until its
  // snapshot or resume delta arrives. Returns the `since` to send, if any.
  std::optional<std::string> rewatch(const std::string& name) {
    auto& q = queries[name];
    std::optional<std::string> since;
    if (q.have) since = fmt::format("{}:{}", epoch, q.since);
    q.resuming = q.have;
    q.have = false;
    return since;
  }
  void apply_all(FakeSink& sink) {
    for (auto& [m, id] : sink.drain()) apply(m);
  }
  std::vector<std::string> kinds() const {
    std::vector<std::string> out;
    for (const auto& o : log) out.emplace_back(o.at("kind").as_string());
    return out;
  }
};

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            fmt::format("cityroom-stream-test-{}-{}", ::getpid(), counter++);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Store, hub, feed, streams: the real ones.
struct World {
  TempDir dir;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<ldcontext::ContextStore> contexts;
  std::unique_ptr<Feed> feed;
  std::unique_ptr<hub::Hub> hub;
  std::unique_ptr<Streams> streams;

  explicit World(StreamOptions options = {}, std::size_t feed_capacity = 1024) {
    store::SqliteOptions so;
    so.data_dir = dir.path() / "db";
    so.cache_mib = 16;
    so.read_connections = 2;
    auto s = store::open_sqlite(so);
    if (!s) throw std::runtime_error(s.error().detail);
    store = std::move(*s);
    auto c = ldcontext::ContextStore::open({}, dir.path() / "contexts");
    if (!c) throw std::runtime_error(c.error().detail);
    contexts = std::move(*c);
    feed = std::make_unique<Feed>(feed_capacity);
    hub = std::make_unique<hub::Hub>(*store, feed->sink());
    streams = std::make_unique<Streams>(*feed, *hub, *contexts, options);
  }
  ~World() {
    streams->stop();
    feed->stop();
    store->close();
  }

  const ldcontext::Context& core() const { return *contexts->core(); }

  model::Entity entity(std::string_view text) const {
    auto v = json::parse(text);
    if (!v) throw std::runtime_error(v.error().detail);
    model::ParseOptions po;
    po.now = base::now_micros();
    auto e = model::parse_entity(v->as_object(), core(), po);
    if (!e) throw std::runtime_error(e.error().detail);
    return std::move(*e);
  }
  model::Entity fragment(std::string_view text) const {
    auto v = json::parse(text);
    if (!v) throw std::runtime_error(v.error().detail);
    model::ParseOptions po;
    po.mode = model::ParseMode::kFragment;
    po.now = base::now_micros();
    auto e = model::parse_entity(v->as_object(), core(), po);
    if (!e) throw std::runtime_error(e.error().detail);
    return std::move(*e);
  }

  template <class Op>
  base::Result<void> wait(Op op) {
    std::promise<base::Result<void>> p;
    auto f = p.get_future();
    op([&p](base::Result<void> r) { p.set_value(std::move(r)); });
    return f.get();
  }
  base::Result<void> create(std::string_view text, std::string tenant = "") {
    return wait([&](hub::Callback<void> done) { hub->create(tenant, entity(text), done); });
  }
  base::Result<void> merge(std::string id, std::string_view text, std::string tenant = "") {
    return wait([&](hub::Callback<void> done) { hub->merge(tenant, id, fragment(text), done); });
  }
  base::Result<void> replace(std::string id, std::string_view text, std::string tenant = "") {
    return wait([&](hub::Callback<void> done) { hub->replace(tenant, id, entity(text), done); });
  }
  base::Result<void> remove(std::string id, std::string tenant = "") {
    return wait([&](hub::Callback<void> done) { hub->remove(tenant, id, done); });
  }

  // What a fresh GET with the watch's terms returns, rendered like the stream renders it.
  std::map<std::string, json::value> expected(const Watch& w, std::string tenant = "",
                                               const ClientInfo* info = nullptr) const {
    auto plan = stream::build_plan(w, tenant, contexts->core(), info ? info->redact : Redact(),
                                   info ? info->view_key : std::string());
    if (!plan) throw std::runtime_error(plan.error().detail);
    auto r = hub->query(tenant, (*plan)->entity_query(1'000'000));
    if (!r) throw std::runtime_error(r.error().detail);
    std::map<std::string, json::value> out;
    for (const auto& e : r->entities) {
      if (info && info->may_see && !info->may_see(e)) continue;
      auto v = json::parse((*plan)->render_text(e));
      out[std::string(v->as_object().at("id").as_string())] = std::move(*v);
    }
    return out;
  }
};

// Polls `done` (after `step`) until it holds or a generous deadline passes.
template <class Step, class Done>
bool eventually(Step step, Done done, std::chrono::seconds deadline = std::chrono::seconds(60)) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    step();
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  step();
  return done();
}

inline std::string watch_json(std::string_view name, std::string_view members = "") {
  return fmt::format(R"({{"op":"watch","query":"{}"{}{}}})", name, members.empty() ? "" : ",",
                     members);
}

}  // namespace cityroom::live::testing
