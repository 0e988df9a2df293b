#include "engine/forward/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace dsagent::engine::forward {
namespace {

// YaRN correction range (Python floats in the reference).
double CorrectionDim(double rotations, double dim, double base, double max_seq_len) {
  return dim * std::log(max_seq_len / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
}

}  // namespace

Rope::Rope(const ModelConfig& c, bool compressed_layer) : rope_dims_(c.rope_head_dim) {
  const double base = compressed_layer ? c.compress_rope_theta : c.rope_theta;
  const int64_t original = compressed_layer ? c.original_seq_len : 0;
  const int64_t half = rope_dims_ / 2;
  const float dim = static_cast<float>(rope_dims_);
  freqs_.resize(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / dim;
    const float p = static_cast<float>(
        std::pow(static_cast<double>(static_cast<float>(base)), static_cast<double>(exponent)));
    freqs_[static_cast<size_t>(i)] = 1.0f / p;
  }
  if (original > 0) {
    const double rd = static_cast<double>(rope_dims_), L = static_cast<double>(original);
    double low = std::floor(CorrectionDim(c.beta_fast, rd, base, L));
    double high = std::ceil(CorrectionDim(c.beta_slow, rd, base, L));
    low = std::max(low, 0.0);
    high = std::min(high, rd - 1);
    if (low == high) high += 0.001;
    const float flow = static_cast<float>(low), frange = static_cast<float>(high - low);
    const float factor = static_cast<float>(c.rope_factor);
    for (int64_t i = 0; i < half; ++i) {
      const float ramp = std::clamp((static_cast<float>(i) - flow) / frange, 0.0f, 1.0f);
      const float smooth = 1.0f - ramp;
      float& f = freqs_[static_cast<size_t>(i)];
      f = f / factor * (1.0f - smooth) + f * smooth;
    }
  }
}

}  // namespace dsagent::engine::forward
