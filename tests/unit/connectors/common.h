// Shared by the connector tests: where the repo and the shared recorded samples are.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace cityroom::connectors::testing {

inline std::filesystem::path repo() {
  const char* dir = std::getenv("CITYROOM_SOURCE_DIR");
  return dir ? std::filesystem::path(dir) : std::filesystem::path(CITYROOM_SOURCE_DIR_DEFAULT);
}
// The recorded answers: <repo>/../shared/data/api-samples, else /work/shared/data/api-samples.
inline std::filesystem::path samples() {
  const auto next = repo() / ".." / "shared" / "data" / "api-samples";
  return std::filesystem::exists(next) ? next : "/work/shared/data/api-samples";
}
inline std::filesystem::path fixtures() { return repo() / "tests" / "data" / "connectors"; }
inline std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace cityroom::connectors::testing
