#include "agent/core/permission_setup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;
namespace fs = std::filesystem;

class PermissionSetupTest : public TempDirTest {
 protected:
  Config Load(std::vector<std::pair<std::string, std::string>> flags = {}) {
    auto config = Config::Load({.repo_dir = dir_ / "repo",
                                .user_file = dir_ / "user.yaml",
                                .env = {},
                                .flags = std::move(flags)});
    EXPECT_TRUE(config) << config.error();
    return std::move(*config);
  }
  std::string Bash(const std::string& c) { return "{\"command\":\"" + c + "\"}"; }
};

TEST_F(PermissionSetupTest, HeadlessAndInteractiveModes) {
  fs::create_directories(dir_ / "repo");
  const Config config = Load();
  auto headless = PermissionPolicyFromConfig(config, dir_ / "repo", PermissionFront::kHeadless);
  auto interactive =
      PermissionPolicyFromConfig(config, dir_ / "repo", PermissionFront::kInteractive);
  ASSERT_TRUE(headless && interactive);
  EXPECT_EQ((*headless)->mode(), PermissionMode::kFullAuto);
  EXPECT_EQ((*interactive)->mode(), PermissionMode::kAsk);
  // Read-only commands run without asking even in ask mode; anything else asks.
  EXPECT_EQ((*interactive)->Check("bash", Bash("git status")).decision, Decision::kAllow);
  EXPECT_EQ((*interactive)->Check("bash", Bash("ls -la && pwd")).decision, Decision::kAllow);
  EXPECT_EQ((*interactive)->Check("bash", Bash("cat calc.py")).decision, Decision::kAllow);
  EXPECT_EQ((*interactive)->Check("bash", Bash("cat calc.py > copy.py")).decision, Decision::kAsk);
  EXPECT_EQ((*interactive)->Check("bash", Bash("make")).decision, Decision::kAsk);
  // A user who wants headless runs to ask (and so refuse) sets headless_mode.
  auto strict = PermissionPolicyFromConfig(Load({{"permissions.headless_mode", "auto-edit"}}),
                                           dir_ / "repo", PermissionFront::kHeadless);
  ASSERT_TRUE(strict);
  EXPECT_EQ((*strict)->mode(), PermissionMode::kAutoEdit);
}

TEST_F(PermissionSetupTest, RepoRulesComeAfterUserRules) {
  Write("user.yaml",
        "permissions:\n  rules: [\"allow bash(npm *)\", \"deny bash(npm publish *)\"]\n");
  Write("repo/.dsagent/config.yaml",
        "permissions:\n  rules: [\"allow bash(npm publish --dry-run *)\"]\n");
  auto policy = PermissionPolicyFromConfig(Load(), dir_ / "repo", PermissionFront::kInteractive);
  ASSERT_TRUE(policy) << policy.error();
  EXPECT_EQ((*policy)->Check("bash", Bash("npm test")).decision, Decision::kAllow);
  EXPECT_EQ((*policy)->Check("bash", Bash("npm publish")).decision, Decision::kDeny);
  EXPECT_EQ((*policy)->Check("bash", Bash("npm publish --dry-run")).decision, Decision::kAllow);
  // The repo rule comes after the user deny, so it wins for what it matches.
}

TEST_F(PermissionSetupTest, MalformedRulesAreConfigErrors) {
  Write("repo/.dsagent/config.yaml", "permissions:\n  rules: [\"permit everything\"]\n");
  auto policy = PermissionPolicyFromConfig(Load(), dir_ / "repo", PermissionFront::kHeadless);
  ASSERT_FALSE(policy);
  EXPECT_THAT(policy.error(), HasSubstr("permission rule \"permit everything\""));
  EXPECT_THAT(policy.error(), HasSubstr("repo:"));
}

TEST_F(PermissionSetupTest, PersistAllowRuleFeedsTheNextSession) {
  fs::create_directories(dir_ / "repo");
  ASSERT_TRUE(PersistAllowRule(dir_ / "repo", "bash", "npm test *"));
  EXPECT_FALSE(PersistAllowRule(dir_ / "repo", "bash", ""));  // would allow every command
  auto policy = PermissionPolicyFromConfig(Load(), dir_ / "repo", PermissionFront::kInteractive);
  ASSERT_TRUE(policy) << policy.error();
  EXPECT_EQ((*policy)->Check("bash", Bash("npm test -- --watch=false")).decision, Decision::kAllow);
}

}  // namespace
}  // namespace dsagent
