// The `fast` numerics end to end (kernels/numerics_mode.h): on both golden checkpoints the logits,
// the decode steps and the MTP block stay within the contract against the reference (top-1 >= 99%,
// max |d| <= 0.05; the exact numerics equal the reference bit for bit), and fast results are
// deterministic: the same bits for any thread count, for one prefill and for prefill + decode or
// chunked forwards. golden_sweep_test.cc checks the contract on the sweep.
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "engine/forward/logits_runner.h"
#include "engine/forward/model.h"
#include "tests/engine/forward/golden_checks.h"
#include "tests/engine/forward/golden_data.h"

namespace dsagent::engine::forward {
namespace {
using kernels::Numerics;
using testing::Agreement;
using testing::Describe;
using testing::GoldenSet;
using testing::kDataDir;
using testing::kTinyModel;
using testing::ReadRaw;

std::unique_ptr<Model> LoadFast(const std::filesystem::path& dir, int threads = 0) {
  auto m = Model::Load(dir, {.threads = threads, .numerics = Numerics::kFast});
  EXPECT_TRUE(m) << m.error();
  return m ? std::move(*m) : nullptr;
}

void ExpectWithinFastContract(const Agreement& a, int64_t rows, const char* what) {
  EXPECT_EQ(a.rows, rows) << what;
  std::printf("fast %s: %s\n", what, Describe(a).c_str());
  EXPECT_GE(static_cast<double>(a.top1_agree), 0.99 * static_cast<double>(a.rows))
      << what << ": " << Describe(a);
  EXPECT_LE(a.max_abs, 0.05) << what << ": " << Describe(a);
}

class FastGoldenSetTest : public ::testing::TestWithParam<const char*> {};

TEST_P(FastGoldenSetTest, PrefillDecodeAndMtpStayWithinTheContract) {
  const GoldenSet set(kDataDir / GetParam());
  auto model = LoadFast(set.dir());
  ASSERT_TRUE(model);
  ASSERT_EQ(model->numerics(), Numerics::kFast);
  const auto full = testing::FullPrefillAgreement(*model, set);
  ExpectWithinFastContract(full, set.tokens(), "full prefill");
  // The mode is in effect: fp32 accumulation changes some logits.
  EXPECT_GT(full.differing, 0) << Describe(full);
  const auto part = testing::PrefillThenDecodeAgreement(*model, set);
  ExpectWithinFastContract(part.prefill, set.prefill_part(), "prefill part");
  ExpectWithinFastContract(part.decode, set.tokens() - set.prefill_part(), "decode");
  ExpectWithinFastContract(testing::MtpAgreement(*model, set), set.tokens() - 1, "MTP");
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, FastGoldenSetTest, ::testing::Values("v4-tiny", "v4-tiny-c"),
                         [](const auto& p) { return testing::TestName(p.param); });

std::vector<int32_t> GoldenTokens(size_t n) {
  std::vector<int32_t> t = ReadRaw<int32_t>("tokens.i32");
  t.resize(n);
  return t;
}

// Every output of a fast product is the same kernel call whatever the number of rows, so a
// prefill followed by decode steps or chunked forwards computes one prefill's bits.
TEST(FastDeterminismTest, PrefillThenDecodeAndChunksEqualOnePrefill) {
  auto model = LoadFast(kTinyModel, 2);
  ASSERT_TRUE(model);
  const std::vector<int32_t> tokens = GoldenTokens(80);
  auto one = ComputeLogits(*model, tokens);
  ASSERT_TRUE(one) << one.error();
  for (int64_t prefill : {0, 1, 37}) {
    auto split = ComputeLogits(*model, tokens, prefill);
    ASSERT_TRUE(split) << split.error();
    EXPECT_TRUE(*split == *one) << "prefill " << prefill;
  }
  SequenceState seq = model->NewSequence();
  std::vector<float> chunked;
  for (const auto& [begin, end] :
       {std::pair{0, 5}, std::pair{5, 6}, std::pair{6, 50}, std::pair{50, 80}}) {
    auto l = model->Forward(seq, std::span(tokens).subspan(begin, end - begin));
    ASSERT_TRUE(l) << l.error();
    chunked.insert(chunked.end(), l->begin(), l->end());
  }
  EXPECT_TRUE(chunked == *one);
}

TEST(FastDeterminismTest, ResultsDoNotDependOnTheThreadCount) {
  const std::vector<int32_t> tokens = GoldenTokens(64);
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 3}) {
    auto model = LoadFast(kTinyModel, threads);
    ASSERT_TRUE(model);
    auto logits = ComputeLogits(*model, tokens, 60);
    ASSERT_TRUE(logits) << logits.error();
    results.push_back(std::move(*logits));
  }
  EXPECT_TRUE(results[0] == results[1]);
  EXPECT_TRUE(results[0] == results[2]);
}

}  // namespace
}  // namespace dsagent::engine::forward
