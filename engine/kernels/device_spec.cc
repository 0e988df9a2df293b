#include "engine/kernels/device_spec.h"

#include <charconv>

#include "common/byte_size.h"

namespace dsagent::engine::kernels {

Expected<DeviceSpec, std::string> ParseDeviceSpec(std::string_view text) {
  if (text == "cpu") return DeviceSpec{};
  if (text == "cuda") return DeviceSpec{DeviceKind::kCuda, 0};
  if (text.substr(0, 5) == "cuda:" && text.size() > 5) {
    int index = -1;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data() + 5, end, index);
    if (ec == std::errc() && ptr == end && index >= 0) return DeviceSpec{DeviceKind::kCuda, index};
  }
  return MakeUnexpected("unknown device '" + std::string(text) +
                        "': use cpu, cuda or cuda:N (N = the GPU's index, `dsagent doctor` "
                        "lists them)");
}

Expected<int64_t, std::string> ParseGpuMemory(std::string_view text, const DeviceSpec& spec) {
  if (text.empty()) return 0;
  const auto bytes = ParseByteSize(std::string(text));
  if (!bytes || *bytes <= 0) {
    return MakeUnexpected("'" + std::string(text) +
                          "' is not a size (e.g. 24G, 80GiB or a number of bytes, more than 0)");
  }
  if (spec.kind != DeviceKind::kCuda) {
    return MakeUnexpected("'" + std::string(text) +
                          "' caps a GPU's memory, but the device is cpu: use it with cuda[:N]");
  }
  return *bytes;
}

std::optional<std::string> DeviceUnavailable(const DeviceSpec& spec, const CudaProbe& probe) {
  if (spec.kind == DeviceKind::kCpu) return std::nullopt;
  const std::string what = spec.Name() + ": ";
  if (!probe.built) {
    return what +
           "this dsagent was built without the CUDA backend (configured without nvcc or with "
           "-DDSAGENT_CUDA=OFF; rebuild with the CUDA Toolkit installed, README.md \"CUDA\"); "
           "use --device cpu";
  }
  if (probe.devices.empty()) return what + probe.problem + "; use --device cpu";
  const CudaDeviceInfo* device = FindDevice(probe, spec.index);
  if (device == nullptr) {
    std::string names;
    for (const CudaDeviceInfo& d : probe.devices) {
      names += (names.empty() ? "" : ", ") + std::string("cuda:") + std::to_string(d.index);
    }
    return what + "no such device: this machine has " + std::to_string(probe.devices.size()) +
           " (" + names + ")";
  }
  if (!device->has_kernels) {
    return what + device->name + ": " + MissingKernels(probe, *device) + "; or use --device cpu";
  }
  return std::nullopt;
}

}  // namespace dsagent::engine::kernels
