#include "store/sqlite/query_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <regex>
#include <unordered_set>

#include "store/sqlite/doc_codec.h"
#include "store/sqlite/entity_rows.h"
#include "store/sqlite/geo_cells.h"
#include "store/sqlite/sql.h"

namespace cityroom::store::sqlite {

namespace {

using Condition = query::Filter::Condition;

// Where the matches accumulate. In ids-only mode no page is kept and nothing stops early.
// Ordered (orderBy): every match is seen; the keys of the first offset+limit in that order are
// kept in a bounded heap whose top is the last of them, and the page is read at the end.
struct Sink {
  using Key = query::Ordering::Key;
  std::size_t offset = 0;
  std::size_t limit = 0;
  bool count = false;
  bool ids_only = false;
  const query::Ordering* order = nullptr;
  std::size_t matches = 0;
  std::vector<model::Entity> page;
  std::vector<std::string> ids;
  std::vector<Key> best;  // ordered: a max-heap by the ordering

  std::size_t window() const {
    return offset > std::numeric_limits<std::size_t>::max() - limit ? offset : offset + limit;
  }
  // False once nothing more is needed (no count asked and the page is full).
  bool want_more() const { return ids_only || order || count || matches < window(); }
  // Whether the next match must be a parsed entity (it goes on the page, or has a key to read).
  bool page_wants_next() const {
    if (ids_only) return false;
    if (order) return window() > 0;
    return matches >= offset && page.size() < limit;
  }
  void add(std::string_view id, model::Entity&& e) {
    ++matches;
    if (ids_only)
      ids.emplace_back(id);
    else if (order)
      keep(e);
    else if (matches > offset && page.size() < limit)
      page.push_back(std::move(e));
  }
  void keep(const model::Entity& e) {
    if (window() == 0) return;
    auto later = [this](const Key& a, const Key& b) { return order->before(a, b); };
    Key key = order->key_of(e);
    if (best.size() < window()) {
      best.push_back(std::move(key));
      std::push_heap(best.begin(), best.end(), later);
    } else if (order->before(key, best.front())) {
      std::pop_heap(best.begin(), best.end(), later);
      best.back() = std::move(key);
      std::push_heap(best.begin(), best.end(), later);
    }
  }
  // The ids of the page, in order (ordered mode, once every match was added).
  std::vector<std::string> page_ids() {
    std::sort_heap(best.begin(), best.end(),
                   [this](const Key& a, const Key& b) { return order->before(a, b); });
    std::vector<std::string> out;
    for (std::size_t i = offset; i < best.size(); ++i) out.push_back(std::move(best[i].id));
    return out;
  }
};

enum class Source { kIds, kGeo, kTypes, kCondition, kScan };

// The literal text every match of an ECMAScript pattern anchored with '^' must start with
// ("^urn:ngsi-ld:Camera:.*" → "urn:ngsi-ld:Camera:"); empty when there is none. Stops before
// anything that is not a plain character, and drops the last one if a quantifier may follow.
std::string literal_prefix(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '^') return {};
  std::string out;
  for (std::size_t i = 1; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (std::string_view(".[](){}*+?|^$\\").find(c) != std::string_view::npos) {
      if ((c == '*' || c == '?' || c == '{') && !out.empty()) out.pop_back();
      if (c == '|') return {};  // an alternative may not share the prefix
      break;
    }
    out.push_back(c);
  }
  if (pattern.find('|') != std::string_view::npos) return {};
  return out;
}

// The smallest string greater than every string starting with `prefix`; empty if none.
std::string prefix_successor(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last < 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

// Candidate sets larger than 1/kStreamFraction of the tenant are filtered while walking the
// tenant's id index (in id order, so a page without count stops early) instead of being
// looked up and sorted one by one.
constexpr std::size_t kStreamFraction = 16;

// orderBy on one attribute walks the value index in order while offset+limit is at most
// kIndexOrderWindowMax, and gives up (for a full pass over the matches) after examining
// kIndexOrderRowsBase + kIndexOrderRowsPerMatch × (offset+limit) rows, or half the entities
// the full pass would read if that is fewer: a filter that rejects most rows makes the walk
// slower than reading the matches directly. Each row costs about what one entity of the full
// pass costs (a document read and parse), so giving up wastes at most about half again.
constexpr std::size_t kIndexOrderWindowMax = 1000;
constexpr std::size_t kIndexOrderRowsBase = 4096;
constexpr std::size_t kIndexOrderRowsPerMatch = 256;

// The pushable condition the index narrows best: equality first, then a range, then existence.
const Condition* best_condition(const std::vector<Condition>& conditions) {
  const Condition* best = nullptr;
  auto rank = [](const Condition& c) {
    return c.op == Condition::Op::kEq ? 0 : (c.op == Condition::Op::kExists ? 2 : 1);
  };
  for (const Condition& c : conditions) {
    if (pushable(c) && (!best || rank(c) < rank(*best))) best = &c;
  }
  return best;
}

const char* value_statement(Condition::Op op) {
  switch (op) {
    case Condition::Op::kEq:
      return sql::kIdxEq;
    case Condition::Op::kLt:
      return sql::kIdxLt;
    case Condition::Op::kLe:
      return sql::kIdxLe;
    case Condition::Op::kGt:
      return sql::kIdxGt;
    case Condition::Op::kGe:
      return sql::kIdxGe;
    case Condition::Op::kExists:
      return sql::kIdxAll;
  }
  return sql::kIdxAll;
}

class QueryRun {
 public:
  QueryRun(Connection& c, const EntityQuery& q, Sink& sink) : c_(c), q_(q), sink_(sink) {}

  base::Result<void> run(std::string_view tenant) {
    if (auto r = prepare_filters(); !r) return r;
    auto tenant_id = find_name(c_, tenant);
    if (!tenant_id) return std::unexpected(tenant_id.error());
    if (!*tenant_id || !sink_.want_more()) return {};
    tenant_ = **tenant_id;
    tenant_name_ = tenant;
    condition_ = best_condition(q_.conditions);
    exact_ = !q_.predicate && !q_.geo_box &&
             std::none_of(q_.conditions.begin(), q_.conditions.end(), pushable) &&
             (source() == Source::kTypes || !q_.any_of_types);
    if (q_.any_of_types) {
      if (auto r = resolve_types(); !r) return r;
    }
    if (sink_.order) {
      auto served = by_value_order();
      if (!served) return std::unexpected(served.error());
      if (*served) return {};
    }
    if (auto r = run_plan(); !r) return r;
    return sink_.order ? read_ordered_page() : base::Result<void>();
  }

 private:
  base::Result<void> run_plan() {
    switch (source()) {
      case Source::kIds:
        return by_ids();
      case Source::kScan:
        return by_scan();
      case Source::kTypes:
        return by_types();
      default:
        break;
    }
    if (source() == Source::kGeo) return by_geo();
    std::vector<std::int64_t> pks;
    auto r = collect_condition(pks);
    if (!r) return r;
    return by_candidates(std::move(pks));
  }

  Source source() const {
    if (q_.ids) return Source::kIds;
    if (q_.geo_box) return Source::kGeo;
    // An ordered run reads every candidate (it cannot stop at a full page), so a value
    // condition, usually narrower than a whole type, is the better source then.
    const bool ordered = sink_.order && condition_ && condition_->op != Condition::Op::kExists;
    if (q_.any_of_types && !ordered) return Source::kTypes;
    if (condition_) return Source::kCondition;
    return Source::kScan;
  }

  base::Result<void> prepare_filters() {
    if (q_.ids) ids_.insert(q_.ids->begin(), q_.ids->end());
    if (!q_.id_pattern) return {};
    try {
      pattern_.emplace(*q_.id_pattern, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error&) {
      return base::fail(base::ErrorKind::kInvalidRequest,
                        "idPattern is not a valid regular expression");
    }
    return {};
  }

  base::Result<void> resolve_types() {
    for (const std::string& type : *q_.any_of_types) {
      auto id = find_name(c_, type);
      if (!id) return std::unexpected(id.error());
      if (*id) type_ids_.push_back(**id);
    }
    std::sort(type_ids_.begin(), type_ids_.end());
    type_ids_.erase(std::unique(type_ids_.begin(), type_ids_.end()), type_ids_.end());
    return {};
  }

  base::Result<void> charge(std::size_t rows) {
    examined_ += rows;
    if (examined_ <= kQueryScanMax) return {};
    return base::fail(base::ErrorKind::kTooManyResults,
                      fmt::format("the query would examine more than {} stored rows; narrow it "
                                  "with type, q, idPattern or a geo-query",
                                  kQueryScanMax));
  }

  bool id_accepted(std::string_view id) const {
    if (q_.ids && !ids_.contains(std::string(id))) return false;
    return !pattern_ || std::regex_search(id.begin(), id.end(), *pattern_);
  }

  // Whether the entity `id` has one of the asked types (an index probe is cheaper than
  // parsing); true when the source already guaranteed it.
  base::Result<bool> typed(std::string_view id) {
    if (!q_.any_of_types || source() == Source::kTypes) return true;
    for (std::int64_t type : type_ids_) {
      auto s = c_.prepare(sql::kHasType);
      if (!s) return std::unexpected(s.error());
      auto row = s->bind(1, tenant_).bind(2, type).bind(3, id).step();
      if (!row || *row) return row;
    }
    return false;
  }

  bool entity_accepted(const model::Entity& e) const {
    if (q_.any_of_types && !has_any_type(e, *q_.any_of_types)) return false;
    if (q_.geo_box && !geo_may_match(e, q_.geo_box->attribute, q_.geo_box->box)) return false;
    for (const Condition& c : q_.conditions) {
      if (!condition_may_match(e, c)) return false;
    }
    return !q_.predicate || q_.predicate(e);
  }

  // True when a candidate whose id was accepted can be counted without parsing it: the index
  // that produced it decided every other filter, and it falls outside the page.
  bool decided() const { return exact_ && !sink_.page_wants_next(); }

  // Parses and filters one candidate whose id was accepted.
  base::Result<void> offer(std::string_view id, std::string_view doc) {
    if (decided()) {
      sink_.add(id, {});
      return {};
    }
    if (auto r = charge(1); !r) return r;
    auto e = parse_doc(doc);
    if (!e) return std::unexpected(e.error());
    if (entity_accepted(*e)) sink_.add(id, std::move(*e));
    return {};
  }

  base::Result<void> offer_pk(std::string_view id, std::int64_t pk) {
    if (decided()) return offer(id, {});
    auto s = c_.prepare(sql::kDocByPk);
    if (!s) return std::unexpected(s.error());
    auto row = s->bind(1, pk).step();
    if (!row) return std::unexpected(row.error());
    return *row ? offer(id, s->blob_at(0)) : base::Result<void>();
  }

  base::Result<void> by_ids() {
    std::vector<std::string> ids(ids_.begin(), ids_.end());
    std::sort(ids.begin(), ids.end());
    for (const std::string& id : ids) {
      if (!sink_.want_more()) break;
      if (!id_accepted(id)) continue;
      auto s = c_.prepare(sql::kPkDocById);
      if (!s) return std::unexpected(s.error());
      s->bind(1, tenant_).bind(2, id);
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) continue;
      if (auto r = offer(id, s->blob_at(1)); !r) return r;
    }
    return {};
  }

  // Walks (id, pk) rows in id order from `s`, offering those accepted; `of_pks` (sorted)
  // restricts them to candidates.
  base::Result<void> walk(Stmt& s, const std::vector<std::int64_t>* of_pks) {
    while (sink_.want_more()) {
      auto row = s.step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      if (auto r = charge(1); !r) return r;
      const std::int64_t pk = s.int64_at(1);
      if (of_pks && !std::binary_search(of_pks->begin(), of_pks->end(), pk)) continue;
      const std::string_view id = s.text_at(0);
      if (!id_accepted(id)) continue;
      auto ok = typed(id);
      if (!ok) return std::unexpected(ok.error());
      if (!*ok) continue;
      if (auto r = offer_pk(id, pk); !r) return r;
    }
    return {};
  }

  base::Result<void> by_scan() {
    // An idPattern such as ^urn:ngsi-ld:Camera: limits the scan to one range of the id index.
    const std::string prefix = q_.id_pattern ? literal_prefix(*q_.id_pattern) : std::string();
    const std::string after = prefix_successor(prefix);
    const bool ranged = !prefix.empty() && !after.empty();
    auto bind = [&](Stmt& s) {
      s.bind(1, tenant_);
      if (ranged) s.bind(2, std::string_view(prefix)).bind(3, std::string_view(after));
    };
    if (exact_) {  // no document needed except those on the page
      auto s = c_.prepare(ranged ? sql::kScanIdsRange : sql::kScanIds);
      if (!s) return std::unexpected(s.error());
      bind(*s);
      return walk(*s, nullptr);
    }
    auto s = c_.prepare(ranged ? sql::kScanRange : sql::kScan);
    if (!s) return std::unexpected(s.error());
    bind(*s);
    while (sink_.want_more()) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      if (auto r = charge(1); !r) return r;
      const std::string_view id = s->text_at(1);
      if (!id_accepted(id)) continue;
      if (auto r = offer(id, s->blob_at(2)); !r) return r;
    }
    return {};
  }

  // One type streams in id order (a page stops early; an exact count comes from the summary);
  // several are merged in memory.
  base::Result<void> by_types() {
    if (type_ids_.size() == 1) {
      auto s = c_.prepare(sql::kOfType);
      if (!s) return std::unexpected(s.error());
      s->bind(1, tenant_).bind(2, type_ids_[0]);
      const bool summary_total = exact_ && sink_.count && !q_.ids && !q_.id_pattern;
      if (summary_total) sink_.count = false;  // fill the page only
      if (auto r = walk(*s, nullptr); !r) return r;
      if (!summary_total) return {};
      sink_.count = true;
      return total_from_summary(type_ids_[0]);
    }
    std::vector<std::pair<std::string, std::int64_t>> all;
    for (std::int64_t type : type_ids_) {
      auto s = c_.prepare(sql::kOfType);
      if (!s) return std::unexpected(s.error());
      s->bind(1, tenant_).bind(2, type);
      for (;;) {
        auto row = s->step();
        if (!row) return std::unexpected(row.error());
        if (!*row) break;
        if (auto r = charge(1); !r) return r;
        if (id_accepted(s->text_at(0))) all.emplace_back(s->text_at(0), s->int64_at(1));
      }
    }
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    for (const auto& [id, pk] : all) {
      if (!sink_.want_more()) break;
      if (auto r = offer_pk(id, pk); !r) return r;
    }
    return {};
  }

  // ---- orderBy ------------------------------------------------------------------------------

  // Reads the page of an ordered run from the kept keys, in their order.
  base::Result<void> read_ordered_page() {
    for (const std::string& id : sink_.page_ids()) {
      auto s = c_.prepare(sql::kPkDocById);
      if (!s) return std::unexpected(s.error());
      auto row = s->bind(1, tenant_).bind(2, std::string_view(id)).step();
      if (!row) return std::unexpected(row.error());
      if (!*row) continue;  // cannot happen inside one read transaction
      auto e = parse_doc(s->blob_at(1));
      if (!e) return std::unexpected(e.error());
      sink_.page.push_back(std::move(*e));
    }
    return {};
  }

  // One entity met in the value-index walk: accepted by every filter and ordered by the value
  // of this very row (another instance of its attribute may hold the value it orders by; it is
  // taken there).
  struct IndexRow {
    bool numbers = true;
    double number = 0;
    std::string text;
  };
  base::Result<void> index_candidate(std::int64_t pk, const IndexRow& at,
                                     std::vector<model::Entity>& group) {
    auto s = c_.prepare(sql::kIdDocByPk);
    if (!s) return std::unexpected(s.error());
    auto row = s->bind(1, pk).step();
    if (!row) return std::unexpected(row.error());
    if (!*row || !id_accepted(s->text_at(0))) return {};
    auto e = parse_doc(s->blob_at(1));
    if (!e) return std::unexpected(e.error());
    if (!entity_accepted(*e)) return {};
    const auto key = sink_.order->key_of(*e);
    const auto& v = key.values.front();
    using Rank = query::Ordering::Rank;
    const bool here = at.numbers ? v.rank == Rank::kNumber && v.number == at.number
                                 : v.rank == Rank::kString && v.text == at.text;
    if (here) group.push_back(std::move(*e));
    return {};
  }

  // Entities with equal values are ordered by id; the index gives them in pk order.
  static void flush(std::vector<model::Entity>& group, std::vector<model::Entity>& found) {
    auto id = [](const model::Entity& e) { return json::get_string(e, model::key::kId).value_or(""); };
    std::sort(group.begin(), group.end(),
              [&](const model::Entity& a, const model::Entity& b) { return id(a) < id(b); });
    for (auto& e : group) found.push_back(std::move(e));
    group.clear();
  }

  // orderBy one top-level attribute: walks its numbers, then its strings, in value order and
  // stops once offset+limit matches are found. False when this plan does not apply or gave up;
  // the caller then orders every match. Applies only when no instance of the attribute has a
  // value the index cannot order (objects, booleans, typed date-times...), so that every entity
  // ordered by a number or a string is met at its place, and those without come after them all.
  base::Result<bool> by_value_order() {
    const auto single = sink_.order->single_attribute();
    const std::size_t want = sink_.window();
    if (!single || q_.ids || q_.geo_box || want == 0 || want > kIndexOrderWindowMax) return false;
    if (q_.any_of_types && type_ids_.empty()) return false;
    auto attr = find_name(c_, single->attribute);
    if (!attr) return std::unexpected(attr.error());
    if (!*attr) return false;
    auto other = c_.prepare(sql::kIdxHasOther);
    if (!other) return std::unexpected(other.error());
    auto has_other = other->bind(1, tenant_).bind(2, **attr).step();
    if (!has_other) return std::unexpected(has_other.error());
    if (*has_other) return false;
    auto full_pass = full_pass_entities();
    if (!full_pass) return std::unexpected(full_pass.error());
    if (condition_ && condition_->op != Condition::Op::kExists) {
      // The full pass reads the C candidates of the value condition; the walk about
      // want × N / C rows (if the condition is independent of the order). Walk only when that
      // is clearly fewer: C² > 2 × want × N, counted without reading any document.
      const auto enough = static_cast<std::size_t>(
          std::sqrt(2.0 * static_cast<double>(want) * static_cast<double>(*full_pass)));
      auto many = condition_rows_at_least(enough + 1);
      if (!many) return std::unexpected(many.error());
      if (!*many) return false;
    }
    const std::size_t budget = std::min(kIndexOrderRowsBase + kIndexOrderRowsPerMatch * want,
                                        std::max(*full_pass / 2, 4 * want));
    std::size_t rows = 0;
    std::vector<model::Entity> found, group;
    for (const bool numbers : {true, false}) {
      const char* sql = numbers ? (single->descending ? sql::kIdxNumbersDesc : sql::kIdxNumbersAsc)
                                : (single->descending ? sql::kIdxStringsDesc : sql::kIdxStringsAsc);
      auto s = c_.prepare(sql);
      if (!s) return std::unexpected(s.error());
      s->bind(1, tenant_).bind(2, **attr);
      IndexRow at{numbers, 0, {}};
      bool started = false;
      for (;;) {
        auto row = s->step();
        if (!row) return std::unexpected(row.error());
        if (!*row) break;
        if (++rows > budget) return false;
        if (auto r = charge(1); !r) return std::unexpected(r.error());
        const bool same = started && (numbers ? s->double_at(0) == at.number
                                              : s->text_at(0) == std::string_view(at.text));
        if (!same) {
          flush(group, found);
          if (found.size() >= want) return finish_value_order(found);
          started = true;
          if (numbers)
            at.number = s->double_at(0);
          else
            at.text = std::string(s->text_at(0));
        }
        if (auto r = index_candidate(s->int64_at(1), at, group); !r) {
          return std::unexpected(r.error());
        }
      }
      flush(group, found);
      if (found.size() >= want) return finish_value_order(found);
    }
    return false;  // too few: entities without a number or string may complete the page
  }

  // About how many entities the full pass would read: the asked types' (or the tenant's).
  base::Result<std::size_t> full_pass_entities() {
    std::size_t n = 0;
    if (!q_.any_of_types) {
      auto s = c_.prepare(sql::kTypedEntities);
      if (!s) return std::unexpected(s.error());
      auto row = s->bind(1, tenant_).step();
      if (!row) return std::unexpected(row.error());
      return static_cast<std::size_t>(*row ? s->int64_at(0) : 0);
    }
    for (std::int64_t type : type_ids_) {
      auto s = c_.prepare(sql::kEntitiesOfType);
      if (!s) return std::unexpected(s.error());
      auto row = s->bind(1, tenant_).bind(2, type).step();
      if (!row) return std::unexpected(row.error());
      if (*row) n += static_cast<std::size_t>(s->int64_at(0));
    }
    return n;
  }

  base::Result<bool> finish_value_order(std::vector<model::Entity>& found) {
    for (std::size_t i = sink_.offset; i < found.size() && sink_.page.size() < sink_.limit; ++i) {
      sink_.page.push_back(std::move(found[i]));
    }
    if (!sink_.count) return true;
    Sink counter;  // the total is the same in any order: the unordered plans count it fastest
    counter.count = true;
    QueryRun run(c_, q_, counter);
    if (auto r = run.run(tenant_name_); !r) return std::unexpected(r.error());
    sink_.matches = counter.matches;
    return true;
  }

  base::Result<void> total_from_summary(std::int64_t type) {
    auto s = c_.prepare(sql::kEntitiesOfType);
    if (!s) return std::unexpected(s.error());
    auto row = s->bind(1, tenant_).bind(2, type).step();
    if (!row) return std::unexpected(row.error());
    if (*row) sink_.matches = static_cast<std::size_t>(s->int64_at(0));
    return {};
  }

  // Runs a candidate statement whose first column is an entity pk.
  base::Result<void> drain_keys(Stmt& s, std::vector<std::int64_t>& pks) {
    for (;;) {
      auto row = s.step();
      if (!row) return std::unexpected(row.error());
      if (!*row) return {};
      if (auto r = charge(1); !r) return r;
      pks.push_back(s.int64_at(0));
    }
  }

  // Geo candidates come with their id and document from one join per cover range (and per
  // asked type); they are then ordered by id and filtered like any other candidate.
  base::Result<void> by_geo() {
    auto attr = find_name(c_, q_.geo_box->attribute);
    if (!attr) return std::unexpected(attr.error());
    if (!*attr) return {};
    if (q_.any_of_types && type_ids_.empty()) return {};  // no entity has any asked type
    std::vector<std::pair<std::string, std::string>> found;  // id, doc
    std::vector<std::int64_t> attrs;  // the plain attribute, or its twin per asked type
    if (q_.any_of_types) {
      for (std::int64_t type : type_ids_) attrs.push_back(typed_geo_attr(type, **attr));
    } else {
      attrs.push_back(**attr);
    }
    const geo::Box& b = q_.geo_box->box;
    for (std::int64_t index_attr : attrs) {
      for (const CellRange& range : cover(b)) {
        const auto lo = cell_bytes(range.min), hi = cell_bytes(range.max);
        auto s = c_.prepare(sql::kGeoDocs);
        if (!s) return std::unexpected(s.error());
        s->bind(1, tenant_).bind(2, index_attr);
        s->bind_blob(3, std::string_view(lo.data(), lo.size()));
        s->bind_blob(4, std::string_view(hi.data(), hi.size()));
        s->bind(5, b.min_lon).bind(6, b.min_lat).bind(7, b.max_lon).bind(8, b.max_lat);
        for (;;) {
          auto row = s->step();
          if (!row) return std::unexpected(row.error());
          if (!*row) break;
          if (auto r = charge(1); !r) return r;
          if (id_accepted(s->text_at(0))) found.emplace_back(s->text_at(0), s->blob_at(1));
        }
      }
    }
    std::sort(found.begin(), found.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    found.erase(std::unique(found.begin(), found.end(),
                            [](const auto& a, const auto& b) { return a.first == b.first; }),
                found.end());
    for (const auto& [id, doc] : found) {
      if (!sink_.want_more()) break;
      if (auto r = offer(id, doc); !r) return r;
    }
    return {};
  }

  // Binds the statement listing the pks whose indexed value satisfies condition_
  // (value_statement(condition_->op)).
  void bind_condition(Stmt& s, std::int64_t attr) const {
    s.bind(1, tenant_).bind(2, attr);
    if (condition_->op == Condition::Op::kExists) return;
    const json::value& v = condition_->literal;
    if (v.is_string())
      s.bind(3, std::string_view(v.get_string()));
    else
      s.bind(3, v.to_number<double>());
  }

  // Whether the value index holds at least n rows satisfying condition_ (reads n at most).
  base::Result<bool> condition_rows_at_least(std::size_t n) {
    auto attr = find_name(c_, condition_->attribute);
    if (!attr) return std::unexpected(attr.error());
    if (!*attr) return false;
    auto s = c_.prepare(value_statement(condition_->op));
    if (!s) return std::unexpected(s.error());
    bind_condition(*s, **attr);
    for (std::size_t seen = 0; seen < n; ++seen) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) return false;
    }
    return true;
  }

  base::Result<void> collect_condition(std::vector<std::int64_t>& pks) {
    auto attr = find_name(c_, condition_->attribute);
    if (!attr) return std::unexpected(attr.error());
    if (!*attr) return {};
    auto s = c_.prepare(value_statement(condition_->op));
    if (!s) return std::unexpected(s.error());
    bind_condition(*s, **attr);
    if (auto r = drain_keys(*s, pks); !r) return r;
    if (condition_->op == Condition::Op::kExists) return {};
    // Instances whose value the index cannot compare may still match.
    auto other = c_.prepare(sql::kIdxBlobs);
    if (!other) return std::unexpected(other.error());
    other->bind(1, tenant_).bind(2, **attr);
    return drain_keys(*other, pks);
  }

  base::Result<bool> worth_streaming(std::size_t candidates) {
    if (sink_.count || sink_.ids_only || sink_.order) return false;  // nothing stops early
    auto s = c_.prepare(sql::kTypedEntities);
    if (!s) return std::unexpected(s.error());
    auto row = s->bind(1, tenant_).step();
    if (!row) return std::unexpected(row.error());
    const auto entities = static_cast<std::size_t>(*row ? s->int64_at(0) : 0);
    return candidates * kStreamFraction >= entities;
  }

  // Orders the candidates by id, then parses them in that order.
  base::Result<void> by_candidates(std::vector<std::int64_t> pks) {
    std::sort(pks.begin(), pks.end());
    pks.erase(std::unique(pks.begin(), pks.end()), pks.end());
    auto streaming = worth_streaming(pks.size());
    if (!streaming) return std::unexpected(streaming.error());
    if (*streaming) {
      auto s = c_.prepare(sql::kScanIds);
      if (!s) return std::unexpected(s.error());
      s->bind(1, tenant_);
      return walk(*s, &pks);
    }
    std::vector<std::pair<std::string, std::int64_t>> ordered;
    ordered.reserve(pks.size());
    for (std::int64_t pk : pks) {
      auto s = c_.prepare(sql::kIdByPk);
      if (!s) return std::unexpected(s.error());
      auto row = s->bind(1, pk).step();
      if (!row) return std::unexpected(row.error());
      if (!*row || !id_accepted(s->text_at(0))) continue;
      auto ok = typed(s->text_at(0));
      if (!ok) return std::unexpected(ok.error());
      if (*ok) ordered.emplace_back(s->text_at(0), pk);
    }
    std::sort(ordered.begin(), ordered.end());
    for (const auto& [id, pk] : ordered) {
      if (!sink_.want_more()) break;
      if (auto r = offer_pk(id, pk); !r) return r;
    }
    return {};
  }

  Connection& c_;
  const EntityQuery& q_;
  Sink& sink_;
  std::int64_t tenant_ = 0;
  std::string_view tenant_name_;
  const Condition* condition_ = nullptr;
  bool exact_ = false;  // see decided()
  std::vector<std::int64_t> type_ids_;
  std::unordered_set<std::string> ids_;
  std::optional<std::regex> pattern_;
  std::size_t examined_ = 0;
};

base::Result<void> run_in(Connection& c, std::string_view tenant, const EntityQuery& q,
                          Sink& sink) {
  try {
    QueryRun run(c, q, sink);
    return run.run(tenant);
  } catch (const std::regex_error&) {
    return base::fail(base::ErrorKind::kTooComplexQuery,
                      "idPattern is too complex to evaluate on an entity id");
  }
}

}  // namespace

base::Result<std::optional<std::int64_t>> find_name(Connection& c, std::string_view name) {
  auto s = c.prepare(sql::kFindName);
  if (!s) return std::unexpected(s.error());
  s->bind(1, name);
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  if (!*row) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(s->int64_at(0));
}

base::Result<model::Entity> parse_doc(std::string_view doc) {
  return decode_doc(doc);
}

base::Result<QueryResult> run_query(Connection& c, std::string_view tenant, const EntityQuery& q,
                                    bool snapshot) {
  Sink sink;
  sink.offset = q.offset;
  sink.limit = q.limit;
  sink.count = q.count;
  if (q.order_by && !q.order_by->is_id_order()) {
    if (sink.window() > kOrderWindowMax) {
      return base::fail(base::ErrorKind::kTooManyResults,
                        fmt::format("offset + limit above {} with orderBy; narrow the query",
                                    kOrderWindowMax));
    }
    sink.order = &*q.order_by;
  }
  if (snapshot) {
    if (auto r = c.run("BEGIN"); !r) return std::unexpected(r.error());
  }
  auto r = run_in(c, tenant, q, sink);
  if (snapshot) (void)c.run("COMMIT");
  if (!r) return std::unexpected(r.error());
  QueryResult result{std::move(sink.page), std::nullopt};
  if (q.count) result.total = sink.matches;
  return result;
}

base::Result<std::vector<std::string>> matching_ids(Connection& c, std::string_view tenant,
                                                    const EntityQuery& q) {
  Sink sink;
  sink.ids_only = true;
  if (auto r = run_in(c, tenant, q, sink); !r) return std::unexpected(r.error());
  return std::move(sink.ids);
}

}  // namespace cityroom::store::sqlite
