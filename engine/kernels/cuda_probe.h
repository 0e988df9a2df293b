// What the CUDA backend can use here: whether it was built (-DDSAGENT_CUDA, cmake/Cuda.cmake) and
// the devices the driver reports. Always compiled, so `dsagent doctor`, `engine inspect` and the
// --device checks work in builds without CUDA too. Never throws; a machine without a GPU or driver
// is a normal answer (devices empty, `problem` says why).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dsagent::engine::kernels {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int64_t total_bytes = 0;
  int64_t free_bytes = 0;
  int cc_major = 0, cc_minor = 0;  // compute capability
  bool has_kernels = true;         // this binary's kernels run on it (ArchitecturesRunOn)
};

struct CudaProbe {
  bool built = false;                   // this binary contains the CUDA backend
  std::vector<CudaDeviceInfo> devices;  // empty when none is usable
  std::string problem;                  // why there is no device, e.g. "no CUDA device: ..."
  int runtime_version = 0;              // cudart, e.g. 13000
  int driver_version = 0;               // 0 without a driver
  std::string architectures;            // the kernels' CMAKE_CUDA_ARCHITECTURES; "" where not known
};

// Device cuda:`index` among the probe's, or null: the probe lists only the devices that answered,
// so a list position is not a device index.
const CudaDeviceInfo* FindDevice(const CudaProbe& probe, int index);

// Whether kernels built for `architectures` (a CMake list: "90-real;100-real;90-virtual"; "89" is
// both SASS and PTX) run on a device of compute capability major.minor: SASS for X.Y runs on X.Z
// with Z >= Y (an "a" architecture, "90a", on X.Y alone; an "f" one, "100f", as plain SASS), PTX
// for X.Y is compiled by the driver for anything at or above X.Y. True for "" and for CMake's
// "all", "all-major" and "native", which say nothing checkable here.
bool ArchitecturesRunOn(std::string_view architectures, int cc_major, int cc_minor);

// Why the runtime found no device, as `doctor` and --device cuda say it ("no CUDA device: ..."),
// from cudaGetDeviceCount's error (`error`: its code, 0 when it succeeded with a count of 0;
// `error_text`: its string) and the versions cudaDriverGetVersion and cudaRuntimeGetVersion gave
// (e.g. 12040; a driver version of 0: no driver installed). The runtime's own words for a missing
// driver are "CUDA driver version is insufficient for CUDA runtime version", which sends the user
// to update a driver they do not have; this says which of no driver, an old driver, or no GPU
// (`error_text` only for any other error).
std::string NoCudaDeviceReason(int error, const std::string& error_text, int driver_version,
                               int runtime_version);

// Asks the CUDA runtime (once per call; cheap after the first). In a build without CUDA: built
// false and problem "CUDA backend not built (...)".
CudaProbe ProbeCuda();

// The bytes of `device` a placement may plan for (model/placement_plan.h), and the words that say
// why, for the placement's header. The memory the driver reported free at the probe: a desktop's,
// another process's and this process's own context's allocations are not ours to plan, and a plan
// for the total fails partway through the upload where they are large. The total where the probe
// got no free figure. `gpu_memory` (--gpu-memory; 0: none) caps it; a cap above the free memory
// plans for the free memory and says so.
struct PlanningMemory {
  int64_t bytes = 0;
  std::string basis;  // "capped by --gpu-memory", "120.3 GiB free of 139.8 GiB", ...
};
PlanningMemory PlanningMemoryOf(const CudaDeviceInfo& device, int64_t gpu_memory);

// Why this binary's kernels cannot run on `device`, and what to do ("" when they can): rebuild for
// its architecture (-DCMAKE_CUDA_ARCHITECTURES=89; a build on a machine with the GPU adds it
// itself, cmake/Cuda.cmake), or, below compute 8.0 (no bf16 arithmetic), that the backend needs
// a newer GPU.
std::string MissingKernels(const CudaProbe& probe, const CudaDeviceInfo& device);

// One line for `dsagent doctor`: "CUDA: NVIDIA H200 (139.8 GiB, compute 9.0), runtime 13.0,
// kernels for 90-real,..." or "CUDA: backend built (runtime 13.0, kernels for ...), no device:
// ..." or "CUDA: not built (...)".
std::string DescribeCuda(const CudaProbe& probe);

}  // namespace dsagent::engine::kernels
