// The CPU backend's glue ops between the forward pass's steps (kernels/ops.h: ScaleBf16,
// RoundToBf16, AddBroadcastBf16, ToBf16Bits, GatherHashIds, CompressorWriteSlot), against
// references written from the documented arithmetic: the test's own bf16 rounding
// (reference_rounding.h) and byte-wise table reads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "engine/kernels/cpu/cpu_ops.h"
#include "engine/kernels/cpu/thread_pool.h"
#include "engine/kernels/ops.h"
#include "tests/engine/kernels/reference_rounding.h"

namespace dsagent::engine::kernels::cpu_glue_ops_test {
namespace {

using reference_rounding::Bits;
using reference_rounding::RandomBf16Values;
using reference_rounding::RefBf16;

class CpuGlueOpsTest : public ::testing::Test {
 protected:
  cpu::ThreadPool pool_{2};
  cpu::CpuOps ops_{pool_};
  std::mt19937 rng_{97};
};

// bf16 of a float, subnormals included: below 2^-126 the bf16 grid is the multiples of 2^-133
// (reference_rounding.h's RefBf16 keeps 8 significant bits, which holds for normal values only).
float RefBf16Any(float v) {
  if (std::fabs(v) >= 0x1p-126f || !std::isfinite(v)) return RefBf16(v);
  return static_cast<float>(
      std::ldexp(std::nearbyint(std::ldexp(static_cast<long double>(v), 133)), -133));
}

// Values that exercise bf16 rounding: random normals plus exact ties, a NaN-free set of extremes.
std::vector<float> RoundingInputs(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  const float special[] = {0.0f,
                           -0.0f,
                           1.0f + 0x1p-8f,
                           1.0f + 0x3p-8f,
                           -(1.0f + 0x1p-8f),
                           1e-40f,
                           3.4e38f,
                           std::numeric_limits<float>::infinity()};
  for (size_t i = 0; i < std::size(special) && i < n; ++i) v[i] = special[i];
  return v;
}

TEST_F(CpuGlueOpsTest, ScaleBf16RoundsTheFp32ProductToBf16) {
  const int64_t rows = 3, cols = 67, stride = 70;
  const std::vector<float> x0 = RoundingInputs(static_cast<size_t>(rows * stride), rng_);
  for (const float scale : {0.0441941738f, 1.0f, -3.5f}) {
    std::vector<float> x = x0;
    ops_.ScaleBf16(F32Rows(x.data(), rows, cols, stride), scale);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < stride; ++c) {
        const size_t i = static_cast<size_t>(r * stride + c);
        const float want = c < cols ? RefBf16Any(static_cast<float>(x0[i] * scale)) : x0[i];
        ASSERT_EQ(Bits(x[i]), Bits(want)) << "scale " << scale << " row " << r << " col " << c;
      }
    }
  }
}

TEST_F(CpuGlueOpsTest, RoundToBf16IsRoundToNearestEven) {
  std::vector<float> x = RoundingInputs(500, rng_);
  const std::vector<float> x0 = x;
  ops_.RoundToBf16(F32Rows(x.data(), 5, 100));
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(Bits(x[i]), Bits(RefBf16Any(x0[i]))) << i;
  EXPECT_EQ(x[2], 1.0f) << "a tie rounds to the even neighbour (down)";
  EXPECT_EQ(x[3], 1.0f + 0x4p-8f) << "a tie rounds to the even neighbour (up)";
}

TEST_F(CpuGlueOpsTest, AddBroadcastBf16AddsTheRowToEveryGroupInFp32ThenRounds) {
  const int64_t rows = 3, cols = 40, groups = 4;
  const std::vector<float> x = RandomBf16Values(static_cast<size_t>(rows * cols), rng_, 2.0f);
  const std::vector<float> y0 =
      RandomBf16Values(static_cast<size_t>(rows * groups * cols), rng_, 2.0f);
  std::vector<float> y = y0;
  ops_.AddBroadcastBf16(F32Rows(x.data(), rows, cols), F32Rows(y.data(), rows, groups * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t c = 0; c < cols; ++c) {
        const size_t i = static_cast<size_t>((r * groups + g) * cols + c);
        const float sum = x[static_cast<size_t>(r * cols + c)] + y0[i];  // fp32
        ASSERT_EQ(Bits(y[i]), Bits(RefBf16(sum))) << r << "," << g << "," << c;
      }
    }
  }
  // One group: a plain elementwise add.
  std::vector<float> z = y0;
  ops_.AddBroadcastBf16(F32Rows(x.data(), rows, cols), F32Rows(z.data(), rows, cols));
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(Bits(z[i]), Bits(RefBf16(x[i] + y0[i]))) << i;
}

TEST_F(CpuGlueOpsTest, ToBf16BitsGivesTheNearestBf16Pattern) {
  const std::vector<float> x = RoundingInputs(300, rng_);
  std::vector<uint16_t> bits(x.size());
  ops_.ToBf16Bits(F32Rows(x.data(), 3, 100), Bf16BitRows(bits.data(), 3, 100));
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(static_cast<uint32_t>(bits[i]) << 16, Bits(RefBf16Any(x[i]))) << i;
  }
}

// tid2eid as checkpoints store it, int64 or int32, at an odd address (inside a mapped file).
TEST_F(CpuGlueOpsTest, GatherHashIdsReadsTheTokensRowsOfAnInt32OrInt64Table) {
  const int64_t vocab = 50, k = 6;
  std::uniform_int_distribution<int32_t> expert(0, 255);
  std::vector<int32_t> want_table(static_cast<size_t>(vocab * k));
  for (int32_t& e : want_table) e = expert(rng_);
  const std::vector<int32_t> tokens = {49, 0, 17, 17};
  const int64_t rows = static_cast<int64_t>(tokens.size());
  for (const bool int64_entries : {false, true}) {
    const size_t entry_bytes = int64_entries ? 8 : 4;
    std::vector<uint8_t> bytes(1 + want_table.size() * entry_bytes);
    for (size_t i = 0; i < want_table.size(); ++i) {
      const int64_t wide = want_table[i];
      const int32_t narrow = want_table[i];
      std::memcpy(bytes.data() + 1 + i * entry_bytes,
                  int64_entries ? static_cast<const void*>(&wide) : &narrow, entry_bytes);
    }
    const ConstView table(bytes.data() + 1, int64_entries ? ElemType::kI64 : ElemType::kI32, vocab,
                          k);
    std::vector<int32_t> ids(static_cast<size_t>(rows * k), -1);
    ops_.GatherHashIds(table, tokens.data(), View(ids.data(), ElemType::kI32, rows, k));
    for (int64_t t = 0; t < rows; ++t) {
      for (int64_t j = 0; j < k; ++j) {
        ASSERT_EQ(ids[static_cast<size_t>(t * k + j)],
                  want_table[static_cast<size_t>(tokens[static_cast<size_t>(t)] * k + j)])
            << "int64 " << int64_entries << " row " << t << " slot " << j;
      }
    }
  }
}

TEST_F(CpuGlueOpsTest, CompressorWriteSlotStoresTheValuesAndTheFp32SumOfLogitAndBias) {
  const int64_t slots = 8, width = 24, slot = 5;
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> kv(width), score(width), ape(width);
  for (float& v : kv) v = normal(rng_);
  for (float& v : score) v = normal(rng_);
  for (float& v : ape) v = normal(rng_);
  std::vector<float> kv_state(static_cast<size_t>(slots * width), 0.5f);
  std::vector<float> score_state(kv_state.size(), -0.5f);
  ops_.CompressorWriteSlot(
      F32Rows(kv.data(), 1, width), F32Rows(score.data(), 1, width), F32Rows(ape.data(), 1, width),
      slot, F32Rows(kv_state.data(), slots, width), F32Rows(score_state.data(), slots, width));
  for (int64_t s = 0; s < slots; ++s) {
    for (int64_t c = 0; c < width; ++c) {
      const size_t i = static_cast<size_t>(s * width + c);
      if (s == slot) {
        ASSERT_EQ(Bits(kv_state[i]), Bits(kv[c]));
        ASSERT_EQ(Bits(score_state[i]), Bits(score[c] + ape[c]));
      } else {
        ASSERT_EQ(kv_state[i], 0.5f) << "slot " << s << " is not the token's";
        ASSERT_EQ(score_state[i], -0.5f) << "slot " << s << " is not the token's";
      }
    }
  }
}

}  // namespace
}  // namespace dsagent::engine::kernels::cpu_glue_ops_test
