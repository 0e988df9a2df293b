#include "tools/env_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include "tests/tools/tool_test_util.h"
#include "tools/bash.h"
#include "tools/shell_command.h"

namespace dsagent {
namespace {
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

const EnvMap kParent = {
    {"ANTHROPIC_BASE_URL", "https://example.test"},
    {"AWS_REGION", "eu-west-1"},
    {"AWS_SECRET_ACCESS_KEY", "aws-secret-value"},
    {"DEEPSEEK_API_KEY", "sk-deepseek-value"},
    {"DEEPSEEK_BASE_URL", "http://127.0.0.1:1"},
    {"GITHUB_TOKEN", "ghp_token_value"},
    {"HOME", "/home/u"},
    {"LANG", "C.UTF-8"},
    {"LC_ALL", "C"},
    {"PATH", "/usr/bin:/bin"},
    {"PGPASSWORD", "hunter2hunter2"},
    {"db_credentials", "user:pw"},
    {"EDITOR", "vi"},
};

std::vector<std::string> Names(const EnvMap& vars) {
  std::vector<std::string> names;
  for (const auto& [name, value] : vars) names.push_back(name);
  return names;
}

TEST(LooksSecretTest, MatchesTheWordsInAnyCase) {
  for (const char* name :
       {"DEEPSEEK_API_KEY", "GITHUB_TOKEN", "aws_secret_access_key", "PGPASSWORD",
        "GOOGLE_APPLICATION_CREDENTIALS", "npm_config__authToken", "SSH_KEY_PATH"}) {
    EXPECT_TRUE(LooksSecret(name)) << name;
  }
  for (const char* name : {"HOME", "PATH", "AWS_REGION", "TERM", "DEEPSEEK_BASE_URL"}) {
    EXPECT_FALSE(LooksSecret(name)) << name;
  }
}

TEST(EnvPolicyTest, AllInheritsEverythingButSecrets) {
  const ChildEnvironment child = BuildChildEnvironment(EnvPolicy{}, kParent);
  EXPECT_THAT(Names(child.vars),
              ElementsAre("ANTHROPIC_BASE_URL", "AWS_REGION", "DEEPSEEK_BASE_URL", "EDITOR", "HOME",
                          "LANG", "LC_ALL", "PATH"));
  EXPECT_THAT(Names(child.withheld), ElementsAre("AWS_SECRET_ACCESS_KEY", "DEEPSEEK_API_KEY",
                                                 "GITHUB_TOKEN", "PGPASSWORD", "db_credentials"));
  EXPECT_EQ(child.withheld.at("GITHUB_TOKEN"), "ghp_token_value");
}

TEST(EnvPolicyTest, WithholdNamesTheProvidersOwnVariables) {
  EnvPolicy policy;
  policy.withhold = {"DEEPSEEK_BASE_URL", "ANTHROPIC_*"};
  const ChildEnvironment child = BuildChildEnvironment(policy, kParent);
  EXPECT_FALSE(child.vars.count("DEEPSEEK_BASE_URL"));
  EXPECT_FALSE(child.vars.count("ANTHROPIC_BASE_URL"));
  EXPECT_TRUE(child.withheld.count("DEEPSEEK_BASE_URL"));
  EXPECT_TRUE(child.withheld.count("ANTHROPIC_BASE_URL"));
}

TEST(EnvPolicyTest, CoreKeepsOnlyTheAllowList) {
  EnvPolicy policy;
  policy.inherit = EnvInherit::kCore;
  const ChildEnvironment child = BuildChildEnvironment(policy, kParent);
  EXPECT_THAT(Names(child.vars), ElementsAre("HOME", "LANG", "LC_ALL", "PATH"));
  // Secrets are reported whatever the mode: they feed redaction.
  EXPECT_TRUE(child.withheld.count("GITHUB_TOKEN"));
  EXPECT_FALSE(child.withheld.count("EDITOR"));
}

TEST(EnvPolicyTest, NoneGivesOnlyKeepAndSet) {
  EnvPolicy policy;
  policy.inherit = EnvInherit::kNone;
  policy.keep = {"PATH"};
  policy.set = {{"CI", "1"}};
  const ChildEnvironment child = BuildChildEnvironment(policy, kParent);
  EXPECT_THAT(child.vars, ElementsAre(Pair("CI", "1"), Pair("PATH", "/usr/bin:/bin")));
}

TEST(EnvPolicyTest, KeepPassesSecretsThroughAndSetWins) {
  EnvPolicy policy;
  policy.keep = {"GITHUB_TOKEN", "AWS_*"};
  policy.withhold = {"AWS_REGION"};
  policy.set = {{"HOME", "/elsewhere"}, {"NEW", "x"}};
  const ChildEnvironment child = BuildChildEnvironment(policy, kParent);
  EXPECT_EQ(child.vars.at("GITHUB_TOKEN"), "ghp_token_value");
  EXPECT_EQ(child.vars.at("AWS_SECRET_ACCESS_KEY"), "aws-secret-value");
  EXPECT_EQ(child.vars.at("AWS_REGION"), "eu-west-1");
  EXPECT_EQ(child.vars.at("HOME"), "/elsewhere");
  EXPECT_EQ(child.vars.at("NEW"), "x");
  EXPECT_FALSE(child.withheld.count("GITHUB_TOKEN"));
  EXPECT_TRUE(child.withheld.count("DEEPSEEK_API_KEY"));
}

TEST(EnvPolicyTest, ParsesInheritNames) {
  EXPECT_EQ(ParseEnvInherit("all"), EnvInherit::kAll);
  EXPECT_EQ(ParseEnvInherit("core"), EnvInherit::kCore);
  EXPECT_EQ(ParseEnvInherit("none"), EnvInherit::kNone);
  EXPECT_FALSE(ParseEnvInherit("some"));
  EXPECT_EQ(EnvInheritName(EnvInherit::kCore), "core");
}

// A real shell: without an explicit environment, commands get the default policy's, so a secret
// in dsagent's own environment is not visible to them.
TEST(EnvPolicyTest, ShellCommandsDoNotSeeSecretsByDefault) {
  ::setenv("DSAGENT_TEST_API_KEY", "secret-in-parent-0123", 1);
  ::setenv("DSAGENT_TEST_PLAIN", "plain-value", 1);
  TempDir ws;
  ShellOptions options;
  options.cwd = ws.path();
  auto run = RunShellCommand("env", options);
  ASSERT_TRUE(run) << run.error();
  EXPECT_THAT(run->output, Not(HasSubstr("secret-in-parent-0123")));
  EXPECT_THAT(run->output, HasSubstr("DSAGENT_TEST_PLAIN=plain-value"));

  // An explicit environment is the whole environment; extra_env goes on top.
  options.environment = EnvMap{{"PATH", "/usr/bin:/bin"}, {"ONLY", "this"}};
  options.extra_env = {{"TMPDIR", "/tmp"}};
  run = RunShellCommand("env | sort", options);
  ASSERT_TRUE(run) << run.error();
  EXPECT_THAT(run->output, HasSubstr("ONLY=this"));
  EXPECT_THAT(run->output, HasSubstr("TMPDIR=/tmp"));
  EXPECT_THAT(run->output, Not(HasSubstr("DSAGENT_TEST_PLAIN")));
  ::unsetenv("DSAGENT_TEST_API_KEY");
  ::unsetenv("DSAGENT_TEST_PLAIN");
}

// The bash tool runs with ToolContext::environment when set.
TEST(EnvPolicyTest, BashToolUsesTheContextEnvironment) {
  TempDir ws;
  ToolContext ctx = testing::ContextIn(ws);
  ctx.environment = EnvMap{{"PATH", "/usr/bin:/bin"}, {"GREETING", "hello-from-policy"}};
  ToolResult r = MakeBashTool()->Run({{"command", "echo \"$GREETING:${HOME:-no-home}\""}}, ctx);
  EXPECT_THAT(r.output, HasSubstr("hello-from-policy:no-home"));
}

}  // namespace
}  // namespace dsagent
