// The tensor-core product (engine/kernels/cuda/matvec_tensor.h, mma_bf16.cuh): one warp's MMA
// against a product computed here from the PTX ISA's fragment table, exactly (small integers: any
// summation order gives the same fp32 sums); the prompt-rows product against the CPU's
// WeightRowDotsF32 under the fast contract, an input not exact in bf16 with the CPU's bits, and
// the tensor choice through MatVecRowGroups; the routed experts' grouped slots against
// ExpertMatVec. On the emulator the MMA is its warp
// shuffles; on a GPU it is the tensor cores, held to the same table.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/forward/numerics.h"
#include "engine/kernels/cpu/weight_dot_f32.h"
#include "engine/kernels/cuda/matvec_tensor.h"
#include "engine/kernels/cuda/ops.h"
#include "tests/engine/kernels/cuda_test_support.h"
#include "tests/engine/kernels/random_weights.h"

namespace dsagent::engine::kernels::cuda {
namespace {

using test_support::Bits;
using test_support::ExpectContract;
using test_support::ToDevice;
using test_support::ToHost;

// A different small integer at every place of A, B and C, so that a fragment taken from the wrong
// place changes some sum; every product and sum is an integer far below 2^24, exact in fp32.
TEST(CudaTensorMatVecTest, OneWarpsMmaIsTheProductOfTheFragmentTable) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> small(-9, 9);
  std::vector<uint16_t> a(16 * 16), b(16 * 8);
  std::vector<float> av(a.size()), bv(b.size()), c(16 * 8);
  for (size_t i = 0; i < a.size(); ++i) {
    av[i] = static_cast<float>(small(rng));
    a[i] = forward::FloatToBf16Bits(av[i]);
  }
  for (size_t i = 0; i < b.size(); ++i) {
    bv[i] = static_cast<float>(small(rng));
    b[i] = forward::FloatToBf16Bits(bv[i]);
  }
  for (float& v : c) v = static_cast<float>(small(rng) * 100);
  const DeviceBuffer da = ToDevice(a, stream), db = ToDevice(b, stream), dc = ToDevice(c, stream);
  DeviceBuffer dd(c.size() * sizeof(float));
  RunMmaTile(da.as<uint16_t>(), db.as<uint16_t>(), dc.as<float>(), dd.as<float>(),
             static_cast<cudaStream_t>(stream.handle()));
  const auto d = ToHost(dd, c.size(), stream);
  for (int m = 0; m < 16; ++m) {
    for (int n = 0; n < 8; ++n) {
      float want = c[static_cast<size_t>(m * 8 + n)];
      for (int k = 0; k < 16; ++k) {
        want += av[static_cast<size_t>(m * 16 + k)] * bv[static_cast<size_t>(k * 8 + n)];
      }
      EXPECT_EQ(d[static_cast<size_t>(m * 8 + n)], want) << "D[" << m << "][" << n << "]";
    }
  }
}

struct ProductCase {
  WeightFormat format;
  int64_t rows, cols, row_begin, row_count;
};

std::string Name(const ProductCase& c, int64_t inputs) {
  return "format " + std::to_string(static_cast<int>(c.format)) + " " + std::to_string(c.rows) +
         "x" + std::to_string(c.cols) + " rows [" + std::to_string(c.row_begin) + ", +" +
         std::to_string(c.row_count) + ") x" + std::to_string(inputs);
}

// The CPU's bf16 outputs of rows [row_begin, +row_count) for input t of x (x_stride apart).
std::vector<float> CpuRow(const testing::RandomWeight& w, const ProductCase& c,
                          const std::vector<float>& x, int64_t x_stride, int64_t t) {
  DotInputF32 in;
  in.Prepare(x.data() + t * x_stride, c.cols, c.format == WeightFormat::kFP4);
  std::vector<float> cpu(static_cast<size_t>(c.row_count));
  WeightRowDotsF32(CpuIsa::kScalar, w.matrix.rows_view(), c.row_begin, c.row_count, in, cpu.data());
  for (float& v : cpu) v = forward::RoundBf16(v);
  return cpu;
}

// MatVecRowsTensor over 16 (one partial input tile) and 70 rows (a full tile and a partial one),
// row counts that leave a partial row tile, rows taken from inside an FP8 scale block, an FP8 NaN
// byte, an FP4 scale out of the lane range, and one input with a value not exact in bf16: every
// output within the contract of the CPU's (NaN where the CPU's is), that input's with the CPU's
// bits (the columns order), and nothing written outside the outputs.
TEST(CudaTensorMatVecTest, PromptRowsHoldTheFastContractAgainstTheCpu) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(61);
  const ProductCase cases[] = {
      {WeightFormat::kFP8, 400, 512, 100, 230},
      {WeightFormat::kFP4, 128, 1024, 0, 128},
      {WeightFormat::kBF16, 97, 384, 0, 97},
  };
  for (const ProductCase& c : cases) {
    auto w = testing::MakeWeight(c.format, c.rows, c.cols, rng, false);
    // An FP8 NaN byte (its row's outputs NaN, as the CPU's) and an FP4 scale outside the pair
    // order's lane range (the CPU takes that group in its tail).
    if (c.format == WeightFormat::kFP8) w.data[static_cast<size_t>(150 * c.cols + 77)] = 0x7f;
    if (c.format == WeightFormat::kFP4) w.scale[static_cast<size_t>(3 * (c.cols / 32) + 5)] = 0;
    const DeviceWeight dw = DeviceWeight::Upload(w.matrix.rows_view(), c.rows, stream);
    for (const int64_t inputs : {int64_t{16}, int64_t{70}}) {
      const std::string name = Name(c, inputs);
      ASSERT_TRUE(TensorMatVecTakes(ViewOf(dw).kind, c.cols, c.row_count, inputs)) << name;
      const int64_t x_stride = c.cols + 128;
      std::vector<float> x(static_cast<size_t>(inputs * x_stride), 0.0f);
      for (int64_t t = 0; t < inputs; ++t) {
        const auto row = testing::RandomInput(c.cols, rng, c.format != WeightFormat::kBF16);
        std::copy(row.begin(), row.end(), x.begin() + t * x_stride);
      }
      const int64_t odd = inputs - 3;
      x[static_cast<size_t>(odd * x_stride + 45)] = 0.1f;  // not exact in bf16
      const DeviceBuffer dx = ToDevice(x, stream);
      const int64_t y_stride = c.row_count + 3;
      const std::vector<float> sentinel(static_cast<size_t>(inputs * y_stride), -7.0f);
      DeviceBuffer dy = ToDevice(sentinel, stream);
      MatVecRowsTensor(dw, c.row_begin, c.row_count, dx.as<float>(), inputs, x_stride,
                       dy.as<float>(), y_stride, true, stream);
      const auto got = ToHost(dy, sentinel.size(), stream);
      std::vector<float> gpu, cpu;
      for (int64_t t = 0; t < inputs; ++t) {
        const std::vector<float> want = CpuRow(w, c, x, x_stride, t);
        for (int64_t r = 0; r < y_stride; ++r) {
          const float g = got[static_cast<size_t>(t * y_stride + r)];
          if (r >= c.row_count) {
            ASSERT_EQ(g, -7.0f) << name << ": input " << t << " wrote past its outputs";
            continue;
          }
          if (t == odd) {
            ASSERT_EQ(Bits(g), Bits(want[static_cast<size_t>(r)]))
                << name << ": the input not exact in bf16, output " << r;
          }
          gpu.push_back(g);
          cpu.push_back(want[static_cast<size_t>(r)]);
        }
      }
      ExpectContract(gpu, cpu, "tensor " + name, true);
    }
  }
}

// The tensor choice (SetRowsKernel) reaches MatVecRowGroups' one launch (a tensor-core launch,
// each group's rows with MatVecRowsTensor's bits) and leaves a product over fewer than
// kTensorMinInputs rows to the register-tiled kernel (no tensor-core launch, its bits).
TEST(CudaTensorMatVecTest, TheTensorChoiceReachesRowGroupsAndLeavesFewRowsAsTheyWere) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(67);
  const int64_t groups = 3, group_rows = 80, cols = 256;
  auto w = testing::MakeWeight(WeightFormat::kFP8, groups * group_rows, cols, rng, false);
  const DeviceWeight dw = DeviceWeight::Upload(w.matrix.rows_view(), groups * group_rows, stream);
  for (const int64_t x_rows : {int64_t{20}, kTensorMinInputs - 1}) {
    const int64_t x_stride = groups * cols, y_stride = groups * group_rows;
    std::vector<float> x;
    for (int64_t t = 0; t < x_rows * groups; ++t) {
      const auto part = testing::RandomInput(cols, rng, true);
      x.insert(x.end(), part.begin(), part.end());
    }
    const DeviceBuffer dx = ToDevice(x, stream);
    DeviceBuffer one(static_cast<size_t>(x_rows * y_stride) * 4), each(one.bytes());
    const int64_t launched = TensorLaunches();
    {
      const test_support::RowsKernelScope tensor(RowsKernel::kTensor);
      MatVecRowGroups(dw, groups, group_rows, dx.as<float>(), x_rows, x_stride, cols,
                      one.as<float>(), y_stride, group_rows, true, stream);
    }
    EXPECT_EQ(TensorLaunches() - launched, x_rows >= kTensorMinInputs ? 1 : 0) << "x" << x_rows;
    for (int64_t g = 0; g < groups; ++g) {
      const float* xg = dx.as<float>() + g * cols;
      float* yg = each.as<float>() + g * group_rows;
      if (x_rows >= kTensorMinInputs) {
        MatVecRowsTensor(dw, g * group_rows, group_rows, xg, x_rows, x_stride, yg, y_stride, true,
                         stream);
      } else {
        MatVecRowsGemm(dw, g * group_rows, group_rows, xg, x_rows, x_stride, yg, y_stride, true,
                       stream);
      }
    }
    const auto a = ToHost(one, static_cast<size_t>(x_rows * y_stride), stream);
    const auto b = ToHost(each, static_cast<size_t>(x_rows * y_stride), stream);
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(Bits(a[i]), Bits(b[i])) << "x" << x_rows << " output " << i;
    }
  }
}

// The routed experts' grouped slots on the tensor cores (ExpertTensorMatVec): an expert chosen by
// 20 slots (pieces of 8, 8 and 4), the others by a few, FP8-quantised and bf16 inputs and one
// slot's input not exact in bf16: every slot's outputs within the contract of ExpertMatVec's (the
// CPU's bits), the not-exact slot's equal to them, and the slots of experts kept on the host
// (on_device 4 of 6) left as they were.
TEST(CudaTensorMatVecTest, ExpertPiecesHoldTheFastContractAgainstExpertMatVec) {
  REQUIRE_CUDA_DEVICE();
  CudaStream stream;
  std::mt19937 rng(71);
  const int64_t rows = 200, cols = 512, experts = 6, slots = 37;
  std::vector<testing::RandomWeight> weights;
  std::vector<WeightRows> views;
  for (int64_t e = 0; e < experts; ++e) {
    weights.push_back(testing::MakeWeight(WeightFormat::kFP4, rows, cols, rng));
  }
  for (const auto& w : weights) views.push_back(w.matrix.rows_view());
  for (const bool fp8_inputs : {true, false}) {
    for (const int64_t on_device : {experts, int64_t{4}}) {
      const std::string name = std::string(fp8_inputs ? "fp8" : "bf16") + " inputs, " +
                               std::to_string(on_device) + " experts on the device";
      const DeviceWeightSet set = DeviceWeightSet::Upload(views, rows, stream, on_device);
      std::vector<int32_t> ids(static_cast<size_t>(slots));
      for (int64_t sl = 0; sl < slots; ++sl) {
        ids[static_cast<size_t>(sl)] = sl < 20 ? 3 : static_cast<int32_t>(rng() % experts);
      }
      std::shuffle(ids.begin(), ids.end(), rng);
      std::vector<float> x;
      for (int64_t sl = 0; sl < slots; ++sl) {
        const auto row = testing::RandomInput(cols, rng, fp8_inputs);
        x.insert(x.end(), row.begin(), row.end());
      }
      const int64_t odd = std::find(ids.begin(), ids.end(), 3) - ids.begin();
      x[static_cast<size_t>(odd * cols + 17)] = 0.1f;  // not exact in bf16
      const DeviceBuffer dids = ToDevice(ids, stream);
      const DeviceBuffer dx = ToDevice(x, stream);
      const std::vector<float> sentinel(static_cast<size_t>(slots * rows), -7.0f);
      DeviceBuffer tensor = ToDevice(sentinel, stream), single = ToDevice(sentinel, stream);
      ExpertGroups groups = ExpertGroups::Create(64);
      GroupExpertSlots(dids.as<int32_t>(), slots, groups, stream);
      ExpertTensorMatVec(Views(set), groups, dids.as<int32_t>(), slots, dx.as<float>(), cols,
                         tensor.as<float>(), rows, true, stream);
      ExpertMatVec(set, dids.as<int32_t>(), slots, dx.as<float>(), cols, single.as<float>(), rows,
                   true, stream);
      const auto a = ToHost(tensor, sentinel.size(), stream);
      const auto b = ToHost(single, sentinel.size(), stream);
      std::vector<float> gpu, cpu;
      for (int64_t sl = 0; sl < slots; ++sl) {
        const bool on_host = ids[static_cast<size_t>(sl)] >= on_device;
        for (int64_t r = 0; r < rows; ++r) {
          const size_t i = static_cast<size_t>(sl * rows + r);
          if (on_host) {
            ASSERT_EQ(a[i], -7.0f) << name << ": slot " << sl << " of a host expert was written";
            continue;
          }
          if (sl == odd) {
            ASSERT_EQ(Bits(a[i]), Bits(b[i])) << name << ": the not-exact slot";
          }
          gpu.push_back(a[i]);
          cpu.push_back(b[i]);
        }
      }
      ExpectContract(gpu, cpu, "tensor experts, " + name, true);
    }
  }
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda
