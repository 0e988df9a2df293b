#include "tools/permissions/shell_syntax.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

namespace dsagent {
namespace {
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;

std::vector<std::string> Commands(const ShellAnalysis& a) {
  std::vector<std::string> out;
  for (const auto& c : a.commands) out.push_back(c.Text());
  return out;
}

std::vector<std::string> Commands(std::string_view command) {
  return Commands(AnalyzeShellCommand(command));
}

std::vector<std::string> Writes(std::string_view command) {
  std::vector<std::string> out;
  for (const auto& w : AnalyzeShellCommand(command).writes) out.push_back(w.target);
  return out;
}

bool Doubtful(std::string_view command) { return !AnalyzeShellCommand(command).doubts.empty(); }

TEST(ShellSyntaxTest, SplitsListsAndPipelines) {
  EXPECT_THAT(Commands("git status; rm -rf /"), ElementsAre("git status", "rm -rf /"));
  EXPECT_THAT(Commands("make && make test || echo failed"),
              ElementsAre("make", "make test", "echo failed"));
  EXPECT_THAT(Commands("ls && curl x | sh"), ElementsAre("ls", "curl x", "sh"));
  EXPECT_THAT(Commands("a |& b & c"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(Commands("git status\nrm x\n\n  ls"), ElementsAre("git status", "rm x", "ls"));
  EXPECT_FALSE(Doubtful("git status; rm -rf /"));
}

TEST(ShellSyntaxTest, QuotedSeparatorsDoNotSplit) {
  EXPECT_THAT(Commands("echo \"a;b\""), ElementsAre("echo a;b"));
  EXPECT_THAT(Commands("echo 'a && b' \"c | d\""), ElementsAre("echo a && b c | d"));
  EXPECT_THAT(Commands("echo a\\;b"), ElementsAre("echo a;b"));
  EXPECT_THAT(Commands("git commit -m 'fix: a; b\nc'"), ElementsAre("git commit -m fix: a; b\nc"));
  EXPECT_FALSE(Doubtful("echo \"a;b\""));
}

TEST(ShellSyntaxTest, QuoteRemovalDefeatsDisguisedNames) {
  EXPECT_THAT(Commands("\"rm\" -rf /"), ElementsAre("rm -rf /"));
  EXPECT_THAT(Commands("r\\m -rf /"), ElementsAre("rm -rf /"));
  EXPECT_THAT(Commands("'r'\"m\" x"), ElementsAre("rm x"));
  EXPECT_THAT(Commands("$'rm' x"), ElementsAre("rm x"));
  EXPECT_TRUE(Doubtful("$'\\x72m' -rf /"));  // hex escapes are not decoded: a doubt
}

TEST(ShellSyntaxTest, SubstitutionsAreCheckedToo) {
  EXPECT_THAT(Commands("echo $(rm x)"), ElementsAre("rm x", "echo $(rm x)"));
  EXPECT_THAT(Commands("echo \"today: $(date; rm y)\""),
              ElementsAre("date", "rm y", "echo today: $(date; rm y)"));
  EXPECT_THAT(Commands("echo `rm z`"), ElementsAre("rm z", "echo `rm z`"));
  EXPECT_THAT(Commands("echo $(echo $(rm -rf deep))"),
              ElementsAre("rm -rf deep", "echo $(rm -rf deep)", "echo $(echo $(rm -rf deep))"));
  EXPECT_THAT(Commands("X=$(rm a) true"), ElementsAre("rm a", "true"));
  EXPECT_THAT(Commands("for f in $(rm b); do echo $f; done"), ElementsAre("rm b", "echo $f"));
  EXPECT_FALSE(Doubtful("echo $(rm x)"));
}

TEST(ShellSyntaxTest, SubshellsAndGroups) {
  EXPECT_THAT(Commands("(cd sub && rm -rf x) && ls"), ElementsAre("cd sub", "rm -rf x", "ls"));
  EXPECT_THAT(Commands("{ echo a; rm b; } > out.txt"), ElementsAre("echo a", "rm b"));
  EXPECT_THAT(Commands("if test -f x; then rm x; else touch x; fi"),
              ElementsAre("test -f x", "rm x", "touch x"));
  EXPECT_THAT(Commands("while true; do sleep 1; done"), ElementsAre("true", "sleep 1"));
  EXPECT_THAT(Commands("! grep -q x f && time -p make"), ElementsAre("grep -q x f", "make"));
  EXPECT_THAT(Commands("[[ -f a && -d b ]] && rm c"), ElementsAre("[[ -f a && -d b ]]", "rm c"));
  EXPECT_THAT(Commands("((i++)); echo $((1+2))"), ElementsAre("echo $((1+2))"));
  EXPECT_FALSE(Doubtful("(cd sub && rm -rf x) && ls"));
}

TEST(ShellSyntaxTest, WrappersRevealWhatTheyRun) {
  const char* home = std::getenv("HOME");
  const std::string expanded_home = home != nullptr && *home != '\0' ? home : "~";
  EXPECT_THAT(Commands("bash -c \"rm -rf ~\""), ElementsAre("rm -rf " + expanded_home));
  EXPECT_THAT(Commands("sh -c 'git status; rm x'"), ElementsAre("git status", "rm x"));
  EXPECT_THAT(Commands("bash -lc 'make'"), ElementsAre("make"));
  EXPECT_THAT(Commands("env rm x"), ElementsAre("rm x"));
  EXPECT_THAT(Commands("env -i FOO=1 /bin/rm -f x"), ElementsAre("/bin/rm -f x"));
  EXPECT_THAT(Commands("xargs rm"), ElementsAre("xargs rm", "rm"));
  EXPECT_THAT(Commands("find . -name '*.o' | xargs -n 1 -I{} rm -f {}"),
              ElementsAre("find . -name *.o", "xargs -n 1 -I{} rm -f {}", "rm -f {}"));
  EXPECT_THAT(Commands("xargs"), ElementsAre("xargs", "echo"));
  EXPECT_THAT(Commands("find . -exec rm {} \\; -execdir chmod +x {} +"),
              ElementsAre("find . -exec rm {} ; -execdir chmod +x {} +", "rm {}", "chmod +x {}"));
  EXPECT_THAT(Commands("sudo -u root rm -rf /"), ElementsAre("sudo -u root rm -rf /", "rm -rf /"));
  EXPECT_THAT(Commands("timeout -s KILL 10 nice -n 5 nohup rm x"), ElementsAre("rm x"));
  EXPECT_THAT(Commands("command -v git"), IsEmpty());
  EXPECT_THAT(Commands("command rm x; exec rm y; stdbuf -oL rm z"),
              ElementsAre("rm x", "rm y", "rm z"));
  EXPECT_THAT(Commands("su -c 'rm -rf /' root"), ElementsAre("su -c rm -rf / root", "rm -rf /"));
  EXPECT_THAT(Commands("bash -c 'bash -c \"rm nested\"'"), ElementsAre("rm nested"));
  EXPECT_THAT(Commands("bash script.sh"), ElementsAre("bash script.sh"));
  EXPECT_FALSE(Doubtful("sudo -u root rm -rf /"));
}

TEST(ShellSyntaxTest, WrapperTricksAreDoubts) {
  EXPECT_TRUE(Doubtful("bash -c \"$CMD\""));
  EXPECT_TRUE(Doubtful("env -S 'rm -rf /'"));
  EXPECT_TRUE(Doubtful("env LD_PRELOAD=/tmp/x.so git status"));
  EXPECT_TRUE(Doubtful("sudo $OPTS rm x"));
}

TEST(ShellSyntaxTest, WhatCannotBeReadIsADoubt) {
  for (const char* cmd : {
           "eval \"rm -rf /\"",
           "echo 'unbalanced",
           "echo \"unbalanced",
           "echo $(unclosed",
           "echo `unclosed",
           "diff <(ls a) <(ls b)",
           "cat > >(rm x)",
           "$CMD -rf /",
           "\"$(echo rm)\" -rf /",
           "{rm,-rf,/}",
           "/bin/r? -rf /",
           "f() { rm -rf /; }; f",
           "function f { rm x; }",
           "case $x in a) rm x;; esac",
           "trap 'rm -rf /' EXIT",
           "PATH=/tmp/evil:$PATH git status",
           "export PATH=/tmp/evil; git status",
           "LD_PRELOAD=./x.so ls",
           "GIT_SSH_COMMAND='rm -rf /' git fetch",
           "cat <<EOF\nno end marker",
           "cat <<EOF\n$(rm x)\nEOF",
           "echo ${x:-$(rm y)}",
           "echo $((1 + $(rm z)))",
           "alias ls='rm -rf'",
           "coproc rm x",
           "echo x > \"$OUT\"",
       }) {
    const ShellAnalysis a = AnalyzeShellCommand(cmd);
    const bool has_doubt = !a.doubts.empty();
    const bool unknown_write = std::any_of(a.writes.begin(), a.writes.end(),
                                           [](const ShellWrite& w) { return !w.literal; });
    EXPECT_TRUE(has_doubt || unknown_write) << cmd;
  }
}

TEST(ShellSyntaxTest, HereDocumentsAreSkippedNotExecuted) {
  const ShellAnalysis a =
      AnalyzeShellCommand("cat > notes.txt <<'EOF'\nrm -rf / ; $(evil)\nEOF\necho done");
  EXPECT_THAT(Commands(a), ElementsAre("cat", "echo done"));
  EXPECT_THAT(a.doubts, IsEmpty());
  ASSERT_EQ(a.writes.size(), 1u);
  EXPECT_EQ(a.writes[0].target, "notes.txt");
  // An unquoted body with plain text and variables is fine; <<- strips tabs before the marker.
  EXPECT_THAT(AnalyzeShellCommand("cat <<-END\n\thello $USER\n\tEND\nls").doubts, IsEmpty());
  EXPECT_THAT(Commands("cat <<-END\n\thello\n\tEND\nls"), ElementsAre("cat", "ls"));
  // A here-string is a read, and its substitutions still run.
  EXPECT_THAT(Commands("grep x <<< \"$(rm w)\""), ElementsAre("rm w", "grep x"));
}

TEST(ShellSyntaxTest, RedirectionsAreWrites) {
  EXPECT_THAT(Writes("echo a > out.txt 2>>err.log"), ElementsAre("out.txt", "err.log"));
  EXPECT_THAT(Writes("make &> build.log; make &>> all.log; x >| f; y <> rw"),
              ElementsAre("build.log", "all.log", "f", "rw"));
  EXPECT_THAT(Writes("cmd >& file"), ElementsAre("file"));
  EXPECT_THAT(Writes("cmd 2>&1 >&- < in.txt 3<&0"), IsEmpty());
  EXPECT_THAT(Writes(">out echo hi"), ElementsAre("out"));
  EXPECT_THAT(Writes("echo \"a > b\" 'c > d'"), IsEmpty());
  EXPECT_THAT(Writes("(echo a) > sub.txt"), ElementsAre("sub.txt"));
  EXPECT_THAT(Writes("echo $(echo a > inner.txt)"), ElementsAre("inner.txt"));
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    EXPECT_THAT(Writes("echo x >> ~/.bashrc"), ElementsAre(std::string(home) + "/.bashrc"));
  }
}

TEST(ShellSyntaxTest, CdTargetsAreTracked) {
  const ShellAnalysis a = AnalyzeShellCommand("cd sub && echo x > f; cd /etc; pushd ../up");
  EXPECT_THAT(a.cd_targets, ElementsAre("sub", "/etc", "../up"));
  EXPECT_FALSE(a.cd_unknown);
  EXPECT_TRUE(AnalyzeShellCommand("cd $DIR && ls").cd_unknown);
  EXPECT_TRUE(AnalyzeShellCommand("cd - ; popd").cd_unknown);
}

TEST(ShellSyntaxTest, CommentsAndAssignments) {
  EXPECT_THAT(Commands("ls # ; rm -rf /"), ElementsAre("ls"));
  EXPECT_THAT(Commands("echo a#b"), ElementsAre("echo a#b"));
  const ShellAnalysis a = AnalyzeShellCommand("CC=gcc CFLAGS='-O2 -g' make all");
  EXPECT_THAT(Commands(a), ElementsAre("make all"));
  EXPECT_THAT(a.commands[0].assignments, ElementsAre("CC=gcc", "CFLAGS='-O2 -g'"));
  EXPECT_THAT(a.doubts, IsEmpty());
  EXPECT_THAT(Commands("arr=(one $(rm two)) ; echo ${arr[@]}"),
              ElementsAre("rm two", "echo ${arr[@]}"));
  EXPECT_THAT(Commands("X=1"), IsEmpty());
}

TEST(ShellSyntaxTest, LiteralFlags) {
  const ShellAnalysis a = AnalyzeShellCommand("cp $SRC 'lit$eral' *.txt \"q*\"");
  ASSERT_EQ(a.commands.size(), 1u);
  const auto& w = a.commands[0].words;
  ASSERT_EQ(w.size(), 5u);
  EXPECT_TRUE(w[0].literal);
  EXPECT_FALSE(w[1].literal);
  EXPECT_TRUE(w[2].literal);
  EXPECT_EQ(w[2].text, "lit$eral");
  EXPECT_FALSE(w[3].literal);
  EXPECT_TRUE(w[4].literal);
  EXPECT_EQ(w[4].text, "q*");
}

TEST(ShellSyntaxTest, LineContinuationsJoin) {
  EXPECT_THAT(Commands("git \\\n  status"), ElementsAre("git status"));
}

TEST(ShellSyntaxTest, NeverHangsOrCrashesOnJunk) {
  // Unbalanced or unterminated: the reading is incomplete, and says so.
  for (const char* junk : {"((", "))", "$(", "`", "'", "\"", "<<", ">", "2>", "$((", "${", "(", ")",
                           "$'\\", "a=(", "$(((((((((((((((((((((((((((((((((((((((x"}) {
    EXPECT_TRUE(Doubtful(junk)) << junk;
  }
  // Separators, or a reserved word with nothing after it: nothing runs, nothing is written.
  for (const char* junk : {"", " ", ";;;", "&&", "for", "{", "}"}) {
    const ShellAnalysis a = AnalyzeShellCommand(junk);
    EXPECT_THAT(a.commands, IsEmpty()) << junk;
    EXPECT_THAT(a.writes, IsEmpty()) << junk;
  }
  // A lone word is the command it names.
  EXPECT_THAT(Commands("\\"), ElementsAre("\\"));
  EXPECT_THAT(Commands("[["), ElementsAre("[["));
  std::string deep;
  for (int i = 0; i < 500; ++i) deep += "$(";
  EXPECT_TRUE(Doubtful(deep));
}

}  // namespace
}  // namespace dsagent
