// The number formats and quantisers of engine/forward: bf16 round-to-nearest-even, FP8 e4m3, e8m0,
// FP4 e2m1, the reference's power-of-two block scales, the Hadamard rotation, Sinkhorn, RoPE and
// the thread pool.
#include "engine/forward/numerics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/forward/hyper_connection.h"
#include "engine/forward/rope.h"
#include "engine/forward/thread_pool.h"
#include "engine/forward/weight_matrix.h"
#include "engine/kernels/cpu/mixing_ops.h"
#include "engine/kernels/cpu/quant_ops.h"
#include "engine/kernels/cpu/rope_rotate.h"
#include "engine/model/model_config.h"

namespace dsagent::engine::forward {
namespace {

// What the engine did before it followed the canonical convention: the nearest bf16 value of a
// double, rounded once (not via float). Here to show where the two roundings differ.
float RoundBf16Once(double d) {
  if (!std::isfinite(d)) return static_cast<float>(d);
  if (std::fabs(d) < 0x1p-126) {  // bf16 subnormals: multiples of 2^-133, ties to even
    return static_cast<float>(std::nearbyint(d / 0x1p-133) * 0x1p-133);
  }
  // Keep 8 significant bits (1 implicit + 7 stored): clear the low 45 of the double's 52, with
  // round-half-to-even through the carry trick.
  uint64_t u = std::bit_cast<uint64_t>(d);
  u += ((uint64_t{1} << 44) - 1) + ((u >> 45) & 1u);
  u &= ~((uint64_t{1} << 45) - 1);
  const double r = std::bit_cast<double>(u);
  if (std::fabs(r) > 0x1.fep127) {
    return d > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
  }
  return static_cast<float>(r);
}

TEST(NumericsTest, Bf16RoundsToNearestEven) {
  EXPECT_EQ(RoundBf16(1.0f), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
  EXPECT_EQ(RoundBf16(1.0f + 0x1p-8f), 1.0f);
  // 1 + 3*2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
  EXPECT_EQ(RoundBf16(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);
  EXPECT_EQ(RoundBf16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);  // above the tie
  EXPECT_EQ(RoundBf16(-1.0f - 0x1p-8f), -1.0f);
  EXPECT_EQ(RoundBf16(std::numeric_limits<float>::max()), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(RoundBf16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(RoundBf16(std::numeric_limits<float>::infinity()),
            std::numeric_limits<float>::infinity());
  EXPECT_EQ(FloatToBf16Bits(1.0f), 0x3f80);
  EXPECT_EQ(Bf16BitsToFloat(0xc000), -2.0f);
}

// The canonical convention: a double result reaches bf16 through float (two roundings).
TEST(NumericsTest, Bf16FromDoubleRoundsViaFloatNotOnce) {
  // Just above the tie between 1 and 1 + 2^-7, by less than half a float ulp: rounding to float
  // first lands on the tie, which then goes to even (1); rounding the double once goes up.
  const double d = 1.0 + 0x1p-8 + 0x1p-30;
  EXPECT_EQ(RoundBf16(d), 1.0f);
  EXPECT_EQ(RoundBf16Once(d), 1.0f + 0x1p-7f);
  // Below the tie by less than half a float ulp: the same story downwards.
  const double below = -(1.0 + 3 * 0x1p-8 - 0x1p-30);
  EXPECT_EQ(RoundBf16(below), -(1.0f + 0x1p-6f));
  EXPECT_EQ(RoundBf16Once(below), -(1.0f + 0x1p-7f));
  for (float f : {0.0f, 1.5f, -3.25f, 1e-30f, 7.0e37f, 0x1p-130f, 0x1.234p-128f}) {
    EXPECT_EQ(RoundBf16(static_cast<double>(f)), RoundBf16(f)) << f;
    EXPECT_EQ(RoundBf16Once(static_cast<double>(f)), RoundBf16(f)) << f;
  }
  EXPECT_EQ(RoundBf16(1e39), std::numeric_limits<float>::infinity());
  EXPECT_EQ(RoundBf16Once(1e39), std::numeric_limits<float>::infinity());
}

TEST(NumericsTest, Fp8E4M3EveryByteRoundTrips) {
  for (int b = 0; b < 256; ++b) {
    const float v = Fp8E4M3ToFloat(static_cast<uint8_t>(b));
    if ((b & 0x7f) == 0x7f) {
      EXPECT_TRUE(std::isnan(v)) << b;
      continue;
    }
    EXPECT_EQ(RoundFp8E4M3(v), v) << b;
    EXPECT_EQ(Fp8E4M3Byte(v), b) << b;  // the encoder inverts the decoder
  }
  EXPECT_EQ(Fp8E4M3Byte(-0.0f), 0x80);
  EXPECT_EQ(Fp8E4M3Byte(1000.0f), 0x7e);  // saturates like RoundFp8E4M3
  EXPECT_EQ(Fp8E4M3Byte(0x1.ep-7f), 0x08);
  EXPECT_EQ(Fp8E4M3ToFloat(Fp8E4M3Byte(0.3f)), RoundFp8E4M3(0.3f));
  EXPECT_EQ(Fp8E4M3ToFloat(0x7e), 448.0f);   // largest finite
  EXPECT_EQ(Fp8E4M3ToFloat(0x01), 0x1p-9f);  // smallest subnormal
  EXPECT_EQ(Fp8E4M3ToFloat(0x08), 0x1p-6f);  // smallest normal
  EXPECT_EQ(Fp8E4M3ToFloat(0xb8), -1.0f);
}

TEST(NumericsTest, Fp8E4M3RoundsToNearestEvenAndSaturates) {
  EXPECT_EQ(RoundFp8E4M3(1.0f + 1.0f / 16), 1.0f);    // tie: 1 (even) vs 1.125
  EXPECT_EQ(RoundFp8E4M3(1.0f + 3.0f / 16), 1.25f);   // tie: 1.125 (odd) vs 1.25
  EXPECT_EQ(RoundFp8E4M3(1.0f + 1.0f / 15), 1.125f);  // above the tie
  EXPECT_EQ(RoundFp8E4M3(0x1p-10f), 0.0f);            // half the smallest subnormal
  EXPECT_EQ(RoundFp8E4M3(3 * 0x1p-10f), 0x1p-8f);     // subnormal tie to even
  EXPECT_EQ(RoundFp8E4M3(-3 * 0x1p-10f), -0x1p-8f);
  EXPECT_EQ(RoundFp8E4M3(0x1.ep-7f), 0x1p-6f);  // last subnormal step into normals
  EXPECT_EQ(RoundFp8E4M3(440.0f), 448.0f);
  EXPECT_EQ(RoundFp8E4M3(1000.0f), 448.0f);
  EXPECT_EQ(RoundFp8E4M3(-1000.0f), -448.0f);
}

// The e4m3 rounding as the reference states it, in double through frexp/ldexp: an independent
// form of what RoundFp8E4M3 computes with one float addition.
float Fp8E4M3ByFrexp(float v) {
  if (std::isnan(v)) return v;
  const double a = std::fabs(static_cast<double>(v));
  if (a >= 448.0) return v > 0 ? 448.0f : -448.0f;
  double quantum = 0x1p-9;
  if (a >= 0x1p-6) {
    int e = 0;
    std::frexp(a, &e);
    quantum = std::ldexp(1.0, e - 4);
  }
  const double r = std::nearbyint(static_cast<double>(v) / quantum) * quantum;
  return static_cast<float>(std::fmax(-448.0, std::fmin(448.0, r)));
}

TEST(NumericsTest, Fp8E4M3RoundingMatchesTheFrexpFormOnEveryKindOfValue) {
  std::vector<float> values = {0.0f,
                               -0.0f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::denorm_min(),
                               448.0f,
                               447.99997f,
                               464.0f,
                               0x1p-6f,
                               0x1p-9f,
                               0x1p-10f};
  // Every exponent from float subnormals to beyond 448 with 2^14 mantissas each, both signs.
  for (uint32_t e = 0; e < 140; ++e) {
    for (uint32_t m = 0; m < (1u << 23); m += 1u << 9) {
      const uint32_t bits = (e << 23) | m | (m >> 12);
      values.push_back(std::bit_cast<float>(bits));
      values.push_back(-std::bit_cast<float>(bits));
    }
  }
  // Every tie (half a quantum between two e4m3 values) and its float neighbours.
  for (uint8_t b = 0; b < 0x7e; ++b) {
    const float lo = Fp8E4M3ToFloat(b), hi = Fp8E4M3ToFloat(static_cast<uint8_t>(b + 1));
    const float tie = lo + (hi - lo) / 2;
    for (float v : {tie, std::nextafter(tie, 0.0f), std::nextafter(tie, 1000.0f)}) {
      values.push_back(v);
      values.push_back(-v);
    }
  }
  for (float v : values) {
    const float got = RoundFp8E4M3(v), want = Fp8E4M3ByFrexp(v);
    ASSERT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want))
        << std::hexfloat << v << ": " << got << " vs " << want;
  }
  EXPECT_TRUE(std::isnan(RoundFp8E4M3(std::numeric_limits<float>::quiet_NaN())));
}

TEST(NumericsTest, E8M0ScalesArePowersOfTwo) {
  EXPECT_EQ(E8M0ToFloat(127), 1.0f);
  EXPECT_EQ(E8M0ToFloat(128), 2.0f);
  EXPECT_EQ(E8M0ToFloat(120), 0x1p-7f);
  EXPECT_EQ(E8M0ToFloat(254), 0x1p127f);
  EXPECT_EQ(E8M0ToFloat(0), 0x1p-127f);
  EXPECT_TRUE(std::isnan(E8M0ToFloat(255)));
}

TEST(NumericsTest, Fp4E2M1DecodesAndRoundsToNearestEven) {
  const float magnitudes[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (uint8_t n = 0; n < 16; ++n) {
    const float want = (n & 8) ? -magnitudes[n & 7] : magnitudes[n & 7];
    EXPECT_EQ(Fp4E2M1ToFloat(n), want) << int(n);
    EXPECT_EQ(RoundFp4E2M1(want), want);
    EXPECT_EQ(Fp4E2M1Nibble(want), n) << int(n);  // the encoder inverts the decoder
  }
  EXPECT_EQ(Fp4E2M1Nibble(2.6f), 5);    // 3
  EXPECT_EQ(Fp4E2M1Nibble(-9.0f), 15);  // saturates at -6
  EXPECT_EQ(RoundFp4E2M1(0.25f), 0.0f);
  EXPECT_EQ(RoundFp4E2M1(0.75f), 1.0f);
  EXPECT_EQ(RoundFp4E2M1(1.25f), 1.0f);
  EXPECT_EQ(RoundFp4E2M1(1.75f), 2.0f);
  EXPECT_EQ(RoundFp4E2M1(2.5f), 2.0f);
  EXPECT_EQ(RoundFp4E2M1(3.5f), 4.0f);
  EXPECT_EQ(RoundFp4E2M1(5.0f), 4.0f);
  EXPECT_EQ(RoundFp4E2M1(5.1f), 6.0f);
  EXPECT_EQ(RoundFp4E2M1(7.0f), 6.0f);
  EXPECT_EQ(RoundFp4E2M1(-2.5f), -2.0f);
}

TEST(NumericsTest, BlockScalesFollowTheReference) {
  // 2^ceil(log2(amax * fl32(1/448))): 448 * fl32(1/448) rounds to exactly 1 in float.
  EXPECT_EQ(Fp8BlockScale(448.0f), 1.0f);
  EXPECT_EQ(Fp8BlockScale(449.0f), 2.0f);
  EXPECT_EQ(Fp8BlockScale(224.0f), 0.5f);
  EXPECT_EQ(Fp8BlockScale(0.0f), 0x1p-22f);  // amax clamped to 1e-4
  EXPECT_EQ(Fp4BlockScale(6.0f), 1.0f);
  EXPECT_EQ(Fp4BlockScale(6.5f), 2.0f);
  EXPECT_EQ(Fp4BlockScale(0.0f), 0x1p-126f);  // amax clamped to 6 * 2^-126
  EXPECT_EQ(Pow2Ceil(1.0f), 1.0f);
  EXPECT_EQ(Pow2Ceil(1.0000001f), 2.0f);
  EXPECT_EQ(Pow2Ceil(0.3f), 0.5f);
}

TEST(NumericsTest, Fp8BlockQuantisationIsIdempotentAndOnTheGrid) {
  std::vector<float> x(128);
  for (int i = 0; i < 128; ++i)
    x[i] = RoundBf16(std::sin(0.37f * i) * (i % 64 == 5 ? 30.0f : 1.0f));
  std::vector<float> q = x;
  kernels::cpu::QuantizeFp8Blocks(q.data(), 128, 64);
  for (int b = 0; b < 2; ++b) {
    float amax = 0;
    for (int i = 0; i < 64; ++i) amax = std::fmax(amax, std::fabs(x[b * 64 + i]));
    const float s = Fp8BlockScale(amax);
    for (int i = 0; i < 64; ++i) {
      const float v = q[b * 64 + i] / s;
      EXPECT_LE(std::fabs(v), 448.0f);
      EXPECT_EQ(RoundFp8E4M3(v), v);
      EXPECT_EQ(RoundBf16(q[b * 64 + i]), q[b * 64 + i]);  // representable in bf16
    }
  }
  std::vector<float> again = q;
  kernels::cpu::QuantizeFp8Blocks(again.data(), 128, 64);
  EXPECT_EQ(again, q);
}

TEST(NumericsTest, Fp4BlockQuantisationIsIdempotentAndOnTheGrid) {
  std::vector<float> x(64);
  for (int i = 0; i < 64; ++i) x[i] = RoundBf16(std::cos(1.1f * i) * 0.01f);
  std::vector<float> q = x;
  kernels::cpu::QuantizeFp4Blocks(q.data(), 64, 32);
  for (int b = 0; b < 2; ++b) {
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[b * 32 + i]));
    const float s = Fp4BlockScale(amax);
    for (int i = 0; i < 32; ++i) EXPECT_EQ(RoundFp4E2M1(q[b * 32 + i] / s), q[b * 32 + i] / s);
  }
  std::vector<float> again = q;
  kernels::cpu::QuantizeFp4Blocks(again.data(), 64, 32);
  EXPECT_EQ(again, q);
}

TEST(NumericsTest, HadamardIsNaturalOrderAndOrthonormal) {
  std::vector<float> e(8, 0.0f);
  e[0] = 1.0f;
  kernels::cpu::HadamardRotateBf16(e.data(), 8);
  for (float v : e) EXPECT_EQ(v, RoundBf16(1.0 / std::sqrt(8.0)));
  // Natural (Sylvester) order: row 1 of H_4 is (+, -, +, -).
  std::vector<float> x = {1.0f, 2.0f, 3.0f, 4.0f};
  kernels::cpu::HadamardRotateBf16(x.data(), 4);
  EXPECT_EQ(x, (std::vector<float>{5.0f, -1.0f, -2.0f, 0.0f}));
  // H is its own inverse up to the bf16 rounding.
  std::vector<float> y(128);
  for (int i = 0; i < 128; ++i) y[i] = RoundBf16(std::sin(0.1f * i));
  std::vector<float> z = y;
  kernels::cpu::HadamardRotateBf16(z.data(), 128);
  kernels::cpu::HadamardRotateBf16(z.data(), 128);
  for (int i = 0; i < 128; ++i) EXPECT_NEAR(z[i], y[i], 1e-2) << i;
}

TEST(NumericsTest, SinkhornMakesTheMixingMatrixDoublyStochastic) {
  HcShape s;
  s.hc = 4;
  s.sinkhorn_iters = 20;
  std::vector<float> mixes(24), scale = {0.5f, 0.7f, 1.3f}, base(24);
  for (int i = 0; i < 24; ++i) {
    mixes[i] = std::sin(1.7f * i) * 2.0f;
    base[i] = std::cos(0.3f * i);
  }
  float pre[4], post[4], comb[16];
  kernels::cpu::SinkhornSplit(mixes.data(), scale.data(), base.data(), s, pre, post, comb);
  for (int j = 0; j < 4; ++j) {
    EXPECT_GT(pre[j], 0.0f);
    EXPECT_LT(pre[j], 1.0f + 2e-6f);
    EXPECT_GT(post[j], 0.0f);
    EXPECT_LT(post[j], 2.0f);
    float row = 0, col = 0;
    for (int k = 0; k < 4; ++k) {
      row += comb[j * 4 + k];
      col += comb[k * 4 + j];
      EXPECT_GT(comb[j * 4 + k], 0.0f);
    }
    EXPECT_NEAR(row, 1.0f, 1e-4);
    EXPECT_NEAR(col, 1.0f, 1e-5);  // the last normalisation is by columns
  }
}

ModelConfig TinyRopeConfig() {
  ModelConfig c;
  c.rope_head_dim = 64;
  c.rope_theta = 10000;
  c.compress_rope_theta = 160000;
  c.rope_factor = 16;
  c.original_seq_len = 256;
  c.beta_fast = 32;
  c.beta_slow = 1;
  return c;
}

TEST(NumericsTest, YarnScalesOnlyTheLowFrequencies) {
  const ModelConfig c = TinyRopeConfig();
  const Rope window(c, false), compressed(c, true);
  ASSERT_EQ(window.frequencies().size(), 32u);
  EXPECT_EQ(window.frequencies()[0], 1.0f);
  EXPECT_EQ(compressed.frequencies()[0], 1.0f);  // above beta_fast: unchanged
  // Below beta_slow (index >= 10 for base 160000, L0 256) the frequency is divided by 16.
  const float f31 = 1.0f / static_cast<float>(std::pow(160000.0, 62.0 / 64.0));
  EXPECT_FLOAT_EQ(compressed.frequencies()[31], f31 / 16);
  EXPECT_FLOAT_EQ(window.frequencies()[31],
                  1.0f / static_cast<float>(std::pow(10000.0, 62.0 / 64.0)));
}

TEST(NumericsTest, InverseRopeUndoesRope) {
  const Rope rope(TinyRopeConfig(), true);
  std::vector<float> x(128);
  for (int i = 0; i < 128; ++i) x[i] = RoundBf16(std::sin(0.21f * i));
  std::vector<float> y = x;
  kernels::cpu::RopeRotate(y.data(), 1, 128, 128, rope.frequencies(), 77, false);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(y[i], x[i]);  // only the last 64 dims rotate
  EXPECT_NE(y, x);
  kernels::cpu::RopeRotate(y.data(), 1, 128, 128, rope.frequencies(), 77, true);
  for (int i = 64; i < 128; ++i) EXPECT_NEAR(y[i], x[i], 2e-2) << i;
  std::vector<float> z = x;
  kernels::cpu::RopeRotate(z.data(), 1, 128, 128, rope.frequencies(), 0,
                           false);  // position 0 is the identity
  EXPECT_EQ(z, x);
}

TEST(WeightMatrixTest, DequantisesPackedFp4AndFp8RowsAndRanges) {
  // FP4: 2 rows x 64 columns, bytes [2, 32], scales [2, 2] (one per 32 columns).
  std::vector<uint8_t> packed(64), scales = {127, 129, 126, 127};
  for (size_t i = 0; i < packed.size(); ++i) packed[i] = static_cast<uint8_t>(i * 37 + 11);
  WeightMatrix fp4;
  fp4.format = WeightFormat::kFP4;
  fp4.rows = 2;
  fp4.cols = 64;
  fp4.data = packed.data();
  fp4.scale = scales.data();
  fp4.scale_cols = 2;
  std::vector<float> row(64);
  for (int r = 0; r < 2; ++r) {
    fp4.DequantRow(r, row.data());
    for (int c = 0; c < 64; ++c) {
      const uint8_t byte = packed[static_cast<size_t>(r * 32 + c / 2)];
      const uint8_t nibble = c % 2 ? byte >> 4 : byte & 0xf;
      EXPECT_EQ(row[c], Fp4E2M1ToFloat(nibble) * E8M0ToFloat(scales[r * 2 + c / 32])) << r << c;
    }
    std::vector<float> part(64);
    fp4.DequantRowRange(r, 7, 41, part.data());  // odd start, odd end, across a scale block
    for (int c = 7; c < 41; ++c) EXPECT_EQ(part[c - 7], row[c]) << c;
  }
  // FP8: 1 row x 256 columns with a scale per 128x128 block.
  std::vector<uint8_t> bytes(256), fp8_scales = {130, 125};
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i % 0x7e);
  WeightMatrix fp8;
  fp8.format = WeightFormat::kFP8;
  fp8.rows = 1;
  fp8.cols = 256;
  fp8.data = bytes.data();
  fp8.scale = fp8_scales.data();
  fp8.scale_cols = 2;
  std::vector<float> r8(256), p8(256);
  fp8.DequantRow(0, r8.data());
  for (int c = 0; c < 256; ++c) {
    EXPECT_EQ(r8[c], Fp8E4M3ToFloat(bytes[c]) * E8M0ToFloat(fp8_scales[c / 128]));
  }
  fp8.DequantRowRange(0, 100, 200, p8.data());
  for (int c = 100; c < 200; ++c) EXPECT_EQ(p8[c - 100], r8[c]);
}

TEST(ThreadPoolTest, CoversEveryIndexOnceAndNestsInline) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.size(), 3);
  for (int64_t n : {0, 1, 7, 100, 1000}) {
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    pool.ParallelFor(n, 3, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
      pool.ParallelFor(4, 1, [](int64_t, int64_t) {});  // nested: runs inline
    });
    for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  }
  ThreadPool single(1);
  int64_t total = 0;
  single.ParallelFor(10, 1, [&](int64_t b, int64_t e) { total += e - b; });
  EXPECT_EQ(total, 10);
}

}  // namespace
}  // namespace dsagent::engine::forward
