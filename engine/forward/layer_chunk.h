// LayerChunk: one sequence's consecutive rows in a forward call over several sequences (batched
// decode: each sequence's next token, or a prefill chunk beside them). The rows of all chunks are
// concatenated in the order of the chunks; every row-wise step (projections, norms, MoE) runs on
// all of them at once, so the weights are read once per call rather than once per sequence, and
// the steps that read or advance a sequence's state (KV window, compressors, indexer, attention)
// run per chunk on that chunk's state. Every row's bits are those of a call with its sequence
// alone (each row-wise kernel gives a row the same bits whatever rows are beside it).
#pragma once

#include <cstdint>

#include "engine/forward/sequence_state.h"

namespace dsagent::engine::forward {

struct LayerChunk {
  LayerState* state = nullptr;  // this sequence's state of the layer; distinct per chunk
  int64_t start = 0;            // position of the chunk's first row (all later than the state's)
  int64_t rows = 0;             // >= 1
};

}  // namespace dsagent::engine::forward
