#include "engine/forward/indexer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/forward/compressor.h"
#include "engine/forward/linear.h"
#include "engine/forward/numerics.h"

namespace dsagent::engine::forward {

std::vector<std::vector<int32_t>> SelectEntries(const IndexerWeights& w, const ModelConfig& c,
                                                const Rope& rope, const IndexerArgs& a,
                                                LayerState& state, const Compute& cx) {
  const int64_t heads = c.index_n_heads, hd = c.index_head_dim, rows = a.rows;
  const int64_t ratio = state.ratio;
  // Queries: wq_b . qr, RoPE, Hadamard, FP4.
  std::vector<float> q(static_cast<size_t>(rows * heads * hd));
  Linear(w.wq_b, a.qr, rows, q.data(), InputQuant::kFp8Per128, Round::kBF16, cx);
  std::vector<int64_t> positions(static_cast<size_t>(rows));
  std::iota(positions.begin(), positions.end(), a.start);
  cx.ops.RopeRotate(kernels::F32Rows(q.data(), rows * heads, hd), rope.frequencies(), positions,
                    /*inverse=*/false);
  cx.ops.HadamardBf16(kernels::F32Rows(q.data(), rows * heads, hd));
  cx.ops.ActQuantFp4(kernels::F32Rows(q.data(), rows * heads, hd), 32);
  Compress(w.compressor, rope, static_cast<float>(c.norm_eps), a.start, a.x, rows,
           state.index_compressor, state.index_keys, cx);
  // Head weights: bf16(weights_proj . x) * (hd^-0.5 * heads^-0.5), rounded to bf16.
  std::vector<float> hw(static_cast<size_t>(rows * heads));
  Linear(w.weights_proj, a.x, rows, hw.data(), InputQuant::kNone, Round::kBF16, cx);
  const float head_scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5) *
                                              std::pow(static_cast<double>(heads), -0.5));
  for (float& v : hw) v = RoundBf16(v * head_scale);

  // The keys are read in place (bf16 bits): the scan over them is the architecture's O(n) part,
  // nothing else here grows with the context.
  const uint16_t* keys = state.index_keys.data();
  // Row t's scores of the first n entries (the backend splits a decode step's entries over its
  // threads; inside the prefill's split below it runs on the calling thread).
  const auto score_entries = [&](int64_t t, int64_t n, float* score) {
    cx.ops.IndexerScores(kernels::F32Rows(q.data() + t * heads * hd, heads, hd),
                         hw.data() + t * heads, kernels::Bf16BitRows(keys, n, hd),
                         kernels::F32Rows(score, 1, n));
  };

  const int64_t topk = c.index_topk;
  const int64_t prefill_slots = std::min<int64_t>(topk, (a.start + rows) / ratio);
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(rows));
  // The stable top-k of one row's scores.
  const auto select = [&](int64_t t, const std::vector<float>& score) {
    std::vector<int32_t>& list = out[static_cast<size_t>(t)];
    const int64_t n = static_cast<int64_t>(score.size());
    list.resize(static_cast<size_t>(std::min(topk, n)));
    cx.ops.StableTopK(kernels::F32Rows(score.data(), 1, n), topk, list.data());
    if (a.prefill_layout) list.resize(static_cast<size_t>(prefill_slots), -1);
  };
  if (rows == 1) {
    // A decode step.
    std::vector<float> score(static_cast<size_t>((a.start + 1) / ratio));
    score_entries(0, static_cast<int64_t>(score.size()), score.data());
    select(0, score);
    return out;
  }
  cx.pool.ParallelFor(rows, 4, [&](int64_t begin, int64_t end) {
    std::vector<float> score;
    for (int64_t t = begin; t < end; ++t) {
      score.assign(static_cast<size_t>((a.start + t + 1) / ratio), 0.0f);
      score_entries(t, static_cast<int64_t>(score.size()), score.data());
      select(t, score);
    }
  });
  return out;
}

}  // namespace dsagent::engine::forward
