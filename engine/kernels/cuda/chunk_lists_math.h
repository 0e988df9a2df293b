// The index lists of a prefill chunk's attention run together (attention_step.cu AttentionRows,
// chunk-wide): `__host__ __device__` so the host test (tests/engine/kernels/
// cuda_chunk_lists_math_test.cc) runs the very functions the kernels run.
//
// Decode (AttentionDecode) stores a token's KV row in the window ring (row p % window) and then
// attends over [the window's positions, then the compressed entries]. A chunk cannot store all
// its rows first and attend afterwards: its later rows would overwrite ring rows its earlier rows
// still read. So the chunk's own KV rows go to a staging area (row s0 + (p - chunk_pos) of the
// staged rows), the ring keeps the rows before the chunk while every row of it attends, and a row
// of position p reads each window position q from the staging area when q >= chunk_pos and from
// the ring otherwise: the same KV values in the same order as its decode step reads, hence the
// same bits. Afterwards the chunk's last `window` rows go to the ring (RingRowsFromChunk), which
// then holds what the decode steps would have left. The compressed entries are append-only
// (entry e at cache row window + e, written by the compressor before any row that sees it
// attends), so they need no staging.
//
// A list entry is a cache row (0 .. window + capacity - 1), -1 (masked), or kStagedRow + s for
// staged row s.
#pragma once

#include <cstdint>

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

constexpr int32_t kStagedRow = int32_t{1} << 30;

// The compressed entries the token at `pos` attends over (AttentionDecode's count): ratio 0: none;
// the indexer's layers (ratio 4, topk > 0): min(topk, (pos + 1) / ratio); the others: every entry,
// (pos + 1) / ratio.
DSAGENT_HD int64_t CompressedInList(int64_t pos, int64_t ratio, int64_t topk) {
  if (ratio <= 0) return 0;
  const int64_t visible = (pos + 1) / ratio;
  return topk > 0 && visible > topk ? topk : visible;
}

// Entry i (0 <= i < window + n_compressed) of the list of the token at `pos` in a chunk that
// starts at position chunk_pos with its rows staged from staged row s0: the window's positions
// first .. first + window - 1 (-1 past pos), then the compressed entries (selected[j] in the
// indexer's order, or j).
DSAGENT_HD int32_t ChunkListEntry(int64_t i, int64_t pos, int64_t window, int64_t chunk_pos,
                                  int64_t s0, const int32_t* selected, int64_t n_compressed) {
  if (i < window) {
    const int64_t first = pos - window + 1 > 0 ? pos - window + 1 : 0;
    const int64_t p = first + i;
    if (p > pos) return -1;
    if (p >= chunk_pos) return kStagedRow + static_cast<int32_t>(s0 + (p - chunk_pos));
    return static_cast<int32_t>(p % window);
  }
  const int64_t j = i - window;
  if (j >= n_compressed) return -1;  // past the list's length (never read)
  return static_cast<int32_t>(window + (selected != nullptr ? selected[j] : j));
}

// After the chunk of `rows` rows at chunk_pos: the ring's row for ring copy k (0 <= k <
// RingCopies) and the staged row it takes.
DSAGENT_HD int64_t RingCopies(int64_t rows, int64_t window) {
  return rows < window ? rows : window;
}
DSAGENT_HD void RingRowsFromChunk(int64_t k, int64_t chunk_pos, int64_t rows, int64_t window,
                                  int64_t s0, int64_t* ring_row, int64_t* staged_row) {
  const int64_t p = chunk_pos + rows - RingCopies(rows, window) + k;
  *ring_row = p % window;
  *staged_row = s0 + (p - chunk_pos);
}

}  // namespace dsagent::engine::kernels::cuda
