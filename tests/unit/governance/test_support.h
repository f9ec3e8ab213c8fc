// Shared by the governance unit tests: the source tree (for data/governance files).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace cityroom::governance::testing {

inline std::filesystem::path source_dir() {
  if (const char* env = std::getenv("CITYROOM_SOURCE_DIR")) return env;
  return CITYROOM_SOURCE_DIR_DEFAULT;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace cityroom::governance::testing
