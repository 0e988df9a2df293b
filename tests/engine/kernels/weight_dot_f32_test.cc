// The fast numerics' fp32 dequantise-and-dot kernels (weight_dot_f32.h): every SIMD variant gives
// the scalar reference's bits (the summation order is part of the contract), the reference stays
// within fp32 accumulation error of the exact value, and rounded to bf16 the results meet the
// fast-vs-exact contract (>= 99.9% identical, the rest within 1 ulp) on realistic shapes.
#include "engine/kernels/cpu/weight_dot_f32.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
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

struct FastShape {
  WeightFormat format;
  int64_t rows, cols;
  bool fp8_input;
};

std::string FastShapeName(const FastShape& s) {
  static const char* kNames[] = {"bf16", "f32", "fp8", "fp4"};
  return std::string(kNames[static_cast<int>(s.format)]) + "_" + std::to_string(s.rows) + "x" +
         std::to_string(s.cols) + (s.fp8_input ? "_fp8_input" : "");
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
    const std::vector<float> x = RandomInput(shape.cols, rng, shape.fp8_input);
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
// input count (the AVX-512 variant takes four at a time, then the rest), any row range and the
// rare paths (scales out of the float-exact range, tails).
TEST_P(WeightDotF32Test, BatchesOfInputsGiveEachInputsSingleCallBits) {
  const FastShape shape = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(shape.rows * 31 + shape.cols));
  const bool split = shape.format == WeightFormat::kFP4;
  for (bool extreme : {false, true}) {
    const RandomWeight w = MakeWeight(shape.format, shape.rows, shape.cols, rng, extreme);
    constexpr int64_t kInputs = 7;
    std::vector<std::vector<float>> xs;
    std::vector<DotInputF32> inputs(kInputs);
    for (int64_t t = 0; t < kInputs; ++t)
      xs.push_back(RandomInput(shape.cols, rng, shape.fp8_input));
    for (int64_t t = 0; t < kInputs; ++t) inputs[t].Prepare(xs[t].data(), shape.cols, split);
    for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
      if (!CpuSupports(isa)) continue;
      const int64_t begin = shape.rows > 1 ? 1 : 0, count = shape.rows - begin;
      for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{4}, kInputs}) {
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
    ::testing::Values(FastShape{WeightFormat::kFP8, 130, 256, true},  // two scale rows of blocks
                      FastShape{WeightFormat::kFP8, 9, 200, true},    // a partial last block
                      FastShape{WeightFormat::kFP8, 5, 136, false},   // bf16 input, 8-column tail
                      FastShape{WeightFormat::kFP8, 3, 7, true},      // tail only
                      FastShape{WeightFormat::kFP4, 7, 256, true},
                      FastShape{WeightFormat::kFP4, 3, 96, true},  // a partial 128-block
                      FastShape{WeightFormat::kBF16, 11, 4096, false},
                      FastShape{WeightFormat::kBF16, 6, 37, false},
                      FastShape{WeightFormat::kBF16, 4, 150, false},  // 16-groups + a tail
                      FastShape{WeightFormat::kF32, 6, 13, false},
                      FastShape{WeightFormat::kF32, 4, 520, false}),
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

TEST(DotInputF32Test, KeepsTheValuesAndSplitsEvenAndOddColumnsOnRequest) {
  const std::vector<float> x = {1, 2, 3, 4, 5};
  DotInputF32 in;
  in.Prepare(x.data(), 5, /*split=*/true);
  EXPECT_EQ(in.size(), 5);
  EXPECT_EQ(in.values(), x.data());
  EXPECT_EQ(std::vector<float>(in.even(), in.even() + 3), (std::vector<float>{1, 3, 5}));
  EXPECT_EQ(std::vector<float>(in.odd(), in.odd() + 2), (std::vector<float>{2, 4}));
}

}  // namespace
}  // namespace dsagent::engine::kernels
