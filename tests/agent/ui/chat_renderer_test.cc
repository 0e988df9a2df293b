// What a turn looks like on a plain (non-terminal) screen and on a colour terminal.
#include "agent/ui/chat_renderer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/agent/ui/ui_test_util.h"

namespace dsagent::testing {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;

Response Answer(std::string content, std::string reasoning = "") {
  Response r;
  r.message.role = Role::kAssistant;
  r.message.content = std::move(content);
  r.message.reasoning = std::move(reasoning);
  r.message.has_reasoning = !r.message.reasoning.empty();
  return r;
}

TEST(ChatRendererTest, ReasoningCollapsesToOneLineAndTheAnswerStreams) {
  MemoryScreen mem;
  ChatRenderer r(mem.screen(), {});
  r.OnStepStart(1, {"deepseek-v4-flash", true, "high"});
  r.OnReasoningDelta("Let me think about ");
  r.OnReasoningDelta("this carefully.");  // 34 bytes ~ 9 tokens
  r.OnContentDelta("Hello ");
  r.OnContentDelta("world");
  r.OnResponse(1, Answer("Hello world", "Let me think about this carefully."), 0.001);
  const std::string out = mem.text();
  EXPECT_EQ(out, "thinking… (9 tokens)\nHello world\n");
  EXPECT_EQ(r.last_reasoning(), "Let me think about this carefully.");
}

TEST(ChatRendererTest, ShownReasoningStreamsInFull) {
  MemoryScreen mem;
  ChatRenderer r(mem.screen(), {.show_reasoning = true});
  r.OnReasoningDelta("step one");
  r.OnContentDelta("done");
  r.OnResponse(1, Answer("done", "step one"), 0);
  EXPECT_EQ(mem.text(), "step one\ndone\n");
}

TEST(ChatRendererTest, ToolCallsShowKeyArgumentSummaryAndFoldedOutput) {
  MemoryScreen mem;
  ChatRenderer r(mem.screen(), {.fold_head = 2, .fold_tail = 1});
  const ToolCall call{"c1", "bash", R"({"command":"seq 10"})"};
  r.OnToolStart(call);
  ToolResult res;
  res.output = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n[exit code: 0]";
  res.details = {{"exit_code", 0}, {"timed_out", false}, {"interrupted", false}};
  r.OnToolResult(call, res);
  EXPECT_EQ(mem.text(),
            "● bash  seq 10\n"
            "  ⎿ exit 0 · 10 lines\n"
            "    1\n    2\n    … 7 lines folded\n    10\n");
}

TEST(ChatRendererTest, EditsShowTheirDiff) {
  MemoryScreen mem;
  ChatRenderer r(mem.screen(), {});
  const ToolCall call{"c1", "edit_file", R"({"path":"add.c"})"};
  r.OnToolStart(call);
  ToolResult res;
  res.output = "Edited add.c";
  res.details = {{"path", "add.c"},
                 {"replacements", 1},
                 {"created", false},
                 {"diff", "--- a/add.c\n+++ b/add.c\n@@ -1 +1 @@\n-a - b\n+a + b\n"}};
  r.OnToolResult(call, res);
  EXPECT_THAT(mem.text(), HasSubstr("● edit_file  add.c\n  ⎿ +1 -1\n"));
  EXPECT_THAT(mem.text(), HasSubstr("    -a - b\n    +a + b\n"));
}

TEST(ChatRendererTest, ADiffShownAtTheApprovalPromptIsNotRepeated) {
  MemoryScreen mem;
  ChatRenderer r(mem.screen(), {});
  const ToolCall call{"c7", "write_file", R"({"path":"a"})"};
  ToolResult res;
  res.output = "Created a";
  res.details = {
      {"path", "a"}, {"created", true}, {"diff", "--- /dev/null\n+++ b/a\n@@ -0,0 +1 @@\n+x\n"}};
  r.SkipDiffFor("c7");
  r.OnToolResult(call, res);
  EXPECT_EQ(mem.text(), "  ⎿ created · +1 -0\n");
  r.OnToolResult(call, res);  // only once
  EXPECT_THAT(mem.text(), HasSubstr("    +x\n"));
}

TEST(ChatRendererTest, LaneSwitchesAreNoted) {
  MemoryScreen mem;
  ChatRenderer r(mem.screen(), {});
  r.OnStepStart(1, {"deepseek-v4-flash", true, "high"});
  r.OnStepStart(2, {"deepseek-v4-pro", true, "max"});
  EXPECT_THAT(mem.text(), HasSubstr("flash·high → pro·max"));
}

TEST(ChatRendererTest, ColourTerminalDimsReasoningAndRewritesTheThinkingLine) {
  MemoryScreen mem({.tty = true, .color = true, .width = 80});
  ChatRenderer r(mem.screen(), {});
  r.OnReasoningDelta(std::string(400, 'x'));
  r.OnContentDelta("ok");
  const std::string out = mem.text();
  EXPECT_THAT(out, HasSubstr("\r\033[K"));  // the live line
  EXPECT_THAT(out, HasSubstr("\033[2mthinking… (100 tokens)\033[0m\nok"));
}

TEST(ChatRendererTest, PlainScreenHasNoEscapes) {
  MemoryScreen mem;
  ChatRenderer r(mem.screen(), {});
  r.OnReasoningDelta(std::string(400, 'x'));
  r.OnContentDelta("ok");
  r.OnRetry(1, "HTTP 503", std::chrono::milliseconds(500));
  const ToolCall call{"c1", "read_file", R"({"path":"missing"})"};
  r.OnToolStart(call);
  ToolResult res;
  res.ok = false;
  res.output = "no such file";
  r.OnToolResult(call, res);
  EXPECT_THAT(mem.text(), Not(HasSubstr("\033")));
  EXPECT_THAT(mem.text(), Not(HasSubstr("\r")));
  EXPECT_THAT(mem.text(), HasSubstr("retry 1 in 0.5s: HTTP 503"));
  EXPECT_THAT(mem.text(), HasSubstr("  ⎿ error: no such file"));
}

}  // namespace
}  // namespace dsagent::testing
