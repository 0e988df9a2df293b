#include "engine/kernels/cuda/indexer_step.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "engine/kernels/cuda/attention_ops.h"
#include "engine/kernels/cuda/indexer_ops.h"

namespace dsagent::engine::kernels::cuda {

DeviceIndexer DeviceIndexer::Create(const IndexerShape& shape, const WeightRows& wq_b,
                                    const WeightRows& weights_proj, const std::vector<float>& freqs,
                                    DeviceCompressor compressor, CudaStream& stream) {
  const auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("DeviceIndexer: " + what);
  };
  need(shape.heads > 0 && shape.head_dim > 0 && shape.ratio > 0 && shape.capacity >= 0,
       "heads, head_dim and ratio must be positive");
  need(shape.topk > 0 && shape.topk <= 4096, "topk must be 1..4096");
  need(static_cast<int64_t>(freqs.size()) == shape.rope_dims / 2,
       "freqs must have rope_dims / 2 values");
  need(wq_b.cols % 128 == 0, "wq_b's input (q_lora_rank) must split into FP8 blocks of 128");
  need(compressor.shape.head_dim == shape.head_dim && compressor.shape.rotate &&
           compressor.shape.ratio == shape.ratio,
       "the compressor must be the indexer's (same head_dim and ratio, rotate)");
  DeviceIndexer ix;
  ix.shape = shape;
  ix.wq_b = DeviceWeight::Upload(wq_b, shape.heads * shape.head_dim, stream);
  ix.weights_proj = DeviceWeight::Upload(weights_proj, shape.heads, stream);
  ix.freqs = DeviceBuffer(freqs.size() * sizeof(float));
  ix.freqs.Upload(freqs.data(), ix.freqs.bytes(), stream);
  stream.Synchronize();
  ix.compressor = std::move(compressor);
  ix.q_input = DeviceBuffer(static_cast<size_t>(wq_b.cols) * sizeof(float));
  ix.q = DeviceBuffer(static_cast<size_t>(shape.heads * shape.head_dim) * sizeof(float));
  ix.head_weights = DeviceBuffer(static_cast<size_t>(shape.heads) * sizeof(float));
  ix.scores = DeviceBuffer(static_cast<size_t>(shape.capacity) * sizeof(float));
  return ix;
}

DeviceIndexerState DeviceIndexerState::Create(const DeviceIndexer& ix, CudaStream& stream) {
  DeviceIndexerState st;
  st.keys =
      DeviceBuffer(static_cast<size_t>(ix.shape.capacity * ix.shape.head_dim) * sizeof(uint16_t));
  st.compressor = DeviceCompressorState::Create(ix.compressor.shape, stream);
  st.Reset(ix, stream);
  stream.Synchronize();
  return st;
}

void DeviceIndexerState::Reset(const DeviceIndexer& ix, CudaStream& stream) {
  // Zeroed keys: a snapshot's unused rows are then the host's (never read either way).
  keys.Zero(stream);
  compressor.Reset(ix.compressor.shape, stream);
}

int64_t IndexerSelect(DeviceIndexer& ix, DeviceIndexerState& state, const float* x, const float* qr,
                      int64_t pos, int32_t* selected, CudaStream& stream) {
  const IndexerShape& s = ix.shape;
  const int64_t visible = (pos + 1) / s.ratio;
  if (visible > s.capacity) {
    throw CudaError("IndexerSelect: position " + std::to_string(pos) + " needs " +
                    std::to_string(visible) + " keys, the device holds " +
                    std::to_string(s.capacity));
  }
  // Queries: act_quant(qr) . wq_b^T (bf16), RoPE, Hadamard, FP4 per 32.
  const int64_t rank = ix.wq_b.cols, hd = s.head_dim;
  float* q_input = ix.q_input.as<float>();
  float* q = ix.q.as<float>();
  CopyDeviceToDevice(q_input, qr, static_cast<size_t>(rank) * sizeof(float), stream);
  ActQuant(q_input, 1, rank, 128, ActQuantFormat::kFp8, stream);
  MatVec(ix.wq_b, q_input, 1, rank, q, s.heads * hd, /*round_bf16=*/true, stream);
  RopeRotate(q, s.heads, hd, hd, s.rope_dims, ix.freqs.as<float>(), pos, false, stream);
  HadamardRotate(q, s.heads, hd, stream);
  ActQuant(q, s.heads, hd, 32, ActQuantFormat::kFp4, stream);
  // Keys: the compressor appends entry pos / ratio when pos ends a block.
  CompressToken(ix.compressor, state.compressor, x, pos, state.keys.as<uint16_t>(), stream);
  // Head weights: bf16(weights_proj . x), times hd^-0.5 * heads^-0.5, bf16.
  float* hw = ix.head_weights.as<float>();
  MatVec(ix.weights_proj, x, 1, ix.weights_proj.cols, hw, s.heads, /*round_bf16=*/true, stream);
  const float head_scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5) *
                                              std::pow(static_cast<double>(s.heads), -0.5));
  ScaleToBf16(hw, s.heads, head_scale, stream);
  if (visible == 0) return 0;
  IndexerScores(q, hw, s.heads, hd, state.keys.as<uint16_t>(), visible, ix.scores.as<float>(),
                stream);
  TopK(ix.scores.as<float>(), 1, visible, s.topk, selected, stream);
  return visible < s.topk ? visible : s.topk;
}

}  // namespace dsagent::engine::kernels::cuda
