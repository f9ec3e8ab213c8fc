#include "governance/search_index.h"

#include <chrono>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "governance/entity_view.h"
#include "governance/hangul_tokenizer.h"
#include "governance/press.h"

namespace cityroom::governance {
namespace {

using base::ErrorKind;

constexpr std::size_t kRebuildPage = 1000;

base::Error db_error(sqlite3* db, std::string_view what) {
  return {ErrorKind::kInternalError, fmt::format("search index: {}: {}", what, sqlite3_errmsg(db))};
}

base::Result<void> exec(sqlite3* db, const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : "?";
    sqlite3_free(msg);
    return base::fail(ErrorKind::kInternalError, "search index: " + m);
  }
  return {};
}

// A prepared statement, finalized on scope exit.
struct Stmt {
  sqlite3_stmt* st = nullptr;
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &st, nullptr); }
  ~Stmt() { sqlite3_finalize(st); }
  explicit operator bool() const { return st != nullptr; }
  void text(int i, std::string_view s) {
    sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void integer(int i, std::int64_t v) { sqlite3_bind_int64(st, i, v); }
  std::string col(int i) {
    const auto* p = sqlite3_column_text(st, i);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<std::size_t>(sqlite3_column_bytes(st, i)))
             : std::string();
  }
};

base::Micros time_of(const json::object& kv, std::string_view key) {
  const json::value* v = json::find(kv, key);
  std::optional<std::string_view> s;
  if (v && v->is_string()) s = v->as_string();
  if (v && v->is_object()) s = json::get_string(v->as_object(), "@value");
  if (!s) return 0;
  return base::parse_iso8601(*s).value_or(0);
}

std::string type_of(const json::object& kv) {
  const json::value* t = json::find(kv, "type");
  if (t && t->is_string()) return std::string(t->as_string());
  if (t && t->is_array()) {
    for (const auto& x : t->as_array()) {
      if (x.is_string() && (x.as_string() == kRequestType || x.as_string() == kPledgeType ||
                            x.as_string() == kNewsType)) {
        return std::string(x.as_string());
      }
    }
  }
  return {};
}

// Civil date from days since the epoch (Howard Hinnant's algorithm).
void civil(long z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int>(yoe) + static_cast<int>(era) * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

// Days since the epoch of a civil date (the inverse of `civil`).
long days_from_civil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long>(doe) - 719468;
}

}  // namespace

long city_day(base::Micros t) {
  const long s = static_cast<long>(t / 1'000'000) + kCityUtcOffsetSeconds;
  return s >= 0 ? s / 86400 : (s - 86399) / 86400;
}

std::string iso_week(base::Micros t) {
  const long day = city_day(t);
  const long weekday = ((day + 3) % 7 + 7) % 7;  // 0 = Monday (1970-01-01 was a Thursday)
  const long thursday = day - weekday + 3;       // the ISO year is this Thursday's year
  int y;
  unsigned m, d;
  civil(thursday, y, m, d);
  const long week = (thursday - days_from_civil(y, 1, 1)) / 7 + 1;
  return fmt::format("{:04}-W{:02}", y, week);
}

base::Result<std::unique_ptr<SearchIndex>> SearchIndex::open(const std::filesystem::path& file) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.string().c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    auto e = db_error(db, "open " + file.string());
    sqlite3_close(db);
    return std::unexpected(e);
  }
  std::unique_ptr<SearchIndex> index(new SearchIndex(db));
  if (auto r = register_hangul_tokenizer(db); !r) return std::unexpected(r.error());
  // Derived data: a crash loses nothing the rebuild at start would not restore.
  for (const char* sql : {
           "PRAGMA journal_mode=WAL", "PRAGMA synchronous=OFF",
           "CREATE TABLE IF NOT EXISTS docs(rowid INTEGER PRIMARY KEY, tenant TEXT NOT NULL, "
           "id TEXT NOT NULL, type TEXT NOT NULL, title TEXT, code TEXT, area TEXT, status TEXT, "
           "at INTEGER, department TEXT, UNIQUE(tenant, id))",
           "CREATE INDEX IF NOT EXISTS docs_time ON docs(tenant, type, at)",
           "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(body, tokenize='hangul')"}) {
    if (auto r = exec(db, sql); !r) return std::unexpected(r.error());
  }
  return index;
}

SearchIndex::~SearchIndex() { sqlite3_close(db_); }

base::Result<void> SearchIndex::upsert_locked(std::string_view tenant, const json::object& kv) {
  const std::string type = type_of(kv);
  if (type != kRequestType && type != kPledgeType && type != kNewsType) return {};
  const std::string id = str(kv, "id");
  std::string title, body, code, area, status, department;
  base::Micros at = 0;
  if (type == kRequestType) {
    title = str(kv, "serviceName");
    body = str(kv, "description") + "\n" + title + "\n" + str(kv, "address");
    code = str(kv, "serviceCode");
    area = str(kv, "refArea");
    status = str(kv, "status");
    department = str(kv, "department");
    at = time_of(kv, "requestedAt");
  } else if (type == kNewsType) {
    title = str(kv, "title");
    body = title + "\n" + str(kv, "summary");
    at = time_of(kv, "publishedAt");
  } else {
    title = str(kv, "title");
    body = title + "\n" + str(kv, "field") + "\n" + str(kv, "department");
    status = str(kv, "status");
    department = str(kv, "department");
  }
  Stmt up(db_,
          "INSERT INTO docs(tenant,id,type,title,code,area,status,at,department) "
          "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9) ON CONFLICT(tenant,id) DO UPDATE SET "
          "type=excluded.type, title=excluded.title, code=excluded.code, area=excluded.area, "
          "status=excluded.status, at=excluded.at, department=excluded.department "
          "RETURNING rowid");
  if (!up) return std::unexpected(db_error(db_, "prepare upsert"));
  up.text(1, tenant);
  up.text(2, id);
  up.text(3, type);
  up.text(4, title);
  up.text(5, code);
  up.text(6, area);
  up.text(7, status);
  up.integer(8, at);
  up.text(9, department);
  if (sqlite3_step(up.st) != SQLITE_ROW) return std::unexpected(db_error(db_, "upsert"));
  const auto rowid = sqlite3_column_int64(up.st, 0);
  Stmt del(db_, "DELETE FROM fts WHERE rowid=?1");
  del.integer(1, rowid);
  if (sqlite3_step(del.st) != SQLITE_DONE) return std::unexpected(db_error(db_, "fts delete"));
  Stmt ins(db_, "INSERT INTO fts(rowid, body) VALUES(?1, ?2)");
  ins.integer(1, rowid);
  ins.text(2, body);
  if (sqlite3_step(ins.st) != SQLITE_DONE) return std::unexpected(db_error(db_, "fts insert"));
  return {};
}

base::Result<void> SearchIndex::upsert(std::string_view tenant, const json::object& kv) {
  std::lock_guard lock(mutex_);
  if (auto r = exec(db_, "BEGIN"); !r) return r;
  auto r = upsert_locked(tenant, kv);
  (void)exec(db_, r ? "COMMIT" : "ROLLBACK");
  return r;
}

base::Result<void> SearchIndex::upsert_many(std::string_view tenant,
                                            const std::vector<json::object>& kvs) {
  std::lock_guard lock(mutex_);
  if (auto r = exec(db_, "BEGIN"); !r) return r;
  for (const auto& kv : kvs) {
    if (auto r = upsert_locked(tenant, kv); !r) {
      (void)exec(db_, "ROLLBACK");
      return r;
    }
  }
  return exec(db_, "COMMIT");
}

base::Result<void> SearchIndex::remove(std::string_view tenant, std::string_view id) {
  std::lock_guard lock(mutex_);
  Stmt del(db_, "DELETE FROM docs WHERE tenant=?1 AND id=?2 RETURNING rowid");
  del.text(1, tenant);
  del.text(2, id);
  if (sqlite3_step(del.st) == SQLITE_ROW) {
    Stmt f(db_, "DELETE FROM fts WHERE rowid=?1");
    f.integer(1, sqlite3_column_int64(del.st, 0));
    sqlite3_step(f.st);
  }
  return {};
}

base::Result<void> SearchIndex::clear() {
  std::lock_guard lock(mutex_);
  if (auto r = exec(db_, "DELETE FROM docs"); !r) return r;
  return exec(db_, "DELETE FROM fts");
}

base::Result<std::size_t> SearchIndex::retain(std::string_view tenant,
                                              const std::set<std::string>& keep) {
  std::lock_guard lock(mutex_);
  std::vector<std::int64_t> stale;
  {
    Stmt s(db_, "SELECT rowid, id FROM docs WHERE tenant=?1");
    s.text(1, tenant);
    while (sqlite3_step(s.st) == SQLITE_ROW) {
      if (!keep.contains(s.col(1))) stale.push_back(sqlite3_column_int64(s.st, 0));
    }
  }
  if (auto r = exec(db_, "BEGIN"); !r) return std::unexpected(r.error());
  for (const auto rowid : stale) {
    for (const char* sql : {"DELETE FROM docs WHERE rowid=?1", "DELETE FROM fts WHERE rowid=?1"}) {
      Stmt d(db_, sql);
      d.integer(1, rowid);
      sqlite3_step(d.st);
    }
  }
  if (auto r = exec(db_, "COMMIT"); !r) return std::unexpected(r.error());
  return stale.size();
}

std::size_t SearchIndex::size() {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "SELECT count(*) FROM docs");
  return sqlite3_step(s.st) == SQLITE_ROW ? static_cast<std::size_t>(sqlite3_column_int64(s.st, 0))
                                          : 0;
}

base::Result<std::vector<SearchHit>> SearchIndex::search(std::string_view tenant,
                                                         std::string_view q,
                                                         std::string_view type,
                                                         std::size_t limit, bool by_relevance) {
  if (q.size() > kSearchQueryBytesMax) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("q is longer than {} bytes", kSearchQueryBytesMax));
  }
  const std::string match = match_expression(q);
  if (match.empty()) {
    return base::fail(ErrorKind::kBadRequestData, "q has no word to search for");
  }
  std::lock_guard lock(mutex_);
  Stmt s(db_, by_relevance
                  ? "SELECT d.id, d.type, d.title, snippet(fts, 0, '[', ']', '…', 12), bm25(fts) "
                    "FROM fts JOIN docs d ON d.rowid = fts.rowid "
                    "WHERE fts MATCH ?1 AND d.tenant = ?2 AND (?3 = '' OR d.type = ?3) "
                    "ORDER BY bm25(fts) LIMIT ?4"
                  : "SELECT d.id, d.type, d.title, snippet(fts, 0, '[', ']', '…', 12), 0 "
                    "FROM fts JOIN docs d ON d.rowid = fts.rowid "
                    "WHERE fts MATCH ?1 AND d.tenant = ?2 AND (?3 = '' OR d.type = ?3) "
                    "ORDER BY fts.rowid DESC LIMIT ?4");
  if (!s) return std::unexpected(db_error(db_, "prepare search"));
  s.text(1, match);
  s.text(2, tenant);
  s.text(3, type);
  s.integer(4, static_cast<std::int64_t>(std::min(limit, kSearchLimitMax)));
  std::vector<SearchHit> out;
  int rc;
  while ((rc = sqlite3_step(s.st)) == SQLITE_ROW) {
    out.push_back({s.col(0), s.col(1), s.col(2), s.col(3), sqlite3_column_double(s.st, 4)});
  }
  if (rc != SQLITE_DONE) return std::unexpected(db_error(db_, "search"));
  return out;
}

base::Result<std::vector<std::string>> SearchIndex::request_ids(std::string_view tenant,
                                                                const RequestFilter& f) {
  std::string sql =
      "SELECT id FROM docs WHERE tenant=?1 AND type='ServiceRequest' AND at>=?2 AND at<?3";
  const auto in_list = [&](const std::vector<std::string>& v, std::string_view col, int first) {
    if (v.empty()) return;
    sql += fmt::format(" AND {} IN (", col);
    for (std::size_t i = 0; i < v.size(); ++i) sql += fmt::format("{}?{}", i ? "," : "", first + i);
    sql += ")";
  };
  in_list(f.codes, "code", 10);
  in_list(f.statuses, "status", 10 + static_cast<int>(f.codes.size()));
  sql += " ORDER BY at DESC, id LIMIT ?4";
  std::lock_guard lock(mutex_);
  Stmt s(db_, sql.c_str());
  if (!s) return std::unexpected(db_error(db_, "prepare request filter"));
  s.text(1, tenant);
  s.integer(2, f.start);
  s.integer(3, f.end);
  s.integer(4, static_cast<std::int64_t>(f.limit));
  int i = 10;
  for (const auto& c : f.codes) s.text(i++, c);
  for (const auto& c : f.statuses) s.text(i++, c);
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(s.st)) == SQLITE_ROW) out.push_back(s.col(0));
  if (rc != SQLITE_DONE) return std::unexpected(db_error(db_, "request filter"));
  return out;
}

base::Result<json::object> SearchIndex::request_stats(std::string_view tenant, base::Micros from,
                                                      base::Micros to, base::Micros now) {
  std::lock_guard lock(mutex_);
  Stmt s(db_,
         "SELECT code, title, area, status, at FROM docs WHERE tenant=?1 AND "
         "type='ServiceRequest' AND at>=?2 AND at<?3");
  if (!s) return std::unexpected(db_error(db_, "prepare stats"));
  s.text(1, tenant);
  s.integer(2, from);
  s.integer(3, to);
  std::map<std::string, std::pair<std::string, std::size_t>> by_code;
  std::map<std::string, std::size_t> by_area, by_week, today_area, week_area;
  std::size_t total = 0, open = 0, today = 0, this_week = 0;
  const long now_day = city_day(now);
  const std::string now_week = iso_week(now);
  int rc;
  while ((rc = sqlite3_step(s.st)) == SQLITE_ROW) {
    const std::string code = s.col(0), area = s.col(2);
    const base::Micros at = sqlite3_column_int64(s.st, 4);
    ++total;
    open += s.col(3) != "closed";
    auto& c = by_code[code];
    c.first = s.col(1);
    ++c.second;
    ++by_area[area];
    const std::string week = iso_week(at);
    ++by_week[week];
    if (city_day(at) == now_day) {
      ++today;
      ++today_area[area];
    }
    if (week == now_week) {
      ++this_week;
      ++week_area[area];
    }
  }
  if (rc != SQLITE_DONE) return std::unexpected(db_error(db_, "stats"));
  const auto areas = [](const std::map<std::string, std::size_t>& m) {
    json::array a;
    for (const auto& [area, n] : m) {
      a.push_back(json::object{{"area", area.empty() ? json::value(nullptr) : json::value(area)},
                               {"count", n}});
    }
    return a;
  };
  json::array cats, weeks;
  for (const auto& [code, p] : by_code) {
    cats.push_back(json::object{{"code", code}, {"name", p.first}, {"count", p.second}});
  }
  for (const auto& [w, n] : by_week) weeks.push_back(json::object{{"week", w}, {"count", n}});
  return json::object{{"from", base::format_iso8601(from)},
                      {"to", base::format_iso8601(to)},
                      {"total", total},
                      {"open", open},
                      {"closed", total - open},
                      {"byCategory", std::move(cats)},
                      {"byArea", areas(by_area)},
                      {"byWeek", std::move(weeks)},
                      {"today", json::object{{"total", today}, {"byArea", areas(today_area)}}},
                      {"thisWeek", json::object{{"week", now_week},
                                                {"total", this_week},
                                                {"byArea", areas(week_area)}}}};
}

Indexer::Indexer(SearchIndex& index, hub::Hub& hub, live::Feed& feed, ldcontext::ContextPtr core)
    : index_(index), hub_(hub), feed_(feed), core_(std::move(core)) {}

Indexer::~Indexer() { stop(); }

void Indexer::start() { thread_ = std::thread([this] { run(); }); }

void Indexer::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

base::Result<std::size_t> Indexer::rebuild() {
  // Over the rows already there (the file survives restarts), so search keeps answering while
  // it runs; rows of entities that are gone are removed at the end.
  std::set<std::string> seen;
  std::size_t total = 0;
  for (std::string_view type : {kPledgeType, kRequestType, kNewsType}) {
    store::EntityQuery q;
    q.any_of_types = std::vector<std::string>{iri(type)};
    q.limit = kRebuildPage;
    for (q.offset = 0;; q.offset += kRebuildPage) {
      if (stop_) return total;
      auto page = hub_.query("", q);
      if (!page) return std::unexpected(page.error());
      std::vector<json::object> kvs;
      for (const auto& e : page->entities) {
        kvs.push_back(key_values(*core_, e));
        seen.insert(str(kvs.back(), "id"));
      }
      if (auto r = index_.upsert_many("", kvs); !r) return std::unexpected(r.error());
      total += kvs.size();
      if (page->entities.size() < kRebuildPage) break;
    }
  }
  if (auto removed = index_.retain("", seen); !removed) return std::unexpected(removed.error());
  return total;
}

bool Indexer::catch_up(std::chrono::milliseconds max) {
  const std::uint64_t target = feed_.last_seq();
  std::unique_lock lock(applied_mutex_);
  return applied_changed_.wait_for(lock, max, [&] { return applied_ >= target; });
}

void Indexer::run() {
  std::uint64_t cursor = feed_.last_seq();
  const auto applied = [this](std::uint64_t seq) {
    {
      std::lock_guard lock(applied_mutex_);
      applied_ = seq;
    }
    applied_changed_.notify_all();
  };
  if (auto n = rebuild(); !n) {
    spdlog::error("governance: search index rebuild failed: {}", n.error().detail);
  } else {
    spdlog::info("governance: search index rebuilt ({} entities)", *n);
  }
  ready_ = true;
  applied(cursor);
  const std::string pledge = iri(kPledgeType), request = iri(kRequestType), news = iri(kNewsType);
  std::vector<live::Event> events;
  while (!stop_) {
    if (!feed_.wait(cursor, std::chrono::milliseconds(200))) break;
    events.clear();
    const auto missed = feed_.read(cursor, 1024, events);
    if (missed > 0) {
      spdlog::warn("governance: search index missed {} changes; rebuilding", missed);
      cursor = feed_.last_seq();
      (void)rebuild();
      applied(cursor);
      continue;
    }
    for (const auto& ev : events) {
      cursor = ev.seq;
      const auto& c = ev.change;
      const model::Entity* e = c.after ? c.after.get() : c.before.get();
      if (!e) continue;
      bool ours = false;
      for (const auto& t : model::entity_types(*e)) {
        ours = ours || t == pledge || t == request || t == news;
      }
      if (!ours) continue;
      if (c.kind == hub::Change::Kind::kDeleted) {
        (void)index_.remove(c.tenant, c.id);
      } else if (auto r = index_.upsert(c.tenant, key_values(*core_, *c.after)); !r) {
        spdlog::warn("governance: search index: {}: {}", c.id, r.error().detail);
      }
    }
    applied(cursor);
  }
}

}  // namespace cityroom::governance
