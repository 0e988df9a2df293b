// The fast numerics' fp32 dequantise-and-dot kernels (weight_dot_f32.h): every SIMD variant gives
// the scalar reference's bits (the summation order is part of the contract), the reference stays
// within fp32 accumulation error of the exact value, and rounded to bf16 the results meet the
// fast-vs-exact contract (>= 99.9% identical, the rest within 1 ulp) on realistic shapes.
#include "engine/kernels/cpu/weight_dot_f32.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/forward/numerics.h"
#include "tests/engine/kernels/random_weights.h"

namespace dsagent::engine::kernels {
namespace {
using testing::MakeWeight;
using testing::RandomInput;
using testing::RandomWeight;

// The activation a product gets: bf16 values, FP8-quantised ones (both take the pair order with
// BF16/FP8/FP4 weights), or fp32 values not exact in bf16 (the columns order).
enum class Input { kBf16, kFp8, kF32 };

struct FastShape {
  WeightFormat format;
  int64_t rows, cols;
  Input input;
};

std::string FastShapeName(const FastShape& s) {
  static const char* kNames[] = {"bf16", "f32", "fp8", "fp4"};
  static const char* kInputs[] = {"", "_fp8_input", "_f32_input"};
  return std::string(kNames[static_cast<int>(s.format)]) + "_" + std::to_string(s.rows) + "x" +
         std::to_string(s.cols) + kInputs[static_cast<int>(s.input)];
}

std::vector<float> MakeInput(int64_t n, std::mt19937& rng, Input kind) {
  if (kind != Input::kF32) return RandomInput(n, rng, kind == Input::kFp8);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = normal(rng);
  return x;
}

std::vector<float> FastDots(CpuIsa isa, const RandomWeight& w, const std::vector<float>& x) {
  DotInputF32 in;
  in.Prepare(x.data(), static_cast<int64_t>(x.size()), w.matrix.format == WeightFormat::kFP4);
  std::vector<float> out(static_cast<size_t>(w.matrix.rows));
  // Odd row ranges: the kernels take any [row_begin, row_begin + count).
  WeightRowDotsF32(isa, w.matrix.rows_view(), 0, 1, in, out.data());
  WeightRowDotsF32(isa, w.matrix.rows_view(), 1, w.matrix.rows - 1, in, out.data() + 1);
  return out;
}

class WeightDotF32Test : public ::testing::TestWithParam<FastShape> {};

TEST_P(WeightDotF32Test, EveryVariantGivesTheScalarBitsWithinFp32ErrorOfTheExactValue) {
  const FastShape shape = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(shape.rows * 7919 + shape.cols));
  for (bool extreme : {false, true}) {
    const RandomWeight w = MakeWeight(shape.format, shape.rows, shape.cols, rng, extreme);
    const std::vector<float> x = MakeInput(shape.cols, rng, shape.input);
    const std::vector<float> want = FastDots(CpuIsa::kScalar, w, x);
    // Exact values and the fp32 accumulation bound (n + 1) * 2^-24 * sum |w x|, from rows
    // dequantised independently (forward::WeightMatrix) and summed in long double.
    std::vector<float> row(static_cast<size_t>(shape.cols));
    for (int64_t r = 0; r < shape.rows; ++r) {
      w.matrix.DequantRow(r, row.data());
      long double sum = 0, magnitude = 0;
      for (int64_t c = 0; c < shape.cols; ++c) {
        const long double p =
            static_cast<long double>(row[static_cast<size_t>(c)]) * x[static_cast<size_t>(c)];
        sum += p;
        magnitude += std::fabs(p);
      }
      const double bound = static_cast<double>(shape.cols + 1) * std::ldexp(1.0, -24) *
                               static_cast<double>(magnitude) +
                           1e-37;
      ASSERT_LE(
          std::fabs(static_cast<double>(want[static_cast<size_t>(r)]) - static_cast<double>(sum)),
          bound)
          << "row " << r << (extreme ? " (extreme scales)" : "");
    }
    for (CpuIsa isa : {CpuIsa::kAvx2, CpuIsa::kAvx512}) {
      if (!CpuSupports(isa)) continue;
      const std::vector<float> got = FastDots(isa, w, x);
      for (int64_t r = 0; r < shape.rows; ++r) {
        ASSERT_EQ(std::bit_cast<uint32_t>(got[static_cast<size_t>(r)]),
                  std::bit_cast<uint32_t>(want[static_cast<size_t>(r)]))
            << CpuIsaName(isa) << " row " << r << ": " << got[static_cast<size_t>(r)] << " vs "
            << want[static_cast<size_t>(r)] << (extreme ? " (extreme scales)" : "");
      }
    }
  }
}

// The batch (prefill) path gives each input the bits of its own single-input call, for every
// input count (the AVX-512 BF16 variant takes tiles of 2 rows x 4 inputs for BF16, 2 x 6 for FP8
// and 1 x 6 for FP4, then the remaining rows and inputs; from 8 inputs FP8/FP4 rows are converted
// into panels first, and FP4 rows with out-of-range scales go back to the tiles), any row range
// and the rare paths (scales out of the float-exact range, tails).
TEST_P(WeightDotF32Test, BatchesOfInputsGiveEachInputsSingleCallBits) {
  const FastShape shape = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(shape.rows * 31 + shape.cols));
  const bool split = shape.format == WeightFormat::kFP4;
  for (bool extreme : {false, true}) {
    const RandomWeight w = MakeWeight(shape.format, shape.rows, shape.cols, rng, extreme);
    constexpr int64_t kInputs = 13;
    std::vector<std::vector<float>> xs;
    std::vector<DotInputF32> inputs(kInputs);
    for (int64_t t = 0; t < kInputs; ++t) xs.push_back(MakeInput(shape.cols, rng, shape.input));
    for (int64_t t = 0; t < kInputs; ++t) inputs[t].Prepare(xs[t].data(), shape.cols, split);
    for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
      if (!CpuSupports(isa)) continue;
      const int64_t begin = shape.rows > 1 ? 1 : 0, count = shape.rows - begin;
      for (int64_t n : {1, 3, 4, 5, 6, 7, 8, 12, 13}) {
        std::vector<float> batch(static_cast<size_t>(n * count), -1.0f);
        WeightRowDotsF32Batch(isa, w.matrix.rows_view(), begin, count, inputs.data(), n,
                              batch.data(), count);
        for (int64_t t = 0; t < n; ++t) {
          std::vector<float> single(static_cast<size_t>(count));
          WeightRowDotsF32(isa, w.matrix.rows_view(), begin, count, inputs[t], single.data());
          for (int64_t i = 0; i < count; ++i) {
            ASSERT_EQ(std::bit_cast<uint32_t>(batch[static_cast<size_t>(t * count + i)]),
                      std::bit_cast<uint32_t>(single[static_cast<size_t>(i)]))
                << CpuIsaName(isa) << " inputs " << n << " input " << t << " row " << begin + i
                << (extreme ? " (extreme scales)" : "");
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, WeightDotF32Test,
    ::testing::Values(FastShape{WeightFormat::kFP8, 130, 256, Input::kFp8},  // two scale rows
                      FastShape{WeightFormat::kFP8, 9, 200, Input::kFp8},    // a partial last block
                      FastShape{WeightFormat::kFP8, 5, 136, Input::kBf16},   // an 8-column tail
                      FastShape{WeightFormat::kFP8, 6, 224, Input::kFp8},    // 64 + 32 columns
                      FastShape{WeightFormat::kFP8, 3, 7, Input::kFp8},      // tail only
                      // Two blocks side by side, then one more, then 64 + 32 columns
                      FastShape{WeightFormat::kFP8, 5, 480, Input::kFp8},
                      FastShape{WeightFormat::kFP8, 9, 200, Input::kF32},
                      FastShape{WeightFormat::kFP8, 5, 136, Input::kF32},
                      FastShape{WeightFormat::kFP4, 7, 256, Input::kFp8},
                      FastShape{WeightFormat::kFP4, 3, 96, Input::kFp8},  // a partial 128-block
                      // Two blocks side by side, then one more, then a short block of one
                      // 32-group (FP4 widths are multiples of 32: a scale per 32 columns)
                      FastShape{WeightFormat::kFP4, 5, 416, Input::kFp8},
                      FastShape{WeightFormat::kFP4, 7, 256, Input::kF32},
                      FastShape{WeightFormat::kBF16, 11, 4096, Input::kBf16},
                      FastShape{WeightFormat::kBF16, 6, 37, Input::kBf16},
                      FastShape{WeightFormat::kBF16, 4, 150, Input::kBf16},  // groups + a tail
                      // Two blocks side by side, then one more, a 32-group and an 8-column tail
                      FastShape{WeightFormat::kBF16, 4, 424, Input::kBf16},
                      FastShape{WeightFormat::kBF16, 4, 150, Input::kF32},
                      FastShape{WeightFormat::kF32, 6, 13, Input::kBf16},
                      FastShape{WeightFormat::kF32, 4, 520, Input::kBf16}),
    [](const auto& p) { return FastShapeName(p.param); });

// The fast-vs-exact contract per op: results rounded to bf16 (what Linear stores) agree with the
// exact kernels' on >= 99.9% of outputs, and differ by at most 1 ulp elsewhere.
TEST(WeightDotF32ContractTest, Bf16ResultsMatchTheExactOnesWithinOneUlp) {
  const struct {
    WeightFormat format;
    int64_t rows, cols;
    bool fp8_input;
  } shapes[] = {{WeightFormat::kFP8, 2048, 4096, true},
                {WeightFormat::kFP4, 2048, 2048, true},
                {WeightFormat::kBF16, 1024, 4096, false}};
  std::mt19937 rng(11);
  for (const auto& s : shapes) {
    const RandomWeight w = MakeWeight(s.format, s.rows, s.cols, rng);
    const std::vector<float> x = RandomInput(s.cols, rng, s.fp8_input);
    DotInput exact_in;
    exact_in.Prepare(x.data(), s.cols);
    std::vector<double> exact(static_cast<size_t>(s.rows));
    WeightRowDots(ActiveCpuIsa(), w.matrix.rows_view(), 0, s.rows, exact_in, exact.data());
    const std::vector<float> fast = FastDots(ActiveCpuIsa(), w, x);
    int64_t identical = 0;
    for (int64_t r = 0; r < s.rows; ++r) {
      const uint16_t e =
          forward::FloatToBf16Bits(static_cast<float>(exact[static_cast<size_t>(r)]));
      const uint16_t f = forward::FloatToBf16Bits(fast[static_cast<size_t>(r)]);
      if (e == f) {
        ++identical;
        continue;
      }
      // Adjacent bf16 values of one sign differ by one in their bits.
      const bool adjacent = (e & 0x8000) == (f & 0x8000) && (e > f ? e - f : f - e) == 1;
      EXPECT_TRUE(adjacent) << "row " << r << ": " << exact[static_cast<size_t>(r)] << " vs "
                            << fast[static_cast<size_t>(r)];
    }
    EXPECT_GE(static_cast<double>(identical), 0.999 * static_cast<double>(s.rows))
        << "format " << static_cast<int>(s.format) << ": " << identical << " of " << s.rows;
  }
}

// A bf16 value with the given exponent (unbiased) and random mantissa and sign; exponents below
// -126 give denormals (and below -133, zero).
float Bf16WithExponent(int exponent, std::mt19937& rng) {
  const uint32_t sign = (rng() & 1u) << 31, mantissa = (rng() & 0x7fu) << 16;
  if (exponent < -126) {
    const float v = std::ldexp(static_cast<float>(128 + (mantissa >> 16)) / 128.0f, exponent);
    return forward::RoundBf16(sign ? -v : v);
  }
  return std::bit_cast<float>(sign | static_cast<uint32_t>(exponent + 127) << 23 | mantissa);
}

// The pair order flushes denormal inputs and results (vdpbf16ps's DAZ and FTZ): every variant
// must do so identically, also where products and partial sums fall near and below 2^-126.
TEST(WeightDotF32PairsTest, EveryVariantFlushesDenormalsAlike) {
  std::mt19937 rng(23);
  constexpr int64_t kRows = 24, kCols = 256;
  for (WeightFormat format : {WeightFormat::kBF16, WeightFormat::kFP8}) {
    RandomWeight w = MakeWeight(format, kRows, kCols, rng);
    if (format == WeightFormat::kBF16) {
      // Weights from 2^-140 (denormal) to 2^-20: with the inputs below, products from far below
      // 2^-126 to above it.
      for (int64_t i = 0; i < kRows * kCols; ++i) {
        const int exponent =
            i % 8 == 0 ? -140 + static_cast<int>(rng() % 14) : -60 + static_cast<int>(rng() % 40);
        const uint16_t bits = forward::FloatToBf16Bits(Bf16WithExponent(exponent, rng));
        std::memcpy(w.data.data() + 2 * i, &bits, 2);
      }
    }
    for (int round = 0; round < 4; ++round) {
      std::vector<float> x(kCols);
      for (float& v : x) v = Bf16WithExponent(-128 + static_cast<int>(rng() % 40), rng);
      DotInputF32 in;
      in.Prepare(x.data(), kCols, false);
      ASSERT_TRUE(in.pairs());
      std::vector<float> want(kRows), got(kRows);
      detail::PairDotsScalar(w.matrix.rows_view(), 0, kRows, in, want.data());
      int64_t nonzero = 0;
      for (float v : want) nonzero += v != 0.0f ? 1 : 0;
      EXPECT_GT(nonzero, 0);  // not all flushed away: the comparison below means something
      const auto check = [&](const char* variant) {
        for (int64_t r = 0; r < kRows; ++r) {
          ASSERT_EQ(std::bit_cast<uint32_t>(got[r]), std::bit_cast<uint32_t>(want[r]))
              << variant << " format " << static_cast<int>(format) << " row " << r << ": " << got[r]
              << " vs " << want[r];
        }
      };
      if (CpuSupports(CpuIsa::kAvx2)) {
        detail::PairDotsAvx2(w.matrix.rows_view(), 0, kRows, in, got.data());
        check("avx2");
      }
      if (CpuHasAvx512Bf16()) {
        detail::PairDotsAvx512Bf16(w.matrix.rows_view(), 0, kRows, in, got.data());
        check("avx512bf16");
      }
    }
  }
}

// S(a, w, x) of the contract: an fp32 FMA with denormal inputs and results as signed zeros.
TEST(WeightDotF32PairsTest, PairStepIsAFusedMultiplyAddWithDenormalsFlushed) {
  EXPECT_EQ(detail::PairStep(1.0f, 3.0f, 0.5f), 2.5f);
  // Fused: 1 + 2^-24 is not a float, (1 + 2^-12)^2 - 1 - 2^-11 = 2^-24 survives only fused.
  const float a = 1.0f + std::ldexp(1.0f, -12);
  EXPECT_EQ(detail::PairStep(-(1.0f + std::ldexp(1.0f, -11)), a, a), std::ldexp(1.0f, -24));
  const float denormal = std::ldexp(1.0f, -130);
  EXPECT_EQ(detail::PairStep(1.0f, denormal, std::ldexp(1.0f, 120)), 1.0f);  // DAZ on w
  EXPECT_EQ(detail::PairStep(0.0f, std::ldexp(1.0f, -70), std::ldexp(1.0f, -60)), 0.0f);  // FTZ
  EXPECT_TRUE(std::signbit(detail::PairStep(0.0f, -std::ldexp(1.0f, -70), std::ldexp(1.0f, -60))));
  EXPECT_EQ(detail::PairStep(0.0f, std::ldexp(1.0f, -63), std::ldexp(1.0f, -63)),
            std::ldexp(1.0f, -126));  // the smallest normal stays
}

TEST(DotInputF32Test, TakesPairsOnlyWhenEveryValueIsExactInBf16) {
  std::vector<float> x = {1.5f, -2.0f, std::ldexp(1.0f, -130), 3.0f};
  DotInputF32 in;
  in.Prepare(x.data(), 4, false);
  EXPECT_TRUE(in.pairs());
  EXPECT_TRUE(TakesPairs(WeightFormat::kFP8, in));
  EXPECT_FALSE(TakesPairs(WeightFormat::kF32, in));
  // The bf16 copy and the split columns, the denormal as zero.
  EXPECT_EQ(std::vector<uint16_t>(in.bf16(), in.bf16() + 4),
            (std::vector<uint16_t>{0x3fc0, 0xc000, 0x0000, 0x4040}));
  EXPECT_EQ(std::vector<float>(in.even(), in.even() + 2), (std::vector<float>{1.5f, 0.0f}));
  EXPECT_EQ(std::vector<float>(in.odd(), in.odd() + 2), (std::vector<float>{-2.0f, 3.0f}));
  x[3] = 3.0f + std::ldexp(1.0f, -20);  // not a bf16
  in.Prepare(x.data(), 4, false);
  EXPECT_FALSE(in.pairs());
  EXPECT_FALSE(TakesPairs(WeightFormat::kBF16, in));
}

// The AVX-512 pass of Prepare against the pair form's definition: each value's bf16 bits after
// flushing |v| < 2^-126 to its signed zero, and the even and odd columns apart; refused as soon
// as one value is not exact in bf16, in the vector part or the tail.
TEST(DotInputF32Test, TheAvx512PassGivesThePairFormOfEveryValue) {
  if (!CpuSupports(CpuIsa::kAvx512)) GTEST_SKIP() << "no AVX-512 on this CPU";
  std::mt19937 rng(7);
  const float specials[] = {0.0f,
                            -0.0f,
                            std::ldexp(1.0f, -130),
                            -std::ldexp(1.0f, -127),
                            std::ldexp(1.0f, -126),
                            -std::ldexp(1.0f, -126),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(),
                            65280.0f};
  for (int64_t n : {0, 1, 2, 31, 32, 33, 47, 64, 100, 4096}) {
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t r = rng();
      float v;
      if (r % 5 == 0) {
        v = specials[r / 5 % std::size(specials)];
      } else {
        const uint32_t bits = r & 0xffff0000u;  // any bf16, denormals included
        std::memcpy(&v, &bits, 4);
      }
      x[static_cast<size_t>(i)] = v;
    }
    std::vector<uint16_t> bf16(static_cast<size_t>(n));
    std::vector<float> even(static_cast<size_t>((n + 1) / 2)), odd(static_cast<size_t>(n / 2));
    ASSERT_TRUE(detail::PreparePairsAvx512(x.data(), n, bf16.data(), even.data(), odd.data())) << n;
    for (int64_t i = 0; i < n; ++i) {
      uint32_t in_bits, want_bits, got_bits;
      std::memcpy(&in_bits, &x[static_cast<size_t>(i)], 4);
      const bool tiny = (in_bits & 0x7f800000u) == 0;  // zero or denormal
      want_bits = tiny ? (in_bits & 0x80000000u) : in_bits;
      EXPECT_EQ(bf16[static_cast<size_t>(i)], want_bits >> 16) << n << " " << i;
      const float got = (i % 2 ? odd : even)[static_cast<size_t>(i / 2)];
      std::memcpy(&got_bits, &got, 4);
      EXPECT_EQ(got_bits, want_bits) << n << " " << i;
    }
    for (int64_t at : {int64_t{0}, int64_t{17}, int64_t{31}, int64_t{32}, n - 1}) {
      if (at < 0 || at >= n) continue;
      std::vector<float> y = x;
      y[static_cast<size_t>(at)] = 1.0f + std::ldexp(1.0f, -20);  // not a bf16
      EXPECT_FALSE(detail::PreparePairsAvx512(y.data(), n, bf16.data(), even.data(), odd.data()))
          << n << " " << at;
    }
  }
}

TEST(DotInputF32Test, KeepsTheValuesAndSplitsEvenAndOddColumnsOnRequest) {
  const std::vector<float> x = {1.1f, 2, 3, 4, 5};
  DotInputF32 in;
  in.Prepare(x.data(), 5, /*split=*/true);
  EXPECT_EQ(in.size(), 5);
  EXPECT_EQ(in.values(), x.data());
  EXPECT_FALSE(in.pairs());  // 1.1 is not a bf16
  EXPECT_EQ(std::vector<float>(in.even(), in.even() + 3), (std::vector<float>{1.1f, 3, 5}));
  EXPECT_EQ(std::vector<float>(in.odd(), in.odd() + 2), (std::vector<float>{2, 4}));
}

}  // namespace
}  // namespace dsagent::engine::kernels
