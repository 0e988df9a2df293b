// List settings (permissions.rules): a YAML list of strings that accumulates over the layers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/config/config.h"
#include "agent/config/config_schema.h"
#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ConfigListTest : public TempDirTest {
 protected:
  ConfigLoadOptions Options() {
    ConfigLoadOptions options;
    options.user_file = dir_ / "user" / "config.yaml";
    options.repo_dir = dir_ / "repo";
    return options;
  }
  std::vector<std::string> Rules(const ConfigLoadOptions& options) {
    auto config = Config::Load(options);
    EXPECT_TRUE(config) << config.error();
    if (!config) return {};
    auto all = config->GetStringList("permissions.rules");
    defaults_ = Defaults();
    return std::vector<std::string>(all.begin() + static_cast<ptrdiff_t>(defaults_), all.end());
  }
  static size_t Defaults() {
    auto config =
        Config::Load({.repo_dir = {}, .user_file = "/nonexistent", .env = {}, .flags = {}});
    return config ? config->GetStringList("permissions.rules").size() : 0;
  }
  size_t defaults_ = 0;
};

TEST_F(ConfigListTest, TheSchemaKnowsListsFromTheDefaults) {
  const ConfigKeySpec* rules = ConfigSchema::BuiltIn().Find("permissions.rules");
  ASSERT_NE(rules, nullptr);
  EXPECT_EQ(rules->type, ConfigType::kStringList);
  EXPECT_EQ(rules->default_value.front(), '[');
  EXPECT_EQ(ParseListValue("[\"x\",\"y z\"]"), (std::vector<std::string>{"x", "y z"}));
  EXPECT_EQ(CanonicalListValue({"x", "y z"}), "[\"x\",\"y z\"]");
  EXPECT_TRUE(ParseListValue("not json").empty());
  // Only lists of plain values are lists of strings.
  auto nested = ConfigSchema::FromDefaults("a: [[x]]\n", "test");
  ASSERT_FALSE(nested);
  EXPECT_THAT(nested.error(), HasSubstr("'a' must have a scalar or list-of-strings default"));
  EXPECT_EQ(DescribeConfigType(ConfigType::kStringList), "a list of strings");
  auto checked = ConfigSchema::Check(*rules, "[a, 'b c']");
  ASSERT_TRUE(checked);
  EXPECT_EQ(*checked, "[\"a\",\"b c\"]");
  EXPECT_EQ(*ConfigSchema::Check(*rules, "deny grep"), "[\"deny grep\"]");
  EXPECT_FALSE(ConfigSchema::Check(*rules, "[[nested]]"));
}

TEST_F(ConfigListTest, LayersAppendInOrder) {
  Write("user/config.yaml",
        "permissions:\n  rules:\n    - allow bash(npm *)\n    - deny bash(rm *)\n");
  Write("repo/.dsagent/config.yaml", "permissions.rules: [\"allow bash(rm -rf build)\"]\n");
  auto options = Options();
  options.env = {{"DSAGENT_PERMISSIONS__RULES", "ask bash(git push *)"}};
  options.flags = {{"permissions.rules", "[\"deny grep\", \"deny glob\"]"}};
  EXPECT_THAT(Rules(options),
              ElementsAre("allow bash(npm *)", "deny bash(rm *)", "allow bash(rm -rf build)",
                          "ask bash(git push *)", "deny grep", "deny glob"));
  auto config = Config::Load(options);
  ASSERT_TRUE(config);
  const ConfigValue& v = config->Get("permissions.rules");
  EXPECT_EQ(v.kind, ConfigSourceKind::kFlag);
  EXPECT_THAT(v.source, HasSubstr("default + user:"));
  EXPECT_THAT(v.source, HasSubstr(" + repo:"));
  EXPECT_THAT(v.source, HasSubstr(" + env:DSAGENT_PERMISSIONS__RULES + flag:--permissions.rules"));
  EXPECT_THAT(config->Show(), HasSubstr("permissions.rules = [\"allow bash(npm *)\""));
}

TEST_F(ConfigListTest, EmptyAndMissingListsAreFine) {
  Write("user/config.yaml", "permissions:\n  rules:\n");
  Write("repo/.dsagent/config.yaml", "permissions:\n  rules: []\n");
  EXPECT_TRUE(Rules(Options()).empty());
}

TEST_F(ConfigListTest, WrongShapesAreErrors) {
  Write("user/config.yaml", "permissions:\n  rules: allow bash(ls)\n");
  auto config = Config::Load(Options());
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error(),
              HasSubstr("'permissions.rules' expects a list of strings, not a value"));
  Write("user/config.yaml", "permissions:\n  rules:\n    - {allow: bash}\n");
  config = Config::Load(Options());
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error(), HasSubstr("an entry is a mapping"));
  Write("user/config.yaml", "permissions:\n  mode: yolo\n");
  config = Config::Load(Options());
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error(), HasSubstr("read-only | ask | auto-edit | full-auto"));
}

// A list written as a mapping gives NAME=VALUE entries (tools.env.set: {CI: 1}), appended like
// any list entries.
TEST_F(ConfigListTest, AMappingGivesNameValueEntries) {
  Write("user/config.yaml", "tools:\n  env:\n    set: [\"A=1\"]\n");
  Write("repo/.dsagent/config.yaml", "tools.env.set: {CI: 1, NAME: \"two words\"}\n");
  auto config = Config::Load(Options());
  ASSERT_TRUE(config) << config.error();
  EXPECT_THAT(config->GetStringList("tools.env.set"), ElementsAre("A=1", "CI=1", "NAME=two words"));
  EXPECT_THAT(config->Get("tools.env.set").source, HasSubstr("default + user:"));
}

TEST_F(ConfigListTest, GetStringListOnAScalarIsAProgrammingError) {
  auto config = Config::Load(Options());
  ASSERT_TRUE(config);
  EXPECT_THROW(config->GetStringList("model"), std::logic_error);
  EXPECT_THROW(config->GetInt("permissions.rules"), std::logic_error);
}

}  // namespace
}  // namespace dsagent
