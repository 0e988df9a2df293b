// `dsagent engine synth` end to end: the real binary writes a checkpoint that `dsagent engine
// logits` runs; bad options exit 2 with a clear message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "common/file_io.h"
#include "tests/support/command_output.h"
#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kTinyConfig =
    (fs::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny/config.json").string();

using CliResult = dsagent::testing::CommandResult;

CliResult Dsagent(const TempDir& dir, const std::string& args) {
  return dsagent::testing::RunCommand(std::string(DSAGENT_BINARY) + " engine " + args, dir.path());
}

TEST(EngineSynthCliTest, WritesACheckpointThatTheEngineRuns) {
  TempDir dir;
  const fs::path ck = dir.path() / "ck";
  CliResult r = Dsagent(dir, "synth --config '" + kTinyConfig + "' --out '" + ck.string() +
                                 "' --layers 2 --ratios 4,16 --experts 4 --vocab 300 --seed 5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("2 layers + 1 MTP, compress ratios 4, 16 | MTP 0"));
  EXPECT_THAT(r.out, HasSubstr("4 routed experts (2 per token); vocab 300"));
  EXPECT_THAT(r.out, HasSubstr("tensors"));
  EXPECT_THAT(r.out, HasSubstr("parameters:"));

  const std::string ids("\0\0\0\0\x07\0\0\0\x2a\0\0\0", 12);  // int32 0, 7, 42
  const fs::path tokens = dir.Write("tokens.i32", ids);
  const fs::path logits = dir.path() / "logits.f32";
  r = Dsagent(dir, "logits --model '" + ck.string() + "' --tokens '" + tokens.string() +
                       "' --out '" + logits.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string bytes = ReadFileToString(logits).value();
  ASSERT_EQ(bytes.size(), 3u * 300 * 4);
  const auto* v = reinterpret_cast<const float*>(bytes.data());
  for (size_t i = 0; i < 3 * 300; ++i) ASSERT_TRUE(std::isfinite(v[i])) << i;
}

TEST(EngineSynthCliTest, BadOptionsExitWithTwoAndAClearMessage) {
  TempDir dir;
  const std::string out = " --out '" + (dir.path() / "ck").string() + "'";
  CliResult r = Dsagent(dir, "synth --config '" + kTinyConfig + "'" + out + " --experts 1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("routed experts: 1 is fewer than the 2"));

  r = Dsagent(dir, "synth --config '" + kTinyConfig + "'" + out + " --layers 0");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("layers: must be at least 1"));

  r = Dsagent(dir, "synth --config '" + kTinyConfig + "'" + out + " --layers 3 --ratios 4,16");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("ratios: 2 given for 3 layers"));

  r = Dsagent(dir, "synth --config '" + (dir.path() / "missing.json").string() + "'" + out);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("missing.json"));

  r = Dsagent(dir, "synth" + out);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--config"));
  EXPECT_FALSE(fs::exists(dir.path() / "ck"));

  // Not a usage error: the output cannot be created (1).
  const fs::path file = dir.Write("file", "x");
  r = Dsagent(dir, "synth --config '" + kTinyConfig + "' --layers 1 --out '" +
                       (file / "ck").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot create the directory"));
}

}  // namespace
}  // namespace dsagent
