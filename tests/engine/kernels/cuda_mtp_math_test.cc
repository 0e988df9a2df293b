// The MTP block's elementwise step on the host (kernels/cuda/mtp_math.h, what the device kernel
// AddToStreamsBf16 runs per value) against the CPU's cpu::AddBroadcastBf16 on random bf16 values
// of mixed magnitudes, bit for bit. Runs in every build (no device).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/kernels/cpu/elementwise_ops.h"
#include "engine/kernels/cuda/mtp_math.h"

namespace dsagent::engine::kernels::cuda::mtp_math_test {
namespace {

TEST(MtpMathTest, AddRoundBf16IsTheCpusBroadcastAdd) {
  constexpr int64_t kStreams = 4, kDim = 300;
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-20, 20);
  const auto value = [&] { return RoundBf16(std::ldexp(unit(rng), exponent(rng))); };
  std::vector<float> e(kDim), h(kStreams * kDim);
  for (float& v : e) v = value();
  for (float& v : h) v = value();
  std::vector<float> cpu = h;
  cpu::AddBroadcastBf16(e.data(), kDim, 1, kDim, kStreams, cpu.data(), kStreams * kDim);
  for (int64_t i = 0; i < kStreams * kDim; ++i) {
    const float device = AddRoundBf16(e[static_cast<size_t>(i % kDim)], h[static_cast<size_t>(i)]);
    EXPECT_EQ(std::memcmp(&device, &cpu[static_cast<size_t>(i)], sizeof(float)), 0)
        << "index " << i;
  }
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda::mtp_math_test
