#include "engine/forward/indexer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/forward/compressor.h"
#include "engine/forward/linear.h"
#include "engine/forward/numerics.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::forward {
namespace {

// The call's buffers, in a workspace of the calling thread kept between calls (as in
// attention.cc): a decode step allocates none of them once the thread has seen its sizes; buffers
// over kernels::kWorkspaceKeepBytes (prefill) are freed at the end of the call.
enum Slot : int { kQ, kPositions, kHeadWeights, kKv, kKvScore, kScore };
kernels::Workspace& IndexerWorkspace() { return kernels::ThreadWorkspaceFor<Slot>(); }

}  // namespace

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
  cx.ops.ScaleBf16(kernels::F32Rows(hw, rows, heads), head_scale);
}

void SelectEntries(const IndexerWeights& w, const ModelConfig& c, const Rope& rope,
                   const IndexerArgs& a, LayerState& state, const Compute& cx, EntryLists& lists) {
  const int64_t heads = c.index_n_heads, hd = c.index_head_dim, rows = a.rows;
  const int64_t ratio = state.ratio;
  kernels::Workspace& ws = IndexerWorkspace();
  IndexerRows p = a.projected;
  if (p.q == nullptr) {  // the projections, when the caller did not make them
    const int64_t width = state.index_compressor.width;
    int64_t* positions = ws.Get<int64_t>(kPositions, rows);
    std::iota(positions, positions + rows, a.start);
    float* q = ws.Get<float>(kQ, rows * heads * hd);
    float* hw = ws.Get<float>(kHeadWeights, rows * heads);
    float* kv = ws.Get<float>(kKv, rows * width);
    float* kv_score = ws.Get<float>(kKvScore, rows * width);
    IndexerProjections(w, c, rope, a.x, a.qr,
                       std::span<const int64_t>(positions, static_cast<size_t>(rows)), q, hw, kv,
                       kv_score, cx);
    p = IndexerRows{q, hw, kv, kv_score};
  }
  CompressProjected(w.compressor, rope, static_cast<float>(c.norm_eps), a.start, p.kv, p.score,
                    rows, state.index_compressor, state.index_keys, cx);

  // The keys are read in place (bf16 bits): the scan over them is the architecture's O(n) part,
  // nothing else here grows with the context.
  const uint16_t* keys = state.index_keys.data();
  // Row t's scores of the first n entries (the backend splits a decode step's entries over its
  // threads; inside the prefill's split below it runs on the calling thread).
  const auto score_entries = [&](int64_t t, int64_t n, float* score) {
    cx.ops.IndexerScores(kernels::F32Rows(p.q + t * heads * hd, heads, hd),
                         p.head_weights + t * heads, kernels::Bf16BitRows(keys, n, hd),
                         kernels::F32Rows(score, 1, n));
  };

  // Row t's list: the top-k of its visible entries; in the prefill layout, padded with -1 to the
  // same width for every row. The offsets are fixed before any row is selected, so the rows of a
  // prefill fill their parts of one array in parallel.
  const int64_t topk = c.index_topk;
  const int64_t prefill_slots = std::min<int64_t>(topk, (a.start + rows) / ratio);
  const auto visible = [&](int64_t t) { return (a.start + t + 1) / ratio; };
  lists.begin.resize(static_cast<size_t>(rows + 1));
  lists.begin[0] = 0;
  for (int64_t t = 0; t < rows; ++t) {
    const int64_t width = a.prefill_layout ? prefill_slots : std::min(topk, visible(t));
    lists.begin[static_cast<size_t>(t + 1)] = lists.begin[static_cast<size_t>(t)] + width;
  }
  lists.indices.resize(static_cast<size_t>(lists.begin[static_cast<size_t>(rows)]));
  const auto select = [&](int64_t t, const float* score) {
    int32_t* list = lists.indices.data() + lists.begin[static_cast<size_t>(t)];
    const int64_t width =
        lists.begin[static_cast<size_t>(t + 1)] - lists.begin[static_cast<size_t>(t)];
    const int64_t n = cx.ops.StableTopK(kernels::F32Rows(score, 1, visible(t)), topk, list);
    std::fill(list + n, list + width, -1);
  };
  if (rows == 1) {
    // A decode step.
    float* score = ws.Get<float>(kScore, visible(0));
    score_entries(0, visible(0), score);
    select(0, score);
    ws.Trim(kernels::kWorkspaceKeepBytes);
    return;
  }
  cx.pool.ParallelFor(rows, 4, [&](int64_t begin, int64_t end) {
    // The running thread's own workspace; the widest row of the range is its last.
    float* score = IndexerWorkspace().Get<float>(kScore, visible(end - 1));
    for (int64_t t = begin; t < end; ++t) {
      score_entries(t, visible(t), score);
      select(t, score);
    }
  });
  ws.Trim(kernels::kWorkspaceKeepBytes);
}

}  // namespace dsagent::engine::forward
