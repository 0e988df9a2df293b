// Taking back the last row of a forward call (speculative decoding: the row of a rejected draft),
// without a copy of the sequence state and without recomputing the rows before it.
//
// One row at position q changes, per decoder layer: the window-ring slot q % window_size, the slot
// of q in each compressor's current block, and, when q completes a block, the compressor's slots
// (pooled, then reset or shifted) and one appended entry (compressed KV, indexer key). So the undo
// keeps the overwritten window row and, only where q completed a block, the compressor's slots as
// they were just before the pooling (Compress leaves them while CompressorState::keep_before_pool
// is set): a few rows per layer, not the state's size. The rest follows from the state being
// canonical: a slot not yet written holds value 0 and logit -inf.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/forward/sequence_state.h"

namespace dsagent::engine::forward {

// What TakeBackLastRow needs to undo the row at `pos`.
struct LastRowUndo {
  int64_t pos = -1;  // the row's position; -1: nothing to undo
  struct Compressor {
    bool pooled = false;           // the row completed a block (an entry was appended)
    std::vector<float> kv, score;  // the slots just before that pooling
  };
  struct Layer {
    std::vector<uint16_t> window_row;  // [head_dim] bf16 bits, the slot pos % window_size
    Compressor kv, index;
  };
  std::vector<Layer> layers;  // one per decoder layer
};

// Before a forward call whose last row is at `pos`: saves the window rows that row will overwrite
// and asks the compressors to keep their slots before a pooling by the call's last row.
void BeginUndoableRow(SequenceState& state, int64_t pos, LastRowUndo& undo);

// After that call: moves the kept slots into `undo` and clears the request.
void EndUndoableRow(SequenceState& state, LastRowUndo& undo);

// Undoes the row: afterwards `state` equals, field for field, the state the call would have left
// without its last token. Decoder layers only (the MTP part is not touched by Forward). Error,
// with `state` untouched: `undo` is not for the state's last row.
Expected<Ok, std::string> TakeBackLastRow(SequenceState& state, const LastRowUndo& undo);

}  // namespace dsagent::engine::forward
