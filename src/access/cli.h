// access/cli: access control's part of the command line and of `serve`'s start-up.
//
// Commands (on a data dir; the server may be running — SQLite serialises the two processes and
// the server picks the change up within a quarter second):
//   cityroom user add NAME --role admin|executive|staff [--department D] [--tenant T]
//   cityroom user passwd NAME         (a new password ends the user's sessions)
//   cityroom user role NAME --role R [--department D]
//   cityroom key create --name N [--role device] [--tenant T] [--operations read,write]
//                       [--types A,B] [--department D]   (prints the key once)
//   cityroom key revoke ID
//   cityroom key list
// Passwords come from CITYROOM_PASSWORD, else one line on stdin (never a command-line argument,
// which other users could read from the process list).
// `serve` options: --no-auth, --visibility, --cors-origin, --trust-proxy, --secure-cookies,
// --rate-limit-address, --rate-limit-key, --audit-retention-days, --oidc-issuer,
// --oidc-audience, --oidc-keys; `start` opens access.db,
// loads the visibility file and creates the first admin (password from
// CITYROOM_ADMIN_PASSWORD, else random and printed once on stderr).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "access/directory.h"
#include "access/guard.h"
#include "api/api.h"

namespace cityroom::access {

struct ServeOptions {
  bool no_auth = false;
  std::string visibility_file;  // default: found (see find_visibility_file)
  std::vector<std::string> cors_origins;
  bool trust_proxy = false;
  bool secure_cookies = false;
  double address_rate = 100;
  double key_rate = 1000;
  unsigned audit_retention_days = 365;
  OidcOptions oidc;  // --oidc-issuer, --oidc-audience, --oidc-keys (all or none)
};

void add_serve_options(CLI::App& serve, ServeOptions& options);

// True for a host that only this machine can reach (127.0.0.0/8, ::1, localhost).
bool is_loopback(std::string_view host);

// What `serve` runs with: the Guard (or AllowAll for --no-auth) and what it owns.
class Setup {
 public:
  // `data_dir` holds access.db; `host` is the listening host (--no-auth needs loopback);
  // `source_data_dir` is where the shipped data/ lives (for data/access/visibility.json).
  static base::Result<std::unique_ptr<Setup>> start(const ServeOptions& options,
                                                    const std::filesystem::path& data_dir,
                                                    std::string_view host,
                                                    const std::filesystem::path& shipped_data);
  ~Setup();
  api::Access& access();
  // Null with --no-auth.
  Guard* guard() { return guard_.get(); }
  // Routes and hooks (none with --no-auth).
  void wire(http::Router& router, api::Deps& deps);

 private:
  Setup() = default;
  std::unique_ptr<Directory> directory_;
  std::unique_ptr<JwtVerifier> jwt_;
  std::unique_ptr<Guard> guard_;
  api::AllowAll allow_all_;
};

// The user/key subcommands; run() returns their exit code when one was parsed.
class Commands {
 public:
  explicit Commands(CLI::App& app);
  std::optional<int> run();

 private:
  CLI::App* user_ = nullptr;
  CLI::App* user_add_ = nullptr;
  CLI::App* user_passwd_ = nullptr;
  CLI::App* user_role_ = nullptr;
  CLI::App* key_ = nullptr;
  CLI::App* key_create_ = nullptr;
  CLI::App* key_revoke_ = nullptr;
  CLI::App* key_list_ = nullptr;
  std::string data_dir_ = "./var";
  std::string name_, role_, department_, tenant_, operations_, types_, id_;
};

}  // namespace cityroom::access
