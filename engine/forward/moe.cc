#include "engine/forward/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "engine/forward/linear.h"
#include "engine/forward/numerics.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::forward {
namespace {

// The call's buffers, in a workspace of the calling thread kept between calls (as in
// attention.cc): a decode step allocates none of them once the thread has seen its sizes; buffers
// over kernels::kWorkspaceKeepBytes (prefill) are freed at the end of the call.
enum Slot : int {
  kQuantised,
  kScores,
  kIds,
  kWeights,
  kHashIds,
  kRouted,
  kShared,
  kSlots,
  kXe,
  kWe,
  kYe,
  kG,
  kU
};
kernels::Workspace& MoeWorkspace() { return kernels::ThreadWorkspaceFor<Slot>(); }

// SwiGLU expert on n rows: out [n, dim] = w2 . bf16(weight * silu(g) * u), g = w1 . x, u = w3 . x
// (both bf16 from FP8-input GEMMs); `limit` > 0 clamps g from above and u on both sides.
// `xq` holds the rows already FP8-quantised (act_quant per 128): the quantisation is row-wise, so
// MoeForward quantises each token's row once for all its experts, w1 and w3 alike, instead of
// once per product; the products then see the same values and give the same bits.
void Expert(const ExpertWeights& e, const float* xq, int64_t n, const float* row_weight,
            float limit, float* out, const Compute& cx) {
  const int64_t inter = e.w1.rows;
  kernels::Workspace& ws = MoeWorkspace();
  float* g = ws.Get<float>(kG, n * inter);
  float* u = ws.Get<float>(kU, n * inter);
  Linear(e.w1, xq, n, g, InputQuant::kNone, Round::kBF16, cx);
  Linear(e.w3, xq, n, u, InputQuant::kNone, Round::kBF16, cx);
  cx.ops.SwiGlu(kernels::F32Rows(g, n, inter), kernels::F32Rows(u, n, inter), row_weight, limit);
  Linear(e.w2, g, n, out, InputQuant::kFp8Per128, Round::kBF16, cx);
}

// Router: per row the chosen expert ids and their weights (n_activated each): ids and weights
// [rows, n_activated].
void Route(const MoeWeights& w, const ModelConfig& c, const float* x, const int32_t* tokens,
           int64_t rows, int32_t* ids, float* weights, const Compute& cx) {
  const int64_t n_exp = c.n_routed_experts, k = c.n_activated_experts;
  kernels::Workspace& ws = MoeWorkspace();
  float* scores = ws.Get<float>(kScores, rows * n_exp);
  // Exact in both modes: the scores choose the top-k experts (Compute::Exact).
  Linear(w.gate, x, rows, scores, InputQuant::kNone, Round::kF32, cx.Exact());
  int32_t* hash_ids = nullptr;
  if (w.hash) {
    hash_ids = ws.Get<int32_t>(kHashIds, rows * k);
    const kernels::ConstView table(
        w.tid2eid->data,
        w.tid2eid->dtype == DType::kI64 ? kernels::ElemType::kI64 : kernels::ElemType::kI32,
        w.tid2eid->shape.front(), k);
    cx.ops.GatherHashIds(table, tokens, kernels::View(hash_ids, kernels::ElemType::kI32, rows, k));
  }
  RouterShape shape;
  shape.experts = n_exp;
  shape.k = k;
  shape.func = ScoreFuncOf(c.score_func);
  shape.route_scale = static_cast<float>(c.route_scale);
  cx.ops.MoeRoute(kernels::F32Rows(scores, rows, n_exp), shape, w.hash ? nullptr : w.bias.data(),
                  hash_ids, ids, weights);
}

}  // namespace

ScoreFunc ScoreFuncOf(const std::string& name) {
  if (name == "softmax") return ScoreFunc::kSoftmax;
  if (name == "sigmoid") return ScoreFunc::kSigmoid;
  return ScoreFunc::kSqrtSoftplus;  // the config accepts no other (model_config.cc)
}

void MoeForward(const MoeWeights& w, const ModelConfig& c, const float* x, const int32_t* tokens,
                int64_t rows, float* out, const Compute& cx) {
  const int64_t dim = c.dim, k = c.n_activated_experts;
  kernels::Workspace& ws = MoeWorkspace();
  int32_t* ids = ws.Get<int32_t>(kIds, rows * k);
  float* weights = ws.Get<float>(kWeights, rows * k);
  Route(w, c, x, tokens, rows, ids, weights, cx);
  // The experts' input, FP8-quantised once per row (see Expert).
  float* xq = ws.Get<float>(kQuantised, rows * dim);
  std::copy(x, x + rows * dim, xq);
  cx.ops.ActQuantFp8(kernels::F32Rows(xq, rows, dim), 128);

  // Routed experts, one batch of rows each; results per (row, slot).
  float* routed = ws.Get<float>(kRouted, rows * k * dim);
  std::fill(routed, routed + rows * k * dim, 0.0f);
  int64_t* slots = ws.Get<int64_t>(kSlots, rows * k);  // row * k + j of one expert
  const float limit = static_cast<float>(c.swiglu_limit);
  for (int32_t e = 0; e < c.n_routed_experts; ++e) {
    int64_t n = 0;
    for (int64_t i = 0; i < rows * k; ++i) {
      if (ids[i] == e) slots[n++] = i;
    }
    if (n == 0) continue;
    float* xe = ws.Get<float>(kXe, n * dim);
    float* we = ws.Get<float>(kWe, n);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = slots[i] / k;
      std::copy(xq + row * dim, xq + (row + 1) * dim, xe + i * dim);
      we[i] = weights[slots[i]];
    }
    float* ye = ws.Get<float>(kYe, n * dim);
    Expert(w.experts[static_cast<size_t>(e)], xe, n, we, limit, ye, cx);
    for (int64_t i = 0; i < n; ++i) {
      std::copy(ye + i * dim, ye + (i + 1) * dim, routed + slots[i] * dim);
    }
  }
  // The shared expert does not clamp: the reference model.py the golden data was produced with
  // builds it without swiglu_limit (a later upstream revision clamps it too).
  float* shared = ws.Get<float>(kShared, rows * dim);
  Expert(w.shared, xq, rows, nullptr, 0.0f, shared, cx);

  // y = sum of routed outputs in ascending expert order (fp32), + shared, rounded to bf16. A
  // token routed twice to one expert counts it once, as the reference's index_put does.
  cx.ops.CombineExperts(kernels::F32Rows(routed, rows * k, dim),
                        kernels::F32Rows(shared, rows, dim), ids, k,
                        kernels::F32Rows(out, rows, dim));
  ws.Trim(kernels::kWorkspaceKeepBytes);
}

}  // namespace dsagent::engine::forward
