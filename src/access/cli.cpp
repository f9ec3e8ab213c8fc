#include "access/cli.h"

#include <cstdlib>
#include <iostream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "access/crypto.h"

namespace cityroom::access {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kFirstAdmin = "admin";

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

fs::path find_visibility_file(const ServeOptions& o, const fs::path& data_dir,
                              const fs::path& shipped) {
  if (!o.visibility_file.empty()) return o.visibility_file;
  std::error_code ec;
  for (const fs::path& p : {data_dir / "visibility.json", shipped / "access/visibility.json",
                            fs::path("data/access/visibility.json")}) {
    if (fs::exists(p, ec)) return p;
  }
  return {};
}

std::optional<std::string> read_password(std::string_view env) {
  if (const char* p = std::getenv(std::string(env).c_str()); p && *p) return std::string(p);
  std::cerr << "password (one line on stdin): " << std::flush;
  std::string line;
  if (!std::getline(std::cin, line) || line.empty()) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

base::Result<std::unique_ptr<Directory>> open_directory(const std::string& data_dir) {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  return Directory::open(data_dir);
}

}  // namespace

void add_serve_options(CLI::App& serve, ServeOptions& o) {
  serve.add_flag("--no-auth", o.no_auth,
                 "Turn access control off (local development and conformance tests only; "
                 "refused unless --listen is a loopback address)");
  serve.add_option("--visibility", o.visibility_file,
                   "Visibility of entity types (JSON, docs/ACCESS.md; default: "
                   "<data-dir>/visibility.json, else the shipped data/access/visibility.json)");
  serve.add_option("--cors-origin", o.cors_origins,
                   "An origin (https://host[:port]) allowed to call the API from a browser; "
                   "repeatable");
  serve.add_flag("--trust-proxy", o.trust_proxy,
                 "Behind a reverse proxy: take the client address from X-Forwarded-For and TLS "
                 "from X-Forwarded-Proto");
  serve.add_flag("--secure-cookies", o.secure_cookies,
                 "Always mark the session cookie Secure (HTTPS in front of the server)");
  serve.add_option("--rate-limit-address", o.address_rate,
                   "Requests per second per client address (burst 4x); 0 = off")
      ->capture_default_str();
  serve.add_option("--rate-limit-key", o.key_rate,
                   "Requests per second per API key (burst 4x); 0 = off")
      ->capture_default_str();
  serve.add_option("--oidc-issuer", o.oidc.issuer,
                   "Accept OIDC bearer JWTs (RS256) whose iss is this (with --oidc-audience and "
                   "--oidc-keys)");
  serve.add_option("--oidc-audience", o.oidc.audience, "The aud an OIDC token must carry");
  serve.add_option("--oidc-keys", o.oidc.keys_file,
                   "PEM file of the issuer's RSA public keys (its JWKS, converted)");
  serve.add_option("--audit-retention-days", o.audit_retention_days,
                   "Audit lines older than this are deleted")
      ->capture_default_str();
}

bool is_loopback(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

base::Result<std::unique_ptr<Setup>> Setup::start(const ServeOptions& o, const fs::path& data_dir,
                                                  std::string_view host,
                                                  const fs::path& shipped_data) {
  std::unique_ptr<Setup> s(new Setup());
  if (o.no_auth) {
    if (!is_loopback(host)) {
      return base::fail(base::ErrorKind::kBadRequestData,
                        fmt::format("--no-auth is refused on {}: it would open every entity and "
                                    "write to anyone who can reach it; listen on 127.0.0.1",
                                    host));
    }
    // On stderr: stdout's first line must stay the listening line.
    std::cerr << "cityroom: ************************************************************\n"
                 "cityroom: ACCESS CONTROL IS OFF (--no-auth): anyone who can reach this\n"
                 "cityroom: server may read and write everything. Local development and\n"
                 "cityroom: conformance tests only.\n"
                 "cityroom: ************************************************************\n"
              << std::flush;
    return s;
  }
  auto directory = Directory::open(data_dir);
  if (!directory) return std::unexpected(directory.error());
  s->directory_ = std::move(*directory);
  auto policy = std::make_shared<Policy>();
  if (auto file = find_visibility_file(o, data_dir, shipped_data); !file.empty()) {
    auto loaded = Policy::load(file);
    if (!loaded) return std::unexpected(loaded.error());
    *policy = std::move(*loaded);
    std::cerr << "cityroom: access: visibility from " << file.string() << "\n";
  } else {
    std::cerr << "cityroom: access: no visibility file found; every entity type is staff-only\n";
  }
  if (s->directory_->user_count() == 0) {
    const char* env = std::getenv("CITYROOM_ADMIN_PASSWORD");
    const bool generated = !env || !*env;
    const std::string password = generated ? random_password(20) : std::string(env);
    User admin{std::string(kFirstAdmin), Role::kAdmin, "", "*", 0};
    if (auto added = s->directory_->add_user(admin, password); !added) {
      return std::unexpected(added.error());
    }
    if (generated) {
      // Printed once, on stderr (stdout's first line is the listening line), never logged.
      std::cerr << "\ncityroom: created the first admin user '" << kFirstAdmin
                << "' with the one-time password:\n\n    " << password
                << "\n\nchange it with: cityroom user passwd " << kFirstAdmin << " --data-dir "
                << data_dir.string() << "\n\n"
                << std::flush;
    } else {
      std::cerr << "cityroom: access: created the first admin user '" << kFirstAdmin
                << "' (password from CITYROOM_ADMIN_PASSWORD)\n";
    }
  }
  if (!o.oidc.issuer.empty() || !o.oidc.audience.empty() || !o.oidc.keys_file.empty()) {
    auto jwt = JwtVerifier::load(o.oidc);
    if (!jwt) return std::unexpected(jwt.error());
    s->jwt_ = std::move(*jwt);
    std::cerr << "cityroom: access: OIDC bearer tokens from " << o.oidc.issuer << "\n";
  }
  GuardOptions g;
  g.jwt = s->jwt_.get();
  g.address_rate = o.address_rate;
  g.address_burst = o.address_rate * 4;
  g.key_rate = o.key_rate;
  g.key_burst = o.key_rate * 4;
  g.cors_origins = o.cors_origins;
  g.trust_proxy = o.trust_proxy;
  g.secure_cookies = o.secure_cookies;
  g.audit_retention = std::chrono::hours(24) * o.audit_retention_days;
  s->guard_ = std::make_unique<Guard>(*s->directory_, std::move(policy), std::move(g));
  s->guard_->start();
  return s;
}

Setup::~Setup() {
  if (guard_) guard_->stop();
}

api::Access& Setup::access() {
  if (guard_) return *guard_;
  return allow_all_;
}

void Setup::wire(http::Router& router, api::Deps& deps) {
  if (!guard_) return;
  router.set_hooks(guard_->hooks());
  guard_->register_routes(router, deps);
}

// ---- commands ---------------------------------------------------------------------------

Commands::Commands(CLI::App& app) {
  user_ = app.add_subcommand("user", "Local users (admin, executive, staff); see docs/ACCESS.md");
  user_->require_subcommand(1);
  user_add_ = user_->add_subcommand("add", "Add a user (password from CITYROOM_PASSWORD or stdin)");
  user_passwd_ = user_->add_subcommand("passwd", "Set a user's password; ends their sessions");
  user_role_ = user_->add_subcommand("role", "Change a user's role and department");
  for (auto* c : {user_add_, user_passwd_, user_role_}) {
    c->add_option("NAME", name_, "User name")->required();
    c->add_option("--data-dir", data_dir_, "The server's data dir")->capture_default_str();
  }
  for (auto* c : {user_add_, user_role_}) {
    c->add_option("--role", role_, "admin, executive or staff")->required();
    c->add_option("--department", department_, "The staff member's department");
  }
  user_add_->add_option("--tenant", tenant_, "The one tenant the user works in ('*' = all)");

  key_ = app.add_subcommand("key", "API keys for devices, connectors and integrations");
  key_->require_subcommand(1);
  key_create_ = key_->add_subcommand("create", "Create a key (printed once)");
  key_revoke_ = key_->add_subcommand("revoke", "Revoke a key at once");
  key_list_ = key_->add_subcommand("list", "List keys (never their secrets)");
  for (auto* c : {key_create_, key_revoke_, key_list_}) {
    c->add_option("--data-dir", data_dir_, "The server's data dir")->capture_default_str();
  }
  key_create_->add_option("--name", name_, "What the key is for")->required();
  key_create_->add_option("--role", role_, "public, device, staff, executive or admin (default "
                                           "device)");
  key_create_->add_option("--tenant", tenant_, "Its tenant (default: the default tenant; '*' = "
                                               "all, admin keys only)");
  key_create_->add_option("--operations", operations_, "read,write,admin (default: all the role "
                                                       "has)");
  key_create_->add_option("--types", types_, "Entity types it is limited to, comma-separated");
  key_create_->add_option("--department", department_, "Department (staff keys)");
  key_revoke_->add_option("ID", id_, "The key's id (key list)")->required();
}

std::optional<int> Commands::run() {
  const bool any = user_add_->parsed() || user_passwd_->parsed() || user_role_->parsed() ||
                   key_create_->parsed() || key_revoke_->parsed() || key_list_->parsed();
  if (!any) return std::nullopt;
  auto directory = open_directory(data_dir_);
  if (!directory) {
    std::cerr << "cityroom: cannot open " << data_dir_ << "/access.db: "
              << directory.error().detail << "\n";
    return 1;
  }
  Directory& d = **directory;
  const auto fail = [](const base::Error& e) {
    std::cerr << "cityroom: " << e.detail << "\n";
    return 1;
  };
  if (user_add_->parsed() || user_role_->parsed()) {
    auto role = parse_role(role_);
    if (!role) return fail({base::ErrorKind::kBadRequestData, "--role: admin, executive or staff"});
    if (user_role_->parsed()) {
      if (auto r = d.set_role(name_, *role, department_); !r) return fail(r.error());
      std::cout << "user " << name_ << " is now " << role_name(*role) << "\n";
      return 0;
    }
    auto password = read_password("CITYROOM_PASSWORD");
    if (!password) return fail({base::ErrorKind::kBadRequestData, "no password given"});
    User u{name_, *role, department_, tenant_.empty() ? "*" : tenant_, 0};
    if (auto r = d.add_user(u, *password); !r) return fail(r.error());
    std::cout << "added user " << name_ << " (" << role_name(*role) << ")\n";
    return 0;
  }
  if (user_passwd_->parsed()) {
    auto password = read_password("CITYROOM_PASSWORD");
    if (!password) return fail({base::ErrorKind::kBadRequestData, "no password given"});
    if (auto r = d.set_password(name_, *password); !r) return fail(r.error());
    std::cout << "password of " << name_ << " changed; their sessions ended\n";
    return 0;
  }
  if (key_create_->parsed()) {
    ApiKey k;
    k.name = name_;
    auto role = parse_role(role_.empty() ? "device" : role_);
    if (!role) {
      return fail({base::ErrorKind::kBadRequestData,
                   "--role: public, device, staff, executive or admin"});
    }
    k.role = *role;
    k.department = department_;
    k.tenant = tenant_;
    k.ops = role_ops(k.role);
    if (!operations_.empty()) {
      auto ops = parse_ops(operations_);
      if (!ops) return fail({base::ErrorKind::kBadRequestData, "--operations: read,write,admin"});
      k.ops = *ops;
    }
    k.types = split_commas(types_);
    auto made = d.create_key(std::move(k));
    if (!made) return fail(made.error());
    std::cerr << "key " << made->key.id << " (" << role_name(made->key.role) << ", "
              << ops_text(made->key.ops) << ") created; it is shown only now:\n";
    std::cout << made->secret << "\n";
    return 0;
  }
  if (key_revoke_->parsed()) {
    auto r = d.revoke_key(id_);
    if (!r) return fail(r.error());
    if (!*r) return fail({base::ErrorKind::kResourceNotFound, "no valid key " + id_});
    std::cout << "key " << id_ << " revoked\n";
    return 0;
  }
  for (const auto& k : d.keys()) {
    std::cout << fmt::format("{}  {:<9} {:<16} tenant={:<8} ops={:<16} types={} {}{}\n", k.id,
                             role_name(k.role), k.name, k.tenant.empty() ? "(default)" : k.tenant,
                             ops_text(k.ops),
                             k.types.empty() ? "*" : fmt::format("{}", fmt::join(k.types, ",")),
                             k.revoked ? "REVOKED " : "",
                             k.last_used ? "last used " + base::format_iso8601(k.last_used)
                                         : "never used");
  }
  return 0;
}

}  // namespace cityroom::access
