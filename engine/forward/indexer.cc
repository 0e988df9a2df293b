#include "engine/forward/indexer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/forward/compressor.h"
#include "engine/forward/linear.h"
#include "engine/forward/numerics.h"
#include "engine/kernels/cpu/weight_dot.h"

namespace dsagent::engine::forward {

void IndexerScores(const float* q, const float* head_weights, int64_t heads, int64_t hd,
                   const uint16_t* keys, int64_t e0, int64_t e1, float* score) {
  // The dots run through the SIMD row kernel in double: q is on the FP4 grid and K is bf16, so
  // every product is exact and the sums are those of the scalar loop (kernels/cpu/weight_dot.h).
  // Entries go in tiles whose keys stay in cache while every head reads them.
  const kernels::CpuIsa isa = kernels::ActiveCpuIsa();
  const kernels::WeightRows key_rows{kernels::WeightFormat::kBF16,
                                     reinterpret_cast<const uint8_t*>(keys), nullptr, hd, 0};
  constexpr int64_t kTile = 256;
  thread_local std::vector<kernels::DotInput> queries;
  thread_local std::vector<double> dots;
  queries.resize(static_cast<size_t>(heads));
  for (int64_t h = 0; h < heads; ++h) queries[static_cast<size_t>(h)].Prepare(q + h * hd, hd);
  dots.resize(static_cast<size_t>(heads * kTile));
  for (int64_t tile = e0; tile < e1; tile += kTile) {
    const int64_t n = std::min(kTile, e1 - tile);
    for (int64_t h = 0; h < heads; ++h) {
      kernels::WeightRowDots(isa, key_rows, tile, n, queries[static_cast<size_t>(h)],
                             dots.data() + h * kTile);
    }
    for (int64_t i = 0; i < n; ++i) {
      double sum = 0;
      for (int64_t h = 0; h < heads; ++h) {
        const float s = std::max(0.0f, RoundBf16(dots[static_cast<size_t>(h * kTile + i)]));
        sum += RoundBf16(s * head_weights[h]);
      }
      score[tile - e0 + i] = RoundBf16(sum);
    }
  }
}

void StableTopK(const float* score, int64_t n, int64_t k, std::vector<int32_t>& order,
                std::vector<int32_t>& out) {
  order.resize(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t x, int32_t y) { return score[x] > score[y]; });
  out.assign(order.begin(), order.begin() + std::min(k, n));
}

void IndexerProjections(const IndexerWeights& w, const ModelConfig& c, const Rope& rope,
                        const float* x, const float* qr, std::span<const int64_t> positions,
                        float* q, float* hw, float* kv, float* score, const Compute& cx) {
  const int64_t heads = c.index_n_heads, hd = c.index_head_dim;
  const int64_t rows = static_cast<int64_t>(positions.size());
  // Queries: wq_b . qr, RoPE, Hadamard, FP4.
  Linear(w.wq_b, qr, rows, q, InputQuant::kFp8Per128, Round::kBF16, cx);
  cx.ops.RopeRotate(kernels::F32Rows(q, rows * heads, hd), rope.frequencies(), positions,
                    /*inverse=*/false);
  cx.ops.HadamardBf16(kernels::F32Rows(q, rows * heads, hd));
  cx.ops.ActQuantFp4(kernels::F32Rows(q, rows * heads, hd), 32);
  CompressorProjections(w.compressor, x, rows, kv, score, cx);
  // Head weights: bf16(weights_proj . x) * (hd^-0.5 * heads^-0.5), rounded to bf16.
  Linear(w.weights_proj, x, rows, hw, InputQuant::kNone, Round::kBF16, cx);
  const float head_scale = static_cast<float>(std::pow(static_cast<double>(hd), -0.5) *
                                              std::pow(static_cast<double>(heads), -0.5));
  for (int64_t i = 0; i < rows * heads; ++i) hw[i] = RoundBf16(hw[i] * head_scale);
}

std::vector<std::vector<int32_t>> SelectEntries(const IndexerWeights& w, const ModelConfig& c,
                                                const Rope& rope, const IndexerArgs& a,
                                                LayerState& state, const Compute& cx) {
  const int64_t heads = c.index_n_heads, hd = c.index_head_dim, rows = a.rows;
  const int64_t ratio = state.ratio;
  IndexerRows p = a.projected;
  std::vector<float> q, hw, kv, kv_score;  // the projections, when the caller did not make them
  if (p.q == nullptr) {
    const int64_t width = state.index_compressor.width;
    q.resize(static_cast<size_t>(rows * heads * hd));
    hw.resize(static_cast<size_t>(rows * heads));
    kv.resize(static_cast<size_t>(rows * width));
    kv_score.resize(kv.size());
    std::vector<int64_t> positions(static_cast<size_t>(rows));
    std::iota(positions.begin(), positions.end(), a.start);
    IndexerProjections(w, c, rope, a.x, a.qr, positions, q.data(), hw.data(), kv.data(),
                       kv_score.data(), cx);
    p = IndexerRows{q.data(), hw.data(), kv.data(), kv_score.data()};
  }
  CompressProjected(w.compressor, rope, static_cast<float>(c.norm_eps), a.start, p.kv, p.score,
                    rows, state.index_compressor, state.index_keys, cx);

  // The keys are read in place (bf16 bits): the scan over them is the architecture's O(n) part,
  // nothing else here grows with the context.
  const uint16_t* keys = state.index_keys.data();
  const auto score_entries = [&](int64_t t, int64_t e0, int64_t e1, float* score) {
    IndexerScores(p.q + t * heads * hd, p.head_weights + t * heads, heads, hd, keys, e0, e1,
                  score + e0);
  };

  const int64_t topk = c.index_topk;
  const int64_t prefill_slots = std::min<int64_t>(topk, (a.start + rows) / ratio);
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(rows));
  // The stable top-k of one row's scores.
  const auto select = [&](int64_t t, const std::vector<float>& score, std::vector<int32_t>& order) {
    std::vector<int32_t>& list = out[static_cast<size_t>(t)];
    StableTopK(score.data(), static_cast<int64_t>(score.size()), topk, order, list);
    if (a.prefill_layout) list.resize(static_cast<size_t>(prefill_slots), -1);
  };
  if (rows == 1) {
    // A decode step: the entries are split across the threads (each score is computed by one
    // thread with the same arithmetic, so the result does not depend on the split).
    std::vector<float> score(static_cast<size_t>((a.start + 1) / ratio));
    cx.pool.ParallelFor(static_cast<int64_t>(score.size()), 16, [&](int64_t begin, int64_t end) {
      score_entries(0, begin, end, score.data());
    });
    std::vector<int32_t> order;
    select(0, score, order);
    return out;
  }
  cx.pool.ParallelFor(rows, 4, [&](int64_t begin, int64_t end) {
    std::vector<float> score;
    std::vector<int32_t> order;
    for (int64_t t = begin; t < end; ++t) {
      score.assign(static_cast<size_t>((a.start + t + 1) / ratio), 0.0f);
      score_entries(t, 0, static_cast<int64_t>(score.size()), score.data());
      select(t, score, order);
    }
  });
  return out;
}

}  // namespace dsagent::engine::forward
