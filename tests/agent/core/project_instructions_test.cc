#include "agent/core/project_instructions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;

TEST(ProjectInstructionsTest, NoFilesNoMessage) {
  TempDir dir;
  EXPECT_EQ(ProjectInstructionsMessage(dir.path()), "");
}

TEST(ProjectInstructionsTest, RepositoryRootFirstThenTheWorkspace) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / ".git");
  dir.Write("AGENTS.md", "Use tabs.\n");
  dir.Write("sub/CLAUDE.md", "Run make check.");
  dir.Write("sub/AGENTS.md", "Sub rules.\n");
  const auto ws = dir.path() / "sub";
  const auto files = FindProjectInstructionFiles(ws);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], dir.path() / "AGENTS.md");
  EXPECT_EQ(files[1], ws / "AGENTS.md");
  EXPECT_EQ(files[2], ws / "CLAUDE.md");
  const std::string m = ProjectInstructionsMessage(ws);
  EXPECT_THAT(m, HasSubstr("## ../AGENTS.md\n\nUse tabs.\n"));
  EXPECT_THAT(m, HasSubstr("## AGENTS.md\n\nSub rules.\n"));
  EXPECT_THAT(m, HasSubstr("## CLAUDE.md\n\nRun make check.\n"));
  EXPECT_LT(m.find("Use tabs."), m.find("Sub rules."));
}

TEST(ProjectInstructionsTest, OutsideARepositoryOnlyTheWorkspaceCounts) {
  TempDir dir;
  dir.Write("AGENTS.md", "parent\n");
  dir.Write("ws/AGENTS.md", "mine\n");
  const std::string m = ProjectInstructionsMessage(dir.path() / "ws");
  EXPECT_THAT(m, HasSubstr("mine"));
  EXPECT_THAT(m, ::testing::Not(HasSubstr("parent")));
}

TEST(ProjectInstructionsTest, HugeFilesAreCut) {
  TempDir dir;
  dir.Write("AGENTS.md", std::string(kMaxProjectInstructionBytes + 100, 'x'));
  const std::string m = ProjectInstructionsMessage(dir.path());
  EXPECT_THAT(m, HasSubstr("[... cut"));
  EXPECT_LT(m.size(), kMaxProjectInstructionBytes + 400);
}

}  // namespace
}  // namespace dsagent
