// `dsagent engine logits` end to end: the real binary on the tiny checkpoint.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>

#include "common/file_io.h"
#include "tests/engine/forward/golden_data.h"
#include "tests/support/temp_dir.h"

namespace dsagent::engine::forward {
namespace {
using testing::Compare;
using testing::Describe;
using ::testing::HasSubstr;
using testing::kTinyModel;
using testing::kVocab;
using testing::ReadRaw;

struct CliResult {
  int exit_code = -1;
  std::string err;
};

CliResult Logits(const TempDir& dir, const std::string& args) {
  const auto err = dir.path() / "stderr.txt";
  const std::string cmd = std::string(DSAGENT_BINARY) + " engine logits " + args + " 2> '" +
                          err.string() + "' > /dev/null";
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = ReadFileToString(err).value();
  return r;
}

std::string Ids(const std::vector<int32_t>& ids) {
  return std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * 4);
}

TEST(EngineLogitsCliTest, WritesTheLogitsOfEveryPosition) {
  TempDir dir;
  std::vector<int32_t> tokens = ReadRaw<int32_t>("tokens.i32");
  tokens.resize(48);
  const auto in = dir.Write("tokens.i32", Ids(tokens));
  const auto golden = ReadRaw<float>("prefill340_logits.f32");
  // The weights mapped or loaded into huge-page memory: the same bytes, the same logits.
  for (const std::string extra :
       {"", " --prefill 40", " --weights load", " --weights mmap --prefill 40"}) {
    const auto out = dir.path() / "logits.f32";
    const CliResult r = Logits(dir, "--model '" + kTinyModel.string() + "' --tokens '" +
                                        in.string() + "' --out '" + out.string() + "'" + extra);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string bytes = ReadFileToString(out).value();
    ASSERT_EQ(bytes.size(), 48u * kVocab * 4);
    const auto a = Compare(reinterpret_cast<const float*>(bytes.data()), golden.data(), 48, kVocab);
    EXPECT_EQ(a.differing, 0) << extra << ": " << Describe(a);  // rows 0..47 of the reference
  }
}

TEST(EngineLogitsCliTest, BadInputsExitWithTwoAndAClearMessage) {
  TempDir dir;
  const auto in = dir.Write("tokens.i32", Ids({0, 5, 900}));
  const auto out = dir.path() / "logits.f32";
  const std::string model = " --model '" + kTinyModel.string() + "'";
  CliResult r = Logits(dir, model + " --tokens '" + in.string() + "' --out '" + out.string() + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("token id 900 at position 2 is outside the vocabulary"));
  EXPECT_FALSE(std::filesystem::exists(out));

  const auto odd = dir.Write("odd.i32", "abc");
  r = Logits(dir, model + " --tokens '" + odd.string() + "' --out '" + out.string() + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("not a non-empty array of int32"));

  const auto ok = dir.Write("ok.i32", Ids({0, 5}));
  r = Logits(dir,
             model + " --tokens '" + ok.string() + "' --out '" + out.string() + "' --prefill 3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--prefill 3 exceeds the 2 tokens"));

  r = Logits(dir, "--model '" + dir.path().string() + "' --tokens '" + ok.string() + "' --out '" +
                      out.string() + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("config.json"));
}

}  // namespace
}  // namespace dsagent::engine::forward
