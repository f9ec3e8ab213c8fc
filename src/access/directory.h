// access/directory: the identities access control knows — local users, API keys, sessions —
// and the audit log, kept in their own SQLite file `<data dir>/access.db` (WAL), apart from the
// entity store: the CLI can change users and keys while the server runs (SQLite serialises the
// two processes), and access data never travels with entity backups by accident.
//
// Users: name, argon2id hash, role, department, tenant. API keys: "crk_<id>_<secret>", stored
// as SHA-256 of the whole key; scoped to a tenant, operations and entity types; revocable;
// last-used time. Sessions: a random token (the cookie), stored hashed, with its CSRF token
// and an absolute expiry. Everything is held in memory for the request path; a change made by
// another process (the CLI) is picked up within kExternalCheckInterval — a change through this
// object (HTTP routes) at once. Audit lines are queued and written in batches by `flush`.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "access/policy.h"
#include "base/base.h"

namespace cityroom::store::sqlite {
class Connection;
}

namespace cityroom::access {

inline constexpr std::string_view kKeyPrefix = "crk_";
inline constexpr auto kExternalCheckInterval = std::chrono::milliseconds(250);
inline constexpr std::size_t kAuditQueueMax = 100'000;  // lines waiting; beyond → counted lost

struct User {
  std::string name;
  Role role = Role::kStaff;
  std::string department;
  std::string tenant = "*";
  base::Micros created = 0;
};

struct ApiKey {
  std::string id;    // 8 hex characters, shown in lists and audit ("key:<id>")
  std::string name;  // what it is for
  Role role = Role::kDevice;
  std::string department;
  std::string tenant = "";  // "" = the default tenant; "*" = any (admin keys only)
  unsigned ops = kOpRead | kOpWrite;
  std::vector<std::string> types;  // empty = not limited by type
  base::Micros created = 0;
  base::Micros revoked = 0;  // 0 = valid
  base::Micros last_used = 0;
};

struct AuditEntry {
  base::Micros at = 0;
  std::string who, role, tenant;
  std::string action;  // "POST", "PATCH", "login", "read-restricted", ...
  std::string target;  // path (never the query string: it may carry secrets)
  int status = 0;
  std::string address;
  std::string detail;
};

struct AuditQuery {
  base::Micros from = 0;
  base::Micros to = INT64_MAX;
  std::string who, tenant, action;  // empty = any
  std::size_t limit = 100;
  std::size_t offset = 0;
};

class Directory final : public Validity {
 public:
  static base::Result<std::unique_ptr<Directory>> open(const std::filesystem::path& data_dir);
  ~Directory();
  Directory(const Directory&) = delete;
  Directory& operator=(const Directory&) = delete;

  // ---- users
  base::Result<void> add_user(const User& user, std::string_view password);
  base::Result<void> set_password(std::string_view name, std::string_view password);
  base::Result<void> set_role(std::string_view name, Role role, std::string_view department);
  std::vector<User> users() const;
  std::size_t user_count() const;
  // The user's principal when the password is right; nullopt otherwise (unknown user alike).
  std::optional<Principal> check_password(std::string_view name, std::string_view password);

  // ---- API keys
  struct NewKey {
    ApiKey key;
    std::string secret;  // the whole "crk_..." value: shown once, never stored
  };
  base::Result<NewKey> create_key(ApiKey key);
  // False when there is no such key (or it was already revoked).
  base::Result<bool> revoke_key(std::string_view id);
  std::vector<ApiKey> keys() const;
  // The key's principal, or nullopt for an unknown or revoked key. Records last use.
  std::optional<Principal> authenticate_key(std::string_view secret);

  // ---- sessions
  struct NewSession {
    std::string token;  // the cookie value
    std::string csrf;
  };
  base::Result<NewSession> create_session(std::string_view user, std::chrono::seconds ttl);
  std::optional<Principal> authenticate_session(std::string_view token);
  void end_session(std::string_view token);

  // Validity: whether a principal authenticated earlier still holds (key not revoked, session
  // not ended or expired, the user's role and department unchanged); also sees the CLI's
  // changes (within kExternalCheckInterval).
  std::optional<std::string> invalid_reason(const Principal& p) override;

  // ---- audit
  void audit(AuditEntry entry);
  base::Result<std::vector<AuditEntry>> audit_query(const AuditQuery& q);
  // Deletes audit lines older than `before`; returns how many.
  base::Result<std::size_t> audit_purge(base::Micros before);
  std::uint64_t audit_lost() const { return audit_lost_.load(); }

  // Writes queued audit lines and last-used times. The server calls it every few hundred ms.
  void flush();

 private:
  Directory() = default;
  base::Result<void> reload_locked();
  void check_external();
  Principal principal_of(const User& u) const;
  base::Result<void> write_audit_locked(std::vector<AuditEntry>& batch);

  struct KeyEntry {
    ApiKey key;
    std::atomic<base::Micros> last_used{0};
  };
  struct SessionEntry {
    std::string user;
    std::string csrf;
    base::Micros expires = 0;
  };

  mutable std::mutex db_mutex_;  // the connection
  std::unique_ptr<store::sqlite::Connection> db_;

  mutable std::shared_mutex cache_mutex_;  // the maps below
  std::map<std::string, User, std::less<>> users_;
  std::map<std::string, std::string, std::less<>> user_hashes_;
  std::map<std::string, std::shared_ptr<KeyEntry>, std::less<>> keys_by_hash_;
  std::map<std::string, std::shared_ptr<KeyEntry>, std::less<>> keys_by_id_;
  std::map<std::string, SessionEntry, std::less<>> sessions_by_hash_;

  std::atomic<std::int64_t> next_external_check_{0};
  std::int64_t data_version_ = 0;

  std::mutex audit_mutex_;
  std::vector<AuditEntry> audit_queue_;
  std::atomic<std::uint64_t> audit_lost_{0};
};

}  // namespace cityroom::access
