// Test helpers for tools/repomap: a fixture repository from tests/data/repomap copied into a
// temporary directory (so git, caches and generated files never touch the source tree), plus a
// private tag-cache directory.
#pragma once

#include <filesystem>
#include <string>

#include "tests/tools/tool_test_util.h"

namespace dsagent::testing {

class FixtureRepo : public TempDir {
 public:
  explicit FixtureRepo(const std::string& fixture) {
    std::filesystem::create_directories(path() / "repo");
    std::filesystem::copy(
        std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data/repomap" / fixture, repo(),
        std::filesystem::copy_options::recursive);
  }
  std::filesystem::path repo() const { return path() / "repo"; }
  std::filesystem::path cache() const { return path() / "cache"; }
  void WriteInRepo(const std::string& rel, const std::string& content) const {
    Write("repo/" + rel, content);
  }
};

}  // namespace dsagent::testing
