#include "engine/kernels/cuda_probe.h"

#include <cstdio>

#ifdef DSAGENT_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace dsagent::engine::kernels {

const CudaDeviceInfo* FindDevice(const CudaProbe& probe, int index) {
  for (const CudaDeviceInfo& d : probe.devices) {
    if (d.index == index) return &d;
  }
  return nullptr;
}

bool ArchitecturesRunOn(std::string_view architectures, int cc_major, int cc_minor) {
  const int cc = cc_major * 10 + cc_minor;
  bool any = false;
  size_t at = 0;
  while (at < architectures.size()) {
    size_t end = architectures.find_first_of(";, ", at);
    if (end == std::string_view::npos) end = architectures.size();
    const std::string_view entry = architectures.substr(at, end - at);
    at = end + 1;
    if (entry.empty()) continue;
    if (entry == "all" || entry == "all-major" || entry == "native") return true;
    size_t digits = 0;
    int number = 0;
    while (digits < entry.size() && entry[digits] >= '0' && entry[digits] <= '9') {
      number = number * 10 + (entry[digits++] - '0');
    }
    if (digits == 0) continue;  // not an architecture
    any = true;
    std::string_view rest = entry.substr(digits);
    // "90a": that device alone; "100f": its family (the same major, this minor or later); both
    // without PTX for later majors.
    const bool exact = !rest.empty() && rest[0] == 'a', family = !rest.empty() && rest[0] == 'f';
    if (exact || family) rest.remove_prefix(1);
    const bool sass = rest.empty() || rest == "-real";
    const bool ptx = !exact && !family && (rest.empty() || rest == "-virtual");
    const int major = number / 10, minor = number % 10;
    if (sass && (exact ? cc == number : cc_major == major && cc_minor >= minor)) return true;
    if (ptx && cc >= number) return true;
  }
  return !any;
}

namespace {

// "12.4" for 12040.
std::string CudaVersionText(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

}  // namespace

std::string NoCudaDeviceReason(int error, const std::string& error_text, int driver_version,
                               int runtime_version) {
  constexpr int kInsufficientDriver = 35;  // cudaErrorInsufficientDriver
  constexpr int kNoDevice = 100;           // cudaErrorNoDevice
  std::string why = "no CUDA device: ";
  if (driver_version == 0) {
    return why + "no NVIDIA driver is installed (libcuda.so.1 was not found)";
  }
  const std::string driver = "the NVIDIA driver (CUDA " + CudaVersionText(driver_version) + ")";
  if (error == kInsufficientDriver) {
    return why + driver + " is older than the CUDA " + CudaVersionText(runtime_version) +
           " runtime this binary was built with: update the driver";
  }
  if (error == kNoDevice || error == 0) {
    return why + driver +
           " reports no GPU (nvidia-smi lists what it sees; CUDA_VISIBLE_DEVICES, if set, "
           "hides the others)";
  }
  return why + error_text;
}

CudaProbe ProbeCuda() {
  CudaProbe p;
#ifdef DSAGENT_CUDA_ARCHITECTURES
  p.architectures = DSAGENT_CUDA_ARCHITECTURES;
#endif
#ifdef DSAGENT_HAVE_CUDA
  p.built = true;
  cudaRuntimeGetVersion(&p.runtime_version);
  if (cudaDriverGetVersion(&p.driver_version) != cudaSuccess) p.driver_version = 0;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    p.problem = NoCudaDeviceReason(static_cast<int>(err), cudaGetErrorString(err), p.driver_version,
                                   p.runtime_version);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return p;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    CudaDeviceInfo d;
    d.index = i;
    d.name = prop.name;
    d.total_bytes = static_cast<int64_t>(prop.totalGlobalMem);
    d.cc_major = prop.major;
    d.cc_minor = prop.minor;
    d.has_kernels = ArchitecturesRunOn(p.architectures, d.cc_major, d.cc_minor);
    size_t free_bytes = 0, total = 0;
    if (cudaSetDevice(i) == cudaSuccess && cudaMemGetInfo(&free_bytes, &total) == cudaSuccess) {
      d.free_bytes = static_cast<int64_t>(free_bytes);
    }
    p.devices.push_back(d);
  }
  if (p.devices.empty()) p.problem = "no CUDA device: no device answered cudaGetDeviceProperties";
#else
  p.problem =
      "CUDA backend not built (this binary was configured without nvcc or with "
      "-DDSAGENT_CUDA=OFF; rebuild with the CUDA Toolkit installed, see README.md)";
#endif
  return p;
}

namespace {

std::string GiBText(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  return buf;
}

}  // namespace

PlanningMemory PlanningMemoryOf(const CudaDeviceInfo& device, int64_t gpu_memory) {
  // Without a free figure from cudaMemGetInfo, the total, as before it.
  const bool known = device.free_bytes > 0;
  const int64_t available = known ? device.free_bytes : device.total_bytes;
  const std::string of =
      known ? GiBText(device.free_bytes) + " free of " + GiBText(device.total_bytes)
            : GiBText(device.total_bytes) + " (the driver reported no free memory figure)";
  if (gpu_memory <= 0) return {available, of};
  if (gpu_memory <= available) return {gpu_memory, "capped by --gpu-memory"};
  return {available, "--gpu-memory " + GiBText(gpu_memory) + " is more than the " + of +
                         (known ? ": planned for the free memory" : ": planned for all of it")};
}

std::string MissingKernels(const CudaProbe& probe, const CudaDeviceInfo& device) {
  if (device.has_kernels) return "";
  const std::string cc = std::to_string(device.cc_major) + "." + std::to_string(device.cc_minor);
  const std::string built =
      "this dsagent's kernels are for CUDA architectures " +
      (probe.architectures.empty() ? "it did not record" : probe.architectures);
  if (device.cc_major < 8) {
    return built + "; the CUDA backend needs compute 8.0 (Ampere) or newer, this device is " + cc;
  }
  return built + ", none of which runs on compute " + cc +
         ": rebuild with -DCMAKE_CUDA_ARCHITECTURES=" +
         std::to_string(device.cc_major * 10 + device.cc_minor) +
         " (a build on a machine with this GPU adds it itself; README.md \"CUDA\")";
}

std::string DescribeCuda(const CudaProbe& probe) {
  if (!probe.built) {
    return "CUDA: not built (configured without nvcc or with -DDSAGENT_CUDA=OFF)";
  }
  char version[64];
  std::snprintf(version, sizeof version, "runtime %d.%d", probe.runtime_version / 1000,
                (probe.runtime_version % 1000) / 10);
  // Which devices the build can serve (MissingKernels): the architectures its kernels are for.
  const std::string runtime =
      version + (probe.architectures.empty() ? "" : ", kernels for " + probe.architectures);
  if (probe.devices.empty()) {
    return "CUDA: backend built (" + runtime + "), " + probe.problem;
  }
  std::string out = "CUDA: ";
  for (size_t i = 0; i < probe.devices.size(); ++i) {
    const CudaDeviceInfo& d = probe.devices[i];
    char buf[256];
    std::snprintf(buf, sizeof buf, "%scuda:%d %s (%.1f GiB, %.1f GiB free, compute %d.%d)",
                  i ? "; " : "", d.index, d.name.c_str(),
                  static_cast<double>(d.total_bytes) / (1 << 30),
                  static_cast<double>(d.free_bytes) / (1 << 30), d.cc_major, d.cc_minor);
    out += buf;
    if (!d.has_kernels) out += " [not usable: " + MissingKernels(probe, d) + "]";
  }
  return out + ", " + runtime;
}

}  // namespace dsagent::engine::kernels
