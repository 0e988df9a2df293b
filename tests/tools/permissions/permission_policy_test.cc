#include "tools/permissions/permission_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/json.h"
#include "tests/support/temp_dir.h"
#include "tests/tools/tool_test_util.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string Args(const Json& j) { return j.dump(); }
std::string Bash(const std::string& command) { return Args({{"command", command}}); }
std::string Write(const std::string& path) { return Args({{"path", path}, {"content", "x"}}); }
std::string Path(const std::string& path) { return Args({{"path", path}}); }

class PermissionPolicyTest : public ::testing::Test {
 protected:
  PermissionPolicy Make(PermissionMode mode, std::initializer_list<const char*> rules = {}) {
    PermissionSettings s;
    s.mode = mode;
    s.workspace = ws_.path();
    for (const char* t : rules) s.rules.push_back(*ParsePermissionRule(t));
    return PermissionPolicy(std::move(s));
  }

  TempDir ws_;
};

TEST_F(PermissionPolicyTest, ModeDefaults) {
  struct Row {
    PermissionMode mode;
    Decision read, edit, shell, other;
  };
  const Row rows[] = {
      {PermissionMode::kReadOnly, Decision::kAllow, Decision::kDeny, Decision::kDeny,
       Decision::kDeny},
      {PermissionMode::kAsk, Decision::kAllow, Decision::kAsk, Decision::kAsk, Decision::kAsk},
      {PermissionMode::kAutoEdit, Decision::kAllow, Decision::kAllow, Decision::kAsk,
       Decision::kAsk},
      {PermissionMode::kFullAuto, Decision::kAllow, Decision::kAllow, Decision::kAllow,
       Decision::kAllow},
  };
  for (const Row& row : rows) {
    const PermissionPolicy p = Make(row.mode);
    const std::string mode = PermissionModeName(row.mode);
    for (const char* read : {"read_file", "list_files", "glob", "grep", "git_status", "git_diff",
                             "git_log", "repo_map"}) {
      EXPECT_EQ(p.Check(read, Path("a.txt")).decision, row.read) << mode << " " << read;
    }
    EXPECT_EQ(p.Check("write_file", Write("a.txt")).decision, row.edit) << mode;
    EXPECT_EQ(p.Check("edit_file", Path("a.txt")).decision, row.edit) << mode;
    EXPECT_EQ(p.Check("bash", Bash("make")).decision, row.shell) << mode;
    EXPECT_EQ(p.Check("web_fetch", Args({{"url", "x"}})).decision, row.other) << mode;
  }
}

TEST_F(PermissionPolicyTest, ReadOnlyIsACeilingNoRuleLifts) {
  const PermissionPolicy p = Make(PermissionMode::kReadOnly, {"allow bash(*)", "allow edit"});
  const Verdict v = p.Check("bash", Bash("ls"));
  EXPECT_EQ(v.decision, Decision::kDeny);
  EXPECT_EQ(v.reason, "shell commands are not allowed in mode read-only");
  EXPECT_EQ(p.Check("write_file", Write("a")).decision, Decision::kDeny);
  EXPECT_EQ(p.Check("read_file", Path("a")).decision, Decision::kAllow);
}

TEST_F(PermissionPolicyTest, EditsOutsideTheWorkspaceOrInGitAreDeniedInEveryMode) {
  TempDir outside;
  fs::create_directory_symlink(outside.path(), ws_.path() / "escape");
  for (PermissionMode mode :
       {PermissionMode::kAsk, PermissionMode::kAutoEdit, PermissionMode::kFullAuto}) {
    const PermissionPolicy p = Make(mode, {"allow edit"});
    for (const std::string& path :
         {std::string("../x.txt"), std::string("/etc/passwd"), std::string("a/../../x"),
          std::string(".git/config"), std::string("sub/.git/HEAD"), std::string("escape/x.txt"),
          (outside.path() / "y").string()}) {
      const Verdict v = p.Check("write_file", Write(path));
      EXPECT_EQ(v.decision, Decision::kDeny) << PermissionModeName(mode) << " " << path;
      EXPECT_FALSE(v.reason.empty());
    }
    EXPECT_EQ(p.Check("edit_file", Path("src/ok.cc")).decision, Decision::kAllow);
    // Reading .git stays allowed.
    EXPECT_EQ(p.Check("read_file", Path(".git/config")).decision, Decision::kAllow);
  }
  EXPECT_THAT(Make(PermissionMode::kFullAuto).Check("write_file", Write(".git/config")).reason,
              HasSubstr(".git"));
  EXPECT_THAT(Make(PermissionMode::kFullAuto).Check("write_file", Write("escape/x")).reason,
              HasSubstr("symbolic link"));
}

TEST_F(PermissionPolicyTest, PathRulesMatchTheWorkspaceRelativePath) {
  const PermissionPolicy p =
      Make(PermissionMode::kAsk,
           {"allow edit(src/**)", "deny write_file(src/generated/**)", "deny read_file(.env)"});
  EXPECT_EQ(p.Check("edit_file", Path("src/a.cc")).decision, Decision::kAllow);
  EXPECT_EQ(p.Check("write_file", Write("./src/b/c.cc")).decision, Decision::kAllow);
  EXPECT_EQ(p.Check("write_file", Write((ws_.path() / "src/x.h").string())).decision,
            Decision::kAllow);
  const Verdict gen = p.Check("write_file", Write("src/generated/x.cc"));
  EXPECT_EQ(gen.decision, Decision::kDeny);
  EXPECT_EQ(
      gen.reason,
      "write_file src/generated/x.cc is denied by rule \"deny write_file(src/generated/**)\"");
  const Verdict other = p.Check("write_file", Write("docs/a.md"));
  EXPECT_EQ(other.decision, Decision::kAsk);
  EXPECT_EQ(other.reason, "write_file docs/a.md needs approval: file edits ask in mode ask");
  EXPECT_EQ(other.always_pattern, "docs/**");
  EXPECT_EQ(p.Check("read_file", Path(".env")).decision, Decision::kDeny);
}

TEST_F(PermissionPolicyTest, SessionGrants) {
  PermissionPolicy p = Make(PermissionMode::kAsk, {"deny bash(git push *)"});
  EXPECT_EQ(p.Check("bash", Bash("git stash")).decision, Decision::kAsk);  // not read-only
  p.AllowForSession("bash", "git *");
  EXPECT_EQ(p.Check("bash", Bash("git stash")).decision, Decision::kAllow);
  EXPECT_EQ(p.Check("bash", Bash("git push")).decision, Decision::kDeny);

  EXPECT_EQ(p.Check("write_file", Write("src/a")).decision, Decision::kAsk);
  p.AllowForSession("write_file", "src/**");
  EXPECT_EQ(p.Check("write_file", Write("src/a")).decision, Decision::kAllow);
  EXPECT_EQ(p.Check("edit_file", Path("src/a")).decision, Decision::kAsk);  // another tool

  // An exact-call grant: the same command again, even with other arguments around it.
  const std::string heredoc = "cat <<EOF > x\n$(date)\nEOF";
  EXPECT_EQ(p.Check("bash", Bash(heredoc)).decision, Decision::kAsk);
  p.AllowCallForSession("bash", Bash(heredoc));
  EXPECT_EQ(p.Check("bash", Args({{"command", heredoc}, {"timeout_s", 5}})).decision,
            Decision::kAllow);
  EXPECT_EQ(p.session_rules().size(), 2u);
}

TEST_F(PermissionPolicyTest, ModeCanChange) {
  PermissionPolicy p = Make(PermissionMode::kAsk);
  EXPECT_EQ(p.mode(), PermissionMode::kAsk);
  p.SetMode(PermissionMode::kFullAuto);
  EXPECT_EQ(p.Check("bash", Bash("make")).decision, Decision::kAllow);
  p.SetMode(PermissionMode::kReadOnly);
  EXPECT_EQ(p.Check("bash", Bash("make")).decision, Decision::kDeny);
}

TEST_F(PermissionPolicyTest, MalformedArgumentsAreLeftToTheRegistry) {
  const PermissionPolicy p = Make(PermissionMode::kAsk);
  EXPECT_EQ(p.Check("bash", "{not json").decision, Decision::kAllow);
  EXPECT_EQ(p.Check("bash", "[1]").decision, Decision::kAllow);
}

TEST(PermissionModeTest, NamesRoundTrip) {
  for (PermissionMode m : {PermissionMode::kReadOnly, PermissionMode::kAsk,
                           PermissionMode::kAutoEdit, PermissionMode::kFullAuto}) {
    EXPECT_EQ(ParsePermissionMode(PermissionModeName(m)), m);
  }
  EXPECT_FALSE(ParsePermissionMode("yolo"));
  EXPECT_EQ(MostRestrictive(Decision::kAllow, Decision::kAsk), Decision::kAsk);
  EXPECT_EQ(MostRestrictive(Decision::kDeny, Decision::kAsk), Decision::kDeny);
}

}  // namespace
}  // namespace dsagent
