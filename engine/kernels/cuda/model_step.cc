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
  m.h = DeviceBuffer(static_cast<size_t>(hc.hc * hc.dim) * sizeof(float));
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

void ModelDecode(DeviceModel& m, DeviceSequence& seq, const int32_t* token, float* logits,
                 CudaStream& stream) {
  if (seq.layers.size() != m.layers.size()) {
    throw std::out_of_range("ModelDecode: the sequence has " + std::to_string(seq.layers.size()) +
                            " layers, the model " + std::to_string(m.layers.size()));
  }
  if (seq.pos >= m.context) {
    throw std::out_of_range("ModelDecode: the sequence is full (" + std::to_string(m.context) +
                            " positions)");
  }
  float* h = m.h.as<float>();
  EmbedToStreams(m.embed, token, m.hc.hc, h, stream);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    BlockDecode(m.layers[i], seq.layers[i], h, seq.pos, token, stream);
  }
  HeadDecode(m.head, h, logits, stream);
  ++seq.pos;
}

}  // namespace dsagent::engine::kernels::cuda
