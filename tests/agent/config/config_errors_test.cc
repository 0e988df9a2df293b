// Config::Load's errors: each must name where the problem is and what was expected.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/config/config.h"
#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class ConfigErrorsTest : public TempDirTest {
 protected:
  ConfigLoadOptions Options() {
    ConfigLoadOptions options;
    options.user_file = dir_ / "user.yaml";
    options.repo_dir = dir_ / "repo";
    return options;
  }
  // The error of a load expected to fail ("" and a test failure if it succeeded).
  std::string LoadError(const ConfigLoadOptions& options) {
    auto config = Config::Load(options);
    EXPECT_FALSE(config) << "expected an error";
    return config ? "" : config.error();
  }
};

TEST_F(ConfigErrorsTest, UnknownKeyNamesFileLineAndSuggestsClosestKey) {
  const fs::path user = Write("user.yaml", "model: x\nmax_step: 5\n");
  const std::string error = LoadError(Options());
  EXPECT_THAT(error, HasSubstr(user.string() + ":2"));
  EXPECT_THAT(error, HasSubstr("unknown key 'max_step'"));
  EXPECT_THAT(error, HasSubstr("did you mean 'max_steps'?"));
}

TEST_F(ConfigErrorsTest, MisspeltGroupSuggestsTheFullKey) {
  const fs::path repo = Write("repo/.dsagent/config.yaml",
                              "providers:\n"
                              "  deepsek:\n"
                              "    base_url: http://x\n");
  const std::string error = LoadError(Options());
  EXPECT_THAT(error, HasSubstr(repo.string() + ":3"));
  EXPECT_THAT(error, HasSubstr("'providers.deepsek.base_url'"));
  EXPECT_THAT(error, HasSubstr("did you mean 'providers.deepseek.base_url'?"));
}

TEST_F(ConfigErrorsTest, FarFetchedKeyGetsNoSuggestion) {
  Write("user.yaml", "completely_unrelated_setting: 1\n");
  const std::string error = LoadError(Options());
  EXPECT_THAT(error, HasSubstr("unknown key 'completely_unrelated_setting'"));
  EXPECT_THAT(error, Not(HasSubstr("did you mean")));
}

TEST_F(ConfigErrorsTest, UnknownFlagKeyIsAnError) {
  ConfigLoadOptions options = Options();
  options.flags = {{"tools.bash_timout_s", "5"}};
  const std::string error = LoadError(options);
  EXPECT_THAT(error, HasSubstr("flag --tools.bash_timout_s"));
  EXPECT_THAT(error, HasSubstr("did you mean 'tools.bash_timeout_s'?"));
}

TEST_F(ConfigErrorsTest, WrongTypeInFileNamesKeyFileAndExpectedType) {
  const fs::path user = Write("user.yaml",
                              "model: deepseek-v4-pro\n"
                              "retry:\n"
                              "  max_attempts: abc\n");
  const std::string error = LoadError(Options());
  EXPECT_THAT(error, HasSubstr(user.string() + ":3"));
  EXPECT_THAT(error, HasSubstr("'retry.max_attempts' expects an integer, got \"abc\""));
}

TEST_F(ConfigErrorsTest, DecimalIsNotAnInteger) {
  Write("user.yaml", "max_steps: 1.5\n");
  EXPECT_THAT(LoadError(Options()), HasSubstr("'max_steps' expects an integer"));
}

TEST_F(ConfigErrorsTest, IntegerIsAcceptedForADecimalKey) {
  Write("user.yaml", "max_cost_usd: 2\n");
  auto config = Config::Load(Options());
  ASSERT_TRUE(config) << config.error();
  EXPECT_DOUBLE_EQ(config->GetDouble("max_cost_usd"), 2.0);
}

TEST_F(ConfigErrorsTest, WrongTypeInEnvironmentNamesTheVariable) {
  ConfigLoadOptions options = Options();
  options.env = {{"DSAGENT_THINKING", "maybe"}};
  const std::string error = LoadError(options);
  EXPECT_THAT(error, HasSubstr("environment variable DSAGENT_THINKING"));
  EXPECT_THAT(error, HasSubstr("'thinking' expects a boolean"));
}

TEST_F(ConfigErrorsTest, WrongTypeInFlagNamesTheFlag) {
  ConfigLoadOptions options = Options();
  options.flags = {{"max_cost_usd", "lots"}};
  const std::string error = LoadError(options);
  EXPECT_THAT(error, HasSubstr("flag --max_cost_usd"));
  EXPECT_THAT(error, HasSubstr("expects a number"));
}

TEST_F(ConfigErrorsTest, EnumeratedValuesAreChecked) {
  ConfigLoadOptions options = Options();
  options.env = {{"DSAGENT_PROVIDER", "deepsek"}};
  EXPECT_THAT(LoadError(options),
              HasSubstr("'provider' expects one of deepseek | deepseek-anthropic | "
                        "openai-compatible | local, got \"deepsek\""));
  Write("user.yaml", "effort: medium\n");
  EXPECT_THAT(LoadError(Options()), HasSubstr("'effort' expects one of high | max"));
}

TEST_F(ConfigErrorsTest, MalformedYamlNamesFileAndLine) {
  const fs::path user = Write("user.yaml", "model: x\nthinking: true\nmax_steps: 5: 6\n");
  const std::string error = LoadError(Options());
  EXPECT_THAT(error, HasSubstr(user.string() + ":3:"));
  EXPECT_THAT(error, HasSubstr("malformed YAML"));
}

TEST_F(ConfigErrorsTest, ValueWhereAGroupBelongs) {
  Write("user.yaml", "tools: 5\n");
  EXPECT_THAT(LoadError(Options()), HasSubstr("'tools' is a group of settings"));
}

TEST_F(ConfigErrorsTest, GroupWhereAValueBelongs) {
  Write("user.yaml", "model:\n  id: x\n");
  EXPECT_THAT(LoadError(Options()), HasSubstr("unknown key 'model.id'"));
  Write("user.yaml", "model: [a, b]\n");
  EXPECT_THAT(LoadError(Options()), HasSubstr("'model' expects a string, not a list"));
}

TEST_F(ConfigErrorsTest, KeyWithoutValueIsAnError) {
  Write("user.yaml", "model:\n");
  EXPECT_THAT(LoadError(Options()), HasSubstr("'model' has no value"));
}

TEST_F(ConfigErrorsTest, DuplicateKeyIsAnError) {
  const fs::path user = Write("user.yaml", "max_steps: 5\nmodel: x\nmax_steps: 6\n");
  const std::string error = LoadError(Options());
  EXPECT_THAT(error, HasSubstr(user.string() + ":3"));
  EXPECT_THAT(error, HasSubstr("'max_steps' is set twice"));
}

TEST_F(ConfigErrorsTest, SecondYamlDocumentIsAnError) {
  // yaml-cpp would silently read only the first; the second's settings must not vanish.
  Write("user.yaml", "model: a\n---\nmax_steps: 3\n");
  EXPECT_THAT(LoadError(Options()), HasSubstr("only one YAML document is allowed"));
}

TEST_F(ConfigErrorsTest, StrayCommaAtTopLevelIsAnErrorNotAHang) {
  // yaml-cpp's LoadAll loops forever on these, growing memory (found by tests/fuzz/fuzz_config).
  for (const char* text : {", x\n", "model: a\n, b\n", "[a, b], c\n"}) {
    Write("user.yaml", text);
    EXPECT_THAT(LoadError(Options()), HasSubstr("malformed YAML")) << text;
  }
}

TEST_F(ConfigErrorsTest, TopLevelListIsAnError) {
  Write("user.yaml", "- model\n");
  EXPECT_THAT(LoadError(Options()), HasSubstr("expected a mapping"));
}

TEST_F(ConfigErrorsTest, EveryProblemIsReportedNotJustTheFirst) {
  Write("user.yaml", "max_steps: x\ntimeout_s: y\n");
  ConfigLoadOptions options = Options();
  options.env = {{"DSAGENT_THINKING", "perhaps"}};
  const std::string error = LoadError(options);
  EXPECT_THAT(error, HasSubstr("'max_steps'"));
  EXPECT_THAT(error, HasSubstr("'timeout_s'"));
  EXPECT_THAT(error, HasSubstr("DSAGENT_THINKING"));
}

TEST_F(ConfigErrorsTest, UnreadableConfigPathIsAnError) {
  fs::create_directories(dir_ / "user.yaml");  // a directory where the file should be
  EXPECT_THAT(LoadError(Options()), HasSubstr("not a regular file"));
}

TEST_F(ConfigErrorsTest, SecretsNeverAppearInErrors) {
  Write("user.yaml",
        "providers:\n"
        "  deepseek:\n"
        "    api_key: sk-do-not-print-4242\n"
        "max_steps: nope\n");
  ConfigLoadOptions options = Options();
  options.env = {{"DEEPSEEK_API_KEY", "sk-env-secret-4343"}, {"DSAGENT_MAX_STEPS", "x"}};
  const std::string error = LoadError(options);
  EXPECT_THAT(error, Not(HasSubstr("sk-do-not-print")));
  EXPECT_THAT(error, Not(HasSubstr("sk-env-secret")));
}

}  // namespace
}  // namespace dsagent
