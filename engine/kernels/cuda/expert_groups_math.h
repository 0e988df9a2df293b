// The routed experts' slots of a call over many rows, grouped by expert (moe_step.h MoeRows): the
// slots sorted by expert id (stably: slot order within an expert) and cut into pieces of at most
// kExpertPieceSlots slots of one expert, so the register-tiled matvec (matvec_gemm.cu, with a
// gather list) reads and decodes each chosen expert's weights once per piece instead of once per
// slot. `__host__ __device__`: one thread per slot computes its place on the device
// (GroupSlotsKernel in expert_groups.cu); the host test runs the same function for every slot
// (tests/engine/kernels/cuda_tiled_matvec_math_test.cc).
#pragma once

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

// Slots per piece at most: the register-tiled kernel's inputs per CTA.
constexpr int kExpertPieceSlots = 8;

// A piece: `count` (1..kExpertPieceSlots) slots of expert `expert`, at positions [begin, begin + count)
// of the sorted slot list.
struct ExpertPiece {
  int32_t expert, begin, count;
};

// Phase 1, slot s: its rank among the slots of its expert (how many earlier slots have its id).
DSAGENT_HD int SlotRank(const int32_t* ids, int s) {
  int rank = 0;
  for (int j = 0; j < s; ++j) rank += ids[j] == ids[s] ? 1 : 0;
  return rank;
}

// Phase 2, slot s (every slot's rank known): writes order[p] = s for its sorted position p and,
// when s starts a piece (its rank is a multiple of kExpertPieceSlots), that piece at its index (the
// pieces that start at earlier positions). Returns 1 when s starts a piece (their sum is the
// piece count).
DSAGENT_HD int GroupSlot(const int32_t* ids, const int32_t* ranks, int slots, int s,
                         int32_t* order, ExpertPiece* pieces) {
  const int32_t id = ids[s];
  const int rank = ranks[s];
  int before = 0, same = 0, index = 0;
  for (int j = 0; j < slots; ++j) {
    const int32_t other = ids[j];
    before += other < id ? 1 : 0;
    same += other == id ? 1 : 0;
    const bool starts = ranks[j] % kExpertPieceSlots == 0;
    index += starts && (other < id || (other == id && ranks[j] < rank)) ? 1 : 0;
  }
  const int p = before + rank;
  order[p] = s;
  if (rank % kExpertPieceSlots != 0) return 0;
  const int left = same - rank;
  pieces[index] = ExpertPiece{id, p, left < kExpertPieceSlots ? left : kExpertPieceSlots};
  return 1;
}

}  // namespace dsagent::engine::kernels::cuda
