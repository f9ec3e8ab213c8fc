// History in the store: round trips of every kind of value, time windows, lastN, write-time
// queries, tenants, deletion; and the hub's write path (an acknowledged write has its history).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <future>

#include "history/history.h"
#include "hub/hub.h"
#include "store_test_util.h"

namespace cityroom::history {
namespace {

using store::HistoryPoint;
using store::HistoryQuery;
using store::testing::open_store;
using store::testing::TempDir;
using store::testing::write_sync;

constexpr std::string_view kId = "urn:ngsi-ld:Sensor:1";
constexpr std::string_view kPm10 = "https://example.org/pm10";

HistoryPoint point(std::string_view attr, base::Micros t, json::object instance,
                   bool observed = true) {
  HistoryPoint p;
  p.attribute = attr;
  p.time = t;
  p.modified = 1'700'000'000'000'000 + t;
  p.observed = observed;
  if (observed) instance["observedAt"] = base::format_iso8601(t);
  p.instance = std::move(instance);
  return p;
}

base::Result<store::WorkOutput> append(store::Store& s, std::string tenant, std::string id,
                                       std::vector<HistoryPoint> points) {
  return write_sync(s, [=](store::Transaction& t) -> base::Result<store::WorkOutput> {
    if (auto r = t.append_history(tenant, id, points); !r) return std::unexpected(r.error());
    return store::WorkOutput{};
  });
}

std::vector<store::HistorySeries> read(store::Store& s, HistoryQuery q,
                                       std::string_view tenant = "") {
  auto r = s.history(tenant, q);
  EXPECT_TRUE(r) << (r ? "" : r.error().detail);
  return r ? std::move(*r) : std::vector<store::HistorySeries>{};
}

json::object obj(std::string_view text) { return json::parse(text)->get_object(); }

TEST(HistoryStore, EveryKindOfValueRoundTrips) {
  TempDir dir;
  auto s = open_store(dir.path());
  ASSERT_TRUE(s);
  std::vector<json::object> instances = {
      obj(R"({"type":"Property","value":42,"unitCode":"GQ"})"),
      obj(R"({"type":"Property","value":21.25})"),
      obj(R"({"type":"Property","value":"정상"})"),
      obj(R"({"type":"Property","value":true})"),
      obj(R"({"type":"Property","value":{"a":[1,2]},"datasetId":"urn:ds:b"})"),
      obj(R"({"type":"Relationship","object":"urn:ngsi-ld:Station:1"})"),
      obj(R"({"type":"GeoProperty","value":{"type":"Point","coordinates":[127.0,37.5]}})"),
      obj(R"({"type":"LanguageProperty","languageMap":{"ko":"대치동","en":"Daechi"}})"),
      obj(R"({"type":"Property","value":7,"https://example.org/quality":{"type":"Property","value":"good"}})"),
  };
  std::vector<HistoryPoint> points;
  for (std::size_t i = 0; i < instances.size(); ++i) {
    points.push_back(point(kPm10, static_cast<base::Micros>(i) * 1000, instances[i]));
  }
  ASSERT_TRUE(append(*s, "", std::string(kId), points));
  HistoryQuery q;
  q.entity_id = kId;
  auto got = read(*s, q);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].attribute, kPm10);
  ASSERT_EQ(got[0].rows.size(), instances.size());
  for (std::size_t i = 0; i < instances.size(); ++i) {
    const auto& row = got[0].rows[i];
    json::object doc = row.instance_doc;
    EXPECT_EQ(row.time, static_cast<base::Micros>(i) * 1000);
    EXPECT_EQ(row.instance, points[i].modified);
    EXPECT_EQ(doc["modifiedAt"], json::value(base::format_iso8601(points[i].modified)));
    doc.erase("modifiedAt");
    EXPECT_EQ(doc, points[i].instance) << i;
    const auto member = model::value_member(doc["type"].get_string());
    EXPECT_EQ(row.value, points[i].instance[member]) << i;
  }
  // numbers keep their JSON kind
  EXPECT_TRUE(got[0].rows[0].value.is_int64());
  EXPECT_TRUE(got[0].rows[1].value.is_double());
}

TEST(HistoryStore, WindowsLastNAndWriteTime) {
  TempDir dir;
  auto s = open_store(dir.path());
  ASSERT_TRUE(s);
  std::vector<HistoryPoint> points;
  for (int i = 0; i < 100; ++i) {
    points.push_back(point(kPm10, i * 10, obj(R"({"type":"Property","value":0})")));
    points.back().instance["value"] = i;
  }
  // an instance without observedAt is kept at its write time
  points.push_back(point("https://example.org/note", 5, obj(R"({"type":"Property","value":"x"})"),
                         false));
  ASSERT_TRUE(append(*s, "", std::string(kId), points));
  HistoryQuery q;
  q.entity_id = kId;
  q.attributes = std::vector<std::string>{std::string(kPm10)};
  q.from = 200;
  q.to = 300;
  auto got = read(*s, q);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].rows.size(), 10u);
  EXPECT_EQ(got[0].rows.front().value, json::value(20));
  q.last_n = 3;
  got = read(*s, q);
  ASSERT_EQ(got[0].rows.size(), 3u);
  EXPECT_EQ(got[0].rows[0].value, json::value(27));
  EXPECT_EQ(got[0].rows[2].value, json::value(29));
  q.last_n.reset();
  q.from = INT64_MIN;
  q.to = INT64_MAX;
  q.limit = 7;
  got = read(*s, q);
  EXPECT_EQ(got[0].rows.size(), 7u);
  EXPECT_TRUE(got[0].truncated);
  // by write time
  HistoryQuery w;
  w.entity_id = kId;
  w.time_property = HistoryQuery::TimeProperty::kModifiedAt;
  w.from = points[50].modified;
  w.to = points[53].modified;
  got = read(*s, w);
  ASSERT_EQ(got.size(), 1u);  // the note was written earlier than the window
  EXPECT_EQ(got[0].rows.size(), 3u);
  // without observedAt: no observedAt member comes back
  HistoryQuery n;
  n.entity_id = kId;
  n.attributes = std::vector<std::string>{"https://example.org/note"};
  got = read(*s, n);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].rows[0].instance_doc.contains("observedAt"));
}

TEST(HistoryStore, TenantsAreApartAndRemoveDropsOneEntity) {
  TempDir dir;
  auto s = open_store(dir.path());
  ASSERT_TRUE(s);
  auto p = point(kPm10, 1, obj(R"({"type":"Property","value":1})"));
  ASSERT_TRUE(append(*s, "seoul", std::string(kId), {p}));
  ASSERT_TRUE(append(*s, "seoul", "urn:ngsi-ld:Sensor:2", {p}));
  HistoryQuery q;
  q.entity_id = kId;
  EXPECT_TRUE(read(*s, q, "").empty());
  EXPECT_EQ(read(*s, q, "seoul").size(), 1u);
  auto removed = write_sync(*s, [](store::Transaction& t) -> base::Result<store::WorkOutput> {
    auto n = t.remove_history("seoul", kId);
    if (!n) return std::unexpected(n.error());
    return std::make_shared<std::size_t>(*n);
  });
  ASSERT_TRUE(removed);
  EXPECT_EQ(*std::static_pointer_cast<std::size_t>(*removed), 1u);
  EXPECT_TRUE(read(*s, q, "seoul").empty());
  q.entity_id = "urn:ngsi-ld:Sensor:2";
  EXPECT_EQ(read(*s, q, "seoul").size(), 1u);
}

// The temporal API's instance operations: read one instance, replace it (it keeps its
// instanceId and may move in time), remove it, and drop one attribute's history by dataset.
TEST(HistoryStore, InstancesArePatchedAndDeletedOneByOne) {
  TempDir dir;
  auto s = open_store(dir.path());
  ASSERT_TRUE(s);
  auto with_ds = obj(R"({"type":"Property","value":7,"datasetId":"urn:ds:b"})");
  ASSERT_TRUE(append(*s, "", std::string(kId),
                     {point(kPm10, 10, obj(R"({"type":"Property","value":1})")),
                      point(kPm10, 20, obj(R"({"type":"Property","value":2})")),
                      point(kPm10, 30, with_ds)}));
  HistoryQuery q;
  q.entity_id = kId;
  auto rows = read(*s, q)[0].rows;
  ASSERT_EQ(rows.size(), 3u);
  const std::int64_t second = rows[1].instance;

  auto patched = write_sync(*s, [&](store::Transaction& t) -> base::Result<store::WorkOutput> {
    auto old = t.history_instance("", kId, kPm10, second);
    if (!old) return std::unexpected(old.error());
    EXPECT_TRUE(old->has_value());
    if (*old) EXPECT_EQ((*old)->value, json::value(2));
    auto p = point(kPm10, 25, obj(R"({"type":"Property","value":99,"unitCode":"GQ"})"));
    auto done = t.replace_history_instance("", kId, second, p);
    if (!done) return std::unexpected(done.error());
    EXPECT_TRUE(*done);
    auto none = t.replace_history_instance("", kId, second + 12345, p);
    EXPECT_TRUE(none && !*none);
    return store::WorkOutput{};
  });
  ASSERT_TRUE(patched);
  rows = read(*s, q)[0].rows;
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].instance, second);
  EXPECT_EQ(rows[1].time, 25);
  EXPECT_EQ(rows[1].value, json::value(99));
  EXPECT_EQ(rows[1].instance_doc.at("unitCode"), json::value("GQ"));

  auto removed = write_sync(*s, [&](store::Transaction& t) -> base::Result<store::WorkOutput> {
    auto gone = t.remove_history_instance("", kId, kPm10, second);
    EXPECT_TRUE(gone && *gone);
    auto again = t.remove_history_instance("", kId, kPm10, second);
    EXPECT_TRUE(again && !*again);
    auto only_b = t.remove_history_attribute("", kId, kPm10, std::string("urn:ds:b"));
    EXPECT_TRUE(only_b && *only_b == 1u);
    return store::WorkOutput{};
  });
  ASSERT_TRUE(removed);
  rows = read(*s, q)[0].rows;
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].value, json::value(1));
  auto all = write_sync(*s, [&](store::Transaction& t) -> base::Result<store::WorkOutput> {
    auto n = t.remove_history_attribute("", kId, kPm10, std::nullopt);
    EXPECT_TRUE(n && *n == 1u);
    return store::WorkOutput{};
  });
  ASSERT_TRUE(all);
  EXPECT_TRUE(read(*s, q).empty());
}

TEST(HistoryStore, ManyEntitiesAreReadInTheOrderAsked) {
  TempDir dir;
  auto s = open_store(dir.path());
  ASSERT_TRUE(s);
  ASSERT_TRUE(append(*s, "", "urn:a", {point(kPm10, 1, obj(R"({"type":"Property","value":1})")),
                                       point(kPm10, 2, obj(R"({"type":"Property","value":2})"))}));
  ASSERT_TRUE(append(*s, "", "urn:b", {point(kPm10, 3, obj(R"({"type":"Property","value":3})"))}));
  HistoryQuery q;
  q.last_n = 1;
  const std::vector<std::string> ids = {"urn:b", "urn:none", "urn:a"};
  auto many = s->history_many("", ids, q);
  ASSERT_TRUE(many);
  ASSERT_EQ(many->size(), 3u);
  ASSERT_EQ((*many)[0].size(), 1u);
  EXPECT_EQ((*many)[0][0].rows.at(0).value, json::value(3));
  EXPECT_TRUE((*many)[1].empty());
  ASSERT_EQ((*many)[2][0].rows.size(), 1u);
  EXPECT_EQ((*many)[2][0].rows[0].value, json::value(2));
  // an entity unknown at the first read is found once it has history (ids are not cached as
  // missing)
  ASSERT_TRUE(append(*s, "", "urn:none", {point(kPm10, 4, obj(R"({"type":"Property","value":4})"))}));
  many = s->history_many("", ids, q);
  ASSERT_TRUE(many);
  ASSERT_EQ((*many)[1].size(), 1u);
  EXPECT_EQ((*many)[1][0].rows.at(0).value, json::value(4));
  EXPECT_EQ((*many)[0][0].rows.at(0).value, json::value(3));
}

// A page of 1,000 or more ids is answered by one pass over the tenant's newest points, unless
// the tenant holds many more series than asked; both ways give the same answer.
TEST(HistoryStore, ManyIdsGiveTheSameAnswerByScanOrBySeek) {
  TempDir dir;
  auto s = open_store(dir.path());
  ASSERT_TRUE(s);
  auto write_entities = [&](std::string prefix, int n) {
    return write_sync(*s, [=](store::Transaction& t) -> base::Result<store::WorkOutput> {
      for (int e = 0; e < n; ++e) {
        const std::string v = fmt::format(R"({{"type":"Property","value":{}}})", e);
        std::vector<HistoryPoint> pts = {point(kPm10, 100, obj(R"({"type":"Property","value":-1})")),
                                         point(kPm10, 200 + e, obj(v))};
        if (auto r = t.append_history("", fmt::format("{}{}", prefix, e), pts); !r) {
          return std::unexpected(r.error());
        }
      }
      return store::WorkOutput{};
    });
  };
  ASSERT_TRUE(write_entities("urn:asked:", 1200));
  std::vector<std::string> ids;
  for (int e = 1199; e >= 0; --e) ids.push_back(fmt::format("urn:asked:{}", e));
  ids.push_back("urn:unknown");
  HistoryQuery q;
  q.last_n = 1;
  auto check = [&](std::string_view how) {
    auto many = s->history_many("", ids, q);
    ASSERT_TRUE(many) << how;
    ASSERT_EQ(many->size(), ids.size()) << how;
    for (int i = 0; i < 1200; ++i) {
      ASSERT_EQ((*many)[i].size(), 1u) << how << " " << ids[i];
      ASSERT_EQ((*many)[i][0].rows.size(), 1u) << how;
      EXPECT_EQ((*many)[i][0].rows[0].value, json::value(1199 - i)) << how << " " << ids[i];
      EXPECT_EQ((*many)[i][0].rows[0].time, 200 + 1199 - i) << how;
    }
    EXPECT_TRUE(many->back().empty()) << how;
  };
  check("scan");
  q.to = 200 + 600;  // a window before some series' newest point: those are read the long way
  auto windowed = s->history_many("", ids, q);
  ASSERT_TRUE(windowed);
  EXPECT_EQ((*windowed)[0][0].rows.at(0).value, json::value(-1));     // urn:asked:1199
  EXPECT_EQ((*windowed)[1199][0].rows.at(0).value, json::value(0));   // urn:asked:0
  q.to = INT64_MAX;
  ASSERT_TRUE(write_entities("urn:other:", 4000));  // now 5,200 series for 1,201 asked ids
  check("seek");
}

TEST(HistoryStore, AFailedWorkItemLeavesNoHistory) {
  TempDir dir;
  auto s = open_store(dir.path());
  ASSERT_TRUE(s);
  auto p = point(kPm10, 1, obj(R"({"type":"Property","value":1})"));
  auto r = write_sync(*s, [p](store::Transaction& t) -> base::Result<store::WorkOutput> {
    if (auto a = t.append_history("", kId, std::span(&p, 1)); !a) return std::unexpected(a.error());
    return base::fail(base::ErrorKind::kBadRequestData, "refused after appending");
  });
  EXPECT_FALSE(r);
  HistoryQuery q;
  q.entity_id = kId;
  EXPECT_TRUE(read(*s, q).empty());
}

// ---- the hub's write path --------------------------------------------------------------------

template <class T>
base::Result<T> wait(std::function<void(hub::Callback<T>)> op) {
  std::promise<base::Result<T>> p;
  auto f = p.get_future();
  op([&p](base::Result<T> r) { p.set_value(std::move(r)); });
  return f.get();
}

TEST(HistoryHub, AnAcknowledgedWriteHasItsHistory) {
  TempDir dir;
  auto s = open_store(dir.path());
  ASSERT_TRUE(s);
  hub::Hub h(*s);
  auto entity = obj(R"({"id":"urn:ngsi-ld:Sensor:1","type":["https://example.org/Sensor"],
    "https://example.org/pm10":[{"type":"Property","value":40,"observedAt":"2024-05-01T00:00:00Z",
                                 "modifiedAt":"2024-05-01T00:00:01Z"}],
    "https://example.org/name":[{"type":"Property","value":"대치"}]})");
  ASSERT_TRUE(wait<void>([&](auto cb) { h.create("", entity, cb); }));
  auto fragment = obj(R"({"https://example.org/pm10":[{"type":"Property","value":55,
                          "observedAt":"2024-05-01T00:10:00Z"}]})");
  ASSERT_TRUE(wait<hub::AttrsOutcome>([&](auto cb) {
    h.update_attrs("", std::string(kId), fragment, cb);
  }));
  HistoryQuery q;
  q.entity_id = kId;
  auto got = h.history("", q);
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 2u);
  const auto& pm10 = (*got)[0].attribute == kPm10 ? (*got)[0] : (*got)[1];
  const auto& name = (*got)[0].attribute == kPm10 ? (*got)[1] : (*got)[0];
  ASSERT_EQ(pm10.rows.size(), 2u);
  EXPECT_EQ(pm10.rows[1].value, json::value(55));
  EXPECT_EQ(pm10.rows[1].time, *base::parse_iso8601("2024-05-01T00:10:00Z"));
  EXPECT_EQ(name.rows.size(), 1u);  // not rewritten by the update: one instance

  // deleting the entity keeps the history; the temporal delete removes it
  ASSERT_TRUE(wait<void>([&](auto cb) { h.remove("", std::string(kId), cb); }));
  got = h.history("", q);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), 2u);
  auto removed = wait<std::size_t>([&](auto cb) { h.remove_history("", std::string(kId), cb); });
  ASSERT_TRUE(removed);
  EXPECT_EQ(*removed, 3u);
  got = h.history("", q);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->empty());
}

TEST(Written, OnlyNewOrChangedInstances) {
  auto before = obj(R"({"id":"urn:x","type":["T"],
    "a":[{"type":"Property","value":1},{"type":"Property","value":2,"datasetId":"urn:d"}],
    "b":[{"type":"Property","value":3}]})");
  auto after = before;
  after["a"].get_array()[1].get_object()["value"] = 5;
  after["c"] = json::array{obj(R"({"type":"Property","value":9,"observedAt":"2024-01-01T00:00:00Z"})")};
  auto points = written(&before, after, 1000);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].attribute, "a");
  EXPECT_EQ(points[0].instance.at("datasetId"), json::value("urn:d"));
  EXPECT_EQ(points[0].time, 1000);
  EXPECT_FALSE(points[0].observed);
  EXPECT_EQ(points[1].attribute, "c");
  EXPECT_TRUE(points[1].observed);
  EXPECT_EQ(points[1].time, *base::parse_iso8601("2024-01-01T00:00:00Z"));
  EXPECT_EQ(written(nullptr, before, 1).size(), 3u);
}

}  // namespace
}  // namespace cityroom::history
