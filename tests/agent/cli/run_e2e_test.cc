// End-to-end tests of `dsagent run`: the real binary, the protocol-faithful DeepSeek test server on
// loopback, a real git repository in a temp dir and real shell commands.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>

#include "common/json.h"
#include "tests/agent/cli/dsagent_process.h"
#include "tests/support/deepseek_test_server.h"

namespace dsagent::testing {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr const char* kRunKey = "test-key-0123456789abcdef";

class RunE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.SetApiKey(kRunKey);
    // A small C project with a bug and a test that exposes it.
    box_.WriteRepoFile("add.c", "int add(int a, int b) {\n  return a - b;\n}\n");
    box_.WriteRepoFile("test_add.c",
                       "#include <stdio.h>\nint add(int, int);\n"
                       "int main(void) {\n  if (add(2, 3) != 5) { printf(\"FAIL: add(2,3)=%d\\n\", "
                       "add(2, 3)); return 1; }\n  printf(\"PASS\\n\");\n  return 0;\n}\n");
    box_.GitInitAndCommit();
  }

  std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) {
    extra.emplace("DEEPSEEK_API_KEY", kRunKey);
    extra.emplace("DEEPSEEK_BASE_URL", server_.BaseUrl());
    return box_.Env(extra);
  }

  ProcessResult Run(std::vector<std::string> args, std::map<std::string, std::string> extra = {},
                    const std::string& stdin_text = "") {
    return RunDsagent(args, Env(std::move(extra)), box_.repo(), stdin_text);
  }

  static Json Envelope(const ProcessResult& r) {
    Json j = Json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "stdout is not one JSON object:\n" << r.out << "\n" << r.err;
    return j;
  }

  // Every file the run wrote under the sandbox must be free of the API key.
  void ExpectNoKeyOnDisk() {
    for (const auto& e : std::filesystem::recursive_directory_iterator(box_.root())) {
      if (!e.is_regular_file()) continue;
      EXPECT_THAT(ReadFile(e.path()), Not(HasSubstr(kRunKey))) << e.path();
    }
  }

  const char* kTestCmd = "cc -o t add.c test_add.c && ./t";
  Sandbox box_;
  DeepSeekTestServer server_;
};

TEST_F(RunE2ETest, FixesABugWithRealToolsAndReportsJson) {
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall("call_1", "read_file", {{"path", "add.c"}}),
                                        ScriptedCall("call_2", "bash", {{"command", kTestCmd}})},
                                       "Let me look at add.c and run the test."));
  server_.Enqueue(ScriptedReply::Calls(
      {ScriptedCall(
          "call_3", "edit_file",
          {{"path", "add.c"}, {"old_string", "return a - b;"}, {"new_string", "return a + b;"}})},
      "The function subtracts."));
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall("call_4", "bash", {{"command", kTestCmd}})}));
  server_.Enqueue(ScriptedReply::Text("Fixed add() in add.c: it subtracted. The test passes."));

  auto r = Run({"run", "--json", "Fix the failing test"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(box_.ReadRepoFile("add.c"), HasSubstr("return a + b;"));

  const Json env = Envelope(r);
  EXPECT_EQ(env["status"], "success");
  EXPECT_EQ(env["termination_reason"], "done");
  EXPECT_EQ(env["exit_code"], 0);
  EXPECT_EQ(env["steps"], 4);
  EXPECT_THAT(env["result"].get<std::string>(), HasSubstr("Fixed add()"));
  EXPECT_FALSE(env["session_id"].get<std::string>().empty());
  for (const char* k : {"input_cache_hit", "input_cache_miss", "output", "reasoning"}) {
    EXPECT_TRUE(env["tokens"].contains(k)) << k;
  }
  EXPECT_GT(env["tokens"]["input_cache_hit"].get<int64_t>(), 0);
  EXPECT_GT(env["cache_hit_rate"].get<double>(), 0.5);
  EXPECT_GT(env["cost_usd"].get<double>(), 0.0);
  EXPECT_EQ(env["models"]["deepseek-v4-flash"]["calls"], 4);

  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 4u);
  // The real test output reached the model: failing before the edit, passing after.
  const std::string second = requests[1].json["messages"].dump();
  EXPECT_THAT(second, HasSubstr("FAIL: add(2,3)=-1"));
  EXPECT_THAT(requests[3].json["messages"].dump(), HasSubstr("PASS"));
  // reasoning_content is replayed verbatim on tool-call turns.
  EXPECT_EQ(requests[1].json["messages"][3]["reasoning_content"],
            "Let me look at add.c and run the test.");
  for (const auto& req : requests) {
    EXPECT_EQ(req.status, 200);
    EXPECT_EQ(req.json["model"], "deepseek-v4-flash");
    EXPECT_EQ(req.json["thinking"]["type"], "enabled");
    EXPECT_THAT(req.body, Not(HasSubstr("\"developer\"")));
    EXPECT_TRUE(req.json["user_id"].get<std::string>().rfind("dsagent-", 0) == 0);
  }
  ExpectNoKeyOnDisk();
}

// Request N is byte-for-byte a prefix of request N+1 up to its new tail: same tools and settings,
// and the serialised message list of N is a byte prefix of that of N+1.
TEST_F(RunE2ETest, EachRequestIsABytePrefixOfTheNext) {
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall("c1", "list_files", Json::object())}));
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall("c2", "grep", {{"pattern", "add"}})}));
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall("c3", "git_status", Json::object())}));
  server_.Enqueue(ScriptedReply::Text("done"));
  auto r = Run({"run", "Survey the repository"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 4u);
  for (size_t i = 0; i + 1 < requests.size(); ++i) {
    Json a = requests[i].json, b = requests[i + 1].json;
    std::string ma = CanonicalJson(a["messages"]), mb = CanonicalJson(b["messages"]);
    ma.pop_back();  // the closing ']'
    EXPECT_EQ(mb.compare(0, ma.size(), ma), 0) << "request " << i << " is not a prefix of the next";
    a.erase("messages");
    b.erase("messages");
    EXPECT_EQ(CanonicalJson(a), CanonicalJson(b));
    // On the wire, too: the raw body up to the end of the previous messages is identical.
    const std::string& ra = requests[i].body;
    const std::string& rb = requests[i + 1].body;
    const size_t cut = ra.find("\"messages\":") + std::string("\"messages\":").size() + ma.size();
    EXPECT_EQ(ra.substr(0, cut), rb.substr(0, cut)) << "raw body prefix differs at request " << i;
  }
}

TEST_F(RunE2ETest, TaskFromStdin) {
  server_.Enqueue(ScriptedReply::Text("ok"));
  auto r = Run({"run", "--json", "-"}, {}, "Explain add.c\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].json["messages"][2]["content"], "Explain add.c\n");
}

TEST_F(RunE2ETest, ExplicitTraceFileIsWrittenAndResumable) {
  const auto trace = box_.root() / "ci" / "trace.jsonl";
  server_.Enqueue(ScriptedReply::Text("first"));
  auto r = Run({"run", "--json", "--trace", trace.string(), "one"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(std::filesystem::exists(trace));
  EXPECT_FALSE(std::filesystem::exists(box_.sessions_dir()));
  const std::string id = Envelope(r)["session_id"];
  server_.Enqueue(ScriptedReply::Text("second"));
  auto again = Run({"run", "--json", "--trace", trace.string(), "--resume", id, "two"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  // system, repo map, one, first, two: the resumed session replays its map, it adds none.
  EXPECT_EQ(server_.Requests().back().json["messages"].size(), 5u);
  EXPECT_THAT(ReadFile(trace), HasSubstr("\"second\""));
}

// A new session's first message after the system prompt is a map of the repository; it is frozen
// in the trace, so a resumed session sends the very same bytes even after the code changed.
TEST_F(RunE2ETest, SessionStartsWithARepoMapThatResumeReplaysUnchanged) {
  server_.Enqueue(ScriptedReply::Text("first"));
  auto r = Run({"run", "--json", "one"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json first = server_.Requests().back().json["messages"];
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[1]["role"], "user");
  const std::string map = first[1]["content"];
  EXPECT_THAT(map, HasSubstr("Repository map"));
  EXPECT_THAT(map, HasSubstr("add.c"));
  EXPECT_THAT(map, HasSubstr("int add(int a, int b)"));
  EXPECT_EQ(first[2]["content"], "one");

  box_.WriteRepoFile("sub.c", "int sub(int a, int b) {\n  return a - b;\n}\n");
  server_.Enqueue(ScriptedReply::Text("second"));
  auto again = Run({"run", "--json", "--resume", Envelope(r)["session_id"], "two"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const Json resumed = server_.Requests().back().json["messages"];
  ASSERT_EQ(resumed.size(), 5u);
  EXPECT_EQ(resumed[1]["content"], map);
}

// AGENTS.md / CLAUDE.md are read once at session start into the message after the repo map;
// a resumed session replays that message, even after the file changed.
TEST_F(RunE2ETest, ProjectInstructionsFollowTheMapAndAreFrozenForTheSession) {
  box_.WriteRepoFile("AGENTS.md", "Run make check before answering.\n");
  box_.WriteRepoFile("CLAUDE.md", "Prefer small diffs.\n");
  server_.Enqueue(ScriptedReply::Text("first"));
  auto r = Run({"run", "--json", "one"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json first = server_.Requests().back().json["messages"];
  ASSERT_EQ(first.size(), 4u);
  EXPECT_THAT(first[1]["content"].get<std::string>(), HasSubstr("Repository map"));
  const std::string instructions = first[2]["content"];
  EXPECT_EQ(first[2]["role"], "user");
  EXPECT_THAT(instructions, HasSubstr("## AGENTS.md\n\nRun make check before answering."));
  EXPECT_THAT(instructions, HasSubstr("## CLAUDE.md\n\nPrefer small diffs."));
  EXPECT_EQ(first[3]["content"], "one");
  EXPECT_EQ(first[0]["content"].get<std::string>().find("make check"), std::string::npos)
      << "instructions must not enter the system prompt";

  box_.WriteRepoFile("AGENTS.md", "Changed later.\n");
  server_.Enqueue(ScriptedReply::Text("second"));
  auto again = Run({"run", "--json", "--resume", Envelope(r)["session_id"], "two"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const Json resumed = server_.Requests().back().json["messages"];
  ASSERT_EQ(resumed.size(), 6u);
  EXPECT_EQ(resumed[2]["content"], instructions);

  auto list = Run({"session", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(Json::parse(list.out)[0]["task"], "one");
}

TEST_F(RunE2ETest, RepoMapTokensZeroStartsWithoutAMap) {
  server_.Enqueue(ScriptedReply::Text("ok"));
  auto r = Run({"run", "--json", "one"}, {{"DSAGENT_REPO_MAP__TOKENS", "0"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json messages = server_.Requests().back().json["messages"];
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[1]["content"], "one");
}

TEST_F(RunE2ETest, MissingKeyIsAConfigErrorNamingTheVariable) {
  auto env = box_.Env({{"DEEPSEEK_BASE_URL", server_.BaseUrl()}});
  auto r = RunDsagent({"run", "--json", "hi"}, env, box_.repo());
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("DEEPSEEK_API_KEY"));
  const Json env_json = Envelope(r);
  EXPECT_EQ(env_json["status"], "error");
  EXPECT_EQ(env_json["exit_code"], 3);
  EXPECT_TRUE(server_.Requests().empty());
}

TEST_F(RunE2ETest, RejectedKeyExitsWithAuthErrorAndNeverPrintsTheKey) {
  const std::string wrong = "sk-wrong-key-abcdef0123456789";
  auto r = Run({"run", "--json", "hi"}, {{"DEEPSEEK_API_KEY", wrong}});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(Envelope(r)["termination_reason"], "error:auth");
  EXPECT_THAT(r.err + r.out, Not(HasSubstr(wrong)));
  EXPECT_THAT(r.err, HasSubstr("DEEPSEEK_API_KEY"));
}

TEST_F(RunE2ETest, RateLimitIsRetriedWithTheIdenticalBody) {
  server_.Enqueue(ScriptedReply::Error(429, "Rate Limit Reached", 1));
  server_.Enqueue(ScriptedReply::Error(503, "Server Overloaded"));
  server_.Enqueue(ScriptedReply::Text("ok"));
  auto r = Run({"run", "--json", "hi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].body, requests[1].body);
  EXPECT_EQ(requests[1].body, requests[2].body);
  EXPECT_THAT(r.err, HasSubstr("retry"));
}

TEST_F(RunE2ETest, PersistentServerErrorsExitWithApiFailure) {
  for (int i = 0; i < 5; ++i) server_.Enqueue(ScriptedReply::Error(500, "Server Error"));
  auto r = Run({"run", "--json", "hi"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(Envelope(r)["termination_reason"], "error:server");
}

TEST_F(RunE2ETest, StepLimitStopsWithExitCode5) {
  for (int i = 0; i < 3; ++i) {
    server_.Enqueue(
        ScriptedReply::Calls({ScriptedCall("c" + std::to_string(i), "git_log", Json::object())}));
  }
  const auto trace = box_.root() / "limited.jsonl";
  auto r = Run({"run", "--json", "--max-steps", "2", "--trace", trace.string(), "loop forever"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  const Json env = Envelope(r);
  EXPECT_EQ(env["termination_reason"], "max_steps");
  EXPECT_EQ(env["status"], "limit");
  EXPECT_EQ(env["steps"], 2);
  EXPECT_EQ(server_.Requests().size(), 2u);
  // The trace's opening event records the limits as an object keyed by name.
  const std::string text = ReadFile(trace);
  const Json start = Json::parse(text.substr(0, text.find('\n')));
  EXPECT_EQ(start["type"], "session_start");
  ASSERT_TRUE(start["limits"].is_object()) << start["limits"].dump();
  EXPECT_EQ(start["limits"]["max_steps"], 2);
  EXPECT_TRUE(start["limits"].contains("max_cost_usd"));
  EXPECT_TRUE(start["limits"].contains("timeout_s"));
}

TEST_F(RunE2ETest, CostLimitStopsWithExitCode5) {
  ScriptedReply expensive =
      ScriptedReply::Calls({ScriptedCall("c1", "git_status", Json::object())});
  expensive.usage = Usage{0, 1'000'000, 1000, 0};  // $0.14 of cache-miss input on Flash
  server_.Enqueue(expensive);
  server_.Enqueue(ScriptedReply::Text("never reached"));
  auto r = Run({"run", "--json", "--max-cost", "0.1", "spend"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  const Json env = Envelope(r);
  EXPECT_EQ(env["termination_reason"], "max_cost");
  EXPECT_NEAR(env["cost_usd"].get<double>(), 0.14 + 1000 * 0.28 / 1e6, 1e-9);
  EXPECT_EQ(server_.Requests().size(), 1u);
}

TEST_F(RunE2ETest, WallClockTimeoutInterruptsAnInFlightCall) {
  ScriptedReply block;
  block.kind = ScriptedReply::Kind::kBlock;
  block.then = std::make_shared<ScriptedReply>(ScriptedReply::Text("too late"));
  server_.Enqueue(block);
  auto r = Run({"run", "--json", "--timeout", "1", "slow"});
  server_.ReleaseBlocked();
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_EQ(Envelope(r)["termination_reason"], "timeout");
}

TEST_F(RunE2ETest, SigintInterruptsWithExitCode130) {
  ScriptedReply block;
  block.kind = ScriptedReply::Kind::kBlock;
  block.then = std::make_shared<ScriptedReply>(ScriptedReply::Text("too late"));
  server_.Enqueue(block);
  RunningDsagent p({"run", "--json", "wait"}, Env(), box_.repo(), "", box_.root());
  ASSERT_TRUE(server_.WaitForRequests(1, 30s));
  p.Signal(SIGINT);
  auto r = p.Wait();
  server_.ReleaseBlocked();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_EQ(Envelope(r)["termination_reason"], "interrupted");
}

TEST_F(RunE2ETest, SigkillMidSessionLeavesAReadableTraceThatResumes) {
  server_.Enqueue(ScriptedReply::Calls(
      {ScriptedCall("c1", "bash", {{"command", "echo first-step-output"}})}, "step one"));
  ScriptedReply block;
  block.kind = ScriptedReply::Kind::kBlock;
  block.then = std::make_shared<ScriptedReply>(ScriptedReply::Text("lost"));
  server_.Enqueue(block);

  RunningDsagent p({"run", "--json", "two-step task"}, Env(), box_.repo(), "", box_.root());
  ASSERT_TRUE(server_.WaitForRequests(2, 30s));
  p.Signal(SIGKILL);
  auto killed = p.Wait();
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL);
  server_.ReleaseBlocked();

  // The trace is readable and shows the work done before the kill.
  auto list = Run({"session", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const Json sessions = Json::parse(list.out);
  ASSERT_EQ(sessions.size(), 1u);
  const std::string id = sessions[0]["id"];
  EXPECT_EQ(sessions[0]["status"], "incomplete");
  auto show = Run({"session", "show", id});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("first-step-output"));

  // Resume continues exactly from the trace.
  server_.Enqueue(ScriptedReply::Text("resumed and finished"));
  auto resumed = Run({"run", "--json", "--resume", id, "please finish"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const Json env = Envelope(resumed);
  EXPECT_EQ(env["session_id"], id);
  EXPECT_EQ(env["result"], "resumed and finished");
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 3u);
  const Json& before = requests[1].json["messages"];
  const Json& after = requests[2].json["messages"];
  ASSERT_EQ(after.size(), before.size() + 1);
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(after[i], before[i]) << "message " << i;
  EXPECT_EQ(after.back()["content"], "please finish");

  auto list2 = Run({"session", "list", "--json"});
  EXPECT_EQ(Json::parse(list2.out)[0]["status"], "done");
  EXPECT_EQ(Json::parse(list2.out)[0]["steps"], 2);  // the killed call never completed
}

TEST_F(RunE2ETest, ResumeAnswersToolCallsLeftUnrunByAKill) {
  // The kill lands while the bash tool runs: the assistant's call has no result in the trace.
  // The command announces itself through a FIFO, so the test waits on a real event, not a delay.
  const auto fifo = box_.repo() / "started.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  server_.Enqueue(ScriptedReply::Calls(
      {ScriptedCall("c1", "bash", {{"command", "echo $$ > started.fifo && sleep 600"}})}));
  RunningDsagent p({"run", "long tool"}, Env(), box_.repo(), "", box_.root());
  std::ifstream announce(fifo);  // blocks until the tool's shell opens the FIFO for writing
  pid_t tool_group = 0;
  announce >> tool_group;
  ASSERT_GT(tool_group, 0);
  p.Signal(SIGKILL);
  p.Wait();
  ::kill(-tool_group, SIGKILL);  // the orphaned tool process group is no longer dsagent's to reap

  auto list = Run({"session", "list", "--json"});
  const std::string id = Json::parse(list.out)[0]["id"];
  server_.Enqueue(ScriptedReply::Text("ok"));
  auto resumed = Run({"run", "--json", "--resume", id, "go on"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const Json msgs = server_.Requests().back().json["messages"];
  ASSERT_GE(msgs.size(), 4u);
  EXPECT_EQ(msgs[msgs.size() - 2]["role"], "tool");
  EXPECT_EQ(msgs[msgs.size() - 2]["tool_call_id"], "c1");
  EXPECT_THAT(msgs[msgs.size() - 2]["content"].get<std::string>(), HasSubstr("interrupted"));
  // The command had started (it wrote the FIFO): the model must not be told it never ran (the
  // kill -9 campaign found settled calls that had run, told "was not run").
  EXPECT_THAT(msgs[msgs.size() - 2]["content"].get<std::string>(),
              HasSubstr("may have run in full, in part or not at all"));
}

TEST_F(RunE2ETest, AnthropicWireFormatRunsAToolSession) {
  server_.Enqueue(
      ScriptedReply::Calls({ScriptedCall("toolu_1", "read_file", {{"path", "add.c"}})}));
  server_.Enqueue(ScriptedReply::Text("add() subtracts."));
  auto r = Run({"run", "--json", "--provider", "deepseek-anthropic", "What does add do?"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Envelope(r)["result"], "add() subtracts.");
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].path, "/anthropic/v1/messages");
  EXPECT_EQ(requests[0].headers.at("x-api-key"), kRunKey);
  EXPECT_THAT(requests[1].json["messages"].dump(), HasSubstr("return a - b;"));
}

TEST_F(RunE2ETest, OpenAiCompatibleProviderUsesChatTemplateKwargs) {
  server_.Enqueue(ScriptedReply::Text("hello"));
  auto r = Run({"run", "--json", "--provider", "openai-compatible", "--thinking", "off", "hi"},
               {{"DSAGENT_PROVIDERS__OPENAI_COMPATIBLE__BASE_URL", server_.BaseUrl() + "/v1"},
                {"OPENAI_API_KEY", kRunKey}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/v1/chat/completions");
  EXPECT_EQ(requests[0].json["chat_template_kwargs"]["thinking"], false);
  EXPECT_FALSE(requests[0].json.contains("thinking"));
}

TEST_F(RunE2ETest, ProModelAndMaxEffortAreSentAsRequested) {
  server_.Enqueue(ScriptedReply::Text("ok"));
  auto r = Run({"run", "--json", "--model", "deepseek-v4-pro", "--effort", "max", "hi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json body = server_.Requests().at(0).json;
  EXPECT_EQ(body["model"], "deepseek-v4-pro");
  EXPECT_EQ(body["reasoning_effort"], "max");
  const Json env = Envelope(r);
  ASSERT_TRUE(env["models"].contains("deepseek-v4-pro")) << r.out;
  EXPECT_EQ(env["models"]["deepseek-v4-pro"]["calls"], 1);
}

TEST_F(RunE2ETest, ServedModelMismatchIsAnApiFailure) {
  ScriptedReply wrong = ScriptedReply::Text("hi");
  wrong.model = "deepseek-v4-flash";
  server_.Enqueue(wrong);
  auto r = Run({"run", "--json", "--model", "deepseek-v4-pro", "hi"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(Envelope(r)["termination_reason"], "error:model_mismatch");
}

}  // namespace
}  // namespace dsagent::testing
