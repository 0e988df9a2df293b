// The routed experts' slots of a call over many rows, grouped by expert (moe_step.h MoeRows): the
// slots sorted by expert id (stably: slot order within an expert) and cut into pieces of at most
// kRowsGroup slots of one expert, so the multi-row matvec (matvec_tiled_rows.cu, with a gather
// list) reads each chosen expert's weights once per piece instead of once per slot.
// `__host__ __device__`: one thread per slot computes its place on the device (GroupSlotsKernel in
// moe_ops.cu); the host test runs the same function for every slot
// (tests/engine/kernels/cuda_tiled_matvec_math_test.cc).
#pragma once

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/matvec_tiled_rows_math.h"

namespace dsagent::engine::kernels::cuda {

// A piece: `count` (1..kRowsGroup) slots of expert `expert`, at positions [begin, begin + count)
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
// when s starts a piece (its rank is a multiple of kRowsGroup), that piece at its index (the
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
    const bool starts = ranks[j] % kRowsGroup == 0;
    index += starts && (other < id || (other == id && ranks[j] < rank)) ? 1 : 0;
  }
  const int p = before + rank;
  order[p] = s;
  if (rank % kRowsGroup != 0) return 0;
  const int left = same - rank;
  pieces[index] = ExpertPiece{id, p, left < kRowsGroup ? left : kRowsGroup};
  return 1;
}

}  // namespace dsagent::engine::kernels::cuda
