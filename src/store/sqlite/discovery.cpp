#include "store/sqlite/discovery.h"

#include <map>
#include <set>

#include "store/sqlite/entity_rows.h"
#include "store/sqlite/query_engine.h"
#include "store/sqlite/sql.h"

namespace cityroom::store::sqlite {

namespace {

using Pairs = std::map<std::string, std::set<std::string>>;

// Runs `sql` for the tenant, calling `row(stmt)` per result row.
template <class F>
base::Result<void> each_row(Connection& c, const char* sql, std::int64_t tenant, F&& row) {
  auto s = c.prepare(sql);
  if (!s) return std::unexpected(s.error());
  s->bind(1, tenant);
  for (;;) {
    auto more = s->step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return {};
    row(*s);
  }
}

// (type, attribute) pairs seen on the tenant's entities; `by_type` keys on the type.
base::Result<Pairs> type_attribute_pairs(Connection& c, std::int64_t tenant, bool by_type) {
  Pairs pairs;
  auto r = each_row(c, sql::kTypeAttributePairs, tenant, [&](Stmt& s) {
    std::string type(s.text_at(0)), attr(s.text_at(1));
    if (by_type)
      pairs[type].insert(attr);
    else
      pairs[attr].insert(type);
  });
  if (!r) return std::unexpected(r.error());
  return pairs;
}

base::Result<std::vector<TypeSummary>> types_of(Connection& c, std::int64_t tenant) {
  std::vector<TypeSummary> out;
  auto r = each_row(c, sql::kTypeCounts, tenant, [&](Stmt& s) {
    out.push_back(
        TypeSummary{std::string(s.text_at(0)), static_cast<std::size_t>(s.int64_at(1)), {}});
  });
  if (!r) return std::unexpected(r.error());
  auto pairs = type_attribute_pairs(c, tenant, true);
  if (!pairs) return std::unexpected(pairs.error());
  for (TypeSummary& t : out) {
    const auto& attrs = (*pairs)[t.type];
    t.attributes.assign(attrs.begin(), attrs.end());
  }
  return out;
}

base::Result<std::vector<AttributeSummary>> attributes_of(Connection& c, std::int64_t tenant) {
  std::vector<AttributeSummary> out;
  auto r = each_row(c, sql::kAttributeCounts, tenant, [&](Stmt& s) {
    out.push_back(AttributeSummary{
        std::string(s.text_at(0)), static_cast<std::size_t>(s.int64_at(1)), {}, {}});
  });
  if (!r) return std::unexpected(r.error());
  std::map<std::string, std::set<std::string>> kinds;
  r = each_row(c, sql::kAttributeKinds, tenant, [&](Stmt& s) {
    const std::string_view name = kind_name(static_cast<Kind>(s.int64_at(1)));
    if (!name.empty()) kinds[std::string(s.text_at(0))].insert(std::string(name));
  });
  if (!r) return std::unexpected(r.error());
  auto pairs = type_attribute_pairs(c, tenant, false);
  if (!pairs) return std::unexpected(pairs.error());
  for (AttributeSummary& a : out) {
    const auto& types = (*pairs)[a.attribute];
    a.types.assign(types.begin(), types.end());
    const auto& k = kinds[a.attribute];
    a.attribute_types.assign(k.begin(), k.end());
  }
  return out;
}

// Resolves the tenant and runs `f` inside a read transaction.
template <class T, class F>
base::Result<std::vector<T>> in_snapshot(Connection& c, std::string_view tenant, F&& f) {
  if (auto r = c.run("BEGIN"); !r) return std::unexpected(r.error());
  auto id = find_name(c, tenant);
  base::Result<std::vector<T>> out = std::vector<T>();
  if (!id)
    out = std::unexpected(id.error());
  else if (*id)
    out = f(c, **id);
  (void)c.run("COMMIT");
  return out;
}

}  // namespace

base::Result<std::vector<TypeSummary>> discover_types(Connection& c, std::string_view tenant) {
  return in_snapshot<TypeSummary>(c, tenant, types_of);
}

base::Result<std::vector<AttributeSummary>> discover_attributes(Connection& c,
                                                                std::string_view tenant) {
  return in_snapshot<AttributeSummary>(c, tenant, attributes_of);
}

}  // namespace cityroom::store::sqlite
