// The fidelity sweep: the engine against the official reference on many tiny V4 configurations
// (tests/data/golden-sweep: compress-ratio patterns SWA / CSA at layer 0 / HCA 8, 16, 128, index
// top-k binding and not, 0-3 hash layers, 1-6 experts per token, o_groups 1-8, windows 8-128, YaRN
// on and off, MTP with and without compressed attention; two seeds each; docs/GOLDEN.md).
//
// Each set's weights are regenerated here from its seed by the synthetic checkpoint writer (the
// bytes depend only on the config and the seed) and checked against the SHA-256 the golden data
// was made from; then the full prefill, the prefill of the first N tokens, the decode steps after
// it and the MTP block must be bit-identical to the reference's logits; with the fast numerics they
// must stay within its contract (kernels/numerics_mode.h).
#include "tests/engine/forward/golden_sweep.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/forward/model.h"
#include "tests/engine/forward/golden_checks.h"
#include "tests/engine/forward/golden_data.h"
#include "tests/support/temp_dir.h"

namespace dsagent::engine::forward {
namespace {
using testing::Describe;
using testing::GoldenSet;
using testing::kDataDir;

class GoldenSweepTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenSweepTest, BitIdenticalToTheReference) {
  const GoldenSet set(kDataDir / "golden-sweep" / GetParam());
  TempDir model_dir;
  const std::string written = testing::WriteSweepCheckpoint(set, model_dir.path());
  ASSERT_TRUE(written.empty()) << written;

  auto model = Model::Load(model_dir.path());
  ASSERT_TRUE(model) << model.error();
  const auto full = testing::FullPrefillAgreement(**model, set);
  EXPECT_EQ(full.rows, set.tokens());
  EXPECT_EQ(full.differing, 0) << "full prefill: " << Describe(full);
  const auto part = testing::PrefillThenDecodeAgreement(**model, set);
  EXPECT_EQ(part.prefill.rows, set.prefill_part());
  EXPECT_EQ(part.prefill.differing, 0) << "prefill part: " << Describe(part.prefill);
  EXPECT_EQ(part.decode.rows, set.tokens() - set.prefill_part());
  EXPECT_EQ(part.decode.differing, 0) << "decode: " << Describe(part.decode);
  const auto mtp = testing::MtpAgreement(**model, set);
  EXPECT_EQ(mtp.rows, set.tokens() - 1);
  EXPECT_EQ(mtp.differing, 0) << "MTP: " << Describe(mtp);

  // The fast numerics on the same weights: within the contract (top-1 >= 99%, max |d| <= 0.05).
  auto fast = Model::Load(model_dir.path(), {.numerics = kernels::Numerics::kFast});
  ASSERT_TRUE(fast) << fast.error();
  const auto within = [](const testing::Agreement& a, const char* what) {
    EXPECT_GE(static_cast<double>(a.top1_agree), 0.99 * static_cast<double>(a.rows))
        << "fast " << what << ": " << Describe(a);
    EXPECT_LE(a.max_abs, 0.05) << "fast " << what << ": " << Describe(a);
  };
  within(testing::FullPrefillAgreement(**fast, set), "full prefill");
  const auto fast_part = testing::PrefillThenDecodeAgreement(**fast, set);
  within(fast_part.prefill, "prefill part");
  within(fast_part.decode, "decode");
  within(testing::MtpAgreement(**fast, set), "MTP");
}

INSTANTIATE_TEST_SUITE_P(Sweep, GoldenSweepTest, ::testing::ValuesIn(testing::SweepSetNames()),
                         [](const auto& p) { return testing::TestName(p.param); });

// The sweep is not silently empty (a checkout without the data would otherwise pass).
TEST(GoldenSweepDataTest, HoldsAtLeastTwelveConfigurationsWithTwoSeedsEach) {
  EXPECT_GE(testing::SweepSetNames().size(), 24u);
}

}  // namespace
}  // namespace dsagent::engine::forward
