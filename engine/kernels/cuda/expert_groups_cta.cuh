// The routed slots' grouping by expert (expert_groups_math.h) as one CTA's work, for the grouping's
// own kernel (expert_groups.cu) and for the router's last CTA (moe_ops.cu GateRouteKernel), which
// groups a call's slots as soon as its last row is routed. Device code for those two files.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "engine/kernels/cuda/expert_groups_math.h"

namespace dsagent::engine::kernels::cuda {

// The CTA (any number of threads) groups ids [slots]: each slot's rank (phase 1), then its sorted
// position and piece (phase 2) into order and pieces, and the piece count into *n_pieces. smem:
// 2 * slots int32 of shared memory. The ids are read as volatile: in the router's launch they
// are other CTAs' writes (last_cta.cuh).
__device__ inline void GroupSlotsCta(const volatile int32_t* ids, int slots, int32_t* order,
                                     ExpertPiece* pieces, int32_t* n_pieces, int32_t* smem) {
  int32_t* const sids = smem;
  int32_t* const ranks = smem + slots;
  __shared__ int count;
  const int tid = static_cast<int>(threadIdx.x);
  if (tid == 0) count = 0;
  for (int s = tid; s < slots; s += blockDim.x) sids[s] = ids[s];
  __syncthreads();
  for (int s = tid; s < slots; s += blockDim.x) ranks[s] = SlotRank(sids, s);
  __syncthreads();
  int mine = 0;
  for (int s = tid; s < slots; s += blockDim.x)
    mine += GroupSlot(sids, ranks, slots, s, order, pieces);
  if (mine != 0) atomicAdd(&count, mine);
  __syncthreads();
  if (tid == 0) *n_pieces = count;
}

}  // namespace dsagent::engine::kernels::cuda
