// The emulated tensor core's summation models (mma_model.h) on sums whose value under each model
// is worked out by hand in the comments: what the fmas round, what the truncating blocks cut, where
// a block boundary falls, and the final cut toward zero.
#include "tests/cuda_emulator/mma_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

namespace dsagent_emu {
namespace {

MmaModel Parsed(const char* text) {
  MmaModel m{-1, -1};
  EXPECT_TRUE(ParseMmaModel(text, &m)) << text;
  return m;
}

float Dot(const char* model, const std::vector<float>& a, const std::vector<float>& b, float c) {
  return MmaDot(Parsed(model), a.data(), b.data(), static_cast<int>(a.size()), c);
}

TEST(MmaModelTest, ParsesItsSettingsAndRefusesOthers) {
  EXPECT_EQ(Parsed("fma").block, 0);
  EXPECT_EQ(Parsed("truncate").block, 16);
  EXPECT_EQ(Parsed("truncate").extra_bits, 0);
  EXPECT_EQ(Parsed("truncate:8:3").block, 8);
  EXPECT_EQ(Parsed("truncate:8:3").extra_bits, 3);
  for (const char* bad :
       {"", "fma ", "FMA", "truncated", "truncate:", "truncate:8", "truncate:8:", "truncate:0:0",
        "truncate:65:0", "truncate:8:17", "truncate:8:-1", "truncate:8:3x", "truncate:x:3"}) {
    MmaModel m{7, 5};
    EXPECT_FALSE(ParseMmaModel(bad, &m)) << '"' << bad << '"';
    EXPECT_EQ(m.block, 7) << bad;
    EXPECT_EQ(m.extra_bits, 5) << bad;
  }
  MmaModel m{7, 5};
  EXPECT_FALSE(ParseMmaModel(nullptr, &m));
}

// 2^24 + 1 + 1: fp32 holds 2^24 + 2 but not 2^24 + 1. The fmas round each step's tie to even
// (2^24); a block aligned to 2^24's 24 bits cuts each 1 (half its last place) to nothing; one
// extra bit keeps them.
TEST(MmaModelTest, AddsWhatEachModelKeeps) {
  const std::vector<float> a = {1.0f, 1.0f}, b = {1.0f, 1.0f};
  const float big = 16777216.0f;  // 2^24
  EXPECT_EQ(Dot("fma", a, b, big), big);
  EXPECT_EQ(Dot("truncate:16:0", a, b, big), big);
  EXPECT_EQ(Dot("truncate:16:1", a, b, big), big + 2.0f);
}

// 0 + 1 - 1 + fourteen products of 2^-30. One block of 16 aligns all of them to 1's grid
// (last place 2^-23): the small ones are cut to nothing, 0. Blocks of 4: the first (0, 1, -1 and
// two small ones) gives 0, the next three add four small ones each exactly: 3 * 2^-28. Blocks of
// 8: 0, then eight small ones: 2^-27. The fmas: 1 - 1 = 0 exactly, then 14 * 2^-30 exactly.
TEST(MmaModelTest, ABlockAlignsOnlyItsOwnTerms) {
  const float tiny = std::ldexp(1.0f, -15);  // tiny * tiny = 2^-30
  std::vector<float> a(16, tiny), b(16, tiny);
  a[0] = 1.0f, b[0] = 1.0f, a[1] = -1.0f, b[1] = 1.0f;
  EXPECT_EQ(Dot("truncate:16:0", a, b, 0.0f), 0.0f);
  EXPECT_EQ(Dot("truncate:8:0", a, b, 0.0f), std::ldexp(1.0f, -27));
  EXPECT_EQ(Dot("truncate:4:0", a, b, 0.0f), 3.0f * std::ldexp(1.0f, -28));
  EXPECT_EQ(Dot("fma", a, b, 0.0f), 14.0f * std::ldexp(1.0f, -30));
}

// 1 - 2^-25, halfway between 1 - 2^-24 and 1: the fma rounds the tie to even (1); with 3 extra
// bits the block keeps the product and cuts the sum toward zero (1 - 2^-24); with none it cuts
// the product itself (1). The same with the signs turned: toward zero again.
TEST(MmaModelTest, CutsTheBlocksSumTowardZero) {
  const std::vector<float> a = {-std::ldexp(1.0f, -13)}, b = {std::ldexp(1.0f, -12)};
  const float below_one = std::nextafter(1.0f, 0.0f);
  EXPECT_EQ(Dot("fma", a, b, 1.0f), 1.0f);
  EXPECT_EQ(Dot("truncate:16:3", a, b, 1.0f), below_one);
  EXPECT_EQ(Dot("truncate:16:0", a, b, 1.0f), 1.0f);
  const std::vector<float> neg_a = {std::ldexp(1.0f, -13)};
  EXPECT_EQ(Dot("truncate:16:3", neg_a, b, -1.0f), -below_one);
  EXPECT_EQ(Dot("truncate:16:0", neg_a, b, -1.0f), -1.0f);
}

TEST(MmaModelTest, NaNAndInfinityPropagate) {
  const float inf = std::numeric_limits<float>::infinity();
  for (const char* model : {"fma", "truncate:16:0", "truncate:4:2"}) {
    std::vector<float> a(16, 1.0f), b(16, 0.5f);
    a[5] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_TRUE(std::isnan(Dot(model, a, b, 1.0f))) << model;
    a[5] = inf;
    EXPECT_EQ(Dot(model, a, b, 1.0f), inf) << model;
    a[6] = -inf;
    EXPECT_TRUE(std::isnan(Dot(model, a, b, 1.0f))) << model;
  }
}

// Sums of small integers are exact in every model (what the fragment-table test of the MMA,
// tests/engine/kernels/cuda_tensor_matvec_test.cc, relies on under each of them).
TEST(MmaModelTest, SmallIntegerSumsAreExactInEveryModel) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> small(-9, 9);
  for (int round = 0; round < 200; ++round) {
    std::vector<float> a(16), b(16);
    double exact = small(rng) * 100;
    const float c = static_cast<float>(exact);
    for (int k = 0; k < 16; ++k) {
      a[static_cast<size_t>(k)] = static_cast<float>(small(rng));
      b[static_cast<size_t>(k)] = static_cast<float>(small(rng));
      exact += static_cast<double>(a[static_cast<size_t>(k)]) * b[static_cast<size_t>(k)];
    }
    for (const char* model : {"fma", "truncate:16:0", "truncate:8:0", "truncate:4:0"}) {
      EXPECT_EQ(Dot(model, a, b, c), static_cast<float>(exact)) << model << " round " << round;
    }
  }
}

// A setting that does not parse stops the process naming what it takes (a typo would otherwise
// run the fma model and test nothing new). In a child that reads the environment afresh.
TEST(MmaModelTest, AnUnparsableSettingStopsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("DSAGENT_CUDA_EMULATOR_MMA", "truncate:99", 1);
        (void)ActiveMmaModel();
      },
      testing::ExitedWithCode(2), "DSAGENT_CUDA_EMULATOR_MMA=truncate:99 is not fma");
}

}  // namespace
}  // namespace dsagent_emu
