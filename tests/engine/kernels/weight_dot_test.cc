// The fused dequantise-and-dot kernels: every SIMD variant this CPU runs against the portable
// scalar reference, and the scalar reference against an independent computation (rows dequantised
// by forward::WeightMatrix, products summed in long double), on random weights in every stored
// format, including tails, partial scale blocks and scales that force the exact fallback path.
#include "engine/kernels/cpu/weight_dot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "engine/forward/numerics.h"
#include "engine/forward/weight_matrix.h"
#include "engine/kernels/cpu/weight_dequant.h"
#include "engine/kernels/numerics_mode.h"
#include "tests/engine/kernels/random_weights.h"

namespace dsagent::engine::kernels {
namespace {
using forward::WeightMatrix;

using testing::MakeWeight;
using testing::RandomInput;
using testing::RandomWeight;

struct Shape {
  WeightFormat format;
  int64_t rows, cols;
  bool fp8_input;
};

std::string ShapeName(const Shape& s) {
  static const char* kNames[] = {"bf16", "f32", "fp8", "fp4"};
  return std::string(kNames[static_cast<int>(s.format)]) + "_" + std::to_string(s.rows) + "x" +
         std::to_string(s.cols) + (s.fp8_input ? "_fp8_input" : "");
}

class WeightDotTest : public ::testing::TestWithParam<Shape> {};

TEST_P(WeightDotTest, EveryVariantAgreesWithTheReferenceAfterRounding) {
  const Shape shape = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(shape.rows * 1000 + shape.cols));
  for (bool extreme : {false, true}) {
    const RandomWeight w = MakeWeight(shape.format, shape.rows, shape.cols, rng, extreme);
    const std::vector<float> x = RandomInput(shape.cols, rng, shape.fp8_input);
    DotInput input;
    input.Prepare(x.data(), shape.cols);

    // Independent reference: rows dequantised by the forward pass's WeightMatrix, long double.
    std::vector<double> want(static_cast<size_t>(shape.rows));
    std::vector<float> row(static_cast<size_t>(shape.cols));
    for (int64_t r = 0; r < shape.rows; ++r) {
      w.matrix.DequantRow(r, row.data());
      long double sum = 0;
      for (int64_t c = 0; c < shape.cols; ++c) {
        sum += static_cast<long double>(row[static_cast<size_t>(c)]) * x[static_cast<size_t>(c)];
      }
      want[static_cast<size_t>(r)] = static_cast<double>(sum);
    }
    for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
      if (!CpuSupports(isa)) continue;
      std::vector<double> got(static_cast<size_t>(shape.rows));
      // Odd row ranges: the kernels take any [row_begin, row_begin + count).
      WeightRowDots(isa, w.matrix.rows_view(), 0, 1, input, got.data());
      WeightRowDots(isa, w.matrix.rows_view(), 1, shape.rows - 1, input, got.data() + 1);
      for (int64_t r = 0; r < shape.rows; ++r) {
        const double g = got[static_cast<size_t>(r)], e = want[static_cast<size_t>(r)];
        ASSERT_EQ(static_cast<float>(g), static_cast<float>(e))
            << CpuIsaName(isa) << " row " << r << (extreme ? " (extreme scales)" : "");
        ASSERT_LE(std::fabs(g - e), 1e-13 * (std::fabs(e) + 1e-30) + 1e-300)
            << CpuIsaName(isa) << " row " << r;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, WeightDotTest,
    ::testing::Values(
        Shape{WeightFormat::kFP8, 130, 256, true},  // two scale rows of blocks
        Shape{WeightFormat::kFP8, 9, 200, true},    // a partial last block
        Shape{WeightFormat::kFP8, 5, 136, false},   // bf16 input, 8-column tail
        Shape{WeightFormat::kFP4, 7, 256, true}, Shape{WeightFormat::kFP4, 3, 96, true},
        Shape{WeightFormat::kBF16, 11, 4096, false}, Shape{WeightFormat::kBF16, 6, 37, false},
        Shape{WeightFormat::kF32, 6, 13, false}, Shape{WeightFormat::kF32, 4, 520, false}),
    [](const auto& p) { return ShapeName(p.param); });

TEST(DotF64Test, EveryVariantAgreesWithTheReference) {
  std::mt19937 rng(5);
  std::normal_distribution<double> normal;
  for (int64_t n : {0, 1, 7, 8, 16, 17, 100, 4096}) {
    std::vector<double> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    for (auto& v : a) v = static_cast<float>(normal(rng));
    for (auto& v : b) v = forward::RoundBf16(static_cast<float>(normal(rng)));
    const double want = detail::DotF64Scalar(a.data(), b.data(), n);
    for (CpuIsa isa : {CpuIsa::kAvx2, CpuIsa::kAvx512}) {
      if (!CpuSupports(isa)) continue;
      const double got = DotF64(isa, a.data(), b.data(), n);
      EXPECT_EQ(static_cast<float>(got), static_cast<float>(want)) << CpuIsaName(isa) << " n=" << n;
    }
  }
}

// Values that exercise DotF64's arithmetic: ordinary floats, signed zeros, double subnormals,
// products that underflow to subnormals, and large magnitudes (whose sums still stay finite).
std::vector<double> AwkwardValues(int64_t n, std::mt19937& rng) {
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<int> kind(0, 9);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) {
    const double g = normal(rng);
    switch (kind(rng)) {
      case 0:
        x = std::signbit(g) ? -0.0 : 0.0;
        break;
      case 1:
        x = std::numeric_limits<double>::denorm_min() * std::floor(std::fabs(g) * 1000 + 1) *
            (g < 0 ? -1 : 1);
        break;
      case 2:
        x = g * 1e-160;  // a product of two underflows to a subnormal or zero
        break;
      case 3:
        x = g * 1e150;
        break;
      default:
        x = static_cast<float>(g);
    }
  }
  return v;
}

// The tiled products give every (row, input) pair DotF64's bits exactly (not merely after
// rounding): every column remainder, rows long enough for several passes, row and input counts
// that leave partial tiles of both sizes, strided operands, and nothing written outside the
// results.
TEST(DotsF64Test, EveryPairHasDotF64sBits) {
  std::mt19937 rng(17);
  constexpr int64_t kMaxRows = 2 * kDotsF64TileRows + 1, kMaxInputs = 2 * kDotsF64TileInputs + 1;
  // Past kDotsF64PassCols the AVX-512 tiles go in passes: exactly two, two and a tail, three
  // with a short last one.
  for (const int64_t n :
       std::initializer_list<int64_t>{1, 7, 15, 16, 17, 100, 4096, 4103, 2 * kDotsF64PassCols,
                                      2 * kDotsF64PassCols + 9, 2 * kDotsF64PassCols + 32 + 15}) {
    const int64_t w_stride = n + 3, x_stride = n + 5, out_stride = kMaxRows + 2;
    const std::vector<double> w = AwkwardValues(kMaxRows * w_stride, rng);
    const std::vector<double> x = AwkwardValues(kMaxInputs * x_stride, rng);
    for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
      if (!CpuSupports(isa)) continue;
      for (int64_t rows = 1; rows <= kMaxRows; ++rows) {
        for (int64_t inputs = 1; inputs <= kMaxInputs; ++inputs) {
          std::vector<double> out(static_cast<size_t>(kMaxInputs * out_stride), -7.0);
          DotsF64(isa, w.data(), w_stride, rows, x.data(), x_stride, inputs, n, out.data(),
                  out_stride);
          for (int64_t t = 0; t < kMaxInputs; ++t) {
            for (int64_t r = 0; r < out_stride; ++r) {
              const double got = out[static_cast<size_t>(t * out_stride + r)];
              if (t >= inputs || r >= rows) {
                ASSERT_EQ(got, -7.0) << "written outside: input " << t << " row " << r;
                continue;
              }
              const double want = DotF64(isa, x.data() + t * x_stride, w.data() + r * w_stride, n);
              ASSERT_EQ(0, std::memcmp(&got, &want, sizeof got))
                  << CpuIsaName(isa) << " n=" << n << " rows=" << rows << " inputs=" << inputs
                  << " pair (" << r << ", " << t << "): " << got << " vs " << want;
            }
          }
        }
      }
    }
  }
}

// The exact prefill's panels are dequantised straight into doubles: the float values, bit for
// bit, by every variant, every format, partial blocks and scales out of the SIMD range included.
TEST(DequantRowF64Test, GivesTheFloatRowsValues) {
  std::mt19937 rng(23);
  for (const WeightFormat format :
       {WeightFormat::kBF16, WeightFormat::kF32, WeightFormat::kFP8, WeightFormat::kFP4}) {
    const int64_t rows = 130, cols = format == WeightFormat::kFP4 ? 352 : 331;  // partial blocks
    const RandomWeight w = MakeWeight(format, rows, cols, rng, /*extreme_scales=*/true);
    std::vector<float> want(static_cast<size_t>(cols));
    std::vector<double> got(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      cpu::DequantRowRange(w.matrix.rows_view(), r, 0, cols, want.data());
      for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
        if (!CpuSupports(isa)) continue;
        std::fill(got.begin(), got.end(), -1.0);
        cpu::DequantRowF64(isa, w.matrix.rows_view(), r, got.data());
        for (int64_t c = 0; c < cols; ++c) {
          const double g = got[static_cast<size_t>(c)];
          const double e = want[static_cast<size_t>(c)];
          ASSERT_EQ(0, std::memcmp(&g, &e, sizeof g))  // -0.0 included
              << CpuIsaName(isa) << " format " << static_cast<int>(format) << " row " << r
              << " col " << c << ": " << g << " vs " << e;
        }
      }
    }
  }
}

// Elementwise, so every variant must give the scalar loop's bits exactly (attention's P.V), also
// in the tails and when the accumulator already holds values.
TEST(AxpyBf16F64Test, EveryVariantGivesTheScalarBits) {
  std::mt19937 rng(11);
  std::normal_distribution<double> normal;
  for (int64_t n : {0, 1, 3, 4, 5, 8, 9, 15, 16, 17, 512, 515}) {
    std::vector<uint16_t> x(static_cast<size_t>(n));
    std::vector<double> y0(static_cast<size_t>(n));
    for (auto& v : x) v = forward::FloatToBf16Bits(static_cast<float>(normal(rng) * 8));
    for (auto& v : y0) v = normal(rng);
    const double a = forward::RoundBf16(static_cast<float>(normal(rng)));
    std::vector<double> want = y0;
    detail::AxpyBf16F64Scalar(a, x.data(), want.data(), n);
    for (CpuIsa isa : {CpuIsa::kAvx2, CpuIsa::kAvx512}) {
      if (!CpuSupports(isa)) continue;
      std::vector<double> got = y0;
      AxpyBf16F64(isa, a, x.data(), got.data(), n);
      EXPECT_EQ(got, want) << CpuIsaName(isa) << " n=" << n;
    }
  }
}

TEST(DotInputTest, SplitsEvenAndOddColumns) {
  const std::vector<float> x = {1, 2, 3, 4, 5};
  DotInput in;
  in.Prepare(x.data(), 5);
  EXPECT_EQ(in.size(), 5);
  EXPECT_EQ(std::vector<double>(in.values(), in.values() + 5),
            (std::vector<double>{1, 2, 3, 4, 5}));
  EXPECT_EQ(std::vector<double>(in.even(), in.even() + 3), (std::vector<double>{1, 3, 5}));
  EXPECT_EQ(std::vector<double>(in.odd(), in.odd() + 2), (std::vector<double>{2, 4}));
}

TEST(CpuIsaTest, NamesRoundTripAndTheBestIsSupported) {
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    EXPECT_EQ(ParseCpuIsa(CpuIsaName(isa)), isa);
  }
  EXPECT_EQ(CpuIsaName(CpuIsa::kAvx512), "avx512");  // the DSAGENT_CPU_ISA spelling
  EXPECT_FALSE(ParseCpuIsa("sse9"));
  EXPECT_FALSE(ParseCpuIsa("AVX2"));
  EXPECT_TRUE(CpuSupports(CpuIsa::kScalar));
  EXPECT_TRUE(CpuSupports(BestCpuIsa()));
  EXPECT_TRUE(CpuSupports(ActiveCpuIsa()));
}

// The names --numerics and providers.local.numerics accept.
TEST(NumericsModeTest, NamesRoundTrip) {
  EXPECT_EQ(NumericsName(Numerics::kExact), "exact");
  EXPECT_EQ(NumericsName(Numerics::kFast), "fast");
  EXPECT_EQ(ParseNumerics("exact"), Numerics::kExact);
  EXPECT_EQ(ParseNumerics("fast"), Numerics::kFast);
  EXPECT_FALSE(ParseNumerics("Fast"));
}

}  // namespace
}  // namespace dsagent::engine::kernels
