// `--device cpu|cuda[:N]` and `--gpu-memory SIZE` of `serve`, `engine logits` and
// `engine generate` (engine/kernels/device_spec.h).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "agent/providers/local_engines.h"
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

// The progress of a GPU's weights upload for `out` (EngineRuntimeOptions::upload_progress):
// "dsagent <command>: weights to the GPU: 12 of 45 blocks" rewritten in place on a terminal, and
// elsewhere (a service's log) a line at each quarter; the last says how long the upload took. A
// V4-Flash upload is 140-odd GB: a minute or more with nothing said otherwise.
std::function<void(int64_t done, int64_t total)> UploadProgressPrinter(const char* command,
                                                                       std::FILE* out = stderr);

// What `run`, `patch` and the like print to `out` while provider local loads its model: the
// upload's progress (UploadProgressPrinter) and "dsagent <command>: local model DIR on cuda:0,
// loaded in 12.3 s" with the GPU's placement after it.
LocalLoadNotices LocalLoadPrinter(const char* command, std::FILE* out = stderr);

}  // namespace dsagent
