// `--device cpu|cuda[:N]` and `--gpu-memory SIZE` of `serve`, `engine logits` and
// `engine generate` (engine/kernels/device_spec.h).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace dsagent {

// Declares --device (default "cpu") and --gpu-memory (default "": the device's own memory) on
// `cmd`.
void AddDeviceOptions(CLI::App& cmd, std::string& device, std::string& gpu_memory);

// kExitDone when the engine can run on `device` here; otherwise prints "dsagent <command>: <why>"
// (a misspelt device, a bad --gpu-memory or one given with --device cpu, the CUDA backend not
// built, no GPU, ...) and returns kExitUsage. Called before the model loads.
int CheckDeviceOptions(const std::string& device, const std::string& gpu_memory,
                       const char* command);

}  // namespace dsagent
