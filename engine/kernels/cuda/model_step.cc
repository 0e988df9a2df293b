#include "engine/kernels/cuda/model_step.h"

#include <stdexcept>
#include <string>
#include <utility>

namespace dsagent::engine::kernels::cuda {

DeviceModel DeviceModel::Create(const HcKernelShape& hc, const WeightRows& embed, int64_t vocab,
                                int64_t context, std::vector<DeviceBlock> layers, DeviceHead head,
                                CudaStream& stream) {
  if (embed.cols != hc.dim || vocab <= 0) {
    throw std::invalid_argument("DeviceModel: the embedding has " + std::to_string(embed.cols) +
                                " columns, the streams " + std::to_string(hc.dim));
  }
  DeviceModel m;
  m.hc = hc;
  m.vocab = vocab;
  m.context = context;
  m.embed = DeviceWeight::Upload(embed, vocab, stream);
  m.layers = std::move(layers);
  m.head = std::move(head);
  m.h = DeviceFloats(hc.hc * hc.dim);
  return m;
}

DeviceSequence DeviceSequence::Create(const DeviceModel& m, CudaStream& stream) {
  DeviceSequence seq;
  seq.layers.reserve(m.layers.size());
  for (const DeviceBlock& b : m.layers) {
    seq.layers.push_back(DeviceAttentionState::Create(b.attn, stream));
  }
  for (const DeviceMtp& mtp : m.mtp) {
    seq.mtp.push_back(DeviceAttentionState::Create(mtp.block.attn, stream));
  }
  return seq;
}

void DeviceSequence::Reset(const DeviceModel& m, CudaStream& stream) {
  for (size_t i = 0; i < layers.size(); ++i) layers[i].Reset(m.layers[i].attn, stream);
  for (size_t i = 0; i < mtp.size(); ++i) mtp[i].Reset(m.mtp[i].block.attn, stream);
  pos = 0;
  mtp_pos = 0;
}

DeviceMoe* FirstStreamingMoe(DeviceModel& m) {
  for (DeviceBlock& b : m.layers) {
    if (b.ffn.stream_pools != nullptr) return &b.ffn;
  }
  return nullptr;
}

void ModelDecode(DeviceModel& m, DeviceSequence& seq, const int32_t* token, float* logits,
                 CudaStream& stream) {
  // One piece of every layer, queued as it comes.
  const DecodePieces all{static_cast<int64_t>(m.layers.size()) + 1,
                         [](int64_t, const std::function<void()>& launches) { launches(); }};
  ModelDecodePieces(m, seq, token, logits, all, stream);
}

void ModelDecodePieces(DeviceModel& m, DeviceSequence& seq, const int32_t* token, float* logits,
                       const DecodePieces& pieces, CudaStream& stream) {
  if (seq.layers.size() != m.layers.size()) {
    throw std::out_of_range("ModelDecode: the sequence has " + std::to_string(seq.layers.size()) +
                            " layers, the model " + std::to_string(m.layers.size()));
  }
  if (seq.pos >= m.context) {
    throw std::out_of_range("ModelDecode: the sequence is full (" + std::to_string(m.context) +
                            " positions)");
  }
  if (pieces.layers_per_piece < 1) throw std::out_of_range("ModelDecode: empty pieces");
  float* h = m.h.as<float>();
  const int64_t layers = static_cast<int64_t>(m.layers.size()), pos = seq.pos;
  const std::vector<PieceLayers> all = PiecesOf(layers, pieces.layers_per_piece);
  for (size_t p = 0; p < all.size(); ++p) {
    pieces.queue(static_cast<int64_t>(p), [&] {
      if (p == 0) EmbedToStreams(m.embed, token, m.hc.hc, h, stream);
      // Each block but the last leaves its MoE combine to the next one's first launch.
      for (int64_t i = all[p].first; i < all[p].end; ++i) {
        BlockDecode(m.layers[static_cast<size_t>(i)], seq.layers[static_cast<size_t>(i)], h, pos,
                    token, stream, i > 0 ? &m.layers[static_cast<size_t>(i - 1)] : nullptr,
                    i + 1 < layers);
      }
      if (p + 1 == all.size()) HeadDecode(m.head, h, logits, stream);
    });
  }
  ++seq.pos;
}

}  // namespace dsagent::engine::kernels::cuda
