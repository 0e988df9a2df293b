// `--device cpu|cuda[:N]` and `--gpu-memory SIZE` of `serve`, `engine logits` and
// `engine generate` (engine/kernels/device_spec.h).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "engine/kernels/device_spec.h"
#include "engine/runtime/sequence_model_factory.h"

namespace dsagent {

// Declares --device (default "cpu") and --gpu-memory (default "": the device's own memory) on
// `cmd`.
void AddDeviceOptions(CLI::App& cmd, std::string& device, std::string& gpu_memory);

// kExitDone when the engine can run on `device` here; otherwise prints "dsagent <command>: <why>"
// (a misspelt device, a bad --gpu-memory or one given with --device cpu, the CUDA backend not
// built, no GPU, ...) and returns kExitUsage. Called before the model loads. On success the parsed
// device and --gpu-memory cap (0: none) go to *spec and *cap when given.
int CheckDeviceOptions(const std::string& device, const std::string& gpu_memory,
                       const char* command, engine::kernels::DeviceSpec* spec = nullptr,
                       int64_t* cap = nullptr);

}  // namespace dsagent
