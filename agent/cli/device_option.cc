#include "agent/cli/device_option.h"

#include <cstdio>

#include "agent/core/termination.h"
#include "engine/kernels/device_spec.h"

namespace dsagent {

void AddDeviceOption(CLI::App& cmd, std::string& device) {
  cmd.add_option("--device", device,
                 "cpu (default) | cuda | cuda:N: where the model runs (`dsagent doctor` lists "
                 "GPUs)");
}

int CheckDeviceOption(const std::string& device, const char* command) {
  const auto spec = engine::kernels::ParseDeviceSpec(device);
  if (!spec) {
    std::fprintf(stderr, "dsagent %s: --device: %s\n", command, spec.error().c_str());
    return kExitUsage;
  }
  if (spec->kind == engine::kernels::DeviceKind::kCpu) return kExitDone;
  if (auto why = engine::kernels::DeviceUnavailable(*spec, engine::kernels::ProbeCuda())) {
    std::fprintf(stderr, "dsagent %s: --device %s\n", command, why->c_str());
    return kExitUsage;
  }
  return kExitDone;
}

}  // namespace dsagent
