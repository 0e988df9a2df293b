// Where the host sequence state (forward::SequenceState, the KV store's and prefix caches' layout)
// lives in a device sequence's buffers (model_step.h DeviceSequence: one DeviceAttentionState per
// decoder layer and per MTP block), as a list of byte copies. Host code, built in every build and
// tested without a device (tests/engine/kernels/cuda_sequence_layout_test.cc);
// device_sequence_copy.h runs the copies with cudaMemcpy, so a cache written by the CPU engine
// restores into the GPU engine and back.
//
// The layouts are the same row for row, which is why a plan of copies is all it takes:
//   window ring [window, head_dim] bf16 bits    -> cache rows [0, window)
//   compressed entries [pos / ratio, head_dim]  -> cache rows [window, window + pos / ratio)
//   indexer keys [pos / ratio, index_head_dim]  -> keys rows [0, pos / ratio)          (ratio 4)
//   compressor kv / score [slots, width] fp32   -> the compressor state's kv / score    (ratio > 0)
//   indexer compressor kv / score               -> the indexer compressor's kv / score  (ratio 4)
// The MTP blocks' state (SequenceState::mtp, at mtp_pos) maps the same way: an MTP block is a layer
// of its own, numbered after the main layers (layer n_layers + m is MTP block m, whose ratio is
// compress_ratios[n_layers + m], as the checkpoint's config lists it), with entries per complete
// block of mtp_pos.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/expected.h"
#include "engine/forward/sequence_state.h"
#include "engine/model/model_config.h"

namespace dsagent::engine::kernels::cuda {

// The device buffers of one layer's DeviceAttentionState.
enum class SequenceBuffer {
  kCache,                 // cache: the window ring, then the compressed entries
  kCompressorKv,          // compressor->kv
  kCompressorScore,       // compressor->score
  kIndexKeys,             // indexer->keys
  kIndexCompressorKv,     // indexer->compressor.kv
  kIndexCompressorScore,  // indexer->compressor.score
};

// The fields of one forward::LayerState that hold sequence data.
enum class StateField {
  kWindow,
  kCompressed,
  kIndexKeys,
  kCompressorKv,
  kCompressorScore,
  kIndexCompressorKv,
  kIndexCompressorScore,
};

// One copy: `bytes` bytes of field `field` of layer `layer` (from its start) to or from `buffer` of
// that layer's device state at byte `offset`. Layers [0, n_layers) are the main layers, layer
// n_layers + m is MTP block m (StateLayers).
struct StateCopy {
  int64_t layer = 0;
  StateField field = StateField::kWindow;
  SequenceBuffer buffer = SequenceBuffer::kCache;
  size_t offset = 0;
  size_t bytes = 0;
};

// The compressed-entry slots a device sequence of `context` positions keeps for a layer of
// compress ratio `ratio` (> 0): context / ratio, and at least one (a context shorter than the
// ratio fills none, but the device step wants a buffer).
inline int64_t CompressedEntrySlots(int64_t context, int ratio) {
  return context / ratio > 1 ? context / ratio : 1;
}

// The layers a state copy plan numbers: the main layers, then the MTP blocks.
inline int64_t StateLayers(const ModelConfig& config) {
  return config.n_layers + config.n_mtp_layers;
}

// The size in bytes of `buffer` of layer `layer` (main layers, then MTP blocks) in a device
// sequence of `context` positions for `config` (what DeviceAttentionState::Create allocates through
// UploadModel(..., context)); 0 for a buffer the layer does not have.
size_t SequenceBufferBytes(const ModelConfig& config, int64_t context, int64_t layer,
                           SequenceBuffer buffer);

// Whether `state` is a state of `config`'s model that a device sequence of `context` positions
// can hold: the layer and MTP block counts, each layer's ratio and head sizes, its window, a
// compressed entry and an indexer key per complete block of pos (an MTP block's: of mtp_pos), the
// compressors' slots and widths, and pos, mtp_pos <= context. The error names the layer and the
// field, what it has and what the model needs.
Expected<Ok, std::string> CheckStateFitsDevice(const ModelConfig& config, int64_t context,
                                               const forward::SequenceState& state);

// The copies between `state`'s layers (main and MTP) and a device sequence of `context` positions
// (both directions use the same list). Every copy lies inside its buffer (SequenceBufferBytes) and
// no two overlap. Error: as CheckStateFitsDevice.
Expected<std::vector<StateCopy>, std::string> PlanStateCopies(const ModelConfig& config,
                                                              int64_t context,
                                                              const forward::SequenceState& state);

// The host bytes of `copy` in `state` (the field's data pointer).
const void* HostBytes(const forward::SequenceState& state, const StateCopy& copy);
void* HostBytes(forward::SequenceState& state, const StateCopy& copy);

// The host state a snapshot of a device sequence at `pos` (its MTP blocks at `mtp_pos`) fills:
// NewSequenceState(config) with the positions set and every layer's compressed entries and indexer
// keys sized for pos / ratio entries (an MTP block's: mtp_pos / ratio), zero until the copies fill
// them.
forward::SequenceState SnapshotShape(const ModelConfig& config, int64_t pos, int64_t mtp_pos = 0);

// A layer of `state` as the copy plans number them (main layers, then MTP blocks).
const forward::LayerState& StateLayer(const forward::SequenceState& state, int64_t layer);
forward::LayerState& StateLayer(forward::SequenceState& state, int64_t layer);

}  // namespace dsagent::engine::kernels::cuda
