#include "engine/forward/sequence_state.h"

#include <limits>

namespace dsagent::engine::forward {
namespace {

CompressorState NewCompressorState(int ratio, int64_t head_dim) {
  const int64_t coff = ratio == 4 ? 2 : 1;
  CompressorState s;
  s.slots = coff * ratio;
  s.width = coff * head_dim;
  s.kv.assign(static_cast<size_t>(s.slots * s.width), 0.0f);
  s.score.assign(static_cast<size_t>(s.slots * s.width), -std::numeric_limits<float>::infinity());
  return s;
}

LayerState NewLayerState(const ModelConfig& c, int ratio) {
  LayerState l;
  l.ratio = ratio;
  l.head_dim = c.head_dim;
  l.rope_dims = c.rope_head_dim;
  l.window.assign(static_cast<size_t>(c.window_size * c.head_dim), 0);
  if (ratio > 0) l.kv_compressor = NewCompressorState(ratio, c.head_dim);
  if (ratio == 4) {
    l.index_head_dim = c.index_head_dim;
    l.index_compressor = NewCompressorState(ratio, c.index_head_dim);
  }
  return l;
}

}  // namespace

SequenceState NewSequenceState(const ModelConfig& c) {
  SequenceState s;
  for (int i = 0; i < c.n_layers; ++i) {
    s.layers.push_back(NewLayerState(c, c.compress_ratios[static_cast<size_t>(i)]));
  }
  for (int m = 0; m < c.n_mtp_layers; ++m) {
    s.mtp.push_back(NewLayerState(c, c.compress_ratios[static_cast<size_t>(c.n_layers + m)]));
  }
  return s;
}

}  // namespace dsagent::engine::forward
