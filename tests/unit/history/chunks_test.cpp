// Chunked history storage (store/sqlite/history.h): what a reader sees does not depend on
// where the points are (head, chunks, rollups); aggregation's fast path equals point-by-point
// aggregation; retention drops exactly what expired and rollups stand for it; a database with
// the row-per-point table (schema 4) keeps its history.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <cmath>
#include <random>

#include "history/history.h"
#include "store_test_util.h"

namespace cityroom::history {
namespace {

using store::HistoryPoint;
using store::HistoryQuery;
using store::testing::TempDir;
using store::testing::write_sync;

constexpr std::string_view kId = "urn:ngsi-ld:Sensor:1";
const std::string kPm10 = "https://example.org/pm10";
constexpr base::Micros kMinute = 60'000'000;
constexpr base::Micros kHour = 60 * kMinute;
constexpr base::Micros kDay = 24 * kHour;
constexpr base::Micros kT0 = 1'704'067'200'000'000;  // 2024-01-01

struct Clock {
  std::shared_ptr<std::atomic<base::Micros>> now =
      std::make_shared<std::atomic<base::Micros>>(kT0);
};

std::unique_ptr<store::Store> open(const std::filesystem::path& dir, const Clock& clock,
                                   store::HistoryPolicy policy = {}) {
  store::SqliteOptions o;
  o.data_dir = dir;
  o.cache_mib = 16;
  o.read_connections = 2;
  o.history_policy = std::move(policy);
  o.clock = [now = clock.now] { return now->load(); };
  o.history_background = false;  // tests run maintenance themselves
  auto s = store::open_sqlite(o);
  EXPECT_TRUE(s) << (s ? "" : s.error().detail);
  return s ? std::move(*s) : nullptr;
}

HistoryPoint point(std::string_view attr, base::Micros t, json::value v) {
  HistoryPoint p;
  p.attribute = attr;
  p.time = t;
  p.modified = 0;  // the store makes instance numbers increasing
  p.observed = true;
  p.instance = json::object{{"type", "Property"}, {"value", v},
                            {"observedAt", base::format_iso8601(t)}};
  return p;
}

void append(store::Store& s, std::string id, std::vector<HistoryPoint> pts) {
  auto r = write_sync(s, [=](store::Transaction& t) -> base::Result<store::WorkOutput> {
    if (auto r = t.append_history("", id, pts); !r) return std::unexpected(r.error());
    return store::WorkOutput{};
  });
  ASSERT_TRUE(r) << r.error().detail;
}

std::vector<store::HistoryRow> rows(store::Store& s, HistoryQuery q) {
  q.entity_id = kId;
  auto r = s.history("", q);
  EXPECT_TRUE(r);
  if (!r || r->empty()) return {};
  return std::move((*r)[0].rows);
}

// kId's newest point as the last-point path answers it (history_many, lastN=1); null if none.
json::value last_point(store::Store& s) {
  const std::vector<std::string> ids = {std::string(kId)};
  HistoryQuery last;
  last.last_n = 1;
  auto many = s.history_many("", ids, last);
  EXPECT_TRUE(many);
  if (!many || (*many)[0].size() != 1 || (*many)[0][0].rows.empty()) return nullptr;
  return (*many)[0][0].rows[0].value;
}

// (time, value) of every row, for comparisons
std::vector<std::pair<base::Micros, std::string>> seen(const std::vector<store::HistoryRow>& rs) {
  std::vector<std::pair<base::Micros, std::string>> out;
  for (const auto& r : rs) out.emplace_back(r.time, json::serialize(r.value));
  return out;
}

// A random series: batches (straight into chunks) and single points (head), some out of
// order, some into old days; returns every point written.
std::vector<HistoryPoint> write_random(store::Store& s, std::mt19937_64& rng, bool seal) {
  std::vector<HistoryPoint> all;
  base::Micros t = kT0;
  for (int step = 0; step < 12; ++step) {
    std::vector<HistoryPoint> batch;
    const std::size_t n = rng() % 2 ? 1 + rng() % 5 : 40 + rng() % 600;
    for (std::size_t i = 0; i < n; ++i) {
      t += rng() % 4 == 0 ? static_cast<base::Micros>(rng() % (3 * kHour)) : kMinute;
      base::Micros at = t;
      if (rng() % 10 == 0) at -= static_cast<base::Micros>(rng() % (2 * kDay));  // late
      json::value v;
      switch (rng() % 8) {
        case 0: v = static_cast<std::int64_t>(rng() % 100); break;
        case 1: v = "state" + std::to_string(rng() % 3); break;
        default: v = static_cast<double>(rng() % 2000) / 10.0 - 50; break;
      }
      batch.push_back(point(kPm10, at, v));
    }
    append(s, std::string(kId), batch);
    all.insert(all.end(), batch.begin(), batch.end());
    if (seal && rng() % 3 == 0) EXPECT_TRUE(s.maintain_history());
  }
  return all;
}

TEST(HistoryChunks, ReadsAreTheSameBeforeAndAfterSealing) {
  TempDir dir;
  Clock clock;
  auto s = open(dir.path(), clock);
  ASSERT_TRUE(s);
  std::mt19937_64 rng(1);
  const auto all = write_random(*s, rng, false);
  HistoryQuery q;
  const auto before = seen(rows(*s, q));
  ASSERT_EQ(before.size(), all.size());
  EXPECT_TRUE(std::is_sorted(before.begin(), before.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; }));
  HistoryQuery last;
  last.last_n = 5;
  const auto before_last = seen(rows(*s, last));
  HistoryQuery window;
  window.from = kT0 + kDay / 3;
  window.to = kT0 + kDay;
  const auto before_window = seen(rows(*s, window));
  ASSERT_TRUE(s->maintain_history());
  EXPECT_EQ(seen(rows(*s, q)), before);
  EXPECT_EQ(seen(rows(*s, last)), before_last);
  EXPECT_EQ(seen(rows(*s, window)), before_window);
  // and after a restart
  s->close();
  s = open(dir.path(), clock);
  EXPECT_EQ(seen(rows(*s, q)), before);
}

TEST(HistoryChunks, InstancesOnSealedChunksArePatchedAndDeleted) {
  TempDir dir;
  Clock clock;
  auto s = open(dir.path(), clock);
  std::vector<HistoryPoint> pts;
  for (int i = 0; i < 100; ++i) pts.push_back(point(kPm10, kT0 + i * kMinute, i));
  append(*s, std::string(kId), pts);
  ASSERT_TRUE(s->maintain_history());
  HistoryQuery q;
  auto all = rows(*s, q);
  ASSERT_EQ(all.size(), 100u);
  const std::int64_t victim = all[40].instance, moved = all[99].instance;
  auto r = write_sync(*s, [&](store::Transaction& t) -> base::Result<store::WorkOutput> {
    auto got = t.history_instance("", kId, kPm10, victim);
    if (!got || !*got) return base::fail(base::ErrorKind::kInternalError, "no instance");
    auto removed = t.remove_history_instance("", kId, kPm10, victim);
    if (!removed || !*removed) return base::fail(base::ErrorKind::kInternalError, "not removed");
    // the newest point moves back in time: lastN=1 must now see the one before it
    auto replaced = t.replace_history_instance("", kId, moved, point(kPm10, kT0 - kHour, -1));
    if (!replaced || !*replaced) return base::fail(base::ErrorKind::kInternalError, "not replaced");
    return store::WorkOutput{};
  });
  ASSERT_TRUE(r) << r.error().detail;
  all = rows(*s, q);
  ASSERT_EQ(all.size(), 99u);
  EXPECT_EQ(all.front().value, json::value(-1));
  EXPECT_EQ(all.front().instance, moved);
  for (const auto& row : all) EXPECT_NE(row.instance, victim);
  EXPECT_EQ(last_point(*s), json::value(98));
}

TEST(HistoryChunks, LastOfManyEntitiesFollowsWindowsAndOrder) {
  TempDir dir;
  Clock clock;
  auto s = open(dir.path(), clock);
  std::vector<std::string> ids;
  for (int e = 0; e < 20; ++e) {
    ids.push_back("urn:ngsi-ld:Sensor:m" + std::to_string(e));
    std::vector<HistoryPoint> pts;
    for (int i = 0; i <= e; ++i) pts.push_back(point(kPm10, kT0 + i * kMinute, e * 100 + i));
    pts.push_back(point("https://example.org/no2", kT0, e));
    append(*s, ids.back(), pts);
  }
  ids.push_back("urn:ngsi-ld:Sensor:none");
  std::reverse(ids.begin(), ids.end());
  HistoryQuery q;
  q.last_n = 1;
  q.attributes = std::vector<std::string>{kPm10};
  q.to = kT0 + 5 * kMinute;  // the newest points of most series are after the window
  auto many = s->history_many("", ids, q);
  ASSERT_TRUE(many);
  ASSERT_EQ(many->size(), ids.size());
  EXPECT_TRUE((*many)[0].empty());
  for (std::size_t i = 1; i < ids.size(); ++i) {
    const int e = 20 - static_cast<int>(i);
    ASSERT_EQ((*many)[i].size(), 1u) << i;
    EXPECT_EQ((*many)[i][0].rows[0].value, json::value(e * 100 + std::min(e, 4))) << i;
    // the same as one read of that entity
    HistoryQuery one = q;
    one.entity_id = ids[i];
    auto single = s->history("", one);
    ASSERT_TRUE(single);
    EXPECT_EQ((*single)[0].rows[0].instance_doc, (*many)[i][0].rows[0].instance_doc);
  }
  HistoryQuery every;
  every.last_n = 1;
  many = s->history_many("", ids, every);
  ASSERT_TRUE(many);
  EXPECT_EQ((*many)[1].size(), 2u);  // both attributes
}

// The reference: Aggregator over every point written that lies in the window, in time order.
std::vector<json::array> brute(const std::vector<HistoryPoint>& all, base::Micros from,
                               base::Micros to, const std::vector<Method>& methods,
                               std::optional<base::Micros> period,
                               std::optional<base::Micros> origin,
                               std::optional<base::Micros> end) {
  std::vector<const HistoryPoint*> in;
  for (const auto& p : all) {
    if (p.time >= from && p.time < to) in.push_back(&p);
  }
  std::stable_sort(in.begin(), in.end(),
                   [](const auto* a, const auto* b) { return a->time < b->time; });
  Aggregator a(methods, period, origin, end);
  for (const auto* p : in) a.add(p->time, p->instance.at("value"));
  return a.finish();
}

void expect_close(const std::vector<json::array>& got, const std::vector<json::array>& want,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t m = 0; m < got.size(); ++m) {
    ASSERT_EQ(got[m].size(), want[m].size()) << what << " method " << m;
    for (std::size_t i = 0; i < got[m].size(); ++i) {
      const auto& g = got[m][i].as_array();
      const auto& w = want[m][i].as_array();
      EXPECT_EQ(g[1], w[1]) << what;
      EXPECT_EQ(g[2], w[2]) << what;
      if (g[0].is_null() || w[0].is_null()) {
        EXPECT_EQ(g[0], w[0]) << what;
        continue;
      }
      const double a = g[0].to_number<double>(), b = w[0].to_number<double>();
      EXPECT_NEAR(a, b, 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)}))
          << what << " method " << m << " period " << i;
    }
  }
}

TEST(HistoryChunks, AggregationEqualsPointByPointOnRandomSeries) {
  std::mt19937_64 rng(7);
  const std::vector<Method> numeric = {Method::kTotalCount, Method::kSum, Method::kAvg,
                                       Method::kMin,        Method::kMax, Method::kStddev,
                                       Method::kSumsq};
  for (int series = 0; series < 6; ++series) {
    TempDir dir;
    Clock clock;
    auto s = open(dir.path(), clock);
    const auto all = write_random(*s, rng, true);
    if (series % 2 == 0) ASSERT_TRUE(s->maintain_history());
    for (int round = 0; round < 25; ++round) {
      HistoryQuery q;
      q.entity_id = kId;
      if (rng() % 4 != 0) {
        q.from = kT0 - kDay + static_cast<base::Micros>(rng() % (4 * kDay));
        q.to = q.from + static_cast<base::Micros>(rng() % (5 * kDay));
      }
      std::optional<base::Micros> period, origin, end;
      const base::Micros periods[] = {kMinute * 7, kHour, 6 * kHour, kDay, 3 * kDay};
      if (rng() % 5 != 0) period = periods[rng() % 5];
      if (rng() % 3 == 0) origin = kT0 + static_cast<base::Micros>(rng() % kDay) - kDay / 2;
      if (!period && rng() % 2 == 0) end = kT0 + 10 * kDay;
      auto methods = numeric;
      if (rng() % 4 == 0) methods.push_back(Method::kDistinctCount);
      auto got = aggregate_history(*s, "", q, methods, period, origin, end);
      ASSERT_TRUE(got) << got.error().detail;
      const auto want = brute(all, q.from, q.to, methods, period, origin, end);
      const std::string what = fmt::format("series {} round {}", series, round);
      if (want[0].empty()) {
        EXPECT_TRUE(got->empty()) << what;
        continue;
      }
      ASSERT_EQ(got->size(), 1u) << what;
      expect_close((*got)[0].results, want, what);
    }
  }
}

TEST(HistoryRetention, DropsExactlyWhatExpiredAndRollupsStandForIt) {
  TempDir dir;
  Clock clock;
  store::HistoryPolicy policy;
  store::HistoryRetention r;
  r.raw = 2 * kDay;
  r.rollups = {{kHour, 30 * kDay}, {kDay, std::nullopt}};
  policy.types.emplace_back("AirQualityObserved", r);  // by local name
  // the fallback keeps everything
  auto s = open(dir.path(), clock, policy);
  ASSERT_TRUE(store::testing::put_sync(
      *s, "", store::testing::parse_entity(R"({"id":"urn:ngsi-ld:Sensor:1","type":["https://smartdatamodels.org/dataModel.Environment/AirQualityObserved"]})")));
  std::mt19937_64 rng(3);
  std::vector<HistoryPoint> all;
  for (int i = 0; i < 5 * 24 * 60; i += 1 + static_cast<int>(rng() % 3)) {
    all.push_back(point(kPm10, kT0 + i * kMinute, static_cast<double>(rng() % 1000) / 10));
  }
  for (std::size_t i = 0; i < all.size(); i += 500) {
    append(*s, std::string(kId), std::vector<HistoryPoint>(all.begin() + static_cast<std::ptrdiff_t>(i),
                                                           all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), i + 500))));
  }
  append(*s, "urn:ngsi-ld:Other:1", {point(kPm10, kT0, 1.0)});  // no type: kept
  const base::Micros now = kT0 + 4 * kDay + 7 * kMinute + 13;
  clock.now->store(now);
  ASSERT_TRUE(s->maintain_history());
  const base::Micros cutoff = now - 2 * kDay;
  std::size_t expected = 0;
  for (const auto& p : all) expected += p.time >= cutoff;
  HistoryQuery q;
  auto kept = rows(*s, q);
  ASSERT_EQ(kept.size(), expected);
  EXPECT_GE(kept.front().time, cutoff);
  HistoryQuery other;
  other.entity_id = "urn:ngsi-ld:Other:1";
  EXPECT_EQ(s->history("", other)->size(), 1u);
  // hourly (and 2-hourly, a multiple) aggregates over the whole range equal the raw points'
  const std::vector<Method> methods = {Method::kTotalCount, Method::kAvg, Method::kMin,
                                       Method::kMax,        Method::kStddev, Method::kSum};
  for (base::Micros period : {kHour, 2 * kHour, kDay}) {
    HistoryQuery a;
    a.entity_id = kId;
    auto got = aggregate_history(*s, "", a, methods, period, std::nullopt, std::nullopt);
    ASSERT_TRUE(got);
    ASSERT_EQ(got->size(), 1u);
    expect_close((*got)[0].results,
                 brute(all, INT64_MIN, INT64_MAX, methods, period, std::nullopt, std::nullopt),
                 fmt::format("period {}", period));
  }
  // a period that is not a multiple of a rollup: the dropped range has no answer
  HistoryQuery a;
  a.entity_id = kId;
  auto odd = aggregate_history(*s, "", a, methods, 7 * kMinute, std::nullopt, std::nullopt);
  ASSERT_TRUE(odd);
  expect_close((*odd)[0].results,
               brute(all, cutoff, INT64_MAX, methods, 7 * kMinute, std::nullopt, std::nullopt),
               "7 minutes");
  // later: hourly rollups expire, daily ones stay
  clock.now->store(kT0 + 40 * kDay);
  ASSERT_TRUE(s->maintain_history());
  EXPECT_TRUE(rows(*s, q).empty());
  auto daily = aggregate_history(*s, "", a, {Method::kTotalCount}, kDay, std::nullopt, std::nullopt);
  ASSERT_TRUE(daily);
  ASSERT_EQ(daily->size(), 1u);
  std::int64_t total = 0;
  for (const auto& p : (*daily)[0].results[0]) total += p.as_array()[0].as_int64();
  EXPECT_EQ(total, static_cast<std::int64_t>(all.size()));
  auto hourly = aggregate_history(*s, "", a, {Method::kTotalCount}, kHour, std::nullopt, std::nullopt);
  ASSERT_TRUE(hourly);
  EXPECT_TRUE(hourly->empty());  // the daily rollups cannot answer hours
}

TEST(HistoryRetention, PolicyFilesAreCheckedStrictly) {
  auto p = parse_policy(R"({"default":{"raw":"P90D","rollups":[{"period":"PT1H","keep":"P10Y"}]},
                            "types":{"AirQualityObserved":{"raw":"P30D"}}})");
  ASSERT_TRUE(p) << p.error().detail;
  EXPECT_EQ(p->fallback.raw, 90 * kDay);
  ASSERT_EQ(p->fallback.rollups.size(), 1u);
  EXPECT_EQ(p->fallback.rollups[0].period, kHour);
  EXPECT_EQ(p->types[0].second.raw, 30 * kDay);
  EXPECT_FALSE(parse_policy(R"({"default":{"raw":"90 days"}})"));
  EXPECT_FALSE(parse_policy(R"({"default":{"rwa":"P1D"}})"));
  EXPECT_FALSE(parse_policy(R"({"default":{"rollups":[{"keep":"P1D"}]}})"));
  EXPECT_FALSE(parse_policy("[]"));
}

TEST(HistoryMigration, RowsOfSchema4AreKeptAndSealed) {
  TempDir dir;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir.path() / "cityroom.db").c_str(), &db), SQLITE_OK);
    // the schema-4 tables a history row needs, as migration 4 left them
    const char* sql = R"sql(
CREATE TABLE names(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE tenants(name_id INTEGER PRIMARY KEY);
CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES('entities', 0);
CREATE TABLE entities(pk INTEGER PRIMARY KEY, tenant INTEGER NOT NULL, id TEXT NOT NULL, doc BLOB NOT NULL);
CREATE UNIQUE INDEX entities_by_id ON entities(tenant, id);
CREATE TABLE types(tenant INTEGER NOT NULL, type INTEGER NOT NULL, id TEXT NOT NULL, pk INTEGER NOT NULL, PRIMARY KEY(tenant, type, id)) WITHOUT ROWID;
CREATE TABLE idx(tenant INTEGER NOT NULL, attr INTEGER NOT NULL, v NOT NULL, pk INTEGER NOT NULL, PRIMARY KEY(tenant, attr, v, pk)) WITHOUT ROWID;
CREATE TABLE summary(tenant INTEGER NOT NULL, type INTEGER NOT NULL, attr INTEGER NOT NULL, kind INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(tenant, type, attr, kind)) WITHOUT ROWID;
CREATE TABLE records(kind TEXT NOT NULL, tenant TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY(kind, tenant, id)) WITHOUT ROWID;
CREATE TABLE history(tenant INTEGER NOT NULL, entity INTEGER NOT NULL, attr INTEGER NOT NULL, t INTEGER NOT NULL, iid INTEGER NOT NULL, ds INTEGER NOT NULL, k INTEGER NOT NULL, v, x TEXT, PRIMARY KEY(tenant, entity, attr, t, iid)) WITHOUT ROWID;
INSERT INTO names(id, name) VALUES(1, ''), (2, 'urn:ngsi-ld:Sensor:1'), (3, 'https://example.org/pm10');
INSERT INTO tenants VALUES(1);
WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < 199)
  INSERT INTO history SELECT 1, 2, 3, 1704067200000000 + n * 60000000, 1704067200000000 + n * 60000000, 0, 16, n * 0.5, CASE WHEN n = 7 THEN '{"unitCode":"GQ"}' END FROM i;
PRAGMA user_version = 4;
)sql";
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  Clock clock;
  auto s = open(dir.path(), clock);
  ASSERT_TRUE(s);
  HistoryQuery q;
  auto before = rows(*s, q);
  ASSERT_EQ(before.size(), 200u);
  EXPECT_EQ(before[7].instance_doc.at("unitCode"), json::value("GQ"));
  EXPECT_EQ(last_point(*s), json::value(99.5));
  ASSERT_TRUE(s->maintain_history());
  auto after = rows(*s, q);
  ASSERT_EQ(after.size(), 200u);
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].instance_doc, before[i].instance_doc) << i;
  }
}

}  // namespace
}  // namespace cityroom::history
