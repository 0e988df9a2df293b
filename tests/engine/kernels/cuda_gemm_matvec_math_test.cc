// The register-tiled CUDA MatVec's schedule (engine/kernels/cuda/matvec_gemm_math.h) on the host:
// the CTA's threads run phase by phase as the barriers order them on the device, and every
// (weight row, input) must be the CPU's WeightRowDotsF32, bit for bit — the single-row kernel's
// bits. Needs no device (the kernel itself against the single-row one: cuda_ops_test.cc, on a GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/weight_dot_f32.h"
#include "engine/kernels/cuda/matvec_gemm_math.h"
#include "tests/engine/kernels/cuda_weight_view.h"
#include "tests/engine/kernels/random_weights.h"
#include "tests/engine/kernels/reference_rounding.h"

namespace dsagent::engine::kernels {
namespace gemm_matvec_math_test {  // named: the tests build as unity batches
namespace {
namespace dm = cuda;

using testing::CudaViewOf;

void RunTile(const dm::GemmTile& t) {
  switch (t.w.kind) {
    case dm::WeightKind::kFP8:
      dm::GemmTileOnHost<dm::WeightKind::kFP8>(t);
      return;
    case dm::WeightKind::kFP4:
      dm::GemmTileOnHost<dm::WeightKind::kFP4>(t);
      return;
    case dm::WeightKind::kBF16:
      dm::GemmTileOnHost<dm::WeightKind::kBF16>(t);
      return;
    case dm::WeightKind::kF32:
      break;
  }
  ADD_FAILURE() << "F32 weights do not take the register-tiled kernel";
}

// Every tile of rows [row_begin, row_begin + rows) x every input tile, as the kernel's grid.
void RunGrid(const dm::WeightView& v, int64_t row_begin, int64_t rows, const float* x,
             int64_t x_stride, int inputs, float* y, int64_t y_stride, bool round_bf16) {
  for (int64_t tile0 = 0; tile0 < rows; tile0 += dm::kGemmTileRows) {
    for (int m0 = 0; m0 < inputs; m0 += dm::kGemmTileInputs) {
      dm::GemmTile t;
      t.w = v;
      t.row0 = row_begin + tile0;
      t.tile_rows = static_cast<int>(std::min<int64_t>(dm::kGemmTileRows, rows - tile0));
      t.inputs = std::min(dm::kGemmTileInputs, inputs - m0);
      t.x = x + m0 * x_stride;
      t.x_stride = x_stride;
      t.y = y + m0 * y_stride + tile0;
      t.y_stride = y_stride;
      t.round_bf16 = round_bf16;
      RunTile(t);
    }
  }
}

void ExpectBits(float got, float want, const std::string& where) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << where;
  } else {
    ASSERT_EQ(reference_rounding::Bits(got), reference_rounding::Bits(want))
        << where << ": " << got << " vs " << want;
  }
}

TEST(CudaGemmMatVecMathTest, EveryRowAndInputGetsTheCpuBits) {
  std::mt19937 rng(61);
  struct Case {
    WeightFormat format;
    int64_t row_begin, rows, cols;
    int inputs;
    bool round_bf16;
  };
  const Case cases[] = {
      {WeightFormat::kFP8, 0, 70, 1152, 3, false},    // a partial row tile, 3 of 8 inputs
      {WeightFormat::kFP8, 0, 32, 256, 8, true},      // one full tile, rounded
      {WeightFormat::kFP8, 100, 90, 384, 11, false},  // starts inside a scale row block; 2 input
                                                      // tiles
      {WeightFormat::kFP4, 0, 37, 640, 5, false},    {WeightFormat::kFP4, 0, 64, 128, 9, true},
      {WeightFormat::kBF16, 0, 21, 1024, 2, false},  {WeightFormat::kBF16, 3, 40, 128, 8, false},
  };
  for (const Case& c : cases) {
    const int64_t total_rows = c.row_begin + c.rows;
    auto w = testing::MakeWeight(c.format, total_rows, c.cols, rng, false);
    if (c.format == WeightFormat::kFP8) {
      // NaN bytes: in the first half (columns 0..15 of a 32-column group) of one row's block,
      // in the second half of another row's (each half's lanes are recomputed alone).
      w.data[static_cast<size_t>((c.row_begin + 5) * c.cols + 77)] = 0xff;
      w.data[static_cast<size_t>((c.row_begin + 9) * c.cols + 128 + 32 + 20)] = 0x7f;
    }
    if (c.format == WeightFormat::kFP4) {
      const int64_t groups = c.cols / 32;
      w.scale[static_cast<size_t>(3 * groups + 2)] = 0;              // to the tail
      w.scale[static_cast<size_t>(4 * groups + groups - 1)] = 200;   // two multiplies
      w.scale[static_cast<size_t>(33 % c.rows * groups + 1)] = 255;  // to the tail
      // Row 6: a group out of the lane range whose one nonzero weight (0.5 * 2^125) outweighs
      // the rest of the row: the chains must leave it to the tail (taking it as well doubles it).
      w.scale[static_cast<size_t>(6 * groups + 1)] = 252;
      uint8_t* const tail_group = w.data.data() + (6 * c.cols + 32) / 2;
      std::fill(tail_group, tail_group + 16, uint8_t{0});
      tail_group[0] = 0x01;
    }
    const int64_t x_stride = c.cols + 128;  // rows apart by more than their width
    std::vector<std::vector<float>> inputs;
    std::vector<float> x(static_cast<size_t>(x_stride * c.inputs), 0.0f);
    for (int m = 0; m < c.inputs; ++m) {
      inputs.push_back(testing::RandomInput(c.cols, rng, c.format != WeightFormat::kBF16));
      std::copy(inputs.back().begin(), inputs.back().end(), x.begin() + m * x_stride);
    }
    // Input 1 of every case with more than two has a value not exact in bf16: the columns order.
    const int columns = c.inputs > 2 ? 1 : -1;
    if (columns >= 0) {
      inputs[static_cast<size_t>(columns)][static_cast<size_t>(c.cols - 1)] = 0.3f;
      x[static_cast<size_t>(columns * x_stride + c.cols - 1)] = 0.3f;
    }
    const int64_t y_stride = c.rows + 3;
    std::vector<float> y(static_cast<size_t>(y_stride * c.inputs), -1.0f);
    RunGrid(CudaViewOf(w), c.row_begin, c.rows, x.data(), x_stride, c.inputs, y.data(), y_stride,
            c.round_bf16);
    const std::string name = "format " + std::to_string(static_cast<int>(c.format)) + " " +
                             std::to_string(c.rows) + "x" + std::to_string(c.cols) + " x" +
                             std::to_string(c.inputs);
    for (int m = 0; m < c.inputs; ++m) {
      DotInputF32 in;
      in.Prepare(inputs[static_cast<size_t>(m)].data(), c.cols, c.format == WeightFormat::kFP4);
      ASSERT_EQ(in.pairs(), m != columns) << name << " input " << m;
      std::vector<float> cpu(static_cast<size_t>(total_rows));
      WeightRowDotsF32(CpuIsa::kScalar, w.matrix.rows_view(), 0, total_rows, in, cpu.data());
      for (int64_t r = 0; r < c.rows; ++r) {
        float want = cpu[static_cast<size_t>(c.row_begin + r)];
        if (c.round_bf16) want = dm::RoundBf16(want);
        ExpectBits(y[static_cast<size_t>(m * y_stride + r)], want,
                   name + " input " + std::to_string(m) + " row " + std::to_string(r));
      }
      // The padding between the output rows is never written.
      for (int64_t r = c.rows; r < y_stride; ++r) {
        EXPECT_EQ(y[static_cast<size_t>(m * y_stride + r)], -1.0f) << name;
      }
    }
  }
}

// With a gather list (a piece of one expert's slots): input m is row gather[m] of y and row
// gather[m] / x_row_slots of x (1: its own; 3: a token's row shared by its 3 slots, as the MoE's
// paired w1 and w3 read it), each with its CPU bits; rows not in the list are untouched.
TEST(CudaGemmMatVecMathTest, AGatherListWritesEachListedSlotsRow) {
  std::mt19937 rng(67);
  const int64_t rows = 45, cols = 512, slots = 11;
  auto w = testing::MakeWeight(WeightFormat::kFP4, rows, cols, rng, false);
  for (const int64_t x_row_slots : {1, 3}) {
    const int64_t x_rows = (slots + x_row_slots - 1) / x_row_slots;
    std::vector<float> x(static_cast<size_t>(x_rows * cols));
    for (int64_t t = 0; t < x_rows; ++t) {
      const auto row = testing::RandomInput(cols, rng, true);
      std::copy(row.begin(), row.end(), x.begin() + t * cols);
    }
    const std::vector<int32_t> gather = {7, 2, 10, 4, 8, 0};
    std::vector<float> y(static_cast<size_t>(slots * rows), -1.0f);
    for (int64_t tile0 = 0; tile0 < rows; tile0 += dm::kGemmTileRows) {
      dm::GemmTile t;
      t.w = CudaViewOf(w);
      t.row0 = tile0;
      t.tile_rows = static_cast<int>(std::min<int64_t>(dm::kGemmTileRows, rows - tile0));
      t.inputs = static_cast<int>(gather.size());
      t.x = x.data();
      t.x_stride = cols;
      t.x_row_slots = x_row_slots;
      t.y = y.data() + tile0;
      t.y_stride = rows;
      t.gather = gather.data();
      RunTile(t);
    }
    for (int64_t s = 0; s < slots; ++s) {
      const bool listed = std::find(gather.begin(), gather.end(), s) != gather.end();
      DotInputF32 in;
      in.Prepare(x.data() + s / x_row_slots * cols, cols, true);
      std::vector<float> cpu(static_cast<size_t>(rows));
      WeightRowDotsF32(CpuIsa::kScalar, w.matrix.rows_view(), 0, rows, in, cpu.data());
      for (int64_t r = 0; r < rows; ++r) {
        const float got = y[static_cast<size_t>(s * rows + r)];
        const std::string where = "x_row_slots " + std::to_string(x_row_slots) + " slot " +
                                  std::to_string(s) + " row " + std::to_string(r);
        if (listed) {
          ExpectBits(got, cpu[static_cast<size_t>(r)], where);
        } else {
          ASSERT_EQ(got, -1.0f) << where << ": not in the list";
        }
      }
    }
  }
}

}  // namespace
}  // namespace gemm_matvec_math_test
}  // namespace dsagent::engine::kernels
