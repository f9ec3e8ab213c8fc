// An acknowledged write survives kill -9: a child process writes entities and reports each
// acknowledged id through a pipe; the parent kills it mid-stream, reopens the store and finds
// every acknowledged entity.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>

#include "store_test_util.h"

namespace cityroom::store {
namespace {

using testing::TempDir;

constexpr int kAckedBeforeKill = 400;
constexpr int kWritesMax = 1'000'000;  // the child is killed long before
constexpr int kInFlightMax = 32;       // several writes per group commit

model::Entity numbered(int n) {
  model::Entity e;
  e["id"] = fmt::format("urn:ngsi-ld:Durable:{}", n);
  e["type"] = json::array{"https://example.org/Durable"};
  e["https://example.org/n"] = json::array{json::object{{"type", "Property"}, {"value", n}}};
  return e;
}

[[noreturn]] void child_writes(const std::filesystem::path& dir, int ack_fd) {
  SqliteOptions options;
  options.data_dir = dir;
  auto store = open_sqlite(options);
  if (!store) ::_exit(2);
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  for (int n = 0; n < kWritesMax; ++n) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < kInFlightMax; });
      ++in_flight;
    }
    const model::Entity e = numbered(n);
    (*store)->write(
        [e](Transaction& t) -> base::Result<WorkOutput> {
          if (auto r = t.put("", e); !r) return std::unexpected(r.error());
          return WorkOutput{};
        },
        [&, n](base::Result<WorkOutput> r) {
          if (r) {
            const std::string line = fmt::format("{}\n", n);
            if (::write(ack_fd, line.data(), line.size()) < 0) ::_exit(3);
          }
          std::lock_guard lock(mu);
          --in_flight;
          cv.notify_one();
        });
  }
  ::_exit(0);
}

TEST(Durability, AcknowledgedWritesSurviveKill9) {
  TempDir dir;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    child_writes(dir.path(), fds[1]);
  }
  ::close(fds[1]);
  FILE* acks = ::fdopen(fds[0], "r");
  ASSERT_NE(acks, nullptr);
  std::vector<int> acked;
  int n = 0;
  while (static_cast<int>(acked.size()) < kAckedBeforeKill && std::fscanf(acks, "%d", &n) == 1) {
    acked.push_back(n);
  }
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status)) << "the child stopped before it was killed";
  while (std::fscanf(acks, "%d", &n) == 1) acked.push_back(n);  // acknowledged before death
  std::fclose(acks);
  ASSERT_GE(static_cast<int>(acked.size()), kAckedBeforeKill);

  auto store = testing::open_store(dir.path());
  ASSERT_TRUE(store);
  int missing = 0;
  for (int id : acked) {
    auto got = store->get("", fmt::format("urn:ngsi-ld:Durable:{}", id));
    ASSERT_TRUE(got) << got.error().detail;
    if (!*got) ++missing;
  }
  EXPECT_EQ(missing, 0) << "of " << acked.size() << " acknowledged writes";
  EXPECT_GE(store->stats().entities, acked.size());
}

}  // namespace
}  // namespace cityroom::store
