// The flash-decoding split of the CUDA sparse attention (engine/kernels/cuda/attention_math.h:
// PlanAttentionSplits, SparseAttentionHeadBySplits), run on the host in the kernels' schedule
// against cpu::SparseAttentionHead: one split gives the CPU's bits, several the `fast` contract
// (>= 99.9% of the bf16 outputs identical, the rest 1 ulp away). Needs no device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "engine/forward/numerics.h"
#include "engine/kernels/cpu/attention_ops.h"
#include "engine/kernels/cuda/attention_math.h"
#include "engine/kernels/ops.h"
#include "tests/engine/kernels/reference_rounding.h"

namespace dsagent::engine::kernels::cuda_attention_split_math_test {
namespace {
namespace dm = cuda;

using reference_rounding::Bits;
using reference_rounding::RandomBf16Values;

TEST(CudaAttentionSplitMathTest, ThePlanCoversEveryBlockOnceWithinTheLimits) {
  for (const int64_t n : {0LL, 1LL, 64LL, 65LL, 640LL, 4160LL, 8320LL, 1LL << 20}) {
    for (const int64_t ctas : {1LL, 16LL, 64LL, 512LL, 4096LL}) {
      const dm::AttentionSplitPlan p = dm::PlanAttentionSplits(n, ctas);
      const int64_t blocks = (n + dm::kAttentionBlock - 1) / dm::kAttentionBlock;
      ASSERT_GE(p.splits, 1);
      ASSERT_LE(p.splits, dm::kAttentionMaxSplits);
      ASSERT_GE(p.blocks_per_split, 1);
      if (blocks == 0) continue;
      // Every block in some split and no split empty.
      EXPECT_GE(static_cast<int64_t>(p.splits) * p.blocks_per_split, blocks) << n << " " << ctas;
      EXPECT_LT(static_cast<int64_t>(p.splits - 1) * p.blocks_per_split, blocks)
          << n << " " << ctas;
    }
  }
  // The decode shapes of the bench: 64 heads over 640 rows -> a split per block (640 CTAs);
  // over 8320 rows -> 16 splits' worth (1024 CTAs) of 9 blocks, 15 splits.
  EXPECT_EQ(dm::PlanAttentionSplits(640, 64).splits, 10);
  EXPECT_EQ(dm::PlanAttentionSplits(640, 64).blocks_per_split, 1);
  EXPECT_EQ(dm::PlanAttentionSplits(8320, 64).blocks_per_split, 9);
  EXPECT_EQ(dm::PlanAttentionSplits(8320, 64).splits, 15);
  // Prefill-sized grids need no split.
  EXPECT_EQ(dm::PlanAttentionSplits(640, 4096).splits, 1);
}

struct Counts {
  size_t same = 0, near = 0, total = 0;
};

// Heads over one list (n entries, every 7th masked, optionally the first block masked), CPU
// against the split schedule under `plan`; adds the bf16 outputs' agreement to `c` and fails on
// any value more than 1 bf16 ulp away.
void CompareHeads(int64_t hd, int64_t n, bool mask_first_block, const dm::AttentionSplitPlan& plan,
                  std::mt19937& rng, Counts& c) {
  const int64_t cache_rows = 700, heads = 8;
  const std::vector<float> kv_values =
      RandomBf16Values(static_cast<size_t>(cache_rows * hd), rng, 1.0f);
  std::vector<uint16_t> kv(kv_values.size());
  for (size_t i = 0; i < kv.size(); ++i) kv[i] = forward::FloatToBf16Bits(kv_values[i]);
  std::uniform_int_distribution<int32_t> pick(0, cache_rows - 1);
  std::vector<int32_t> index(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    const bool masked = (mask_first_block && j < 64) || j % 7 == 3;
    index[static_cast<size_t>(j)] = masked ? -1 : pick(rng);
  }
  KvRowSet cache;
  cache.parts[0] = Bf16BitRows(kv.data(), cache_rows, hd);
  cache.count = 1;
  const float scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5));
  std::vector<float> cpu(static_cast<size_t>(hd)), gpu(cpu.size());
  std::vector<float> acc(static_cast<size_t>(plan.splits * hd));
  std::vector<dm::OnlineSoftmax> part(static_cast<size_t>(plan.splits));
  for (int64_t h = 0; h < heads; ++h) {
    // Larger q in some heads: peaked softmaxes, where the split maxima differ the most.
    const std::vector<float> q =
        RandomBf16Values(static_cast<size_t>(hd), rng, h % 2 ? 8.0f : 2.0f);
    const float sink = forward::RoundBf16(std::normal_distribution<float>(0, 2)(rng));
    kernels::cpu::SparseAttentionHead(q.data(), cache, index.data(), n, sink, hd, scale,
                                      cpu.data());
    dm::SparseAttentionHeadBySplits(q.data(), kv.data(), index.data(), n, hd, sink, scale, plan,
                                    gpu.data(), acc.data(), part.data());
    for (int64_t d = 0; d < hd; ++d) {
      const uint32_t a = Bits(gpu[static_cast<size_t>(d)]),
                     b = Bits(cpu[static_cast<size_t>(d)]);
      ++c.total;
      if (a == b) {
        ++c.same;
        continue;
      }
      ASSERT_LE(std::llabs(static_cast<int64_t>(a >> 16) - static_cast<int64_t>(b >> 16)), 1)
          << "hd " << hd << " n " << n << " splits " << plan.splits << " head " << h << " dim " << d
          << ": " << gpu[static_cast<size_t>(d)] << " vs " << cpu[static_cast<size_t>(d)];
      ++c.near;
    }
  }
}

TEST(CudaAttentionSplitMathTest, OneSplitGivesTheCpuBits) {
  std::mt19937 rng(311);
  for (const int64_t hd : {512LL, 72LL}) {
    for (const int64_t n : {0LL, 1LL, 65LL, 640LL}) {
      for (const bool mask_first : {false, true}) {
        const int blocks = static_cast<int>((n + 63) / 64);
        Counts c;
        CompareHeads(hd, n, mask_first, dm::AttentionSplitPlan{1, blocks > 0 ? blocks : 1}, rng, c);
        EXPECT_EQ(c.same, c.total) << "hd " << hd << " n " << n;
      }
    }
  }
}

// The kernels' plans for 64 heads (what the decode step launches), kAttentionMaxSplits splits (some
// empty when the blocks do not fill them), and at most 7 splits of at least 3 blocks; all values
// within 1 ulp and >= 99.9% identical over the whole run.
TEST(CudaAttentionSplitMathTest, SplitsMeetTheFastContract) {
  std::mt19937 rng(313);
  Counts c;
  for (const int64_t hd : {512LL, 72LL}) {
    for (const int64_t n : {65LL, 200LL, 640LL, 2000LL, 8320LL}) {
      if (hd == 72 && n == 8320) continue;  // the long list once is enough
      const int blocks = static_cast<int>((n + 63) / 64);
      const dm::AttentionSplitPlan plans[] = {
          dm::PlanAttentionSplits(n, 64),
          {blocks < dm::kAttentionMaxSplits ? blocks : dm::kAttentionMaxSplits,
           (blocks + dm::kAttentionMaxSplits - 1) / dm::kAttentionMaxSplits},
          {(blocks + 2) / 3 < 7 ? (blocks + 2) / 3 : 7,
           (blocks + 6) / 7 > 3 ? (blocks + 6) / 7 : 3}};
      for (const dm::AttentionSplitPlan& plan : plans) {
        for (const bool mask_first : {false, true}) {
          CompareHeads(hd, n, mask_first, plan, rng, c);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
  std::printf("split attention on the host: %zu of %zu identical, %zu within 1 ulp\n", c.same,
              c.total, c.near);
  EXPECT_GE(static_cast<double>(c.same), 0.999 * static_cast<double>(c.total));
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda_attention_split_math_test
