#include "agent/core/tool_environment.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;

const EnvMap kParent = {
    {"DEEPSEEK_API_KEY", "sk-from-the-environment"},
    {"DEEPSEEK_BASE_URL", "http://127.0.0.1:9"},
    {"DSAGENT_PROVIDERS__OPENAI_COMPATIBLE__BASE_URL", "http://127.0.0.1:8"},
    {"GITHUB_TOKEN", "ghp_0123456789"},
    {"VLLM_KEY_FILE_PATH", "/x"},
    {"VLLM_AUTH", "vllm-auth-value"},
    {"HOME", "/home/u"},
    {"PATH", "/usr/bin"},
};

class ToolEnvironmentTest : public TempDirTest {
 protected:
  Expected<ToolEnvironment, std::string> Build(const std::string& repo_yaml = "",
                                               std::map<std::string, std::string> env = {}) {
    if (!repo_yaml.empty()) Write("repo/.dsagent/config.yaml", repo_yaml);
    auto config = Config::Load(
        {.repo_dir = dir_ / "repo", .user_file = dir_ / "user.yaml", .env = env, .flags = {}});
    EXPECT_TRUE(config) << config.error();
    return ToolEnvironmentFromConfig(*config, kParent);
  }
};

TEST_F(ToolEnvironmentTest, DefaultWithholdsSecretsAndTheProvidersVariables) {
  auto env = Build();
  ASSERT_TRUE(env) << env.error();
  EXPECT_EQ(env->policy.inherit, EnvInherit::kAll);
  for (const char* name :
       {"DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL", "GITHUB_TOKEN",
        "DSAGENT_PROVIDERS__OPENAI_COMPATIBLE__BASE_URL", "VLLM_KEY_FILE_PATH"}) {
    EXPECT_FALSE(env->child.vars.count(name)) << name;
    EXPECT_TRUE(env->child.withheld.count(name)) << name;
  }
  EXPECT_EQ(env->child.vars.at("HOME"), "/home/u");
  EXPECT_EQ(env->child.vars.at("VLLM_AUTH"), "vllm-auth-value");
  EXPECT_EQ(DescribeToolEnvironment(*env),
            "inherit all; withheld: DEEPSEEK_API_KEY, DEEPSEEK_BASE_URL, "
            "DSAGENT_PROVIDERS__OPENAI_COMPATIBLE__BASE_URL, GITHUB_TOKEN, VLLM_KEY_FILE_PATH");
  EXPECT_EQ(env->redactor->Redact("ghp_0123456789 sk-from-the-environment"),
            "[REDACTED:GITHUB_TOKEN] [REDACTED:DEEPSEEK_API_KEY]");
}

// A provider's api_key_env names its own variable, withheld whatever its name; a key written in
// a config file is redacted under its config key.
TEST_F(ToolEnvironmentTest, ProviderKeysFromConfigAreWithheldAndRedacted) {
  Write("user.yaml",
        "providers:\n  openai-compatible:\n    api_key_env: VLLM_AUTH\n"
        "  deepseek-anthropic:\n    api_key: sk-written-in-the-user-file\n");
  auto env = Build();
  ASSERT_TRUE(env) << env.error();
  EXPECT_FALSE(env->child.vars.count("VLLM_AUTH"));
  EXPECT_EQ(env->redactor->Redact("vllm-auth-value"), "[REDACTED:VLLM_AUTH]");
  EXPECT_EQ(env->redactor->Redact("sk-written-in-the-user-file"),
            "[REDACTED:providers.deepseek-anthropic.api_key]");
}

TEST_F(ToolEnvironmentTest, InheritKeepAndSetFromAFile) {
  auto env = Build(
      "tools:\n  env:\n    inherit: core\n    keep: [GITHUB_TOKEN]\n"
      "    set: {CI: 1, GREETING: hello world}\n");
  ASSERT_TRUE(env) << env.error();
  EXPECT_EQ(env->policy.inherit, EnvInherit::kCore);
  EXPECT_EQ(env->child.vars.at("GITHUB_TOKEN"), "ghp_0123456789");
  EXPECT_EQ(env->child.vars.at("CI"), "1");
  EXPECT_EQ(env->child.vars.at("GREETING"), "hello world");
  EXPECT_FALSE(env->child.vars.count("VLLM_AUTH"));  // not in the core set
  EXPECT_FALSE(env->child.withheld.count("GITHUB_TOKEN"));
  // A kept variable is the user's choice: it is not redacted either.
  EXPECT_EQ(env->redactor->Redact("ghp_0123456789"), "ghp_0123456789");
}

TEST_F(ToolEnvironmentTest, SetAsAListAndFromTheEnvironment) {
  auto env =
      Build("tools:\n  env:\n    set: [\"A=1\", \"B=x=y\"]\n",
            {{"DSAGENT_TOOLS__ENV__SET", "[\"C=3\"]"}, {"DSAGENT_TOOLS__ENV__INHERIT", "none"}});
  ASSERT_TRUE(env) << env.error();
  EXPECT_EQ(env->child.vars, (EnvMap{{"A", "1"}, {"B", "x=y"}, {"C", "3"}}));
}

TEST_F(ToolEnvironmentTest, MalformedSetEntryIsAnError) {
  auto env = Build("tools:\n  env:\n    set: [\"NOVALUE\"]\n");
  ASSERT_FALSE(env);
  EXPECT_THAT(env.error(), HasSubstr("tools.env.set: 'NOVALUE' is not NAME=VALUE"));
}

TEST_F(ToolEnvironmentTest, InheritAcceptsOnlyItsValues) {
  Write("repo/.dsagent/config.yaml", "tools:\n  env:\n    inherit: some\n");
  auto config = Config::Load(
      {.repo_dir = dir_ / "repo", .user_file = dir_ / "user.yaml", .env = {}, .flags = {}});
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error(), HasSubstr("all | core | none"));
}

}  // namespace
}  // namespace dsagent
