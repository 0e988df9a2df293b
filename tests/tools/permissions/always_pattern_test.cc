#include "tools/permissions/always_pattern.h"

#include <gtest/gtest.h>

namespace dsagent {
namespace {

std::string Suggest(std::string_view command) {
  const ShellAnalysis a = AnalyzeShellCommand(command);
  return a.commands.empty() ? "<none>" : SuggestCommandPattern(a.commands[0]);
}

TEST(AlwaysPatternTest, CommandsKeepTheirSubcommand) {
  EXPECT_EQ(Suggest("git status --short"), "git status *");
  EXPECT_EQ(Suggest("npm test"), "npm test *");
  EXPECT_EQ(Suggest("cargo build --release"), "cargo build *");
  EXPECT_EQ(Suggest("pytest -x tests/"), "pytest *");
  EXPECT_EQ(Suggest("ls -la"), "ls *");
}

TEST(AlwaysPatternTest, RiskyCommandsOnlyExactly) {
  EXPECT_EQ(Suggest("rm -rf build"), "rm -rf build");
  EXPECT_EQ(Suggest("curl https://x"), "curl https://x");
  EXPECT_EQ(Suggest("python3 script.py"), "python3 script.py");
  EXPECT_EQ(Suggest("git push origin main"), "git push origin main");
  EXPECT_EQ(Suggest("git -C other status"), "git -C other status");
  EXPECT_EQ(Suggest("make"), "make");
  EXPECT_EQ(Suggest("rm 'a*b'"), "rm a\\*b");  // wildcards in an exact pattern are escaped
  EXPECT_EQ(Suggest("$TOOL run"), "");
}

TEST(AlwaysPatternTest, PathsGeneraliseToTheirDirectory) {
  EXPECT_EQ(SuggestPathPattern("src/util/a.cc"), "src/util/**");
  EXPECT_EQ(SuggestPathPattern("README.md"), "README.md");
  EXPECT_EQ(SuggestPathPattern("we*rd/x"), "we[*]rd/**");
}

}  // namespace
}  // namespace dsagent
