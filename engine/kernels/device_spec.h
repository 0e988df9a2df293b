// The device a model runs on: `--device cpu|cuda[:N]` (serve, engine logits|generate) and
// `providers.local.device`. Parsing is pure; RunnableOn says whether a spec can run here now.
#pragma once

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

// Why the engine cannot run a model on `spec` here (nullopt: it can). For cuda: the backend is not
// built, there is no device or no device N, or (today) the forward pass does not run on the GPU
// yet. The message ("cuda:1: ...") says what to do instead; callers prefix the flag or key.
std::optional<std::string> DeviceUnavailable(const DeviceSpec& spec, const CudaProbe& probe);

}  // namespace dsagent::engine::kernels
