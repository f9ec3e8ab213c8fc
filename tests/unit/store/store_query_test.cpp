// Queries: every push-down path (ids, geo box, types, value conditions) selects exactly what a
// full scan with the same filter as a predicate selects, and what a plain in-memory filter of
// the same entities selects; paging and counts are stable.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>
#include <regex>
#include <set>

#include "store/sqlite/geo_cells.h"
#include "store_test_util.h"

namespace cityroom::store {
namespace {

using Condition = query::Filter::Condition;
using testing::open_store;
using testing::parse_entity;
using testing::TempDir;
using testing::write_sync;

const std::string kNs = "https://example.org/";
const std::string kTemperature = kNs + "temperature";
const std::string kName = kNs + "name";
const std::string kOwner = kNs + "owner";
const std::string kLocation = kNs + "location";
const std::string kTags = kNs + "tags";
const std::vector<std::string> kTypes = {kNs + "Alpha", kNs + "Beta", kNs + "Gamma"};

json::object instance(std::string_view type, std::string_view member, json::value v) {
  json::object o;
  o["type"] = type;
  o[member] = std::move(v);
  return o;
}

json::value point(double lon, double lat) {
  return json::object{{"type", "Point"}, {"coordinates", json::array{lon, lat}}};
}

json::value square(double lon, double lat, double side) {
  json::array ring{json::array{lon, lat}, json::array{lon + side, lat},
                   json::array{lon + side, lat + side}, json::array{lon, lat + side},
                   json::array{lon, lat}};
  return json::object{{"type", "Polygon"}, {"coordinates", json::array{ring}}};
}

// Random entities over a small vocabulary so that queries hit many of them.
class Generator {
 public:
  explicit Generator(unsigned seed) : rng_(seed) {}

  model::Entity entity(int n) {
    model::Entity e;
    const std::string& type = kTypes[pick(kTypes.size())];
    e["id"] = fmt::format("urn:ngsi-ld:{}:{:04}", type.substr(kNs.size()), n);
    json::array types{json::value(type)};
    if (chance(10)) types.push_back(json::value(kTypes[pick(kTypes.size())]));
    e["type"] = types;
    if (!chance(15)) e[kTemperature] = temperatures();
    if (!chance(20)) e[kName] = json::array{name()};
    if (chance(60)) {
      e[kOwner] = json::array{instance("Relationship", "object",
                                       json::value(fmt::format("urn:ngsi-ld:Person:{}", pick(5))))};
    }
    if (!chance(10)) e[kLocation] = json::array{location()};
    if (chance(30)) e[kTags] = json::array{instance("Property", "value", json::array{"a", 1})};
    return e;
  }

  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  bool chance(int percent) { return static_cast<int>(pick(100)) < percent; }
  double uniform(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng_);
  }

 private:
  json::array temperatures() {
    json::array list;
    const int instances = chance(20) ? 2 : 1;
    for (int i = 0; i < instances; ++i) {
      json::value v = chance(50) ? json::value(static_cast<std::int64_t>(pick(40)))
                                 : json::value(static_cast<double>(pick(80)) / 2);
      if (chance(5)) v = "warm";
      auto o = instance("Property", "value", v);
      if (i > 0) o["datasetId"] = "urn:ngsi-ld:Dataset:second";
      list.push_back(o);
    }
    return list;
  }
  json::object name() {
    const std::string text = fmt::format("n{}", pick(6));
    if (chance(25)) {
      return instance("LanguageProperty", "languageMap",
                      json::object{{"en", text}, {"ko", "이름"}});
    }
    return instance("Property", "value", json::value(text));
  }
  json::object location() {
    const double lon = uniform(126.8, 127.2), lat = uniform(37.4, 37.7);
    if (chance(25)) return instance("GeoProperty", "value", square(lon, lat, uniform(0.001, 0.05)));
    return instance("GeoProperty", "value", point(lon, lat));
  }
  std::mt19937 rng_;
};

// ---- the reference semantics, written independently of the store --------------------------

bool compares(const json::value& v, const Condition& c) {
  std::optional<int> cmp;
  if (v.is_number() && c.literal.is_number()) {
    const double a = v.to_number<double>(), b = c.literal.to_number<double>();
    cmp = a < b ? -1 : (a > b ? 1 : 0);
  } else if (v.is_string() && c.literal.is_string()) {
    const int x = std::string_view(v.get_string()).compare(c.literal.get_string());
    cmp = x < 0 ? -1 : (x > 0 ? 1 : 0);
  }
  if (!cmp) return false;
  switch (c.op) {
    case Condition::Op::kEq:
      return *cmp == 0;
    case Condition::Op::kLt:
      return *cmp < 0;
    case Condition::Op::kLe:
      return *cmp <= 0;
    case Condition::Op::kGt:
      return *cmp > 0;
    case Condition::Op::kGe:
      return *cmp >= 0;
    case Condition::Op::kExists:
      return true;
  }
  return false;
}

// What q would decide: a Property's value or Relationship's object, or any string of a
// LanguageProperty (which the store cannot index and must still find).
bool q_matches(const model::Entity& e, const Condition& c) {
  const json::value* list = e.if_contains(c.attribute);
  if (!list) return false;
  for (const json::value& item : list->as_array()) {
    const json::object& o = item.as_object();
    if (c.op == Condition::Op::kExists) return true;
    for (const char* member : {"value", "object"}) {
      if (const json::value* v = o.if_contains(member); v && compares(*v, c)) return true;
    }
    if (const json::value* m = o.if_contains("languageMap")) {
      for (const auto& kv : m->as_object()) {
        if (compares(kv.value(), c)) return true;
      }
    }
  }
  return false;
}

void extend(const json::value& coords, geo::Box& b, bool& any) {
  const json::array& a = coords.as_array();
  if (a[0].is_number()) {
    const double lon = a[0].to_number<double>(), lat = a[1].to_number<double>();
    if (!any) b = {lon, lat, lon, lat};
    b = {std::min(b.min_lon, lon), std::min(b.min_lat, lat), std::max(b.max_lon, lon),
         std::max(b.max_lat, lat)};
    any = true;
    return;
  }
  for (const auto& c : a) extend(c, b, any);
}

bool in_box(const model::Entity& e, const EntityQuery::GeoBox& g) {
  const json::value* list = e.if_contains(g.attribute);
  if (!list) return false;
  for (const json::value& item : list->as_array()) {
    geo::Box b;
    bool any = false;
    extend(item.at("value").at("coordinates"), b, any);
    if (any && b.min_lon <= g.box.max_lon && b.max_lon >= g.box.min_lon &&
        b.min_lat <= g.box.max_lat && b.max_lat >= g.box.min_lat) {
      return true;
    }
  }
  return false;
}

bool has_type(const model::Entity& e, const std::vector<std::string>& types) {
  for (const auto& t : e.at("type").as_array()) {
    if (std::find(types.begin(), types.end(), std::string_view(t.as_string())) != types.end()) {
      return true;
    }
  }
  return false;
}

// Everything a query asks, as one predicate over an entity.
std::function<bool(const model::Entity&)> full_predicate(const EntityQuery& q) {
  return [q](const model::Entity& e) {
    const std::string id(e.at("id").as_string());
    if (q.ids && std::find(q.ids->begin(), q.ids->end(), id) == q.ids->end()) return false;
    if (q.id_pattern && !std::regex_search(id, std::regex(*q.id_pattern))) return false;
    if (q.any_of_types && !has_type(e, *q.any_of_types)) return false;
    if (q.geo_box && !in_box(e, *q.geo_box)) return false;
    return !q.predicate || q.predicate(e);
  };
}

std::vector<std::string> ids_of(const std::vector<model::Entity>& es) {
  std::vector<std::string> ids;
  for (const auto& e : es) ids.emplace_back(e.at("id").as_string());
  return ids;
}

class QueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = open_store(dir_.path());
    ASSERT_TRUE(store_);
    Generator gen(20240611);
    for (int n = 0; n < kEntities; ++n) entities_.push_back(gen.entity(n));
    entities_.push_back(parse_entity(
        R"({"id": "urn:ngsi-ld:Alpha:other-tenant", "type": ["https://example.org/Alpha"]})"));
    auto r = write_sync(*store_, [this](Transaction& t) -> base::Result<WorkOutput> {
      for (std::size_t i = 0; i + 1 < entities_.size(); ++i) {
        if (auto p = t.put("", entities_[i]); !p) return std::unexpected(p.error());
      }
      if (auto p = t.put("other", entities_.back()); !p) return std::unexpected(p.error());
      return WorkOutput{};
    });
    ASSERT_TRUE(r) << r.error().detail;
    entities_.pop_back();
    std::sort(entities_.begin(), entities_.end(), [](const auto& a, const auto& b) {
      return a.at("id").as_string() < b.at("id").as_string();
    });
  }

  // The matching ids, in id order, from memory.
  std::vector<std::string> expected(const EntityQuery& q) const {
    auto keep = full_predicate(q);
    std::vector<std::string> ids;
    for (const auto& e : entities_) {
      if (keep(e)) ids.emplace_back(e.at("id").as_string());
    }
    return ids;
  }

  EntityQuery random_query(Generator& g) const {
    EntityQuery q;
    if (g.chance(15)) {
      q.ids.emplace();
      for (int i = 0; i < 12; ++i) {
        q.ids->push_back(g.chance(85)
                             ? std::string(entities_[g.pick(entities_.size())].at("id").as_string())
                             : "urn:ngsi-ld:Nothing:" + std::to_string(i));
      }
    }
    if (g.chance(25)) {
      // Anchored patterns with a literal prefix take the id-range plan; the others scan.
      static const std::array<const char*, 6> kPatterns = {
          "Alpha:00[0-4]", ":\\d*7$", "^urn:ngsi-ld:Beta:", "^urn:ngsi-ld:Gamma:00[1-3]",
          "^urn:ngsi-ld:Alpha:000?1", "^urn:ngsi-ld:(Alpha|Beta):0001"};
      q.id_pattern = kPatterns[g.pick(kPatterns.size())];
    }
    if (g.chance(40)) {
      q.any_of_types = std::vector<std::string>{kTypes[g.pick(3)]};
      if (g.chance(30)) q.any_of_types->push_back(kTypes[g.pick(3)]);
    }
    if (g.chance(30)) {
      const double lon = g.uniform(126.8, 127.1), lat = g.uniform(37.4, 37.6);
      q.geo_box = EntityQuery::GeoBox{
          kLocation, {lon, lat, lon + g.uniform(0.01, 0.2), lat + g.uniform(0.01, 0.2)}};
    }
    const int conditions = g.chance(55) ? 1 + static_cast<int>(g.pick(2)) : 0;
    for (int i = 0; i < conditions; ++i) q.conditions.push_back(random_condition(g));
    if (!q.conditions.empty()) {
      q.predicate = [cs = q.conditions](const model::Entity& e) {
        return std::all_of(cs.begin(), cs.end(),
                           [&](const Condition& c) { return q_matches(e, c); });
      };
    }
    q.offset = g.chance(30) ? g.pick(10) : 0;
    q.limit = g.chance(20) ? 1000 : 1 + g.pick(25);
    q.count = g.chance(60);
    return q;
  }

  static Condition random_condition(Generator& g) {
    switch (g.pick(7)) {
      case 0:
        return {kTemperature, Condition::Op::kEq, json::value(static_cast<double>(g.pick(40)))};
      case 1:
        return {kTemperature, Condition::Op::kGt,
                json::value(static_cast<std::int64_t>(g.pick(40)))};
      case 2:
        return {kTemperature, Condition::Op::kLe, json::value(g.uniform(0, 40))};
      case 3:
        return {kName, Condition::Op::kEq, json::value(fmt::format("n{}", g.pick(6)))};
      case 4:
        return {kOwner, Condition::Op::kEq,
                json::value(fmt::format("urn:ngsi-ld:Person:{}", g.pick(5)))};
      case 5:
        return {kTemperature, Condition::Op::kEq, json::value("warm")};
      default:
        return {g.chance(50) ? kOwner : kTags, Condition::Op::kExists, json::value()};
    }
  }

  static constexpr int kEntities = 600;
  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::vector<model::Entity> entities_;
};

TEST_F(QueryTest, EveryPlanAgreesWithAFullScan) {
  Generator g(7);
  constexpr int kQueries = 400;
  for (int i = 0; i < kQueries; ++i) {
    const EntityQuery q = random_query(g);
    const std::vector<std::string> all = expected(q);
    const std::size_t begin = std::min(q.offset, all.size());
    const std::size_t end = std::min(begin + q.limit, all.size());
    const std::vector<std::string> page(all.begin() + begin, all.begin() + end);

    auto pushed = store_->query("", q);
    ASSERT_TRUE(pushed) << pushed.error().detail;
    EXPECT_EQ(ids_of(pushed->entities), page) << "query " << i;
    EXPECT_EQ(pushed->total.has_value(), q.count);
    if (q.count) {
      EXPECT_EQ(*pushed->total, all.size()) << "query " << i;
    }

    EntityQuery scan;  // no push-down at all: the store scans the tenant
    scan.predicate = full_predicate(q);
    scan.offset = q.offset;
    scan.limit = q.limit;
    scan.count = true;
    auto scanned = store_->query("", scan);
    ASSERT_TRUE(scanned) << scanned.error().detail;
    EXPECT_EQ(ids_of(scanned->entities), page) << "query " << i;
    EXPECT_EQ(*scanned->total, all.size());
  }
}

TEST_F(QueryTest, PagesAreStableAndComplete) {
  EntityQuery q;
  q.any_of_types = std::vector<std::string>{kTypes[0], kTypes[2]};
  q.limit = 7;
  q.count = true;
  std::vector<std::string> seen;
  for (q.offset = 0;; q.offset += q.limit) {
    auto page = store_->query("", q);
    ASSERT_TRUE(page);
    EXPECT_EQ(*page->total, expected(q).size());
    if (page->entities.empty()) break;
    for (auto& id : ids_of(page->entities)) seen.push_back(id);
  }
  EXPECT_EQ(seen, expected(q));
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
}

TEST_F(QueryTest, ReturnsStoredEntitiesIntact) {
  EntityQuery q;
  q.limit = 3;
  auto r = store_->query("", q);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->entities.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(json::serialize(r->entities[i]), json::serialize(entities_[i]));
  }
  EXPECT_FALSE(r->total);
}

TEST_F(QueryTest, FindsConditionsOnValuesTheIndexCannotCompare) {
  // A LanguageProperty "name" is indexed as "other": q on it must still find the entity.
  EntityQuery q;
  const Condition c{kName, Condition::Op::kEq, json::value("n1")};
  q.conditions = {c};
  q.predicate = [c](const model::Entity& e) { return q_matches(e, c); };
  q.limit = 1000;
  auto r = store_->query("", q);
  ASSERT_TRUE(r);
  const auto want = expected(q);
  EXPECT_EQ(ids_of(r->entities), want);
  const bool found_language_map = std::any_of(r->entities.begin(), r->entities.end(), [](auto& e) {
    return e.at(kName).as_array()[0].as_object().contains("languageMap");
  });
  EXPECT_TRUE(found_language_map);
}

TEST_F(QueryTest, RejectsInvalidIdPatterns) {
  EntityQuery q;
  q.id_pattern = "urn:(unclosed";
  auto r = store_->query("", q);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, base::ErrorKind::kInvalidRequest);
  EXPECT_EQ(r.error().detail, "idPattern is not a valid regular expression");
}

TEST_F(QueryTest, KeepsTenantsApart) {
  EntityQuery q;
  q.count = true;
  q.limit = 1000;
  auto other = store_->query("other", q);
  ASSERT_TRUE(other);
  EXPECT_EQ(ids_of(other->entities), std::vector<std::string>{"urn:ngsi-ld:Alpha:other-tenant"});
  q.any_of_types = std::vector<std::string>{kTypes[0]};
  auto mine = store_->query("", q);
  EXPECT_EQ(*mine->total, expected(q).size());
}

TEST_F(QueryTest, PurgeByTypeRemovesExactlyTheMatches) {
  EntityQuery q;
  q.any_of_types = std::vector<std::string>{kTypes[1]};
  const auto doomed = expected(q);
  ASSERT_FALSE(doomed.empty());
  auto r = write_sync(*store_, [&](Transaction& t) -> base::Result<WorkOutput> {
    auto ids = t.ids_matching("", q);
    if (!ids) return std::unexpected(ids.error());
    if (*ids != doomed) return base::fail(base::ErrorKind::kInternalError, "wrong ids");
    for (const auto& id : *ids) {
      if (auto gone = t.remove("", id); !gone || !*gone) {
        return base::fail(base::ErrorKind::kInternalError, "remove failed");
      }
    }
    return WorkOutput{};
  });
  ASSERT_TRUE(r) << r.error().detail;
  EntityQuery all;
  all.count = true;
  EXPECT_EQ(*store_->query("", q)->total, 0u);
  EXPECT_EQ(*store_->query("", all)->total, entities_.size() - doomed.size());
  EXPECT_EQ(store_->stats().entities, entities_.size() - doomed.size() + 1);  // + "other"
  // The removed entities' index rows are gone too: a geo query finds none of them.
  EntityQuery geo;
  geo.geo_box = EntityQuery::GeoBox{kLocation, {126, 37, 128, 38}};
  geo.limit = 10000;
  for (const auto& id : ids_of(store_->query("", geo)->entities)) {
    EXPECT_FALSE(std::binary_search(doomed.begin(), doomed.end(), id));
  }
}

TEST_F(QueryTest, ReplacingAnEntityMovesItInEveryIndex) {
  model::Entity e = entities_.front();
  const std::string id(e.at("id").as_string());
  e["type"] = json::array{"https://example.org/Delta"};
  e[kTemperature] = json::array{instance("Property", "value", json::value(1234.5))};
  e[kLocation] = json::array{instance("GeoProperty", "value", point(10.0, 50.0))};
  e.erase(kOwner);
  ASSERT_TRUE(testing::put_sync(*store_, "", e));

  auto ids = [&](EntityQuery q) {
    q.limit = 10000;
    return ids_of(store_->query("", q)->entities);
  };
  auto contains = [&](const std::vector<std::string>& v) {
    return std::find(v.begin(), v.end(), id) != v.end();
  };
  EntityQuery by_type;
  by_type.any_of_types = std::vector<std::string>{"https://example.org/Delta"};
  EXPECT_EQ(ids(by_type), std::vector<std::string>{id});
  EntityQuery hot;
  hot.conditions = {{kTemperature, Condition::Op::kGe, json::value(1000)}};
  EXPECT_EQ(ids(hot), std::vector<std::string>{id});
  EntityQuery far;
  far.geo_box = EntityQuery::GeoBox{kLocation, {9.9, 49.9, 10.1, 50.1}};
  EXPECT_EQ(ids(far), std::vector<std::string>{id});
  EntityQuery owned;
  owned.conditions = {{kOwner, Condition::Op::kExists, json::value()}};
  EXPECT_FALSE(contains(ids(owned)));
  EntityQuery seoul;
  seoul.geo_box = EntityQuery::GeoBox{kLocation, {126, 37, 128, 38}};
  EXPECT_FALSE(contains(ids(seoul)));

  auto types = store_->types("");
  ASSERT_TRUE(types);
  auto delta = std::find_if(types->begin(), types->end(),
                            [](auto& t) { return t.type == "https://example.org/Delta"; });
  ASSERT_NE(delta, types->end());
  EXPECT_EQ(delta->entity_count, 1u);
  std::size_t total = 0;
  for (const auto& t : *types) total += t.entity_count;
  auto distinct_types = [](const model::Entity& x) {
    std::set<std::string> types;
    for (const auto& t : x.at("type").as_array()) types.emplace(t.as_string());
    return types.size();
  };
  std::size_t expected_total = 1;  // the replaced entity now has one type
  for (std::size_t i = 1; i < entities_.size(); ++i) expected_total += distinct_types(entities_[i]);
  EXPECT_EQ(total, expected_total);
}

// ---- orderBy: the store's order against a brute-force sort written here ------------------

// Kinds in the order of ETSI GS CIM 009 V1.9.1 4.23.2 (null and absent last).
enum RefRank { kRefNumber, kRefString, kRefObject, kRefArray, kRefBoolean, kRefNull, kRefAbsent };

struct RefValue {
  int rank = kRefAbsent;
  double number = 0;
  std::string text;
};

RefValue ref_value(const model::Entity& e, const std::string& key) {
  if (key == "id") return {kRefString, 0, std::string(e.at("id").as_string())};
  const json::value* list = e.if_contains(key);
  if (!list || list->as_array().empty()) return {};
  // The default instance, else the smallest datasetId.
  const json::object* chosen = nullptr;
  for (const auto& item : list->as_array()) {
    const json::object& o = item.as_object();
    if (!o.contains("datasetId")) {
      chosen = &o;
      break;
    }
    if (!chosen || o.at("datasetId").as_string() < chosen->at("datasetId").as_string()) chosen = &o;
  }
  const json::value* v = nullptr;
  for (const char* member : {"value", "object", "languageMap"}) {
    if (!v) v = chosen->if_contains(member);
  }
  if (!v) return {};
  if (v->is_number()) return {kRefNumber, v->to_number<double>(), {}};
  if (v->is_string()) return {kRefString, 0, std::string(v->as_string())};
  if (v->is_object()) return {kRefObject, 0, json::serialize(*v)};
  if (v->is_array()) return {kRefArray, 0, json::serialize(*v)};
  if (v->is_bool()) return {kRefBoolean, v->as_bool() ? 1.0 : 0.0, {}};
  return {kRefNull, 0, {}};
}

struct RefKey {
  std::string attribute;  // expanded, or "id"
  bool descending = false;
};

// -1 / 0 / 1: kinds first (never reversed), then values in the key's direction.
int ref_compare(const RefValue& a, const RefValue& b, bool descending) {
  if (a.rank != b.rank) return a.rank < b.rank ? -1 : 1;
  int c = 0;
  if (a.rank == kRefNumber || a.rank == kRefBoolean) {
    c = a.number < b.number ? -1 : (b.number < a.number ? 1 : 0);
  } else if (a.rank == kRefString || a.rank == kRefObject || a.rank == kRefArray) {
    c = a.text < b.text ? -1 : (b.text < a.text ? 1 : 0);
  }
  return descending ? -c : c;
}

std::vector<std::string> ref_sorted(std::vector<model::Entity> matches,
                                    const std::vector<RefKey>& keys) {
  std::stable_sort(matches.begin(), matches.end(), [&](const auto& a, const auto& b) {
    for (const RefKey& k : keys) {
      const int c = ref_compare(ref_value(a, k.attribute), ref_value(b, k.attribute), k.descending);
      if (c != 0) return c < 0;
    }
    return a.at("id").as_string() < b.at("id").as_string();
  });
  return ids_of(matches);
}

query::Ordering ordering_of(const std::vector<RefKey>& keys) {
  std::string text;
  for (const RefKey& k : keys) {
    if (!text.empty()) text += ',';
    text += k.attribute == "id" ? "id" : k.attribute.substr(kNs.size());
    if (k.descending) text += ";desc";
  }
  auto parsed = query::parse_order_by(text);
  EXPECT_TRUE(parsed) << text;
  parsed->expand_names([](std::string_view t) { return kNs + std::string(t); });
  return *parsed;
}

TEST_F(QueryTest, OrderedPagesAgreeWithABruteForceSort) {
  // temperature and owner hold only numbers and strings (the value-index walk serves them);
  // name (LanguageProperty), tags (arrays) and location (objects) need the full pass.
  const std::vector<std::vector<RefKey>> orders = {
      {{kTemperature, false}},          {{kTemperature, true}},
      {{kOwner, false}},                {{kOwner, true}},
      {{kName, false}},                 {{kName, true}},
      {{kTags, false}},                 {{kLocation, true}},
      {{"id", true}},                   {{"id", false}},
      {{kOwner, false}, {kTemperature, true}},
      {{kName, true}, {kTemperature, false}, {"id", true}},
  };
  Generator g(11);
  constexpr int kQueries = 300;
  for (int i = 0; i < kQueries; ++i) {
    EntityQuery q = random_query(g);
    const auto& keys = orders[g.pick(orders.size())];
    q.order_by = ordering_of(keys);
    std::vector<model::Entity> matches;
    const auto keep = full_predicate(q);
    for (const auto& e : entities_) {
      if (keep(e)) matches.push_back(e);
    }
    const std::vector<std::string> all = ref_sorted(matches, keys);
    const std::size_t begin = std::min(q.offset, all.size());
    const std::size_t end = std::min(begin + q.limit, all.size());
    const std::vector<std::string> page(all.begin() + begin, all.begin() + end);

    auto got = store_->query("", q);
    ASSERT_TRUE(got) << got.error().detail;
    EXPECT_EQ(ids_of(got->entities), page) << "query " << i;
    if (q.count) {
      EXPECT_EQ(*got->total, all.size()) << "query " << i;
    }
  }
}

TEST_F(QueryTest, OrderedPagesTileTheWholeOrder) {
  // Paging through an order meets every match once, in order, whatever the page size.
  EntityQuery q;
  q.any_of_types = std::vector<std::string>{kTypes[1]};
  q.order_by = ordering_of({{kTemperature, true}});
  q.count = true;
  std::vector<model::Entity> matches;
  for (const auto& e : entities_) {
    if (has_type(e, *q.any_of_types)) matches.push_back(e);
  }
  const auto want = ref_sorted(matches, {{kTemperature, true}});
  for (std::size_t limit : {1u, 7u, 50u}) {
    std::vector<std::string> seen;
    q.limit = limit;
    for (q.offset = 0;; q.offset += limit) {
      auto page = store_->query("", q);
      ASSERT_TRUE(page);
      EXPECT_EQ(*page->total, want.size());
      if (page->entities.empty()) break;
      for (auto& id : ids_of(page->entities)) seen.push_back(id);
    }
    EXPECT_EQ(seen, want) << "limit " << limit;
  }
}

TEST_F(QueryTest, OrdersByTheDefaultInstanceElseTheSmallestDatasetId) {
  auto with = [](std::string id, std::vector<std::pair<std::string, double>> instances) {
    model::Entity e;
    e["id"] = id;
    e["type"] = json::array{kTypes[0]};
    json::array list;
    for (auto& [dataset, v] : instances) {
      auto o = instance("Property", "value", json::value(v));
      if (!dataset.empty()) o["datasetId"] = dataset;
      list.push_back(o);
    }
    e[kTemperature] = list;
    return e;
  };
  const std::vector<model::Entity> es = {
      with("urn:a", {{"urn:ds:b", 1}, {"urn:ds:a", 30}}),  // orders by 30 (urn:ds:a)
      with("urn:b", {{"urn:ds:z", 2}, {"", 20}}),          // orders by 20 (default)
      with("urn:c", {{"", 25}}),
      with("urn:d", {}),  // no instance: absent, last
  };
  for (const auto& e : es) ASSERT_TRUE(testing::put_sync(*store_, "ordered", e));
  EntityQuery q;
  q.order_by = ordering_of({{kTemperature, false}});
  q.limit = 2;  // small enough for the index walk
  EXPECT_EQ(ids_of(store_->query("ordered", q)->entities),
            (std::vector<std::string>{"urn:b", "urn:c"}));
  q.limit = 10;
  EXPECT_EQ(ids_of(store_->query("ordered", q)->entities),
            (std::vector<std::string>{"urn:b", "urn:c", "urn:a", "urn:d"}));
  q.order_by = ordering_of({{kTemperature, true}});
  EXPECT_EQ(ids_of(store_->query("ordered", q)->entities),
            (std::vector<std::string>{"urn:a", "urn:c", "urn:b", "urn:d"}));
}

TEST_F(QueryTest, RefusesOrderedWindowsBeyondTheLimit) {
  EntityQuery q;
  q.order_by = ordering_of({{kTemperature, false}});
  q.offset = kOrderWindowMax;
  auto r = store_->query("", q);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, base::ErrorKind::kTooManyResults);
}

TEST(GeoCells, CandidatesIncludeEveryIntersectingBox) {
  std::mt19937 rng(99);
  auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  auto random_box = [&](double span) {
    const double lon = uniform(-180, 180 - span), lat = uniform(-90, 90 - span / 2);
    return geo::Box{lon, lat, lon + uniform(0, span), lat + uniform(0, span / 2)};
  };
  constexpr int kTrials = 20000;
  int intersecting = 0;
  for (int i = 0; i < kTrials; ++i) {
    const double scale = std::pow(10.0, uniform(-6, 2));
    const geo::Box stored = random_box(scale);
    geo::Box query = random_box(scale * uniform(0.1, 10));
    if (i % 2) {  // move the query near the stored box so that many intersect
      const double dx = query.max_lon - query.min_lon, dy = query.max_lat - query.min_lat;
      query.min_lon = stored.min_lon + uniform(-dx, scale);
      query.min_lat = stored.min_lat + uniform(-dy, scale / 2);
      query.max_lon = std::min(180.0, query.min_lon + dx);
      query.max_lat = std::min(90.0, query.min_lat + dy);
    }
    const bool hit = stored.min_lon <= query.max_lon && stored.max_lon >= query.min_lon &&
                     stored.min_lat <= query.max_lat && stored.max_lat >= query.min_lat;
    if (!hit) continue;
    ++intersecting;
    const auto cell = sqlite::cell_of(stored);
    const auto ranges = sqlite::cover(query);
    const bool found = std::any_of(ranges.begin(), ranges.end(),
                                   [&](auto& r) { return r.min <= cell && cell <= r.max; });
    ASSERT_TRUE(found) << "trial " << i;
    // The cell's own box, which the cell_meets pre-filter tests, must hold the stored box.
    const geo::Box c = sqlite::box_of(cell);
    ASSERT_TRUE(c.min_lon <= stored.min_lon && c.min_lat <= stored.min_lat &&
                c.max_lon >= stored.max_lon && c.max_lat >= stored.max_lat)
        << "trial " << i;
  }
  EXPECT_GT(intersecting, kTrials / 10);
}

TEST(GeoCells, SmallQueriesStaySelective) {
  // A 500 m box in Seoul: a handful of ranges, not a scan of the world.
  const auto ranges = sqlite::cover({127.00, 37.50, 127.005, 37.505});
  EXPECT_LE(ranges.size(), 2 * sqlite::kCellLevelMax + sqlite::kCoverCellsMax);
  const auto far = sqlite::cell_of({10.0, 50.0, 10.0, 50.0});
  for (const auto& r : ranges) EXPECT_FALSE(r.min <= far && far <= r.max);
}

}  // namespace
}  // namespace cityroom::store
