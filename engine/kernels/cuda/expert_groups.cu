// RunGroupSlots (matvec_tiled.h): the routed experts' slots of a call grouped by expert on the
// device, expert_groups_math.h's two phases run by one CTA (expert_groups_cta.cuh).
#include <cuda_runtime.h>

#include <string>

#include "engine/kernels/cuda/expert_groups_cta.cuh"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/matvec_tiled.h"

namespace dsagent::engine::kernels::cuda {
namespace {

// One CTA: GroupSlotsCta.
__global__ void GroupSlotsKernel(const int32_t* ids, int slots, int32_t* order, ExpertPiece* pieces,
                                 int32_t* n_pieces) {
  AwaitPreviousKernel();
  extern __shared__ int32_t group_shared[];
  GroupSlotsCta(ids, slots, order, pieces, n_pieces, group_shared);
}

}  // namespace

void RunGroupSlots(const int32_t* ids, int64_t slots, int32_t* order, ExpertPiece* pieces,
                   int32_t* n_pieces, cudaStream_t stream) {
  if (slots <= 0 || slots > kMaxGroupedSlots) {
    throw CudaError("RunGroupSlots: " + std::to_string(slots) + " slots (1 to " +
                    std::to_string(kMaxGroupedSlots) + ")");
  }
  LaunchKernel(GroupSlotsKernel, "GroupSlotsKernel", 1, 1024,
               static_cast<size_t>(2 * slots) * sizeof(int32_t), stream, ids,
               static_cast<int>(slots), order, pieces, n_pieces);
  CheckCuda(cudaGetLastError(), "expert slot grouping launch");
}

}  // namespace dsagent::engine::kernels::cuda
