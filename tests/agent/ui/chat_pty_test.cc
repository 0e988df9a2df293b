// The interactive assistant end to end: the real `dsagent` binary on a pseudo-terminal (typed
// keys in, the screen's bytes out) against the DeepSeek test server, in a real git repository.
// Every wait is for expected output; timeouts only guard against hangs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <regex>

#include "common/json.h"
#include "tests/agent/cli/dsagent_process.h"
#include "tests/support/deepseek_test_server.h"
#include "tests/support/pty_process.h"

namespace dsagent::testing {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr const char* kKey = "test-key-chat-0123456789";
constexpr const char* kPrompt = "› ";

// Waits for `text` on `p`'s screen; on timeout fails the test (returning from it) and shows the
// screen after the last match.
#define EXPECT_SCREEN(p, text)                                           \
  ASSERT_TRUE((p).WaitFor(text)) << "waited for \"" << (text)            \
                                 << "\"; screen after the last match:\n" \
                                 << Printable((p).Pending())

// SGR sequences (colours, dim, bold): what NO_COLOR forbids.
bool HasSgr(const std::string& s) { return std::regex_search(s, std::regex("\x1b\\[[0-9;]*m")); }

class ChatPtyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.SetApiKey(kKey);
    box_.WriteRepoFile("add.c", "int add(int a, int b) {\n  return a + b;\n}\n");
    box_.GitInitAndCommit();
  }

  std::map<std::string, std::string> Env(std::map<std::string, std::string> extra = {}) {
    extra.emplace("DEEPSEEK_API_KEY", kKey);
    extra.emplace("DEEPSEEK_BASE_URL", server_.BaseUrl());
    extra.emplace("TERM", "xterm");
    return box_.Env(extra);
  }

  std::unique_ptr<PtyProcess> Start(std::vector<std::string> args = {},
                                    std::map<std::string, std::string> env = {}) {
    auto p = std::make_unique<PtyProcess>(
        DSAGENT_BINARY, PtyProcess::Options{std::move(args), std::move(env), box_.repo()});
    return p;
  }

  // The content of the last user message of chat request `i`.
  std::string LastUserMessage(size_t i) {
    const auto requests = server_.Requests();
    if (i >= requests.size()) return "<no request " + std::to_string(i) + ">";
    const Json& messages = requests[i].json["messages"];
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
      if ((*it)["role"] == "user") return (*it)["content"].get<std::string>();
    }
    return "";
  }

  DeepSeekTestServer server_;
  Sandbox box_;
};

TEST_F(ChatPtyTest, StreamsEditsShowsDiffCostUndoAndExits) {
  server_.Enqueue(ScriptedReply::Text("Hello from the model.", "Pondering the greeting."));
  auto p = Start({}, Env());
  EXPECT_SCREEN(*p, "dsagent ");
  EXPECT_SCREEN(*p, kPrompt);

  // 1. A streamed answer: reasoning collapsed to one line, the answer, the status line.
  p->Write("say hi\r");
  EXPECT_SCREEN(*p, "thinking… (");
  EXPECT_SCREEN(*p, "Hello from the model.");
  EXPECT_SCREEN(*p, "flash·high");
  EXPECT_SCREEN(*p, "cache ");
  EXPECT_SCREEN(*p, kPrompt);
  EXPECT_EQ(LastUserMessage(0), "say hi");

  // 2. A shell command asks for approval (mode ask); the user edits it before it runs.
  server_.Enqueue(
      ScriptedReply::Calls({ScriptedCall("c0", "bash", {{"command", "touch shell-made.txt"}})}));
  // An edit asks too, showing its diff; "always" allows this path for the rest of the session.
  server_.Enqueue(ScriptedReply::Calls({ScriptedCall(
      "c1", "edit_file",
      {{"path", "add.c"}, {"old_string", "return a + b;"}, {"new_string", "return a - b;"}})}));
  server_.Enqueue(ScriptedReply::Text("Now it subtracts."));
  p->Write("make add subtract\r");
  EXPECT_SCREEN(*p, "● bash  touch shell-made.txt");
  EXPECT_SCREEN(*p, "? approve ");
  EXPECT_SCREEN(*p, "e edit");
  EXPECT_SCREEN(*p, "allow?");
  p->Write("e\r");
  EXPECT_SCREEN(*p, "command:");
  p->Write("; echo edited-by-user\r");
  EXPECT_SCREEN(*p, "⎿ exit 0 · ");
  EXPECT_SCREEN(*p, "edited-by-user");
  EXPECT_SCREEN(*p, "● edit_file  add.c");
  EXPECT_SCREEN(*p, "? approve ");
  EXPECT_SCREEN(*p, "+  return a - b;");  // the diff it would apply
  EXPECT_SCREEN(*p, "allow?");
  p->Write("a\r");
  // The applied edit: its summary (the diff is on screen already).
  EXPECT_SCREEN(*p, "⎿ +1 -1");
  EXPECT_SCREEN(*p, "Now it subtracts.");
  EXPECT_SCREEN(*p, kPrompt);
  EXPECT_THAT(box_.ReadRepoFile("add.c"), HasSubstr("return a - b;"));
  EXPECT_TRUE(std::filesystem::exists(box_.repo() / "shell-made.txt"));
  EXPECT_THAT(server_.Requests()[2].json["messages"].dump(), HasSubstr("edited-by-user"));

  // 3. /cost and /cache.
  p->Write("/cost\r");
  EXPECT_SCREEN(*p, "session: $");
  EXPECT_SCREEN(*p, "deepseek-v4-flash");
  EXPECT_SCREEN(*p, "last turn: $");
  p->Write("/cache\r");
  EXPECT_SCREEN(*p, "last call: ");
  EXPECT_SCREEN(*p, "cache hit");

  // 4. /diff shows the session's changes, the shell's included; /undo restores the edited file
  // (shell changes are not undone).
  p->Write("/diff\r");
  EXPECT_SCREEN(*p, "+++ b/add.c");
  EXPECT_SCREEN(*p, "+  return a - b;");
  EXPECT_SCREEN(*p, "shell-made.txt");
  EXPECT_SCREEN(*p, "2 file(s) changed since the session started");
  p->Write("/undo\r");
  EXPECT_SCREEN(*p, "restored add.c");
  EXPECT_EQ(box_.ReadRepoFile("add.c"), "int add(int a, int b) {\n  return a + b;\n}\n");
  p->Write("/diff\r");
  EXPECT_SCREEN(*p, "diff --git a/shell-made.txt");
  EXPECT_SCREEN(*p, "1 file(s) changed since the session started");
  p->Write("/undo\r");
  EXPECT_SCREEN(*p, "nothing to undo");

  // 5. The model learns of the undo with the next message.
  server_.Enqueue(ScriptedReply::Text("Understood."));
  p->Write("thanks\r");
  EXPECT_SCREEN(*p, "Understood.");
  EXPECT_THAT(LastUserMessage(4), HasSubstr("reverted the file edits of your previous turn"));
  EXPECT_THAT(LastUserMessage(4), HasSubstr("thanks"));

  p->Write("/exit\r");
  EXPECT_EQ(p->WaitExit(), 0);
  EXPECT_FALSE(HasSgr(p->output())) << "NO_COLOR is set, yet the screen has colour codes";

  // The chat wrote the same trace `dsagent run` does.
  auto list = RunDsagent({"session", "list", "--json"}, Env(), box_.repo());
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const Json sessions = Json::parse(list.out);
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0]["task"], "say hi");
  EXPECT_EQ(sessions[0]["steps"], 5);
}

TEST_F(ChatPtyTest, CtrlCInterruptsTheStepAndReturnsToThePromptTwiceAtThePromptLeaves) {
  server_.Enqueue(ScriptedReply::Block(ScriptedReply::Text("too late")));
  auto p = Start({}, Env());
  EXPECT_SCREEN(*p, kPrompt);
  p->Write("take your time\r");
  ASSERT_TRUE(server_.WaitForRequests(1, 30s));
  p->Write("\x03");
  EXPECT_SCREEN(*p, "interrupted");
  EXPECT_SCREEN(*p, kPrompt);

  server_.Enqueue(ScriptedReply::Text("Back again."));
  p->Write("still there?\r");
  EXPECT_SCREEN(*p, "Back again.");
  EXPECT_SCREEN(*p, kPrompt);

  p->Write("\x03");
  EXPECT_SCREEN(*p, "Ctrl-C again");
  p->Write("\x03");
  EXPECT_EQ(p->WaitExit(), 0);
}

// SIGTERM (a supervisor, `kill`, a closing IDE) is not a Ctrl-C: the step stops and the process
// leaves with 143 — during a turn and at the prompt alike.
TEST_F(ChatPtyTest, SigtermDuringATurnOrAtThePromptExits) {
  server_.Enqueue(ScriptedReply::Block(ScriptedReply::Text("too late")));
  auto p = Start({}, Env());
  EXPECT_SCREEN(*p, kPrompt);
  p->Write("take your time\r");
  ASSERT_TRUE(server_.WaitForRequests(1, 30s));
  ASSERT_EQ(::kill(p->pid(), SIGTERM), 0);
  EXPECT_SCREEN(*p, "terminated");
  EXPECT_EQ(p->WaitExit(), 143);

  // At the prompt, with the line editor inside its read (the echo of a half-typed line proves
  // it): a signal must end the read, not be swallowed by a retry.
  auto q = Start({}, Env());
  EXPECT_SCREEN(*q, kPrompt);
  q->Write("half-typed");
  EXPECT_SCREEN(*q, "half-typed");
  ASSERT_EQ(::kill(q->pid(), SIGTERM), 0);
  EXPECT_EQ(q->WaitExit(), 143);

  // During start-up, before any prompt: never a prompt that waits for a key.
  auto r = Start({}, Env());
  ASSERT_EQ(::kill(r->pid(), SIGTERM), 0);
  EXPECT_EQ(r->WaitExit(), 143);
}

TEST_F(ChatPtyTest, ApprovalNoWithANoteAndAlwaysSaved) {
  server_.Enqueue(
      ScriptedReply::Calls({ScriptedCall("c1", "bash", {{"command", "touch one.txt"}}),
                            ScriptedCall("c2", "bash", {{"command", "touch two.txt"}})}));
  server_.Enqueue(ScriptedReply::Text("Done."));
  auto p = Start({}, Env());
  EXPECT_SCREEN(*p, "mode ask");
  EXPECT_SCREEN(*p, kPrompt);
  p->Write("make two files\r");
  EXPECT_SCREEN(*p, "● bash  touch one.txt");
  EXPECT_SCREEN(*p, "allow?");
  p->Write("n\r");
  EXPECT_SCREEN(*p, "note for the model");
  p->Write("not that one\r");
  EXPECT_SCREEN(*p, "● bash  touch two.txt");
  EXPECT_SCREEN(*p, "allow?");
  p->Write("s\r");
  EXPECT_SCREEN(*p, "Done.");
  EXPECT_SCREEN(*p, kPrompt);
  EXPECT_FALSE(std::filesystem::exists(box_.repo() / "one.txt"));
  EXPECT_TRUE(std::filesystem::exists(box_.repo() / "two.txt"));
  EXPECT_THAT(server_.Requests()[1].json["messages"].dump(), HasSubstr("not that one"));
  EXPECT_THAT(box_.ReadRepoFile(".dsagent/config.yaml"), HasSubstr("allow bash(touch"));

  // In mode auto-edit edits run without asking and show their diff under the result.
  p->Write("/mode auto-edit\r");
  EXPECT_SCREEN(*p, "mode auto-edit for the rest of this session");
  server_.Enqueue(ScriptedReply::Calls(
      {ScriptedCall("c3", "write_file", {{"path", "notes.txt"}, {"content", "hello notes\n"}})}));
  server_.Enqueue(ScriptedReply::Text("Wrote it."));
  p->Write("write notes\r");
  EXPECT_SCREEN(*p, "● write_file  notes.txt");
  EXPECT_SCREEN(*p, "⎿ created · +1 -0");
  EXPECT_SCREEN(*p, "+++ b/notes.txt");
  EXPECT_SCREEN(*p, "+hello notes");
  EXPECT_SCREEN(*p, "Wrote it.");
  EXPECT_THAT(p->output(), Not(HasSubstr("approve write_file")));
  p->Write("/exit\r");
  EXPECT_EQ(p->WaitExit(), 0);
}

TEST_F(ChatPtyTest, PasteAndBackslashMakeOneMultiLineMessage) {
  server_.Enqueue(ScriptedReply::Text("Got the paste."));
  server_.Enqueue(ScriptedReply::Text("Got both lines."));
  auto p = Start({}, Env());
  EXPECT_SCREEN(*p, kPrompt);
  // A bracketed paste (terminals send its newlines as CR) is inserted, not submitted.
  p->Write("\x1b[200~first line\rsecond line\x1b[201~");
  p->Write(" end\r");
  EXPECT_SCREEN(*p, "Got the paste.");
  EXPECT_EQ(LastUserMessage(0), "first line\nsecond line end");
  EXPECT_SCREEN(*p, kPrompt);
  p->Write("one\\\r");
  EXPECT_SCREEN(*p, "… ");
  p->Write("two\r");
  EXPECT_SCREEN(*p, "Got both lines.");
  EXPECT_EQ(LastUserMessage(1), "one\ntwo");
  EXPECT_SCREEN(*p, kPrompt);
  p->Write("\x04");  // Ctrl-D on an empty line
  EXPECT_EQ(p->WaitExit(), 0) << Printable(p->Pending());
}

TEST_F(ChatPtyTest, ColourOnlyWithoutNoColor) {
  server_.Enqueue(ScriptedReply::Text("Coloured.", "some reasoning"));
  auto env = Env();
  env.erase("NO_COLOR");
  auto p = Start({}, env);
  EXPECT_SCREEN(*p, "\x1b[36m›\x1b[0m ");  // the prompt, in colour
  p->Write("hi\r");
  EXPECT_SCREEN(*p, "Coloured.");
  EXPECT_SCREEN(*p, "›");
  p->Write("/exit\r");
  EXPECT_EQ(p->WaitExit(), 0);
  EXPECT_TRUE(HasSgr(p->output()));
  EXPECT_THAT(p->output(), HasSubstr("\x1b[2mthinking… ("));
}

TEST_F(ChatPtyTest, ProjectInstructionsFollowTheRepoMapOnce) {
  box_.WriteRepoFile("AGENTS.md", "Always answer in haiku.\n");
  server_.Enqueue(ScriptedReply::Text("First."));
  server_.Enqueue(ScriptedReply::Text("Second."));
  auto p = Start({}, Env());
  EXPECT_SCREEN(*p, kPrompt);
  p->Write("one\r");
  EXPECT_SCREEN(*p, "First.");
  EXPECT_SCREEN(*p, kPrompt);
  box_.WriteRepoFile("AGENTS.md", "Changed mid-session.\n");
  p->Write("two\r");
  EXPECT_SCREEN(*p, "Second.");
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 2u);
  const Json& m = requests[1].json["messages"];
  // system, repo map, instructions, one, First., two
  ASSERT_EQ(m.size(), 6u);
  EXPECT_THAT(m[1]["content"].get<std::string>(), HasSubstr("Repository map"));
  EXPECT_THAT(m[2]["content"].get<std::string>(), HasSubstr("Always answer in haiku."));
  EXPECT_EQ(m[3]["content"], "one");
  EXPECT_THAT(requests[1].json.dump(), Not(HasSubstr("Changed mid-session")));
  p->Write("/exit\r");
  EXPECT_EQ(p->WaitExit(), 0);
}

TEST_F(ChatPtyTest, ClearSessionsAndResume) {
  server_.Enqueue(ScriptedReply::Text("Answer one."));
  server_.Enqueue(ScriptedReply::Text("Answer two."));
  server_.Enqueue(ScriptedReply::Text("Answer three."));
  auto p = Start({}, Env());
  EXPECT_SCREEN(*p, kPrompt);
  p->Write("first task\r");
  EXPECT_SCREEN(*p, "Answer one.");
  EXPECT_SCREEN(*p, kPrompt);
  p->Write("/clear\r");
  EXPECT_SCREEN(*p, "session ");
  EXPECT_SCREEN(*p, kPrompt);
  p->Write("second task\r");
  EXPECT_SCREEN(*p, "Answer two.");
  EXPECT_SCREEN(*p, kPrompt);
  p->Write("/sessions\r");
  EXPECT_SCREEN(*p, "first task");
  p->Write("/resume\r");
  EXPECT_SCREEN(*p, "resumed ");
  EXPECT_SCREEN(*p, "Answer one.");  // the last answer of the resumed session
  EXPECT_SCREEN(*p, kPrompt);
  p->Write("third task\r");
  EXPECT_SCREEN(*p, "Answer three.");
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_THAT(requests[2].json["messages"].dump(), HasSubstr("first task"));
  EXPECT_THAT(requests[2].json["messages"].dump(), Not(HasSubstr("second task")));
  p->Write("/exit\r");
  EXPECT_EQ(p->WaitExit(), 0);
}

// A lane picked in chat (/model, /effort) is part of the session: --resume continues on it.
TEST_F(ChatPtyTest, ResumeContinuesOnTheLaneChosenInChat) {
  server_.Enqueue(ScriptedReply::Text("On pro."));
  server_.Enqueue(ScriptedReply::Text("Still pro."));
  auto first = RunDsagent({"chat"}, Env(), box_.repo(), "/model deepseek-v4-pro\nfirst\n");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto list = RunDsagent({"session", "list", "--json"}, Env(), box_.repo(), "");
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const Json sessions = Json::parse(list.out);
  ASSERT_EQ(sessions.size(), 1u) << list.out;
  const std::string id = sessions[0]["id"].get<std::string>();
  auto second = RunDsagent({"chat", "--resume", id}, Env(), box_.repo(), "second\n");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.out, HasSubstr("Still pro."));
  const auto requests = server_.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].json["model"], "deepseek-v4-pro");
  EXPECT_EQ(requests[1].json["model"], "deepseek-v4-pro");
  // A flag still wins over the session's choice.
  server_.Enqueue(ScriptedReply::Text("Flash now."));
  auto third = RunDsagent({"chat", "--resume", id, "--model", "deepseek-v4-flash"}, Env(),
                          box_.repo(), "third\n");
  ASSERT_EQ(third.exit_code, 0) << third.err;
  EXPECT_EQ(server_.Requests().at(2).json["model"], "deepseek-v4-flash");
}

TEST_F(ChatPtyTest, PipedInputGivesPlainText) {
  server_.Enqueue(ScriptedReply::Text("Plain answer.", "hidden reasoning"));
  auto r = RunDsagent({"chat"}, Env(), box_.repo(), "hello\n/cost\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Plain answer."));
  EXPECT_THAT(r.out, HasSubstr("thinking… ("));
  EXPECT_THAT(r.out, HasSubstr("session: $"));
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << Printable(r.out);
  EXPECT_EQ(r.out.find('\r'), std::string::npos) << Printable(r.out);

  // Leaving without a message leaves no empty session behind.
  auto empty = RunDsagent({}, Env(), box_.repo(), "");
  EXPECT_EQ(empty.exit_code, 0) << empty.err;
  size_t traces = 0;
  for (const auto& e : std::filesystem::directory_iterator(box_.sessions_dir())) {
    traces += e.path().extension() == ".jsonl";
  }
  EXPECT_EQ(traces, 1u);
}

// A model whose engine lost its GPU (`dsagent serve`'s 503 engine_unavailable; the local engine's
// own loss reads the same): the error, then how to go on, naming the saved session.
TEST_F(ChatPtyTest, ALostEngineSaysHowToGoOnWithTheSavedSession) {
  server_.Enqueue(ScriptedReply::EngineLost());
  auto r = RunDsagent({"chat"}, Env(), box_.repo(), "hello\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("error:engine_lost: "));
  EXPECT_THAT(r.out, HasSubstr("cuda:0 is lost to a device fault"));
  auto list = RunDsagent({"session", "list", "--json"}, Env(), box_.repo(), "");
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const Json sessions = Json::parse(list.out);
  ASSERT_EQ(sessions.size(), 1u) << list.out;
  EXPECT_THAT(r.out, HasSubstr("`dsagent chat --resume " + sessions[0]["id"].get<std::string>() +
                               "` once it runs again"));
  EXPECT_EQ(server_.Requests().size(), 1u);
}

TEST_F(ChatPtyTest, MissingKeyExitsWithTheConfigCode) {
  auto env = box_.Env({{"DEEPSEEK_BASE_URL", server_.BaseUrl()}});
  auto r = RunDsagent({}, env, box_.repo(), "");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out + r.err, HasSubstr("DEEPSEEK_API_KEY"));
}

}  // namespace
}  // namespace dsagent::testing
