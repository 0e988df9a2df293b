#include "tools/read_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class ReadFileTest : public ::testing::Test {
 protected:
  ToolResult Read(Json args) { return tool_->Run(args, ctx_); }

  TempDir ws_;
  ToolContext ctx_ = testing::ContextIn(ws_);
  std::unique_ptr<Tool> tool_ = MakeReadFileTool();
};

TEST_F(ReadFileTest, NumbersLinesLikeCatN) {
  ws_.Write("a.txt", "first\nsecond\n");
  ToolResult r = Read({{"path", "a.txt"}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output, "     1\tfirst\n     2\tsecond\n");
  EXPECT_EQ(r.details["total_lines"], 2);
}

TEST_F(ReadFileTest, LastLineWithoutNewlineAndCrlfEndings) {
  ws_.Write("a.txt", "one\r\ntwo");
  EXPECT_EQ(Read({{"path", "a.txt"}}).output, "     1\tone\n     2\ttwo\n");
}

TEST_F(ReadFileTest, RangeIsInclusiveAndSaysWhatRemains) {
  ws_.Write("a.txt", "1\n2\n3\n4\n5\n6\n");
  ToolResult r = Read({{"path", "a.txt"}, {"start_line", 2}, {"end_line", 3}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_EQ(r.output,
            "     2\t2\n     3\t3\n[showing lines 2-3 of 6; 3 more lines: read them with "
            "start_line=4]\n");
}

TEST_F(ReadFileTest, DefaultLineCountThenNote) {
  ctx_.read_default_lines = 3;
  ws_.Write("a.txt", "a\nb\nc\nd\ne\n");
  ToolResult r = Read({{"path", "a.txt"}});
  EXPECT_THAT(r.output, HasSubstr("     3\tc\n[showing lines 1-3 of 5; 2 more lines"));
  EXPECT_THAT(r.output, Not(HasSubstr("\td\n")));
  ToolResult rest = Read({{"path", "a.txt"}, {"start_line", 4}});
  EXPECT_EQ(rest.output, "     4\td\n     5\te\n[end of file: 5 lines]\n");
}

TEST_F(ReadFileTest, EndBeyondFileIsClampedStartBeyondIsAnError) {
  ws_.Write("a.txt", "a\nb\n");
  EXPECT_TRUE(Read({{"path", "a.txt"}, {"start_line", 2}, {"end_line", 99}}).ok);
  ToolResult r = Read({{"path", "a.txt"}, {"start_line", 5}});
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("past the end"));
  EXPECT_THAT(r.output, HasSubstr("2 lines"));
  EXPECT_FALSE(Read({{"path", "a.txt"}, {"start_line", 3}, {"end_line", 2}}).ok);
}

TEST_F(ReadFileTest, SliceOverTheByteCapIsRefusedWithASmallerRange) {
  ctx_.read_max_bytes = 100;
  std::string content;
  for (int i = 0; i < 50; ++i) content += "0123456789\n";  // 18 bytes per numbered line
  ws_.Write("big.txt", content);
  ToolResult r = Read({{"path", "big.txt"}});
  ASSERT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("start_line=1 end_line=5"));
  ToolResult smaller = Read({{"path", "big.txt"}, {"start_line", 1}, {"end_line", 5}});
  EXPECT_TRUE(smaller.ok) << smaller.output;
}

TEST_F(ReadFileTest, OneHugeLineIsRefused) {
  ctx_.read_max_bytes = 100;
  ws_.Write("min.js", std::string(1000, 'x') + "\n");
  ToolResult r = Read({{"path", "min.js"}});
  ASSERT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("line 1 of 'min.js' alone is 1000 bytes"));
}

TEST_F(ReadFileTest, BinaryFilesAreRefused) {
  ws_.Write("nul.bin", std::string("abc\0def", 7));
  ToolResult nul = Read({{"path", "nul.bin"}});
  EXPECT_FALSE(nul.ok);
  EXPECT_THAT(nul.output, HasSubstr("binary"));
  std::string noise;
  for (int i = 0; i < 1000; ++i) noise += static_cast<char>(0x80 + (i * 37) % 0x7F);
  ws_.Write("noise.bin", noise);
  EXPECT_FALSE(Read({{"path", "noise.bin"}}).ok);
}

TEST_F(ReadFileTest, MostlyValidTextWithStrayBytesIsSanitised) {
  ws_.Write("latin1.txt", "caf\xE9 au lait, a longer line of plain ASCII text\n");
  ToolResult r = Read({{"path", "latin1.txt"}});
  ASSERT_TRUE(r.ok) << r.output;
  EXPECT_THAT(r.output, HasSubstr("caf\xEF\xBF\xBD au lait"));
}

TEST_F(ReadFileTest, MissingFileSuggestsSimilarNames) {
  ws_.Write("src/main.cc", "");
  ws_.Write("src/other.py", "");
  ToolResult r = Read({{"path", "src/mian.cc"}});
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.output, "Error: file 'src/mian.cc' does not exist; similar names in src/: main.cc");
  ToolResult no_dir = Read({{"path", "nope/x.cc"}});
  EXPECT_EQ(no_dir.output, "Error: file 'nope/x.cc' does not exist (nor does directory 'nope')");
}

TEST_F(ReadFileTest, DirectoryIsAnError) {
  fs::create_directories(ws_.path() / "src");
  ToolResult r = Read({{"path", "src"}});
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("is a directory; use list_files"));
}

TEST_F(ReadFileTest, EmptyFileIsFine) {
  ws_.Write("empty.txt", "");
  ToolResult r = Read({{"path", "empty.txt"}});
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.output, "[empty.txt is empty]");
}

TEST_F(ReadFileTest, PathsOutsideTheWorkspaceAreRefused) {
  ToolResult r = Read({{"path", "../../etc/passwd"}});
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.output, HasSubstr("outside the workspace"));
}

}  // namespace
}  // namespace dsagent
