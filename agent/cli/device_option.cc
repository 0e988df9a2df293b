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

namespace {

// Prints each line as "dsagent <command>: <line>".
std::function<void(const std::string&)> LinePrinter(const char* command, std::FILE* out) {
  return [prefix = std::string("dsagent ") + command + ": ", out](const std::string& line) {
    std::fprintf(out, "%s%s\n", prefix.c_str(), line.c_str());
    std::fflush(out);
  };
}

}  // namespace

std::function<void(int64_t, int64_t)> UploadProgressPrinter(const char* command, std::FILE* out) {
  if (::isatty(::fileno(out)) != 1)
    return LocalLoadLines(LinePrinter(command, out)).upload_progress;
  // On a terminal: one line rewritten in place, from "0 of N blocks" as the upload begins.
  auto start =
      std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  return [prefix = std::string("dsagent ") + command + ": ", out, start](int64_t done,
                                                                         int64_t total) {
    if (total <= 0) return;
    if (done == 0) *start = std::chrono::steady_clock::now();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - *start;
    std::fprintf(out, "\r%s%s%s", prefix.c_str(),
                 UploadProgressText(done, total, took.count()).c_str(), done >= total ? "\n" : "");
    std::fflush(out);
  };
}

LocalLoadNotices LocalLoadPrinter(const char* command, std::FILE* out) {
  return {.upload_progress = UploadProgressPrinter(command, out),
          .note = LinePrinter(command, out)};
}

}  // namespace dsagent
