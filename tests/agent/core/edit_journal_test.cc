#include "agent/core/edit_journal.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/file_io.h"
#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class EditJournalTest : public TempDirTest {
 protected:
  std::string Read(const std::string& rel) { return ReadFileToString(dir_ / rel).value(); }
  static ToolCall Edit(const std::string& path) {
    return {"c", "edit_file", R"({"path":")" + path + R"(","old_string":"x","new_string":"y"})"};
  }
  static ToolCall WriteCall(const std::string& path) {
    return {"c", "write_file", R"({"path":")" + path + R"(","content":"z"})"};
  }
};

TEST_F(EditJournalTest, UndoRestoresEditedFilesAndRemovesCreatedOnes) {
  Write("a.txt", "before\n");
  EditJournal j(std::filesystem::canonical(dir_));
  j.BeginTurn();
  j.BeforeTool(Edit("a.txt"));
  Write("a.txt", "after\n");
  j.BeforeTool(Edit("a.txt"));  // the turn's first before-image counts
  Write("a.txt", "after again\n");
  j.BeforeTool(WriteCall("sub/new.txt"));
  Write("sub/new.txt", "new\n");
  j.BeforeTool({"c", "bash", R"({"command":"touch x"})"});  // not tracked
  j.EndTurn();
  ASSERT_TRUE(j.CanUndo());

  const auto r = j.UndoLastTurn(false);
  EXPECT_THAT(r.restored, ElementsAre("a.txt"));
  EXPECT_THAT(r.removed, ElementsAre("sub/new.txt"));
  EXPECT_THAT(r.skipped, IsEmpty());
  EXPECT_EQ(Read("a.txt"), "before\n");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "sub/new.txt"));
  EXPECT_FALSE(j.CanUndo());
}

TEST_F(EditJournalTest, UndoGoesBackOneTurnAtATime) {
  Write("a.txt", "v1");
  EditJournal j(std::filesystem::canonical(dir_));
  for (const char* next : {"v2", "v3"}) {
    j.BeginTurn();
    j.BeforeTool(Edit("a.txt"));
    Write("a.txt", next);
    j.EndTurn();
  }
  j.UndoLastTurn(false);
  EXPECT_EQ(Read("a.txt"), "v2");
  j.UndoLastTurn(false);
  EXPECT_EQ(Read("a.txt"), "v1");
}

TEST_F(EditJournalTest, AFileChangedSinceTheTurnIsLeftAloneUnlessForced) {
  Write("a.txt", "v1");
  EditJournal j(std::filesystem::canonical(dir_));
  j.BeginTurn();
  j.BeforeTool(Edit("a.txt"));
  Write("a.txt", "v2");
  j.EndTurn();
  Write("a.txt", "user's own change");
  auto r = j.UndoLastTurn(false);
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_THAT(r.skipped[0], ::testing::HasSubstr("changed since"));
  EXPECT_EQ(Read("a.txt"), "user's own change");

  j.BeginTurn();
  j.BeforeTool(Edit("a.txt"));
  Write("a.txt", "v3");
  j.EndTurn();
  Write("a.txt", "changed again");
  r = j.UndoLastTurn(true);
  EXPECT_THAT(r.restored, ElementsAre("a.txt"));
  EXPECT_EQ(Read("a.txt"), "user's own change");
}

TEST_F(EditJournalTest, TurnsWithoutChangesAndUnsafePathsAreNotRecorded) {
  Write("a.txt", "same");
  EditJournal j(std::filesystem::canonical(dir_));
  j.BeginTurn();
  j.BeforeTool(Edit("a.txt"));           // the edit failed: nothing changed
  j.BeforeTool(Edit("../outside.txt"));  // refused by the tool as well
  j.BeforeTool({"c", "edit_file", "not json"});
  j.EndTurn();
  EXPECT_FALSE(j.CanUndo());
}

TEST_F(EditJournalTest, SessionChangesCompareTheFirstBeforeImageWithNow) {
  Write("a.txt", "v1");
  EditJournal j(std::filesystem::canonical(dir_));
  for (const char* next : {"v2", "v3"}) {
    j.BeginTurn();
    j.BeforeTool(Edit("a.txt"));
    j.BeforeTool(WriteCall("b.txt"));
    Write("a.txt", next);
    Write("b.txt", next);
    j.EndTurn();
  }
  const auto changes = j.SessionChanges();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].path, "a.txt");
  EXPECT_EQ(changes[0].before, "v1");
  EXPECT_EQ(changes[0].now, "v3");
  EXPECT_EQ(changes[1].path, "b.txt");
  EXPECT_FALSE(changes[1].before.has_value());
}

}  // namespace
}  // namespace dsagent
