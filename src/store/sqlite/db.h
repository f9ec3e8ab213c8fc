// Thin RAII layer over the SQLite C API for the sqlite store: a connection with a cache of
// prepared statements, and a `Stmt` cursor that resets its statement when it goes out of scope.
// A Connection is used by one thread at a time (SQLITE_OPEN_NOMUTEX); nothing here is shared.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/base.h"

namespace cityroom::store::sqlite {

// An Error carrying SQLite's own message: "sqlite: <what>: <message> (code N)".
base::Error sql_error(sqlite3* db, std::string_view what);

// A prepared statement in use. Binding indexes are 1-based as in SQL (?1, ?2, ...).
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  Stmt& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
  Stmt& bind(int i, double v) { return check(sqlite3_bind_double(s_, i, v)); }
  Stmt& bind(int i, std::string_view v) {
    return check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
  }
  Stmt& bind_blob(int i, std::string_view v) {
    return check(sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
  }
  Stmt& bind_empty_blob(int i) { return check(sqlite3_bind_zeroblob(s_, i, 0)); }
  Stmt& bind_null(int i) { return check(sqlite3_bind_null(s_, i)); }

  // True when a row is available, false when done.
  base::Result<bool> step();
  // Steps a statement that returns no rows.
  base::Result<void> run();

  std::int64_t int64_at(int col) const { return sqlite3_column_int64(s_, col); }
  double double_at(int col) const { return sqlite3_column_double(s_, col); }
  bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  int type_at(int col) const { return sqlite3_column_type(s_, col); }  // SQLITE_INTEGER, ...
  std::string_view blob_at(int col) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col)))
             : std::string_view();
  }
  std::string_view text_at(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col)))
             : std::string_view();
  }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* s_;
  int bind_rc_ = SQLITE_OK;  // the first binding error, reported by step()
};

class Connection {
 public:
  // `flags` as sqlite3_open_v2 takes them (SQLITE_OPEN_NOMUTEX is added).
  static base::Result<std::unique_ptr<Connection>> open(const std::filesystem::path& file,
                                                        int flags);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  sqlite3* handle() const { return db_; }
  // Runs one or more statements without results (schema, pragmas, BEGIN/COMMIT).
  base::Result<void> exec(std::string_view sql);
  // A cached prepared statement for `sql`, which must be a string with static storage
  // duration: the cache is keyed by its address.
  base::Result<Stmt> prepare(const char* sql);
  // Runs a cached statement without results ("BEGIN IMMEDIATE", "SAVEPOINT item", ...).
  base::Result<void> run(const char* sql);
  // A single integer answer ("PRAGMA user_version").
  base::Result<std::int64_t> query_int(const char* sql);

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<const char*, sqlite3_stmt*> statements_;
};

}  // namespace cityroom::store::sqlite
