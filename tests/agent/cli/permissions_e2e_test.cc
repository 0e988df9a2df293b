// End-to-end tests of permissions and the sandbox backends in headless runs: the real binary, the
// DeepSeek test server on loopback, a real git repository and real shell commands.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "common/json.h"
#include "tests/agent/cli/dsagent_process.h"
#include "tests/support/deepseek_test_server.h"
#include "tools/sandbox.h"

namespace dsagent::testing {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

constexpr const char* kKey = "test-key-permissions-e2e";

ToolCall Bash(std::string id, const std::string& command) {
  return {std::move(id), "bash", CanonicalJson({{"command", command}})};
}

class PermissionsE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.SetApiKey(kKey);
    box_.WriteRepoFile("keep.txt", "keep\n");
    box_.GitInitAndCommit();
  }

  ProcessResult Run(std::vector<std::string> args, std::map<std::string, std::string> extra = {}) {
    extra.emplace("DEEPSEEK_API_KEY", kKey);
    extra.emplace("DEEPSEEK_BASE_URL", server_.BaseUrl());
    return RunDsagent(args, box_.Env(extra), box_.repo());
  }

  // The tool result the model got back for its last call.
  std::string LastToolResult() {
    const auto requests = server_.Requests();
    if (requests.empty()) return "";
    return requests.back().json["messages"].back()["content"].get<std::string>();
  }

  std::vector<Json> TraceEvents(const std::string& type) {
    std::vector<Json> out;
    for (const auto& e : fs::directory_iterator(box_.sessions_dir())) {
      std::istringstream lines(ReadFile(e.path()));
      for (std::string line; std::getline(lines, line);) {
        Json j = Json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.value("type", "") == type) out.push_back(j);
      }
    }
    return out;
  }

  Sandbox box_;
  DeepSeekTestServer server_;
};

// Headless runs default to full-auto: commands run as they always did, but repository rules and
// the .git protection still apply.
TEST_F(PermissionsE2ETest, HeadlessFullAutoHonoursRepoRules) {
  box_.WriteRepoFile(".dsagent/config.yaml", "permissions:\n  rules: [\"deny bash(rm *)\"]\n");
  server_.Enqueue(ScriptedReply::Calls({Bash("c1", "touch made.txt && rm keep.txt")}));
  server_.Enqueue(ScriptedReply::Calls({Bash("c2", "touch made.txt; echo x > .git/HEAD")}));
  server_.Enqueue(ScriptedReply::Calls({Bash("c3", "cat <<EOF > here.txt\nhello\nEOF")}));
  server_.Enqueue(ScriptedReply::Text("done"));
  auto r = Run({"run", "--json", "tidy up"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(box_.repo() / "keep.txt"));
  EXPECT_FALSE(fs::exists(box_.repo() / "made.txt"));  // the whole command was refused
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_THAT(requests[1].json["messages"].back()["content"].get<std::string>(),
              HasSubstr("\"rm keep.txt\" is denied by rule \"deny bash(rm *)\""));
  EXPECT_THAT(requests[2].json["messages"].back()["content"].get<std::string>(), HasSubstr(".git"));
  // A here-document is read with confidence, so it runs even with a deny rule present.
  EXPECT_EQ(box_.ReadRepoFile("here.txt"), "hello\n");
  const auto events = TraceEvents("permission");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["decision"], "deny");
  EXPECT_EQ(TraceEvents("session_start")[0]["permissions_mode"], "full-auto");
}

TEST_F(PermissionsE2ETest, HeadlessAskModeRefusesWithAnExplanation) {
  server_.Enqueue(ScriptedReply::Calls({Bash("c1", "touch made.txt")}));
  server_.Enqueue(ScriptedReply::Calls({Bash("c2", "git status --short")}));
  server_.Enqueue(ScriptedReply::Text("I need approval for touch."));
  auto r = Run({"run", "--json", "make a file"}, {{"DSAGENT_PERMISSIONS__HEADLESS_MODE", "ask"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(box_.repo() / "made.txt"));
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_THAT(requests[1].json["messages"].back()["content"].get<std::string>(),
              HasSubstr("needs approval, and this run is headless (permissions mode ask)"));
  // A command the default rules allow still runs.
  EXPECT_THAT(LastToolResult(), HasSubstr("[exit code: 0]"));
}

TEST_F(PermissionsE2ETest, MalformedRuleIsAConfigError) {
  box_.WriteRepoFile(".dsagent/config.yaml", "permissions:\n  rules: [\"permit all\"]\n");
  auto r = Run({"run", "--json", "x"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("permission rule \"permit all\""));
}

TEST_F(PermissionsE2ETest, DoctorReportsProtections) {
  auto r = Run({"doctor"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("permissions: interactive mode ask, headless mode full-auto"));
  EXPECT_THAT(r.out, HasSubstr("landlock: "));
  EXPECT_THAT(r.out, HasSubstr("bubblewrap: "));
  EXPECT_THAT(r.out, HasSubstr("sandbox for `run`: off"));
  auto on = Run({"doctor"}, {{"DSAGENT_SANDBOX__ENABLED", "true"}});
  EXPECT_THAT(on.out, HasSubstr("sandbox for `run`: "));
  EXPECT_THAT(on.out, Not(HasSubstr("sandbox for `run`: off")));
}

// `dsagent run` with the bubblewrap backend: writes outside the workspace and its TMPDIR fail.
TEST_F(PermissionsE2ETest, BubblewrapBackendConfinesShellCommands) {
  const SandboxSupport support = ProbeSandbox();
  if (!support.bubblewrap.usable) GTEST_SKIP() << support.DescribeBubblewrap();
  const fs::path outside = box_.root() / "outside.txt";
  server_.Enqueue(ScriptedReply::Calls(
      {Bash("c1", "echo x > '" + outside.string() +
                      "'; echo inside > ok.txt; echo t > \"$TMPDIR/t\" && cat \"$TMPDIR/t\"")}));
  server_.Enqueue(ScriptedReply::Text("done"));
  auto r = Run({"run", "--json", "write things"},
               {{"DSAGENT_SANDBOX__ENABLED", "true"}, {"DSAGENT_SANDBOX__BACKEND", "bubblewrap"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(outside));
  EXPECT_EQ(box_.ReadRepoFile("ok.txt"), "inside\n");
  const std::string result = LastToolResult();
  EXPECT_THAT(result, HasSubstr("Read-only file system"));
  EXPECT_THAT(result, HasSubstr("t\n[exit code: 0]"));
}

}  // namespace
}  // namespace dsagent::testing
