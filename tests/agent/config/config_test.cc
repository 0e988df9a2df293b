#include "agent/config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class ConfigTest : public TempDirTest {
 protected:
  // Options reading only what the test provides: no real user file, no process environment.
  ConfigLoadOptions Options() {
    ConfigLoadOptions options;
    options.user_file = dir_ / "user" / "config.yaml";
    options.repo_dir = dir_ / "repo";
    return options;
  }
  fs::path WriteUser(const std::string& text) { return Write("user/config.yaml", text); }
  fs::path WriteRepo(const std::string& text) { return Write("repo/.dsagent/config.yaml", text); }

  Config LoadOk(const ConfigLoadOptions& options) {
    auto config = Config::Load(options);
    EXPECT_TRUE(config) << config.error();
    if (!config) throw std::runtime_error("load failed");
    return std::move(*config);
  }
};

TEST_F(ConfigTest, DefaultsApplyWhenNoFilesEnvOrFlags) {
  const Config config = LoadOk(Options());
  EXPECT_EQ(config.GetString("provider"), "deepseek");
  EXPECT_EQ(config.GetString("model"), "deepseek-v4-flash");
  EXPECT_TRUE(config.GetBool("thinking"));
  EXPECT_EQ(config.GetString("effort"), "high");
  EXPECT_EQ(config.GetInt("max_steps"), 100);
  EXPECT_DOUBLE_EQ(config.GetDouble("max_cost_usd"), 5.0);
  EXPECT_EQ(config.GetInt("timeout_s"), 3600);
  EXPECT_EQ(config.GetInt("max_output_tokens"), 32768);
  EXPECT_EQ(config.GetString("providers.deepseek.base_url"), "https://api.deepseek.com");
  EXPECT_EQ(config.GetString("providers.openai-compatible.base_url"), "http://127.0.0.1:8000/v1");
  EXPECT_EQ(config.GetString("providers.openai-compatible.api_key_env"), "OPENAI_API_KEY");
  EXPECT_FALSE(config.GetBool("providers.openai-compatible.check_served_model"));
  EXPECT_EQ(config.GetInt("retry.max_backoff_ms"), 30000);
  EXPECT_EQ(config.GetInt("http.idle_timeout_s"), 600);
  EXPECT_EQ(config.GetInt("tools.read_max_bytes"), 262144);
  EXPECT_EQ(config.GetString("sessions.dir"), "");
  EXPECT_EQ(config.Get("model").kind, ConfigSourceKind::kDefault);
  EXPECT_EQ(config.Get("model").source, "default");
  EXPECT_TRUE(config.Warnings().empty());
}

TEST_F(ConfigTest, LaterLayersWinAndRecordTheirSource) {
  const fs::path user = WriteUser(
      "model: user-model\n"
      "max_steps: 10\n"
      "effort: max\n"
      "tools:\n"
      "  bash_timeout_s: 11\n"
      "  output_cap_bytes: 12\n");
  const fs::path repo = WriteRepo(
      "max_steps: 20\n"
      "tools:\n"
      "  bash_timeout_s: 21\n"
      "  output_cap_bytes: 22\n");
  ConfigLoadOptions options = Options();
  options.env = {{"DSAGENT_TOOLS__BASH_TIMEOUT_S", "31"},
                 {"DSAGENT_TOOLS__OUTPUT_CAP_BYTES", "32"}};
  options.flags = {{"tools.output_cap_bytes", "42"}};
  const Config config = LoadOk(options);

  EXPECT_EQ(config.GetString("provider"), "deepseek");  // untouched: default
  EXPECT_EQ(config.Get("provider").kind, ConfigSourceKind::kDefault);

  EXPECT_EQ(config.GetString("model"), "user-model");  // user only
  EXPECT_EQ(config.Get("model").kind, ConfigSourceKind::kUser);
  EXPECT_EQ(config.Get("model").source, "user:" + user.string());
  EXPECT_EQ(config.GetString("effort"), "max");

  EXPECT_EQ(config.GetInt("max_steps"), 20);  // repo over user
  EXPECT_EQ(config.Get("max_steps").kind, ConfigSourceKind::kRepo);
  EXPECT_EQ(config.Get("max_steps").source, "repo:" + repo.string());

  EXPECT_EQ(config.GetInt("tools.bash_timeout_s"), 31);  // env over repo
  EXPECT_EQ(config.Get("tools.bash_timeout_s").kind, ConfigSourceKind::kEnv);
  EXPECT_EQ(config.Get("tools.bash_timeout_s").source, "env:DSAGENT_TOOLS__BASH_TIMEOUT_S");

  EXPECT_EQ(config.GetInt("tools.output_cap_bytes"), 42);  // flag over env
  EXPECT_EQ(config.Get("tools.output_cap_bytes").kind, ConfigSourceKind::kFlag);
  EXPECT_EQ(config.Get("tools.output_cap_bytes").source, "flag:--tools.output_cap_bytes");
}

TEST_F(ConfigTest, EveryKeyHasADerivedEnvironmentVariable) {
  ConfigLoadOptions options = Options();
  options.env = {{"DSAGENT_MODEL", "deepseek-v4-pro"},
                 {"DSAGENT_MAX_STEPS", "7"},
                 {"DSAGENT_MAX_COST_USD", "0.25"},
                 {"DSAGENT_PROVIDER", "openai-compatible"},
                 {"DSAGENT_PROVIDERS__OPENAI_COMPATIBLE__BASE_URL", "http://10.0.0.2:9000/v1"},
                 {"DSAGENT_PROVIDERS__DEEPSEEK_ANTHROPIC__CHECK_SERVED_MODEL", "off"},
                 {"DSAGENT_SESSIONS__DIR", "/var/sessions"},
                 // Not a key: ignored, since names are computed from keys, never parsed back.
                 {"DSAGENT_NOT_A_SETTING", "x"},
                 {"DSAGENT_HOME", "/elsewhere"}};
  const Config config = LoadOk(options);
  EXPECT_EQ(config.GetString("model"), "deepseek-v4-pro");
  EXPECT_EQ(config.Get("model").source, "env:DSAGENT_MODEL");
  EXPECT_EQ(config.GetInt("max_steps"), 7);
  EXPECT_DOUBLE_EQ(config.GetDouble("max_cost_usd"), 0.25);
  EXPECT_EQ(config.GetString("provider"), "openai-compatible");
  EXPECT_EQ(config.GetString("providers.openai-compatible.base_url"), "http://10.0.0.2:9000/v1");
  EXPECT_EQ(config.Get("providers.openai-compatible.base_url").source,
            "env:DSAGENT_PROVIDERS__OPENAI_COMPATIBLE__BASE_URL");
  EXPECT_FALSE(config.GetBool("providers.deepseek-anthropic.check_served_model"));
  EXPECT_TRUE(config.GetBool("providers.deepseek.check_served_model"));
  EXPECT_EQ(config.GetString("sessions.dir"), "/var/sessions");
}

TEST_F(ConfigTest, BooleansAcceptCommonSpellings) {
  const std::pair<const char*, bool> cases[] = {
      {"true", true}, {"false", false}, {"on", true}, {"off", false}, {"yes", true},
      {"no", false},  {"1", true},      {"0", false}, {"TRUE", true}, {"Off", false}};
  for (const auto& [text, expected] : cases) {
    ConfigLoadOptions options = Options();
    options.env = {{"DSAGENT_THINKING", text}};
    EXPECT_EQ(LoadOk(options).GetBool("thinking"), expected) << text;
  }
  WriteUser("thinking: off\n");  // YAML 1.1 spelling in a file
  EXPECT_FALSE(LoadOk(Options()).GetBool("thinking"));
}

TEST_F(ConfigTest, EmptyEnvironmentVariablesCountAsUnset) {
  WriteUser("model: from-user\n");
  ConfigLoadOptions options = Options();
  options.env = {{"DSAGENT_MODEL", ""}, {"DSAGENT_MAX_STEPS", ""}, {"DEEPSEEK_API_KEY", ""}};
  const Config config = LoadOk(options);
  EXPECT_EQ(config.GetString("model"), "from-user");
  EXPECT_EQ(config.GetInt("max_steps"), 100);
  EXPECT_EQ(config.GetString("providers.deepseek.api_key"), "");
}

TEST_F(ConfigTest, DeepSeekVariablesFillBothDeepSeekProviders) {
  ConfigLoadOptions options = Options();
  options.env = {{"DEEPSEEK_API_KEY", "sk-test-0000000000001111"},
                 {"DEEPSEEK_BASE_URL", "http://127.0.0.1:1234"}};
  const Config config = LoadOk(options);
  for (const std::string provider : {"deepseek", "deepseek-anthropic"}) {
    const std::string prefix = "providers." + provider + ".";
    EXPECT_EQ(config.GetString(prefix + "api_key"), "sk-test-0000000000001111");
    EXPECT_EQ(config.Get(prefix + "api_key").source, "env:DEEPSEEK_API_KEY");
    EXPECT_EQ(config.GetString(prefix + "base_url"), "http://127.0.0.1:1234");
    EXPECT_EQ(config.Get(prefix + "base_url").source, "env:DEEPSEEK_BASE_URL");
  }
  EXPECT_EQ(config.GetString("providers.openai-compatible.api_key"), "");
  EXPECT_EQ(config.GetString("providers.openai-compatible.base_url"), "http://127.0.0.1:8000/v1");
}

TEST_F(ConfigTest, SpecificDsagentVariableBeatsGenericDeepSeekOne) {
  ConfigLoadOptions options = Options();
  options.env = {{"DEEPSEEK_BASE_URL", "http://generic"},
                 {"DSAGENT_PROVIDERS__DEEPSEEK_ANTHROPIC__BASE_URL", "http://specific"}};
  const Config config = LoadOk(options);
  EXPECT_EQ(config.GetString("providers.deepseek.base_url"), "http://generic");
  EXPECT_EQ(config.GetString("providers.deepseek-anthropic.base_url"), "http://specific");
}

TEST_F(ConfigTest, ApiKeyEnvNamesTheVariableThatFillsAnEmptyKey) {
  WriteUser(
      "providers:\n"
      "  openai-compatible:\n"
      "    api_key_env: VLLM_API_KEY\n");
  ConfigLoadOptions options = Options();
  options.env = {{"VLLM_API_KEY", "vllm-secret-abcd"}, {"OPENAI_API_KEY", "openai-secret-wxyz"}};
  const Config config = LoadOk(options);
  EXPECT_EQ(config.GetString("providers.openai-compatible.api_key"), "vllm-secret-abcd");
  EXPECT_EQ(config.Get("providers.openai-compatible.api_key").kind, ConfigSourceKind::kEnv);
  EXPECT_EQ(config.Get("providers.openai-compatible.api_key").source, "env:VLLM_API_KEY");
}

TEST_F(ConfigTest, ApiKeyEnvSetThroughTheEnvironmentIsHonoured) {
  ConfigLoadOptions options = Options();
  options.env = {{"DSAGENT_PROVIDERS__OPENAI_COMPATIBLE__API_KEY_ENV", "VLLM_API_KEY"},
                 {"VLLM_API_KEY", "vllm-secret-abcd"}};
  const Config config = LoadOk(options);
  EXPECT_EQ(config.GetString("providers.openai-compatible.api_key"), "vllm-secret-abcd");
  EXPECT_EQ(config.Get("providers.openai-compatible.api_key").source, "env:VLLM_API_KEY");
}

TEST_F(ConfigTest, DefaultApiKeyEnvIsReadForOpenAiCompatible) {
  ConfigLoadOptions options = Options();
  options.env = {{"OPENAI_API_KEY", "openai-secret-wxyz"}};
  const Config config = LoadOk(options);
  EXPECT_EQ(config.GetString("providers.openai-compatible.api_key"), "openai-secret-wxyz");
  EXPECT_EQ(config.Get("providers.openai-compatible.api_key").source, "env:OPENAI_API_KEY");
  EXPECT_EQ(config.GetString("providers.deepseek.api_key"), "");
}

TEST_F(ConfigTest, ApiKeyEnvDoesNotOverrideAKeyAlreadySetOrAFlag) {
  const fs::path user = WriteUser(
      "providers:\n"
      "  openai-compatible:\n"
      "    api_key: from-user-file\n");
  ConfigLoadOptions options = Options();
  options.env = {{"OPENAI_API_KEY", "from-env-var"}};
  options.flags = {{"providers.deepseek.api_key", "from-flag-1234"}};
  options.env["DEEPSEEK_API_KEY"] = "from-deepseek-env";
  const Config config = LoadOk(options);
  EXPECT_EQ(config.GetString("providers.openai-compatible.api_key"), "from-user-file");
  EXPECT_EQ(config.Get("providers.openai-compatible.api_key").source, "user:" + user.string());
  EXPECT_EQ(config.GetString("providers.deepseek.api_key"), "from-flag-1234");
  EXPECT_EQ(config.Get("providers.deepseek.api_key").source, "flag:--providers.deepseek.api_key");
  EXPECT_EQ(config.GetString("providers.deepseek-anthropic.api_key"), "from-deepseek-env");
}

TEST_F(ConfigTest, LaterFlagForTheSameKeyWins) {
  ConfigLoadOptions options = Options();
  options.flags = {{"max_steps", "3"}, {"max_steps", "4"}};
  EXPECT_EQ(LoadOk(options).GetInt("max_steps"), 4);
}

TEST_F(ConfigTest, EmptyGroupsAndEmptyFilesAreAccepted) {
  WriteUser("# all commented out\n");
  WriteRepo("tools:\n  # bash_timeout_s: 5\nretry: {}\n");
  const Config config = LoadOk(Options());
  EXPECT_EQ(config.GetInt("tools.bash_timeout_s"), 120);
  EXPECT_EQ(config.Get("tools.bash_timeout_s").kind, ConfigSourceKind::kDefault);
}

TEST_F(ConfigTest, DottedKeysAreAcceptedInFiles) {
  WriteUser("tools.bash_timeout_s: 9\n");
  EXPECT_EQ(LoadOk(Options()).GetInt("tools.bash_timeout_s"), 9);
}

TEST_F(ConfigTest, UserFileDefaultsToXdgConfigHome) {
  Write("xdg/dsagent/config.yaml", "model: from-xdg\n");
  ASSERT_EQ(setenv("XDG_CONFIG_HOME", (dir_ / "xdg").c_str(), 1), 0);
  ConfigLoadOptions options;
  const Config config = LoadOk(options);
  unsetenv("XDG_CONFIG_HOME");
  EXPECT_EQ(config.GetString("model"), "from-xdg");
  EXPECT_EQ(config.Get("model").source, "user:" + (dir_ / "xdg/dsagent/config.yaml").string());
}

TEST_F(ConfigTest, ShowListsEveryKeySortedWithSourcesAndMasksSecrets) {
  const fs::path user = WriteUser("max_steps: 12\n");
  ConfigLoadOptions options = Options();
  options.env = {{"DEEPSEEK_API_KEY", "sk-verysecretvalue-9f3a"}, {"VLLM_API_KEY", "short"}};
  options.flags = {{"providers.openai-compatible.api_key_env", "VLLM_API_KEY"}};
  const std::string shown = LoadOk(options).Show();

  EXPECT_THAT(shown, Not(HasSubstr("verysecret")));
  EXPECT_THAT(shown, HasSubstr("providers.deepseek.api_key = ****9f3a  # env:DEEPSEEK_API_KEY\n"));
  EXPECT_THAT(
      shown,
      HasSubstr("providers.deepseek-anthropic.api_key = ****9f3a  # env:DEEPSEEK_API_KEY\n"));
  // The flag changed api_key_env after the indirection ran, so the key stays unset.
  EXPECT_THAT(shown, HasSubstr("providers.openai-compatible.api_key = (unset)  # default\n"));
  EXPECT_THAT(shown, HasSubstr("providers.openai-compatible.api_key_env = VLLM_API_KEY  "
                               "# flag:--providers.openai-compatible.api_key_env\n"));
  EXPECT_THAT(shown, HasSubstr("max_steps = 12  # user:" + user.string() + "\n"));
  EXPECT_THAT(shown, HasSubstr("model = deepseek-v4-flash  # default\n"));
  EXPECT_THAT(shown, HasSubstr("sessions.dir = \"\"  # default\n"));
  EXPECT_THAT(shown, HasSubstr("thinking = true  # default\n"));

  std::vector<std::string> keys;
  std::istringstream lines(shown);
  for (std::string line; std::getline(lines, line);) keys.push_back(line.substr(0, line.find(' ')));
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_TRUE(std::adjacent_find(keys.begin(), keys.end()) == keys.end());
  EXPECT_GE(keys.size(), 30u);  // the keys listed in the task's default.yaml, at least
  EXPECT_EQ(keys.front(), "context_tokens");  // the alphabetically first key
}

TEST_F(ConfigTest, ShortSecretsAreMaskedEntirely) {
  ConfigLoadOptions options = Options();
  options.env = {{"OPENAI_API_KEY", "abc12"}};
  const std::string shown = LoadOk(options).Show();
  EXPECT_THAT(shown, HasSubstr("providers.openai-compatible.api_key = ****  # env:OPENAI_API_KEY"));
  EXPECT_THAT(shown, Not(HasSubstr("abc12")));
}

TEST_F(ConfigTest, ApiKeyInRepoFileWarnsWithoutRevealingIt) {
  const fs::path repo = WriteRepo(
      "providers:\n"
      "  deepseek:\n"
      "    api_key: sk-committed-secret-7777\n");
  const Config config = LoadOk(Options());
  EXPECT_EQ(config.GetString("providers.deepseek.api_key"), "sk-committed-secret-7777");
  ASSERT_EQ(config.Warnings().size(), 1u);
  const std::string& warning = config.Warnings()[0];
  EXPECT_THAT(warning, HasSubstr(repo.string() + ":3"));
  EXPECT_THAT(warning, HasSubstr("providers.deepseek.api_key"));
  EXPECT_THAT(warning, HasSubstr("DEEPSEEK_API_KEY"));
  EXPECT_THAT(warning, Not(HasSubstr("sk-committed")));
}

TEST_F(ConfigTest, ApiKeyInUserFileDoesNotWarn) {
  WriteUser("providers:\n  deepseek:\n    api_key: sk-user-secret-7777\n");
  EXPECT_TRUE(LoadOk(Options()).Warnings().empty());
}

TEST_F(ConfigTest, GettersRejectUnknownKeysAndWrongTypes) {
  const Config config = LoadOk(Options());
  EXPECT_THROW(config.GetString("no_such_key"), std::logic_error);
  EXPECT_THROW(config.Get("providers.deepseek"), std::logic_error);
  EXPECT_THROW(config.GetInt("model"), std::logic_error);
  EXPECT_THROW(config.GetBool("max_steps"), std::logic_error);
  EXPECT_THROW(config.GetInt("max_cost_usd"), std::logic_error);
  EXPECT_DOUBLE_EQ(config.GetDouble("max_steps"), 100.0);  // integers widen
  EXPECT_EQ(config.GetString("max_steps"), "100");
}

// configs/default.yaml is the reference for every setting, so each value line carries a comment.
TEST(DefaultYamlTest, EverySettingHasAComment) {
  std::ifstream in(std::string(DSAGENT_SOURCE_DIR) + "/configs/default.yaml");
  ASSERT_TRUE(in);
  int settings = 0;
  for (std::string line; std::getline(in, line);) {
    const size_t start = line.find_first_not_of(' ');
    if (start == std::string::npos || line[start] == '#') continue;
    const size_t colon = line.find(':');
    ASSERT_NE(colon, std::string::npos) << line;
    if (line.find_first_not_of(' ', colon + 1) == std::string::npos) continue;  // a group header
    ++settings;
    EXPECT_NE(line.find(" # ", colon), std::string::npos) << "no comment: " << line;
  }
  EXPECT_GE(settings, 30);
}

TEST_F(ConfigTest, ProcessEnvironmentSnapshotsEnviron) {
  ASSERT_EQ(setenv("DSAGENT_CONFIG_TEST_VAR", "a=b", 1), 0);
  const auto env = Config::ProcessEnvironment();
  unsetenv("DSAGENT_CONFIG_TEST_VAR");
  ASSERT_TRUE(env.count("DSAGENT_CONFIG_TEST_VAR"));
  EXPECT_EQ(env.at("DSAGENT_CONFIG_TEST_VAR"), "a=b");
}

}  // namespace
}  // namespace dsagent
