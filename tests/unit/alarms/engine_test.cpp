// The engine inside the process: a real store and hub, the feed, a test clock, and a transport
// that records what would have been sent. The engine's thread is not started: tests call
// drain() and tick() so every step is deterministic.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "alarms/alarms.h"

using namespace cityroom;

namespace {

constexpr base::Micros kSecond = 1'000'000;

class TestClock final : public alarms::Clock {
 public:
  base::Micros now() const override { return now_; }
  base::Micros now_ = 1'800'000'000 * kSecond;
};

class RecordingTransport final : public live::Transport {
 public:
  bool send(live::Notification n, std::function<void(const live::SendOutcome&)> done) override {
    {
      std::lock_guard lock(mutex_);
      sent.push_back(std::move(n));
    }
    done({.delivered = true, .status = 200, .error = "", .at = base::now_micros()});
    return true;
  }
  std::vector<json::object> bodies() {
    std::lock_guard lock(mutex_);
    std::vector<json::object> out;
    for (const auto& n : sent) out.push_back(json::parse(n.body)->as_object());
    return out;
  }
  std::mutex mutex_;
  std::vector<live::Notification> sent;
};

template <class T>
base::Result<T> sync(std::function<void(std::function<void(base::Result<T>)>)> op) {
  std::promise<base::Result<T>> p;
  op([&](base::Result<T> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

constexpr std::string_view kTilt = R"({"id":"bridge-tilt","severity":"major","department":"roads",
  "scope":{"type":"FacilitySensor","q":"facilityKind==\"bridge\""},
  "threshold":{"attribute":"tilt","above":0.5,"clearBelow":0.4},
  "escalation":{"afterSeconds":600}})";

struct Engine : ::testing::Test {
  std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("engine-" + base::random_hex(6));
  std::unique_ptr<store::Store> store;
  std::unique_ptr<ldcontext::ContextStore> contexts;
  std::unique_ptr<live::Feed> feed;
  std::unique_ptr<hub::Hub> hub;
  RecordingTransport transport;
  TestClock clock;
  std::unique_ptr<alarms::Notifier> notifier;
  std::unique_ptr<alarms::Engine> engine;

  void SetUp() override { open(); }
  void TearDown() override {
    close();
    std::filesystem::remove_all(dir);
  }
  void open() {
    store = std::move(*store::open_sqlite({.data_dir = dir}));
    contexts = std::move(*ldcontext::ContextStore::open({}, dir / "contexts"));
    feed = std::make_unique<live::Feed>();
    hub = std::make_unique<hub::Hub>(*store, feed->sink());
    notifier = std::make_unique<alarms::Notifier>(&transport);
    engine = std::make_unique<alarms::Engine>(*hub, *feed, *contexts, *notifier, clock,
                                              alarms::Engine::Options{});
    ASSERT_TRUE(engine->load({}));
  }
  void close() {
    engine->stop();
    notifier->stop();
    barrier();
    engine.reset();
    feed->stop();
    hub.reset();
    store->close();
  }
  // Every write submitted before has committed (the writer is FIFO).
  void barrier() { upsert("urn:ngsi-ld:Barrier:1", "Barrier", R"("n":1)"); }
  void upsert(std::string_view id, std::string_view type, std::string_view attrs) {
    auto text = fmt::format(R"({{"id":"{}","type":"{}",{}}})", id, type, attrs);
    auto e = model::parse_entity(json::parse(text)->as_object(), *contexts->core(),
                                 {.mode = model::ParseMode::kEntity, .now = base::now_micros()});
    ASSERT_TRUE(e) << e.error().detail;
    std::vector<hub::BatchItem> items;
    items.push_back(hub::BatchItem{std::string(id), base::Result<model::Entity>(std::move(*e))});
    auto r = sync<hub::BatchOutcome>(
        [&](auto done) { hub->batch("", hub::BatchKind::kUpsertUpdate, std::move(items), done); });
    ASSERT_TRUE(r && r->errors.empty());
  }
  void tilt(std::string_view sensor, double value) {
    upsert(fmt::format("urn:ngsi-ld:FacilitySensor:{}", sensor), "FacilitySensor",
           fmt::format(R"("facilityKind":"bridge","tilt":{},
                          "location":{{"type":"GeoProperty","value":{{"type":"Point","coordinates":[127.05,37.5]}}}})",
                       value));
  }
  base::Result<json::object> add_rule(std::string_view text) {
    return sync<json::object>(
        [&](auto done) { engine->create_rule("", json::parse(text)->as_object(), done); });
  }
  void add_policy(std::string_view text) {
    auto r = sync<json::object>(
        [&](auto done) { engine->create_policy("", json::parse(text)->as_object(), done); });
    ASSERT_TRUE(r) << r.error().detail;
  }
  json::object only_active() {
    auto list = engine->active("");
    EXPECT_EQ(list.size(), 1u);
    return list.empty() ? json::object{} : list[0].as_object();
  }
  // The Alert entity as the hub stores it, read with the Alert context's short names.
  json::value stored(std::string_view prop, std::string_view alert) {
    barrier();
    auto e = hub->get("", alert);
    EXPECT_TRUE(e && *e) << alert;
    if (!e || !*e) return nullptr;
    for (const auto& [k, v] : **e) {
      if (k.ends_with(std::string("/") + std::string(prop))) {
        return v.as_array()[0].as_object().at("value");
      }
    }
    return nullptr;
  }
  static constexpr std::string_view kAlert =
      "urn:ngsi-ld:Alert:bridge-tilt:urn:ngsi-ld:FacilitySensor:b1";
};

TEST_F(Engine, ABurstOfIdenticalBreachesIsOneAlarmThatCountsThem) {
  ASSERT_TRUE(add_rule(kTilt));
  for (int i = 0; i < 1000; ++i) {
    tilt("b1", 0.7);
    if (i % 97 == 0) engine->drain();  // several passes over the feed, as under load
  }
  engine->drain();
  auto a = only_active();
  EXPECT_EQ(a.at("id").as_string(), kAlert);
  EXPECT_EQ(a.at("count").as_uint64(), 1000u);
  EXPECT_EQ(a.at("status").as_string(), "raised");
  EXPECT_EQ(stored("count", kAlert).to_number<std::uint64_t>(), 1000u);
  EXPECT_EQ(stored("status", kAlert).as_string(), "raised");
  store::EntityQuery q;
  q.any_of_types = std::vector<std::string>{contexts->core()->expand("Alert")};
  q.count = true;
  EXPECT_EQ(*hub->query("", q)->total, 1u);
}

TEST_F(Engine, HysteresisClearsTheAlarmAndALaterBreachRaisesItAgainOnTheSameEntity) {
  ASSERT_TRUE(add_rule(kTilt));
  tilt("b1", 0.6);
  tilt("b1", 0.45);  // inside the band: still raised
  engine->drain();
  EXPECT_EQ(only_active().at("count").as_uint64(), 1u);
  tilt("b1", 0.39);
  engine->drain();
  EXPECT_TRUE(engine->active("").empty());
  EXPECT_EQ(engine->alarm("", kAlert)->at("clearedBy").as_string(), "rule");
  EXPECT_EQ(stored("status", kAlert).as_string(), "cleared");
  tilt("b1", 0.8);
  engine->drain();
  EXPECT_EQ(only_active().at("count").as_uint64(), 1u);
  // The hub keeps every state the Alert went through.
  barrier();
  store::HistoryQuery hq;
  hq.entity_id = kAlert;
  auto h = hub->history("", hq);
  ASSERT_TRUE(h);
  for (const auto& series : *h) {
    if (series.attribute.ends_with("/status")) {
      ASSERT_EQ(series.rows.size(), 3u);
      EXPECT_EQ(series.rows[0].value.as_string(), "raised");
      EXPECT_EQ(series.rows[1].value.as_string(), "cleared");
      EXPECT_EQ(series.rows[2].value.as_string(), "raised");
    }
  }
}

TEST_F(Engine, ManyRulesOnOneTypeEachRaiseOnlyWhenTheirOwnLimitIsReached) {
  // The per-attribute limit index must find exactly the rules a value reaches, both ways.
  for (int i = 1; i <= 20; ++i) {
    ASSERT_TRUE(add_rule(
        fmt::format(R"({{"id":"up-{}","severity":"minor","scope":{{"type":"FacilitySensor"}},
        "threshold":{{"attribute":"tilt","above":{},"clearBelow":{}}}}})",
                    i, i / 10.0, i / 10.0 - 0.05)));
    ASSERT_TRUE(add_rule(
        fmt::format(R"({{"id":"down-{}","severity":"minor","scope":{{"type":"FacilitySensor"}},
        "threshold":{{"attribute":"tilt","atMost":{}}}}})",
                    i, -i / 10.0)));
  }
  tilt("b1", 0.55);
  engine->drain();
  EXPECT_EQ(engine->active("").size(), 5u);  // up-1 … up-5
  tilt("b1", 0.32);                          // up-4, up-5 clear (below 0.35, 0.45); up-1..3 stay
  engine->drain();
  EXPECT_EQ(engine->active("").size(), 3u);
  tilt("b1", -0.7);  // every up clears; down-1 … down-7 raise
  engine->drain();
  auto list = engine->active("");
  ASSERT_EQ(list.size(), 7u);
  for (const auto& a : list) EXPECT_TRUE(a.at("rule").as_string().starts_with("down-"));
  tilt("b1", 0.0);
  engine->drain();
  EXPECT_TRUE(engine->active("").empty());
}

TEST_F(Engine, AcknowledgeAndClearByHand) {
  ASSERT_TRUE(add_rule(kTilt));
  tilt("b1", 0.6);
  engine->drain();
  auto acked = sync<json::object>([&](auto done) {
    engine->acknowledge("", std::string(kAlert), "kim", "crew on the way", done);
  });
  ASSERT_TRUE(acked) << acked.error().detail;
  EXPECT_EQ(acked->at("status").as_string(), "acknowledged");
  EXPECT_EQ(stored("acknowledgedBy", kAlert).as_string(), "kim");
  EXPECT_EQ(stored("note", kAlert).as_string(), "crew on the way");
  // Acknowledged alarms still count repeats.
  tilt("b1", 0.61);
  engine->drain();
  EXPECT_EQ(only_active().at("count").as_uint64(), 2u);
  auto cleared = sync<json::object>([&](auto done) {
    engine->clear("", std::string(kAlert), "kim", "sensor recalibrated", done);
  });
  ASSERT_TRUE(cleared);
  EXPECT_EQ(cleared->at("clearedBy").as_string(), "kim");
  EXPECT_TRUE(engine->active("").empty());
  auto again = sync<json::object>(
      [&](auto done) { engine->clear("", std::string(kAlert), "kim", "", done); });
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, base::ErrorKind::kOperationNotSupported);
  auto missing = sync<json::object>(
      [&](auto done) { engine->acknowledge("", "urn:ngsi-ld:Alert:nope", "kim", "", done); });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, base::ErrorKind::kResourceNotFound);
}

TEST_F(Engine, EscalatesWhenUnacknowledgedForTheSetTimeAndNotifies) {
  ASSERT_TRUE(add_rule(kTilt));
  add_policy(
      R"({"id":"ops","events":["raised","escalated"],"targets":[{"kind":"webhook","uri":"http://127.0.0.1:9/hook"}]})");
  tilt("b1", 0.6);
  engine->drain();
  clock.now_ += 599 * kSecond;
  engine->tick();
  EXPECT_FALSE(only_active().at("escalated").as_bool());
  clock.now_ += 1 * kSecond;
  engine->tick();
  auto a = only_active();
  EXPECT_TRUE(a.at("escalated").as_bool());
  EXPECT_EQ(a.at("severity").as_string(), "critical");  // one step up from major
  EXPECT_TRUE(a.at("speak").as_bool());
  EXPECT_EQ(stored("severity", kAlert).as_string(), "critical");
  engine->tick();  // once only
  auto sent = transport.bodies();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].at("event").as_string(), "raised");
  EXPECT_EQ(sent[1].at("event").as_string(), "escalated");
  EXPECT_EQ(sent[1].at("alarm").at("id").as_string(), kAlert);
}

TEST_F(Engine, AnAcknowledgedAlarmDoesNotEscalate) {
  ASSERT_TRUE(add_rule(kTilt));
  tilt("b1", 0.6);
  engine->drain();
  ASSERT_TRUE(sync<json::object>(
      [&](auto done) { engine->acknowledge("", std::string(kAlert), "kim", "", done); }));
  clock.now_ += 3600 * kSecond;
  engine->tick();
  EXPECT_FALSE(only_active().at("escalated").as_bool());
}

TEST_F(Engine, NotificationsGoWhereThePoliciesSay) {
  ASSERT_TRUE(add_rule(kTilt));
  add_policy(
      R"({"id":"critical-only","severities":["critical"],"targets":[{"kind":"webhook","uri":"http://127.0.0.1:9/critical"}]})");
  add_policy(
      R"({"id":"roads","departments":["roads"],"users":[{"id":"kim"},{"id":"lee","severities":["critical"]}],
                 "targets":[{"kind":"mqtt","uri":"mqtt://127.0.0.1:9/city/alarms"}]})");
  tilt("b1", 0.6);
  engine->drain();
  ASSERT_EQ(transport.sent.size(), 1u);
  EXPECT_EQ(transport.sent[0].uri, "mqtt://127.0.0.1:9/city/alarms");
  auto body = transport.bodies()[0];
  EXPECT_EQ(body.at("policy").as_string(), "roads");
  EXPECT_EQ(body.at("recipients").as_array(), (json::array{"kim"}));
  EXPECT_EQ(body.at("alarm").at("severity").as_string(), "major");
  // Repeats are not news: no notification per breaching message.
  tilt("b1", 0.7);
  tilt("b1", 0.8);
  engine->drain();
  EXPECT_EQ(transport.sent.size(), 1u);
  tilt("b1", 0.1);
  engine->drain();
  ASSERT_EQ(transport.sent.size(), 2u);
  EXPECT_EQ(transport.bodies()[1].at("event").as_string(), "cleared");
}

TEST_F(Engine, TheCommandGatewayGetsTheAlarmOnStdin) {
  const auto out = dir / "sms.json";
  ASSERT_TRUE(add_rule(kTilt));
  add_policy(fmt::format(
      R"({{"id":"sms","targets":[{{"kind":"command","command":["/bin/sh","-c","cat > {}"]}}]}})",
      out.string()));
  tilt("b1", 0.6);
  engine->drain();
  notifier->stop();  // drains the command queue
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto doc = json::parse(text);
  ASSERT_TRUE(doc) << text;
  EXPECT_EQ(doc->at("alarm").at("id").as_string(), kAlert);
  EXPECT_EQ(notifier->stats().delivered, 1u);
}

TEST_F(Engine, SilentSensorsRaiseAfterNPeriodsOnTheTestClock) {
  tilt("quiet", 0.1);  // exists before the rule: watched from the rule's start
  ASSERT_TRUE(add_rule(R"({"id":"silent","severity":"warning","scope":{"type":"FacilitySensor"},
                           "absence":{"periodSeconds":60,"periods":5}})"));
  engine->drain();
  clock.now_ += 300 * kSecond;
  engine->tick();
  EXPECT_TRUE(engine->active("").empty());
  clock.now_ += 1 * kSecond;
  engine->tick();
  auto a = only_active();
  EXPECT_EQ(a.at("originator").as_string(), "urn:ngsi-ld:FacilitySensor:quiet");
  EXPECT_EQ(a.at("lastValue").to_number<double>(), 301.0);
  tilt("quiet", 0.1);
  engine->drain();
  EXPECT_TRUE(engine->active("").empty());
}

TEST_F(Engine, RulesAreVersionedAndABadRuleStoresNothing) {
  auto bad = add_rule(R"({"id":"broken","severity":"major","scope":{"type":"FacilitySensor"},
                          "threshold":{"attribute":"tilt","above":"x"}})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, base::ErrorKind::kBadRequestData);
  EXPECT_TRUE(store->records(alarms::kRuleRecordKind)->empty());
  auto v1 = add_rule(kTilt);
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->at("version").as_uint64(), 1u);
  auto changed = json::parse(kTilt)->as_object();
  changed["severity"] = "critical";
  auto v2 = sync<json::object>(
      [&](auto done) { engine->replace_rule("", "bridge-tilt", changed, 1, done); });
  ASSERT_TRUE(v2) << v2.error().detail;
  EXPECT_EQ(v2->at("version").as_uint64(), 2u);
  auto stale = sync<json::object>(
      [&](auto done) { engine->replace_rule("", "bridge-tilt", changed, 1, done); });
  ASSERT_FALSE(stale);
  EXPECT_NE(stale.error().detail.find("version conflict"), std::string::npos);
  EXPECT_EQ(engine->rule("", "bridge-tilt", 1)->at("severity").as_string(), "major");
  EXPECT_EQ(engine->rule("", "bridge-tilt", std::nullopt)->at("severity").as_string(), "critical");
  // Survives a restart.
  close();
  open();
  EXPECT_EQ(engine->rule("", "bridge-tilt", std::nullopt)->at("version").as_uint64(), 2u);
}

TEST_F(Engine, ActiveAlarmsSurviveARestart) {
  ASSERT_TRUE(add_rule(kTilt));
  tilt("b1", 0.6);
  tilt("b1", 0.6);
  engine->drain();
  close();
  open();
  auto a = only_active();
  EXPECT_EQ(a.at("count").as_uint64(), 2u);
  tilt("b1", 0.6);
  engine->drain();
  EXPECT_EQ(only_active().at("count").as_uint64(), 3u);  // the same alarm goes on counting
}

TEST_F(Engine, ShippedRuleFilesLoadAndAStoredEditWins) {
  const auto rules_dir = dir / "rules";
  std::filesystem::create_directories(rules_dir);
  std::ofstream(rules_dir / "bridges.json") << "{\"rules\":[" << kTilt << "]}";
  close();
  open();
  ASSERT_TRUE(engine->load(rules_dir));
  EXPECT_EQ(engine->rule("", "bridge-tilt", std::nullopt)->at("source").as_string(),
            "bridges.json");
  std::ofstream(rules_dir / "broken.json") << "{\"rules\":[{\"id\":\"x\"}]}";
  auto r = engine->load(rules_dir);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("broken.json"), std::string::npos);
}

}  // namespace
