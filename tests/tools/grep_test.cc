#include "tools/grep.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;

class GrepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_.Write(".gitignore", "ignored/\n");
    ws_.Write("b.txt", "nothing\nTODO: b\n");
    ws_.Write("a.txt", "one\nTODO: first\nthree\nTODO: second\n");
    ws_.Write("src/x.py", "# todo lower\nprint('TODO')\n");
    ws_.Write("ignored/y.txt", "TODO: hidden\n");
    ws_.Write("blob.bin", std::string("TODO\0binary", 11));
    ASSERT_EQ(testing::Git(ws_, "init -q"), 0);
  }
  ToolResult Grep(Json args) { return tool_->Run(args, ctx_); }

  TempDir ws_;
  ToolContext ctx_ = testing::ContextIn(ws_);
  std::unique_ptr<Tool> tool_ = MakeGrepTool();
};

TEST_F(GrepTest, SortedByPathThenLineSkippingIgnoredAndBinary) {
  ToolResult r = Grep({{"pattern", "TODO"}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output,
            "a.txt:2:TODO: first\na.txt:4:TODO: second\nb.txt:2:TODO: b\n"
            "src/x.py:2:print('TODO')\n");
  EXPECT_EQ(r.details["matches"], 4);
  EXPECT_EQ(r.details["files"], 3);
}

TEST_F(GrepTest, CaseInsensitiveAndGlob) {
  ToolResult r = Grep({{"pattern", "todo"}, {"case_insensitive", true}, {"glob", "*.py"}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output, "src/x.py:1:# todo lower\nsrc/x.py:2:print('TODO')\n");
  EXPECT_EQ(Grep({{"pattern", "TODO"}, {"glob", "src/**"}}).output, "src/x.py:2:print('TODO')\n");
}

TEST_F(GrepTest, PerlSyntaxAndSingleFilePath) {
  ToolResult r = Grep({{"pattern", "^TODO:\\s+\\w+d$"}, {"path", "a.txt"}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output, "a.txt:4:TODO: second\n");
}

TEST_F(GrepTest, ContextLinesWithSeparators) {
  ws_.Write("c.txt", "1\n2\nhit\n4\n5\n6\n7\n8\nhit\n10\n");
  ToolResult r = Grep({{"pattern", "hit"}, {"path", "c.txt"}, {"context_lines", 1}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output,
            "c.txt-2-2\nc.txt:3:hit\nc.txt-4-4\n--\nc.txt-8-8\nc.txt:9:hit\nc.txt-10-10\n");
}

TEST_F(GrepTest, OverlappingContextIsPrintedOnce) {
  ws_.Write("c.txt", "hit\nx\nhit\n");
  ToolResult r = Grep({{"pattern", "hit"}, {"path", "c.txt"}, {"context_lines", 2}});
  EXPECT_EQ(r.output, "c.txt:1:hit\nc.txt-2-x\nc.txt:3:hit\n");
}

TEST_F(GrepTest, MatchCapAddsANote) {
  ctx_.grep_max_matches = 2;
  ToolResult r = Grep({{"pattern", "TODO"}});
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.output,
            "a.txt:2:TODO: first\na.txt:4:TODO: second\n"
            "[stopped after 2 matches; narrow the pattern, path or glob]\n");
  EXPECT_EQ(r.details["truncated"], true);
}

// The time limit, on a clock that advances one second each time grep reads it: once when the
// search starts, then once before each file (the walk of so few entries never reads it).
TEST_F(GrepTest, TimeLimitStopsBetweenFilesAndSaysTheResultsArePartial) {
  auto ticks = std::make_shared<int>(0);
  const auto t0 = std::chrono::steady_clock::now();
  ctx_.clock = [ticks, t0] { return t0 + std::chrono::seconds((*ticks)++); };
  // Five files in path order (.gitignore, a.txt, b.txt, blob.bin, src/x.py): the first three
  // start at 1, 2 and 3 s, the fourth would start at 4 s.
  ctx_.grep_time_limit_s = 3.5;
  ToolResult r = Grep({{"pattern", "TODO"}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output,
            "a.txt:2:TODO: first\na.txt:4:TODO: second\nb.txt:2:TODO: b\n"
            "[stopped after 3.5 s (tools.grep_time_limit_s); results are partial: 3 of 5 files "
            "searched in path order, up to b.txt. Narrow the search with path or glob (e.g. one "
            "directory at a time)]\n");
  EXPECT_EQ(r.details["timed_out"], true);
  EXPECT_EQ(r.details["files_searched"], 3);

  *ticks = 0;
  ctx_.grep_time_limit_s = 0;  // no limit
  r = Grep({{"pattern", "TODO"}});
  EXPECT_EQ(r.details["timed_out"], false);
  EXPECT_EQ(r.details["files_searched"], 5);
  EXPECT_THAT(r.output, HasSubstr("src/x.py:2:"));
}

TEST_F(GrepTest, TimeLimitCanEndTheWalkOfAWideTree) {
  for (int i = 0; i < 600; ++i) ws_.Write("wide/f" + std::to_string(i) + ".txt", "TODO\n");
  auto ticks = std::make_shared<int>(0);
  const auto t0 = std::chrono::steady_clock::now();
  ctx_.clock = [ticks, t0] { return t0 + std::chrono::hours((*ticks)++); };  // past at once
  ctx_.grep_time_limit_s = 60;
  ToolResult r = Grep({{"pattern", "TODO"}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_THAT(r.output, HasSubstr("no matches for 'TODO' in the workspace (0 files searched)"));
  EXPECT_THAT(r.output, HasSubstr("the time ran out while listing files"));
  EXPECT_EQ(r.details["timed_out"], true);
}

TEST_F(GrepTest, NamesWithControlCharactersAreShownAsJsonStrings) {
  ws_.Write(std::string("new\nline.txt"), "TODO: n\n");
  ToolResult r = Grep({{"pattern", "TODO: n"}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output, "\"new\\nline.txt\":1:TODO: n\n");
}

TEST_F(GrepTest, OutputByteCapKeepsHeadAndTail) {
  std::string many;
  for (int i = 0; i < 200; ++i) many += "match " + std::to_string(i) + "\n";
  ws_.Write("many.txt", many);
  ctx_.output_cap_bytes = 400;
  ToolResult r = Grep({{"pattern", "match"}, {"path", "many.txt"}});
  ASSERT_TRUE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("many.txt:1:match 0\n"));
  EXPECT_THAT(r.output, HasSubstr("many.txt:200:match 199\n"));
  EXPECT_THAT(r.output, HasSubstr("bytes omitted"));
}

TEST_F(GrepTest, InvalidRegexIsAClearError) {
  ToolResult r = Grep({{"pattern", "foo(bar"}});
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("invalid regex 'foo(bar'"));
}

TEST_F(GrepTest, NoMatchIsNotAnError) {
  ToolResult r = Grep({{"pattern", "zzz_nothing"}});
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("no matches for 'zzz_nothing'"));
}

TEST_F(GrepTest, PathOutsideWorkspaceIsRefused) {
  EXPECT_FALSE(Grep({{"pattern", "root"}, {"path", "/etc"}}).ok);
}

}  // namespace
}  // namespace dsagent
