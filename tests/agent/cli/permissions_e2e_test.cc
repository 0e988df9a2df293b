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

constexpr const char* kPermissionsKey = "test-key-permissions-e2e";

class PermissionsE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.SetApiKey(kPermissionsKey);
    box_.WriteRepoFile("keep.txt", "keep\n");
    box_.GitInitAndCommit();
  }

  ProcessResult Run(std::vector<std::string> args, std::map<std::string, std::string> extra = {}) {
    extra.emplace("DEEPSEEK_API_KEY", kPermissionsKey);
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
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c1", "touch made.txt && rm keep.txt")}));
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c2", "touch made.txt; echo x > .git/HEAD")}));
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c3", "cat <<EOF > here.txt\nhello\nEOF")}));
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
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c1", "touch made.txt")}));
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c2", "git status --short")}));
  server_.Enqueue(ScriptedReply::Text("I need approval for touch."));
  auto r = Run({"run", "--json", "make a file"}, {{"DSAGENT_PERMISSIONS__HEADLESS_MODE", "ask"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(box_.repo() / "made.txt"));
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_THAT(requests[1].json["messages"].back()["content"].get<std::string>(),
              HasSubstr("needs approval, and this run is headless (permissions mode ask)"));
  // A read-only command still runs (tools/permissions/read_only_commands.h).
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
  EXPECT_THAT(r.out, HasSubstr(HeadlessSandboxWorksHere()
                                   ? "sandbox for `run`: on (--no-sandbox opts out), backend auto"
                                   : "sandbox for `run`: unavailable"));
  EXPECT_THAT(r.out, HasSubstr("sandbox for chat: off (sandbox.enabled: false)"));
  auto on = Run({"doctor"}, {{"DSAGENT_SANDBOX__ENABLED", "true"}});
  EXPECT_THAT(on.out, HasSubstr("sandbox for chat: "));
  EXPECT_THAT(on.out, Not(HasSubstr("sandbox for chat: off")));
}

// `dsagent run` confines shell commands by default, as `patch` does: writes outside the
// workspace and its TMPDIR fail; --no-sandbox opts out.
TEST_F(PermissionsE2ETest, RunIsSandboxedByDefault) {
  if (!HeadlessSandboxWorksHere()) GTEST_SKIP() << ProbeSandbox().Describe();
  const fs::path outside = box_.root() / "outside.txt";
  const std::string command =
      "echo x > '" + outside.string() +
      "'; echo inside > ok.txt; echo t > \"$TMPDIR/t\" && cat \"$TMPDIR/t\"";
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c1", command)}));
  server_.Enqueue(ScriptedReply::Text("done"));
  auto r = Run({"run", "--json", "write things"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(outside));
  EXPECT_EQ(box_.ReadRepoFile("ok.txt"), "inside\n");
  EXPECT_THAT(LastToolResult(), HasSubstr("t\n[exit code: 0]"));

  server_.Enqueue(ScriptedReply::Calls({ScriptedBash("c2", command)}));
  server_.Enqueue(ScriptedReply::Text("done"));
  auto unconfined = Run({"run", "--json", "--no-sandbox", "write things"});
  ASSERT_EQ(unconfined.exit_code, 0) << unconfined.err;
  EXPECT_TRUE(fs::exists(outside));
}

// Where the configured backend does not work, `run` refuses to start rather than run commands
// unconfined, and says how to opt out.
TEST_F(PermissionsE2ETest, RunRefusesWhereNoSandboxBackendWorks) {
  if (!HeadlessSandboxWorksHere()) GTEST_SKIP() << "the test helpers pass --no-sandbox here";
  const fs::path empty = box_.root() / "empty-path";
  fs::create_directories(empty);
  auto r = Run({"run", "--json", "x"},
               {{"DSAGENT_SANDBOX__BACKEND", "bubblewrap"}, {"PATH", empty.string()}});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("pass --no-sandbox"));
  const Json env = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(env.is_discarded()) << r.out;
  EXPECT_EQ(env["termination_reason"], "error:config");
  EXPECT_TRUE(server_.Requests().empty());
}

// `dsagent run` with the bubblewrap backend: writes outside the workspace and its TMPDIR fail.
TEST_F(PermissionsE2ETest, BubblewrapBackendConfinesShellCommands) {
  const SandboxSupport support = ProbeSandbox();
  if (!support.bubblewrap.usable) GTEST_SKIP() << support.DescribeBubblewrap();
  const fs::path outside = box_.root() / "outside.txt";
  server_.Enqueue(ScriptedReply::Calls({ScriptedBash(
      "c1", "echo x > '" + outside.string() +
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
