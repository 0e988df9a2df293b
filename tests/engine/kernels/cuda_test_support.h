// What the CUDA op tests share: skipping (or, with DSAGENT_REQUIRE_CUDA=1, failing) without a
// device, copies to and from the device, and the fast-mode contract check against a CPU result.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda_probe.h"

namespace dsagent::engine::kernels::cuda::test_support {

// tests/data where the binary runs: under DSAGENT_SOURCE_ROOT when that is set (the tree copied
// elsewhere, as on scripts/gpu-check.sh's device machine), else in the tree it was built from.
inline std::filesystem::path TestDataDir() {
  const char* root = std::getenv("DSAGENT_SOURCE_ROOT");
  return std::filesystem::path(root ? root : DSAGENT_SOURCE_DIR) / "tests/data";
}

inline bool CudaRequired() {
  const char* v = std::getenv("DSAGENT_REQUIRE_CUDA");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

// Skips (or, when DSAGENT_REQUIRE_CUDA=1, fails) the test without a device; else uses device 0.
#define REQUIRE_CUDA_DEVICE()                                                                     \
  do {                                                                                            \
    const ::dsagent::engine::kernels::CudaProbe probe_ = ::dsagent::engine::kernels::ProbeCuda(); \
    if (probe_.devices.empty()) {                                                                 \
      if (::dsagent::engine::kernels::cuda::test_support::CudaRequired())                         \
        FAIL() << "DSAGENT_REQUIRE_CUDA=1 but " << probe_.problem;                                \
      GTEST_SKIP() << probe_.problem << " (the CUDA op tests need a GPU)";                        \
    }                                                                                             \
    ::dsagent::engine::kernels::cuda::UseDevice(0);                                               \
  } while (0)

// How many of a golden set's n tokens a device test runs through the model. All of them on a GPU.
// On the CPU emulator (tests/cuda_emulator, where a token costs about 100 ms of the model's
// kernels) the first 96: past the window ring of both tiny checkpoints (16, 8), through several
// compressor blocks of every ratio (16 is the largest), and with more compressed entries than the
// indexer keeps (24 at ratio 4 against top-k 16 and 10). 96 rather than 128 keeps CI's time.
inline int64_t GoldenTokensOnThisDevice(int64_t n) {
#if defined(DSAGENT_CUDA_EMULATION)
  return n < 96 ? n : 96;
#else
  return n;
#endif
}

template <class T>
DeviceBuffer ToDevice(const std::vector<T>& v, CudaStream& s) {
  DeviceBuffer b(v.size() * sizeof(T));
  b.Upload(v.data(), b.bytes(), s);
  s.Synchronize();
  return b;
}

template <class T = float>
std::vector<T> ToHost(const DeviceBuffer& b, size_t n, CudaStream& s) {
  std::vector<T> v(n);
  b.Download(v.data(), n * sizeof(T), s);
  return v;
}

inline uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// A last-CTA epilogue's counts (last_cta.cuh: n of them) are zero again after each call.
inline void ExpectCountsAtZero(const DeviceBuffer& counts, int64_t n, const std::string& where,
                               CudaStream& stream) {
  EXPECT_EQ(ToHost<unsigned>(counts, static_cast<size_t>(n), stream),
            std::vector<unsigned>(static_cast<size_t>(n), 0u))
      << where << ": the counts are left at zero";
}

// RowsKernelChoice() set to `kernel` for the scope, and back to what it was after (a failed
// assertion or an exception included).
class RowsKernelScope {
 public:
  explicit RowsKernelScope(RowsKernel kernel) : before_(RowsKernelChoice()) {
    SetRowsKernel(kernel);
  }
  ~RowsKernelScope() { SetRowsKernel(before_); }
  RowsKernelScope(const RowsKernelScope&) = delete;
  RowsKernelScope& operator=(const RowsKernelScope&) = delete;

 private:
  RowsKernel before_;
};

// The contract check: counts identical values and those 1 bf16 ulp apart (bf16 values) or 1 float
// ulp apart (float outputs); anything further fails, and fewer than 99.9% identical fails.
inline void ExpectContract(const std::vector<float>& gpu, const std::vector<float>& cpu,
                           const std::string& op, bool bf16) {
  ASSERT_EQ(gpu.size(), cpu.size());
  size_t same = 0, near = 0;
  for (size_t i = 0; i < gpu.size(); ++i) {
    if (Bits(gpu[i]) == Bits(cpu[i]) || (std::isnan(gpu[i]) && std::isnan(cpu[i]))) {
      ++same;
      continue;
    }
    const int64_t a = Bits(gpu[i]) >> (bf16 ? 16 : 0), b = Bits(cpu[i]) >> (bf16 ? 16 : 0);
    if (std::llabs(a - b) <= 1) {
      ++near;
    } else {
      ADD_FAILURE() << op << ": index " << i << " gpu " << gpu[i] << " cpu " << cpu[i];
      return;
    }
  }
  std::printf("%s: %zu of %zu identical, %zu within 1 ulp\n", op.c_str(), same, gpu.size(), near);
  EXPECT_GE(static_cast<double>(same), 0.999 * static_cast<double>(gpu.size())) << op;
}

}  // namespace dsagent::engine::kernels::cuda::test_support
