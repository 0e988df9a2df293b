// The arithmetic the CUDA kernels share with the host (engine/kernels/cuda/device_math.h), run on
// the host against the CPU implementation it must match bit for bit. Needs no device, so it runs
// in every build: a kernel built from these functions computes the CPU's numbers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/forward/moe.h"
#include "engine/forward/numerics.h"
#include "engine/forward/rope.h"
#include "engine/kernels/cpu/moe_ops.h"
#include "engine/kernels/cpu/quant_ops.h"
#include "engine/kernels/cpu/rope_rotate.h"
#include "engine/kernels/cpu/weight_dot_f32.h"
#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/division_walk.h"
#include "engine/model/model_config.h"
#include "tests/engine/kernels/cuda_weight_view.h"
#include "tests/engine/kernels/random_weights.h"

namespace dsagent::engine::kernels {
namespace {
namespace dm = cuda;

uint32_t BitsOfFloat(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float FloatOfBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// Equal bits, or both NaN.
::testing::AssertionResult SameFloat(float a, float b) {
  if ((std::isnan(a) && std::isnan(b)) || BitsOfFloat(a) == BitsOfFloat(b)) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << a << " (0x" << std::hex << BitsOfFloat(a) << ") vs " << b
                                       << " (0x" << BitsOfFloat(b) << ")";
}

// Floats that exercise every rounding decision of the 8- and 4-bit formats: all sign/exponent
// combinations and the top 11 mantissa bits, each with low bits 0, 1, half-way and all ones.
std::vector<float> DenseFloats() {
  std::vector<float> out;
  for (uint32_t high = 0; high < (1u << 20); ++high) {
    for (uint32_t low : {0u, 1u, 0x7ffu, 0x800u, 0x801u, 0xfffu}) {
      const float f = FloatOfBits(high << 12 | low);
      if (!std::isinf(f)) out.push_back(f);
    }
  }
  return out;
}

TEST(CudaDeviceMathTest, DecodesEveryStoredByteLikeTheCpu) {
  for (int b = 0; b < 256; ++b) {
    const auto byte = static_cast<uint8_t>(b);
    EXPECT_TRUE(SameFloat(dm::E4M3ToFloat(byte), forward::Fp8E4M3ToFloat(byte))) << "e4m3 " << b;
    EXPECT_TRUE(SameFloat(dm::E8M0ToFloat(byte), forward::E8M0ToFloat(byte))) << "e8m0 " << b;
    EXPECT_EQ(dm::Fp8ScaleInLaneRange(byte), detail::Fp8ScaleFitsFloat(byte)) << b;
    EXPECT_EQ(dm::Fp4ScaleInLaneRange(byte), detail::Fp4ScaleFitsFloat(byte)) << b;
  }
  for (int n = 0; n < 16; ++n) {
    const auto nibble = static_cast<uint8_t>(n);
    EXPECT_TRUE(SameFloat(dm::E2M1ToFloat(nibble), forward::Fp4E2M1ToFloat(nibble))) << n;
  }
}

TEST(CudaDeviceMathTest, RoundingsMatchTheCpuOnADenseSetOfFloats) {
  size_t checked = 0;
  for (const float f : DenseFloats()) {
    ASSERT_TRUE(SameFloat(dm::RoundBf16(f), forward::RoundBf16(f))) << "bf16 of " << f;
    ASSERT_TRUE(SameFloat(dm::RoundE4M3(f), forward::RoundFp8E4M3(f))) << "e4m3 of " << f;
    ASSERT_TRUE(SameFloat(dm::RoundE2M1(f), forward::RoundFp4E2M1(f))) << "e2m1 of " << f;
    ++checked;
  }
  EXPECT_GT(checked, 6000000u);
}

TEST(CudaDeviceMathTest, BlockScalesMatchTheCpu) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits(0, 0x7f7fffffu);  // positive finite floats
  for (int i = 0; i < 200000; ++i) {
    const float amax = FloatOfBits(bits(rng));
    ASSERT_TRUE(SameFloat(dm::Fp8BlockScale(amax), forward::Fp8BlockScale(amax))) << amax;
    ASSERT_TRUE(SameFloat(dm::Fp4BlockScale(amax), forward::Fp4BlockScale(amax))) << amax;
  }
  for (const float amax : {0.0f, 1e-4f, 448.0f, 6.0f, 1.0f, 1e-30f}) {
    EXPECT_TRUE(SameFloat(dm::Fp8BlockScale(amax), forward::Fp8BlockScale(amax))) << amax;
    EXPECT_TRUE(SameFloat(dm::Fp4BlockScale(amax), forward::Fp4BlockScale(amax))) << amax;
  }
}

// The act_quant kernel's per-block arithmetic (max, scale, quantise) against QuantizeFp8Blocks /
// QuantizeFp4Blocks.
TEST(CudaDeviceMathTest, ActQuantBlocksMatchTheCpu) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (const auto& [block, fp4] : {std::pair<int64_t, bool>{128, false}, {64, false}, {32, true}}) {
    std::vector<float> x(static_cast<size_t>(block * 37));
    for (float& v : x) v = forward::RoundBf16(normal(rng));
    std::vector<float> cpu = x;
    if (fp4) {
      kernels::cpu::QuantizeFp4Blocks(cpu.data(), static_cast<int64_t>(cpu.size()), block);
    } else {
      kernels::cpu::QuantizeFp8Blocks(cpu.data(), static_cast<int64_t>(cpu.size()), block);
    }
    for (size_t b = 0; b < x.size(); b += static_cast<size_t>(block)) {
      float amax = 0;
      for (size_t i = b; i < b + static_cast<size_t>(block); ++i) amax = fmaxf(amax, fabsf(x[i]));
      const float s = fp4 ? dm::Fp4BlockScale(amax) : dm::Fp8BlockScale(amax);
      for (size_t i = b; i < b + static_cast<size_t>(block); ++i) {
        const float q = fp4 ? dm::QuantizeE2M1(x[i], s) : dm::QuantizeE4M3(x[i], s);
        ASSERT_TRUE(SameFloat(q, cpu[i])) << "block " << block << " index " << i;
      }
    }
  }
}

TEST(CudaDeviceMathTest, SwiGluMatchesTheCpuExpertActivation) {
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  const int64_t rows = 5, inter = 77;
  std::vector<float> g(static_cast<size_t>(rows * inter)), u(g.size()), weight(rows);
  for (float& v : g) v = forward::RoundBf16(normal(rng));
  for (float& v : u) v = forward::RoundBf16(normal(rng));
  for (float& v : weight) v = std::fabs(normal(rng)) / 4;
  for (const float limit : {0.0f, 7.0f}) {
    for (const bool weighted : {false, true}) {
      std::vector<float> cpu = g;
      kernels::cpu::SwiGluInPlace(cpu.data(), u.data(), rows, inter,
                                  weighted ? weight.data() : nullptr, limit);
      for (int64_t k = 0; k < rows * inter; ++k) {
        const auto i = static_cast<size_t>(k);
        const float w = weighted ? weight[static_cast<size_t>(k / inter)] : 1.0f;
        ASSERT_TRUE(SameFloat(dm::SwiGluValue(g[i], u[i], limit, weighted, w), cpu[i]))
            << "limit " << limit << " index " << k;
      }
    }
  }
}

TEST(CudaDeviceMathTest, RopePairMatchesTheCpuRotationWithYarn) {
  auto config = LoadModelConfig(DSAGENT_SOURCE_DIR "/tests/data/v4-flash-config.json");
  ASSERT_TRUE(config) << config.error();
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const bool compressed : {false, true}) {
    const forward::Rope rope(*config, compressed);
    const int64_t width = rope.dims() + 3, count = 4;
    for (const int64_t pos : {0LL, 1LL, 4095LL, 70000LL, 1000003LL}) {
      for (const bool inverse : {false, true}) {
        std::vector<float> x(static_cast<size_t>(count * width));
        for (float& v : x) v = forward::RoundBf16(normal(rng));
        std::vector<float> cpu = x;
        kernels::cpu::RopeRotate(cpu.data(), count, width, width, rope.frequencies(), pos, inverse);
        for (int64_t v = 0; v < count; ++v) {
          float* r = x.data() + v * width + (width - rope.dims());
          for (int64_t i = 0; i < rope.dims() / 2; ++i) {
            const float angle =
                static_cast<float>(pos) * rope.frequencies()[static_cast<size_t>(i)];
            dm::RopePair(r[2 * i], r[2 * i + 1], angle, inverse);
          }
        }
        for (size_t i = 0; i < x.size(); ++i) {
          ASSERT_TRUE(SameFloat(x[i], cpu[i])) << "pos " << pos << " index " << i;
        }
      }
    }
  }
}

using testing::CudaKindOf;

// The matvec kernel's lanes, run one after another on the host, give WeightRowDotsF32's bits for
// every format, both orders (activations exact in bf16 and not), shapes with tails (columns not a
// multiple of 16, 32 or 128) and scale bytes outside the lanes' range.
TEST(CudaDeviceMathTest, LaneArithmeticOfMatVecEqualsTheCpuFastKernel) {
  std::mt19937 rng(19);
  struct MatShape {
    int64_t rows, cols;
  };
  for (const WeightFormat format :
       {WeightFormat::kBF16, WeightFormat::kF32, WeightFormat::kFP8, WeightFormat::kFP4}) {
    const bool fp4 = format == WeightFormat::kFP4;
    for (const MatShape s : {MatShape{3, 128}, MatShape{130, 448}, MatShape{17, fp4 ? 96 : 200},
                             MatShape{5, fp4 ? 32 : 7}, MatShape{9, fp4 ? 1056 : 1000}}) {
      for (const bool extreme : {false, true}) {
        for (const bool bf16_input : {true, false}) {
          auto w = testing::MakeWeight(format, s.rows, s.cols, rng, extreme);
          std::vector<float> x = testing::RandomInput(s.cols, rng, format == WeightFormat::kFP8);
          if (!bf16_input) x[0] += std::ldexp(std::fabs(x[0]) + 1.0f, -20);  // not a bf16
          DotInputF32 in;
          in.Prepare(x.data(), s.cols, fp4);
          ASSERT_EQ(in.pairs(), bf16_input);
          std::vector<float> cpu(static_cast<size_t>(s.rows));
          WeightRowDotsF32(CpuIsa::kScalar, w.matrix.rows_view(), 0, s.rows, in, cpu.data());
          const dm::WeightView view{CudaKindOf(format), w.matrix.data, w.matrix.scale, s.cols,
                                    w.matrix.scale_cols};
          const bool pairs = TakesPairs(format, in);
          for (int64_t r = 0; r < s.rows; ++r) {
            ASSERT_TRUE(SameFloat(dm::RowDotBySharedLanes(view, r, x.data(), pairs),
                                  cpu[static_cast<size_t>(r)]))
                << "format " << static_cast<int>(format) << " shape " << s.rows << "x" << s.cols
                << " extreme " << extreme << " bf16 input " << bf16_input << " row " << r;
          }
        }
      }
    }
  }
}

// The device's pair step is the CPU's (DAZ and FTZ included) on values around 2^-126.
TEST(CudaDeviceMathTest, PairStepEqualsTheCpuPairStep) {
  std::mt19937 rng(29);
  for (int i = 0; i < 100000; ++i) {
    const auto value = [&] {
      const uint32_t bits = (rng() & 0x80000000u) | ((rng() % 140) << 23) | (rng() & 0x7f0000u);
      float v;
      std::memcpy(&v, &bits, 4);
      return v;
    };
    const float a = value() * 0.5f, w = value(), x = value();
    ASSERT_TRUE(SameFloat(dm::PairStep(a, w, x), detail::PairStep(a, w, x))) << a << " " << w;
    ASSERT_EQ(dm::ExactInBf16(x), true);
  }
}

// The exact matvec's CTA: about 16 columns a thread, whole warps, 32 to 1024 threads.
TEST(CudaDeviceMathTest, ExactMatVecThreadsFollowTheColumns) {
  EXPECT_EQ(dm::ExactMatVecThreads(1), 32);
  EXPECT_EQ(dm::ExactMatVecThreads(512), 32);
  EXPECT_EQ(dm::ExactMatVecThreads(513), 64);
  EXPECT_EQ(dm::ExactMatVecThreads(4096), 256);
  EXPECT_EQ(dm::ExactMatVecThreads(16384), 1024);
  EXPECT_EQ(dm::ExactMatVecThreads(1 << 20), 1024);
}

// The exact matvec kernel's CTA order (strided thread lanes, xor butterflies per warp, the warps
// in order) gives the CPU exact kernel's result once rounded to float, for every format, tails
// and scale bytes outside the float-normal range, at 32 to 1024 threads (the products are exact
// in double; only the sums' order differs).
TEST(CudaDeviceMathTest, CtaOrderOfMatVecExactEqualsTheCpuExactKernel) {
  std::mt19937 rng(23);
  struct MatShape {
    int64_t rows, cols;
  };
  for (const WeightFormat format :
       {WeightFormat::kBF16, WeightFormat::kF32, WeightFormat::kFP8, WeightFormat::kFP4}) {
    const bool fp4 = format == WeightFormat::kFP4;
    for (const MatShape s : {MatShape{24, 16384}, MatShape{40, 4096}, MatShape{130, 448},
                             MatShape{17, fp4 ? 96 : 200}, MatShape{5, fp4 ? 32 : 7}}) {
      for (const bool extreme : {false, true}) {
        auto w = testing::MakeWeight(format, s.rows, s.cols, rng, extreme);
        const std::vector<float> x = testing::RandomInput(s.cols, rng, false);
        DotInput in;
        in.Prepare(x.data(), s.cols);
        std::vector<double> cpu(static_cast<size_t>(s.rows));
        detail::WeightRowDotsScalar(w.matrix.rows_view(), 0, s.rows, in, cpu.data());
        const dm::WeightView view{CudaKindOf(format), w.matrix.data, w.matrix.scale, s.cols,
                                  w.matrix.scale_cols};
        for (int64_t r = 0; r < s.rows; ++r) {
          ASSERT_TRUE(SameFloat(static_cast<float>(dm::RowDotF64ByCta(view, r, x.data())),
                                static_cast<float>(cpu[static_cast<size_t>(r)])))
              << "format " << static_cast<int>(format) << " shape " << s.rows << "x" << s.cols
              << " extreme " << extreme << " row " << r;
        }
      }
    }
  }
}

// The walk of i / d and i % d (division_walk.h) gives the divisions' quotient and remainder at
// every step: divisors below, at and past the stride, strides of 0, 1, one divisor and several,
// first indices inside and past the first stride.
TEST(CudaDeviceMathTest, DivisionWalkGivesEachIndexsQuotientAndRemainder) {
  for (const int divisor : {1, 2, 3, 7, 8, 64, 100, 128, 129, 256}) {
    for (const int stride : {0, 1, 64, 128, 256, 1000}) {
      for (const int first : {0, 1, 77, 255, 4000}) {
        const dm::DivisionStride step = dm::DivisionStride::Of(stride, divisor);
        dm::Division at = dm::Division::Of(first, divisor);
        for (int k = 0, i = first; k < 200; ++k, i += stride, at.Next(step)) {
          ASSERT_EQ(at.quot, i / divisor) << divisor << " " << stride << " " << first << " " << k;
          ASSERT_EQ(at.rem, i % divisor) << divisor << " " << stride << " " << first << " " << k;
        }
      }
    }
  }
}

}  // namespace
}  // namespace dsagent::engine::kernels
