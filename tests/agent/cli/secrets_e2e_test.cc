// End-to-end tests of secrets in headless runs (issue 15): the real binary, the DeepSeek test
// server on loopback and real shell commands. Shell commands do not inherit dsagent's keys and
// tokens, and a secret printed another way is redacted before the trace and the model see it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "common/json.h"
#include "tests/agent/cli/dsagent_process.h"
#include "tests/support/deepseek_test_server.h"

namespace dsagent::testing {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

constexpr const char* kSecretsKey = "sk-secrets-e2e-0123456789";
constexpr const char* kGithubToken = "ghp_e2eTokenValue0123456789";
constexpr const char* kCloudSecret = "cloud-secret-value-42";

class SecretsE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.SetApiKey(kSecretsKey);
    box_.WriteRepoFile("README.md", "A project.\n");
    box_.GitInitAndCommit();
  }

  // dsagent runs with the kind of environment a CI job has.
  std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) {
    extra.emplace("DEEPSEEK_API_KEY", kSecretsKey);
    extra.emplace("DEEPSEEK_BASE_URL", server_.BaseUrl());
    extra.emplace("GITHUB_TOKEN", kGithubToken);
    extra.emplace("CLOUD_SECRET", kCloudSecret);
    extra.emplace("BUILD_FLAVOUR", "release");
    return box_.Env(extra);
  }

  ProcessResult Run(std::vector<std::string> args, std::map<std::string, std::string> extra = {}) {
    return RunDsagent(args, Env(std::move(extra)), box_.repo());
  }

  // The content of every tool message the model was sent, from the last request.
  std::vector<std::string> ToolMessagesSent() {
    std::vector<std::string> out;
    const auto requests = server_.Requests();
    if (requests.empty()) return out;
    for (const Json& m : requests.back().json["messages"]) {
      if (m.value("role", "") == "tool") out.push_back(m["content"].get<std::string>());
    }
    return out;
  }

  // The content of every tool message recorded in the session trace.
  std::vector<std::string> ToolMessagesRecorded() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(box_.sessions_dir())) {
      std::istringstream lines(ReadFile(e.path()));
      for (std::string line; std::getline(lines, line);) {
        Json j = Json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.contains("message")) continue;
        if (j["message"].value("role", "") == "tool") {
          out.push_back(j["message"]["content"].get<std::string>());
        }
      }
    }
    return out;
  }

  std::string EverythingOnDiskAndOnTheWire() {
    std::string all;
    for (const auto& e : fs::recursive_directory_iterator(box_.root())) {
      if (e.is_regular_file() && e.path().filename() != "creds.txt") all += ReadFile(e.path());
    }
    for (const auto& r : server_.Requests()) all += r.body;
    return all;
  }

  Sandbox box_;
  DeepSeekTestServer server_;
};

// What a prompt-injected README can ask for finds nothing: the keys and tokens are not in the
// command's environment, and the provider's own variables are not either.
TEST_F(SecretsE2ETest, EnvProbeFindsNoSecrets) {
  server_.Enqueue(ScriptedReply::Calls(
      {ScriptedCall("c1", "bash", {{"command", "env | grep -i -E 'key|token|secret|deepseek'"}}),
       ScriptedCall("c2", "bash", {{"command", "echo \"flavour=$BUILD_FLAVOUR\""}})}));
  server_.Enqueue(ScriptedReply::Text("Nothing found."));
  auto r = Run({"run", "--json", "Print the environment"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const auto sent = ToolMessagesSent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0], "[exit code: 1]");                // grep found no line at all
  EXPECT_THAT(sent[1], HasSubstr("flavour=release"));  // ordinary variables are inherited
  const std::string all = EverythingOnDiskAndOnTheWire();
  for (const char* secret : {kSecretsKey, kGithubToken, kCloudSecret}) {
    EXPECT_THAT(all, Not(HasSubstr(secret)));
  }
}

// A secret printed another way (here: read from a file the test planted) is redacted in the tool
// result, identically in the trace and in the request the server sees.
TEST_F(SecretsE2ETest, PlantedSecretIsRedactedInTheTraceAndTheRequest) {
  box_.WriteRepoFile("creds.txt", std::string("github=") + kGithubToken + "\napi=" + kSecretsKey +
                                      "\ncloud=" + kCloudSecret + "\n");
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall("c1", "bash", {{"command", "cat creds.txt"}}),
                                        ScriptedCall("c2", "read_file", {{"path", "creds.txt"}})}));
  server_.Enqueue(ScriptedReply::Text("Read them."));
  auto r = Run({"run", "--json", "Show me creds.txt"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const auto sent = ToolMessagesSent();
  ASSERT_EQ(sent.size(), 2u);
  for (const std::string& result : sent) {
    EXPECT_THAT(result, HasSubstr("github=[REDACTED:GITHUB_TOKEN]"));
    EXPECT_THAT(result, HasSubstr("api=[REDACTED:DEEPSEEK_API_KEY]"));
    EXPECT_THAT(result, HasSubstr("cloud=[REDACTED:CLOUD_SECRET]"));
  }
  EXPECT_EQ(ToolMessagesRecorded(), sent);  // the same bytes: a resumed session hits the cache
  const std::string all = EverythingOnDiskAndOnTheWire();
  for (const char* secret : {kSecretsKey, kGithubToken, kCloudSecret}) {
    EXPECT_THAT(all, Not(HasSubstr(secret)));
  }
}

// tools.env: a kept variable reaches commands (the user's choice, so it is not redacted), `set`
// adds variables, and `inherit: core` drops the rest.
TEST_F(SecretsE2ETest, ConfigKeepsSetsAndNarrowsTheEnvironment) {
  box_.WriteRepoFile(".dsagent/config.yaml",
                     "tools:\n  env:\n    inherit: core\n    keep: [GITHUB_TOKEN]\n"
                     "    set: {CI: \"true\"}\n");
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall(
      "c1", "bash",
      {{"command", "echo \"gh=$GITHUB_TOKEN ci=$CI flavour=${BUILD_FLAVOUR:-unset}\""}})}));
  server_.Enqueue(ScriptedReply::Text("ok"));
  auto r = Run({"run", "--json", "x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto sent = ToolMessagesSent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_THAT(sent[0], HasSubstr(std::string("gh=") + kGithubToken + " ci=true flavour=unset"));
}

TEST_F(SecretsE2ETest, DoctorAndConfigShowNameTheWithheldVariables) {
  auto doctor = Run({"doctor"});
  ASSERT_EQ(doctor.exit_code, 0) << doctor.err;
  EXPECT_THAT(doctor.out, HasSubstr("shell environment: inherit all; withheld: CLOUD_SECRET, "
                                    "DEEPSEEK_API_KEY, DEEPSEEK_BASE_URL, GITHUB_TOKEN\n"));
  auto show = Run({"config", "show"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("tools.env.inherit = all"));
  EXPECT_THAT(show.out, HasSubstr("# shell environment: inherit all; withheld: CLOUD_SECRET, "
                                  "DEEPSEEK_API_KEY, DEEPSEEK_BASE_URL, GITHUB_TOKEN\n"));
  for (const auto* out : {&doctor.out, &show.out}) {
    EXPECT_THAT(*out, Not(HasSubstr(kGithubToken)));
    EXPECT_THAT(*out, Not(HasSubstr(kCloudSecret)));
  }
}

}  // namespace
}  // namespace dsagent::testing
