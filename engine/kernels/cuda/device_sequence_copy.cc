#include "engine/kernels/cuda/device_sequence_copy.h"

#include <vector>

#include "engine/kernels/cuda/sequence_state_layout.h"

namespace dsagent::engine::kernels::cuda {
namespace {

// The device buffer `buffer` of layer `layer` (sequence_state_layout.h's numbering); throws
// CudaError when the layer's state lacks it (a sequence made for another model) or its size is
// not the layout's (the two would disagree on offsets). (Seq: DeviceSequence, const for a
// snapshot.)
template <class Seq>
auto& BufferOf(Seq& seq, int64_t layer, SequenceBuffer buffer, const ModelConfig& config,
               int64_t context) {
  const auto main = static_cast<int64_t>(seq.layers.size());
  auto& st = layer < main ? seq.layers[static_cast<size_t>(layer)]
                          : seq.mtp[static_cast<size_t>(layer - main)];
  decltype(&st.cache) b = nullptr;
  switch (buffer) {
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
  const std::string where = "device sequence layer " + std::to_string(layer);
  if (b == nullptr) throw CudaError(where + ": a buffer the host state needs is missing");
  const size_t need = SequenceBufferBytes(config, context, layer, buffer);
  if (b->bytes() != need) {
    throw CudaError(where + ": a buffer of " + std::to_string(b->bytes()) +
                    " bytes, the host layout's is " + std::to_string(need) +
                    " (model_step.h and sequence_state_layout.h disagree)");
  }
  return *b;
}

}  // namespace

void CheckLayers(const DeviceModel& m, const DeviceSequence& seq, const ModelConfig& config) {
  if (seq.layers.size() != m.layers.size() ||
      static_cast<int64_t>(m.layers.size()) != config.n_layers || seq.mtp.size() != m.mtp.size() ||
      static_cast<int64_t>(m.mtp.size()) != config.n_mtp_layers) {
    throw CudaError("device sequence: " + std::to_string(seq.layers.size()) + " layers and " +
                    std::to_string(seq.mtp.size()) + " MTP blocks, the device model " +
                    std::to_string(m.layers.size()) + " and " + std::to_string(m.mtp.size()) +
                    ", the config " + std::to_string(config.n_layers) + " and " +
                    std::to_string(config.n_mtp_layers));
  }
}

DeviceBuffer& SequenceBufferOf(DeviceSequence& seq, int64_t layer, SequenceBuffer buffer,
                               const ModelConfig& config, int64_t context) {
  return BufferOf(seq, layer, buffer, config, context);
}

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
    BufferOf(seq, copy.layer, copy.buffer, config, m.context)
        .UploadAt(copy.offset, HostBytes(state, copy), copy.bytes, stream);
  }
  stream.Synchronize();  // the host state may go once this returns
  seq.pos = state.pos;
  seq.mtp_pos = state.mtp_pos;
  return Ok{};
}

forward::SequenceState SnapshotSequence(const DeviceModel& m, const ModelConfig& config,
                                        const DeviceSequence& seq, CudaStream& stream) {
  CheckLayers(m, seq, config);
  forward::SequenceState state = SnapshotShape(config, seq.pos, seq.mtp_pos);
  auto copies = PlanStateCopies(config, m.context, state);
  if (!copies) throw CudaError("device sequence snapshot: " + copies.error());
  for (const StateCopy& copy : *copies) {
    BufferOf(seq, copy.layer, copy.buffer, config, m.context)
        .DownloadAt(copy.offset, HostBytes(state, copy), copy.bytes, stream);
  }
  stream.Synchronize();
  return state;
}

}  // namespace dsagent::engine::kernels::cuda
