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

}  // namespace
}  // namespace dsagent::engine
