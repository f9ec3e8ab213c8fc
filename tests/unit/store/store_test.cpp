// Store behaviour: CRUD, tenants, counts, discovery, schema versions, the write queue, group
// commit with per-item savepoints, and close.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <bit>
#include <future>
#include <limits>
#include <random>
#include <thread>

#include "store/sqlite/doc_codec.h"
#include "store_test_util.h"

namespace cityroom::store {
namespace {

using testing::open_store;
using testing::parse_entity;
using testing::put_sync;
using testing::TempDir;
using testing::write_sync;

model::Entity sensor(std::string_view id, double temperature) {
  auto e = parse_entity(R"({
    "id": "", "type": ["https://example.org/Sensor"],
    "https://example.org/temperature": [{"type": "Property", "value": 0}],
    "https://example.org/location": [{"type": "GeoProperty",
                                      "value": {"type": "Point", "coordinates": [127.0, 37.5]}}]
  })");
  e["id"] = id;
  e["https://example.org/temperature"].as_array()[0].as_object()["value"] = temperature;
  return e;
}

Work removing(std::string tenant, std::string id, bool* existed) {
  return [=](Transaction& t) -> base::Result<WorkOutput> {
    auto r = t.remove(tenant, id);
    if (!r) return std::unexpected(r.error());
    *existed = *r;
    return WorkOutput{};
  };
}

TEST(Store, PutGetReplaceRemove) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  const auto a = sensor("urn:ngsi-ld:Sensor:1", 21.5);
  ASSERT_TRUE(put_sync(*store, kDefaultTenant, a));
  auto got = store->get(kDefaultTenant, "urn:ngsi-ld:Sensor:1");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(**got, a);

  const auto a2 = sensor("urn:ngsi-ld:Sensor:1", 30);
  ASSERT_TRUE(put_sync(*store, kDefaultTenant, a2));
  got = store->get(kDefaultTenant, "urn:ngsi-ld:Sensor:1");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(**got, a2);

  bool existed = false;
  ASSERT_TRUE(write_sync(*store, removing("", "urn:ngsi-ld:Sensor:1", &existed)));
  EXPECT_TRUE(existed);
  got = store->get(kDefaultTenant, "urn:ngsi-ld:Sensor:1");
  ASSERT_TRUE(got);
  EXPECT_FALSE(*got);
  ASSERT_TRUE(write_sync(*store, removing("", "urn:ngsi-ld:Sensor:1", &existed)));
  EXPECT_FALSE(existed);
}

TEST(Store, KeepsEveryValueExactly) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  model::Entity e = parse_entity(R"({"id": "urn:x:exact", "type": ["T"],
      "https://example.org/v": [{"type": "Property", "value": {
          "s": "\u00e9\uc11c\uc6b8 \"quoted\" \\ \n", "empty": "", "n": null, "t": true,
          "f": false, "list": [[], {}, [1, [2, [3]]]]}}]})");
  json::array numbers{0.1,
                      1e308,
                      -4.9e-324,
                      37.617200999008276,
                      127.08182593036491,
                      std::numeric_limits<std::int64_t>::min(),
                      std::int64_t{-1},
                      std::numeric_limits<std::uint64_t>::max(),
                      0};
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200; ++i) numbers.push_back(std::bit_cast<double>(rng() >> 2));
  e["https://example.org/numbers"] =
      json::array{json::object{{"type", "Property"}, {"value", numbers}}};
  ASSERT_TRUE(put_sync(*store, "", e));
  auto got = store->get("", "urn:x:exact");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(**got, e);
  const auto& back = (**got)["https://example.org/numbers"].as_array()[0].at("value").as_array();
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    EXPECT_EQ(back[i].kind(), numbers[i].kind());
    if (numbers[i].is_double()) {
      EXPECT_EQ(std::bit_cast<std::uint64_t>(back[i].get_double()),
                std::bit_cast<std::uint64_t>(numbers[i].get_double()));
    }
  }
}

TEST(Store, DecodingACorruptDocumentIsAnError) {
  model::Entity e = sensor("urn:x:1", 2.5);
  std::string bytes;
  sqlite::encode_doc(e, bytes);
  ASSERT_EQ(*sqlite::decode_doc(bytes), e);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    auto r = sqlite::decode_doc(std::string_view(bytes).substr(0, cut));
    ASSERT_FALSE(r) << cut;
    EXPECT_EQ(r.error().kind, base::ErrorKind::kInternalError);
  }
  EXPECT_FALSE(sqlite::decode_doc(bytes + "x"));
  EXPECT_FALSE(sqlite::decode_doc("\x09\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"));
}

TEST(Store, TransactionSeesItsOwnWrites) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  auto r = write_sync(*store, [](Transaction& t) -> base::Result<WorkOutput> {
    if (auto p = t.put("", sensor("urn:x:1", 1)); !p) return std::unexpected(p.error());
    auto got = t.get("", "urn:x:1");
    if (!got || !*got) return base::fail(base::ErrorKind::kInternalError, "not visible");
    auto ids = t.ids_matching("", EntityQuery{});
    if (!ids || *ids != std::vector<std::string>{"urn:x:1"}) {
      return base::fail(base::ErrorKind::kInternalError, "ids_matching missed it");
    }
    return std::make_shared<int>(42);
  });
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(*std::static_pointer_cast<int>(*r), 42);
}

TEST(Store, RejectsEntitiesWithoutIdOrType) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  auto r = put_sync(*store, "", parse_entity(R"({"type": ["T"]})"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, base::ErrorKind::kBadRequestData);
  r = put_sync(*store, "", parse_entity(R"({"id": "urn:x:1"})"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("no type"), std::string::npos);
}

TEST(Store, TenantsAreIsolated) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(put_sync(*store, "", sensor("urn:x:1", 1)));
  ASSERT_TRUE(put_sync(*store, "city", sensor("urn:x:1", 2)));
  ASSERT_TRUE(put_sync(*store, "city", sensor("urn:x:2", 3)));

  auto in_default = store->get("", "urn:x:1");
  auto in_city = store->get("city", "urn:x:1");
  ASSERT_TRUE(in_default && *in_default && in_city && *in_city);
  EXPECT_EQ(**in_default, sensor("urn:x:1", 1));
  EXPECT_EQ(**in_city, sensor("urn:x:1", 2));
  EXPECT_FALSE(*store->get("", "urn:x:2"));
  EXPECT_FALSE(*store->get("elsewhere", "urn:x:1"));

  EntityQuery all;
  all.count = true;
  EXPECT_EQ(*store->query("", all)->total, 1u);
  EXPECT_EQ(*store->query("city", all)->total, 2u);
  EXPECT_EQ(*store->query("elsewhere", all)->total, 0u);

  EXPECT_TRUE(*store->tenant_exists(""));
  EXPECT_TRUE(*store->tenant_exists("city"));
  EXPECT_FALSE(*store->tenant_exists("elsewhere"));
  bool existed = false;
  ASSERT_TRUE(write_sync(*store, removing("elsewhere", "urn:x:1", &existed)));
  EXPECT_FALSE(existed);
  EXPECT_TRUE(*store->get("city", "urn:x:1"));
}

TEST(Store, CountsEntitiesAcrossReopen) {
  TempDir dir;
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store);
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(put_sync(*store, "", sensor(fmt::format("urn:x:{}", i), i)));
    ASSERT_TRUE(put_sync(*store, "t", sensor("urn:x:0", 5)));
    ASSERT_TRUE(put_sync(*store, "", sensor("urn:x:0", 9)));  // a replace adds nothing
    bool existed = false;
    ASSERT_TRUE(write_sync(*store, removing("", "urn:x:1", &existed)));
    EXPECT_EQ(store->stats().entities, 3u);
  }
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->stats().entities, 3u);
}

TEST(Store, DiscoversTypesAndAttributes) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  ASSERT_TRUE(put_sync(*store, "", sensor("urn:x:1", 1)));
  ASSERT_TRUE(put_sync(*store, "", sensor("urn:x:2", 2)));
  ASSERT_TRUE(put_sync(*store, "", parse_entity(R"({"id": "urn:y:1",
      "type": ["https://example.org/Road", "https://example.org/Asset"],
      "https://example.org/name": [{"type": "LanguageProperty", "languageMap": {"ko": "길"}}],
      "https://example.org/temperature": [{"type": "Property", "value": "n/a"}]})")));

  auto types = store->types("");
  ASSERT_TRUE(types) << types.error().detail;
  ASSERT_EQ(types->size(), 3u);
  EXPECT_EQ((*types)[0].type, "https://example.org/Asset");
  EXPECT_EQ((*types)[2].type, "https://example.org/Sensor");
  EXPECT_EQ((*types)[2].entity_count, 2u);
  EXPECT_EQ((*types)[2].attributes, (std::vector<std::string>{"https://example.org/location",
                                                              "https://example.org/temperature"}));
  EXPECT_EQ((*types)[1].attributes, (std::vector<std::string>{"https://example.org/name",
                                                              "https://example.org/temperature"}));

  auto attrs = store->attributes("");
  ASSERT_TRUE(attrs) << attrs.error().detail;
  ASSERT_EQ(attrs->size(), 3u);
  const AttributeSummary& temperature = (*attrs)[2];
  EXPECT_EQ(temperature.attribute, "https://example.org/temperature");
  EXPECT_EQ(temperature.entity_count, 3u);
  EXPECT_EQ(temperature.types.size(), 3u);
  EXPECT_EQ(temperature.attribute_types, std::vector<std::string>{"Property"});
  EXPECT_EQ((*attrs)[1].attribute_types, std::vector<std::string>{"LanguageProperty"});
  EXPECT_TRUE(store->types("nobody")->empty());
}

int user_version(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr);
  sqlite3_step(s);
  const int v = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

TEST(Store, MigratesOnceAndRefusesNewerSchemas) {
  TempDir dir;
  const auto file = dir.path() / "cityroom.db";
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store);
    ASSERT_TRUE(put_sync(*store, "", sensor("urn:x:1", 1)));
  }
  EXPECT_EQ(user_version(file), 5);
  {
    auto store = open_store(dir.path());  // second open: nothing to migrate, data intact
    ASSERT_TRUE(store);
    EXPECT_TRUE(*store->get("", "urn:x:1"));
  }
  EXPECT_EQ(user_version(file), 5);

  sqlite3* db = nullptr;
  sqlite3_open(file.c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  SqliteOptions options;
  options.data_dir = dir.path();
  auto refused = open_sqlite(options);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().detail.find("newer"), std::string::npos) << refused.error().detail;
}

// A version-1 database has no per-type geo cells; migration 2 must add them, or typed geo
// queries would silently miss every entity written before the upgrade.
TEST(Store, MigrationTwoIndexesExistingGeoPropertiesPerType) {
  TempDir dir;
  const auto file = dir.path() / "cityroom.db";
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store);
    ASSERT_TRUE(put_sync(*store, "", sensor("urn:x:old", 1)));
  }
  sqlite3* db = nullptr;
  sqlite3_open(file.c_str(), &db);
  // Back to what a version-1 database held: no per-type cells, no records or history tables.
  ASSERT_EQ(sqlite3_exec(db,
                         "DELETE FROM idx WHERE attr < 0; DROP TABLE records; DROP TABLE history; "
                         "DROP TABLE history_chunk; DROP TABLE history_last; "
                         "DROP TABLE history_rollup; "
                         "PRAGMA user_version = 1",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);

  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(user_version(file), 5);
  EntityQuery q;
  q.any_of_types = std::vector<std::string>{"https://example.org/Sensor"};
  q.geo_box = EntityQuery::GeoBox{"https://example.org/location", {126.99, 37.49, 127.01, 37.51}};
  auto found = store->query("", q);
  ASSERT_TRUE(found) << found.error().detail;
  ASSERT_EQ(found->entities.size(), 1u);
  EXPECT_EQ(found->entities[0].at("id"), "urn:x:old");
  q.any_of_types = std::vector<std::string>{"https://example.org/Other"};
  EXPECT_TRUE(store->query("", q)->entities.empty());
}

TEST(Store, ReportsUnopenableDirectories) {
  SqliteOptions options;
  options.data_dir = "/proc/cityroom-cannot-be-here";
  auto s = open_sqlite(options);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().detail.find("/proc/cityroom-cannot-be-here"), std::string::npos);
}

// Holds the writer thread inside a work item until released.
class WriterBlocker {
 public:
  explicit WriterBlocker(Store& store) {
    store.write(
        [this](Transaction&) -> base::Result<WorkOutput> {
          entered_.set_value();
          release_.get_future().wait();
          return WorkOutput{};
        },
        [this](base::Result<WorkOutput>) { finished_.set_value(); });
    entered_.get_future().wait();
  }
  void release() {
    release_.set_value();
    finished_.get_future().wait();
  }

 private:
  std::promise<void> entered_, release_, finished_;
};

TEST(Store, FullQueueRefusesAtOnce) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  WriterBlocker blocker(*store);
  std::atomic<std::size_t> ok{0};
  for (std::size_t i = 0; i < kWriteQueueMax; ++i) {
    store->write([](Transaction&) -> base::Result<WorkOutput> { return WorkOutput{}; },
                 [&](base::Result<WorkOutput> r) { ok += r.has_value(); });
  }
  EXPECT_EQ(store->stats().queue_depth, kWriteQueueMax);
  std::optional<base::Error> refused;
  store->write([](Transaction&) -> base::Result<WorkOutput> { return WorkOutput{}; },
               [&](base::Result<WorkOutput> r) { refused = r.error(); });
  ASSERT_TRUE(refused);  // answered before write() returned
  EXPECT_EQ(refused->kind, base::ErrorKind::kServiceUnavailable);
  EXPECT_EQ(refused->detail, "write queue full");
  blocker.release();
  store->close();
  EXPECT_EQ(ok, kWriteQueueMax);
}

Work put_then(std::string id, std::optional<base::Error> fail_with, bool throw_after = false) {
  return [=](Transaction& t) -> base::Result<WorkOutput> {
    if (auto r = t.put("", sensor(id, 1)); !r) return std::unexpected(r.error());
    if (throw_after) throw std::runtime_error("boom");
    if (fail_with) return std::unexpected(*fail_with);
    return WorkOutput{};
  };
}

TEST(Store, FailingItemRollsBackOnlyItself) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  std::vector<std::optional<base::Result<WorkOutput>>> results(4);
  {
    WriterBlocker blocker(*store);  // the four items below then share one batch
    const base::Error conflict{base::ErrorKind::kAlreadyExists, "already there"};
    store->write(put_then("urn:a", std::nullopt), [&](auto r) { results[0] = r; });
    store->write(put_then("urn:b", conflict), [&](auto r) { results[1] = r; });
    store->write(put_then("urn:c", std::nullopt, true), [&](auto r) { results[2] = r; });
    store->write(put_then("urn:d", std::nullopt), [&](auto r) { results[3] = r; });
    blocker.release();
  }
  store->close();  // drains: every callback has run
  ASSERT_TRUE(results[0] && results[1] && results[2] && results[3]);
  EXPECT_TRUE(*results[0]);
  ASSERT_FALSE(*results[1]);
  EXPECT_EQ(results[1]->error().kind, base::ErrorKind::kAlreadyExists);
  ASSERT_FALSE(*results[2]);
  EXPECT_NE(results[2]->error().detail.find("boom"), std::string::npos);
  EXPECT_TRUE(*results[3]);

  store = open_store(dir.path());
  ASSERT_TRUE(store);
  EXPECT_TRUE(*store->get("", "urn:a"));
  EXPECT_FALSE(*store->get("", "urn:b"));
  EXPECT_FALSE(*store->get("", "urn:c"));
  EXPECT_TRUE(*store->get("", "urn:d"));
  EXPECT_EQ(store->stats().entities, 2u);
}

TEST(Store, GroupCommitsConcurrentWriters) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  constexpr int kThreads = 8, kPerThread = 250;
  std::vector<std::atomic<int>> calls(kThreads * kPerThread);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int n = t * kPerThread + i;
        store->write(put_then(fmt::format("urn:e:{:05}", n), std::nullopt),
                     [&, n](base::Result<WorkOutput> r) {
                       ++calls[n];
                       if (!r) ++failures;
                     });
      }
    });
  }
  for (auto& t : threads) t.join();
  store->close();
  EXPECT_EQ(failures, 0);
  EXPECT_TRUE(std::all_of(calls.begin(), calls.end(), [](auto& c) { return c == 1; }));

  const Stats s = store->stats();
  EXPECT_EQ(s.work_items, static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_LE(s.commits, s.work_items);
  std::uint64_t bucketed = 0;
  for (auto b : s.batch_size_buckets) bucketed += b;
  EXPECT_EQ(bucketed, s.commits);
  EXPECT_EQ(s.batch_size_buckets.size(), 12u);
  EXPECT_EQ(s.state, "closed");

  store = open_store(dir.path());
  EntityQuery all;
  all.count = true;
  all.limit = 0;
  EXPECT_EQ(store->query("", all)->total, static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(store->stats().entities, static_cast<std::uint64_t>(kThreads * kPerThread));
}

TEST(Store, CloseDrainsThenRefuses) {
  TempDir dir;
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  std::atomic<int> ok{0};
  for (int i = 0; i < 100; ++i) {
    store->write(put_then(fmt::format("urn:c:{}", i), std::nullopt),
                 [&](base::Result<WorkOutput> r) { ok += r.has_value(); });
  }
  store->close();
  EXPECT_EQ(ok, 100);

  std::optional<base::Error> refused;
  store->write(put_then("urn:late", std::nullopt), [&](auto r) { refused = r.error(); });
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->kind, base::ErrorKind::kServiceUnavailable);
  EXPECT_EQ(refused->detail, "store is closed");
  auto got = store->get("", "urn:c:1");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().kind, base::ErrorKind::kServiceUnavailable);
  store->close();  // idempotent
  EXPECT_EQ(store->stats().state, "closed");
  // The checkpoint emptied the WAL: the database file alone holds everything.
  const auto wal = dir.path() / "cityroom.db-wal";
  EXPECT_TRUE(!std::filesystem::exists(wal) || std::filesystem::file_size(wal) == 0);

  store = open_store(dir.path());
  EntityQuery all;
  all.count = true;
  EXPECT_EQ(store->query("", all)->total, 100u);
}

// Subscriptions live in records: they must survive a restart, stay per tenant and vanish when
// removed, or a city's notification rules would silently disappear or come back.
TEST(Store, RecordsPersistPerKindAndTenant) {
  TempDir dir;
  {
    auto store = open_store(dir.path());
    ASSERT_TRUE(store);
    ASSERT_TRUE(write_sync(*store, [](Transaction& t) -> base::Result<WorkOutput> {
      if (auto r = t.put_record("subscription", "", "urn:s:1", R"({"a":1})"); !r) {
        return std::unexpected(r.error());
      }
      if (auto r = t.put_record("subscription", "seoul", "urn:s:1", R"({"b":2})"); !r) {
        return std::unexpected(r.error());
      }
      if (auto r = t.put_record("other", "", "urn:o:1", "{}"); !r) {
        return std::unexpected(r.error());
      }
      if (auto r = t.put_record("subscription", "", "urn:s:1", R"({"a":3})"); !r) {
        return std::unexpected(r.error());
      }
      return WorkOutput{};
    }));
  }
  auto store = open_store(dir.path());
  ASSERT_TRUE(store);
  auto subs = store->records("subscription");
  ASSERT_TRUE(subs) << subs.error().detail;
  ASSERT_EQ(subs->size(), 2u);
  EXPECT_EQ((*subs)[0].tenant, "");
  EXPECT_EQ((*subs)[0].doc, R"({"a":3})");
  EXPECT_EQ((*subs)[1].tenant, "seoul");
  bool removed = false, removed_again = true;
  ASSERT_TRUE(write_sync(*store, [&](Transaction& t) -> base::Result<WorkOutput> {
    auto r = t.remove_record("subscription", "", "urn:s:1");
    if (!r) return std::unexpected(r.error());
    removed = *r;
    auto again = t.remove_record("subscription", "", "urn:s:1");
    if (!again) return std::unexpected(again.error());
    removed_again = *again;
    return WorkOutput{};
  }));
  EXPECT_TRUE(removed);
  EXPECT_FALSE(removed_again);
  EXPECT_EQ(store->records("subscription")->size(), 1u);
  EXPECT_EQ(store->records("other")->size(), 1u);
}

}  // namespace
}  // namespace cityroom::store
