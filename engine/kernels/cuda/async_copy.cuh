// Global-to-shared copies that do not wait for their data: cp.async (sm_80 and later). A loop of
// ordinary loads into shared memory pays a load's whole latency per iteration wherever the
// compiler cannot hoist the next iteration's load above this one's store (a branch or a
// division in the loop body: the attention's gathered KV rows); cp.async issues every copy at
// once and waits for them together. On the CPU emulator (tests/cuda_emulator) a copy is made at
// the wait, as a device may make it as late as that: a missing wait fails a test there. Other
// host compilation: a plain memcpy.
#pragma once

#include <cuda_runtime.h>

#include <cstring>

namespace dsagent::engine::kernels::cuda {

// Starts copying 16 bytes from global memory at src to shared memory at dst (both 16-byte
// aligned); through L2 only (.cg), as the data is read once per CTA. Visible to this thread
// after CopyAsyncWaitAll, to the CTA after that and a barrier.
__device__ inline void CopyAsync16(void* dst, const void* src) {
#if defined(__CUDA_ARCH__)
  const unsigned shared = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(shared), "l"(src) : "memory");
#elif defined(DSAGENT_CUDA_EMULATOR_RUNTIME)
  ::dsagent_emu::AsyncCopy(dst, src, 16);
#else
  std::memcpy(dst, src, 16);
#endif
}

// Waits for every CopyAsync16 this thread has started.
__device__ inline void CopyAsyncWaitAll() {
#if defined(__CUDA_ARCH__)
  asm volatile("cp.async.wait_all;\n" ::: "memory");
#elif defined(DSAGENT_CUDA_EMULATOR_RUNTIME)
  ::dsagent_emu::AsyncWaitAll();
#endif
}

}  // namespace dsagent::engine::kernels::cuda
