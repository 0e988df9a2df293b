// What the CUDA backend can use here: whether it was built (-DDSAGENT_CUDA, cmake/Cuda.cmake) and
// the devices the driver reports. Always compiled, so `dsagent doctor`, `engine inspect` and the
// --device checks work in builds without CUDA too. Never throws; a machine without a GPU or driver
// is a normal answer (devices empty, `problem` says why).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsagent::engine::kernels {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int64_t total_bytes = 0;
  int64_t free_bytes = 0;
  int cc_major = 0, cc_minor = 0;  // compute capability
};

struct CudaProbe {
  bool built = false;                   // this binary contains the CUDA backend
  std::vector<CudaDeviceInfo> devices;  // empty when none is usable
  std::string problem;                  // why there is no device, e.g. "no CUDA device: ..."
  int runtime_version = 0;              // cudart, e.g. 13000
  int driver_version = 0;               // 0 without a driver
};

// Asks the CUDA runtime (once per call; cheap after the first). In a build without CUDA: built
// false and problem "CUDA backend not built (...)".
CudaProbe ProbeCuda();

// One line for `dsagent doctor`: "CUDA: NVIDIA H200 (139.8 GiB, compute 9.0), runtime 13.0" or
// "CUDA: backend built, no device: ..." or "CUDA: not built (...)".
std::string DescribeCuda(const CudaProbe& probe);

}  // namespace dsagent::engine::kernels
