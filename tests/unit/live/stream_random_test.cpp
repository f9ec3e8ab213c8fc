// The randomized convergence test: clients with random watches, a writer doing random creates,
// merges, replaces (type changes included) and deletes through the hub, clients that drop at
// random moments (having read only part of what was sent) and come back with their last
// position — often after the small ring has overflowed — and slow clients that get resynced.
// When the writer stops and everyone catches up, each client's state for each watch must
// equal what a fresh query returns. Seeds are fixed and printed on failure.
#include <gtest/gtest.h>

#include <random>

#include <fmt/format.h>

#include "stream_test_support.h"

using namespace cityroom;
using namespace cityroom::live;
using namespace cityroom::live::testing;

namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

const std::vector<Params>& query_pool() {
  static const std::vector<Params> pool = {
      {{"type", "T0"}},
      {{"type", "T0,T1"}},
      {{"q", "n>4"}},
      {{"type", "T1"}, {"q", "n<3"}, {"options", "concise"}},
      {{"georel", "near;maxDistance==2500"}, {"geometry", "Point"},
       {"coordinates", "[127.0,37.5]"}},
      {{"idPattern", "^urn:ngsi-ld:T2:1"}},
      {{"type", "T2"}, {"options", "keyValues"}, {"attrs", "n"}},
      {{"type", "T0|T2"}, {"georel", "within"}, {"geometry", "Polygon"},
       {"coordinates", "[[[126.97,37.47],[127.0,37.47],[127.0,37.53],[126.97,37.53],[126.97,37.47]]]"}},
      {},
      {{"id", "urn:ngsi-ld:T0:1,urn:ngsi-ld:T1:1,urn:ngsi-ld:T2:3"}},
      {{"type", "T1"}, {"q", "n==2|n==7"}, {"options", "keyValues,sysAttrs"}},
  };
  return pool;
}

constexpr int kTypes = 3;
constexpr int kIdsPerType = 12;

struct Client {
  std::shared_ptr<FakeSink> sink;
  ClientId id = 0;
  bool connected = false;
  bool slow = false;
  bool in_parts = false;  // asks for snapshots in parts of 3 (a drop may fall between parts)
  Screen screen;
  std::vector<Watch> watches;
  std::vector<std::string> messages;  // the watch messages, without since
};

std::string watch_message(const std::string& name, const Params& p) {
  json::object o;
  o["op"] = "watch";
  o["query"] = name;
  for (const auto& [k, v] : p) o[k] = v;
  return json::serialize(o);
}

class RandomRun {
 public:
  explicit RandomRun(unsigned seed) : seed_(seed), rng_(seed), world_(options(), 48) {}

  static StreamOptions options() {
    StreamOptions o;
    o.tick = std::chrono::milliseconds(3);
    o.heartbeat_interval = std::chrono::milliseconds(25);
    o.queue_low_water_bytes = 16 * 1024;
    o.resyncs_without_heartbeat_max = 1'000'000;  // this test wants resyncs, not closures
    o.events_per_pass_max = 16;                    // many small batches
    return o;
  }

  void run(int writes) {
    make_clients(6);
    std::atomic<bool> writer_done{false};
    std::thread writer([&] {
      write(writes);
      writer_done = true;
    });
    while (!writer_done) {
      for (auto& c : clients_) step(c);
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    writer.join();
    for (auto& c : clients_) {
      if (!c.connected) connect(c);
    }
    const bool ok = eventually(
        [&] {
          for (auto& c : clients_) {
            if (c.sink->closed()) connect(c);
            c.screen.apply_all(*c.sink);
          }
        },
        [&] { return all_converged(); });
    if (!ok) report();
    EXPECT_TRUE(ok) << "seed " << seed_;
    for (const auto& c : clients_) EXPECT_TRUE(c.screen.problem.empty()) << c.screen.problem;
    std::size_t too_old = 0;
    for (const auto& c : clients_) {
      for (const auto& m : c.screen.log) {
        if (m.at("kind") == "snapshot" && m.contains("reason") &&
            m.at("reason").as_string().find("too old") != std::string::npos) {
          ++too_old;
        }
      }
    }
    const auto s = world_.streams->stats();
    std::cout << fmt::format(
        "seed {}: {} changes, deltas {}, snapshots {} ({} for a too old since), resumes {}, "
        "resyncs {}, refused {}\n",
        seed_, world_.feed->last_seq(), s.deltas_sent, s.snapshots_sent, too_old, s.resumes,
        s.resyncs, s.send_refused);
  }

 private:
  void make_clients(int n) {
    const auto& pool = query_pool();
    for (int i = 0; i < n; ++i) {
      Client c;
      c.slow = i % 3 == 2;
      c.in_parts = i % 2 == 1;
      const int watches = 1 + static_cast<int>(rng_() % 3);
      for (int k = 0; k < watches; ++k) {
        const auto p = rng_() % pool.size();
        const std::string name = fmt::format("w{}", k);
        auto w = parse_watch_params(pool[p]);
        ASSERT_TRUE(w);
        w->query = name;
        c.watches.push_back(*w);
        c.messages.push_back(watch_message(name, pool[p]));
      }
      clients_.push_back(std::move(c));
      connect(clients_.back());
    }
  }

  void connect(Client& c) {
    if (c.connected) world_.streams->close(c.id);
    c.sink = std::make_shared<FakeSink>(c.slow ? 24 * 1024 : 64 << 20);
    c.id = world_.streams->open(c.sink, {});
    c.connected = true;
    for (std::size_t k = 0; k < c.watches.size(); ++k) {
      const auto since = c.screen.rewatch(c.watches[k].query);
      auto o = json::parse(c.messages[k])->as_object();
      if (since) o["since"] = *since;
      if (c.in_parts) o["snapshotPart"] = "3";
      world_.streams->on_message(c.id, json::serialize(o));
    }
  }

  void step(Client& c) {
    const auto roll = rng_() % 100;
    if (!c.connected) {
      if (roll < 15) connect(c);
      return;
    }
    if (c.sink->closed()) {
      connect(c);
      return;
    }
    if (roll < 4) {
      // The connection drops after the client read part of what was sent.
      auto msgs = c.sink->drain();
      const auto keep = msgs.empty() ? 0 : rng_() % (msgs.size() + 1);
      for (std::size_t i = 0; i < keep; ++i) c.screen.apply(msgs[i].first);
      world_.streams->close(c.id);
      c.connected = false;
      return;
    }
    if (!c.slow || roll < 5) c.screen.apply_all(*c.sink);
  }

  std::string id(int type, int n) const { return fmt::format("urn:ngsi-ld:T{}:{}", type, n); }

  void write(int writes) {
    std::mt19937 rng(seed_ * 7919u + 1);
    std::uniform_real_distribution<double> lon(126.96, 127.04), lat(37.46, 37.54);
    for (int i = 0; i < writes; ++i) {
      const int type = static_cast<int>(rng() % kTypes);
      const std::string eid = id(type, static_cast<int>(rng() % kIdsPerType));
      const auto op = rng() % 100;
      const std::string tenant = rng() % 10 == 0 ? "elsewhere" : "";
      std::mt19937 local(rng());
      const auto text = [&](int t) {
        return fmt::format(
            R"({{"id":"{}","type":"T{}","n":{{"type":"Property","value":{}}},
                "location":{{"type":"GeoProperty","value":{{"type":"Point","coordinates":[{:.5f},{:.5f}]}}}}}})",
            eid, t, local() % 10, lon(local), lat(local));
      };
      if (op < 35) {
        (void)world_.create(text(type), tenant);
      } else if (op < 65) {
        (void)world_.merge(eid, fmt::format(R"({{"n":{{"type":"Property","value":{}}}}})", local() % 10),
                           tenant);
      } else if (op < 75) {
        (void)world_.merge(
            eid,
            fmt::format(R"({{"location":{{"type":"GeoProperty","value":{{"type":"Point","coordinates":[{:.5f},{:.5f}]}}}}}})",
                        lon(local), lat(local)),
            tenant);
      } else if (op < 85) {
        (void)world_.replace(eid, text(static_cast<int>(local() % kTypes)), tenant);  // may change type
      } else {
        (void)world_.remove(eid, tenant);
      }
      if (rng() % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 15));
    }
  }

  bool all_converged() {
    for (auto& c : clients_) {
      for (const auto& w : c.watches) {
        const auto& q = c.screen.queries[w.query];
        if (!q.have || q.entities != world_.expected(w)) return false;
      }
    }
    return true;
  }

  void report() {
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      auto& c = clients_[i];
      for (const auto& w : c.watches) {
        const auto& q = c.screen.queries[w.query];
        const auto want = world_.expected(w);
        if (q.have && q.entities == want) continue;
        std::string diff;
        for (const auto& [id, v] : want) {
          auto it = q.entities.find(id);
          if (it == q.entities.end()) {
            diff += " missing " + id;
          } else if (it->second != v) {
            diff += " stale " + id;
          }
        }
        for (const auto& [id, v] : q.entities) {
          if (!want.contains(id)) diff += " extra " + id;
        }
        ADD_FAILURE() << fmt::format("seed {} client {} watch {} ({}): have={} since={}{}", seed_,
                                     i, w.query, c.messages[&w - c.watches.data()], q.have,
                                     q.since, diff);
      }
    }
  }

  unsigned seed_;
  std::mt19937 rng_;
  World world_;
  std::vector<Client> clients_;
};

}  // namespace

TEST(StreamsRandom, ClientsConvergeToTheHubDespiteDropsResumesAndSlowness) {
  for (unsigned seed : {11u, 2024u, 77'777u}) {
    SCOPED_TRACE(fmt::format("seed {}", seed));
    RandomRun run(seed);
    run.run(3000);
    if (HasFailure()) break;
  }
}
