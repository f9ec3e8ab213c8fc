#include "store/sqlite/history.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <unordered_map>

#include "model/model.h"

namespace cityroom::store::sqlite {
namespace {

using model::key::kCreatedAt;
using model::key::kDatasetId;
using model::key::kModifiedAt;
using model::key::kObservedAt;
using model::key::kType;

// Attribute type codes of the k column (append only: the codes are on disk).
constexpr std::array<std::string_view, 8> kTypes = {
    "Property",     "Relationship", "GeoProperty",      "LanguageProperty",
    "VocabProperty", "ListProperty", "ListRelationship", "JsonProperty"};
constexpr std::int64_t kObservedFlag = 16;

constexpr char kInsert[] =
    "INSERT OR REPLACE INTO history(tenant, entity, attr, t, iid, ds, k, v, x) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
constexpr char kRemove[] = "DELETE FROM history WHERE tenant = ?1 AND entity = ?2";
constexpr char kRemoveInstance[] =
    "DELETE FROM history WHERE tenant = ?1 AND entity = ?2 AND attr = ?3 AND iid = ?4";
constexpr char kRemoveAttribute[] =
    "DELETE FROM history WHERE tenant = ?1 AND entity = ?2 AND attr = ?3";
constexpr char kRemoveAttributeDataset[] =
    "DELETE FROM history WHERE tenant = ?1 AND entity = ?2 AND attr = ?3 AND ds = ?4";
constexpr char kNameId[] = "SELECT id FROM names WHERE name = ?1";
constexpr char kNameOf[] = "SELECT name FROM names WHERE id = ?1";
constexpr char kNextAttr[] =
    "SELECT attr FROM history WHERE tenant = ?1 AND entity = ?2 AND attr > ?3 "
    "ORDER BY attr LIMIT 1";
constexpr char kByTime[] =
    "SELECT t, iid, ds, k, v, x FROM history WHERE tenant = ?1 AND entity = ?2 AND attr = ?3 "
    "AND t >= ?4 AND t < ?5 ORDER BY t, iid LIMIT ?6";
constexpr char kByTimeDesc[] =
    "SELECT t, iid, ds, k, v, x FROM history WHERE tenant = ?1 AND entity = ?2 AND attr = ?3 "
    "AND t >= ?4 AND t < ?5 ORDER BY t DESC, iid DESC LIMIT ?6";
constexpr char kByWrite[] =
    "SELECT t, iid, ds, k, v, x FROM history WHERE tenant = ?1 AND entity = ?2 AND attr = ?3 "
    "AND iid >= ?4 AND iid < ?5 ORDER BY iid LIMIT ?6";
constexpr char kByWriteDesc[] =
    "SELECT t, iid, ds, k, v, x FROM history WHERE tenant = ?1 AND entity = ?2 AND attr = ?3 "
    "AND iid >= ?4 AND iid < ?5 ORDER BY iid DESC LIMIT ?6";

std::int64_t type_code(std::string_view type) {
  const auto it = std::find(kTypes.begin(), kTypes.end(), type);
  return it == kTypes.end() ? 0 : static_cast<std::int64_t>(it - kTypes.begin());
}

// True when `v` goes into the v column natively (and is dropped from x).
bool native(std::string_view type, const json::value& v) {
  if (type != "Property" && type != "Relationship" && type != "VocabProperty") return false;
  return v.is_int64() || v.is_double() || v.is_uint64() || v.is_string();
}

void bind_native(Stmt& s, int i, const json::value& v) {
  if (v.is_int64())
    s.bind(i, v.get_int64());
  else if (v.is_double())
    s.bind(i, v.get_double());
  else if (v.is_uint64())
    s.bind(i, static_cast<double>(v.get_uint64()));
  else
    s.bind(i, std::string_view(v.get_string()));
}

base::Result<std::optional<std::int64_t>> name_id(Connection& c, std::string_view name) {
  auto s = c.prepare(kNameId);
  if (!s) return std::unexpected(s.error());
  auto row = s->bind(1, name).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(s->int64_at(0));
}

base::Result<std::string> name_of(Connection& c, std::int64_t id) {
  auto s = c.prepare(kNameOf);
  if (!s) return std::unexpected(s.error());
  auto row = s->bind(1, id).step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return base::fail(base::ErrorKind::kInternalError, "history names a lost name");
  return std::string(s->text_at(0));
}

base::Result<std::vector<std::int64_t>> attributes_of(Connection& c, std::int64_t tenant,
                                                      std::int64_t entity) {
  std::vector<std::int64_t> out;
  std::int64_t after = INT64_MIN;
  for (;;) {
    auto s = c.prepare(kNextAttr);
    if (!s) return std::unexpected(s.error());
    auto row = s->bind(1, tenant).bind(2, entity).bind(3, after).step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    after = s->int64_at(0);
    out.push_back(after);
  }
}

// Reads one attribute's rows into `series`.
base::Result<void> read_series(Connection& c, std::int64_t tenant, std::int64_t entity,
                               std::int64_t attr, const HistoryQuery& q, HistorySeries& series,
                               std::unordered_map<std::int64_t, std::string>& datasets) {
  const bool by_write = q.time_property == HistoryQuery::TimeProperty::kModifiedAt;
  const bool last = q.last_n.has_value();
  const char* sql = by_write ? (last ? kByWriteDesc : kByWrite) : (last ? kByTimeDesc : kByTime);
  const std::size_t want = last ? std::min(*q.last_n, q.limit) : q.limit;
  auto s = c.prepare(sql);
  if (!s) return std::unexpected(s.error());
  s->bind(1, tenant).bind(2, entity).bind(3, attr).bind(4, q.from).bind(5, q.to);
  s->bind(6, static_cast<std::int64_t>(std::min<std::size_t>(want, INT64_MAX - 1) + 1));
  for (;;) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    if (series.rows.size() + series.visited == want) {
      series.truncated = !last;
      break;
    }
    HistoryRow r;
    r.time = s->int64_at(0);
    r.instance = s->int64_at(1);
    const std::int64_t ds = s->int64_at(2);
    const std::int64_t k = s->int64_at(3);
    const std::string_view type = kTypes[static_cast<std::size_t>(k & 15) % kTypes.size()];
    const std::string_view member = model::value_member(type);
    json::object x;
    const bool only_value = (q.values_only || q.visit) && !s->is_null(4);
    if (!only_value && !s->is_null(5)) {
      auto parsed = json::parse(s->text_at(5));
      if (!parsed || !parsed->is_object()) {
        return base::fail(base::ErrorKind::kInternalError, "a history row has a bad document");
      }
      x = std::move(parsed->get_object());
    }
    if (s->type_at(4) == SQLITE_INTEGER) {
      r.value = s->int64_at(4);
    } else if (s->type_at(4) == SQLITE_FLOAT) {
      r.value = s->double_at(4);
    } else if (s->type_at(4) == SQLITE_TEXT) {
      r.value = json::value(s->text_at(4));
    } else if (auto* v = x.if_contains(member)) {
      r.value = *v;
    }
    if (q.visit) {
      // lastN is read newest first: those few rows are reversed below, not streamed
      if (!last) {
        q.visit(series.attribute, r.time, r.instance, r.value);
        ++series.visited;
        continue;
      }
    }
    if (!q.values_only && !q.visit) {
      json::object doc;
      doc[kType] = type;
      if (!s->is_null(4)) doc[member] = r.value;
      for (auto& m : x) doc[m.key()] = std::move(m.value());
      if (k & kObservedFlag) doc[kObservedAt] = base::format_iso8601(r.time);
      doc[kModifiedAt] = base::format_iso8601(r.instance);
      if (ds != 0) {
        auto it = datasets.find(ds);
        if (it == datasets.end()) {
          auto name = name_of(c, ds);
          if (!name) return std::unexpected(name.error());
          it = datasets.emplace(ds, std::move(*name)).first;
        }
        doc[kDatasetId] = it->second;
      }
      r.instance_doc = std::move(doc);
    }
    series.rows.push_back(std::move(r));
  }
  if (last) std::reverse(series.rows.begin(), series.rows.end());
  if (last && q.visit) {
    for (const auto& r : series.rows) q.visit(series.attribute, r.time, r.instance, r.value);
    series.visited = series.rows.size();
    series.rows.clear();
  }
  return {};
}

}  // namespace

namespace {

// Inserts one point of entity `entity` (a name id) with instance number `iid`.
base::Result<void> insert_point(Connection& c, const Intern& intern, std::int64_t tenant,
                                std::int64_t entity, const HistoryPoint& p, std::int64_t iid,
                                std::string& x_text) {
  auto attr = intern(p.attribute);
  if (!attr) return std::unexpected(attr.error());
  const auto* type_v = p.instance.if_contains(kType);
  const std::string_view type =
      type_v && type_v->is_string() ? std::string_view(type_v->get_string()) : "Property";
  const std::string_view member = model::value_member(type);
  const json::value* value = member.empty() ? nullptr : p.instance.if_contains(member);
  const bool is_native = value && native(type, *value);
  std::int64_t ds = 0;
  json::object x;
  for (const auto& m : p.instance) {
    const std::string_view name = m.key();
    if (name == kType || name == kCreatedAt || name == kModifiedAt) continue;
    if (name == kObservedAt && p.observed) continue;
    if (name == member && is_native) continue;
    if (name == kDatasetId && m.value().is_string()) {
      auto id = intern(m.value().get_string());
      if (!id) return std::unexpected(id.error());
      ds = *id;
      continue;
    }
    x[name] = m.value();
  }
  auto s = c.prepare(kInsert);
  if (!s) return std::unexpected(s.error());
  s->bind(1, tenant).bind(2, entity).bind(3, *attr).bind(4, p.time).bind(5, iid).bind(6, ds);
  s->bind(7, type_code(type) | (p.observed ? kObservedFlag : 0));
  if (is_native)
    bind_native(*s, 8, *value);
  else
    s->bind_null(8);
  if (x.empty()) {
    s->bind_null(9);
  } else {
    x_text = json::serialize(x);
    s->bind(9, std::string_view(x_text));
  }
  return s->run();
}

}  // namespace

base::Result<void> append_history(Connection& c, const Intern& intern, std::int64_t tenant,
                                  std::string_view entity_id,
                                  std::span<const HistoryPoint> points, std::int64_t& last_iid) {
  if (points.empty()) return {};
  auto entity = intern(entity_id);
  if (!entity) return std::unexpected(entity.error());
  std::string x_text;
  for (const HistoryPoint& p : points) {
    const std::int64_t iid = std::max(p.modified, last_iid + 1);
    last_iid = iid;
    if (auto r = insert_point(c, intern, tenant, *entity, p, iid, x_text); !r) return r;
  }
  return {};
}

base::Result<std::optional<HistoryRow>> history_instance(Connection& c, std::string_view tenant,
                                                         std::string_view entity_id,
                                                         std::string_view attribute,
                                                         std::int64_t instance) {
  HistoryQuery q;
  q.entity_id = entity_id;
  q.attributes = std::vector<std::string>{std::string(attribute)};
  q.time_property = HistoryQuery::TimeProperty::kModifiedAt;
  q.from = instance;
  q.to = instance + 1;
  auto read = read_history(c, tenant, q);
  if (!read) return std::unexpected(read.error());
  if (read->empty() || read->front().rows.empty()) return std::optional<HistoryRow>();
  return std::optional<HistoryRow>(std::move(read->front().rows.front()));
}

base::Result<bool> replace_history_instance(Connection& c, const Intern& intern,
                                            std::int64_t tenant, std::string_view entity_id,
                                            std::int64_t instance, const HistoryPoint& point) {
  auto entity = intern(entity_id);
  if (!entity) return std::unexpected(entity.error());
  auto attr = intern(point.attribute);
  if (!attr) return std::unexpected(attr.error());
  auto removed = remove_history_instance(c, tenant, *entity, *attr, instance);
  if (!removed) return std::unexpected(removed.error());
  if (!*removed) return false;
  std::string x_text;
  if (auto r = insert_point(c, intern, tenant, *entity, point, instance, x_text); !r) {
    return std::unexpected(r.error());
  }
  return true;
}

base::Result<bool> remove_history_instance(Connection& c, std::int64_t tenant,
                                           std::int64_t entity, std::int64_t attr,
                                           std::int64_t instance) {
  auto s = c.prepare(kRemoveInstance);
  if (!s) return std::unexpected(s.error());
  if (auto r = s->bind(1, tenant).bind(2, entity).bind(3, attr).bind(4, instance).run(); !r) {
    return std::unexpected(r.error());
  }
  return sqlite3_changes(c.handle()) > 0;
}

base::Result<std::size_t> remove_history_attribute(Connection& c, std::int64_t tenant,
                                                   std::int64_t entity, std::int64_t attr,
                                                   std::optional<std::int64_t> dataset) {
  auto s = c.prepare(dataset ? kRemoveAttributeDataset : kRemoveAttribute);
  if (!s) return std::unexpected(s.error());
  s->bind(1, tenant).bind(2, entity).bind(3, attr);
  if (dataset) s->bind(4, *dataset);
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  return static_cast<std::size_t>(sqlite3_changes(c.handle()));
}

base::Result<std::size_t> remove_history(Connection& c, std::int64_t tenant,
                                         std::int64_t entity) {
  auto s = c.prepare(kRemove);
  if (!s) return std::unexpected(s.error());
  if (auto r = s->bind(1, tenant).bind(2, entity).run(); !r) return std::unexpected(r.error());
  return static_cast<std::size_t>(sqlite3_changes(c.handle()));
}

base::Result<std::vector<HistorySeries>> read_history(Connection& c, std::string_view tenant,
                                                      const HistoryQuery& q) {
  std::vector<HistorySeries> out;
  auto tenant_id = name_id(c, tenant);
  if (!tenant_id) return std::unexpected(tenant_id.error());
  if (!*tenant_id) return out;
  auto entity = name_id(c, q.entity_id);
  if (!entity) return std::unexpected(entity.error());
  if (!*entity) return out;
  std::vector<std::pair<std::int64_t, std::string>> attrs;
  if (q.attributes) {
    for (const auto& name : *q.attributes) {
      auto id = name_id(c, name);
      if (!id) return std::unexpected(id.error());
      if (*id) attrs.emplace_back(**id, name);
    }
  } else {
    auto ids = attributes_of(c, **tenant_id, **entity);
    if (!ids) return std::unexpected(ids.error());
    for (std::int64_t id : *ids) {
      auto name = name_of(c, id);
      if (!name) return std::unexpected(name.error());
      attrs.emplace_back(id, std::move(*name));
    }
  }
  std::unordered_map<std::int64_t, std::string> datasets;
  for (auto& [id, name] : attrs) {
    HistorySeries series;
    series.attribute = name;
    if (auto r = read_series(c, **tenant_id, **entity, id, q, series, datasets); !r) {
      return std::unexpected(r.error());
    }
    if (!series.rows.empty() || series.visited > 0) out.push_back(std::move(series));
  }
  return out;
}

}  // namespace cityroom::store::sqlite
