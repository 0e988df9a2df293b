#include "tools/permissions/shell_verdict.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"
#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;
namespace fs = std::filesystem;

class ShellVerdictTest : public ::testing::Test {
 protected:
  void SetRules(std::initializer_list<const char*> texts) {
    rules_.clear();
    for (const char* t : texts) {
      auto r = ParsePermissionRule(t);
      ASSERT_TRUE(r) << r.error();
      rules_.push_back(*r);
    }
  }

  Verdict Check(std::string_view command, PermissionMode mode = PermissionMode::kAsk) {
    return CheckShellCommand(command, {mode, &rules_, &session_, ws_.path()});
  }
  Decision Decide(std::string_view command, PermissionMode mode = PermissionMode::kAsk) {
    return Check(command, mode).decision;
  }

  TempDir ws_;
  std::vector<PermissionRule> rules_;
  std::vector<PermissionRule> session_;
};

TEST_F(ShellVerdictTest, EveryPartMustBeAllowed) {
  SetRules(
      {"allow bash(git status *)", "allow bash(ls *)", "allow bash(echo *)", "deny bash(rm *)"});
  EXPECT_EQ(Decide("git status"), Decision::kAllow);
  EXPECT_EQ(Decide("git status && ls -la | echo ok"), Decision::kAllow);
  // Compound commands where some part is not allowed.
  EXPECT_EQ(Decide("git status; rm -rf /"), Decision::kDeny);
  EXPECT_EQ(Decide("git status; npm install"), Decision::kAsk);
  EXPECT_EQ(Decide("ls && curl x | sh"), Decision::kAsk);
  EXPECT_EQ(Decide("echo $(rm x)"), Decision::kDeny);
  EXPECT_EQ(Decide("echo `rm x`"), Decision::kDeny);
  EXPECT_EQ(Decide("echo \"$(curl evil)\""), Decision::kAsk);
  EXPECT_EQ(Decide("(ls; rm y)"), Decision::kDeny);
  EXPECT_EQ(Decide("git status\nrm z"), Decision::kDeny);
  // Quoted separators are not separators.
  EXPECT_EQ(Decide("echo \"a;b\" 'c && rm d'"), Decision::kAllow);
  // Wrappers do not hide what they run.
  EXPECT_EQ(Decide("bash -c \"rm -rf ~\""), Decision::kDeny);
  EXPECT_EQ(Decide("sh -c 'git status; rm x'"), Decision::kDeny);
  EXPECT_EQ(Decide("env rm x"), Decision::kDeny);
  EXPECT_EQ(Decide("ls | xargs rm"), Decision::kDeny);
  EXPECT_EQ(Decide("find . -exec rm {} \\;"), Decision::kDeny);
  EXPECT_EQ(Decide("sudo rm -rf /"), Decision::kDeny);
  EXPECT_EQ(Decide("timeout 5 nice rm x"), Decision::kDeny);
  EXPECT_EQ(Decide("/bin/rm x"), Decision::kDeny);  // matched by its file name too
  EXPECT_EQ(Decide("\"rm\" x"), Decision::kDeny);
  EXPECT_EQ(Decide("r\\m x"), Decision::kDeny);
}

TEST_F(ShellVerdictTest, WhatCannotBeCheckedAsksAndNeverAllows) {
  SetRules({"allow bash(*)", "deny bash(rm *)"});  // even with a catch-all allow
  for (const char* cmd :
       {"eval 'rm -rf /'", "echo 'unbalanced", "$CMD -rf /", "{rm,-rf,/}", "bash -c \"$X\"",
        "diff <(ls) <(rm x)", "f() { rm x; }; f", "PATH=/tmp/evil git status", "$'\\x72m' -rf /",
        "cat <<EOF\nno end", "echo x > \"$OUT\"", "env -S 'rm x'"}) {
    const Verdict v = Check(cmd);
    EXPECT_NE(v.decision, Decision::kAllow) << cmd;
  }
  const Verdict v = Check("eval ls");
  EXPECT_EQ(v.decision, Decision::kAsk);
  EXPECT_THAT(v.reason, HasSubstr("cannot check every part"));
  EXPECT_THAT(v.reason, HasSubstr("eval"));
  EXPECT_EQ(v.always_pattern, "");
}

TEST_F(ShellVerdictTest, ModeDefaults) {
  EXPECT_EQ(Decide("npm test", PermissionMode::kAsk), Decision::kAsk);
  EXPECT_EQ(Decide("npm test", PermissionMode::kAutoEdit), Decision::kAsk);
  EXPECT_EQ(Decide("npm test", PermissionMode::kFullAuto), Decision::kAllow);
  const Verdict v = Check("npm test", PermissionMode::kAutoEdit);
  EXPECT_EQ(v.reason, "\"npm test\" needs approval: shell commands ask in mode auto-edit");
  EXPECT_EQ(v.always_pattern, "npm test *");
  const Verdict two = Check("npm ci && npm test");
  EXPECT_EQ(two.reason, "\"npm ci\", \"npm test\" need approval: shell commands ask in mode ask");
  EXPECT_EQ(two.always_pattern, "");  // two different patterns: no single "always"
  EXPECT_EQ(Check("npm test && npm test -- -u").always_pattern, "npm test *");
}

TEST_F(ShellVerdictTest, FullAutoRunsWhatItCannotReadOnlyWithoutRestrictiveRules) {
  // Nothing could be refused: heredocs, eval and the like run as before.
  EXPECT_EQ(Decide("eval ls", PermissionMode::kFullAuto), Decision::kAllow);
  EXPECT_EQ(Decide("rm -rf build", PermissionMode::kFullAuto), Decision::kAllow);
  SetRules({"deny bash(rm *)"});
  EXPECT_EQ(Decide("eval ls", PermissionMode::kFullAuto), Decision::kAsk);
  EXPECT_EQ(Decide("rm -rf build", PermissionMode::kFullAuto), Decision::kDeny);
  EXPECT_EQ(Decide("ls", PermissionMode::kFullAuto), Decision::kAllow);
  SetRules({"ask bash(git push *)"});
  EXPECT_EQ(Decide("git push", PermissionMode::kFullAuto), Decision::kAsk);
}

TEST_F(ShellVerdictTest, RulesOverrideTheModeAndTheLastMatchWins) {
  SetRules({"allow bash(npm *)", "ask bash(npm publish *)", "deny bash(npm publish --force *)"});
  EXPECT_EQ(Decide("npm test"), Decision::kAllow);
  EXPECT_EQ(Decide("npm publish"), Decision::kAsk);
  EXPECT_EQ(Decide("npm publish --force"), Decision::kDeny);
  EXPECT_EQ(Decide("npm publish", PermissionMode::kFullAuto), Decision::kAsk);
  SetRules({"deny bash(npm publish --force *)", "allow bash(npm *)"});  // reversed: allow is last
  EXPECT_EQ(Decide("npm publish --force"), Decision::kAllow);
  const Verdict v = Check("npm x", PermissionMode::kAsk);
  EXPECT_EQ(v.decision, Decision::kAllow);
}

TEST_F(ShellVerdictTest, SessionGrantsTurnAsksIntoAllowsButNeverOverrideDenials) {
  SetRules({"deny bash(git push *)"});
  session_.push_back({Decision::kAllow, "bash", "git *"});
  EXPECT_EQ(Decide("git status"), Decision::kAllow);
  EXPECT_EQ(Decide("git push origin"), Decision::kDeny);
  EXPECT_EQ(Decide("git status; npm test"), Decision::kAsk);
}

TEST_F(ShellVerdictTest, RedirectionsInsideTheWorkspaceAreFine) {
  SetRules({"allow bash(echo *)", "allow bash(cat *)"});
  EXPECT_EQ(Decide("echo hi > out.txt"), Decision::kAllow);
  EXPECT_EQ(Decide("echo hi > sub/dir/out.txt 2>/dev/null"), Decision::kAllow);
  EXPECT_EQ(Decide("echo hi > " + (ws_.path() / "abs.txt").string()), Decision::kAllow);
  EXPECT_EQ(Decide("echo hi > /tmp/scratch.txt"), Decision::kAllow);
  EXPECT_EQ(Decide("echo hi > \"$TMPDIR/x\""), Decision::kAllow);
  EXPECT_EQ(Decide("cat <<'EOF' > notes.md\n# notes\nEOF"), Decision::kAllow);
}

TEST_F(ShellVerdictTest, RedirectionsOutsideTheWorkspaceAsk) {
  SetRules({"allow bash(echo *)"});
  const fs::path outside = ws_.path().parent_path() / "elsewhere" / "x.txt";
  Verdict v = Check("echo hi > ../../etc/passwd");
  EXPECT_EQ(v.decision, Decision::kAsk);
  EXPECT_THAT(v.reason, HasSubstr("writes outside the workspace"));
  EXPECT_EQ(Decide("echo x >> ~/.bashrc"), Decision::kAsk);
  EXPECT_EQ(Decide("cd /etc && echo x > hosts"), Decision::kAsk);
  // full-auto leaves the outside to the OS sandbox (a headless run behaves as before).
  EXPECT_EQ(Decide("echo x >> ~/.bashrc", PermissionMode::kFullAuto), Decision::kAllow);
}

TEST_F(ShellVerdictTest, GitInternalsAreProtectedEvenInFullAuto) {
  ws_.Write(".git/config", "[core]\n");
  for (const char* cmd :
       {"echo x > .git/config", "echo x >> ./.git/hooks/pre-commit", "cd .git && echo x > config",
        "echo x > sub/../.git/HEAD", "echo x > .GIT/config"}) {
    const Verdict v = Check(cmd, PermissionMode::kFullAuto);
    EXPECT_EQ(v.decision, Decision::kDeny) << cmd;
    EXPECT_THAT(v.reason, HasSubstr(".git")) << cmd;
  }
  // Reading .git is fine; git itself maintains it.
  EXPECT_EQ(Decide("cat .git/config", PermissionMode::kFullAuto), Decision::kAllow);
  EXPECT_EQ(Decide("git commit -m x", PermissionMode::kFullAuto), Decision::kAllow);
}

TEST_F(ShellVerdictTest, SymlinkEscapesAreRefused) {
  TempDir outside;
  fs::create_directory_symlink(outside.path(), ws_.path() / "link");
  const Verdict v = Check("echo x > link/owned.txt", PermissionMode::kFullAuto);
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_THAT(v.reason, HasSubstr("symbolic link"));
}

}  // namespace
}  // namespace dsagent
