// What one decode row of a device sequence overwrites in its buffers (the device's twin of
// forward/last_row_undo.h), as byte ranges: speculative decoding keeps these ranges device to
// device before the row of a draft (device_row_undo.h) and copies them back when the draft is
// rejected, so the sequence is then byte for byte what it was before the row. Host code, built in
// every build and tested without a device (tests/engine/kernels/cuda_row_undo_plan_test.cc: on a
// real state, every byte a CPU row changes in the device layout lies inside the plan).
//
// The row at position q writes, per main layer (sequence_state_layout.h's buffers):
//   the window ring's row q % window                                       (cache)
//   the compressor's slot of q, or — when q completes a block (q + 1 divisible by the ratio) —
//   every slot (the block is pooled, then the slots are reset or shifted)   (compressor kv/score)
//   when q completes a block: the compressed entry q / ratio               (cache, after the ring)
//   the same for the indexer's compressor and its key row (ratio 4)        (indexer keys)
// The MTP blocks are not touched by a main-model row.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/kernels/cuda/sequence_state_layout.h"
#include "engine/model/model_config.h"

namespace dsagent::engine::kernels::cuda {

// `bytes` bytes at byte `offset` of `buffer` of main layer `layer`.
struct ByteRange {
  int64_t layer = 0;
  SequenceBuffer buffer = SequenceBuffer::kCache;
  size_t offset = 0;
  size_t bytes = 0;
};

// The ranges the row at position `pos` (0 <= pos < context) overwrites in a device sequence of
// `context` positions for `config`; each inside its buffer (SequenceBufferBytes), none overlapping.
std::vector<ByteRange> PlanRowUndo(const ModelConfig& config, int64_t context, int64_t pos);

// The sum of the ranges' bytes (the save buffer's size).
size_t RangeBytes(const std::vector<ByteRange>& ranges);

}  // namespace dsagent::engine::kernels::cuda
