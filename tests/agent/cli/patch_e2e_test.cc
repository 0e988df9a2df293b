// End-to-end tests of `dsagent patch`: the real binary, the DeepSeek test server, real git repos.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "common/json.h"
#include "tests/agent/cli/dsagent_process.h"
#include "tests/support/command_output.h"
#include "tests/support/deepseek_test_server.h"
#include "tools/sandbox.h"

namespace dsagent::testing {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kPatchKey = "patch-test-key";
constexpr const char* kTestCmd = "cc -o t add.c test_add.c && ./t";

// Every file of the working tree plus the index and HEAD: what "untouched" means.
std::map<std::string, std::string> Snapshot(const fs::path& repo) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(repo); it != fs::recursive_directory_iterator();
       ++it) {
    if (it->path().filename() == ".git") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) out[fs::relative(it->path(), repo)] = ReadFile(it->path());
  }
  out[".git/index"] = ReadFile(repo / ".git/index");
  out[".git/HEAD"] = ReadFile(repo / ".git/HEAD");
  return out;
}

std::string Git(const fs::path& repo, const std::string& args) {
  return CommandOutput("cd '" + repo.string() + "' && git " + args + " 2>&1");
}

class PatchE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.SetApiKey(kPatchKey);
    box_.WriteRepoFile(".gitignore", "t\n");
    box_.WriteRepoFile("add.c", "int add(int a, int b) {\n  return a - b;\n}\n");
    box_.WriteRepoFile("test_add.c",
                       "#include <stdio.h>\nint add(int, int);\nint main(void) {\n"
                       "  if (add(2, 3) != 5) { puts(\"FAIL\"); return 1; }\n  puts(\"PASS\");\n"
                       "  return 0;\n}\n");
    box_.GitInitAndCommit();
    box_.WriteRepoFile("local-notes.txt", "the caller's uncommitted work\n");  // must survive
    issue_ = box_.root() / "issue.md";
    std::ofstream(issue_) << "# add() returns the wrong result\n\nadd(2, 3) should be 5.\n";
  }
  // Patch refuses to run unconfined; on a kernel without Landlock the tests opt out explicitly.
  ProcessResult Run(std::vector<std::string> args, const std::string& stdin_text = "") {
    if (!ProbeSandbox().filesystem()) args.push_back("--no-sandbox");
    return RunDsagent(
        args, box_.Env({{"DEEPSEEK_API_KEY", kPatchKey}, {"DEEPSEEK_BASE_URL", server_.BaseUrl()}}),
        box_.repo(), stdin_text);
  }
  void EnqueueFix() {
    server_.Enqueue(ScriptedReply::Calls({ScriptedCall(
        "c1", "edit_file",
        {{"path", "add.c"}, {"old_string", "return a - b;"}, {"new_string", "return a + b;"}})}));
    server_.Enqueue(ScriptedReply::Text("Fixed add(): it subtracted instead of adding."));
  }
  // An edit that leaves the bug, then no progress in either fix round: 4 requests in all.
  void EnqueueEditThatFixesNothing() {
    server_.Enqueue(ScriptedReply::Calls({ScriptedCall(
        "c1", "edit_file",
        {{"path", "add.c"}, {"old_string", "int add"}, {"new_string", "/* tried */ int add"}})}));
    server_.Enqueue(ScriptedReply::Text("I tried."));
    server_.Enqueue(ScriptedReply::Text("Still stuck."));  // fix round 1
    server_.Enqueue(ScriptedReply::Text("Giving up."));    // fix round 2
  }
  Sandbox box_;
  DeepSeekTestServer server_;
  fs::path issue_;
};

TEST_F(PatchE2ETest, IssueToBranchCommitPatchAndReportLeavingTheCallerUntouched) {
  EnqueueFix();
  const auto before = Snapshot(box_.repo());
  const std::string base = Git(box_.repo(), "rev-parse HEAD");
  const fs::path patch = box_.root() / "out.patch", report = box_.root() / "report.md";
  auto r =
      Run({"patch", "--json", "--issue", issue_.string(), "--commit", "--branch", "fix-add",
           "--test-cmd", kTestCmd, "--patch-out", patch.string(), "--report", report.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Snapshot(box_.repo()), before);  // working tree, index and HEAD byte-identical

  const Json j = Json::parse(r.out);
  EXPECT_EQ(j["outcome"], "patched");
  EXPECT_EQ(j["branch"], "fix-add");
  EXPECT_EQ(j["changed_files"], Json::array({"add.c"}));
  ASSERT_EQ(j["tests"].size(), 1u);
  EXPECT_EQ(j["tests"][0]["passed"], true);
  EXPECT_THAT(j["tests"][0]["output_tail"].get<std::string>(), HasSubstr("PASS"));

  // The branch holds one commit on top of the base, with a message from the issue.
  EXPECT_EQ(Git(box_.repo(), "rev-parse fix-add~1"), base);
  EXPECT_THAT(Git(box_.repo(), "log -1 --format=%B fix-add"),
              HasSubstr("add() returns the wrong result"));
  EXPECT_THAT(Git(box_.repo(), "show fix-add:add.c"), HasSubstr("return a + b;"));
  EXPECT_THAT(Git(box_.repo(), "branch --list 'dsagent-patch/*'"), ::testing::IsEmpty());
  EXPECT_THAT(Git(box_.repo(), "worktree list"), Not(HasSubstr("worktree-")));

  // The patch applies cleanly to a fresh clone of the base.
  const fs::path clone = box_.root() / "clone";
  Git(box_.root(), "clone -q '" + box_.repo().string() + "' clone");
  EXPECT_EQ(Git(clone, "apply --check '" + patch.string() + "' && echo OK"), "OK\n");
  EXPECT_EQ(j["diffstat"], Json::parse(R"([{"path":"add.c","status":"M","insertions":1,)"
                                       R"("deletions":1,"binary":false}])"));
  ASSERT_TRUE(j["trace_path"].is_string());
  EXPECT_TRUE(fs::exists(j["trace_path"].get<std::string>()));
  EXPECT_TRUE(j["worktree"].is_null());
  const std::string md = ReadFile(report);
  EXPECT_THAT(md, HasSubstr("Fixed add()"));
  EXPECT_THAT(md, HasSubstr("| `add.c` | modified | 1 | 1 |"));
  EXPECT_THAT(md, HasSubstr(std::string("`") + kTestCmd + "`: passed"));
  EXPECT_THAT(md, HasSubstr("cache-hit rate"));
  EXPECT_THAT(md, HasSubstr(j["session_id"].get<std::string>()));
  EXPECT_THAT(md, HasSubstr(j["trace_path"].get<std::string>()));
}

TEST_F(PatchE2ETest, FailingTestsResumeTheSessionUntilTheyPass) {
  server_.Enqueue(ScriptedReply::Text("add() looks fine."));  // round 0 changes nothing
  EnqueueFix();                                               // round 1, after the failure
  auto r = Run({"patch", "--json", "--issue", issue_.string(), "--test-cmd", kTestCmd});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = Json::parse(r.out);
  ASSERT_EQ(j["tests"].size(), 2u);
  EXPECT_EQ(j["tests"][0]["passed"], false);
  EXPECT_EQ(j["tests"][0]["exit_code"], 1);
  EXPECT_THAT(j["tests"][0]["output_tail"].get<std::string>(), HasSubstr("FAIL"));
  EXPECT_EQ(j["tests"][1]["passed"], true);
  EXPECT_EQ(j["result"], "Fixed add(): it subtracted instead of adding.");
  EXPECT_EQ(j["steps"], 3);  // summed over both rounds
}

TEST_F(PatchE2ETest, KeepWorktreeLeavesItForInspection) {
  EnqueueFix();
  auto r = Run({"patch", "--json", "--keep-worktree", "--issue", issue_.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path wt = Json::parse(r.out)["worktree"].get<std::string>();
  EXPECT_THAT(ReadFile(wt / "add.c"), HasSubstr("return a + b;"));
  EXPECT_THAT(Git(box_.repo(), "worktree list"), HasSubstr(wt.string()));
  Git(box_.repo(), "worktree remove --force '" + wt.string() + "'");
}

TEST_F(PatchE2ETest, FailingTestsGetFixRoundsThenExit7) {
  EnqueueEditThatFixesNothing();
  auto r = Run({"patch", "--json", "--issue", issue_.string(), "--test-cmd", kTestCmd});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  const Json j = Json::parse(r.out);
  EXPECT_EQ(j["outcome"], "tests_failed");
  EXPECT_EQ(j["tests"].size(), 3u);
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 4u);
  // The fix rounds resumed the same conversation with the failing output.
  EXPECT_THAT(requests[2].json["messages"].back()["content"].get<std::string>(), HasSubstr("FAIL"));
  EXPECT_GT(requests[2].json["messages"].size(), requests[1].json["messages"].size());
}

// --output-format stream-json: each round opens with a "round" event and its own session_start
// (the fix rounds resume the session), each test run is a "test" event, and the last event is the
// object --json prints.
TEST_F(PatchE2ETest, StreamJsonShowsRoundsAndTestRunsThenTheResult) {
  EnqueueEditThatFixesNothing();
  auto r = Run({"patch", "--output-format", "stream-json", "--issue", issue_.string(), "--test-cmd",
                kTestCmd});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  std::vector<Json> events;
  std::vector<std::string> types;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    Json e = Json::parse(line, nullptr, false);
    ASSERT_TRUE(e.is_object()) << line;
    if (e["type"] != "route") types.push_back(e["type"]);
    events.push_back(std::move(e));
  }
  EXPECT_THAT(types,
              ::testing::ElementsAre("round", "session_start", "model_call", "tool_call",
                                     "tool_result", "model_call", "test",  // round 1: the issue
                                     "round", "session_start", "model_call", "test",  // fix round 1
                                     "round", "session_start", "model_call", "test",  // fix round 2
                                     "result"));
  std::vector<Json> rounds, tests, starts;
  for (const Json& e : events) {
    if (e["type"] == "round") rounds.push_back(e);
    if (e["type"] == "test") tests.push_back(e);
    if (e["type"] == "session_start") starts.push_back(e);
  }
  ASSERT_EQ(rounds.size(), 3u);
  ASSERT_EQ(tests.size(), 3u);
  ASSERT_EQ(starts.size(), 3u);
  EXPECT_EQ(rounds[0]["round"], 1);
  EXPECT_THAT(rounds[0]["task"].get<std::string>(), HasSubstr("add(2, 3) should be 5"));
  EXPECT_EQ(rounds[2]["round"], 3);
  EXPECT_THAT(rounds[1]["task"].get<std::string>(), HasSubstr("FAIL"));
  EXPECT_EQ(tests[0]["round"], 1);
  EXPECT_EQ(tests[0]["command"], kTestCmd);
  EXPECT_EQ(tests[0]["passed"], false);
  EXPECT_EQ(starts[0]["resumed"], false);
  EXPECT_EQ(starts[1]["resumed"], true);
  EXPECT_EQ(starts[1]["session_id"], starts[0]["session_id"]);
  const Json& result = events.back();
  EXPECT_EQ(result["outcome"], "tests_failed");
  EXPECT_EQ(result["exit_code"], 7);
  EXPECT_EQ(result["steps"], 4);
  EXPECT_EQ(result["tests"].size(), 3u);
}

// In CI the environment holds the pipeline's tokens: the test command does not get them, and a
// secret it prints anyway (here: read from a file the test planted) is redacted before the fix
// round sends the output to the model and before the JSON result shows it.
TEST_F(PatchE2ETest, TestCommandGetsNoSecretsAndItsOutputIsRedacted) {
  const std::string token = "ghp_patchE2eToken0123456789";
  const fs::path planted = box_.root() / "planted.txt";
  std::ofstream(planted) << "leaked=" << token << "\n";
  EnqueueEditThatFixesNothing();
  std::vector<std::string> args = {
      "patch",      "--json",
      "--issue",    issue_.string(),
      "--test-cmd", "echo \"env=$GITHUB_TOKEN\"; cat '" + planted.string() + "'; exit 1"};
  if (!ProbeSandbox().filesystem()) args.push_back("--no-sandbox");
  auto r = RunDsagent(args,
                      box_.Env({{"DEEPSEEK_API_KEY", kPatchKey},
                                {"DEEPSEEK_BASE_URL", server_.BaseUrl()},
                                {"GITHUB_TOKEN", token}}),
                      box_.repo());
  EXPECT_EQ(r.exit_code, 7) << r.err;
  const Json j = Json::parse(r.out);
  ASSERT_EQ(j["tests"].size(), 3u);
  EXPECT_THAT(j["tests"][0]["output_tail"].get<std::string>(),
              HasSubstr("env=\nleaked=[REDACTED:GITHUB_TOKEN]"));
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_THAT(requests[2].json["messages"].back()["content"].get<std::string>(),
              HasSubstr("leaked=[REDACTED:GITHUB_TOKEN]"));
  EXPECT_THAT(r.out, Not(HasSubstr(token)));
  for (const auto& req : requests) EXPECT_THAT(req.body, Not(HasSubstr(token)));
}

TEST_F(PatchE2ETest, NoChangeExits6) {
  server_.Enqueue(ScriptedReply::Text("Nothing to change: add() looks right to me."));
  auto r = Run({"patch", "--json", "--issue", issue_.string()});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_EQ(Json::parse(r.out)["outcome"], "no_change");
}

TEST_F(PatchE2ETest, OverBudgetExits5) {
  ScriptedReply expensive =
      ScriptedReply::Calls({ScriptedCall("c1", "git_status", Json::object())});
  expensive.usage = Usage{0, 1'000'000, 0, 0};  // $0.14 on Flash
  server_.Enqueue(expensive);
  auto r = Run({"patch", "--json", "--issue", issue_.string(), "--max-cost", "0.05"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_EQ(Json::parse(r.out)["termination_reason"], "max_cost");
}

TEST_F(PatchE2ETest, GithubIssueCommentEventBecomesTheTask) {
  const fs::path event = box_.root() / "event.json";
  std::ofstream(event)
      << Json{{"action", "created"},
              {"issue",
               {{"number", 42}, {"title", "add is broken"}, {"body", "add(2,3) gives -1"}}},
              {"comment", {{"body", "/dsagent please fix"}}}}
             .dump();
  EnqueueFix();
  auto r = Run({"patch", "--json", "--github-event", event.string(), "--commit"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string task = server_.Requests()[0].json["messages"][2]["content"];
  EXPECT_THAT(task, HasSubstr("add is broken (#42)"));
  EXPECT_THAT(task, HasSubstr("/dsagent please fix"));
  EXPECT_EQ(Json::parse(r.out)["branch"], "dsagent/issue-42");
  EXPECT_THAT(Git(box_.repo(), "log -1 --format=%B dsagent/issue-42"), HasSubstr("Fixes #42"));
}

TEST_F(PatchE2ETest, IssueFromStdin) {
  EnqueueFix();
  auto r = Run({"patch", "--json", "--issue", "-"}, "Fix add() in add.c\n\nIt subtracts.\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(server_.Requests()[0].json["messages"][2]["content"],
            "Fix add() in add.c\n\nIt subtracts.\n");
  EXPECT_EQ(Json::parse(r.out)["changed_files"], Json::array({"add.c"}));
}

// Patch runs commands in the Landlock sandbox: no writes outside the worktree, no TCP connections.
TEST_F(PatchE2ETest, ShellCommandsAreSandboxedWithoutNetwork) {
  if (!ProbeSandbox().network()) GTEST_SKIP() << ProbeSandbox().Describe();
  const fs::path outside = box_.root() / "outside.txt";
  const std::string port = server_.BaseUrl().substr(server_.BaseUrl().rfind(':') + 1);
  server_.Enqueue(
      ScriptedReply::Calls({ScriptedCall("c1", "bash",
                                         {{"command", "echo x > '" + outside.string() +
                                                          "'; echo inside > ok.txt; "
                                                          "exec 3<>/dev/tcp/127.0.0.1/" +
                                                          port + " && echo connected"}})}));
  server_.Enqueue(ScriptedReply::Text("Done."));
  auto r = Run({"patch", "--json", "--issue", issue_.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;  // ok.txt is a change
  EXPECT_FALSE(fs::exists(outside));
  const std::string tool_output = server_.Requests()[1].json["messages"].back()["content"];
  EXPECT_THAT(tool_output, HasSubstr("Permission denied"));
  EXPECT_THAT(tool_output, Not(HasSubstr("connected")));
  EXPECT_EQ(Json::parse(r.out)["changed_files"], Json::array({"ok.txt"}));

  // The test command runs under the same sandbox: it may execute code the agent wrote.
  EnqueueFix();
  server_.Enqueue(ScriptedReply::Text("It is the sandbox."));  // fix round 1
  server_.Enqueue(ScriptedReply::Text("Still the sandbox."));  // fix round 2
  auto tests = Run({"patch", "--json", "--issue", issue_.string(), "--test-cmd",
                    "echo x > '" + outside.string() + "'"});
  EXPECT_EQ(tests.exit_code, 7) << tests.err;
  EXPECT_FALSE(fs::exists(outside));
  EXPECT_THAT(Json::parse(tests.out)["tests"][0]["output_tail"].get<std::string>(),
              HasSubstr("Permission denied"));

  // --allow-network lets the same connection through.
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall(
      "c2", "bash", {{"command", "exec 3<>/dev/tcp/127.0.0.1/" + port + " && echo connected"}})}));
  server_.Enqueue(ScriptedReply::Text("Done."));
  auto open = Run({"patch", "--json", "--allow-network", "--issue", issue_.string()});
  EXPECT_EQ(open.exit_code, 6) << open.err;  // nothing changed this time
  EXPECT_THAT(server_.Requests().back().json["messages"].back()["content"].get<std::string>(),
              HasSubstr("connected"));
}

TEST_F(PatchE2ETest, MissingTaskSourceIsAUsageError) {
  auto r = Run({"patch", "--json"});
  EXPECT_EQ(r.exit_code, 2);
  auto empty = Run({"patch", "--issue", (box_.root() / "nope.md").string()});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_THAT(empty.err, HasSubstr("nope.md"));
}

}  // namespace
}  // namespace dsagent::testing
