// Read-only commands in the modes where shell commands ask: through the whole shell check
// (CheckShellCommand), since a bypass is a whole command line, not one word.
#include "tools/permissions/read_only_commands.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"
#include "tools/permissions/shell_verdict.h"

namespace dsagent {
namespace {

class ReadOnlyCommandsTest : public ::testing::Test {
 protected:
  Decision Decide(std::string_view command, PermissionMode mode = PermissionMode::kAsk) {
    return CheckShellCommand(command, {mode, &rules_, &session_, ws_.path()}).decision;
  }
  void SetRules(std::initializer_list<const char*> texts) {
    for (const char* t : texts) rules_.push_back(*ParsePermissionRule(t));
  }

  TempDir ws_;
  std::vector<PermissionRule> rules_;
  std::vector<PermissionRule> session_;
};

TEST_F(ReadOnlyCommandsTest, ReadsRunWithoutAskingInAskAndAutoEdit) {
  for (const char* cmd : {"cat calc.py",
                          "ls -la",
                          "head -n 5 a.txt",
                          "tail -n 3 a.txt",
                          "wc -l *.py",
                          "grep -rn 'def main' .",
                          "rg -n TODO src",
                          "find . -name '*.py' -type f",
                          "pwd",
                          "git status",
                          "git status --short",
                          "git diff HEAD~1 -- a.c",
                          "git log --oneline -5",
                          "git show HEAD:calc.py",
                          "git blame a.c",
                          "git ls-files",
                          "echo done",
                          "cat a.txt | grep x | sort | uniq -c | sort -rn | head",
                          "ls missing 2>/dev/null",
                          "cd src && ls",
                          "echo $(pwd)",
                          "cat `ls *.txt`",
                          "diff a.txt b.txt",
                          "stat a.txt",
                          "sort -k2 -n data.txt",
                          "uniq data.txt",
                          "du -sh .",
                          "which python3",
                          "printf '%s\\n' x",
                          "cat a.txt 2>&1"}) {
    EXPECT_EQ(Decide(cmd), Decision::kAllow) << cmd;
    EXPECT_EQ(Decide(cmd, PermissionMode::kAutoEdit), Decision::kAllow) << cmd;
  }
}

TEST_F(ReadOnlyCommandsTest, AnythingThatWritesOrRunsMoreStillAsks) {
  for (const char* cmd :
       {// Redirections that write a file, in the workspace or not.
        "cat a > b", "cat a >> b", "ls > /tmp/listing", "echo x > notes.txt", "grep x a 2> err.log",
        "cat a >| b", "ls &> out",
        // Substitutions and lists that run something else.
        "cat $(rm -f x)", "cat `touch x`", "ls; rm -f x", "ls && touch x", "ls || make",
        "cat a | sh", "cat a | tee b", "ls | xargs rm", "cat <(touch x)",
        // find's actions.
        "find . -exec rm {} \\;", "find . -execdir ls \\;", "find . -ok rm {} \\;",
        "find . -name '*.o' -delete", "find . -fprint out.txt", "find . -fls out.txt",
        "find . -fprintf out.txt '%p'",
        // git: other subcommands, global options before the subcommand, writing options.
        "git push", "git commit -m x", "git branch new", "git checkout .", "git stash",
        "git -c core.pager=evil log", "git -c diff.external=evil diff", "git -C .. status",
        "git --exec-path=/tmp status", "git diff --output=patch.txt", "git diff --out=p",
        "git log -p --ext-diff", "git show --output=x", "git",
        // Environment that changes what runs.
        "GIT_EXTERNAL_DIFF=evil git diff", "FOO=1 cat a", "PAGER=evil git log",
        "env GIT_EXTERNAL_DIFF=evil git diff", "printf -v PATH /tmp/evil",
        // Paths and options of the table's commands that write or run.
        "./ls", "/tmp/cat a", "sort -o out a", "sort -uo out a", "sort --output=out a",
        "sort --out=out a", "sort --compress-program=evil a", "uniq in.txt out.txt",
        "rg --pre evil x", "rg --pre=evil x",
        // What the reader cannot follow.
        "eval ls", "cat a; f() { rm x; }; f", "$CMD a", "c\"a\"t x > y"}) {
    EXPECT_NE(Decide(cmd), Decision::kAllow) << cmd;
  }
}

TEST_F(ReadOnlyCommandsTest, RulesAndTheReadOnlyModeStillDecide) {
  EXPECT_EQ(Decide("cat a.txt", PermissionMode::kReadOnly), Decision::kDeny);
  SetRules({"ask bash(cat .env*)", "deny bash(git log *)"});
  EXPECT_EQ(Decide("cat .env"), Decision::kAsk);
  EXPECT_EQ(Decide("cat a.txt"), Decision::kAllow);
  EXPECT_EQ(Decide("git log"), Decision::kDeny);
}

TEST_F(ReadOnlyCommandsTest, OneCommandByItself) {
  const auto command = [](std::vector<std::string> words) {
    ShellCommand c;
    for (auto& w : words) c.words.push_back({w, w, true});
    return c;
  };
  EXPECT_TRUE(IsReadOnlyCommand(command({"cat", "a"})));
  EXPECT_FALSE(IsReadOnlyCommand(command({"rm", "a"})));
  EXPECT_FALSE(IsReadOnlyCommand(command({"/bin/cat", "a"})));
  ShellCommand with_env = command({"cat", "a"});
  with_env.assignments.push_back("LC_ALL=C");
  EXPECT_FALSE(IsReadOnlyCommand(with_env));
  ShellCommand unknown_name = command({"$X", "a"});
  unknown_name.words[0].literal = false;
  EXPECT_FALSE(IsReadOnlyCommand(unknown_name));
}

}  // namespace
}  // namespace dsagent
