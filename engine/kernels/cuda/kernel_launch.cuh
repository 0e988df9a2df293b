// Kernel launches that may overlap the kernel before them on their stream: programmatic
// dependent launch (PDL, sm_90+; the CUDA Programming Guide's "Programmatic Dependent Launch
// and Synchronization").
//
// Why: a decode step is ~70 small kernels a block, most of them under a wave of CTAs, and each
// waits for the one before to drain and for its own blocks to be launched before it can request
// a byte. Launched this way, the next kernel's blocks become resident while the current one
// runs, issue whatever does not depend on it (a matrix-vector kernel's first weight loads) and
// wait at AwaitPreviousKernel; the gap between kernels and the first load latency overlap the
// previous kernel instead of adding to the step.
//
// The contract, for every kernel launched by LaunchKernel: nothing before AwaitPreviousKernel
// reads memory that an earlier kernel of the step writes, or writes memory at all (weights only:
// they are uploaded once, before any step). Kernels call it first, or after their first weight
// loads. Where a kernel may start: after every block of the previous kernel has passed its own
// AwaitPreviousKernel (which lets the next one start), so only the one kernel before it can still
// be running. The CPU emulator (tests/cuda_emulator) runs block 0 of each such launch up to its
// wait before the previous kernel, so a kernel that breaks the contract fails its tests there.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "engine/kernels/cuda/kernel_launch.h"

namespace dsagent::engine::kernels::cuda {

// Waits until the kernel before this one on the stream has ended and its writes are visible (at
// once when the launch was a plain one), then lets the stream's next kernel start. Programmatic
// launch is Hopper's (sm_90); built for an earlier device (-DCMAKE_CUDA_ARCHITECTURES=80, 86 or 89:
// Ampere and Ada) there is nothing to wait for, since every launch there is a plain one.
__device__ __forceinline__ void AwaitPreviousKernel() {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
  cudaTriggerProgrammaticLaunchCompletion();
#endif
}

// Kernel<<<grid, block, shared, stream>>>(args), as a programmatic dependent launch unless
// ProgrammaticLaunchOn() says no. `name` names the kernel in the emulator's messages. Errors are
// what cudaGetLastError reports next, as for <<<>>>.
template <class... P, class... A>
void LaunchKernel(void (*kernel)(P...), const char* name, dim3 grid, dim3 block, size_t shared,
                  cudaStream_t stream, A&&... args) {
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  // Positional: {gridDim, blockDim, dynamicSmemBytes, stream, attrs, numAttrs} (the emulator's
  // kernel-side gridDim and blockDim macros would rename the fields).
  cudaLaunchConfig_t config = {grid,   block,     shared,
                               stream, attribute, ProgrammaticLaunchOn() ? 1u : 0u};
#if defined(DSAGENT_CUDA_EMULATOR_RUNTIME)
  ::dsagent_emu::NameNextLaunch(name);
#else
  (void)name;
#endif
  (void)cudaLaunchKernelEx(&config, kernel, std::forward<A>(args)...);
}

}  // namespace dsagent::engine::kernels::cuda
