// The completion scripts of a small app: what each names, and (for the shells installed here)
// that the shell accepts the script. The real binary's scripts are checked in cli_basics_test.
#include "agent/cli/completion.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/command_output.h"
#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
using ::testing::HasSubstr;

class CompletionTest : public ::testing::Test {
 protected:
  CompletionTest() {
    auto* run = app_.add_subcommand("run", "Run it's task");  // a quote in a description
    run->add_option("task", task_, "The task");
    run->add_option("--provider", value_, "Provider")->check(CLI::IsMember({"alpha", "beta"}));
    run->add_option("--repo", value_, "Workspace");
    run->add_flag("-v,--verbose", flag_, "More");
    auto* engine = app_.add_subcommand("engine", "Engine tools");
    auto* tok = engine->add_subcommand("tokenize", "Tokenize: text to ids");
    auto* group = tok->add_option_group("source");
    group->add_option("--tokenizer", value_, "A tokenizer.json");
  }

  CLI::App app_{"tool"};
  std::string task_, value_;
  bool flag_ = false;
};

TEST_F(CompletionTest, EveryShellNamesEveryCommandAndFlag) {
  for (const std::string& shell : CompletionShells()) {
    auto script = CompletionScript(app_, "tool", shell);
    ASSERT_TRUE(script) << shell;
    for (const char* word : {"run", "engine", "tokenize", "alpha", "beta"}) {
      EXPECT_THAT(*script, HasSubstr(word)) << shell << ": " << word;
    }
    for (const std::string flag : {"provider", "repo", "verbose", "tokenizer", "help"}) {
      // fish declares long options as `-l NAME`; bash and zsh offer `--NAME` itself.
      const std::string spelled = shell == "fish" ? "-l '" + flag + "'" : "--" + flag;
      EXPECT_THAT(*script, HasSubstr(spelled)) << shell << ": " << flag;
    }
  }
  EXPECT_FALSE(CompletionScript(app_, "tool", "powershell"));
}

// Runs `shell -n` (syntax check only) on the script; skipped where the shell is not installed.
void ExpectShellAccepts(const std::string& shell, const std::string& script) {
  TempDir dir;
  if (testing::RunCommand("command -v " + shell, dir.path()).exit_code != 0) {
    GTEST_SKIP() << shell << " is not installed";
  }
  dir.Write("script", script);
  const auto r = testing::RunCommand(shell + " -n " + (dir.path() / "script").string(), dir.path());
  EXPECT_EQ(r.exit_code, 0) << shell << ":\n" << r.err << "\n" << script;
}

TEST_F(CompletionTest, BashAcceptsItsScript) {
  ExpectShellAccepts("bash", *CompletionScript(app_, "tool", "bash"));
}
TEST_F(CompletionTest, ZshAcceptsItsScript) {
  ExpectShellAccepts("zsh", *CompletionScript(app_, "tool", "zsh"));
}
TEST_F(CompletionTest, FishAcceptsItsScript) {
  ExpectShellAccepts("fish", *CompletionScript(app_, "tool", "fish"));
}

// bash: completing after `tool run --provider ` offers the choices; after `tool engine `, the
// subcommand. Drives the completion function the way bash does.
TEST_F(CompletionTest, BashCompletesChoicesAndSubcommands) {
  TempDir dir;
  dir.Write("script", *CompletionScript(app_, "tool", "bash"));
  const auto complete = [&](const std::string& words, int cword) {
    const std::string cmd = "bash -c '. " + (dir.path() / "script").string() + "; COMP_WORDS=(" +
                            words + "); COMP_CWORD=" + std::to_string(cword) +
                            "; _tool_complete; printf \"%s\\n\" \"${COMPREPLY[@]}\"'";
    return testing::RunCommand(cmd, dir.path()).out;
  };
  EXPECT_EQ(complete("tool run --provider \"\"", 3), "alpha\nbeta\n");
  EXPECT_EQ(complete("tool engine to", 2), "tokenize\n");
  EXPECT_EQ(complete("tool run --verb", 2), "--verbose\n");
}

}  // namespace
}  // namespace dsagent
