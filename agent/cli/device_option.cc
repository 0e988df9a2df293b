#include "agent/cli/device_option.h"

#include <cstdio>

#include "agent/core/termination.h"
#include "engine/kernels/device_spec.h"

namespace dsagent {

void AddDeviceOptions(CLI::App& cmd, std::string& device, std::string& gpu_memory) {
  cmd.add_option("--device", device,
                 "cpu (default) | cuda | cuda:N: where the model runs (`dsagent doctor` lists "
                 "GPUs)");
  cmd.add_option("--gpu-memory", gpu_memory,
                 "With --device cuda: use at most this much of the GPU, e.g. 24G (routed experts "
                 "that do not fit stay in host memory; `engine inspect` shows the plan)");
}

int CheckDeviceOptions(const std::string& device, const std::string& gpu_memory,
                       const char* command, engine::kernels::DeviceSpec* spec_out,
                       int64_t* cap_out) {
  const auto spec = engine::kernels::ParseDeviceSpec(device);
  if (!spec) {
    std::fprintf(stderr, "dsagent %s: --device: %s\n", command, spec.error().c_str());
    return kExitUsage;
  }
  const auto cap = engine::kernels::ParseGpuMemory(gpu_memory, *spec);
  if (!cap) {
    std::fprintf(stderr, "dsagent %s: --gpu-memory: %s\n", command, cap.error().c_str());
    return kExitUsage;
  }
  if (spec_out) *spec_out = *spec;
  if (cap_out) *cap_out = *cap;
  if (spec->kind == engine::kernels::DeviceKind::kCpu) return kExitDone;
  if (auto why = engine::kernels::DeviceUnavailable(*spec, engine::kernels::ProbeCuda())) {
    std::fprintf(stderr, "dsagent %s: --device %s\n", command, why->c_str());
    return kExitUsage;
  }
  return kExitDone;
}

}  // namespace dsagent
