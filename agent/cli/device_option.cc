#include "agent/cli/device_option.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>

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

std::function<void(int64_t, int64_t)> UploadProgressPrinter(const char* command, std::FILE* out) {
  struct State {
    std::string command;
    std::FILE* out;
    bool terminal;
    int64_t quarters = 0;  // quarters printed (not on a terminal)
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  };
  auto state = std::make_shared<State>(State{command, out, ::isatty(::fileno(out)) == 1});
  return [state](int64_t done, int64_t total) {
    State& s = *state;
    if (total <= 0) return;
    if (done >= total) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - s.start).count();
      std::fprintf(s.out, "%sdsagent %s: weights to the GPU: all %lld blocks in %.1f s\n",
                   s.terminal ? "\r" : "", s.command.c_str(), static_cast<long long>(total),
                   seconds);
    } else if (s.terminal) {
      std::fprintf(s.out, "\rdsagent %s: weights to the GPU: %lld of %lld blocks",
                   s.command.c_str(), static_cast<long long>(done), static_cast<long long>(total));
    } else if (done * 4 / total > s.quarters) {
      s.quarters = done * 4 / total;
      std::fprintf(s.out, "dsagent %s: weights to the GPU: %lld of %lld blocks\n",
                   s.command.c_str(), static_cast<long long>(done), static_cast<long long>(total));
    }
    std::fflush(s.out);
  };
}

}  // namespace dsagent
