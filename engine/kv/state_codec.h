// Serialisation of a forward::SequenceState, bit-exact: the bytes hold every buffer as stored
// (bf16 bits, fp32 values), so restoring and continuing computes exactly what the uninterrupted
// state computes. Used whole (a snapshot) or split the way the prefix store keeps it on disk:
//   - a block: the decoder layers' compressed KV entries and indexer keys produced by the tokens
//     of one aligned block [k * block_tokens, (k+1) * block_tokens);
//   - a checkpoint: everything else at position pos — the position, every layer's sliding-window
//     ring and compressor partial state, and the MTP blocks' whole state.
// blocks 0..pos/block_tokens-1 plus the checkpoint at pos reassemble the state at pos.
//
// Format: little-endian, a 4-byte tag and a format version per part, then per layer its shape
// and length-prefixed arrays. Decoding checks every shape against the ModelConfig, so a decoded
// state is always safe to hand to Model::Forward. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/expected.h"
#include "engine/forward/sequence_state.h"
#include "engine/model/model_config.h"

namespace dsagent::engine::kv {

// Granularity of prefix reuse in tokens: lcm(128, every compress ratio) — 128 for V4 configs. At
// a multiple of it every ratio-r compressor has just completed an entry (ratio 128: no partial
// rows; ratio 4: only the previous block's rows, needed by the overlapping pooling).
int64_t AlignmentTokens(const ModelConfig& config);

// The whole state. Decode error: truncated / wrong tag or version / shapes that do not fit
// `config` (naming the layer and field).
std::string SerializeState(const forward::SequenceState& state);
Expected<forward::SequenceState, std::string> DeserializeState(const ModelConfig& config,
                                                               std::string_view bytes);

// Block `index` of `state` (state.pos must be >= (index + 1) * block_tokens; block_tokens a
// multiple of every ratio).
std::string EncodeBlock(const forward::SequenceState& state, int64_t index, int64_t block_tokens);
// The checkpoint part of `state` (at state.pos).
std::string EncodeCheckpoint(const forward::SequenceState& state);
// Reassembles the state at the checkpoint's position P from `blocks` = blocks 0 .. P/block_tokens
// - 1 in order. Error: as DeserializeState, a block that belongs elsewhere or holds the wrong
// number of entries, P not a multiple of block_tokens, or the wrong number of blocks.
Expected<forward::SequenceState, std::string> AssembleState(const ModelConfig& config,
                                                            std::span<const std::string> blocks,
                                                            std::string_view checkpoint,
                                                            int64_t block_tokens);

}  // namespace dsagent::engine::kv
