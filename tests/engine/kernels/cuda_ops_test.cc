// The shared CUDA kernels (engine/kernels/cuda/ops.h; the forward-op kernels are in
// cuda_forward_ops_test.cc) against their CPU twins on random inputs with odd shapes and tails,
// under the fast-mode contract (kernels/numerics_mode.h: per op >= 99.9% of the bf16 outputs
// identical, the rest within 1 ulp); most ops are expected to be bit-identical and the counts are
// printed. Built only with the CUDA backend. Without a device the tests skip, saying so — unless
// DSAGENT_REQUIRE_CUDA=1 (scripts/gpu-check.sh), where that is a failure.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/forward/linear.h"
#include "engine/forward/moe.h"
#include "engine/forward/numerics.h"
#include "engine/forward/rope.h"
#include "engine/kernels/cpu/moe_ops.h"
#include "engine/kernels/cpu/quant_ops.h"
#include "engine/kernels/cpu/rms_norm.h"
#include "engine/kernels/cpu/rope_rotate.h"
#include "engine/kernels/cpu/weight_dot_f32.h"
#include "engine/kernels/cuda/expert_groups_math.h"
#include "engine/kernels/cuda/expert_stream.h"
#include "engine/kernels/cuda/fused_steps.h"
#include "engine/kernels/cuda/kernel_launch.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda_probe.h"
#include "engine/model/model_config.h"
#include "tests/engine/kernels/cuda_test_support.h"
#include "tests/engine/kernels/random_weights.h"
#include "tests/engine/kernels/reference_rounding.h"

namespace dsagent::engine::kernels::cuda {
namespace {

using test_support::Bits;
using test_support::ExpectContract;
using test_support::ExpectCountsAtZero;
using test_support::RowsKernelScope;
using test_support::ToDevice;
using test_support::ToHost;

TEST(CudaOpsTest, MatVecMatchesTheCpuFastKernelForEveryFormat) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(23);
  struct Case {
    WeightFormat format;
    int64_t rows, cols, inputs;
    bool extreme;
  };
  const Case cases[] = {
      {WeightFormat::kFP8, 1000, 1536, 1, false}, {WeightFormat::kFP8, 131, 200, 3, true},
      {WeightFormat::kFP4, 513, 2048, 2, false},  {WeightFormat::kFP4, 77, 96, 1, true},
      {WeightFormat::kBF16, 300, 1000, 4, false}, {WeightFormat::kF32, 33, 129, 1, false},
  };
  for (const Case& c : cases) {
    auto w = testing::MakeWeight(c.format, c.rows, c.cols, rng, c.extreme);
    std::vector<float> x;
    for (int64_t t = 0; t < c.inputs; ++t) {
      auto row = testing::RandomInput(c.cols, rng, c.format == WeightFormat::kFP8);
      x.insert(x.end(), row.begin(), row.end());
    }
    std::vector<float> cpu(static_cast<size_t>(c.inputs * c.rows));
    for (int64_t t = 0; t < c.inputs; ++t) {
      DotInputF32 in;
      in.Prepare(x.data() + t * c.cols, c.cols, c.format == WeightFormat::kFP4);
      WeightRowDotsF32(CpuIsa::kScalar, w.matrix.rows_view(), 0, c.rows, in,
                       cpu.data() + t * c.rows);
    }
    std::vector<float> cpu_bf16 = cpu;
    for (float& v : cpu_bf16) v = forward::RoundBf16(v);
    const DeviceWeight dw = DeviceWeight::Upload(w.matrix.rows_view(), c.rows, stream);
    const DeviceBuffer dx = ToDevice(x, stream);
    DeviceBuffer dy(cpu.size() * sizeof(float));
    const std::string name = "matvec format " + std::to_string(static_cast<int>(c.format)) + " " +
                             std::to_string(c.rows) + "x" + std::to_string(c.cols);
    MatVec(dw, dx.as<float>(), c.inputs, c.cols, dy.as<float>(), c.rows, false, stream);
    // Same arithmetic in the same order: the fp32 results are the same bits.
    const auto gpu = ToHost(dy, cpu.size(), stream);
    for (size_t i = 0; i < cpu.size(); ++i)
      ASSERT_EQ(Bits(gpu[i]), Bits(cpu[i])) << name << " " << i;
    MatVec(dw, dx.as<float>(), c.inputs, c.cols, dy.as<float>(), c.rows, true, stream);
    ExpectContract(ToHost(dy, cpu.size(), stream), cpu_bf16, name + " bf16", true);
  }
}

// The tiled kernel (matvec_tiled.cu, BF16/FP8/FP4 of whole 128-column blocks) at decode shapes
// and on its rare paths: rows taken from inside an FP8 scale block (MatVecRows), an FP8 NaN byte
// (the item recomputed), FP4 groups whose scale byte leaves the lane range (the tail) or passes
// 2^1 (two multiplies), inputs not exact in bf16 (the columns order), several inputs, and the
// routed experts' ExpertMatVec. Same bits as the CPU; a NaN output only where the CPU's is NaN.
TEST(CudaOpsTest, TiledMatVecMatchesTheCpuOnDecodeShapesAndRarePaths) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(31);
  const auto cpu_dots = [](const testing::RandomWeight& w, int64_t begin, int64_t count,
                           const std::vector<float>& x, int64_t inputs) {
    std::vector<float> out(static_cast<size_t>(inputs * count));
    for (int64_t t = 0; t < inputs; ++t) {
      DotInputF32 in;
      in.Prepare(x.data() + t * w.matrix.cols, w.matrix.cols,
                 w.matrix.format == WeightFormat::kFP4);
      WeightRowDotsF32(CpuIsa::kScalar, w.matrix.rows_view(), begin, count, in,
                       out.data() + t * count);
    }
    return out;
  };
  const auto expect_same = [](const std::vector<float>& gpu, const std::vector<float>& cpu,
                              const std::string& name) {
    ASSERT_EQ(gpu.size(), cpu.size());
    for (size_t i = 0; i < cpu.size(); ++i) {
      if (std::isnan(cpu[i])) {
        ASSERT_TRUE(std::isnan(gpu[i])) << name << " " << i;
      } else {
        ASSERT_EQ(Bits(gpu[i]), Bits(cpu[i]))
            << name << " " << i << ": " << gpu[i] << " vs " << cpu[i];
      }
    }
  };
  const auto inputs_of = [&](int64_t cols, int64_t n, bool bf16_exact) {
    std::vector<float> x;
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int64_t t = 0; t < n; ++t) {
      auto row = testing::RandomInput(cols, rng, false);
      if (!bf16_exact) row[static_cast<size_t>(cols / 2)] = normal(rng) + 1e-3f;
      x.insert(x.end(), row.begin(), row.end());
    }
    return x;
  };
  struct Case {
    WeightFormat format;
    int64_t rows, cols, inputs, row_begin, row_count;
    bool bf16_exact;
  };
  const Case cases[] = {
      {WeightFormat::kFP8, 2048, 4096, 2, 0, 2048, true},
      {WeightFormat::kFP8, 2048, 4096, 1, 100, 700, true},  // starts inside a scale block
      {WeightFormat::kFP8, 300, 8192, 1, 0, 300, true},
      {WeightFormat::kFP8, 256, 1024, 2, 0, 256, false},
      {WeightFormat::kFP4, 1024, 4096, 1, 0, 1024, true},
      {WeightFormat::kFP4, 200, 2048, 2, 0, 200, false},
      {WeightFormat::kBF16, 640, 1024, 3, 0, 640, true},
      {WeightFormat::kBF16, 97, 512, 1, 0, 97, false},
  };
  // Every case with the threads loading several items before computing them (the default) and
  // one at a time, and with a CTA's rows one round of loads (the default) or its block sums'
  // budget: the CPU's bits every way.
  const int prefetch_before = TiledPrefetch();
  const bool budget_before = TiledBudgetTiles();
  for (const bool budget : {false, true})
    for (const int prefetch : {kTiledPrefetchItems, 1})
      for (const Case& c : cases) {
        SetTiledPrefetch(prefetch);
        SetTiledBudgetTiles(budget);
        ASSERT_EQ(TiledPrefetch(), prefetch);
        auto w = testing::MakeWeight(c.format, c.rows, c.cols, rng, false);
        const std::string name = "tiled format " + std::to_string(static_cast<int>(c.format)) +
                                 " " + std::to_string(c.rows) + "x" + std::to_string(c.cols) +
                                 " rows " + std::to_string(c.row_begin) + "+" +
                                 std::to_string(c.row_count) +
                                 (c.bf16_exact ? "" : " columns order") + " prefetch " +
                                 std::to_string(prefetch) + (budget ? " budget tiles" : "");
        if (c.format == WeightFormat::kFP8) w.data[5 * c.cols + 77] = 0x7f;  // row 5: NaN
        if (c.format == WeightFormat::kFP4) {
          // Row 3: groups out of the lane range (the tail); row 4: scales past 2^1.
          const uint8_t odd[] = {0, 1, 252, 255};
          for (int g = 0; g < 4; ++g)
            w.scale[static_cast<size_t>(3 * (c.cols / 32) + 5 * g)] = odd[g];
          for (int64_t g = 0; g < c.cols / 32; ++g)
            w.scale[static_cast<size_t>(4 * (c.cols / 32) + g)] = 200;
        }
        const std::vector<float> x = inputs_of(c.cols, c.inputs, c.bf16_exact);
        const std::vector<float> cpu = cpu_dots(w, c.row_begin, c.row_count, x, c.inputs);
        const DeviceWeight dw = DeviceWeight::Upload(w.matrix.rows_view(), c.rows, stream);
        const DeviceBuffer dx = ToDevice(x, stream);
        DeviceBuffer dy(cpu.size() * sizeof(float));
        MatVecRows(dw, c.row_begin, c.row_count, dx.as<float>(), c.inputs, c.cols, dy.as<float>(),
                   c.row_count, false, stream);
        expect_same(ToHost(dy, cpu.size(), stream), cpu, name);
        std::vector<float> cpu_bf16 = cpu;
        for (float& v : cpu_bf16) v = forward::RoundBf16(v);
        MatVecRows(dw, c.row_begin, c.row_count, dx.as<float>(), c.inputs, c.cols, dy.as<float>(),
                   c.row_count, true, stream);
        expect_same(ToHost(dy, cpu.size(), stream), cpu_bf16, name + " bf16");
        // The 16-lanes-per-row kernel on the same weights: the same bits.
        MatVecRowsByLanes(dw, c.row_begin, c.row_count, dx.as<float>(), c.inputs, c.cols,
                          dy.as<float>(), c.row_count, false, stream);
        expect_same(ToHost(dy, cpu.size(), stream), cpu, name + " by lanes");
      }
  SetTiledPrefetch(prefetch_before);
  SetTiledBudgetTiles(budget_before);

  // ExpertMatVec: three FP4 experts, slots picking 2, 0, 2, each slot its own input.
  const int64_t rows = 512, cols = 2048;
  std::vector<testing::RandomWeight> experts;
  std::vector<WeightRows> views;
  for (int e = 0; e < 3; ++e)
    experts.push_back(testing::MakeWeight(WeightFormat::kFP4, rows, cols, rng));
  for (const auto& e : experts) views.push_back(e.matrix.rows_view());
  const DeviceWeightSet set = DeviceWeightSet::Upload(views, rows, stream);
  const std::vector<int32_t> ids = {2, 0, 2};
  const std::vector<float> x = inputs_of(cols, 3, true);
  std::vector<float> cpu;
  for (size_t s = 0; s < ids.size(); ++s) {
    const std::vector<float> xs(x.begin() + static_cast<int64_t>(s) * cols,
                                x.begin() + static_cast<int64_t>(s + 1) * cols);
    const auto part = cpu_dots(experts[static_cast<size_t>(ids[s])], 0, rows, xs, 1);
    cpu.insert(cpu.end(), part.begin(), part.end());
  }
  const DeviceBuffer dids = ToDevice(ids, stream);
  const DeviceBuffer dx = ToDevice(x, stream);
  DeviceBuffer dy(cpu.size() * sizeof(float));
  ExpertMatVec(set, dids.as<int32_t>(), 3, dx.as<float>(), cols, dy.as<float>(), rows, false,
               stream);
  expect_same(ToHost(dy, cpu.size(), stream), cpu, "tiled expert matvec");
}

// The register-tiled kernel (MatVecRowsGemm: several activation rows per CTA) against the
// single-row tiled kernel run once per row (MatVecRowsByInput) and the CPU: the same bits for every
// row, with odd row counts (partial groups of 8, several groups side by side), row ranges starting
// inside an FP8 scale block, partial tiles and chunks, and one row not exact in bf16 among exact
// ones (the columns order for that row only). MatVecExact over several rows against itself row by
// row.
TEST(CudaOpsTest, MultiRowMatVecGivesEachRowItsOneRowBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(47);
  struct Case {
    WeightFormat format;
    int64_t rows, cols, row_begin, row_count;
  };
  const Case cases[] = {
      {WeightFormat::kFP8, 2048, 4096, 100, 700},
      {WeightFormat::kFP8, 300, 1152, 0, 300},
      {WeightFormat::kFP4, 1024, 4096, 0, 1024},
      {WeightFormat::kBF16, 97, 640, 0, 97},
  };
  const int64_t row_counts[] = {2, 3, 8, 9, 13, 33};
  for (const Case& c : cases) {
    auto w = testing::MakeWeight(c.format, c.rows, c.cols, rng, false);
    if (c.format == WeightFormat::kFP8) {
      w.data[static_cast<size_t>(105 * c.cols + 77)] = 0x7f;        // first half of a block
      w.data[static_cast<size_t>(140 * c.cols + 128 + 52)] = 0xff;  // second half
    }
    if (c.format == WeightFormat::kFP4) w.scale[static_cast<size_t>(3 * (c.cols / 32) + 5)] = 0;
    const DeviceWeight dw = DeviceWeight::Upload(w.matrix.rows_view(), c.rows, stream);
    for (const int64_t m : row_counts) {
      const std::string name = "format " + std::to_string(static_cast<int>(c.format)) + " " +
                               std::to_string(c.rows) + "x" + std::to_string(c.cols) + " x" +
                               std::to_string(m);
      const int64_t x_stride = c.cols + 256;
      std::vector<float> x(static_cast<size_t>(m * x_stride), 0.0f);
      for (int64_t t = 0; t < m; ++t) {
        const auto row = testing::RandomInput(c.cols, rng, c.format != WeightFormat::kBF16);
        std::copy(row.begin(), row.end(), x.begin() + t * x_stride);
      }
      x[static_cast<size_t>((m / 2) * x_stride + 33)] = 0.1f;  // not exact in bf16
      const DeviceBuffer dx = ToDevice(x, stream);
      const int64_t y_stride = c.row_count + 5;
      DeviceBuffer dy(static_cast<size_t>(m * y_stride) * 4), dy1(dy.bytes());
      dy.Zero(stream);
      dy1.Zero(stream);
      MatVecRowsGemm(dw, c.row_begin, c.row_count, dx.as<float>(), m, x_stride, dy.as<float>(),
                     y_stride, true, stream);
      MatVecRowsByInput(dw, c.row_begin, c.row_count, dx.as<float>(), m, x_stride, dy1.as<float>(),
                        y_stride, true, stream);
      const auto got = ToHost(dy, static_cast<size_t>(m * y_stride), stream);
      const auto one = ToHost(dy1, static_cast<size_t>(m * y_stride), stream);
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(Bits(got[i]), Bits(one[i])) << name << " output " << i;
      }
      // The first and the not-exact row against the CPU as well.
      for (const int64_t t : {int64_t{0}, m / 2}) {
        DotInputF32 in;
        in.Prepare(x.data() + t * x_stride, c.cols, c.format == WeightFormat::kFP4);
        std::vector<float> cpu(static_cast<size_t>(c.row_count));
        WeightRowDotsF32(CpuIsa::kScalar, w.matrix.rows_view(), c.row_begin, c.row_count, in,
                         cpu.data());
        for (int64_t r = 0; r < c.row_count; ++r) {
          const float want = forward::RoundBf16(cpu[static_cast<size_t>(r)]);
          const float g = got[static_cast<size_t>(t * y_stride + r)];
          if (std::isnan(want)) {
            ASSERT_TRUE(std::isnan(g)) << name << " row " << t << " output " << r;
          } else {
            ASSERT_EQ(Bits(g), Bits(want)) << name << " row " << t << " output " << r;
          }
        }
      }
    }
    // MatVecExact over 9 rows = each row alone.
    const int64_t m = 9;
    std::vector<float> x;
    for (int64_t t = 0; t < m; ++t) {
      const auto row = testing::RandomInput(c.cols, rng, false);
      x.insert(x.end(), row.begin(), row.end());
    }
    const DeviceBuffer dx = ToDevice(x, stream);
    DeviceBuffer dy(static_cast<size_t>(m * c.rows) * 4), dy1(dy.bytes());
    MatVecExact(dw, dx.as<float>(), m, c.cols, dy.as<float>(), c.rows, false, stream);
    for (int64_t t = 0; t < m; ++t) {
      MatVecExact(dw, dx.as<float>() + t * c.cols, 1, c.cols, dy1.as<float>() + t * c.rows, c.rows,
                  false, stream);
    }
    const auto got = ToHost(dy, static_cast<size_t>(m * c.rows), stream);
    const auto one = ToHost(dy1, static_cast<size_t>(m * c.rows), stream);
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(one[i])) continue;
      ASSERT_EQ(Bits(got[i]), Bits(one[i])) << "exact " << c.rows << "x" << c.cols << " " << i;
    }
  }
}

// `n` random FP4 experts of rows x cols (a routed expert set's weights) and their row views.
struct RandomExperts {
  std::vector<testing::RandomWeight> weights;
  std::vector<WeightRows> views;
};
RandomExperts MakeFp4Experts(int64_t n, int64_t rows, int64_t cols, std::mt19937& rng) {
  RandomExperts r;
  for (int64_t e = 0; e < n; ++e) {
    r.weights.push_back(testing::MakeWeight(WeightFormat::kFP4, rows, cols, rng));
  }
  for (const auto& w : r.weights) r.views.push_back(w.matrix.rows_view());
  return r;
}

// ExpertGemmMatVec (the slots grouped by expert, each expert read once per
// group of up to 8 slots) against ExpertMatVec (one slot at a time): the same bits for every slot,
// with experts chosen by many slots (pieces of 8 and a remainder), by one, and kept on the host
// (on_device 4 of 6: their slots untouched by both).
TEST(CudaOpsTest, ExpertGemmMatVecGivesExpertMatVecsBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(61);
  const int64_t rows = 200, cols = 1024, experts = 6, slots = 37;
  const RandomExperts host = MakeFp4Experts(experts, rows, cols, rng);
  const std::vector<WeightRows>& views = host.views;
  for (const bool fp8_inputs : {true, false})
    for (const int64_t on_device : {experts, int64_t{4}}) {
      const DeviceWeightSet set = DeviceWeightSet::Upload(views, rows, stream, on_device);
      std::vector<int32_t> ids(static_cast<size_t>(slots));
      for (int64_t sl = 0; sl < slots; ++sl)
        ids[static_cast<size_t>(sl)] = sl < 20 ? 3 : static_cast<int32_t>(rng() % experts);
      std::shuffle(ids.begin(), ids.end(), rng);
      std::vector<float> x;
      for (int64_t sl = 0; sl < slots; ++sl) {
        const auto row = testing::RandomInput(cols, rng, fp8_inputs);
        x.insert(x.end(), row.begin(), row.end());
      }
      const DeviceBuffer dids = ToDevice(ids, stream);
      const DeviceBuffer dx = ToDevice(x, stream);
      DeviceBuffer grouped(static_cast<size_t>(slots * rows) * 4), single(grouped.bytes());
      grouped.Zero(stream);
      single.Zero(stream);
      ExpertGroups groups = ExpertGroups::Create(64);
      GroupExpertSlots(dids.as<int32_t>(), slots, groups, stream);
      // The device's grouping = expert_groups_math.h's run slot by slot on the host.
      const auto order = ToHost<int32_t>(groups.order, static_cast<size_t>(slots), stream);
      const auto count = ToHost<int32_t>(groups.count, 1, stream)[0];
      const auto piece_words =
          ToHost<int32_t>(groups.pieces, static_cast<size_t>(3 * slots), stream);
      std::vector<int32_t> ranks(ids.size()), want_order(ids.size(), -1);
      std::vector<ExpertPiece> want_pieces(ids.size(), ExpertPiece{-1, -1, -1});
      for (int s = 0; s < slots; ++s) ranks[static_cast<size_t>(s)] = SlotRank(ids.data(), s);
      int want_count = 0;
      for (int s = 0; s < slots; ++s) {
        want_count +=
            GroupSlot(ids.data(), ranks.data(), slots, s, want_order.data(), want_pieces.data());
      }
      ASSERT_EQ(order, want_order) << "on_device " << on_device;
      ASSERT_EQ(count, want_count) << "on_device " << on_device;
      for (int p = 0; p < want_count; ++p) {
        const ExpertPiece& w = want_pieces[static_cast<size_t>(p)];
        EXPECT_EQ(piece_words[static_cast<size_t>(3 * p)], w.expert) << "piece " << p;
        EXPECT_EQ(piece_words[static_cast<size_t>(3 * p + 1)], w.begin) << "piece " << p;
        EXPECT_EQ(piece_words[static_cast<size_t>(3 * p + 2)], w.count) << "piece " << p;
      }
      ExpertMatVec(set, dids.as<int32_t>(), slots, dx.as<float>(), cols, single.as<float>(), rows,
                   true, stream);
      const auto b = ToHost(single, static_cast<size_t>(slots * rows), stream);
      {
        grouped.Zero(stream);
        ExpertGemmMatVec(set, groups, dids.as<int32_t>(), slots, dx.as<float>(), cols,
                         grouped.as<float>(), rows, true, stream);
        const auto a = ToHost(grouped, static_cast<size_t>(slots * rows), stream);
        // Each slot that differs, with the piece (and place in it) it was given and how many of its
        // outputs differ or are zero (never written): the pattern one run on a GPU shows.
        int differing = 0;
        for (int slot = 0; slot < slots; ++slot) {
          int diff = 0, zero = 0;
          for (int64_t r = 0; r < rows; ++r) {
            const size_t i = static_cast<size_t>(slot * rows + r);
            diff += Bits(a[i]) != Bits(b[i]) ? 1 : 0;
            zero += Bits(a[i]) != Bits(b[i]) && a[i] == 0.0f ? 1 : 0;
          }
          if (diff == 0) continue;
          const int at =
              static_cast<int>(std::find(order.begin(), order.end(), slot) - order.begin());
          int piece = -1;
          for (int p = 0; p < want_count; ++p) {
            const ExpertPiece& w = want_pieces[static_cast<size_t>(p)];
            if (at >= w.begin && at < w.begin + w.count) piece = p;
          }
          const ExpertPiece& w = want_pieces[static_cast<size_t>(std::max(piece, 0))];
          ADD_FAILURE() << "inputs " << (fp8_inputs ? "fp8" : "bf16") << ", on_device " << on_device
                        << ": slot " << slot << " (expert " << ids[static_cast<size_t>(slot)]
                        << ", input " << at - w.begin << " of " << w.count << " in piece " << piece
                        << " of " << want_count << "): " << diff << " of " << rows
                        << " outputs differ, " << zero << " of them 0";
          ++differing;
        }
        ASSERT_EQ(differing, 0);
      }
    }
}

// A grouped pair's inputs: two sets of `experts` random FP4 experts of rows x cols (w1's and
// w3's), `tokens` tokens of k slots each, the first `popular` slots on expert `favourite` and the
// rest at random (shuffled), and each token's FP8 input row.
struct PairInputs {
  RandomExperts first, second;
  std::vector<int32_t> ids;
  std::vector<float> x;  // [tokens, cols]
};
PairInputs MakePairInputs(int64_t rows, int64_t cols, int64_t experts, int64_t k, int64_t tokens,
                          int64_t popular, int32_t favourite, std::mt19937& rng) {
  PairInputs p{
      MakeFp4Experts(experts, rows, cols, rng), MakeFp4Experts(experts, rows, cols, rng), {}, {}};
  const int64_t slots = tokens * k;
  for (int64_t sl = 0; sl < slots; ++sl)
    p.ids.push_back(sl < popular ? favourite : static_cast<int32_t>(rng() % experts));
  std::shuffle(p.ids.begin(), p.ids.end(), rng);
  for (int64_t t = 0; t < tokens; ++t) {
    const auto row = testing::RandomInput(cols, rng, true);
    p.x.insert(p.x.end(), row.begin(), row.end());
  }
  return p;
}

// ExpertGemmMatVecPair (the MoE's w1 and w3 in one launch, each slot reading its token's row of
// x: 3 slots a token) = ExpertGemmMatVec of each set on the rows repeated per slot, bit for bit,
// and with `tensor` = ExpertTensorMatVec of each; experts kept on the host (on_device 4 of 6)
// leave their slots' outputs untouched in both. Sets it does not take are refused.
TEST(CudaOpsTest, ExpertGemmMatVecPairGivesEachSetsBitsOnTheTokensRows) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(62);
  const int64_t rows = 72, cols = 512, experts = 6, k = 3, tokens = 7, slots = tokens * k;
  const PairInputs in = MakePairInputs(rows, cols, experts, k, tokens, 10, 1, rng);
  const RandomExperts& first = in.first;
  const RandomExperts& second = in.second;
  std::vector<float> x_slots;
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t j = 0; j < k; ++j) {
      x_slots.insert(x_slots.end(), in.x.begin() + t * cols, in.x.begin() + (t + 1) * cols);
    }
  }
  const DeviceBuffer dids = ToDevice(in.ids, stream), dx = ToDevice(in.x, stream),
                     dx_slots = ToDevice(x_slots, stream);
  ExpertGroups groups = ExpertGroups::Create(32);
  GroupExpertSlots(dids.as<int32_t>(), slots, groups, stream);
  const size_t n = static_cast<size_t>(slots * rows);
  for (const int64_t on_device : {experts, int64_t{4}})
    for (const bool tensor : {false, true}) {
      const std::string what =
          "on_device " + std::to_string(on_device) + (tensor ? ", tensor" : ", register-tiled");
      const DeviceWeightSet set1 = DeviceWeightSet::Upload(first.views, rows, stream, on_device);
      const DeviceWeightSet set3 = DeviceWeightSet::Upload(second.views, rows, stream, on_device);
      DeviceBuffer want1(n * 4), want3(n * 4), got1(n * 4), got3(n * 4);
      for (DeviceBuffer* b : {&want1, &want3, &got1, &got3}) b->Zero(stream);
      const auto each = [&](const DeviceWeightSet& set, DeviceBuffer& y) {
        if (tensor) {
          ExpertTensorMatVec(Views(set), groups, dids.as<int32_t>(), slots, dx_slots.as<float>(),
                             cols, y.as<float>(), rows, true, stream);
        } else {
          ExpertGemmMatVec(set, groups, dids.as<int32_t>(), slots, dx_slots.as<float>(), cols,
                           y.as<float>(), rows, true, stream);
        }
      };
      each(set1, want1);
      each(set3, want3);
      ASSERT_TRUE(ExpertGemmPairTakes(Views(set1), Views(set3), groups, slots));
      ExpertGemmMatVecPair(Views(set1), Views(set3), groups, slots, dx.as<float>(), cols, k,
                           got1.as<float>(), got3.as<float>(), rows, true, tensor, stream);
      const auto a1 = ToHost(got1, n, stream), b1 = ToHost(want1, n, stream);
      const auto a3 = ToHost(got3, n, stream), b3 = ToHost(want3, n, stream);
      int written = 0;
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(Bits(a1[i]), Bits(b1[i])) << what << ", first set, output " << i;
        ASSERT_EQ(Bits(a3[i]), Bits(b3[i])) << what << ", second set, output " << i;
        written += b1[i] != 0.0f ? 1 : 0;
      }
      EXPECT_GT(written, static_cast<int>(n) / 4) << what << ": the products wrote their outputs";
    }
  // Sets the kernel does not take (different shapes; more slots than the grouping) are refused.
  const DeviceWeightSet set1 = DeviceWeightSet::Upload(first.views, rows, stream);
  ExpertSetViews other = Views(set1);
  other.rows = rows - 1;
  EXPECT_FALSE(ExpertGemmPairTakes(Views(set1), other, groups, slots));
  EXPECT_FALSE(ExpertGemmPairTakes(Views(set1), Views(set1), groups, 33));
  DeviceBuffer y(n * 4);
  EXPECT_THROW(ExpertGemmMatVecPair(Views(set1), other, groups, slots, dx.as<float>(), cols, k,
                                    y.as<float>(), y.as<float>(), rows, true, false, stream),
               CudaError);
}

// ExpertGemmMatVecPair with the pair's SwiGLU (PairSwiGlu: the last CTAs of each 128-column
// block write its FP8 SwiGLU into the first output) = the two products then SwiGluQuant, bit for
// bit, with and without routing weights and the clamp, experts kept on the host (on_device 4 of
// 6) and not; the counts zero after each call. With `tensor`, or rows not a whole number of
// blocks, it does not (and says so).
TEST(CudaOpsTest, ExpertGemmMatVecPairWithSwiGluGivesTheProductsThenSwiGluQuantBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(63);
  const int64_t rows = 256, cols = 256, experts = 6, k = 3, tokens = 5, slots = tokens * k;
  const PairInputs in = MakePairInputs(rows, cols, experts, k, tokens, 9, 4, rng);
  const RandomExperts& first = in.first;
  const RandomExperts& second = in.second;
  std::vector<float> weight;
  for (int64_t sl = 0; sl < slots; ++sl) weight.push_back(0.1f + 0.05f * static_cast<float>(sl));
  const DeviceBuffer dids = ToDevice(in.ids, stream), dx = ToDevice(in.x, stream),
                     dweight = ToDevice(weight, stream);
  ExpertGroups groups = ExpertGroups::Create(32);
  GroupExpertSlots(dids.as<int32_t>(), slots, groups, stream);
  const int64_t arrival_bytes = PairSwiGluArrivalsBytes(32, rows);
  DeviceBuffer arrivals(static_cast<size_t>(arrival_bytes));
  arrivals.Zero(stream);
  const size_t n = static_cast<size_t>(slots * rows);
  for (const int64_t on_device : {experts, int64_t{4}})
    for (const bool weighted : {false, true})
      for (const float limit : {0.0f, 2.0f}) {
        const std::string what = "on_device " + std::to_string(on_device) +
                                 (weighted ? ", weighted" : "") + ", limit " +
                                 std::to_string(limit);
        const DeviceWeightSet set1 = DeviceWeightSet::Upload(first.views, rows, stream, on_device);
        const DeviceWeightSet set3 = DeviceWeightSet::Upload(second.views, rows, stream, on_device);
        DeviceBuffer want1(n * 4), want3(n * 4), got1(n * 4), got3(n * 4);
        for (DeviceBuffer* b : {&want1, &want3, &got1, &got3}) b->Zero(stream);
        ExpertGemmMatVecPair(Views(set1), Views(set3), groups, slots, dx.as<float>(), cols, k,
                             want1.as<float>(), want3.as<float>(), rows, true, false, stream);
        const float* w = weighted ? dweight.as<float>() : nullptr;
        SwiGluQuant(want1.as<float>(), want3.as<float>(), slots, rows, w, limit, want1.as<float>(),
                    stream);
        const PairSwiGlu swiglu{arrivals.as<unsigned>(), w, limit};
        EXPECT_TRUE(ExpertGemmMatVecPair(Views(set1), Views(set3), groups, slots, dx.as<float>(),
                                         cols, k, got1.as<float>(), got3.as<float>(), rows, true,
                                         false, stream, &swiglu))
            << what;
        const auto a1 = ToHost(got1, n, stream), b1 = ToHost(want1, n, stream);
        const auto a3 = ToHost(got3, n, stream), b3 = ToHost(want3, n, stream);
        int nonzero = 0;
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(Bits(a1[i]), Bits(b1[i])) << what << ", SwiGLU " << i;
          ASSERT_EQ(Bits(a3[i]), Bits(b3[i])) << what << ", second product " << i;
          nonzero += b1[i] != 0.0f ? 1 : 0;
        }
        EXPECT_GT(nonzero, static_cast<int>(n) / 4) << what;
        ExpectCountsAtZero(arrivals, arrival_bytes / 4, what, stream);
      }
  // The tensor cores' pair, and rows that are no whole number of blocks, leave it to the caller.
  const DeviceWeightSet set1 = DeviceWeightSet::Upload(first.views, rows, stream);
  DeviceBuffer y1(n * 4), y3(n * 4);
  const PairSwiGlu swiglu{arrivals.as<unsigned>(), nullptr, 0.0f};
  EXPECT_FALSE(ExpertGemmMatVecPair(Views(set1), Views(set1), groups, slots, dx.as<float>(), cols,
                                    k, y1.as<float>(), y3.as<float>(), rows, true, true, stream,
                                    &swiglu));
  ExpertSetViews fewer = Views(set1);
  fewer.rows = 96;
  EXPECT_FALSE(ExpertGemmMatVecPair(fewer, fewer, groups, slots, dx.as<float>(), cols, k,
                                    y1.as<float>(), y3.as<float>(), 96, true, false, stream,
                                    &swiglu));
  ExpectCountsAtZero(arrivals, arrival_bytes / 4, "after the calls that leave it", stream);
}

// MatVecRowGroups (one launch, grid z over the groups; several rows: the register-tiled kernel
// by default) = the single-row kernel per group and row, bit for bit: the attention's grouped
// wo_a shape scaled down, groups starting inside an FP8 scale block (100 rows a group), one,
// three and nine activation rows (two input tiles), strided x and y.
TEST(CudaOpsTest, MatVecRowGroupsGivesEachGroupsMatVecRowsBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(73);
  for (const WeightFormat format : {WeightFormat::kFP8, WeightFormat::kFP4, WeightFormat::kBF16}) {
    const int64_t groups = 8, group_rows = 100, group_in = 512, cols = group_in;
    auto w = testing::MakeWeight(format, groups * group_rows, cols, rng, false);
    const DeviceWeight dw = DeviceWeight::Upload(w.matrix.rows_view(), groups * group_rows, stream);
    for (const int64_t x_rows : {int64_t{1}, int64_t{3}, int64_t{9}}) {
      const int64_t x_stride = groups * group_in, y_stride = groups * group_rows + 7;
      std::vector<float> x;
      for (int64_t t = 0; t < x_rows * groups; ++t) {
        const auto part = testing::RandomInput(group_in, rng, format != WeightFormat::kBF16);
        x.insert(x.end(), part.begin(), part.end());
      }
      const DeviceBuffer dx = ToDevice(x, stream);
      DeviceBuffer one(static_cast<size_t>(x_rows * y_stride) * 4), each(one.bytes());
      one.Zero(stream);
      each.Zero(stream);
      MatVecRowGroups(dw, groups, group_rows, dx.as<float>(), x_rows, x_stride, group_in,
                      one.as<float>(), y_stride, group_rows, true, stream);
      for (int64_t g = 0; g < groups; ++g) {
        MatVecRowsByInput(dw, g * group_rows, group_rows, dx.as<float>() + g * group_in, x_rows,
                          x_stride, each.as<float>() + g * group_rows, y_stride, true, stream);
      }
      const auto a = ToHost(one, static_cast<size_t>(x_rows * y_stride), stream);
      const auto b = ToHost(each, static_cast<size_t>(x_rows * y_stride), stream);
      int differ = 0, written = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        differ += Bits(a[i]) != Bits(b[i]) ? 1 : 0;
        written += b[i] != 0.0f ? 1 : 0;
      }
      EXPECT_EQ(differ, 0) << "format " << static_cast<int>(format) << " x" << x_rows;
      EXPECT_GT(written, static_cast<int>(x_rows * groups * group_rows * 9 / 10));
    }
  }
}

// MatVecRowGroupsQuantized (the attention's wo_a with its output's act_quant for wo_b: by the
// last CTA of each 128-column block where the register-tiled kernel takes the product) = the
// product then ActQuant, bit for bit: 1, 3, 9 and 17 rows (up to three input tiles), 4 groups of
// 256 rows (two blocks each), of 64 (a block spans two groups) and of 96 (one spans a group's
// last tiles and the next one's first), and 8 of 48 (no whole 32-row tiles: ActQuant after), with
// each rows kernel; the counts are zero after every call. A row that is no whole number of blocks
// is refused.
TEST(CudaOpsTest, MatVecRowGroupsQuantizedGivesTheProductThenActQuantBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(74);
  const int64_t cols = 256;
  const int64_t max_arrivals = QuantizedRowGroupsArrivalsBytes(4, 256, 17);
  DeviceBuffer arrivals(static_cast<size_t>(max_arrivals));
  arrivals.Zero(stream);
  const struct { int64_t groups, group_rows; } shapes[] = {{4, 256}, {4, 64}, {4, 96}, {8, 48}};
  for (const WeightFormat format : {WeightFormat::kFP8, WeightFormat::kFP4, WeightFormat::kBF16})
    for (const auto& [groups, group_rows] : shapes) {
      const int64_t n = groups * group_rows;
      auto w = testing::MakeWeight(format, n, cols, rng, false);
      const DeviceWeight dw = DeviceWeight::Upload(w.matrix.rows_view(), n, stream);
      for (const int64_t x_rows : {int64_t{1}, int64_t{3}, int64_t{9}, int64_t{17}}) {
        std::vector<float> x;
        for (int64_t t = 0; t < x_rows * groups; ++t) {
          const auto part = testing::RandomInput(cols, rng, format != WeightFormat::kBF16);
          x.insert(x.end(), part.begin(), part.end());
        }
        const DeviceBuffer dx = ToDevice(x, stream);
        const size_t outputs = static_cast<size_t>(x_rows * n);
        for (const RowsKernel kernel :
             {RowsKernel::kGemm, RowsKernel::kByInput, RowsKernel::kTensor}) {
          const RowsKernelScope scope(kernel);
          const std::string name = "format " + std::to_string(static_cast<int>(format)) +
                                   ", groups of " + std::to_string(group_rows) + ", " +
                                   std::to_string(x_rows) + " rows, kernel " +
                                   std::to_string(static_cast<int>(kernel));
          DeviceBuffer want(outputs * 4), got(outputs * 4);
          MatVecRowGroups(dw, groups, group_rows, dx.as<float>(), x_rows, groups * cols, cols,
                          want.as<float>(), n, group_rows, true, stream);
          ActQuant(want.as<float>(), x_rows, n, 128, ActQuantFormat::kFp8, stream);
          MatVecRowGroupsQuantized(dw, groups, group_rows, dx.as<float>(), x_rows, groups * cols,
                                   cols, got.as<float>(), true, arrivals.as<unsigned>(), stream);
          const auto a = ToHost(want, outputs, stream), b = ToHost(got, outputs, stream);
          for (size_t i = 0; i < outputs; ++i) {
            ASSERT_EQ(Bits(b[i]), Bits(a[i])) << name << " output " << i;
          }
          ExpectCountsAtZero(arrivals, max_arrivals / 4, name, stream);
        }
      }
    }
  const auto odd = testing::MakeWeight(WeightFormat::kBF16, 2 * 96, cols, rng, false);
  const DeviceWeight dodd = DeviceWeight::Upload(odd.matrix.rows_view(), 2 * 96, stream);
  DeviceBuffer x(static_cast<size_t>(2 * cols) * 4), y(static_cast<size_t>(2 * 96) * 4);
  EXPECT_THROW(MatVecRowGroupsQuantized(dodd, 2, 96, x.as<float>(), 1, 2 * cols, cols,
                                        y.as<float>(), true, arrivals.as<unsigned>(), stream),
               CudaError);
}

// MatVecRmsNormQuant (the attention's wq_a with q_norm and qr's act_quant for wq_b: by the last
// of each input tile's CTAs of the register-tiled kernel) = MatVec then RmsNormQuant, bit for bit:
// the normed output and its FP8 copy, for 1 to 19 rows (whole and partial input tiles), 256 and
// 1,024 weight rows; one launch only where the register-tiled kernel takes the rows (it says
// which). Counts zero after; weight rows not a multiple of 128 are refused.
TEST(CudaOpsTest, MatVecRmsNormQuantGivesTheProductThenRmsNormQuantBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(78);
  const int64_t cols = 384;
  const int64_t max_arrivals = MatVecRmsNormQuantArrivalsBytes(19);
  DeviceBuffer arrivals(static_cast<size_t>(max_arrivals));
  arrivals.Zero(stream);
  for (const WeightFormat format : {WeightFormat::kFP8, WeightFormat::kFP4, WeightFormat::kBF16})
    for (const int64_t n : {int64_t{256}, int64_t{1024}, int64_t{96}}) {
      auto w = testing::MakeWeight(format, n, cols, rng, false);
      const DeviceWeight dw = DeviceWeight::Upload(w.matrix.rows_view(), n, stream);
      std::vector<float> norm = testing::RandomInput(n, rng, false);
      for (float& v : norm) v = forward::RoundBf16(1.0f + 0.25f * v);
      const DeviceBuffer dnorm = ToDevice(norm, stream);
      for (const int64_t x_rows : {int64_t{1}, int64_t{3}, int64_t{8}, int64_t{19}}) {
        std::vector<float> x;
        for (int64_t t = 0; t < x_rows; ++t) {
          const auto part = testing::RandomInput(cols, rng, format != WeightFormat::kBF16);
          x.insert(x.end(), part.begin(), part.end());
        }
        const DeviceBuffer dx = ToDevice(x, stream);
        const size_t outputs = static_cast<size_t>(x_rows * n);
        for (const RowsKernel kernel : {RowsKernel::kGemm, RowsKernel::kByInput}) {
          const RowsKernelScope scope(kernel);
          const std::string name = "format " + std::to_string(static_cast<int>(format)) + ", " +
                                   std::to_string(n) + " weight rows, " + std::to_string(x_rows) +
                                   " rows, kernel " + std::to_string(static_cast<int>(kernel));
          DeviceBuffer want(outputs * 4), want_fp8(outputs * 4), got(outputs * 4),
              got_fp8(outputs * 4);
          MatVec(dw, dx.as<float>(), x_rows, cols, want.as<float>(), n, true, stream);
          if (n % 128 != 0) {  // not whole FP8 blocks: refused, as RmsNormQuant refuses them
            EXPECT_THROW(MatVecRmsNormQuant(dw, dx.as<float>(), x_rows, cols, got.as<float>(), true,
                                            dnorm.as<float>(), 1e-6f, got_fp8.as<float>(),
                                            arrivals.as<unsigned>(), stream),
                         CudaError)
                << name;
            continue;
          }
          RmsNormQuant(want.as<float>(), x_rows, n, dnorm.as<float>(), 1e-6f, want.as<float>(),
                       want_fp8.as<float>(), stream);
          const bool one = MatVecRmsNormQuant(dw, dx.as<float>(), x_rows, cols, got.as<float>(),
                                              true, dnorm.as<float>(), 1e-6f, got_fp8.as<float>(),
                                              arrivals.as<unsigned>(), stream);
          EXPECT_EQ(one, kernel == RowsKernel::kGemm && x_rows > 1) << name;
          for (const bool fp8 : {false, true}) {
            const auto a = ToHost(fp8 ? want_fp8 : want, outputs, stream);
            const auto b = ToHost(fp8 ? got_fp8 : got, outputs, stream);
            for (size_t i = 0; i < outputs; ++i) {
              ASSERT_EQ(Bits(b[i]), Bits(a[i])) << name << (fp8 ? " fp8 " : " normed ") << i;
            }
          }
          ExpectCountsAtZero(arrivals, max_arrivals / 4, name, stream);
        }
      }
    }
}

// MatVecRowsPair (the shared expert's w1 and w3 in one launch, and their SwiGLU's FP8 copy by
// its last CTAs of each 128-column block) = the two MatVecs then SwiGluQuant, bit for bit, for 3,
// 8 and 11 rows and 256 weight rows; without the arrivals only the products; with the by-input
// or tensor choice, or 1 row, the two MatVecs (it says it left the SwiGLU). Counts zero after.
TEST(CudaOpsTest, MatVecRowsPairGivesTheTwoProductsThenSwiGluQuantBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(76);
  const int64_t rows = 256, cols = 384;
  const int64_t arrival_bytes = MatVecPairSwiGluArrivalsBytes(11, rows);
  DeviceBuffer arrivals(static_cast<size_t>(arrival_bytes));
  arrivals.Zero(stream);
  for (const WeightFormat format : {WeightFormat::kFP8, WeightFormat::kFP4, WeightFormat::kBF16}) {
    auto w1 = testing::MakeWeight(format, rows, cols, rng, false);
    auto w3 = testing::MakeWeight(format, rows, cols, rng, false);
    const DeviceWeight d1 = DeviceWeight::Upload(w1.matrix.rows_view(), rows, stream);
    const DeviceWeight d3 = DeviceWeight::Upload(w3.matrix.rows_view(), rows, stream);
    for (const int64_t n : {int64_t{1}, int64_t{3}, int64_t{8}, int64_t{11}}) {
      std::vector<float> x;
      for (int64_t t = 0; t < n; ++t) {
        const auto row = testing::RandomInput(cols, rng, true);
        x.insert(x.end(), row.begin(), row.end());
      }
      const DeviceBuffer dx = ToDevice(x, stream);
      const size_t outputs = static_cast<size_t>(n * rows);
      for (const RowsKernel kernel :
           {RowsKernel::kGemm, RowsKernel::kByInput, RowsKernel::kTensor}) {
        const RowsKernelScope scope(kernel);
        for (const bool swiglu : {false, true}) {
          const std::string name = "format " + std::to_string(static_cast<int>(format)) + ", " +
                                   std::to_string(n) + " rows, kernel " +
                                   std::to_string(static_cast<int>(kernel)) +
                                   (swiglu ? ", SwiGLU" : "");
          DeviceBuffer want1(outputs * 4), want3(outputs * 4), got1(outputs * 4), got3(outputs * 4);
          MatVec(d1, dx.as<float>(), n, cols, want1.as<float>(), rows, true, stream);
          MatVec(d3, dx.as<float>(), n, cols, want3.as<float>(), rows, true, stream);
          const bool done =
              MatVecRowsPair(d1, d3, dx.as<float>(), n, got1.as<float>(), got3.as<float>(), true,
                             swiglu ? arrivals.as<unsigned>() : nullptr, stream);
          EXPECT_EQ(done, swiglu && n > 1 && kernel == RowsKernel::kGemm) << name;
          if (done) {
            SwiGluQuant(want1.as<float>(), want3.as<float>(), n, rows, nullptr, 0.0f,
                        want1.as<float>(), stream);
          }
          const auto a1 = ToHost(got1, outputs, stream), b1 = ToHost(want1, outputs, stream);
          const auto a3 = ToHost(got3, outputs, stream), b3 = ToHost(want3, outputs, stream);
          for (size_t i = 0; i < outputs; ++i) {
            ASSERT_EQ(Bits(a1[i]), Bits(b1[i])) << name << ", first output " << i;
            ASSERT_EQ(Bits(a3[i]), Bits(b3[i])) << name << ", second output " << i;
          }
          ExpectCountsAtZero(arrivals, arrival_bytes / 4, name, stream);
        }
      }
    }
  }
}

// The streamed experts' tests' case: six FP4 experts of 96 x 512, all on the device (`all`) and
// with 3..5 kept on the host (`half`), 12 slots' ids and inputs, and the all-on-device set's
// products (`want`, on the host).
struct StreamedExpertsCase {
  static constexpr int64_t kRows = 96, kCols = 512, kExperts = 6, kSlots = 12;
  static constexpr size_t kOutputs = kSlots * kRows;
  RandomExperts host;
  DeviceWeightSet all, half;
  std::vector<int32_t> ids = {0, 5, 3, 4, 1, 5, 2, 3, 4, 0, 5, 1};
  DeviceBuffer dids, dx;
  std::vector<float> want;

  StreamedExpertsCase(uint32_t seed, CudaStream& stream) {
    std::mt19937 rng(seed);
    host = MakeFp4Experts(kExperts, kRows, kCols, rng);
    all = DeviceWeightSet::Upload(host.views, kRows, stream);
    half = DeviceWeightSet::Upload(host.views, kRows, stream, 3);
    std::vector<float> x;
    for (int64_t sl = 0; sl < kSlots; ++sl) {
      const auto row = testing::RandomInput(kCols, rng, true);
      x.insert(x.end(), row.begin(), row.end());
    }
    dids = ToDevice(ids, stream);
    dx = ToDevice(x, stream);
    DeviceBuffer out(kOutputs * 4);
    out.Zero(stream);
    Products(Views(all), out, stream);
    want = ToHost(out, kOutputs, stream);
  }
  // Every slot's product through `table` into `out` (slots it skips keep their values).
  void Products(const ExpertSetViews& table, DeviceBuffer& out, CudaStream& stream) const {
    ExpertMatVec(table, dids.as<int32_t>(), kSlots, dx.as<float>(), kCols, out.as<float>(), kRows,
                 true, stream);
  }
};

// Streamed experts (expert_stream.h): experts 5 and 4 of the case's `half` streamed into a pool of
// 2, then ExpertMatVec through the returned table = the all-on-device set's bits for the device
// and streamed experts' slots; expert 3's slots stay untouched. The pool refuses an expert on the
// device, more experts than it holds, and one of another shape.
TEST(CudaOpsTest, StreamedExpertsGiveTheAllOnDeviceBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  using Case = StreamedExpertsCase;
  const Case c(79, stream);
  const std::vector<WeightRows>& views = c.host.views;
  DeviceBuffer got(Case::kOutputs * 4);
  got.Zero(stream);
  ExpertStreamPool pool = ExpertStreamPool::Create(WeightFormat::kFP4, Case::kRows, Case::kCols, 2);
  const std::vector<int32_t> streamed = {5, 4};
  c.Products(StreamExperts(c.half, views, streamed.data(), 2, pool, stream), got, stream);
  const auto a = ToHost(got, Case::kOutputs, stream);
  for (int64_t sl = 0; sl < Case::kSlots; ++sl) {
    for (int64_t r = 0; r < Case::kRows; ++r) {
      const size_t i = static_cast<size_t>(sl * Case::kRows + r);
      if (c.ids[static_cast<size_t>(sl)] == 3) {
        ASSERT_EQ(a[i], 0.0f) << "slot " << sl << " (expert 3, on the host, not streamed)";
      } else {
        ASSERT_EQ(Bits(a[i]), Bits(c.want[i])) << "slot " << sl << " row " << r;
      }
    }
  }
  const std::vector<int32_t> on_device = {1}, three = {3, 4, 5};
  EXPECT_THROW(StreamExperts(c.half, views, on_device.data(), 1, pool, stream),
               std::invalid_argument);
  EXPECT_THROW(StreamExperts(c.half, views, three.data(), 3, pool, stream), std::invalid_argument);
  ExpertStreamPool narrow =
      ExpertStreamPool::Create(WeightFormat::kFP4, Case::kRows, Case::kCols - 128, 1);
  EXPECT_THROW(StreamExperts(c.half, views, streamed.data(), 1, narrow, stream),
               std::invalid_argument);
}

// More streamed experts than the pool holds, in turns (expert_stream.h): a pool of 1, experts
// 5, 4 and 3 a turn each, each turn's products queued after its copies and before the next
// turn's copies into the same entry. Together: the all-on-device set's bits in every slot, with
// the turns' tables staged in the pool's page-locked memory or (a pool made without room for
// them) built in pageable memory. A later turn's table has only its own experts: over outputs
// set to a sentinel, it computes expert 4's slots and leaves every other slot, the device
// experts' too. A negative turn is refused.
TEST(CudaOpsTest, StreamedExpertsInTurnsGiveTheAllOnDeviceBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  using Case = StreamedExpertsCase;
  const Case c(83, stream);
  const std::vector<WeightRows>& views = c.host.views;
  const size_t n = Case::kOutputs;
  DeviceBuffer got(n * 4);
  ExpertStreamPool staged =
      ExpertStreamPool::Create(WeightFormat::kFP4, Case::kRows, Case::kCols, 1, Case::kExperts);
  EXPECT_EQ(staged.turns, Case::kExperts);
  ExpertStreamPool unstaged =
      ExpertStreamPool::Create(WeightFormat::kFP4, Case::kRows, Case::kCols, 1);
  EXPECT_EQ(unstaged.turns, 0);
  const std::vector<int32_t> order = {5, 4, 3};
  for (ExpertStreamPool* pool : {&staged, &unstaged}) {
    const char* name = pool == &staged ? "staged" : "unstaged";
    got.Zero(stream);
    for (int64_t turn = 0; turn < 3; ++turn) {
      c.Products(StreamExperts(c.half, views, order.data() + turn, 1, *pool, stream, turn), got,
                 stream);
    }
    const auto a = ToHost(got, n, stream);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(Bits(a[i]), Bits(c.want[i])) << name << ", value " << i;
    }

    const std::vector<float> sentinel(n, -7.0f);
    got.Upload(sentinel.data(), n * 4, stream);
    c.Products(StreamExperts(c.half, views, order.data() + 1, 1, *pool, stream, 1), got, stream);
    const auto b = ToHost(got, n, stream);
    for (int64_t sl = 0; sl < Case::kSlots; ++sl) {
      const int32_t e = c.ids[static_cast<size_t>(sl)];
      const size_t i = static_cast<size_t>(sl * Case::kRows);
      if (e == 4) {
        ASSERT_EQ(Bits(b[i]), Bits(c.want[i])) << name << ", slot " << sl;
      } else {
        ASSERT_EQ(b[i], -7.0f) << name << ": a later turn computed slot " << sl << " (expert " << e
                               << ")";
      }
    }
  }
  EXPECT_THROW(StreamExperts(c.half, views, order.data(), 1, staged, stream, -1),
               std::invalid_argument);
}

// The register-tiled kernel with full input tiles of 8 in every CTA and several input tiles side
// by side, on a weight of many row tiles.
TEST(CudaOpsTest, MultiRowMatVecWithFullGroupsGivesEachRowItsOneRowBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(71);
  for (const WeightFormat format : {WeightFormat::kFP8, WeightFormat::kFP4, WeightFormat::kBF16}) {
    const int64_t rows = 2048, cols = 1024;  // 64 of the kernel's 32-row tiles (kGemmTileRows)
    auto w = testing::MakeWeight(format, rows, cols, rng, false);
    const DeviceWeight dw = DeviceWeight::Upload(w.matrix.rows_view(), rows, stream);
    for (const int64_t m : {int64_t{8}, int64_t{16}, int64_t{64}}) {
      std::vector<float> x;
      for (int64_t t = 0; t < m; ++t) {
        const auto row = testing::RandomInput(cols, rng, format != WeightFormat::kBF16);
        x.insert(x.end(), row.begin(), row.end());
      }
      const DeviceBuffer dx = ToDevice(x, stream);
      DeviceBuffer dy(static_cast<size_t>(m * rows) * 4), dy1(dy.bytes());
      MatVecRowsGemm(dw, 0, rows, dx.as<float>(), m, cols, dy.as<float>(), rows, true, stream);
      MatVecRowsByInput(dw, 0, rows, dx.as<float>(), m, cols, dy1.as<float>(), rows, true, stream);
      const auto one = ToHost(dy1, static_cast<size_t>(m * rows), stream);
      {
        const auto got = ToHost(dy, static_cast<size_t>(m * rows), stream);
        int reported = 0;
        for (size_t i = 0; i < got.size() && reported < 8; ++i) {
          if (Bits(got[i]) == Bits(one[i])) continue;
          ADD_FAILURE() << "format " << static_cast<int>(format) << " x" << m << " input "
                        << i / static_cast<size_t>(rows) << " row " << i % static_cast<size_t>(rows)
                        << ": " << got[i] << " register-tiled, " << one[i] << " one by one";
          ++reported;
        }
        ASSERT_EQ(reported, 0);
      }
    }
  }
}

TEST(CudaOpsTest, MatVecExactMatchesTheCpuExactKernelForEveryFormat) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(27);
  struct Case {
    WeightFormat format;
    int64_t rows, cols, inputs;
    bool extreme;
  };
  // The router's gate, the mHC fn, a compressor's wkv, and odd shapes with extreme scales.
  const Case cases[] = {
      {WeightFormat::kBF16, 256, 4096, 3, false}, {WeightFormat::kF32, 24, 16384, 2, false},
      {WeightFormat::kFP8, 1024, 4096, 1, false}, {WeightFormat::kFP8, 131, 200, 2, true},
      {WeightFormat::kFP4, 77, 96, 1, true},      {WeightFormat::kBF16, 33, 7, 1, false},
  };
  for (const Case& c : cases) {
    auto w = testing::MakeWeight(c.format, c.rows, c.cols, rng, c.extreme);
    std::vector<float> x;
    for (int64_t t = 0; t < c.inputs; ++t) {
      auto row = testing::RandomInput(c.cols, rng, false);
      x.insert(x.end(), row.begin(), row.end());
    }
    std::vector<float> cpu(static_cast<size_t>(c.inputs * c.rows)), cpu_bf16(cpu.size());
    std::vector<double> dots(static_cast<size_t>(c.rows));
    for (int64_t t = 0; t < c.inputs; ++t) {
      DotInput in;
      in.Prepare(x.data() + t * c.cols, c.cols);
      WeightRowDots(CpuIsa::kScalar, w.matrix.rows_view(), 0, c.rows, in, dots.data());
      for (int64_t o = 0; o < c.rows; ++o) {
        cpu[static_cast<size_t>(t * c.rows + o)] = static_cast<float>(dots[static_cast<size_t>(o)]);
        cpu_bf16[static_cast<size_t>(t * c.rows + o)] =
            forward::RoundBf16(dots[static_cast<size_t>(o)]);
      }
    }
    const DeviceWeight dw = DeviceWeight::Upload(w.matrix.rows_view(), c.rows, stream);
    const DeviceBuffer dx = ToDevice(x, stream);
    DeviceBuffer dy(cpu.size() * sizeof(float));
    const std::string name = "matvec_exact format " + std::to_string(static_cast<int>(c.format)) +
                             " " + std::to_string(c.rows) + "x" + std::to_string(c.cols);
    MatVecExact(dw, dx.as<float>(), c.inputs, c.cols, dy.as<float>(), c.rows, false, stream);
    ExpectContract(ToHost(dy, cpu.size(), stream), cpu, name, false);
    MatVecExact(dw, dx.as<float>(), c.inputs, c.cols, dy.as<float>(), c.rows, true, stream);
    ExpectContract(ToHost(dy, cpu.size(), stream), cpu_bf16, name + " bf16", true);
  }
}

// MatVecExactPair (a compressor's wkv and wgate in one launch) against the two MatVecExact calls,
// with the fused steps on and off: the same bits into the interleaved layout the compressors use
// (row t's a outputs, then its b outputs), nothing written between; columns that differ throw.
TEST(CudaOpsTest, MatVecExactPairGivesTheTwoProductsBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(59);
  const int64_t cols = 4096, inputs = 3;
  for (const auto& [rows_a, rows_b] : {std::pair<int64_t, int64_t>{512, 512}, {40, 17}}) {
    const auto a = testing::MakeWeight(WeightFormat::kFP8, rows_a, cols, rng, false);
    const auto b = testing::MakeWeight(WeightFormat::kBF16, rows_b, cols, rng, false);
    const DeviceWeight da = DeviceWeight::Upload(a.matrix.rows_view(), rows_a, stream);
    const DeviceWeight db = DeviceWeight::Upload(b.matrix.rows_view(), rows_b, stream);
    std::vector<float> x;
    for (int64_t t = 0; t < inputs; ++t) {
      auto row = testing::RandomInput(cols, rng, false);
      x.insert(x.end(), row.begin(), row.end());
    }
    const DeviceBuffer dx = ToDevice(x, stream);
    // A gap of 5 floats after each row's outputs: the pair must leave it alone.
    const int64_t stride = rows_a + rows_b + 5, n = inputs * stride;
    const std::vector<float> sentinel(static_cast<size_t>(n), -7.0f);
    DeviceBuffer want = ToDevice(sentinel, stream);
    MatVecExact(da, dx.as<float>(), inputs, cols, want.as<float>(), stride, false, stream);
    MatVecExact(db, dx.as<float>(), inputs, cols, want.as<float>() + rows_a, stride, false, stream);
    const std::vector<float> expected = ToHost(want, n, stream);
    for (const bool fused : {true, false}) {
      SetFusedSteps(fused);
      DeviceBuffer got = ToDevice(sentinel, stream);
      MatVecExactPair(da, db, dx.as<float>(), inputs, cols, got.as<float>(),
                      got.as<float>() + rows_a, stride, false, stream);
      const std::vector<float> out = ToHost(got, n, stream);
      SetFusedSteps(true);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(reference_rounding::Bits(out[i]), reference_rounding::Bits(expected[i]))
            << rows_a << "+" << rows_b << (fused ? "" : " steps off") << " output " << i;
      }
      EXPECT_EQ(out[static_cast<size_t>(stride - 1)], -7.0f);
      EXPECT_NE(out[0], -7.0f);
      EXPECT_NE(out[static_cast<size_t>(rows_a)], -7.0f);
    }
  }
  const auto narrow = testing::MakeWeight(WeightFormat::kBF16, 4, 128, rng, false);
  const auto wide = testing::MakeWeight(WeightFormat::kBF16, 4, 256, rng, false);
  const DeviceWeight dn = DeviceWeight::Upload(narrow.matrix.rows_view(), 4, stream);
  const DeviceWeight dw = DeviceWeight::Upload(wide.matrix.rows_view(), 4, stream);
  DeviceBuffer buf(512 * sizeof(float));
  EXPECT_THROW(MatVecExactPair(dn, dw, buf.as<float>(), 1, 256, buf.as<float>(),
                               buf.as<float>() + 4, 8, false, stream),
               CudaError);
}

// Weights marked exact (the exact numerics, DeviceWeight::exact): MatVec, MatVecRows from inside
// the weight, MatVecRowGroups and ExpertMatVec over a set all give MatVecExact's bits for the rows
// they cover (and that, the test above says, is the CPU's exact kernel).
TEST(CudaOpsTest, WeightsMarkedExactTakeTheExactKernelEverywhere) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(53);
  const int64_t rows = 256, cols = 1024, inputs = 3;
  auto w = testing::MakeWeight(WeightFormat::kFP8, rows, cols, rng, false);
  DeviceWeight dw = DeviceWeight::Upload(w.matrix.rows_view(), rows, stream);
  std::vector<float> x;
  for (int64_t t = 0; t < inputs; ++t) {
    const auto row = testing::RandomInput(cols, rng, false);
    x.insert(x.end(), row.begin(), row.end());
  }
  const DeviceBuffer dx = ToDevice(x, stream);
  DeviceBuffer dwant(static_cast<size_t>(inputs * rows) * 4), dgot(dwant.bytes());
  MatVecExact(dw, dx.as<float>(), inputs, cols, dwant.as<float>(), rows, true, stream);
  const std::vector<float> want = ToHost(dwant, static_cast<size_t>(inputs * rows), stream);
  const auto expect_rows = [&](const std::vector<float>& got, int64_t begin, int64_t count,
                               int64_t stride, const std::string& what) {
    for (int64_t t = 0; t < inputs; ++t) {
      for (int64_t i = 0; i < count; ++i) {
        ASSERT_EQ(Bits(got[static_cast<size_t>(t * stride + i)]),
                  Bits(want[static_cast<size_t>(t * rows + begin + i)]))
            << what << " input " << t << " row " << begin + i;
      }
    }
  };
  dw.exact = true;
  MatVec(dw, dx.as<float>(), inputs, cols, dgot.as<float>(), rows, true, stream);
  expect_rows(ToHost(dgot, want.size(), stream), 0, rows, rows, "MatVec");
  MatVecRows(dw, 100, 77, dx.as<float>(), inputs, cols, dgot.as<float>(), 77, true, stream);
  expect_rows(ToHost(dgot, want.size(), stream), 100, 77, 77, "MatVecRows from row 100");
  // Four groups of 64 rows, each on its own slice of a [inputs, 4 * cols] input: with the same
  // input in every slice, group g's rows are rows 64g.. of the plain product.
  std::vector<float> grouped_x;
  for (int64_t t = 0; t < inputs; ++t) {
    for (int g = 0; g < 4; ++g) {
      grouped_x.insert(grouped_x.end(), x.begin() + t * cols, x.begin() + (t + 1) * cols);
    }
  }
  const DeviceBuffer dgx = ToDevice(grouped_x, stream);
  MatVecRowGroups(dw, 4, 64, dgx.as<float>(), inputs, 4 * cols, cols, dgot.as<float>(), rows, 64,
                  true, stream);
  expect_rows(ToHost(dgot, want.size(), stream), 0, rows, rows, "MatVecRowGroups");
  // A set of two experts, the second the weight above: slots picking 1, 0, 1 on one input each.
  auto other = testing::MakeWeight(WeightFormat::kFP8, rows, cols, rng, false);
  DeviceWeightSet set =
      DeviceWeightSet::Upload({other.matrix.rows_view(), w.matrix.rows_view()}, rows, stream);
  set.exact = true;
  const DeviceBuffer ids = ToDevice(std::vector<int32_t>{1, 1, 1}, stream);
  ExpertMatVec(set, ids.as<int32_t>(), inputs, dx.as<float>(), cols, dgot.as<float>(), rows, true,
               stream);
  expect_rows(ToHost(dgot, want.size(), stream), 0, rows, rows, "ExpertMatVec");
}

TEST(CudaOpsTest, ActQuantMatchesTheCpuQuantisers) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(29);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (const auto& [block, fp4] : {std::pair<int64_t, bool>{128, false}, {64, false}, {32, true}}) {
    const int64_t rows = 3, n = block * 57;
    std::vector<float> x(static_cast<size_t>(rows * n));
    for (float& v : x) v = forward::RoundBf16(normal(rng));
    x[5] = 0.0f;  // a block with tiny values elsewhere
    std::vector<float> cpu = x;
    if (fp4) {
      kernels::cpu::QuantizeFp4Blocks(cpu.data(), rows * n, block);
    } else {
      kernels::cpu::QuantizeFp8Blocks(cpu.data(), rows * n, block);
    }
    DeviceBuffer dx = ToDevice(x, stream);
    const ActQuantFormat format = fp4 ? ActQuantFormat::kFp4 : ActQuantFormat::kFp8;
    // Out of place first (x left as it was), then in place.
    DeviceBuffer dy(dx.bytes());
    ActQuantTo(dx.as<float>(), dy.as<float>(), rows, n, block, format, stream);
    const std::vector<float> out_of_place = ToHost(dy, x.size(), stream);
    const std::vector<float> source = ToHost(dx, x.size(), stream);
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_EQ(Bits(source[i]), Bits(x[i])) << "x changed at " << i;
    ActQuant(dx.as<float>(), rows, n, block, format, stream);
    const std::vector<float> in_place = ToHost(dx, x.size(), stream);
    ExpectContract(in_place, cpu, "act_quant block " + std::to_string(block), false);
    for (size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(Bits(out_of_place[i]), Bits(in_place[i])) << "ActQuantTo at " << i;
    }
  }
}

// The strided form (the attention's KV rows: the first head_dim - rope_dims values of each row):
// each row's first n values as one-row calls give them, the rest of every row untouched.
TEST(CudaOpsTest, ActQuantRowsQuantisesTheFirstValuesOfEachRowAndNothingElse) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(37);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const int64_t rows = 9, n = 448, stride = 512, block = 64;
  std::vector<float> x(static_cast<size_t>(rows * stride));
  for (float& v : x) v = forward::RoundBf16(normal(rng));
  DeviceBuffer one_by_one = ToDevice(x, stream), strided = ToDevice(x, stream);
  for (int64_t t = 0; t < rows; ++t) {
    ActQuant(one_by_one.as<float>() + t * stride, 1, n, block, ActQuantFormat::kFp8, stream);
  }
  ActQuantRows(strided.as<float>(), rows, n, stride, block, ActQuantFormat::kFp8, stream);
  const std::vector<float> want = ToHost(one_by_one, x.size(), stream);
  const std::vector<float> got = ToHost(strided, x.size(), stream);
  int64_t changed = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(reference_rounding::Bits(got[i]), reference_rounding::Bits(want[i])) << "value " << i;
    const bool quantised = static_cast<int64_t>(i) % stride < n;
    if (!quantised) {
      ASSERT_EQ(reference_rounding::Bits(got[i]), reference_rounding::Bits(x[i])) << "value " << i;
    }
    changed += got[i] != x[i];
  }
  EXPECT_GT(changed, rows * n / 2);  // the quantisation did happen
}

TEST(CudaOpsTest, RmsNormMatchesTheCpu) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(31);
  std::normal_distribution<float> normal(0.0f, 1.5f);
  for (const int64_t n : {7168LL, 4096LL, 333LL, 1LL}) {
    const int64_t rows = 5;
    std::vector<float> x(static_cast<size_t>(rows * n)), w(static_cast<size_t>(n));
    for (float& v : x) v = forward::RoundBf16(normal(rng));
    for (float& v : w) v = forward::RoundBf16(1.0f + normal(rng) / 10);
    std::vector<float> cpu(x.size());
    kernels::cpu::RmsNormBf16(x.data(), rows, n, w.data(), 1e-6f, cpu.data());
    const DeviceBuffer dx = ToDevice(x, stream), dw = ToDevice(w, stream);
    DeviceBuffer dy(x.size() * sizeof(float));
    RmsNorm(dx.as<float>(), rows, n, dw.as<float>(), 1e-6f, dy.as<float>(), stream);
    ExpectContract(ToHost(dy, x.size(), stream), cpu, "rmsnorm n " + std::to_string(n), true);
  }
}

TEST(CudaOpsTest, RopeMatchesTheCpuRotationWithYarn) {
  REQUIRE_CUDA_DEVICE();
  auto config = LoadModelConfig((test_support::TestDataDir() / "v4-flash-config.json").string());
  ASSERT_TRUE(config) << config.error();
  CudaStream stream;
  std::mt19937 rng(37);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const bool compressed : {false, true}) {
    const forward::Rope rope(*config, compressed);
    const DeviceBuffer freqs = ToDevice(rope.frequencies(), stream);
    const int64_t count = 64, width = rope.dims() + 448;
    for (const int64_t pos : {0LL, 7LL, 65535LL, 1000003LL}) {
      for (const bool inverse : {false, true}) {
        std::vector<float> x(static_cast<size_t>(count * width));
        for (float& v : x) v = forward::RoundBf16(normal(rng));
        std::vector<float> cpu = x;
        kernels::cpu::RopeRotate(cpu.data(), count, width, width, rope.frequencies(), pos, inverse);
        DeviceBuffer dx = ToDevice(x, stream);
        RopeRotate(dx.as<float>(), count, width, width, rope.dims(), freqs.as<float>(), pos,
                   inverse, stream);
        ExpectContract(ToHost(dx, x.size(), stream), cpu,
                       "rope pos " + std::to_string(pos) + (inverse ? " inverse" : ""), true);
      }
    }
  }
}

// The expert activation's inputs for `rows` rows of `inter`: g and u bf16 values of spread 5, and
// a positive routing weight a row.
struct SwiGluInputs {
  std::vector<float> g, u, weight;
};
SwiGluInputs RandomSwiGluInputs(int64_t rows, int64_t inter, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 5.0f);
  SwiGluInputs in{std::vector<float>(static_cast<size_t>(rows * inter)),
                  std::vector<float>(static_cast<size_t>(rows * inter)),
                  std::vector<float>(static_cast<size_t>(rows))};
  for (float& v : in.g) v = forward::RoundBf16(normal(rng));
  for (float& v : in.u) v = forward::RoundBf16(normal(rng));
  for (float& v : in.weight) v = std::fabs(normal(rng)) / 8;
  return in;
}

TEST(CudaOpsTest, SwiGluMatchesTheCpuWithAndWithoutClamp) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  const int64_t rows = 3, inter = 2049;
  const auto [g, u, weight] = RandomSwiGluInputs(rows, inter, 41);
  const DeviceBuffer dg = ToDevice(g, stream), du = ToDevice(u, stream),
                     dwt = ToDevice(weight, stream);
  DeviceBuffer dout(g.size() * sizeof(float));
  for (const float limit : {0.0f, 10.0f}) {
    std::vector<float> cpu = g;
    kernels::cpu::SwiGluInPlace(cpu.data(), u.data(), rows, inter, weight.data(), limit);
    SwiGlu(dg.as<float>(), du.as<float>(), rows, inter, dwt.as<float>(), limit, dout.as<float>(),
           stream);
    ExpectContract(ToHost(dout, g.size(), stream), cpu, "swiglu limit " + std::to_string(limit),
                   true);
  }
}

// The offload's host rows into their slots: row j of the packed rows lands on row index[j] of the
// destination, bit for bit, and every other row keeps what it had.
TEST(CudaOpsTest, ScatterRowsPutsEachRowInItsPlaceAndLeavesTheRest) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  const int64_t dst_rows = 37, width = 300, n = 11;
  std::mt19937 rng(43);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> src(static_cast<size_t>(n * width)),
      dst(static_cast<size_t>(dst_rows * width));
  for (float& v : src) v = normal(rng);
  for (float& v : dst) v = normal(rng);
  std::vector<int32_t> all(static_cast<size_t>(dst_rows));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  const std::vector<int32_t> index(all.begin(), all.begin() + n);  // distinct, in no order
  std::vector<float> want = dst;
  for (int64_t j = 0; j < n; ++j) {
    std::copy(src.begin() + j * width, src.begin() + (j + 1) * width,
              want.begin() + index[static_cast<size_t>(j)] * width);
  }
  const DeviceBuffer dsrc = ToDevice(src, stream), dindex = ToDevice(index, stream);
  DeviceBuffer ddst = ToDevice(dst, stream);
  ScatterRows(dsrc.as<float>(), dindex.as<int32_t>(), n, width, ddst.as<float>(), stream);
  const std::vector<float> got = ToHost(ddst, want.size(), stream);
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(test_support::Bits(got[i]), test_support::Bits(want[i])) << "value " << i;
  }
}

// The experts' activation fused with its FP8 quantisation: SwiGlu then ActQuantTo's bits, with
// and without row weights and clamp, in place over g as the MoE step runs it.
TEST(CudaOpsTest, SwiGluQuantGivesSwiGluThenActQuantBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  const int64_t rows = 6, inter = 2048;
  auto [g, u, weight] = RandomSwiGluInputs(rows, inter, 43);
  g[5] = 0.0f;  // a zero and a whole block of zeros (scale of an all-zero block)
  for (int64_t i = 128; i < 256; ++i) u[static_cast<size_t>(i)] = 0.0f;
  const DeviceBuffer du = ToDevice(u, stream), dwt = ToDevice(weight, stream);
  for (const float limit : {0.0f, 10.0f}) {
    for (const bool weighted : {false, true}) {
      const float* w = weighted ? dwt.as<float>() : nullptr;
      const DeviceBuffer two = ToDevice(g, stream), fused = ToDevice(g, stream);
      DeviceBuffer want(g.size() * sizeof(float));
      SwiGlu(two.as<float>(), du.as<float>(), rows, inter, w, limit, two.as<float>(), stream);
      ActQuantTo(two.as<float>(), want.as<float>(), rows, inter, 128, ActQuantFormat::kFp8, stream);
      SwiGluQuant(fused.as<float>(), du.as<float>(), rows, inter, w, limit, fused.as<float>(),
                  stream);
      const std::vector<float> a = ToHost(want, g.size(), stream);
      const std::vector<float> b = ToHost(fused, g.size(), stream);
      int64_t nonzero = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_EQ(reference_rounding::Bits(b[i]), reference_rounding::Bits(a[i]))
            << "value " << i << " limit " << limit << (weighted ? " weighted" : "");
        nonzero += a[i] != 0.0f;
      }
      EXPECT_GT(nonzero, rows * inter / 2);
    }
  }
  DeviceBuffer out(g.size() * sizeof(float));
  EXPECT_THROW(
      SwiGluQuant(du.as<float>(), du.as<float>(), 1, 2047, nullptr, 0.0f, out.as<float>(), stream),
      CudaError);
}

// MatVecQuantizingInput (the act_quant in the tiled kernel's staging: the attention's wo_b) against
// ActQuantTo then MatVec: the same bits for every format the tiled kernel takes, and the fallback
// (F32: quantised in place first) too; the fused path leaves x as it was.
TEST(CudaOpsTest, MatVecQuantizingInputGivesActQuantThenMatVecBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(47);
  for (const WeightFormat format :
       {WeightFormat::kFP8, WeightFormat::kFP4, WeightFormat::kBF16, WeightFormat::kF32}) {
    const int64_t rows = 300, cols = 1024;
    auto w = testing::MakeWeight(format, rows, cols, rng, false);
    const DeviceWeight dw = DeviceWeight::Upload(w.matrix.rows_view(), rows, stream);
    std::vector<float> x = testing::RandomInput(cols, rng, false);
    for (int64_t i = 256; i < 384; ++i) x[static_cast<size_t>(i)] = 0.0f;  // an all-zero block
    const DeviceBuffer dx = ToDevice(x, stream);
    DeviceBuffer quantised(x.size() * sizeof(float)), want(rows * sizeof(float));
    ActQuantTo(dx.as<float>(), quantised.as<float>(), 1, cols, 128, ActQuantFormat::kFp8, stream);
    MatVec(dw, quantised.as<float>(), 1, cols, want.as<float>(), rows, true, stream);
    DeviceBuffer fused_x = ToDevice(x, stream), got(rows * sizeof(float));
    MatVecQuantizingInput(dw, fused_x.as<float>(), got.as<float>(), true, stream);
    const std::vector<float> a = ToHost(want, rows, stream), b = ToHost(got, rows, stream);
    for (int64_t i = 0; i < rows; ++i) {
      ASSERT_EQ(reference_rounding::Bits(b[i]), reference_rounding::Bits(a[i]))
          << "row " << i << " format " << static_cast<int>(format);
    }
    if (format != WeightFormat::kF32) {
      EXPECT_EQ(ToHost(fused_x, x.size(), stream), x) << "x is left as it was";
    }
    // Without the act_quant the products differ (the quantisation rounded the input).
    DeviceBuffer plain(rows * sizeof(float));
    MatVec(dw, dx.as<float>(), 1, cols, plain.as<float>(), rows, true, stream);
    EXPECT_NE(ToHost(plain, rows, stream), a);
  }
  const auto odd = testing::MakeWeight(WeightFormat::kBF16, 4, 200, rng, false);
  const DeviceWeight dodd = DeviceWeight::Upload(odd.matrix.rows_view(), 4, stream);
  DeviceBuffer x(200 * sizeof(float)), y(4 * sizeof(float));
  EXPECT_THROW(MatVecQuantizingInput(dodd, x.as<float>(), y.as<float>(), true, stream), CudaError);
}

// ExpertMatVecOnSwiGlu and MatVecOnSwiGlu (the experts' SwiGLU and its FP8 copy computed in the
// tiled kernel's staging: w2 of a decode step) against SwiGluQuant then ExpertMatVec / MatVec: the
// same bits for every format the tiled kernel takes, with and without clamp and routing weights,
// and through the fallback (F32: SwiGluQuant into g first); the fused path leaves g as it was.
TEST(CudaOpsTest, MatVecOnSwiGluGivesSwiGluQuantThenMatVecBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(49);
  const int64_t rows = 300, inter = 1024;
  const std::vector<int32_t> ids = {2, 0, 2, 1};
  const auto slots = static_cast<int64_t>(ids.size());
  auto [g, u, weight] = RandomSwiGluInputs(slots, inter, 45);
  for (int64_t i = 256; i < 384; ++i) u[static_cast<size_t>(i)] = 0.0f;  // an all-zero block
  const DeviceBuffer du = ToDevice(u, stream), dwt = ToDevice(weight, stream),
                     dids = ToDevice(ids, stream);
  for (const WeightFormat format :
       {WeightFormat::kFP4, WeightFormat::kFP8, WeightFormat::kBF16, WeightFormat::kF32}) {
    std::vector<testing::RandomWeight> experts;
    std::vector<WeightRows> views;
    for (int e = 0; e < 3; ++e) experts.push_back(testing::MakeWeight(format, rows, inter, rng));
    for (const auto& e : experts) views.push_back(e.matrix.rows_view());
    const DeviceWeightSet set = DeviceWeightSet::Upload(views, rows, stream);
    for (const float limit : {0.0f, 10.0f}) {
      for (const bool weighted : {false, true}) {
        const std::string name = "format " + std::to_string(static_cast<int>(format)) + " limit " +
                                 std::to_string(limit) + (weighted ? " weighted" : "");
        const float* w = weighted ? dwt.as<float>() : nullptr;
        DeviceBuffer h = ToDevice(g, stream), want(slots * rows * sizeof(float));
        SwiGluQuant(h.as<float>(), du.as<float>(), slots, inter, w, limit, h.as<float>(), stream);
        ExpertMatVec(set, dids.as<int32_t>(), slots, h.as<float>(), inter, want.as<float>(), rows,
                     true, stream);
        DeviceBuffer fused_g = ToDevice(g, stream), got(slots * rows * sizeof(float));
        ExpertMatVecOnSwiGlu(Views(set), dids.as<int32_t>(), slots, fused_g.as<float>(),
                             du.as<float>(), w, limit, got.as<float>(), rows, true, stream);
        const auto a = ToHost(want, slots * rows, stream), b = ToHost(got, slots * rows, stream);
        for (size_t i = 0; i < a.size(); ++i) {
          ASSERT_EQ(reference_rounding::Bits(b[i]), reference_rounding::Bits(a[i]))
              << name << " output " << i;
        }
        if (format != WeightFormat::kF32) {
          EXPECT_EQ(ToHost(fused_g, g.size(), stream), g) << name << ": g is left as it was";
        }
      }
    }
    // One weight, one row, no clamp or weight (the shared expert).
    const DeviceWeight single = DeviceWeight::Upload(views[1], rows, stream);
    DeviceBuffer h = ToDevice(g, stream), want(rows * sizeof(float));
    SwiGluQuant(h.as<float>(), du.as<float>(), 1, inter, nullptr, 0.0f, h.as<float>(), stream);
    MatVec(single, h.as<float>(), 1, inter, want.as<float>(), rows, true, stream);
    DeviceBuffer fused_g = ToDevice(g, stream), got(rows * sizeof(float));
    MatVecOnSwiGlu(single, fused_g.as<float>(), du.as<float>(), 0.0f, got.as<float>(), true,
                   stream);
    const auto a = ToHost(want, rows, stream), b = ToHost(got, rows, stream);
    for (int64_t i = 0; i < rows; ++i) {
      ASSERT_EQ(reference_rounding::Bits(b[i]), reference_rounding::Bits(a[i]))
          << "single, format " << static_cast<int>(format) << " row " << i;
    }
  }
  const auto odd = testing::MakeWeight(WeightFormat::kBF16, 4, 200, rng, false);
  const DeviceWeight dodd = DeviceWeight::Upload(odd.matrix.rows_view(), 4, stream);
  DeviceBuffer x(200 * sizeof(float)), y(4 * sizeof(float));
  EXPECT_THROW(
      MatVecOnSwiGlu(dodd, x.as<float>(), x.as<float>(), 0.0f, y.as<float>(), true, stream),
      CudaError);
}

// MatVecOnRmsNorm (the query's q_norm and its FP8 copy computed in the tiled kernel's staging: both
// wq_b of a decode step) against RmsNormQuant then MatVec on the FP8 copy: the same bits for every
// format the tiled kernel takes, x left as it was; with the fused steps off, and for F32 weights,
// the fallback (x normed and quantised in place first) gives them too.
TEST(CudaOpsTest, MatVecOnRmsNormGivesRmsNormQuantThenMatVecBits) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(53);
  const int64_t rows = 300, cols = 1024;
  const float eps = 1e-6f;
  std::vector<float> x = testing::RandomInput(cols, rng, false);
  for (int64_t i = 256; i < 384; ++i) x[static_cast<size_t>(i)] = 0.0f;  // an all-zero block
  std::uniform_real_distribution<float> scale(0.5f, 1.5f);
  std::vector<float> norm(cols);
  for (float& v : norm) v = scale(rng);
  const DeviceBuffer dx = ToDevice(x, stream), dnorm = ToDevice(norm, stream);
  for (const WeightFormat format :
       {WeightFormat::kFP8, WeightFormat::kFP4, WeightFormat::kBF16, WeightFormat::kF32}) {
    auto w = testing::MakeWeight(format, rows, cols, rng, false);
    const DeviceWeight dw = DeviceWeight::Upload(w.matrix.rows_view(), rows, stream);
    DeviceBuffer normed(cols * sizeof(float)), fp8(cols * sizeof(float));
    DeviceBuffer want(rows * sizeof(float));
    RmsNormQuant(dx.as<float>(), 1, cols, dnorm.as<float>(), eps, normed.as<float>(),
                 fp8.as<float>(), stream);
    MatVec(dw, fp8.as<float>(), 1, cols, want.as<float>(), rows, true, stream);
    const std::vector<float> a = ToHost(want, rows, stream);
    for (const bool fused : {true, false}) {
      const std::string name =
          "format " + std::to_string(static_cast<int>(format)) + (fused ? "" : " steps off");
      SetFusedSteps(fused);
      const bool staged = NormsAsItStages(dw);
      DeviceBuffer fused_x = ToDevice(x, stream), got(rows * sizeof(float));
      MatVecOnRmsNorm(dw, fused_x.as<float>(), dnorm.as<float>(), eps, got.as<float>(), true,
                      stream);
      const std::vector<float> b = ToHost(got, rows, stream);
      const std::vector<float> after = ToHost(fused_x, x.size(), stream);
      SetFusedSteps(true);
      EXPECT_EQ(staged, fused && format != WeightFormat::kF32) << name;
      for (int64_t i = 0; i < rows; ++i) {
        ASSERT_EQ(reference_rounding::Bits(b[i]), reference_rounding::Bits(a[i]))
            << name << " row " << i;
      }
      if (staged) {
        EXPECT_EQ(after, x) << name << ": x is left as it was";
      } else {
        EXPECT_EQ(after, ToHost(fp8, x.size(), stream)) << name << ": x holds its FP8 copy";
      }
    }
    // Without the norm the products differ (the act_quant alone, as wo_b takes it).
    DeviceBuffer plain_x = ToDevice(x, stream), plain(rows * sizeof(float));
    MatVecQuantizingInput(dw, plain_x.as<float>(), plain.as<float>(), true, stream);
    EXPECT_NE(ToHost(plain, rows, stream), a);
  }
  const auto odd = testing::MakeWeight(WeightFormat::kBF16, 4, 200, rng, false);
  const DeviceWeight dodd = DeviceWeight::Upload(odd.matrix.rows_view(), 4, stream);
  DeviceBuffer ox(200 * sizeof(float)), oy(4 * sizeof(float));
  EXPECT_THROW(
      MatVecOnRmsNorm(dodd, ox.as<float>(), ox.as<float>(), eps, oy.as<float>(), true, stream),
      CudaError);
}

// An A/B switch (device_runtime.h EnvSwitch; no device needed): the variable's word when first
// asked, read once, then Set decides.
TEST(CudaRuntimeTest, AnEnvSwitchReadsItsVariableOnceAndSetOverridesIt) {
  const char* var = "DSAGENT_TEST_ENV_SWITCH";
  setenv(var, "per-row", 1);
  EnvSwitch named(var, "per-row");
  EXPECT_TRUE(named.On());
  setenv(var, "other", 1);
  EXPECT_TRUE(named.On()) << "read once";
  named.Set(false);
  EXPECT_FALSE(named.On());
  EnvSwitch other_word(var, "per-row");
  EXPECT_FALSE(other_word.On());
  unsetenv(var);
  EnvSwitch unset(var, "per-row");
  EXPECT_FALSE(unset.On());
  unset.Set(true);
  EXPECT_TRUE(unset.On());
}

// The probe of programmatic dependent launch at the first UseDevice (kernel_launch.h) keeps it
// where the device runs it (an sm_90+ GPU, the emulator) and turns it off where the device refuses
// it (the emulator with DSAGENT_CUDA_EMULATOR_NO_PDL=1: ctest's emulated.no_programmatic_launch)
// or the environment says off; kernels run either way.
TEST(CudaRuntimeTest, TheProgrammaticLaunchProbeKeepsOnlyLaunchesThatWork) {
  REQUIRE_CUDA_DEVICE();
  UseDevice(0);
  auto env_is = [](const char* var, const char* word) {
    const char* v = std::getenv(var);
    return v != nullptr && std::string(v) == word;
  };
  const bool refused = env_is("DSAGENT_CUDA_EMULATOR_NO_PDL", "1");
  EXPECT_EQ(ProgrammaticLaunchOn(), !refused && !env_is("DSAGENT_CUDA_PDL", "off"));
  CudaStream stream;
  const std::vector<float> x = {3.0f, -4.0f}, w = {1.0f, 1.0f};
  const DeviceBuffer dx = ToDevice(x, stream), dw = ToDevice(w, stream);
  DeviceBuffer dy(x.size() * sizeof(float));
  RmsNorm(dx.as<float>(), 1, 2, dw.as<float>(), 0.0f, dy.as<float>(), stream);
  const std::vector<float> y = ToHost(dy, x.size(), stream);
  EXPECT_NEAR(y[0], 3.0f / std::sqrt(12.5f), 1e-2);
  EXPECT_NEAR(y[1], -4.0f / std::sqrt(12.5f), 1e-2);
}

// Without a device, the runtime refuses with the reason and what to do (this runs where the
// others skip).
TEST(CudaRuntimeTest, NoDeviceIsAClearError) {
  const CudaProbe probe = ProbeCuda();
  ASSERT_TRUE(probe.built);
  if (!probe.devices.empty()) GTEST_SKIP() << "a device is present";
  try {
    UseDevice(0);
    FAIL() << "UseDevice succeeded without a device";
  } catch (const CudaError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no CUDA device: "), std::string::npos) << what;
    EXPECT_NE(what.find("--device cpu"), std::string::npos) << what;
  }
  EXPECT_THROW(DeviceBuffer(1024), CudaError);
}

TEST(CudaRuntimeTest, OutOfRangeDeviceIndexNamesTheDevicesThereAre) {
  const CudaProbe probe = ProbeCuda();
  if (probe.devices.empty()) GTEST_SKIP() << probe.problem;
  try {
    UseDevice(static_cast<int>(probe.devices.size()));
    FAIL() << "UseDevice accepted an index past the last device";
  } catch (const CudaError& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0 to cuda:"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda
