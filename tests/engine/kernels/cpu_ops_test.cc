// The CPU backend's named ops (kernels/cpu/cpu_ops.h) against independent references: each
// reference below is written from the op's documented arithmetic (kernels/ops.h), with its own
// rounding helpers (bf16 by frexp/nearbyint, e4m3/e2m1 by searching the enumerated value grids),
// long double where the op promises exact sums, and not the code under test.
#include "engine/kernels/cpu/cpu_ops.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "engine/kernels/cpu/thread_pool.h"
#include "engine/kernels/ops.h"
#include "engine/kernels/workspace.h"
#include "tests/engine/kernels/reference_rounding.h"

namespace dsagent::engine::kernels::cpu_ops_test {
namespace {

// ---- independent rounding helpers (normal values) ---------------------------------------------

using reference_rounding::Bits;
using reference_rounding::RefBf16;
using reference_rounding::RefBf16Twice;

// Every finite non-negative value of a small float format, by its bit fields.
std::vector<float> Grid(int exponent_bits, int mantissa_bits, int bias, bool fp8_nan_at_top) {
  std::vector<float> values;
  for (int e = 0; e < (1 << exponent_bits); ++e) {
    for (int m = 0; m < (1 << mantissa_bits); ++m) {
      if (fp8_nan_at_top && e == (1 << exponent_bits) - 1 && m == (1 << mantissa_bits) - 1) {
        continue;  // e4m3fn's NaN
      }
      const float frac = static_cast<float>(m) / static_cast<float>(1 << mantissa_bits);
      values.push_back(e == 0 ? std::ldexp(frac, 1 - bias) : std::ldexp(1.0f + frac, e - bias));
    }
  }
  return values;  // ascending; index parity = mantissa parity
}

// The nearest grid value to v, ties to the even code, saturating at the largest.
float NearestOnGrid(const std::vector<float>& grid, float v) {
  const float a = std::fabs(v);
  size_t best = 0;
  for (size_t i = 1; i < grid.size(); ++i) {
    const double d = std::fabs(static_cast<double>(grid[i]) - a);
    const double db = std::fabs(static_cast<double>(grid[best]) - a);
    if (d < db || (d == db && i % 2 == 0)) best = i;
  }
  return std::copysign(grid[best], v);
}

// 2^ceil(log2(t)), t > 0.
float Pow2AtLeast(float t) {
  return std::ldexp(1.0f, static_cast<int>(std::ceil(std::log2(static_cast<double>(t)))));
}

using reference_rounding::RandomBf16Values;

class CpuOpsTest : public ::testing::Test {
 protected:
  cpu::ThreadPool pool_{2};
  cpu::CpuOps ops_{pool_};
  std::mt19937 rng_{1234};
};

// ---- act_quant ---------------------------------------------------------------------------------

// x (rows of `cols` values, `stride` apart) is `in` after act_quant FP8: each block of `block`
// values scaled by the power of two at or above amax / 448 (amax floored at 1e-4), rounded to the
// nearest e4m3 value and scaled back; the padding past `cols` untouched.
void ExpectFp8GridPerBlock(const std::vector<float>& in, const std::vector<float>& x, int64_t rows,
                           int64_t cols, int64_t stride, int64_t block) {
  const std::vector<float> grid = Grid(4, 3, 7, /*fp8_nan_at_top=*/true);
  ASSERT_EQ(grid.back(), 448.0f);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < cols; b += block) {
      float amax = 0;
      for (int64_t i = b; i < b + block; ++i) amax = std::max(amax, std::fabs(in[r * stride + i]));
      const float s = Pow2AtLeast(std::max(amax, 1e-4f) * static_cast<float>(1.0 / 448.0));
      for (int64_t i = b; i < b + block; ++i) {
        const float want = NearestOnGrid(grid, in[r * stride + i] / s) * s;
        ASSERT_EQ(Bits(x[r * stride + i]), Bits(want)) << r << "," << i;
      }
    }
    for (int64_t i = cols; i < stride; ++i) ASSERT_EQ(x[r * stride + i], in[r * stride + i]);
  }
}

TEST_F(CpuOpsTest, ActQuantFp8MatchesTheE4M3GridPerBlockAndKeepsTheRowPadding) {
  const int64_t rows = 3, cols = 256, stride = 264, block = 128;
  std::vector<float> x = RandomBf16Values(static_cast<size_t>(rows * stride), rng_, 3.0f);
  x[5] = 0.0f;                                      // zero stays zero
  for (int64_t i = 128; i < 256; ++i) x[i] = 0.0f;  // an all-zero block: the 1e-4 floor
  x[256 + 3] = 1234.0f;                             // padding: must stay untouched
  const std::vector<float> in = x;
  ops_.ActQuantFp8(F32Rows(x.data(), rows, cols, stride), block);
  ExpectFp8GridPerBlock(in, x, rows, cols, stride, block);
}

// A prefill's many rows are split over the pool (tasks of at least 16384 / cols rows, so 64 rows
// here and 4 tasks on 3 threads): every row still gets the per-block grid rounding, and no task
// writes another row's padding. Under ThreadSanitizer this is the parallel path's race check; the
// shapes above run on one thread.
TEST_F(CpuOpsTest, ActQuantFp8SplitsManyRowsOverThePoolWithTheSameRounding) {
  const int64_t rows = 256, cols = 256, stride = 264, block = 128;
  std::vector<float> x = RandomBf16Values(static_cast<size_t>(rows * stride), rng_, 3.0f);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = cols; i < stride; ++i) x[r * stride + i] = static_cast<float>(r);
  }
  const std::vector<float> in = x;
  cpu::ThreadPool pool3(3);
  const cpu::CpuOps ops3(pool3);
  ops3.ActQuantFp8(F32Rows(x.data(), rows, cols, stride), block);
  ExpectFp8GridPerBlock(in, x, rows, cols, stride, block);
}

// A NaN in a block does not take part in the block's maximum (as fmax, which the reference's amax
// follows, leaves a NaN out): every other value gets the scale of the block without it, and the
// NaN stays NaN. Both formats; the NaN placed first, in the middle and last.
TEST_F(CpuOpsTest, ActQuantLeavesANaNOutOfTheBlocksMaximum) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (const int64_t block : {int64_t{128}, int64_t{32}}) {
    for (const int64_t at : {int64_t{0}, block / 2, block - 1}) {
      std::vector<float> with_nan = RandomBf16Values(static_cast<size_t>(block), rng_, 3.0f);
      with_nan[static_cast<size_t>(at)] = nan;
      std::vector<float> without = with_nan;
      without[static_cast<size_t>(at)] = 0.0f;  // a zero does not move the maximum either
      const auto quantise = [&](std::vector<float>& v) {
        if (block == 128) {
          ops_.ActQuantFp8(F32Rows(v.data(), 1, block), block);
        } else {
          ops_.ActQuantFp4(F32Rows(v.data(), 1, block), block);
        }
      };
      quantise(with_nan);
      quantise(without);
      EXPECT_TRUE(std::isnan(with_nan[static_cast<size_t>(at)])) << block << " " << at;
      for (int64_t i = 0; i < block; ++i) {
        if (i == at) continue;
        EXPECT_EQ(with_nan[static_cast<size_t>(i)], without[static_cast<size_t>(i)])
            << "block " << block << " NaN at " << at << " value " << i;
      }
    }
  }
}

TEST_F(CpuOpsTest, ActQuantFp4MatchesTheE2M1GridPerBlock) {
  const std::vector<float> grid = Grid(2, 1, 1, /*fp8_nan_at_top=*/false);
  ASSERT_EQ(grid, (std::vector<float>{0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f}));
  const int64_t rows = 4, cols = 96, block = 32;
  std::vector<float> x = RandomBf16Values(static_cast<size_t>(rows * cols), rng_, 0.7f);
  const std::vector<float> in = x;
  ops_.ActQuantFp4(F32Rows(x.data(), rows, cols), block);
  for (int64_t b = 0; b < rows * cols; b += block) {
    float amax = 0;
    for (int64_t i = b; i < b + block; ++i) amax = std::max(amax, std::fabs(in[i]));
    const float floor = 6.0f * std::ldexp(1.0f, -126);
    const float s = Pow2AtLeast(std::max(amax, floor) * static_cast<float>(1.0 / 6.0));
    for (int64_t i = b; i < b + block; ++i) {
      ASSERT_EQ(Bits(x[i]), Bits(NearestOnGrid(grid, in[i] / s) * s)) << i;
    }
  }
}

TEST_F(CpuOpsTest, ActQuantRefusesAWidthThatIsNotWholeBlocks) {
  std::vector<float> x(100);
  EXPECT_THROW(ops_.ActQuantFp8(F32Rows(x.data(), 1, 100), 64), std::invalid_argument);
}

// ---- Hadamard ----------------------------------------------------------------------------------

TEST_F(CpuOpsTest, HadamardIsTheSylvesterMatrixProductScaledAndRoundedToBf16) {
  for (int64_t n : {1, 2, 8, 64, 128}) {
    const int64_t rows = 3;
    std::vector<float> x = RandomBf16Values(static_cast<size_t>(rows * n), rng_, 1.0f);
    const std::vector<float> in = x;
    ops_.HadamardBf16(F32Rows(x.data(), rows, n));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < n; ++i) {
        long double sum = 0;  // exact: n bf16 values
        for (int64_t j = 0; j < n; ++j) {
          const long double v = in[r * n + j];
          sum += (std::popcount(static_cast<uint64_t>(i & j)) % 2 == 0) ? v : -v;
        }
        // The op scales in double by fl64(1/sqrt(n)), then rounds double -> float -> bf16.
        const double scaled = static_cast<double>(sum) * (1.0 / std::sqrt(static_cast<double>(n)));
        ASSERT_EQ(Bits(x[r * n + i]), Bits(RefBf16Twice(scaled))) << n << ":" << r << "," << i;
      }
    }
  }
  std::vector<float> bad(12);
  EXPECT_THROW(ops_.HadamardBf16(F32Rows(bad.data(), 1, 12)), std::invalid_argument);
}

// ---- per-head RMSNorm --------------------------------------------------------------------------

TEST_F(CpuOpsTest, HeadRmsNormRoundsEveryStepToBf16) {
  const int64_t heads = 5, hd = 72;
  const float eps = 1e-6f;
  std::vector<float> x = RandomBf16Values(static_cast<size_t>(heads * hd), rng_, 2.5f);
  const std::vector<float> in = x;
  ops_.HeadRmsNormBf16(F32Rows(x.data(), heads, hd), eps);
  for (int64_t h = 0; h < heads; ++h) {
    long double sum = 0;
    for (int64_t i = 0; i < hd; ++i) {
      const float v = in[h * hd + i];
      sum += RefBf16(static_cast<float>(v * v));  // q^2 in fp32, rounded to bf16
    }
    const float mean = RefBf16Twice(static_cast<double>(sum) / static_cast<double>(hd));
    const float var = RefBf16(static_cast<float>(mean + RefBf16(eps)));
    const float r = RefBf16Twice(1.0 / std::sqrt(static_cast<double>(var)));
    for (int64_t i = 0; i < hd; ++i) {
      ASSERT_EQ(Bits(x[h * hd + i]), Bits(RefBf16(static_cast<float>(in[h * hd + i] * r))))
          << h << "," << i;
    }
  }
}

// ---- RoPE --------------------------------------------------------------------------------------

TEST_F(CpuOpsTest, RopeRotatesTheLastDimsOfEachRowAtItsPosition) {
  const int64_t positions_n = 3, group = 2, width = 24, rope_dims = 8;
  const std::vector<float> freqs = {1.0f, 0.1f, 0.01f, 0.001f};
  const std::vector<int64_t> positions = {0, 7, 4096};
  std::vector<float> x =
      RandomBf16Values(static_cast<size_t>(positions_n * group * width), rng_, 1.0f);
  const std::vector<float> in = x;
  ops_.RopeRotate(F32Rows(x.data(), positions_n * group, width), freqs, positions, false);
  for (int64_t row = 0; row < positions_n * group; ++row) {
    const int64_t pos = positions[static_cast<size_t>(row / group)];
    const float* a = in.data() + row * width;
    const float* b = x.data() + row * width;
    for (int64_t i = 0; i < width - rope_dims; ++i) EXPECT_EQ(Bits(b[i]), Bits(a[i]));  // no-RoPE
    for (int64_t i = 0; i < rope_dims / 2; ++i) {
      const float angle = static_cast<float>(pos) * freqs[static_cast<size_t>(i)];
      const long double c = static_cast<float>(std::cos(static_cast<double>(angle)));
      const long double s = static_cast<float>(std::sin(static_cast<double>(angle)));
      const long double re = a[width - rope_dims + 2 * i], im = a[width - rope_dims + 2 * i + 1];
      // bf16 x fp32 products are exact in long double; the op rounds double -> float -> bf16.
      EXPECT_EQ(Bits(b[width - rope_dims + 2 * i]),
                Bits(RefBf16(static_cast<float>(static_cast<double>(re * c - im * s)))));
      EXPECT_EQ(Bits(b[width - rope_dims + 2 * i + 1]),
                Bits(RefBf16(static_cast<float>(static_cast<double>(re * s + im * c)))));
    }
  }
  // The inverse rotation brings the values back to within bf16 rounding.
  ops_.RopeRotate(F32Rows(x.data(), positions_n * group, width), freqs, positions, true);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], in[i], 0.02f * (1 + std::fabs(in[i])));
  EXPECT_THROW(ops_.RopeRotate(F32Rows(x.data(), 5, width), freqs, positions, false),
               std::invalid_argument);
}

// ---- SwiGLU ------------------------------------------------------------------------------------

TEST_F(CpuOpsTest, SwiGluClampsWeightsAndRoundsToBf16) {
  const int64_t rows = 3, inter = 40;
  const float limit = 1.5f;
  std::vector<float> g = RandomBf16Values(static_cast<size_t>(rows * inter), rng_, 2.0f);
  std::vector<float> u = RandomBf16Values(g.size(), rng_, 2.0f);
  g[0] = 7.0f;   // clamped from above
  g[1] = -9.0f;  // not clamped from below
  u[2] = -4.0f;  // clamped to -limit
  const std::vector<float> weight = {0.25f, 1.5f, 0.3f};
  for (bool weighted : {false, true}) {
    for (float lim : {0.0f, limit}) {
      std::vector<float> out = g;
      ops_.SwiGlu(F32Rows(out.data(), rows, inter), F32Rows(u.data(), rows, inter),
                  weighted ? weight.data() : nullptr, lim);
      for (int64_t t = 0; t < rows; ++t) {
        for (int64_t i = 0; i < inter; ++i) {
          float gv = g[t * inter + i], uv = u[t * inter + i];
          if (lim > 0) {
            gv = std::min(gv, lim);
            uv = std::max(-lim, std::min(uv, lim));
          }
          const long double gl = gv;
          const float silu = static_cast<float>(gl / (1.0L + std::exp(-gl)));
          float a = silu * uv;
          if (weighted) a = weight[static_cast<size_t>(t)] * a;
          ASSERT_EQ(Bits(out[t * inter + i]), Bits(RefBf16(a))) << t << "," << i;
        }
      }
    }
  }
}

// ---- MoE combine -------------------------------------------------------------------------------

TEST_F(CpuOpsTest, CombineExpertsSumsDistinctExpertsInAscendingIdOrderPlusShared) {
  // Row 0 picks expert 3 twice: its second slot must not count. The values make the fp32 order
  // matter: 1e8 + 1 - 1e8 is 0 in fp32 in that order but 1 in another.
  const int64_t rows = 2, k = 3, dim = 2;
  const std::vector<int32_t> ids = {3, 1, 3, 5, 0, 2};
  const std::vector<float> routed = {
      -1e8f, 10.0f,  // row 0, slot 0: expert 3
      1e8f,  20.0f,  // row 0, slot 1: expert 1
      999.f, 999.f,  // row 0, slot 2: expert 3 again (ignored)
      1.0f,  1.0f,   // row 1, slot 0: expert 5
      1e8f,  2.0f,   // row 1, slot 1: expert 0
      -1e8f, 3.0f,   // row 1, slot 2: expert 2
  };
  const std::vector<float> shared = {0.5f, 0.25f, 0.0f, 0.125f};
  std::vector<float> out(static_cast<size_t>(rows * dim));
  ops_.CombineExperts(F32Rows(routed.data(), rows * k, dim), F32Rows(shared.data(), rows, dim),
                      ids.data(), k, F32Rows(out.data(), rows, dim));
  // Row 0: experts 1, 3 -> (1e8 + -1e8) + 0.5 = 0.5; 20 + 10 + 0.25 = 30.25.
  // Row 1: experts 0, 2, 5 -> ((1e8 + -1e8) + 1) + 0 = 1; 2 + 3 + 1 + 0.125 = 6.125.
  EXPECT_EQ(out, (std::vector<float>{0.5f, 30.25f, 1.0f, 6.125f}));

  // Random rows against a reference that sorts the distinct ids itself.
  const int64_t n = 5, kk = 6, d = 33;
  std::uniform_int_distribution<int32_t> pick(0, 7);
  std::vector<int32_t> rid(static_cast<size_t>(n * kk));
  for (int32_t& v : rid) v = pick(rng_);
  const std::vector<float> r = RandomBf16Values(static_cast<size_t>(n * kk * d), rng_, 1.0f);
  const std::vector<float> s = RandomBf16Values(static_cast<size_t>(n * d), rng_, 1.0f);
  std::vector<float> o(static_cast<size_t>(n * d));
  ops_.CombineExperts(F32Rows(r.data(), n * kk, d), F32Rows(s.data(), n, d), rid.data(), kk,
                      F32Rows(o.data(), n, d));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t c = 0; c < d; ++c) {
      float y = 0;
      for (int32_t e = 0; e <= 7; ++e) {  // ascending expert id, first slot holding it
        for (int64_t j = 0; j < kk; ++j) {
          if (rid[static_cast<size_t>(t * kk + j)] == e) {
            y += r[static_cast<size_t>((t * kk + j) * d + c)];
            break;
          }
        }
      }
      y += s[static_cast<size_t>(t * d + c)];
      ASSERT_EQ(Bits(o[static_cast<size_t>(t * d + c)]), Bits(RefBf16(y))) << t << "," << c;
    }
  }
}

// ---- window ring -------------------------------------------------------------------------------

TEST_F(CpuOpsTest, WindowRingWriteKeepsTheLastWindowPositionsAtTheirSlots) {
  const int64_t window = 4, hd = 2;
  std::vector<uint16_t> ring(static_cast<size_t>(window * hd), 0xffff);
  // Positions 6, 7, 8 -> slots 2, 3, 0; slot 1 untouched.
  const std::vector<uint16_t> three = {60, 61, 70, 71, 80, 81};
  ops_.WriteWindowRing(Bf16BitRows(three.data(), 3, hd), 6, Bf16BitRows(ring.data(), window, hd));
  EXPECT_EQ(ring, (std::vector<uint16_t>{80, 81, 0xffff, 0xffff, 60, 61, 70, 71}));
  // Six positions 1 .. 6 in a window of 4: only 3 .. 6 stay, at slots 3, 0, 1, 2.
  std::vector<uint16_t> six;
  for (uint16_t p = 1; p <= 6; ++p) six.insert(six.end(), {static_cast<uint16_t>(p * 10), p});
  ops_.WriteWindowRing(Bf16BitRows(six.data(), 6, hd), 1, Bf16BitRows(ring.data(), window, hd));
  EXPECT_EQ(ring, (std::vector<uint16_t>{40, 4, 50, 5, 60, 6, 30, 3}));
}

// ---- sparse attention --------------------------------------------------------------------------

std::vector<uint16_t> ToBf16Bits(const std::vector<float>& v) {
  std::vector<uint16_t> bits(v.size());
  for (size_t i = 0; i < v.size(); ++i) bits[i] = static_cast<uint16_t>(Bits(v[i]) >> 16);
  return bits;
}

// Softmax attention with the sink in the denominator, in long double, without blocks or
// intermediate roundings: the op's result is within bf16 rounding of P of it.
std::vector<long double> ReferenceAttention(const float* q, const std::vector<float>& kv,
                                            const std::vector<int32_t>& list, int64_t hd,
                                            float scale, float sink) {
  std::vector<long double> scores;
  long double mx = sink;
  for (int32_t i : list) {
    if (i < 0) continue;
    long double dot = 0;
    for (int64_t d = 0; d < hd; ++d) dot += static_cast<long double>(q[d]) * kv[i * hd + d];
    scores.push_back(dot * scale);
    mx = std::max(mx, scores.back());
  }
  long double denom = std::exp(static_cast<long double>(sink) - mx);
  std::vector<long double> out(static_cast<size_t>(hd), 0.0L);
  size_t j = 0;
  for (int32_t i : list) {
    if (i < 0) continue;
    const long double p = std::exp(scores[j++] - mx);
    denom += p;
    for (int64_t d = 0; d < hd; ++d) out[d] += p * kv[i * hd + d];
  }
  for (long double& v : out) v /= denom;
  return out;
}

TEST_F(CpuOpsTest, SparseAttentionFollowsSoftmaxWithSinkOverTheIndexList) {
  const int64_t heads = 3, hd = 64, rows = 2, kv_rows = 150;
  const float scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5));
  const std::vector<float> kv = RandomBf16Values(static_cast<size_t>(kv_rows * hd), rng_, 1.0f);
  const std::vector<uint16_t> kv_bits = ToBf16Bits(kv);
  const std::vector<float> q = RandomBf16Values(static_cast<size_t>(rows * heads * hd), rng_, 1.f);
  const std::vector<float> sinks = {0.5f, -1.0f, 2.0f};
  // Row 0: 130 entries (three blocks of 64), some masked; row 1: a short list, all masked but 2.
  std::vector<int32_t> indices;
  for (int32_t i = 0; i < 130; ++i) indices.push_back(i % 17 == 5 ? -1 : (i * 7) % kv_rows);
  const int64_t row1 = static_cast<int64_t>(indices.size());
  indices.insert(indices.end(), {-1, 149, -1, 0, -1});
  const std::vector<int64_t> list_begin = {0, row1, static_cast<int64_t>(indices.size())};

  const auto run = [&](const KvRowSet& set, cpu::ThreadPool& pool) {
    const cpu::CpuOps ops(pool);
    std::vector<float> out(q.size(), -7.0f);
    SparseAttentionArgs a;
    a.q = F32Rows(q.data(), rows, heads * hd);
    a.out = F32Rows(out.data(), rows, heads * hd);
    a.heads = heads;
    a.head_dim = hd;
    a.scale = scale;
    a.sinks = sinks.data();
    a.kv = set;
    a.indices = indices.data();
    a.list_begin = list_begin.data();
    ops.SparseAttention(a);
    return out;
  };
  KvRowSet one;
  one.parts[0] = Bf16BitRows(kv_bits.data(), kv_rows, hd);
  one.count = 1;
  const std::vector<float> out = run(one, pool_);

  for (int64_t t = 0; t < rows; ++t) {
    const std::vector<int32_t> list(indices.begin() + list_begin[t],
                                    indices.begin() + list_begin[t + 1]);
    for (int64_t h = 0; h < heads; ++h) {
      const std::vector<long double> want =
          ReferenceAttention(q.data() + (t * heads + h) * hd, kv, list, hd, scale, sinks[h]);
      for (int64_t d = 0; d < hd; ++d) {
        const float got = out[static_cast<size_t>((t * heads + h) * hd + d)];
        EXPECT_EQ(got, RefBf16(got));  // a bf16 value
        // P in bf16 (relative 2^-9) and the bf16 output (2^-9): a few 2^-8 of the largest |v|.
        EXPECT_NEAR(got, static_cast<double>(want[d]), 0.03) << t << "," << h << "," << d;
      }
    }
  }

  // The same rows split over three parts (numbered in order) give the same bits, and so does
  // another thread count.
  KvRowSet three;
  three.parts[0] = Bf16BitRows(kv_bits.data(), 10, hd);
  three.parts[1] = Bf16BitRows(kv_bits.data() + 10 * hd, 100, hd);
  three.parts[2] = Bf16BitRows(kv_bits.data() + 110 * hd, kv_rows - 110, hd);
  three.count = 3;
  cpu::ThreadPool pool3(3);
  const std::vector<float> split = run(three, pool3);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(Bits(split[i]), Bits(out[i])) << i;
}

TEST_F(CpuOpsTest, SparseAttentionWithEveryEntryMaskedGivesZero) {
  const int64_t hd = 8;
  const std::vector<uint16_t> kv(static_cast<size_t>(4 * hd), 0x3f80);  // 1.0
  const std::vector<float> q(static_cast<size_t>(hd), 1.0f);
  const std::vector<int32_t> indices = {-1, -1};
  const std::vector<int64_t> begin = {0, 2};
  const float sink = 0.0f;
  std::vector<float> out(static_cast<size_t>(hd), 5.0f);
  SparseAttentionArgs a;
  a.q = F32Rows(q.data(), 1, hd);
  a.out = F32Rows(out.data(), 1, hd);
  a.heads = 1;
  a.head_dim = hd;
  a.scale = 1.0f;
  a.sinks = &sink;
  a.kv.parts[0] = Bf16BitRows(kv.data(), 4, hd);
  a.kv.count = 1;
  a.indices = indices.data();
  a.list_begin = begin.data();
  ops_.SparseAttention(a);
  EXPECT_EQ(out, std::vector<float>(static_cast<size_t>(hd), 0.0f));
}

// ---- views and workspace -----------------------------------------------------------------------

TEST(ViewTest, RowsHonourTheStrideAndRefuseTheWrongElementType) {
  std::vector<float> x(12);
  const View v = F32Rows(x.data(), 3, 2, 4);
  EXPECT_EQ(v.row<float>(2), x.data() + 8);
  const ConstView c = v;
  EXPECT_EQ(c.row<const float>(1), x.data() + 4);
  EXPECT_THROW(v.row<uint16_t>(0), std::logic_error);
}

TEST(WorkspaceTest, ReusesASlotUntilItMustGrowAndAlignsTo64) {
  Workspace ws;
  double* a = ws.Get<double>(0, 100);
  float* b = ws.Get<float>(1, 10);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 64, 0u);
  EXPECT_EQ(ws.Get<double>(0, 50), a);  // smaller: the same buffer
  EXPECT_EQ(ws.capacity(), 100 * sizeof(double) + 10 * sizeof(float));
  ws.Get<double>(0, 1000);  // grows to what is asked
  EXPECT_EQ(ws.capacity(), 1000 * sizeof(double) + 10 * sizeof(float));
  // A little more: at least doubled, so a slot that grows a step at a time reallocates rarely.
  double* grown = ws.Get<double>(0, 1001);
  EXPECT_EQ(ws.capacity(), 2000 * sizeof(double) + 10 * sizeof(float));
  EXPECT_EQ(ws.Get<double>(0, 2000), grown);
}

TEST(WorkspaceTest, TrimFreesOnlyTheSlotsOverTheLimit) {
  Workspace ws;
  ws.Get<char>(0, 100);
  char* big = ws.Get<char>(1, 10000);
  ASSERT_NE(big, nullptr);
  ws.Trim(1000);
  EXPECT_EQ(ws.capacity(), 100u);
  EXPECT_NE(ws.Get<char>(1, 10), nullptr);  // a trimmed slot serves again
}

}  // namespace
}  // namespace dsagent::engine::kernels::cpu_ops_test
