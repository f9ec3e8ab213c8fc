// Helpers shared by the store tests: a temporary data directory and synchronous writes.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <string>

#include "store/store.h"

namespace cityroom::store::testing {

// A fresh directory under the system temp dir, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("cityroom-store-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::unique_ptr<Store> open_store(const std::filesystem::path& dir) {
  SqliteOptions options;
  options.data_dir = dir;
  options.cache_mib = 16;
  options.read_connections = 2;
  auto s = open_sqlite(options);
  EXPECT_TRUE(s) << (s ? "" : s.error().detail);
  return s ? std::move(*s) : nullptr;
}

// Submits `work` and waits for its done callback.
inline base::Result<WorkOutput> write_sync(Store& s, Work work) {
  std::promise<base::Result<WorkOutput>> p;
  auto f = p.get_future();
  s.write(std::move(work), [&p](base::Result<WorkOutput> r) { p.set_value(std::move(r)); });
  return f.get();
}

inline base::Result<WorkOutput> put_sync(Store& s, std::string_view tenant,
                                         const model::Entity& e) {
  return write_sync(s,
                    [tenant = std::string(tenant), e](Transaction& t) -> base::Result<WorkOutput> {
                      if (auto r = t.put(tenant, e); !r) return std::unexpected(r.error());
                      return WorkOutput{};
                    });
}

inline model::Entity parse_entity(std::string_view text) {
  return boost::json::parse(text).as_object();
}

}  // namespace cityroom::store::testing
