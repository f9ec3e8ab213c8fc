#include "access/directory.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "access/crypto.h"
#include "store/sqlite/db.h"

namespace cityroom::access {
namespace {

using base::ErrorKind;
using store::sqlite::Connection;

constexpr std::int64_t kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS users(
  name TEXT PRIMARY KEY, hash TEXT NOT NULL, role TEXT NOT NULL,
  department TEXT NOT NULL DEFAULT '', tenant TEXT NOT NULL DEFAULT '*', created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys(
  id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL, role TEXT NOT NULL,
  department TEXT NOT NULL DEFAULT '', tenant TEXT NOT NULL DEFAULT '', ops TEXT NOT NULL,
  types TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,
  last_used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sessions(
  hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL, expires INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit(
  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, who TEXT NOT NULL, role TEXT NOT NULL,
  tenant TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, status INTEGER NOT NULL,
  address TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
CREATE TRIGGER IF NOT EXISTS audit_append_only BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql";

std::string join(const std::vector<std::string>& v) { return fmt::format("{}", fmt::join(v, ",")); }

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto end = s.find(',', start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool valid_name(std::string_view n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
           c == '@';
  });
}

base::Result<std::int64_t> data_version(Connection& c) {
  return c.query_int("PRAGMA data_version");
}

}  // namespace

base::Result<std::unique_ptr<Directory>> Directory::open(const std::filesystem::path& data_dir) {
  auto c = Connection::open(data_dir / "access.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!c) return std::unexpected(c.error());
  if (auto r = (*c)->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                          "PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;");
      !r) {
    return std::unexpected(r.error());
  }
  auto version = (*c)->query_int("PRAGMA user_version");
  if (!version) return std::unexpected(version.error());
  if (*version > kSchemaVersion) {
    return base::fail(ErrorKind::kInternalError,
                      fmt::format("access.db has schema {} from a newer cityroom (this one knows {})",
                                  *version, kSchemaVersion));
  }
  if (auto r = (*c)->exec(kSchema); !r) return std::unexpected(r.error());
  if (auto r = (*c)->exec(fmt::format("PRAGMA user_version={}", kSchemaVersion)); !r) {
    return std::unexpected(r.error());
  }
  std::unique_ptr<Directory> d(new Directory());
  d->db_ = std::move(*c);
  std::lock_guard lock(d->db_mutex_);
  if (auto r = d->reload_locked(); !r) return std::unexpected(r.error());
  return d;
}

Directory::~Directory() { flush(); }

base::Result<void> Directory::reload_locked() {
  Connection& c = *db_;
  auto dv = data_version(c);
  if (!dv) return std::unexpected(dv.error());
  data_version_ = *dv;
  std::map<std::string, User, std::less<>> users;
  std::map<std::string, std::string, std::less<>> hashes;
  {
    auto s = c.prepare("SELECT name, hash, role, department, tenant, created FROM users");
    if (!s) return std::unexpected(s.error());
    while (true) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      User u;
      u.name = s->text_at(0);
      u.role = parse_role(s->text_at(2)).value_or(Role::kPublic);
      u.department = s->text_at(3);
      u.tenant = s->text_at(4);
      u.created = s->int64_at(5);
      hashes[u.name] = std::string(s->text_at(1));
      users[u.name] = std::move(u);
    }
  }
  std::map<std::string, std::shared_ptr<KeyEntry>, std::less<>> keys;
  {
    auto s = c.prepare(
        "SELECT id, hash, name, role, department, tenant, ops, types, created, revoked, last_used "
        "FROM api_keys");
    if (!s) return std::unexpected(s.error());
    while (true) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto e = std::make_shared<KeyEntry>();
      ApiKey& k = e->key;
      k.id = s->text_at(0);
      k.name = s->text_at(2);
      k.role = parse_role(s->text_at(3)).value_or(Role::kPublic);
      k.department = s->text_at(4);
      k.tenant = s->text_at(5);
      k.ops = parse_ops(s->text_at(6)).value_or(kOpRead) & role_ops(k.role);
      k.types = split_commas(s->text_at(7));
      k.created = s->int64_at(8);
      k.revoked = s->int64_at(9);
      k.last_used = s->int64_at(10);
      e->last_used = k.last_used;
      keys[std::string(s->text_at(1))] = std::move(e);
    }
  }
  std::map<std::string, SessionEntry, std::less<>> sessions;
  {
    auto s = c.prepare("SELECT hash, user, csrf, expires FROM sessions WHERE expires > ?1");
    if (!s) return std::unexpected(s.error());
    s->bind(1, static_cast<std::int64_t>(base::now_micros()));
    while (true) {
      auto row = s->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      sessions[std::string(s->text_at(0))] =
          SessionEntry{std::string(s->text_at(1)), std::string(s->text_at(2)), s->int64_at(3)};
    }
  }
  std::unique_lock lock(cache_mutex_);
  // Last-used times seen here but not yet flushed survive a reload.
  for (auto& [hash, e] : keys) {
    if (auto it = keys_by_hash_.find(hash); it != keys_by_hash_.end()) {
      e->last_used = std::max(e->last_used.load(), it->second->last_used.load());
    }
  }
  users_ = std::move(users);
  user_hashes_ = std::move(hashes);
  keys_by_id_.clear();
  for (const auto& [_, e] : keys) keys_by_id_[e->key.id] = e;
  keys_by_hash_ = std::move(keys);
  sessions_by_hash_ = std::move(sessions);
  return {};
}

// Another process (the CLI) may have changed users or keys: PRAGMA data_version moves only for
// other connections' commits, so this costs one cheap query at most every interval.
void Directory::check_external() {
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  auto due = next_external_check_.load(std::memory_order_relaxed);
  if (now < due) return;
  const auto next =
      now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(kExternalCheckInterval)
                .count();
  if (!next_external_check_.compare_exchange_strong(due, next)) return;  // another thread does it
  std::unique_lock lock(db_mutex_, std::try_to_lock);
  if (!lock) return;
  auto dv = data_version(*db_);
  if (dv && *dv != data_version_) {
    if (auto r = reload_locked(); !r) spdlog::error("access: reloading access.db: {}", r.error().detail);
  }
}

Principal Directory::principal_of(const User& u) const {
  Principal p;
  p.who = "user:" + u.name;
  p.role = u.role;
  p.department = u.department;
  p.tenant = u.tenant;
  p.ops = role_ops(u.role);
  p.via = Principal::Via::kSession;
  return p;
}

// ---- users ------------------------------------------------------------------------------

base::Result<void> Directory::add_user(const User& user, std::string_view password) {
  if (!valid_name(user.name)) {
    return base::fail(ErrorKind::kBadRequestData,
                      "a user name is 1-64 letters, digits, '_', '-', '.', '@'");
  }
  if (user.role == Role::kDevice || user.role == Role::kPublic) {
    return base::fail(ErrorKind::kBadRequestData,
                      "users are admin, executive or staff; devices and integrations use API keys");
  }
  auto hash = hash_password(password);
  if (!hash) return std::unexpected(hash.error());
  std::lock_guard lock(db_mutex_);
  auto s = db_->prepare(
      "INSERT INTO users(name, hash, role, department, tenant, created) VALUES(?1,?2,?3,?4,?5,?6)");
  if (!s) return std::unexpected(s.error());
  s->bind(1, user.name).bind(2, *hash).bind(3, role_name(user.role)).bind(4, user.department)
      .bind(5, user.tenant).bind(6, static_cast<std::int64_t>(base::now_micros()));
  if (auto r = s->run(); !r) {
    return base::fail(ErrorKind::kAlreadyExists, fmt::format("user {} already exists", user.name));
  }
  return reload_locked();
}

base::Result<void> Directory::set_password(std::string_view name, std::string_view password) {
  auto hash = hash_password(password);
  if (!hash) return std::unexpected(hash.error());
  std::lock_guard lock(db_mutex_);
  auto s = db_->prepare("UPDATE users SET hash = ?2 WHERE name = ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, name).bind(2, *hash);
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  if (sqlite3_changes(db_->handle()) == 0) {
    return base::fail(ErrorKind::kResourceNotFound, fmt::format("no user {}", name));
  }
  // A new password ends the user's sessions.
  auto d = db_->prepare("DELETE FROM sessions WHERE user = ?1");
  if (!d) return std::unexpected(d.error());
  d->bind(1, name);
  if (auto r = d->run(); !r) return std::unexpected(r.error());
  return reload_locked();
}

base::Result<void> Directory::set_role(std::string_view name, Role role,
                                       std::string_view department) {
  if (role == Role::kDevice || role == Role::kPublic) {
    return base::fail(ErrorKind::kBadRequestData, "users are admin, executive or staff");
  }
  std::lock_guard lock(db_mutex_);
  auto s = db_->prepare("UPDATE users SET role = ?2, department = ?3 WHERE name = ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, name).bind(2, role_name(role)).bind(3, department);
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  if (sqlite3_changes(db_->handle()) == 0) {
    return base::fail(ErrorKind::kResourceNotFound, fmt::format("no user {}", name));
  }
  return reload_locked();
}

std::vector<User> Directory::users() const {
  std::shared_lock lock(cache_mutex_);
  std::vector<User> out;
  for (const auto& [_, u] : users_) out.push_back(u);
  return out;
}

std::size_t Directory::user_count() const {
  std::shared_lock lock(cache_mutex_);
  return users_.size();
}

std::optional<Principal> Directory::check_password(std::string_view name,
                                                   std::string_view password) {
  check_external();
  std::string hash;
  User user;
  {
    std::shared_lock lock(cache_mutex_);
    auto it = users_.find(name);
    if (it != users_.end()) {
      user = it->second;
      hash = user_hashes_.at(user.name);
    }
  }
  if (hash.empty()) {
    // Spend the same time as a real check, so an unknown name is not told apart by timing.
    static const std::string dummy = hash_password("not a password").value_or("");
    verify_password(password, dummy);
    return std::nullopt;
  }
  if (!verify_password(password, hash)) return std::nullopt;
  return principal_of(user);
}

// ---- keys -------------------------------------------------------------------------------

base::Result<Directory::NewKey> Directory::create_key(ApiKey key) {
  if (key.tenant == "*" && key.role != Role::kAdmin) {
    return base::fail(ErrorKind::kBadRequestData, "only admin keys may span every tenant ('*')");
  }
  key.ops &= role_ops(key.role);
  if (key.ops == 0) {
    return base::fail(ErrorKind::kBadRequestData,
                      fmt::format("a {} key can have none of these operations", role_name(key.role)));
  }
  key.id = random_hex(4);
  key.created = base::now_micros();
  NewKey out;
  out.secret = fmt::format("{}{}_{}", kKeyPrefix, key.id, random_hex(24));
  std::lock_guard lock(db_mutex_);
  auto s = db_->prepare(
      "INSERT INTO api_keys(id, hash, name, role, department, tenant, ops, types, created) "
      "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)");
  if (!s) return std::unexpected(s.error());
  // SQLite binds these without copying: they must live until run().
  const std::string hash = sha256_hex(out.secret), ops = ops_text(key.ops), types = join(key.types);
  s->bind(1, key.id).bind(2, hash).bind(3, key.name).bind(4, role_name(key.role))
      .bind(5, key.department).bind(6, key.tenant).bind(7, ops).bind(8, types)
      .bind(9, static_cast<std::int64_t>(key.created));
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  if (auto r = reload_locked(); !r) return std::unexpected(r.error());
  out.key = std::move(key);
  return out;
}

base::Result<bool> Directory::revoke_key(std::string_view id) {
  std::lock_guard lock(db_mutex_);
  auto s = db_->prepare("UPDATE api_keys SET revoked = ?2 WHERE id = ?1 AND revoked = 0");
  if (!s) return std::unexpected(s.error());
  s->bind(1, id).bind(2, static_cast<std::int64_t>(base::now_micros()));
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  const bool changed = sqlite3_changes(db_->handle()) > 0;
  if (auto r = reload_locked(); !r) return std::unexpected(r.error());
  return changed;
}

std::vector<ApiKey> Directory::keys() const {
  std::shared_lock lock(cache_mutex_);
  std::vector<ApiKey> out;
  for (const auto& [_, e] : keys_by_hash_) {
    out.push_back(e->key);
    out.back().last_used = e->last_used.load();
  }
  std::sort(out.begin(), out.end(),
            [](const ApiKey& a, const ApiKey& b) { return a.created < b.created; });
  return out;
}

std::optional<Principal> Directory::authenticate_key(std::string_view secret) {
  if (!secret.starts_with(kKeyPrefix) || secret.size() > 128) return std::nullopt;
  check_external();
  const std::string hash = sha256_hex(secret);
  std::shared_lock lock(cache_mutex_);
  auto it = keys_by_hash_.find(hash);
  if (it == keys_by_hash_.end() || it->second->key.revoked != 0) return std::nullopt;
  KeyEntry& e = *it->second;
  e.last_used.store(base::now_micros(), std::memory_order_relaxed);
  Principal p;
  p.who = "key:" + e.key.id;
  p.role = e.key.role;
  p.department = e.key.department;
  p.tenant = e.key.tenant;
  p.ops = e.key.ops;
  p.types = e.key.types;
  p.via = Principal::Via::kKey;
  p.key_id = e.key.id;
  return p;
}

// ---- sessions ---------------------------------------------------------------------------

base::Result<Directory::NewSession> Directory::create_session(std::string_view user,
                                                              std::chrono::seconds ttl) {
  NewSession out{random_hex(32), random_hex(32)};
  const std::string hash = sha256_hex(out.token);
  const base::Micros expires =
      base::now_micros() + std::chrono::duration_cast<std::chrono::microseconds>(ttl).count();
  std::lock_guard lock(db_mutex_);
  // Expired sessions go on the way.
  if (auto r = db_->exec(fmt::format("DELETE FROM sessions WHERE expires <= {}", base::now_micros()));
      !r) {
    return std::unexpected(r.error());
  }
  auto s = db_->prepare("INSERT INTO sessions(hash, user, csrf, expires) VALUES(?1,?2,?3,?4)");
  if (!s) return std::unexpected(s.error());
  s->bind(1, hash).bind(2, user).bind(3, out.csrf).bind(4, static_cast<std::int64_t>(expires));
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  std::unique_lock cache(cache_mutex_);
  sessions_by_hash_[hash] = SessionEntry{std::string(user), out.csrf, expires};
  return out;
}

std::optional<Principal> Directory::authenticate_session(std::string_view token) {
  if (token.empty() || token.size() > 128) return std::nullopt;
  check_external();
  const std::string hash = sha256_hex(token);
  std::shared_lock lock(cache_mutex_);
  auto it = sessions_by_hash_.find(hash);
  if (it == sessions_by_hash_.end() || it->second.expires <= base::now_micros()) {
    return std::nullopt;
  }
  auto u = users_.find(it->second.user);
  if (u == users_.end()) return std::nullopt;  // the user was removed
  Principal p = principal_of(u->second);
  p.session_csrf = it->second.csrf;
  p.session_id = hash;
  return p;
}

std::optional<std::string> Directory::invalid_reason(const Principal& p) {
  check_external();
  std::shared_lock lock(cache_mutex_);
  if (p.via == Principal::Via::kKey) {
    // An OIDC bearer token is a key-like credential the directory does not hold: nothing here
    // revokes it (its expiry is the issuer's).
    if (!p.who.starts_with("key:")) return std::nullopt;
    auto it = keys_by_id_.find(p.key_id);
    if (it == keys_by_id_.end() || it->second->key.revoked != 0) return "the API key was revoked";
    return std::nullopt;
  }
  if (p.via != Principal::Via::kSession) return std::nullopt;
  if (!p.session_id.empty()) {
    auto s = sessions_by_hash_.find(p.session_id);
    if (s == sessions_by_hash_.end() || s->second.expires <= base::now_micros()) {
      return "the session ended (logged out, expired, or the password changed)";
    }
  }
  const std::string_view name = std::string_view(p.who).substr(p.who.starts_with("user:") ? 5 : 0);
  auto u = users_.find(name);
  if (u == users_.end()) return "the user was removed";
  if (u->second.role != p.role || u->second.department != p.department) {
    return "the user's role changed";
  }
  return std::nullopt;
}

void Directory::end_session(std::string_view token) {
  const std::string hash = sha256_hex(token);
  {
    std::unique_lock cache(cache_mutex_);
    sessions_by_hash_.erase(hash);
  }
  std::lock_guard lock(db_mutex_);
  auto s = db_->prepare("DELETE FROM sessions WHERE hash = ?1");
  if (!s) return;
  s->bind(1, hash);
  if (auto r = s->run(); !r) spdlog::error("access: ending a session: {}", r.error().detail);
}

// ---- audit ------------------------------------------------------------------------------

void Directory::audit(AuditEntry entry) {
  std::lock_guard lock(audit_mutex_);
  if (audit_queue_.size() >= kAuditQueueMax) {
    if (audit_lost_.fetch_add(1) == 0) {
      spdlog::error("access: the audit queue is full; audit lines are being lost");
    }
    return;
  }
  audit_queue_.push_back(std::move(entry));
}

base::Result<void> Directory::write_audit_locked(std::vector<AuditEntry>& batch) {
  if (batch.empty()) return {};
  if (auto r = db_->run("BEGIN IMMEDIATE"); !r) return r;
  for (const auto& e : batch) {
    auto s = db_->prepare(
        "INSERT INTO audit(at, who, role, tenant, action, target, status, address, detail) "
        "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)");
    base::Result<void> r = s ? base::Result<void>{} : std::unexpected(s.error());
    if (s) {
      s->bind(1, static_cast<std::int64_t>(e.at)).bind(2, e.who).bind(3, e.role).bind(4, e.tenant)
          .bind(5, e.action).bind(6, e.target).bind(7, static_cast<std::int64_t>(e.status))
          .bind(8, e.address).bind(9, e.detail);
      r = s->run();
    }
    if (!r) {
      (void)db_->run("ROLLBACK");
      return r;
    }
  }
  return db_->run("COMMIT");
}

void Directory::flush() {
  std::vector<AuditEntry> batch;
  {
    std::lock_guard lock(audit_mutex_);
    batch.swap(audit_queue_);
  }
  std::vector<std::pair<std::string, base::Micros>> used;
  {
    std::shared_lock lock(cache_mutex_);
    for (auto& [_, e] : keys_by_hash_) {
      const auto t = e->last_used.load();
      if (t > e->key.last_used) {
        used.emplace_back(e->key.id, t);
        e->key.last_used = t;
      }
    }
  }
  if (batch.empty() && used.empty()) return;
  std::lock_guard lock(db_mutex_);
  if (!db_) return;
  if (auto r = write_audit_locked(batch); !r) {
    audit_lost_ += batch.size();
    spdlog::error("access: writing {} audit lines: {}", batch.size(), r.error().detail);
  }
  for (const auto& [id, t] : used) {
    auto s = db_->prepare("UPDATE api_keys SET last_used = ?2 WHERE id = ?1");
    if (!s) break;
    s->bind(1, id).bind(2, static_cast<std::int64_t>(t));
    (void)s->run();
  }
}

base::Result<std::vector<AuditEntry>> Directory::audit_query(const AuditQuery& q) {
  flush();  // what was just done is visible to the admin asking
  std::lock_guard lock(db_mutex_);
  auto s = db_->prepare(
      "SELECT at, who, role, tenant, action, target, status, address, detail FROM audit "
      "WHERE at >= ?1 AND at < ?2 AND (?3 = '' OR who = ?3) AND (?4 = '' OR tenant = ?4) "
      "AND (?5 = '' OR action = ?5) ORDER BY id DESC LIMIT ?6 OFFSET ?7");
  if (!s) return std::unexpected(s.error());
  s->bind(1, static_cast<std::int64_t>(q.from)).bind(2, static_cast<std::int64_t>(q.to))
      .bind(3, q.who).bind(4, q.tenant).bind(5, q.action)
      .bind(6, static_cast<std::int64_t>(q.limit)).bind(7, static_cast<std::int64_t>(q.offset));
  std::vector<AuditEntry> out;
  while (true) {
    auto row = s->step();
    if (!row) return std::unexpected(row.error());
    if (!*row) break;
    AuditEntry e;
    e.at = s->int64_at(0);
    e.who = s->text_at(1);
    e.role = s->text_at(2);
    e.tenant = s->text_at(3);
    e.action = s->text_at(4);
    e.target = s->text_at(5);
    e.status = static_cast<int>(s->int64_at(6));
    e.address = s->text_at(7);
    e.detail = s->text_at(8);
    out.push_back(std::move(e));
  }
  return out;
}

base::Result<std::size_t> Directory::audit_purge(base::Micros before) {
  std::lock_guard lock(db_mutex_);
  auto s = db_->prepare("DELETE FROM audit WHERE at < ?1");
  if (!s) return std::unexpected(s.error());
  s->bind(1, static_cast<std::int64_t>(before));
  if (auto r = s->run(); !r) return std::unexpected(r.error());
  return static_cast<std::size_t>(sqlite3_changes(db_->handle()));
}

}  // namespace cityroom::access
