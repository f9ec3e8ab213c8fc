#include "store/sqlite/db.h"

#include "store/sqlite/geo_cells.h"

#include <fmt/format.h>

namespace cityroom::store::sqlite {

namespace {
base::ErrorKind kind_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
      return base::ErrorKind::kServiceUnavailable;
    default:
      return base::ErrorKind::kInternalError;
  }
}
}  // namespace

base::Error sql_error(sqlite3* db, std::string_view what) {
  const int rc = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
  const char* message = db ? sqlite3_errmsg(db) : "no connection";
  return base::Error{kind_of(rc), fmt::format("sqlite: {}: {} (code {})", what, message, rc)};
}

base::Result<bool> Stmt::step() {
  if (bind_rc_ != SQLITE_OK) {
    return base::fail(base::ErrorKind::kInternalError,
                      fmt::format("sqlite: binding parameters of `{}`: {}", sqlite3_sql(s_),
                                  sqlite3_errstr(bind_rc_)));
  }
  const int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return std::unexpected(sql_error(db_, sqlite3_sql(s_)));
}

base::Result<void> Stmt::run() {
  auto r = step();
  if (!r) return std::unexpected(r.error());
  return {};
}

base::Result<std::unique_ptr<Connection>> Connection::open(const std::filesystem::path& file,
                                                           int flags) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    base::Error e = sql_error(db, fmt::format("opening {}", file.string()));
    sqlite3_close_v2(db);
    return std::unexpected(e);
  }
  sqlite3_extended_result_codes(db, 1);
  if (register_cell_functions(db) != SQLITE_OK) {
    base::Error e = sql_error(db, "registering cell_meets");
    sqlite3_close_v2(db);
    return std::unexpected(e);
  }
  return std::unique_ptr<Connection>(new Connection(db));
}

Connection::~Connection() {
  for (auto& [sql, s] : statements_) sqlite3_finalize(s);
  sqlite3_close_v2(db_);
}

base::Result<void> Connection::exec(std::string_view sql) {
  const std::string text(sql);
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return {};
  std::string detail = fmt::format("sqlite: {}: {} (code {})", text.substr(0, 80),
                                   message ? message : sqlite3_errstr(rc), rc);
  sqlite3_free(message);
  return base::fail(kind_of(rc), std::move(detail));
}

base::Result<Stmt> Connection::prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
      return std::unexpected(sql_error(db_, fmt::format("preparing `{}`", sql)));
    }
    it = statements_.emplace(sql, s).first;
  }
  return base::Result<Stmt>(std::in_place, db_, it->second);
}

base::Result<void> Connection::run(const char* sql) {
  auto s = prepare(sql);
  if (!s) return std::unexpected(s.error());
  return s->run();
}

base::Result<std::int64_t> Connection::query_int(const char* sql) {
  auto s = prepare(sql);
  if (!s) return std::unexpected(s.error());
  auto row = s->step();
  if (!row) return std::unexpected(row.error());
  return *row ? s->int64_at(0) : 0;
}

}  // namespace cityroom::store::sqlite
