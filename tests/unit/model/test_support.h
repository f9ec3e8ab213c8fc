// Shared helpers of the model tests: a ContextStore on the shipped contexts and JSON parsing.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "ldcontext/ldcontext.h"
#include "model/model.h"

namespace cityroom::model_test {

namespace fs = std::filesystem;

inline fs::path source_dir() {
  if (const char* env = std::getenv("CITYROOM_SOURCE_DIR")) return env;
  return CITYROOM_SOURCE_DIR_DEFAULT;
}

inline json::value parse_json(std::string_view text) {
  auto v = json::parse(text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value();
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// One ContextStore per test binary run, opened on data/contexts with a throwaway hosted dir.
class StoreFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    hosted_dir_ = fs::temp_directory_path() /
                  ("cityroom-model-test-" + std::to_string(std::random_device{}()));
    auto opened = ldcontext::ContextStore::open(source_dir() / "data" / "contexts", hosted_dir_);
    ASSERT_TRUE(opened) << opened.error().detail;
    store_ = std::move(*opened).release();
  }
  static void TearDownTestSuite() {
    delete store_;
    store_ = nullptr;
    fs::remove_all(hosted_dir_);
  }

  static ldcontext::ContextPtr context(std::string_view spec_json) {
    auto ctx = store_->resolve(parse_json(spec_json));
    EXPECT_TRUE(ctx) << spec_json;
    return ctx ? *ctx : store_->core();
  }

  static inline ldcontext::ContextStore* store_ = nullptr;
  static inline fs::path hosted_dir_;
};

}  // namespace cityroom::model_test
