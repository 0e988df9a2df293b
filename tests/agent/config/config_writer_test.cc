#include "agent/config/config_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "agent/config/config.h"
#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

#define ASSERT_OK(expr)                      \
  do {                                       \
    auto result_ = (expr);                   \
    ASSERT_TRUE(result_) << result_.error(); \
  } while (0)

class ConfigWriterTest : public TempDirTest {
 protected:
  fs::path file_ = dir_ / "repo" / ".dsagent" / "config.yaml";

  // The repo layer's rules as the loader reads them (defaults and user layer excluded).
  std::vector<std::string> RepoRules() {
    auto base = Config::Load({.repo_dir = {}, .user_file = dir_ / "none", .env = {}, .flags = {}});
    auto config = Config::Load(
        {.repo_dir = dir_ / "repo", .user_file = dir_ / "none", .env = {}, .flags = {}});
    EXPECT_TRUE(config) << config.error();
    if (!config || !base) return {};
    auto all = config->GetStringList("permissions.rules");
    return {all.begin() + static_cast<ptrdiff_t>(base->GetStringList("permissions.rules").size()),
            all.end()};
  }
};

TEST_F(ConfigWriterTest, CreatesTheFile) {
  ASSERT_OK(AppendToConfigList(file_, "permissions.rules", "allow bash(npm test *)"));
  EXPECT_THAT(RepoRules(), ElementsAre("allow bash(npm test *)"));
  ASSERT_OK(AppendToConfigList(file_, "permissions.rules", "allow edit(\"quoted\" \\ dir/**)"));
  EXPECT_THAT(RepoRules(),
              ElementsAre("allow bash(npm test *)", "allow edit(\"quoted\" \\ dir/**)"));
  // Already there: nothing changes.
  const std::string before = Read(file_);
  ASSERT_OK(AppendToConfigList(file_, "permissions.rules", "allow bash(npm test *)"));
  EXPECT_EQ(Read(file_), before);
}

TEST_F(ConfigWriterTest, KeepsCommentsWhenTheSectionIsNew) {
  Write("repo/.dsagent/config.yaml",
        "# my settings\nmodel: deepseek-v4-pro  # pinned\nmax_steps: 7");
  ASSERT_OK(AppendToConfigList(file_, "permissions.rules", "deny bash(rm *)"));
  const std::string text = Read(file_);
  EXPECT_THAT(text, HasSubstr("# my settings\nmodel: deepseek-v4-pro  # pinned\nmax_steps: 7\n"));
  EXPECT_THAT(RepoRules(), ElementsAre("deny bash(rm *)"));
}

TEST_F(ConfigWriterTest, ExtendsAnExistingSectionKeepingEveryValue) {
  Write("repo/.dsagent/config.yaml",
        "permissions:\n  mode: auto-edit\n  rules:\n    - allow bash(make *)\n"
        "providers.deepseek.api_key: \"\"\nsessions:\n  dir: \"\"\nmodel: \"1\"\n");
  ASSERT_OK(AppendToConfigList(file_, "permissions.rules", "allow bash(ctest *)"));
  EXPECT_THAT(RepoRules(), ElementsAre("allow bash(make *)", "allow bash(ctest *)"));
  auto config =
      Config::Load({.repo_dir = dir_ / "repo", .user_file = dir_ / "none", .env = {}, .flags = {}});
  ASSERT_TRUE(config) << config.error();
  EXPECT_EQ(config->GetString("permissions.mode"), "auto-edit");
  EXPECT_EQ(config->GetString("sessions.dir"), "");
  EXPECT_EQ(config->GetString("model"), "1");
}

TEST_F(ConfigWriterTest, DottedAndMixedSpellings) {
  Write("repo/.dsagent/config.yaml", "permissions.mode: ask\npermissions.rules:\n");
  ASSERT_OK(AppendToConfigList(file_, "permissions.rules", "allow grep"));
  EXPECT_THAT(RepoRules(), ElementsAre("allow grep"));
  Write("repo/.dsagent/config.yaml", "permissions.mode: ask\n");
  ASSERT_OK(AppendToConfigList(file_, "permissions.rules", "allow glob"));
  EXPECT_THAT(RepoRules(), ElementsAre("allow glob"));
}

TEST_F(ConfigWriterTest, Errors) {
  EXPECT_FALSE(AppendToConfigList(file_, "model", "x"));
  Write("repo/.dsagent/config.yaml", "permissions:\n  rules: not-a-list\n");
  auto r = AppendToConfigList(file_, "permissions.rules", "allow grep");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error(), HasSubstr("not a list"));
  Write("repo/.dsagent/config.yaml", "permissions: [\n");
  EXPECT_FALSE(AppendToConfigList(file_, "permissions.rules", "allow grep"));
}

}  // namespace
}  // namespace dsagent
