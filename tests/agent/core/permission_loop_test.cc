// The permission check inside the real AgentLoop: a real provider talking to the DeepSeek test
// server on loopback, the built-in tools in a temp workspace, a scripted approver standing in for
// the terminal, and the trace on disk.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>

#include "agent/config/model_catalog.h"
#include "agent/core/agent_loop.h"
#include "agent/core/tool_specs.h"
#include "agent/providers/provider_factory.h"
#include "common/file_io.h"
#include "tests/support/deepseek_test_server.h"
#include "tests/support/temp_dir.h"
#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
using testing::DeepSeekTestServer;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ScriptedCall;
using testing::ScriptedReply;

constexpr const char* kKey = "test-key-permissions";

// Answers each approval request with the next scripted reply and remembers the requests.
class ScriptedApprover : public ApprovalHandler {
 public:
  explicit ScriptedApprover(std::deque<ApprovalReply> replies) : replies_(std::move(replies)) {}
  ApprovalReply Ask(const ApprovalRequest& request) override {
    asked.push_back(request);
    if (replies_.empty()) return {};
    ApprovalReply r = replies_.front();
    replies_.pop_front();
    return r;
  }
  std::vector<ApprovalRequest> asked;

 private:
  std::deque<ApprovalReply> replies_;
};

class PermissionLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.SetApiKey(kKey);
    ws_.Write("notes.txt", "hello\n");
  }

  std::shared_ptr<PermissionPolicy> Policy(PermissionMode mode,
                                           std::initializer_list<const char*> rules = {}) {
    PermissionSettings s;
    s.mode = mode;
    s.workspace = ws_.path();
    for (const char* r : rules) s.rules.push_back(*ParsePermissionRule(r));
    return std::make_shared<PermissionPolicy>(std::move(s));
  }

  // Runs the loop on one user message with the scripted replies already enqueued.
  RunReport Run(std::shared_ptr<PermissionPolicy> policy, ApprovalHandler* approver) {
    ProviderOptions p;
    p.kind = "deepseek";
    p.base_url = server_.BaseUrl();
    p.api_key = kKey;
    p.retry.max_attempts = 1;
    auto provider = MakeProvider(p);
    EXPECT_TRUE(provider);
    const ToolRegistry registry = ToolRegistry::BuiltIn();
    Context context("You are a test.", ToolSpecsOf(registry));
    context.Append(UserMessage("Do the task."));
    auto trace = TraceWriter::Open(trace_path_);
    EXPECT_TRUE(trace);
    ToolContext tool_ctx;
    tool_ctx.workspace = ws_.path();
    AgentLoop loop(**provider, registry, tool_ctx, *trace, ModelCatalog::BuiltIn());
    AgentSettings settings;
    settings.lane = {"deepseek-v4-flash", true, "high"};
    settings.permissions = std::move(policy);
    settings.approver = approver;
    AgentObserver observer;
    return loop.Run(context, settings, observer, CancelToken());
  }

  // The content of the last message (the tool result) of chat request `i`.
  std::string LastMessageOf(size_t i) {
    const auto requests = server_.Requests();
    EXPECT_GT(requests.size(), i);
    if (requests.size() <= i) return "";
    return requests[i].json["messages"].back()["content"].get<std::string>();
  }

  std::vector<Json> Events(const std::string& type) {
    std::vector<Json> out;
    auto trace = ReadTrace(trace_path_);
    EXPECT_TRUE(trace);
    if (!trace) return out;
    for (const Json& e : trace->events) {
      if (e.value("type", "") == type) out.push_back(e);
    }
    return out;
  }

  TempDir ws_;
  DeepSeekTestServer server_;
  TempDir trace_dir_;
  std::filesystem::path trace_path_ = trace_dir_.path() / "trace.jsonl";
};

TEST_F(PermissionLoopTest, HeadlessAskIsRefusedWithAMessageTheModelCanActOn) {
  server_.Enqueue(
      ScriptedReply::Calls({ScriptedCall("c1", "bash", {{"command", "touch made.txt"}})}));
  server_.Enqueue(ScriptedReply::Text("I could not run it."));
  const RunReport report = Run(Policy(PermissionMode::kAsk), nullptr);
  EXPECT_EQ(report.termination.reason, TerminationReason::kDone);
  EXPECT_FALSE(ws_.Exists("made.txt"));
  const std::string told = LastMessageOf(1);
  EXPECT_THAT(told, HasSubstr("needs approval, and this run is headless (permissions mode ask)"));
  EXPECT_THAT(told, HasSubstr("\"touch made.txt\" needs approval"));
  EXPECT_THAT(told, HasSubstr("allow bash(touch *)"));
  const auto events = Events("permission");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["decision"], "ask");
  EXPECT_EQ(events[0]["headless"], true);
  EXPECT_EQ(events[0]["tool_call_id"], "c1");
  EXPECT_EQ(events[0]["step"], 1);
  // The refusal is an error result in the trace, and the session still resumes cleanly.
  const auto tools = Events("tool");
  ASSERT_EQ(tools.size(), 1u);
  EXPECT_EQ(tools[0]["ok"], false);
}

TEST_F(PermissionLoopTest, DenialsReachTheModelAndNothingRuns) {
  server_.Enqueue(ScriptedReply::Calls(
      {ScriptedCall("c1", "bash", {{"command", "git status; rm -f notes.txt"}}),
       ScriptedCall("c2", "write_file", {{"path", ".git/config"}, {"content", "x"}})}));
  server_.Enqueue(ScriptedReply::Text("ok"));
  ScriptedApprover approver({});
  const RunReport report = Run(Policy(PermissionMode::kFullAuto, {"deny bash(rm *)"}), &approver);
  EXPECT_EQ(report.termination.reason, TerminationReason::kDone);
  EXPECT_TRUE(ws_.Exists("notes.txt"));
  EXPECT_TRUE(approver.asked.empty());  // denials are not questions
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 2u);
  const Json& messages = requests[1].json["messages"];
  const std::string first = messages[messages.size() - 2]["content"];
  const std::string second = messages[messages.size() - 1]["content"];
  EXPECT_THAT(first, HasSubstr("Permission denied: \"rm -f notes.txt\" is denied by rule "
                               "\"deny bash(rm *)\""));
  EXPECT_THAT(second, HasSubstr(".git"));
  EXPECT_EQ(Events("permission").size(), 2u);
}

TEST_F(PermissionLoopTest, ApproverYesNoAlwaysEdit) {
  server_.Enqueue(
      ScriptedReply::Calls({ScriptedCall("c1", "bash", {{"command", "touch yes.txt"}})}));
  server_.Enqueue(
      ScriptedReply::Calls({ScriptedCall("c2", "bash", {{"command", "touch no.txt"}})}));
  server_.Enqueue(
      ScriptedReply::Calls({ScriptedCall("c3", "bash", {{"command", "npm-like test --one"}})}));
  // Allowed for the session by the previous "always": not asked again.
  server_.Enqueue(
      ScriptedReply::Calls({ScriptedCall("c4", "bash", {{"command", "npm-like test --two"}})}));
  server_.Enqueue(ScriptedReply::Calls(
      {ScriptedCall("c5", "bash", {{"command", "touch wanted-by-model.txt"}})}));
  server_.Enqueue(ScriptedReply::Text("done"));
  ScriptedApprover approver({
      {ApprovalChoice::kYes, "", "", false},
      {ApprovalChoice::kNo, "use the existing file instead", "", false},
      {ApprovalChoice::kAlways, "", "", false},
      {ApprovalChoice::kEdit, "", "touch edited-by-user.txt", false},
  });
  const RunReport report = Run(Policy(PermissionMode::kAsk), &approver);
  EXPECT_EQ(report.termination.reason, TerminationReason::kDone);

  ASSERT_EQ(approver.asked.size(), 4u);
  EXPECT_EQ(approver.asked[0].summary, "bash: touch yes.txt");
  EXPECT_EQ(approver.asked[0].always_pattern, "touch *");
  EXPECT_THAT(approver.asked[0].reason, HasSubstr("shell commands ask in mode ask"));
  EXPECT_EQ(approver.asked[2].always_pattern, "npm-like *");
  EXPECT_EQ(approver.asked[3].call.id, "c5");

  EXPECT_TRUE(ws_.Exists("yes.txt"));
  EXPECT_FALSE(ws_.Exists("no.txt"));
  EXPECT_THAT(LastMessageOf(2),
              HasSubstr("The user declined this call; it was not run. The user said: use the "
                        "existing file instead"));
  EXPECT_THAT(LastMessageOf(3), HasSubstr("[exit code: 127]"));  // it ran (no such command)
  EXPECT_THAT(LastMessageOf(4), HasSubstr("[exit code: 127]"));  // ran without asking
  EXPECT_FALSE(ws_.Exists("wanted-by-model.txt"));
  EXPECT_TRUE(ws_.Exists("edited-by-user.txt"));
  EXPECT_THAT(LastMessageOf(5), HasSubstr("It ran as: touch edited-by-user.txt"));

  std::vector<std::string> answers;
  for (const Json& e : Events("permission")) {
    if (e.contains("answer")) answers.push_back(e["answer"]);
  }
  EXPECT_THAT(answers, ::testing::ElementsAre("yes", "no", "always", "edit"));
}

TEST_F(PermissionLoopTest, EditApprovalShowsTheDiffAndAlwaysCanBeSaved) {
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall(
      "c1", "edit_file",
      {{"path", "notes.txt"}, {"old_string", "hello"}, {"new_string", "hello world"}})}));
  server_.Enqueue(ScriptedReply::Calls(
      {ScriptedCall("c2", "write_file", {{"path", "docs/more.txt"}, {"content", "more\n"}})}));
  server_.Enqueue(ScriptedReply::Text("done"));
  ScriptedApprover approver(
      {{ApprovalChoice::kAlways, "", "", true}, {ApprovalChoice::kYes, "", "", false}});
  const RunReport report = Run(Policy(PermissionMode::kAsk), &approver);
  EXPECT_EQ(report.termination.reason, TerminationReason::kDone);
  ASSERT_EQ(approver.asked.size(), 2u);
  EXPECT_EQ(approver.asked[0].summary, "edit_file: notes.txt");
  EXPECT_THAT(approver.asked[0].diff, HasSubstr("-hello\n+hello world\n"));
  EXPECT_EQ(approver.asked[0].always_pattern, "notes.txt");
  EXPECT_EQ(ws_.Read("notes.txt"), "hello world\n");
  EXPECT_EQ(ws_.Read("docs/more.txt"), "more\n");
  // "always, and remember": the rule is in the repo config for the next session.
  const std::string saved = ws_.Read(".dsagent/config.yaml");
  EXPECT_THAT(saved, HasSubstr("allow edit_file(notes.txt)"));
  bool persisted = false;
  for (const Json& e : Events("permission")) persisted |= e.value("persisted", false);
  EXPECT_TRUE(persisted);
}

TEST_F(PermissionLoopTest, WithoutAPolicyEverythingRunsAsBefore) {
  server_.Enqueue(
      ScriptedReply::Calls({ScriptedCall("c1", "bash", {{"command", "touch free.txt"}})}));
  server_.Enqueue(ScriptedReply::Text("done"));
  const RunReport report = Run(nullptr, nullptr);
  EXPECT_EQ(report.termination.reason, TerminationReason::kDone);
  EXPECT_TRUE(ws_.Exists("free.txt"));
  EXPECT_TRUE(Events("permission").empty());
  EXPECT_THAT(LastMessageOf(1), Not(HasSubstr("approval")));
}

}  // namespace
}  // namespace dsagent
