// LocalEngines loading onto a GPU (the CUDA emulator's in CI, tests/cuda_emulator): the weights'
// upload is told block by block, then the load and the placement, each a line of its own; a
// second session with the same options uploads nothing and is told nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent/providers/local_engines.h"
#include "engine/runtime/engine_runtime.h"
#include "tests/engine/kernels/cuda_test_support.h"

namespace dsagent {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

TEST(LocalEnginesOnTheGpuTest, ALoadTellsTheUploadThenThePlacementLineByLine) {
  REQUIRE_CUDA_DEVICE();
  const auto data = engine::kernels::cuda::test_support::TestDataDir();
  const engine::EngineRuntimeOptions options{
      .model_dir = data / "v4-tiny",
      .tokenizer_file = data / "v4-tiny-tokenizer/tokenizer.json",
      .threads = 2,
      .device = {engine::kernels::DeviceKind::kCuda, 0},
      .context = 32};
  std::vector<std::string> lines;
  int64_t uploads = 0, last_done = 0, last_total = 0;
  const LocalLoadNotices notices{.upload_progress =
                                     [&](int64_t done, int64_t total) {
                                       ++uploads;
                                       last_done = done;
                                       last_total = total;
                                     },
                                 .note = [&](const std::string& line) { lines.push_back(line); }};
  LocalEngines engines;
  auto engine = engines.Acquire(options, notices);
  ASSERT_TRUE(engine) << engine.error();
  EXPECT_GT(uploads, 1);
  EXPECT_GT(last_total, 1);
  EXPECT_EQ(last_done, last_total);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_THAT(lines[0],
              MatchesRegex("local model .*v4-tiny on cuda:0, loaded in [0-9]+\\.[0-9] s"));
  EXPECT_THAT(lines[1], StartsWith("placement on cuda:0"));
  std::string placement;
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_THAT(lines[i], ::testing::Not(HasSubstr("\n")));
    placement += lines[i] + "\n";
  }
  EXPECT_EQ(placement, (*engine)->runtime->placement());

  const size_t told = lines.size();
  const int64_t uploads_told = uploads;
  auto again = engines.Acquire(options, notices);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(again->get(), engine->get());
  EXPECT_EQ(lines.size(), told);
  EXPECT_EQ(uploads, uploads_told);
}

// A session cancelled while the engine uploads (Ctrl-C) gets the upload's cancel as its error,
// and nothing is kept: the next acquire loads anew.
TEST(LocalEnginesOnTheGpuTest, ACancelledLoadKeepsNothing) {
  REQUIRE_CUDA_DEVICE();
  const auto data = engine::kernels::cuda::test_support::TestDataDir();
  engine::EngineRuntimeOptions options{.model_dir = data / "v4-tiny",
                                       .tokenizer_file = data / "v4-tiny-tokenizer/tokenizer.json",
                                       .threads = 2,
                                       .device = {engine::kernels::DeviceKind::kCuda, 0},
                                       .context = 32};
  options.cancel.Cancel();
  LocalEngines engines;
  auto cancelled = engines.Acquire(options, {});
  ASSERT_FALSE(cancelled);
  EXPECT_THAT(cancelled.error(), HasSubstr("upload was cancelled"));
  EXPECT_EQ(engines.loads(), 0);
  options.cancel = CancelToken();
  auto loaded = engines.Acquire(options, {});
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(engines.loads(), 1);
}

}  // namespace
}  // namespace dsagent
