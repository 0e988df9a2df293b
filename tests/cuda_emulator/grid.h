// The CUDA emulator's grid runner: runs every thread of a kernel launch on the CPU
// (tests/cuda_emulator/README.md). Internal to the emulator (runtime.cc calls it).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace dsagent_emu {

struct GridLaunch {
  const void* func = nullptr;
  const char* name = "kernel";
  dim3 grid, block;
  size_t shared_bytes = 0;
  // Launched with cudaLaunchAttributeProgrammaticStreamSerialization (programmatic dependent
  // launch): it may start before the stream's previous kernel ends, and waits for it at
  // cudaGridDependencySynchronize.
  bool programmatic = false;
  // With DSAGENT_CUDA_EMULATOR_STATS set, its depth: the longest chain of kernels, through its
  // stream's order and events, that ends at it (work_queue.h NoteQueuedDepth); else 0.
  int64_t depth = 0;
  std::shared_ptr<const std::function<void()>> body;  // one CUDA thread's work
};

// The launch's configuration problem ("" when the runtime would accept it). `max_dynamic_shared`
// is the kernel's opt-in limit (cudaFuncAttributeMaxDynamicSharedMemorySize; 48 KiB without).
std::string ConfigurationProblem(const GridLaunch& launch, size_t max_dynamic_shared);

// Runs every block of the grid (several OS threads, each block's threads as fibers on one), and
// returns "" or what went wrong inside it: a deadlock at a barrier or shuffle, a shuffle whose
// mask leaves out its own lane or the lane it reads.
// `first_block`: the blocks before it (in linear order) are not run (a HeldBlock ran them).
std::string RunGrid(const GridLaunch& launch, int64_t first_block = 0);

// Block 0 of a programmatic launch, run ahead of the stream's previous kernel as a GPU may run it:
// up to the point where every thread waits at cudaGridDependencySynchronize (or exited), then
// held there until Finish. What it did before the wait must not depend on that kernel; when it
// reads that kernel's output or writes what that kernel reads, the results differ from program
// order and the tests comparing them fail. Its fibers live on one OS thread of their own (a CUDA
// thread's frames must stay on the OS thread they started on), so any thread may call these.
class HeldBlock {
 public:
  // Runs block 0 of `launch` up to its wait. "" or what went wrong, including a block that ended
  // without waiting: a programmatic launch that never waits may run wholly beside the kernel
  // before it (the launch's contract is to wait before touching anything that kernel touches).
  static std::unique_ptr<HeldBlock> Start(const GridLaunch& launch, std::string* error);
  ~HeldBlock();
  // Lets the block go on past its wait to its end; "" or what went wrong.
  std::string Finish();

  struct Impl;  // grid.cc's

 private:
  HeldBlock() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsagent_emu
