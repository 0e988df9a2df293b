// The approval prompt, answered through a scripted reader: every choice, the edit flow with the
// command pre-typed, re-asking on nonsense, and Ctrl-C answering "no" and cancelling the step.
#include "agent/ui/terminal_approver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/agent/ui/ui_test_util.h"

namespace dsagent::testing {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;

ApprovalRequest BashRequest() {
  ApprovalRequest r;
  r.call = {"c1", "bash", R"({"command":"rm -rf build"})"};
  r.summary = "bash: rm -rf build";
  r.reason = "shell commands ask in mode auto-edit";
  r.always_pattern = "rm *";
  return r;
}

ApprovalRequest EditRequest() {
  ApprovalRequest r;
  r.call = {"c2", "write_file", R"({"path":"a.txt","content":"new\n"})"};
  r.summary = "write_file: a.txt";
  r.reason = "edits ask in mode ask";
  r.always_pattern = "a.txt";
  r.diff = "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-old\n+new\n";
  return r;
}

struct Asked {
  ApprovalReply reply;
  std::string screen;
  ScriptedReader reader;
  bool cancelled = false;
};

Asked Ask(const ApprovalRequest& request, std::vector<InputEvent> answers) {
  MemoryScreen mem;
  Asked out{{}, "", ScriptedReader(std::move(answers)), false};
  TerminalApprover approver(mem.screen(), out.reader);
  CancelToken cancel;
  approver.set_cancel(cancel);
  out.reply = approver.Ask(request);
  out.screen = mem.text();
  out.cancelled = cancel.IsCancelled();
  return out;
}

TEST(TerminalApproverTest, ShowsTheCallWhyAndTheChoices) {
  const Asked a = Ask(BashRequest(), {ScriptedReader::Line("y")});
  EXPECT_EQ(a.reply.choice, ApprovalChoice::kYes);
  EXPECT_THAT(a.screen, HasSubstr("approve bash: rm -rf build"));
  EXPECT_THAT(a.screen, HasSubstr("shell commands ask in mode auto-edit"));
  EXPECT_THAT(a.screen, HasSubstr("always \"rm *\""));
  EXPECT_THAT(a.screen, HasSubstr("e edit"));
  EXPECT_THAT(a.screen, Not(HasSubstr("\033[")));  // no colour on this screen
  EXPECT_FALSE(a.cancelled);
}

TEST(TerminalApproverTest, AlwaysAndAlwaysWithSave) {
  const Asked always = Ask(BashRequest(), {ScriptedReader::Line(" A ")});
  EXPECT_EQ(always.reply.choice, ApprovalChoice::kAlways);
  EXPECT_FALSE(always.reply.persist);
  const Asked save = Ask(BashRequest(), {ScriptedReader::Line("s")});
  EXPECT_EQ(save.reply.choice, ApprovalChoice::kAlways);
  EXPECT_TRUE(save.reply.persist);
}

TEST(TerminalApproverTest, NoTakesAnOptionalNoteForTheModel) {
  const Asked a =
      Ask(BashRequest(), {ScriptedReader::Line("n"), ScriptedReader::Line("use make clean")});
  EXPECT_EQ(a.reply.choice, ApprovalChoice::kNo);
  EXPECT_EQ(a.reply.feedback, "use make clean");
  const Asked skipped = Ask(BashRequest(), {ScriptedReader::Line("no"), ScriptedReader::Line("")});
  EXPECT_EQ(skipped.reply.choice, ApprovalChoice::kNo);
  EXPECT_EQ(skipped.reply.feedback, "");
}

TEST(TerminalApproverTest, EditPreTypesTheCommand) {
  const Asked a =
      Ask(BashRequest(), {ScriptedReader::Line("e"), ScriptedReader::Line("rm -rf build/tmp")});
  EXPECT_EQ(a.reply.choice, ApprovalChoice::kEdit);
  EXPECT_EQ(a.reply.edited_command, "rm -rf build/tmp");
  ASSERT_EQ(a.reader.initials.size(), 2u);
  EXPECT_EQ(a.reader.initials[1], "rm -rf build");
}

TEST(TerminalApproverTest, NonsenseIsAskedAgainAndEditIsOnlyForShellCommands) {
  const Asked a = Ask(EditRequest(), {ScriptedReader::Line("maybe"), ScriptedReader::Line("e"),
                                      ScriptedReader::Line("y")});
  EXPECT_EQ(a.reply.choice, ApprovalChoice::kYes);
  EXPECT_EQ(a.reader.prompts.size(), 3u);
  EXPECT_THAT(a.screen, HasSubstr("answer y, n, a, s (Ctrl-C: no)"));
  EXPECT_THAT(a.screen, Not(HasSubstr("e edit")));
  // The edit's diff is shown before the question.
  EXPECT_THAT(a.screen, HasSubstr("-old"));
  EXPECT_THAT(a.screen, HasSubstr("+new"));
}

TEST(TerminalApproverTest, CtrlCOrEndOfInputIsNoAndCancelsTheStep) {
  const Asked a = Ask(BashRequest(), {ScriptedReader::Interrupt()});
  EXPECT_EQ(a.reply.choice, ApprovalChoice::kNo);
  EXPECT_TRUE(a.cancelled);
  const Asked eof = Ask(BashRequest(), {});
  EXPECT_EQ(eof.reply.choice, ApprovalChoice::kNo);
  EXPECT_TRUE(eof.cancelled);
}

TEST(TerminalApproverTest, AStepCancelledWhileAskingGetsNo) {
  MemoryScreen mem;
  ScriptedReader reader({ScriptedReader::Line("y")});
  TerminalApprover approver(mem.screen(), reader);
  CancelToken cancel;
  cancel.Cancel();  // e.g. the turn's time limit fired while the prompt was up
  approver.set_cancel(cancel);
  EXPECT_EQ(approver.Ask(BashRequest()).choice, ApprovalChoice::kNo);
}

}  // namespace
}  // namespace dsagent::testing
