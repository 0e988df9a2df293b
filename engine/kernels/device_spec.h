// The device a model runs on: `--device cpu|cuda[:N]` and `--gpu-memory SIZE` (serve, engine
// logits|generate|inspect) and `providers.local.device|gpu_memory`. Parsing is pure;
// DeviceUnavailable says whether a spec can run here now.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/expected.h"
#include "engine/kernels/cuda_probe.h"

namespace dsagent::engine::kernels {

enum class DeviceKind { kCpu, kCuda };

struct DeviceSpec {
  DeviceKind kind = DeviceKind::kCpu;
  int index = 0;  // cuda:N
  std::string Name() const {
    return kind == DeviceKind::kCpu ? "cpu" : "cuda:" + std::to_string(index);
  }
};

// "cpu", "cuda" (= cuda:0) or "cuda:N"; anything else is an error naming the accepted forms.
Expected<DeviceSpec, std::string> ParseDeviceSpec(std::string_view text);

// `--gpu-memory`: "" (0: the device's own memory) or a positive size ("24G", "80GiB", bytes) that
// caps how much of the GPU the placement planner uses; only for a cuda device. Errors (to be
// prefixed with the flag or key): not a size, zero, or given for cpu.
Expected<int64_t, std::string> ParseGpuMemory(std::string_view text, const DeviceSpec& spec);

// Why the engine cannot run a model on `spec` here (nullopt: it can). For cuda: the backend is not
// built, there is no device or no device N, or this build has no kernels for device N's
// architecture (MissingKernels). The message ("cuda:1: ...") says what to do
// instead; callers prefix the flag or key. (Whether the model fits the device is the placement
// planner's answer, once the model's config is known: engine/runtime/sequence_model_factory.h.)
std::optional<std::string> DeviceUnavailable(const DeviceSpec& spec, const CudaProbe& probe);

}  // namespace dsagent::engine::kernels
