#include "agent/patch/issue_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "agent/patch/patch_run.h"
#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;

TEST(IssueSourceTest, TitleIsTheFirstNonEmptyLineWithoutHashes) {
  auto t = IssueFromText("\n\n## Crash on empty input  \r\nDetails here.\n");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->title, "Crash on empty input");
  EXPECT_THAT(t->text, HasSubstr("Details here."));
  EXPECT_FALSE(IssueFromText("  \n\n"));
}

TEST(IssueSourceTest, GithubIssuesAndCommentEvents) {
  TempDir dir;
  auto issue = IssueFromGithubEvent(dir.Write(
      "issues.json", R"({"action":"opened","issue":{"number":7,"title":"T","body":"B"}})"));
  ASSERT_TRUE(issue) << issue.error();
  EXPECT_EQ(issue->number, 7);
  EXPECT_EQ(issue->text, "# T (#7)\n\nB");
  auto null_body = IssueFromGithubEvent(
      dir.Write("null.json", R"({"issue":{"number":1,"title":"Only a title","body":null}})"));
  ASSERT_TRUE(null_body);
  EXPECT_EQ(null_body->title, "Only a title");
  auto push = IssueFromGithubEvent(dir.Write("push.json", R"({"ref":"refs/heads/main"})"));
  ASSERT_FALSE(push);
  EXPECT_THAT(push.error(), HasSubstr("no `issue` object"));
  EXPECT_FALSE(IssueFromGithubEvent(dir.Write("bad.json", "{")));
  EXPECT_FALSE(IssueFromGithubEvent(dir.path() / "missing.json"));
}

// Payloads shaped like the ones GitHub Actions exposes as $GITHUB_EVENT_PATH.
TEST(IssueSourceTest, GithubEventFixtures) {
  const std::filesystem::path dir = DSAGENT_SOURCE_DIR "/tests/agent/patch/fixtures";
  auto opened = IssueFromGithubEvent(dir / "issues_opened.json");
  ASSERT_TRUE(opened) << opened.error();
  EXPECT_EQ(opened->number, 17);
  EXPECT_EQ(opened->title, "Parser crashes on an empty file");
  EXPECT_EQ(opened->text,
            "# Parser crashes on an empty file (#17)\n\nRunning `parse` on an empty file "
            "segfaults.\n\nExpected: an empty result.");

  auto comment = IssueFromGithubEvent(dir / "issue_comment_created.json");
  ASSERT_TRUE(comment) << comment.error();
  EXPECT_EQ(comment->number, 23);
  EXPECT_EQ(comment->title, "Typo in --help output");
  EXPECT_EQ(comment->text,
            "# Typo in --help output (#23)\n\n\n\n## Latest comment\n\n/dsagent the word is "
            "spelled \"receive\", please fix it everywhere");
}

TEST(PatchCommitMessageTest, TitleSummaryAndIssueReference) {
  IssueTask t;
  t.title = std::string(100, 'x');
  t.number = 12;
  const std::string msg = PatchCommitMessage(t, "Did the thing.");
  EXPECT_EQ(msg.substr(0, msg.find('\n')).size(), 72u);
  EXPECT_THAT(msg, HasSubstr("\n\nDid the thing.\n"));
  EXPECT_THAT(msg, HasSubstr("Fixes #12"));
}

}  // namespace
}  // namespace dsagent
