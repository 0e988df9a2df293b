#include "agent/patch/issue_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
