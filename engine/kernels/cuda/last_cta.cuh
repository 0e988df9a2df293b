// The last-CTA epilogue: a kernel whose CTAs each write a share of a result (one output of a
// product each) and whose last CTA to finish then works on the whole of it (routes a token on the
// gate's products), in one launch instead of two. On a decode step each such pair was two kernels
// on the critical path, the second of one CTA, each with its launch gap and ramp.
//
// The pattern is the CUDA programming guide's (__threadfence, then an atomic count): every CTA's
// writes are made visible before it counts itself, and the CTA that counts last sees them all. The
// counter is reset by that CTA, so it is zero again for the next launch (and a CUDA graph's
// replays); it must be zero before the first (DeviceBuffer::Zero) and belong to one launch at a
// time, as the results it counts do.
#pragma once

#include <cuda_runtime.h>

namespace dsagent::engine::kernels::cuda {

// Whether this CTA is the last of `ctas` to arrive at *counter. Every thread of the CTA calls it
// after its writes (a barrier); when it returns true every write the `ctas` CTAs made before their
// call is visible to this one, through loads that do not hit a stale L1 line (volatile, or data the
// CTA did not read before).
__device__ inline bool LastCtaToArrive(unsigned* counter, unsigned ctas) {
  __shared__ int last;
  __syncthreads();  // the CTA's writes are done
  if (threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0) {
    __threadfence();  // ... and visible device-wide before the count says so
    last = atomicAdd(counter, 1u) == ctas - 1 ? 1 : 0;
    if (last != 0) atomicExch(counter, 0u);  // every CTA has counted: ready for the next launch
  }
  __syncthreads();
  const bool mine = last != 0;
  if (mine) __threadfence();  // the others' writes before this CTA's loads of them
  return mine;
}

}  // namespace dsagent::engine::kernels::cuda
