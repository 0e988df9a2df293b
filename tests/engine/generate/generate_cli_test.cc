// `dsagent engine generate` end to end: the real binary on the tiny checkpoint with its test
// tokenizer. The weights are random, so the text is noise; what is checked is the contract:
// greedy and seeded sampling are reproducible, the stats line reports the request, errors exit 2.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>

#include "common/file_io.h"
#include "tests/support/temp_dir.h"

namespace dsagent::engine {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kModel = std::string(DSAGENT_SOURCE_DIR) + "/tests/data/v4-tiny";
const std::string kTokenizer =
    std::string(DSAGENT_SOURCE_DIR) + "/tests/data/v4-tiny-tokenizer/tokenizer.json";

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

CliResult Generate(const TempDir& dir, const std::string& args) {
  const auto out = dir.path() / "stdout.txt", err = dir.path() / "stderr.txt";
  const std::string cmd = std::string(DSAGENT_BINARY) + " engine generate --model '" + kModel +
                          "' " + args + " > '" + out.string() + "' 2> '" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadFileToString(out).value(),
          ReadFileToString(err).value()};
}

TEST(EngineGenerateCliTest, GreedyAndSeededSamplingAreReproducible) {
  TempDir dir;
  const std::string base = "--tokenizer '" + kTokenizer + "' --prompt 'hello world' ";
  const CliResult greedy = Generate(dir, base + "--max-tokens 12 --temperature 0");
  ASSERT_EQ(greedy.exit_code, 0) << greedy.err;
  EXPECT_FALSE(greedy.out.empty());
  EXPECT_THAT(greedy.err, HasSubstr("12 tokens"));
  EXPECT_THAT(greedy.err, HasSubstr("finish length"));
  EXPECT_EQ(Generate(dir, base + "--max-tokens 12 --temperature 0").out, greedy.out);

  const CliResult seeded = Generate(dir, base + "--max-tokens 12 --temperature 0.8 --seed 7");
  ASSERT_EQ(seeded.exit_code, 0) << seeded.err;
  EXPECT_EQ(Generate(dir, base + "--max-tokens 12 --temperature 0.8 --seed 7").out, seeded.out);
}

TEST(EngineGenerateCliTest, ChatMessagesAndBadInputs) {
  TempDir dir;
  const auto messages = dir.Write("m.json", R"([{"role": "user", "content": "hi"}])");
  const CliResult chat =
      Generate(dir, "--tokenizer '" + kTokenizer + "' --messages '" + messages.string() +
                        "' --thinking off --max-tokens 4 --seed 1");
  EXPECT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_THAT(chat.err, HasSubstr("prompt"));

  // The tiny model has no tokenizer of its own and the V3 one does not fit its vocabulary.
  const CliResult no_tokenizer = Generate(dir, "--prompt x");
  EXPECT_EQ(no_tokenizer.exit_code, 2);
  EXPECT_THAT(no_tokenizer.err, HasSubstr("--tokenizer"));
  const auto bad = dir.Write("bad.json", "[{\"role\": ");
  const CliResult bad_messages =
      Generate(dir, "--tokenizer '" + kTokenizer + "' --messages '" + bad.string() + "'");
  EXPECT_EQ(bad_messages.exit_code, 2);
  EXPECT_THAT(bad_messages.err, HasSubstr("bad.json"));
}

// --kv-dir: the first run stores the prompt's prefix (its last 128-aligned position), a second run
// with the same messages in a new process finds it, prefills only the rest and gives the same
// greedy reply; --prompt and --tokens have no prefix cache and refuse the flag.
TEST(EngineGenerateCliTest, KvDirServesTheNextRunsPrefix) {
  TempDir dir;
  std::string long_text;
  for (int i = 0; i < 10; ++i) long_text += "the quick brown fox jumps over the lazy dog ";
  const auto messages =
      dir.Write("m.json", R"([{"role": "user", "content": ")" + long_text + R"("}])");
  const std::string args = "--tokenizer '" + kTokenizer + "' --messages '" + messages.string() +
                           "' --thinking off --max-tokens 6 --kv-dir '" +
                           (dir.path() / "kv").string() + "'";
  const CliResult first = Generate(dir, args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.err, HasSubstr(" tokens (0 cached)"));
  const CliResult second = Generate(dir, args);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.err, Not(HasSubstr(" tokens (0 cached)")));
  EXPECT_THAT(second.err, ::testing::ContainsRegex(" tokens \\([1-9][0-9]* cached\\)"));
  EXPECT_EQ(second.out, first.out);

  const CliResult prompt = Generate(dir, "--tokenizer '" + kTokenizer + "' --prompt x --kv-dir '" +
                                             (dir.path() / "kv").string() + "'");
  EXPECT_EQ(prompt.exit_code, 2);
  EXPECT_THAT(prompt.err, HasSubstr("--kv-dir works with --messages"));
}

}  // namespace
}  // namespace dsagent::engine
