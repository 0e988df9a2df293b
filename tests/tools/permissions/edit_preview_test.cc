#include "tools/permissions/edit_preview.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/json.h"
#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;

TEST(EditPreviewTest, WriteFileShowsTheWholeChange) {
  TempDir ws;
  ws.Write("a.txt", "one\ntwo\n");
  const std::string diff = PreviewEditDiff(
      "write_file", Json({{"path", "a.txt"}, {"content", "one\nTWO\n"}}).dump(), ws.path());
  EXPECT_THAT(diff, HasSubstr("--- a/a.txt"));
  EXPECT_THAT(diff, HasSubstr("-two\n+TWO\n"));
  EXPECT_EQ(ws.Read("a.txt"), "one\ntwo\n");  // nothing written
  const std::string created = PreviewEditDiff(
      "write_file", Json({{"path", "new/b.txt"}, {"content", "hi\n"}}).dump(), ws.path());
  EXPECT_THAT(created, HasSubstr("--- /dev/null"));
  EXPECT_THAT(created, HasSubstr("+hi"));
  EXPECT_FALSE(ws.Exists("new"));
}

TEST(EditPreviewTest, EditFileOnlyWhenTheMatchIsUnambiguous) {
  TempDir ws;
  ws.Write("a.cc", "int a = 1;\nint b = 1;\n");
  auto preview = [&](Json args) {
    args["path"] = "a.cc";
    return PreviewEditDiff("edit_file", args.dump(), ws.path());
  };
  EXPECT_THAT(preview({{"old_string", "a = 1"}, {"new_string", "a = 2"}}),
              HasSubstr("-int a = 1;\n+int a = 2;"));
  EXPECT_EQ(preview({{"old_string", "= 1"}, {"new_string", "= 2"}}), "");  // twice
  EXPECT_THAT(preview({{"old_string", "= 1"}, {"new_string", "= 2"}, {"replace_all", true}}),
              HasSubstr("+int b = 2;"));
  EXPECT_EQ(preview({{"old_string", "missing"}, {"new_string", "x"}}), "");
}

TEST(EditPreviewTest, NothingForRefusedPathsOrOtherTools) {
  TempDir ws;
  EXPECT_EQ(
      PreviewEditDiff("write_file", Json({{"path", "../x"}, {"content", "y"}}).dump(), ws.path()),
      "");
  EXPECT_EQ(PreviewEditDiff("bash", Json({{"command", "ls"}}).dump(), ws.path()), "");
  EXPECT_EQ(PreviewEditDiff("write_file", "{broken", ws.path()), "");
}

}  // namespace
}  // namespace dsagent
