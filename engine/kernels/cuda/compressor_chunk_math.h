// A compressor fed a chunk's rows at once (compressor_ops.h CompressProjectedRows): where each
// value of the pooled blocks and of the state after the chunk comes from. `__host__ __device__`
// so the host test (tests/engine/kernels/cuda_compressor_chunk_math_test.cc) runs the functions
// the kernels run, against the row-by-row state machine.
//
// Row by row (CompressProjected), the token at p appends its value and gate logit + position bias
// to slot offset + p % ratio (offset: ratio when the blocks overlap, else 0); when p ends a block,
// the slots are pooled into entry p / ratio and the state advances (overlap: the block moves to
// slots [0, ratio) as the previous one; the current slots are emptied). So block b's pool reads
// positions (b - 1) * ratio .. b * ratio - 1 (overlap: slots 0 .. ratio - 1; none before block 0:
// empty slots) and b * ratio .. (b + 1) * ratio - 1. A chunk of rows from chunk_pos can pool
// every block it completes at once, each reading the positions before the chunk from the state
// as it stood at chunk_pos and the rest from the chunk's rows, and then set the state as the row
// steps would have left it. Same values, same pooling: the same entries.
#pragma once

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

// The blocks a chunk of `rows` rows at chunk_pos completes: [ChunkBlocksBegin, ChunkBlocksEnd).
DSAGENT_HD int64_t ChunkBlocksBegin(int64_t chunk_pos, int64_t ratio) { return chunk_pos / ratio; }
DSAGENT_HD int64_t ChunkBlocksEnd(int64_t chunk_pos, int64_t rows, int64_t ratio) {
  return (chunk_pos + rows) / ratio;
}

// The position whose value slot i (0 .. slots - 1) of block b's pool holds; -1: an empty slot.
DSAGENT_HD int64_t PoolSlotPosition(int64_t b, int64_t i, int64_t ratio, bool overlap) {
  if (!overlap) return b * ratio + i;
  if (i < ratio) return b > 0 ? (b - 1) * ratio + i : -1;
  return b * ratio + (i - ratio);
}

// Where position p's value is for a chunk at chunk_pos (p a position the chunk's pools or final
// state read, so p >= (chunk_pos / ratio - 1) * ratio): row p - chunk_pos of the chunk (>= 0), or,
// before the chunk, the state's slot s as it stood at chunk_pos, returned as -1 - s (the current
// block's slots from offset, an overlapping state's previous block in slots 0 .. ratio - 1).
DSAGENT_HD int64_t ChunkValueSource(int64_t p, int64_t chunk_pos, int64_t ratio, bool overlap) {
  if (p >= chunk_pos) return p - chunk_pos;
  const int64_t current = (chunk_pos / ratio) * ratio;
  const int64_t slot = p >= current ? (overlap ? ratio : 0) + p % ratio : p % ratio;
  return -1 - slot;
}

// After a chunk that completes a block (ChunkBlocksEnd > ChunkBlocksBegin): the position slot i
// of the state holds, -1 for an empty slot. The current block e = ChunkBlocksEnd's positions up to
// the chunk's end; overlap: block e - 1 in slots 0 .. ratio - 1.
DSAGENT_HD int64_t StateSlotAfterChunk(int64_t i, int64_t chunk_pos, int64_t rows, int64_t ratio,
                                       bool overlap) {
  const int64_t e = ChunkBlocksEnd(chunk_pos, rows, ratio);
  const int64_t offset = overlap ? ratio : 0;
  if (i < offset) return (e - 1) * ratio + i;
  const int64_t p = e * ratio + (i - offset);
  return p < chunk_pos + rows ? p : -1;
}

}  // namespace dsagent::engine::kernels::cuda
