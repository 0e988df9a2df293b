#include "engine/kernels/cuda/device_sequence_copy.h"

#include <vector>

#include "engine/kernels/cuda/sequence_state_layout.h"

namespace dsagent::engine::kernels::cuda {
namespace {

// The device buffer a copy names; throws CudaError when the layer's state lacks it (a sequence
// made for another model) or its size is not the layout's (the two would disagree on offsets).
// (State: DeviceAttentionState, const for a snapshot.)
template <class State>
auto& BufferOf(State& st, const StateCopy& copy, const ModelConfig& config, int64_t context) {
  decltype(&st.cache) b = nullptr;
  switch (copy.buffer) {
    case SequenceBuffer::kCache:
      b = &st.cache;
      break;
    case SequenceBuffer::kCompressorKv:
      if (st.compressor) b = &st.compressor->kv;
      break;
    case SequenceBuffer::kCompressorScore:
      if (st.compressor) b = &st.compressor->score;
      break;
    case SequenceBuffer::kIndexKeys:
      if (st.indexer) b = &st.indexer->keys;
      break;
    case SequenceBuffer::kIndexCompressorKv:
      if (st.indexer) b = &st.indexer->compressor.kv;
      break;
    case SequenceBuffer::kIndexCompressorScore:
      if (st.indexer) b = &st.indexer->compressor.score;
      break;
  }
  const std::string where = "device sequence layer " + std::to_string(copy.layer);
  if (b == nullptr) throw CudaError(where + ": a buffer the host state needs is missing");
  const size_t need = SequenceBufferBytes(config, context, copy.layer, copy.buffer);
  if (b->bytes() != need) {
    throw CudaError(where + ": a buffer of " + std::to_string(b->bytes()) +
                    " bytes, the host layout's is " + std::to_string(need) +
                    " (model_step.h and sequence_state_layout.h disagree)");
  }
  return *b;
}

void CheckLayers(const DeviceModel& m, const DeviceSequence& seq, const ModelConfig& config) {
  if (seq.layers.size() != m.layers.size() ||
      static_cast<int64_t>(m.layers.size()) != config.n_layers) {
    throw CudaError("device sequence: " + std::to_string(seq.layers.size()) +
                    " layers, the device model " + std::to_string(m.layers.size()) +
                    ", the config " + std::to_string(config.n_layers));
  }
}

}  // namespace

Expected<Ok, std::string> RestoreSequence(const DeviceModel& m, const ModelConfig& config,
                                          const forward::SequenceState& state, DeviceSequence& seq,
                                          CudaStream& stream) {
  auto copies = PlanStateCopies(config, m.context, state);
  if (!copies) return MakeUnexpected(copies.error());
  CheckLayers(m, seq, config);
  // Fresh first: the device rows the state does not cover (entries past pos / ratio) are then
  // zero, as after DeviceSequence::Create.
  seq.Reset(m, stream);
  for (const StateCopy& copy : *copies) {
    BufferOf(seq.layers[static_cast<size_t>(copy.layer)], copy, config, m.context)
        .UploadAt(copy.offset, HostBytes(state, copy), copy.bytes, stream);
  }
  stream.Synchronize();  // the host state may go once this returns
  seq.pos = state.pos;
  return Ok{};
}

forward::SequenceState SnapshotSequence(const DeviceModel& m, const ModelConfig& config,
                                        const DeviceSequence& seq, CudaStream& stream) {
  CheckLayers(m, seq, config);
  forward::SequenceState state = SnapshotShape(config, seq.pos);
  auto copies = PlanStateCopies(config, m.context, state);
  if (!copies) throw CudaError("device sequence snapshot: " + copies.error());
  for (const StateCopy& copy : *copies) {
    BufferOf(seq.layers[static_cast<size_t>(copy.layer)], copy, config, m.context)
        .DownloadAt(copy.offset, HostBytes(state, copy), copy.bytes, stream);
  }
  stream.Synchronize();
  return state;
}

}  // namespace dsagent::engine::kernels::cuda
