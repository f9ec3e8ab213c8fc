// access/policy: who may see and change what — roles, the visibility of entity types, and the
// grant (api::Grant) a request gets from them.
//
// Roles: admin (everything, incl. administration), executive (the mayor's office: reads and
// writes every type), staff (public and staff types; restricted types only when their rule
// names the staff member's department), device (writes the types its key is scoped to; reads
// public types and its own types), public (anonymous citizen: reads public types only).
// Visibility comes from a JSON file (data/access/visibility.json, docs/ACCESS.md):
//   {"default": "staff", "types": {"Camera": "public",
//                                  "Patient": {"visibility": "restricted", "departments": ["119"]}}}
// A type key holding ':' is matched against the expanded IRI exactly; any other key against
// the IRI's local name (the part after the last '/', '#' or ':'), so "Vehicle" covers the
// Smart Data Models IRI and the core-context one alike. An entity with several types takes
// the strictest. A type not listed gets "default" — staff unless the file says otherwise, so a
// new data set is never public by accident.
// Attributes: a type's rule may name attributes stricter than the type ("Pledge":
// {"visibility": "public", "attributes": {"modifiedBy": "staff"}}); keys match like type keys
// (local name, or the exact IRI with ':'). A caller who sees the entity but not such an attribute
// gets the entity without it, on every path (docs/ACCESS.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/api.h"
#include "base/base.h"
#include "json/json.h"

namespace cityroom::access {

enum class Role : std::uint8_t { kPublic, kDevice, kStaff, kExecutive, kAdmin };
enum class Visibility : std::uint8_t { kPublic, kStaff, kRestricted };

std::optional<Role> parse_role(std::string_view name);
std::string_view role_name(Role role);
std::optional<Visibility> parse_visibility(std::string_view name);
std::string_view visibility_name(Visibility v);

// Operations a credential may use (bit set).
inline constexpr unsigned kOpRead = 1, kOpWrite = 2, kOpAdmin = 4;
// "read,write" → bits; nullopt for an unknown name.
std::optional<unsigned> parse_ops(std::string_view list);
std::string ops_text(unsigned ops);
// The operations a role can have at most; a key's ops are cut to these.
unsigned role_ops(Role role);

struct Level {
  Visibility visibility = Visibility::kStaff;
  std::vector<std::string> departments;  // restricted: staff of these departments may see it
};

struct TypeRule : Level {
  // Attributes stricter than the type, by expanded IRI (keys with ':') and by local name.
  std::map<std::string, Level, std::less<>> attributes_by_iri, attributes_by_name;
  bool has_attribute_rules() const {
    return !attributes_by_iri.empty() || !attributes_by_name.empty();
  }
  // The attribute's own level; null when it has none (then it is as visible as the type).
  const Level* attribute(std::string_view attribute_iri) const;
};

class Policy {
 public:
  Policy() = default;  // every type staff
  static base::Result<Policy> parse(const json::value& doc);
  static base::Result<Policy> load(const std::filesystem::path& file);
  const TypeRule& rule(std::string_view type_iri) const;
  // Every attribute level of every type (for "is this name hidden from someone anywhere").
  struct AttributeLevel {
    std::string type_key, attribute_key;  // as written in the file
    Level level;
  };
  const std::vector<AttributeLevel>& attribute_levels() const { return attribute_levels_; }

 private:
  std::vector<AttributeLevel> attribute_levels_;
  TypeRule default_;
  std::map<std::string, TypeRule, std::less<>> by_iri_;
  std::map<std::string, TypeRule, std::less<>> by_name_;
};

std::string_view local_name(std::string_view iri);

// Who a request is, after authentication.
struct Principal {
  std::string who = "anonymous";  // "user:<name>", "key:<id>", "anonymous"
  Role role = Role::kPublic;
  std::string department;
  std::string tenant = "*";  // the one tenant it may use; "*" = any
  unsigned ops = kOpRead;
  std::vector<std::string> types;  // a key's entity-type scope; empty = not limited by type
  enum class Via : std::uint8_t { kNone, kKey, kSession } via = Via::kNone;
  std::string key_id;
  std::string session_csrf;  // Via::kSession: the session's CSRF token
  std::string session_id;    // Via::kSession: the hash of the session token (never the token)
};

// Whether a principal still holds: its key not revoked, its session not ended, its user's role
// and department unchanged. Long-lived deliveries (screen streams, subscriptions) ask it so that
// a revocation ends them at once. Implemented by the directory.
class Validity {
 public:
  virtual ~Validity() = default;
  // nullopt while valid; else why not ("the API key was revoked", ...).
  virtual std::optional<std::string> invalid_reason(const Principal& p) = 0;
};

// Where a grant reports the reads of restricted data it allowed (one line per request or
// stream, written when the grant ends).
class RestrictedReads {
 public:
  virtual ~RestrictedReads() = default;
  virtual void restricted_read(const Principal& p, std::string_view tenant,
                               std::string_view address, std::string_view target,
                               base::Micros first_at, std::size_t count,
                               std::vector<std::string> sample_ids) = 0;
};

// api::Grant for one principal under one policy.
class Grant final : public api::Grant {
 public:
  Grant(Principal principal, std::shared_ptr<const Policy> policy, std::string tenant,
        RestrictedReads* audit = nullptr, std::string address = {}, std::string target = {},
        Validity* validity = nullptr);
  ~Grant() override;

  const std::string& who() const override { return principal_.who; }
  bool is_admin() const override;
  bool limited() const override { return limited_; }
  bool may_see_type(std::string_view type_iri) const override;
  bool may_see(const model::Entity& e) const override;
  bool may_write_type(std::string_view type_iri) const override;
  bool may_see_attribute(const model::Entity& e, std::string_view attribute_iri) const override;
  bool hides_attributes_of(const model::Entity& e) const override;
  bool may_see_type_attribute(std::string_view type_iri,
                              std::string_view attribute_iri) const override;
  bool hides_attribute_somewhere(std::string_view attribute_iri) const override;
  std::optional<std::string> revoked() const override;
  std::string view_key() const override;
  std::string scope() const override;

  const Principal& principal() const { return principal_; }
  // The principal a stored scope describes (empty → anonymous).
  static Principal from_scope(std::string_view scope);

 private:
  bool in_scope(std::string_view type_iri) const;
  bool sees(const TypeRule& rule, std::string_view type_iri) const;
  bool sees_level(const Level& level, std::string_view type_iri) const;
  // Whether every attribute level of `rule` is visible to this grant.
  bool sees_all_attributes(const TypeRule& rule, std::string_view type_iri) const;

  Principal principal_;
  std::shared_ptr<const Policy> policy_;
  std::string tenant_;
  bool limited_ = true;
  RestrictedReads* audit_;
  std::string address_, target_;
  Validity* validity_;
  // Restricted entities this grant let through: reported once, when it ends.
  mutable std::mutex reads_mutex_;
  mutable std::size_t restricted_count_ = 0;
  mutable base::Micros first_read_at_ = 0;
  mutable std::vector<std::string> sample_ids_;
};

}  // namespace cityroom::access
