// Users, keys, sessions and the audit log in access.db (access/directory), including a second
// process's change (another Directory on the same file) seen without a restart.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "access/directory.h"

namespace cityroom::access {
namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("cityroom-access-" + std::to_string(::getpid()) + "-" +
            std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(Directory, UsersLogInWithTheirPasswordOnly) {
  TempDir dir;
  auto d = Directory::open(dir.path);
  ASSERT_TRUE(d) << d.error().detail;
  ASSERT_TRUE((*d)->add_user({"ana", Role::kStaff, "roads", "*", 0}, "pw-1"));
  EXPECT_FALSE((*d)->add_user({"ana", Role::kStaff, "", "*", 0}, "x")) << "exists";
  EXPECT_FALSE((*d)->add_user({"bad name", Role::kStaff, "", "*", 0}, "x"));
  EXPECT_FALSE((*d)->add_user({"dev", Role::kDevice, "", "*", 0}, "x")) << "devices use keys";
  auto p = (*d)->check_password("ana", "pw-1");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->who, "user:ana");
  EXPECT_EQ(p->role, Role::kStaff);
  EXPECT_EQ(p->department, "roads");
  EXPECT_FALSE((*d)->check_password("ana", "pw-2"));
  EXPECT_FALSE((*d)->check_password("nobody", "pw-1"));
  ASSERT_TRUE((*d)->set_role("ana", Role::kExecutive, ""));
  EXPECT_EQ((*d)->check_password("ana", "pw-1")->role, Role::kExecutive);
}

TEST(Directory, SessionsEndWithLogoutOrANewPassword) {
  TempDir dir;
  auto d = std::move(*Directory::open(dir.path));
  ASSERT_TRUE(d->add_user({"ana", Role::kStaff, "", "*", 0}, "pw"));
  auto s = d->create_session("ana", std::chrono::seconds(60));
  ASSERT_TRUE(s);
  auto p = d->authenticate_session(s->token);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->session_csrf, s->csrf);
  EXPECT_FALSE(d->authenticate_session("0" + s->token.substr(1)));
  d->end_session(s->token);
  EXPECT_FALSE(d->authenticate_session(s->token));
  auto s2 = d->create_session("ana", std::chrono::seconds(60));
  ASSERT_TRUE(d->set_password("ana", "new"));
  EXPECT_FALSE(d->authenticate_session(s2->token));
  auto expired = d->create_session("ana", std::chrono::seconds(0));
  EXPECT_FALSE(d->authenticate_session(expired->token));
}

TEST(Directory, KeysAreStoredHashedScopedAndRevocable) {
  TempDir dir;
  auto d = std::move(*Directory::open(dir.path));
  ApiKey k;
  k.name = "sensor";
  k.role = Role::kDevice;
  k.tenant = "b";
  k.types = {"FacilitySensor"};
  auto made = d->create_key(k);
  ASSERT_TRUE(made) << made.error().detail;
  EXPECT_TRUE(made->secret.starts_with("crk_" + made->key.id + "_"));
  auto p = d->authenticate_key(made->secret);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->who, "key:" + made->key.id);
  EXPECT_EQ(p->tenant, "b");
  EXPECT_EQ(p->types, std::vector<std::string>{"FacilitySensor"});
  EXPECT_EQ(p->ops, kOpRead | kOpWrite);
  EXPECT_FALSE(d->authenticate_key(made->secret + "x"));
  EXPECT_FALSE(d->authenticate_key("not-a-key"));
  // Never the secret on disk or in the list.
  d->flush();
  EXPECT_NE(d->keys().at(0).last_used, 0);
  EXPECT_EQ(*d->revoke_key(made->key.id), true);
  EXPECT_FALSE(d->authenticate_key(made->secret)) << "at once";
  EXPECT_EQ(*d->revoke_key(made->key.id), false);
  ApiKey everywhere;
  everywhere.role = Role::kStaff;
  everywhere.tenant = "*";
  EXPECT_FALSE(d->create_key(everywhere)) << "only admin keys span tenants";
  ApiKey public_writer;
  public_writer.role = Role::kPublic;
  public_writer.ops = kOpWrite;
  EXPECT_FALSE(d->create_key(public_writer)) << "a public key cannot write";
}

TEST(Directory, AnotherProcesssRevocationIsSeenWithoutARestart) {
  TempDir dir;
  auto server = std::move(*Directory::open(dir.path));
  auto cli = std::move(*Directory::open(dir.path));
  ApiKey k;
  k.role = Role::kStaff;
  auto made = cli->create_key(k);
  ASSERT_TRUE(made);
  std::this_thread::sleep_for(kExternalCheckInterval + std::chrono::milliseconds(50));
  EXPECT_TRUE(server->authenticate_key(made->secret));
  ASSERT_TRUE(*cli->revoke_key(made->key.id));
  std::this_thread::sleep_for(kExternalCheckInterval + std::chrono::milliseconds(50));
  EXPECT_FALSE(server->authenticate_key(made->secret));
}

// What long-lived deliveries (screen streams, subscriptions) ask before each delivery: a
// principal authenticated earlier stops holding when its key is revoked (here or by another
// process), its session ends, or its user's password, role or department changes.
TEST(Directory, PrincipalsStopHoldingWhenRevokedLoggedOutOrReroled) {
  TempDir dir;
  auto d = std::move(*Directory::open(dir.path));
  ApiKey k;
  k.role = Role::kStaff;
  auto made = d->create_key(k);
  ASSERT_TRUE(made);
  auto by_key = d->authenticate_key(made->secret);
  ASSERT_TRUE(by_key);
  EXPECT_EQ(d->invalid_reason(*by_key), std::nullopt);
  ASSERT_TRUE(*d->revoke_key(made->key.id));
  EXPECT_EQ(d->invalid_reason(*by_key), "the API key was revoked");

  ASSERT_TRUE(d->add_user({"ana", Role::kStaff, "roads", "*", 0}, "pw"));
  auto s1 = d->create_session("ana", std::chrono::seconds(60));
  auto ana = d->authenticate_session(s1->token);
  ASSERT_TRUE(ana);
  EXPECT_EQ(d->invalid_reason(*ana), std::nullopt);
  d->end_session(s1->token);
  EXPECT_TRUE(d->invalid_reason(*ana)->starts_with("the session ended")) << "logged out";

  auto s2 = d->create_session("ana", std::chrono::seconds(60));
  ana = d->authenticate_session(s2->token);
  ASSERT_TRUE(d->set_role("ana", Role::kStaff, "parks"));
  EXPECT_EQ(d->invalid_reason(*ana), "the user's role changed");
  ana = d->authenticate_session(s2->token);
  ASSERT_TRUE(ana);
  EXPECT_EQ(d->invalid_reason(*ana), std::nullopt);
  ASSERT_TRUE(d->set_password("ana", "new"));
  EXPECT_TRUE(d->invalid_reason(*ana)) << "a new password ends the sessions";

  // Another process (the CLI) revokes: seen within the external-check interval.
  auto cli = std::move(*Directory::open(dir.path));
  auto other = cli->create_key(k);
  std::this_thread::sleep_for(kExternalCheckInterval + std::chrono::milliseconds(50));
  auto p = d->authenticate_key(other->secret);
  ASSERT_TRUE(p);
  ASSERT_TRUE(*cli->revoke_key(other->key.id));
  std::this_thread::sleep_for(kExternalCheckInterval + std::chrono::milliseconds(50));
  EXPECT_EQ(d->invalid_reason(*p), "the API key was revoked");
}

TEST(Directory, AuditIsQueryableAndKeptForItsRetention) {
  TempDir dir;
  auto d = std::move(*Directory::open(dir.path));
  d->audit({1000, "key:a", "staff", "", "PATCH", "/x", 204, "10.0.0.1", ""});
  d->audit({2000, "user:ana", "staff", "t", "POST", "/y", 201, "10.0.0.2", ""});
  d->audit({3000, "user:ana", "staff", "", "read-restricted", "/z", 200, "10.0.0.2", "1"});
  auto all = d->audit_query({});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ(all->front().action, "read-restricted") << "newest first";
  AuditQuery q;
  q.who = "user:ana";
  q.tenant = "t";
  EXPECT_EQ(d->audit_query(q)->size(), 1u);
  q = {};
  q.from = 1500;
  q.to = 2500;
  EXPECT_EQ(d->audit_query(q)->size(), 1u);
  EXPECT_EQ(*d->audit_purge(2500), 2u);
  EXPECT_EQ(d->audit_query({})->size(), 1u);
}

}  // namespace
}  // namespace cityroom::access
