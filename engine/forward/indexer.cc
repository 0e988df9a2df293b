#include "engine/forward/indexer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/forward/compressor.h"
#include "engine/forward/linear.h"
#include "engine/forward/numerics.h"
#include "engine/forward/quant_sim.h"

namespace dsagent::engine::forward {

std::vector<std::vector<int32_t>> SelectEntries(const IndexerWeights& w, const ModelConfig& c,
                                                const Rope& rope, const IndexerArgs& a,
                                                LayerState& state, const Compute& cx) {
  const int64_t heads = c.index_n_heads, hd = c.index_head_dim, rows = a.rows;
  const int64_t ratio = state.ratio;
  // Queries: wq_b . qr, RoPE, Hadamard, FP4.
  std::vector<float> q(static_cast<size_t>(rows * heads * hd));
  Linear(w.wq_b, a.qr, rows, q.data(), InputQuant::kFp8Per128, Round::kBF16, cx);
  for (int64_t t = 0; t < rows; ++t) {
    float* qt = q.data() + t * heads * hd;
    rope.Rotate(qt, heads, hd, hd, a.start + t, /*inverse=*/false);
    for (int64_t h = 0; h < heads; ++h) {
      HadamardRotateBf16(qt + h * hd, hd);
      QuantizeFp4Blocks(qt + h * hd, hd, 32);
    }
  }
  Compress(w.compressor, rope, static_cast<float>(c.norm_eps), a.start, a.x, rows,
           state.index_compressor, state.index_keys, cx);
  // Head weights: bf16(weights_proj . x) * (hd^-0.5 * heads^-0.5), rounded to bf16.
  std::vector<float> hw(static_cast<size_t>(rows * heads));
  Linear(w.weights_proj, a.x, rows, hw.data(), InputQuant::kNone, Round::kBF16, cx);
  const float head_scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5) *
                                              std::pow(static_cast<double>(heads), -0.5));
  for (float& v : hw) v = RoundBf16(v * head_scale);

  const int64_t n_keys = static_cast<int64_t>(state.index_keys.size()) / hd;
  std::vector<float> keys(static_cast<size_t>(n_keys * hd));
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = Bf16BitsToFloat(state.index_keys[i]);

  const int64_t topk = c.index_topk;
  const int64_t prefill_slots = std::min<int64_t>(topk, (a.start + rows) / ratio);
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(rows));
  cx.pool.ParallelFor(rows, 4, [&](int64_t begin, int64_t end) {
    std::vector<float> score;
    std::vector<int32_t> order;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t visible = (a.start + t + 1) / ratio;
      score.assign(static_cast<size_t>(visible), 0.0f);
      const float* qt = q.data() + t * heads * hd;
      for (int64_t e = 0; e < visible; ++e) {
        double sum = 0;
        for (int64_t h = 0; h < heads; ++h) {
          double dot = 0;
          for (int64_t d = 0; d < hd; ++d) {
            dot += static_cast<double>(qt[h * hd + d]) * keys[static_cast<size_t>(e * hd + d)];
          }
          const float s = std::max(0.0f, RoundBf16(dot));
          sum += RoundBf16(s * hw[static_cast<size_t>(t * heads + h)]);
        }
        score[static_cast<size_t>(e)] = RoundBf16(sum);
      }
      order.resize(static_cast<size_t>(visible));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int32_t x, int32_t y) {
        return score[static_cast<size_t>(x)] > score[static_cast<size_t>(y)];
      });
      const int64_t keep = std::min<int64_t>(topk, visible);
      std::vector<int32_t>& list = out[static_cast<size_t>(t)];
      list.assign(order.begin(), order.begin() + keep);
      if (a.prefill_layout) list.resize(static_cast<size_t>(prefill_slots), -1);
    }
  });
  return out;
}

}  // namespace dsagent::engine::forward
