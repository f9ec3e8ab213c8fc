// Subscriptions end to end inside the process: a real store and hub, the feed, and a transport
// that records what would have been sent.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>

#include <fmt/format.h>

#include "live/subscriptions.h"

using namespace cityroom;
using namespace std::chrono_literals;

namespace {

class RecordingTransport final : public live::Transport {
 public:
  bool send(live::Notification n, std::function<void(const live::SendOutcome&)> done) override {
    std::lock_guard lock(mutex_);
    if (refuse) return false;
    sent_.push_back(std::move(n));
    // Outcomes arrive later, from another thread, as the contract says.
    outcomes_.push_back(std::async(std::launch::async, [done, fail = fail_outcomes] {
      done({.delivered = !fail, .status = fail ? 500 : 200,
            .error = fail ? "HTTP 500" : "", .at = base::now_micros()});
    }));
    cv_.notify_all();
    return true;
  }
  // The next notification, or nullopt after a generous deadline.
  std::optional<live::Notification> next() {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, 20s, [&] { return !sent_.empty(); })) return std::nullopt;
    auto n = std::move(sent_.front());
    sent_.pop_front();
    return n;
  }
  std::size_t pending() {
    std::lock_guard lock(mutex_);
    return sent_.size();
  }
  void wait_outcomes() {
    std::lock_guard lock(mutex_);
    for (auto& f : outcomes_) f.wait();
  }
  bool refuse = false;
  bool fail_outcomes = false;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<live::Notification> sent_;
  std::vector<std::future<void>> outcomes_;
};

template <class T = void>
base::Result<T> sync(std::function<void(std::function<void(base::Result<T>)>)> op) {
  std::promise<base::Result<T>> p;
  op([&](base::Result<T> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

struct Fixture : ::testing::Test {
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                              ("subs-" + base::random_hex(6));
  std::unique_ptr<store::Store> store;
  std::unique_ptr<ldcontext::ContextStore> contexts;
  std::unique_ptr<live::Feed> feed;
  std::unique_ptr<hub::Hub> hub;
  RecordingTransport transport;
  std::unique_ptr<live::Subscriptions> subs;

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
    subs = std::make_unique<live::Subscriptions>(*hub, *feed, *contexts, transport,
                                                 live::Subscriptions::Options{.tick = 20ms});
    ASSERT_TRUE(subs->load());
    subs->start();
  }
  void close() {
    if (subs) subs->stop();
    feed->stop();
    subs.reset();
    hub.reset();
    store->close();
  }

  base::Result<void> subscribe(std::string_view body) {
    auto parsed = live::parse_subscription(json::parse(body)->as_object(), "",
                                           *contexts->core(), base::now_micros());
    if (!parsed) return std::unexpected(parsed.error());
    return sync<void>([&](auto done) { subs->create(std::move(*parsed), done); });
  }
  void upsert(std::string_view id, double tilt, std::string_view extra = "") {
    auto text = fmt::format(R"({{"id":"{}","type":"Bridge","tilt":{{"type":"Property","value":{}}}{}}})",
                            id, tilt, extra);
    auto e = model::parse_entity(json::parse(text)->as_object(), *contexts->core(),
                                 {model::ParseMode::kEntity, false, base::now_micros()});
    ASSERT_TRUE(e) << e.error().detail;
    std::vector<hub::BatchItem> items;
    items.push_back(hub::BatchItem{std::string(id), base::Result<model::Entity>(std::move(*e))});
    auto r = sync<hub::BatchOutcome>([&](auto done) {
      hub->batch("", hub::BatchKind::kUpsertUpdate, std::move(items), done);
    });
    ASSERT_TRUE(r && r->errors.empty());
  }
  void remove(std::string_view id) {
    ASSERT_TRUE(sync<void>([&](auto done) { hub->remove("", std::string(id), done); }));
  }
  static json::object body_of(const live::Notification& n) {
    return json::parse(n.body)->as_object();
  }
};

constexpr std::string_view kBridgeSub = R"({"id":"urn:ngsi-ld:Subscription:b","type":"Subscription",
  "entities":[{"type":"Bridge"}],
  "notification":{"endpoint":{"uri":"http://127.0.0.1:9/notify",
    "receiverInfo":[{"key":"X-City","value":"gangnam"}]}}})";

}  // namespace

TEST_F(Fixture, ACreatedEntityIsNotifiedWithTheSpecsEnvelopeAndHeaders) {
  ASSERT_TRUE(subscribe(kBridgeSub));
  upsert("urn:ngsi-ld:Bridge:1", 0.2);
  auto n = transport.next();
  ASSERT_TRUE(n);
  EXPECT_EQ(n->uri, "http://127.0.0.1:9/notify");
  auto body = body_of(*n);
  EXPECT_EQ(body.at("type"), "Notification");
  EXPECT_EQ(body.at("subscriptionId"), "urn:ngsi-ld:Subscription:b");
  EXPECT_TRUE(body.at("notifiedAt").is_string());
  const auto& data = body.at("data").as_array();
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0].at("id"), "urn:ngsi-ld:Bridge:1");
  EXPECT_EQ(data[0].at("tilt").at("value"), 0.2);
  bool has_receiver_info = false, has_link = false;
  for (const auto& [k, v] : n->headers) {
    if (k == "X-City" && v == "gangnam") has_receiver_info = true;
    if (k == "link" && v.find(ldcontext::kCoreContextUrl) != std::string::npos) has_link = true;
  }
  EXPECT_TRUE(has_receiver_info);
  EXPECT_TRUE(has_link);
}

TEST_F(Fixture, OnlyWatchedAttributesAndMatchingQFireAndOrderIsKept) {
  ASSERT_TRUE(subscribe(R"({"id":"urn:ngsi-ld:Subscription:w","type":"Subscription",
    "entities":[{"type":"Bridge"}],"watchedAttributes":["tilt"],"q":"tilt>0.5",
    "notification":{"format":"keyValues","endpoint":{"uri":"http://127.0.0.1:9/n"}}})"));
  upsert("urn:ngsi-ld:Bridge:1", 0.1);                                     // q false
  upsert("urn:ngsi-ld:Bridge:1", 0.1, R"(,"name":{"type":"Property","value":"a"})");  // unwatched
  upsert("urn:ngsi-ld:Bridge:1", 0.7);                                     // fires
  auto n = transport.next();
  ASSERT_TRUE(n);
  const auto body = body_of(*n);
  const auto& data = body.at("data").as_array();
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0].at("tilt"), 0.7);  // keyValues
  EXPECT_EQ(transport.pending(), 0u);
}

TEST_F(Fixture, EntityDeletedSendsIdTypeAndDeletedAt) {
  ASSERT_TRUE(subscribe(R"({"id":"urn:ngsi-ld:Subscription:d","type":"Subscription",
    "entities":[{"type":"Bridge"}],"notificationTrigger":["entityDeleted"],
    "notification":{"endpoint":{"uri":"http://127.0.0.1:9/n"}}})"));
  upsert("urn:ngsi-ld:Bridge:1", 0.1);
  remove("urn:ngsi-ld:Bridge:1");
  auto n = transport.next();
  ASSERT_TRUE(n);
  const auto body = body_of(*n);
  const auto& e = body.at("data").as_array().at(0).as_object();
  EXPECT_EQ(e.at("id"), "urn:ngsi-ld:Bridge:1");
  EXPECT_EQ(e.at("type"), "Bridge");
  EXPECT_TRUE(e.contains("deletedAt"));
  EXPECT_FALSE(e.contains("tilt"));
}

TEST_F(Fixture, ThrottlingAndPausedSubscriptionsHoldBack) {
  ASSERT_TRUE(subscribe(R"({"id":"urn:ngsi-ld:Subscription:t","type":"Subscription",
    "entities":[{"type":"Bridge"}],"throttling":3600,
    "notification":{"endpoint":{"uri":"http://127.0.0.1:9/n"}}})"));
  ASSERT_TRUE(subscribe(R"({"id":"urn:ngsi-ld:Subscription:p","type":"Subscription",
    "entities":[{"type":"Bridge"}],"isActive":false,
    "notification":{"endpoint":{"uri":"http://127.0.0.1:9/paused"}}})"));
  upsert("urn:ngsi-ld:Bridge:1", 0.1);
  auto first = transport.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->subscription_id, "urn:ngsi-ld:Subscription:t");
  upsert("urn:ngsi-ld:Bridge:1", 0.2);
  // A third subscription created now proves the matcher has passed the second update.
  ASSERT_TRUE(subscribe(R"({"id":"urn:ngsi-ld:Subscription:probe","type":"Subscription",
    "entities":[{"type":"Bridge"}],"notification":{"endpoint":{"uri":"http://127.0.0.1:9/probe"}}})"));
  upsert("urn:ngsi-ld:Bridge:1", 0.3);
  auto probe = transport.next();
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->subscription_id, "urn:ngsi-ld:Subscription:probe");
  EXPECT_EQ(transport.pending(), 0u);
  auto view = subs->get("", "urn:ngsi-ld:Subscription:p");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->subscription.state(base::now_micros()), "paused");
}

// The owner's view (access control's seam): an owner who may not see `secret` gets entities
// without it, and neither watchedAttributes nor q on it ever fire for them.
TEST_F(Fixture, AnOwnerNeverLearnsAnAttributeHiddenFromIt) {
  const std::string secret = std::string(ldcontext::kDefaultVocab) + "secret";
  subs->set_scope_filter([secret](std::string_view scope, std::string_view) {
    live::Viewer v;
    if (scope != "public") return v;
    v.may_see = [](const model::Entity&) { return true; };
    v.redact = [secret](const model::Entity& e) -> std::optional<model::Entity> {
      if (!e.contains(secret)) return std::nullopt;
      model::Entity out = e;
      out.erase(secret);
      return out;
    };
    v.view_key = "public";
    return v;
  });
  const auto owned = [&](std::string_view body, std::string scope) {
    auto parsed = live::parse_subscription(json::parse(body)->as_object(), "", *contexts->core(),
                                           base::now_micros());
    EXPECT_TRUE(parsed);
    parsed->owner_scope = std::move(scope);
    return sync<void>([&](auto done) { subs->create(std::move(*parsed), done); });
  };
  ASSERT_TRUE(owned(R"({"id":"urn:ngsi-ld:Subscription:all","type":"Subscription",
    "entities":[{"type":"Bridge"}],"notification":{"format":"keyValues",
    "endpoint":{"uri":"http://127.0.0.1:9/all"}}})", "public"));
  ASSERT_TRUE(owned(R"({"id":"urn:ngsi-ld:Subscription:watch","type":"Subscription",
    "entities":[{"type":"Bridge"}],"watchedAttributes":["secret"],
    "notification":{"endpoint":{"uri":"http://127.0.0.1:9/watch"}}})", "public"));
  ASSERT_TRUE(owned(R"({"id":"urn:ngsi-ld:Subscription:q","type":"Subscription",
    "entities":[{"type":"Bridge"}],"q":"secret==2",
    "notification":{"endpoint":{"uri":"http://127.0.0.1:9/q"}}})", "public"));
  upsert("urn:ngsi-ld:Bridge:1", 0.1, R"(,"secret":{"type":"Property","value":1})");
  auto n = transport.next();
  ASSERT_TRUE(n);
  EXPECT_EQ(n->uri, "http://127.0.0.1:9/all");
  EXPECT_EQ(n->body.find("secret"), std::string::npos) << n->body;
  // Only the hidden attribute changes: nothing is notified to the public owner. A staff-owned
  // subscription watching it proves the matcher has passed the change.
  ASSERT_TRUE(owned(R"({"id":"urn:ngsi-ld:Subscription:staff","type":"Subscription",
    "entities":[{"type":"Bridge"}],"watchedAttributes":["secret"],
    "notification":{"endpoint":{"uri":"http://127.0.0.1:9/staff"}}})", "staff"));
  auto fragment = model::parse_entity(
      json::parse(R"({"secret":{"type":"Property","value":2}})")->as_object(), *contexts->core(),
      {model::ParseMode::kFragment, false, base::now_micros()});
  ASSERT_TRUE(fragment) << fragment.error().detail;
  ASSERT_TRUE(sync<void>([&](auto done) {
    hub->merge("", "urn:ngsi-ld:Bridge:1", std::move(*fragment), done);
  }));
  auto probe = transport.next();
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->uri, "http://127.0.0.1:9/staff");
  EXPECT_NE(probe->body.find("secret"), std::string::npos);
  EXPECT_EQ(transport.pending(), 0u) << "no public notification of a hidden change";
}

TEST_F(Fixture, PeriodicSubscriptionsSendTheCurrentMatches) {
  upsert("urn:ngsi-ld:Bridge:1", 0.4);
  ASSERT_TRUE(subscribe(R"({"id":"urn:ngsi-ld:Subscription:i","type":"Subscription",
    "entities":[{"type":"Bridge"}],"timeInterval":1,
    "notification":{"endpoint":{"uri":"http://127.0.0.1:9/n"}}})"));
  auto n = transport.next();
  ASSERT_TRUE(n);
  EXPECT_EQ(body_of(*n).at("data").as_array().at(0).at("id"), "urn:ngsi-ld:Bridge:1");
}

TEST_F(Fixture, RefusedSendsAreCountedNotLost) {
  ASSERT_TRUE(subscribe(kBridgeSub));
  transport.refuse = true;
  upsert("urn:ngsi-ld:Bridge:1", 0.2);
  upsert("urn:ngsi-ld:Bridge:2", 0.2);
  // Both changes are counted whether they were refused together in one notification or the
  // second was not even rendered (the subscription pauses after a refusal).
  for (int i = 0; i < 2000 && subs->stats().changes_dropped < 2; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  auto view = subs->get("", "urn:ngsi-ld:Subscription:b");
  ASSERT_TRUE(view);
  EXPECT_EQ(view->subscription.status.dropped, 2u);
  auto rendered = live::render_subscription(view->subscription, *view->context,
                                            *contexts->core(), base::now_micros());
  EXPECT_TRUE(rendered.at("notification").as_object().contains("timesDropped"));
  EXPECT_NE(subs->prometheus_text().find("cityroom_notification_changes_dropped_total 2"),
            std::string::npos);
}

TEST_F(Fixture, SubscriptionsAndTheirStatusSurviveARestart) {
  ASSERT_TRUE(subscribe(kBridgeSub));
  transport.fail_outcomes = true;
  upsert("urn:ngsi-ld:Bridge:1", 0.2);
  ASSERT_TRUE(transport.next());
  transport.wait_outcomes();
  close();
  open();
  auto view = subs->get("", "urn:ngsi-ld:Subscription:b");
  ASSERT_TRUE(view) << view.error().detail;
  EXPECT_EQ(view->subscription.endpoint_uri, "http://127.0.0.1:9/notify");
  EXPECT_EQ(view->subscription.status.times_sent, 1u);
  EXPECT_EQ(view->subscription.status.times_failed, 1u);
  EXPECT_EQ(view->subscription.status.last_failure_reason, "HTTP 500");
  // and it still matches after the restart
  upsert("urn:ngsi-ld:Bridge:1", 0.3);
  EXPECT_TRUE(transport.next());
}

TEST_F(Fixture, DeleteAndPatch) {
  ASSERT_TRUE(subscribe(kBridgeSub));
  auto fragment = json::parse(R"({"q":"tilt>100"})")->as_object();
  ASSERT_TRUE(sync<void>([&](auto done) {
    subs->update("", "urn:ngsi-ld:Subscription:b", fragment, contexts->core(), done);
  }));
  EXPECT_EQ(subs->get("", "urn:ngsi-ld:Subscription:b")->subscription.selector.q, "tilt>100");
  auto bad = json::parse(R"({"q":"tilt>>"})")->as_object();
  EXPECT_FALSE(sync<void>([&](auto done) {
    subs->update("", "urn:ngsi-ld:Subscription:b", bad, contexts->core(), done);
  }));
  EXPECT_EQ(subs->get("", "urn:ngsi-ld:Subscription:b")->subscription.selector.q, "tilt>100");
  ASSERT_TRUE(sync<void>([&](auto done) { subs->remove("", "urn:ngsi-ld:Subscription:b", done); }));
  EXPECT_FALSE(subs->get("", "urn:ngsi-ld:Subscription:b"));
  auto again = sync<void>([&](auto done) { subs->remove("", "urn:ngsi-ld:Subscription:b", done); });
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, base::ErrorKind::kResourceNotFound);
  EXPECT_EQ(subscribe(kBridgeSub).has_value(), true);
  EXPECT_EQ(subscribe(kBridgeSub).error().kind, base::ErrorKind::kAlreadyExists);
}

TEST(SubscriptionParse, RefusesWhatTheSpecForbidsWithTheMemberNamed) {
  auto contexts = ldcontext::ContextStore::open({}, ::testing::TempDir() + "/subs-parse");
  const auto& ctx = *(*contexts)->core();
  auto parse = [&](std::string_view body) {
    return live::parse_subscription(json::parse(body)->as_object(), "", ctx, base::now_micros());
  };
  auto detail = [&](std::string_view body) {
    auto r = parse(body);
    EXPECT_FALSE(r) << body;
    return r ? std::string() : r.error().detail;
  };
  EXPECT_NE(detail(R"({"type":"Subscription","entities":[{"type":"A"}],"notification":{}})")
                .find("endpoint"), std::string::npos);
  EXPECT_NE(detail(R"({"type":"Subscription","entities":[{"id":"urn:a:1"}],
      "notification":{"endpoint":{"uri":"http://x/"}}})").find("type"), std::string::npos);
  EXPECT_NE(detail(R"({"type":"Subscription","entities":[{"type":"A"}],"watchedAttributes":["a"],
      "timeInterval":5,"notification":{"endpoint":{"uri":"http://x/"}}})").find("timeInterval"),
            std::string::npos);
  EXPECT_NE(detail(R"({"type":"Subscription","entities":[{"type":"A"}],"expiresAt":"2001-01-01T00:00:00Z",
      "notification":{"endpoint":{"uri":"http://x/"}}})").find("expiresAt"), std::string::npos);
  EXPECT_NE(detail(R"({"type":"Subscription","entities":[{"type":"A"}],"notificationTrigger":["sometimes"],
      "notification":{"endpoint":{"uri":"http://x/"}}})").find("sometimes"), std::string::npos);
  EXPECT_FALSE(parse(R"({"type":"Subscription","entities":[{"type":"A"}],"q":"a>>",
      "notification":{"endpoint":{"uri":"http://x/"}}})"));
  EXPECT_NE(detail(R"({"type":"Subscription","notification":{"endpoint":{"uri":"http://x/"}}})")
                .find("entities or watchedAttributes"), std::string::npos);
  EXPECT_NE(detail(R"({"type":"Subscription","entities":[{"type":"A"}],
      "notification":{"endpoint":{"uri":"ftp://x/"}}})").find("ftp"), std::string::npos);
  auto ok = parse(R"({"type":"Subscription","watchedAttributes":["a"],
      "notification":{"endpoint":{"uri":"mqtt://127.0.0.1:1883/city/alerts"}}})");
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_TRUE(ok->id.starts_with(live::kSubscriptionIdPrefix));
  EXPECT_TRUE(ok->triggers.contains(live::Trigger::kAttributeUpdated));
}
