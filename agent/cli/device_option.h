// `--device cpu|cuda[:N]` of `serve`, `engine logits` and `engine generate`
// (engine/kernels/device_spec.h).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace dsagent {

// Declares --device on `cmd`, stored in `device` (default "cpu").
void AddDeviceOption(CLI::App& cmd, std::string& device);

// kExitDone when the engine can run on `device` here; otherwise prints "dsagent <command>: <why>"
// (a misspelt device, the CUDA backend not built, no GPU, ...) and returns kExitUsage. Called
// before the model loads.
int CheckDeviceOption(const std::string& device, const char* command);

}  // namespace dsagent
