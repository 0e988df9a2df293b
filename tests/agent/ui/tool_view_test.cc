#include "agent/ui/tool_view.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"
#include "tools/bash.h"

namespace dsagent {
namespace {

ToolCall Call(const std::string& name, const std::string& args) { return {"c", name, args}; }

TEST(ToolViewTest, KeyArguments) {
  EXPECT_EQ(ToolKeyArgument(Call("bash", R"({"command":"make test\n && echo ok"})")),
            "make test⏎ && echo ok");
  EXPECT_EQ(ToolKeyArgument(Call("read_file", R"({"path":"a.cc","start_line":10,"end_line":40})")),
            "a.cc:10-40");
  EXPECT_EQ(ToolKeyArgument(Call("read_file", R"({"path":"a.cc"})")), "a.cc");
  EXPECT_EQ(ToolKeyArgument(Call("grep", R"({"pattern":"Foo","path":"src"})")), "'Foo' in src");
  EXPECT_EQ(ToolKeyArgument(Call("edit_file", R"({"path":"x.py","old_string":"a"})")), "x.py");
  EXPECT_EQ(ToolKeyArgument(Call("git_status", "{}")), "");
  EXPECT_EQ(ToolKeyArgument(Call("bash", "not json")), "");
}

TEST(ToolViewTest, ShellSummaryAndBody) {
  ToolResult r;
  r.ok = false;
  r.output = "FAIL a\nFAIL b\n[exit code: 1]";
  r.details = {{"exit_code", 1}, {"timed_out", false}, {"interrupted", false}};
  const ToolCall call = Call("bash", R"({"command":"make"})");
  EXPECT_EQ(ToolResultSummary(call, r), "exit 1 · 2 lines");
  EXPECT_EQ(ToolResultBody(call, r), "FAIL a\nFAIL b\n");
  r.details["timed_out"] = true;
  EXPECT_EQ(ToolResultSummary(call, r), "timed out · 2 lines");
}

TEST(ToolViewTest, EditSummaryCountsTheDiff) {
  ToolResult r;
  r.output = "Edited a.c: replaced 1 occurrence";
  r.details = {{"path", "a.c"},
               {"replacements", 1},
               {"created", false},
               {"diff", "--- a/a.c\n+++ b/a.c\n@@ -1 +1,2 @@\n-x\n+y\n+z\n"}};
  const ToolCall call = Call("edit_file", R"({"path":"a.c"})");
  EXPECT_EQ(ToolResultSummary(call, r), "+2 -1");
  EXPECT_EQ(ToolResultBody(call, r), "");
  r.details["created"] = true;
  EXPECT_EQ(ToolResultSummary(call, r), "created · +2 -1");
}

// A tool's error text starts with "Error: " for the model; the summary says "error:" once.
TEST(ToolViewTest, AFailingToolSaysErrorOnce) {
  TempDir parent;
  ToolContext ctx;
  ctx.workspace = parent.path() / "gone";  // the shell cannot start in it
  const ToolCall call = Call("bash", R"({"command":"ls"})");
  const ToolResult r = MakeBashTool()->Run(Json::parse(call.arguments), ctx);
  ASSERT_FALSE(r.ok);
  ASSERT_EQ(r.output.rfind("Error: ", 0), 0u) << r.output;
  const std::string summary = ToolResultSummary(call, r);
  EXPECT_EQ(summary, "error: working directory " + ctx.workspace.string() + " does not exist");
}

TEST(ToolViewTest, ErrorsAndPlainResults) {
  ToolResult err;
  err.ok = false;
  err.output = "path '../x' is outside the workspace\nmore detail";
  const ToolCall read = Call("read_file", R"({"path":"../x"})");
  EXPECT_EQ(ToolResultSummary(read, err), "error: path '../x' is outside the workspace");
  EXPECT_EQ(ToolResultBody(read, err), "more detail");
  ToolResult ok;
  ok.output = "1\n2\n3\n";
  EXPECT_EQ(ToolResultSummary(read, ok), "3 lines");
  EXPECT_EQ(ToolResultBody(read, ok), "");
}

}  // namespace
}  // namespace dsagent
