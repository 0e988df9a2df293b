// The CUDA emulator's grid runner: runs every thread of a kernel launch on the CPU
// (tests/cuda_emulator/README.md). Internal to the emulator (runtime.cc calls it).
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <memory>
#include <string>

namespace dsagent_emu {

struct GridLaunch {
  const void* func = nullptr;
  const char* name = "kernel";
  dim3 grid, block;
  size_t shared_bytes = 0;
  std::shared_ptr<const std::function<void()>> body;  // one CUDA thread's work
};

// The launch's configuration problem ("" when the runtime would accept it). `max_dynamic_shared`
// is the kernel's opt-in limit (cudaFuncAttributeMaxDynamicSharedMemorySize; 48 KiB without).
std::string ConfigurationProblem(const GridLaunch& launch, size_t max_dynamic_shared);

// Runs every block of the grid (several OS threads, each block's threads as fibers on one), and
// returns "" or what went wrong inside it: a deadlock at a barrier or shuffle, a shuffle whose
// mask leaves out its own lane or the lane it reads.
std::string RunGrid(const GridLaunch& launch);

}  // namespace dsagent_emu
