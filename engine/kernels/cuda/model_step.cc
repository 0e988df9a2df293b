#include "engine/kernels/cuda/model_step.h"

#include <stdexcept>
#include <string>
#include <utility>

namespace dsagent::engine::kernels::cuda {

DeviceModel DeviceModel::Create(const HcKernelShape& hc, const WeightRows& embed, int64_t vocab,
                                std::vector<DeviceBlock> layers, DeviceHead head,
                                CudaStream& stream) {
  if (embed.cols != hc.dim || vocab <= 0) {
    throw std::invalid_argument("DeviceModel: the embedding has " + std::to_string(embed.cols) +
                                " columns, the streams " + std::to_string(hc.dim));
  }
  DeviceModel m;
  m.hc = hc;
  m.vocab = vocab;
  m.embed = DeviceWeight::Upload(embed, vocab, stream);
  m.layers = std::move(layers);
  m.head = std::move(head);
  m.h = DeviceBuffer(static_cast<size_t>(hc.hc * hc.dim) * sizeof(float));
  return m;
}

void ModelDecode(DeviceModel& m, const int32_t* token, int64_t pos, float* logits,
                 CudaStream& stream) {
  float* h = m.h.as<float>();
  EmbedToStreams(m.embed, token, m.hc.hc, h, stream);
  for (DeviceBlock& b : m.layers) BlockDecode(b, h, pos, token, stream);
  HeadDecode(m.head, h, logits, stream);
}

}  // namespace dsagent::engine::kernels::cuda
