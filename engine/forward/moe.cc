#include "engine/forward/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <span>
#include <type_traits>
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
  kSlotRows,
  kXe,
  kWe,
  kYe,
  kG,
  kU,
  kExpertBegin,
  kExperts,
  kJobs
};
kernels::Workspace& MoeWorkspace() { return kernels::ThreadWorkspaceFor<Slot>(); }

// The SwiGLU experts of a call, every routed expert and the shared one: out [n, dim] = w2 .
// bf16(weight * silu(g) * u), g = w1 . x, u = w3 . x (both bf16 from FP8-input products); `limit`
// > 0 clamps g from above and u on both sides (the routed experts only: the reference model.py the
// golden data was produced with builds the shared expert without swiglu_limit). Their products
// run as two groups (Ops::WeightProducts: every w1 and w3, then every w2): a decode step's ~20
// small products in two passes over the threads instead of one each, with each product's bits.
//
// The inputs are rows already FP8-quantised (act_quant per 128): the quantisation is row-wise, so
// MoeForward quantises each token's row once for all its experts, w1 and w3 alike, instead of
// once per product; the products then see the same values and give the same bits.
struct ExpertRows {
  const ExpertWeights* weights;
  const float* x;  // [n, dim], quantised
  int64_t n;
  const float* row_weight;  // [n] (routed: the router's weights) or null (shared: 1)
  float limit;              // > 0: the clamp (routed experts only)
  float* g;                 // [n, inter] scratch
  float* u;                 // [n, inter] scratch
  float* out;               // [n, dim]
};

void RunExperts(std::span<const ExpertRows> experts, const Compute& cx) {
  kernels::Workspace& ws = MoeWorkspace();
  auto* jobs = ws.Get<kernels::WeightProductJob>(kJobs, 2 * static_cast<int64_t>(experts.size()));
  static_assert(std::is_trivially_copyable_v<kernels::WeightProductJob>);
  int64_t n_jobs = 0;
  for (const ExpertRows& e : experts) {
    LinearArgs a;
    a.x = e.x;
    a.rows = e.n;
    a.y = e.g;
    jobs[n_jobs++] = LinearJob(e.weights->w1, a, cx);
    a.y = e.u;
    jobs[n_jobs++] = LinearJob(e.weights->w3, a, cx);
  }
  cx.ops.WeightProducts(std::span<const kernels::WeightProductJob>(jobs, n_jobs));
  for (const ExpertRows& e : experts) {
    const int64_t inter = e.weights->w1.rows;
    cx.ops.SwiGlu(kernels::F32Rows(e.g, e.n, inter), kernels::F32Rows(e.u, e.n, inter),
                  e.row_weight, e.limit);
  }
  n_jobs = 0;
  for (const ExpertRows& e : experts) {
    LinearArgs a;
    a.x = e.g;
    a.rows = e.n;
    a.y = e.out;
    a.quant = InputQuant::kFp8Per128;
    jobs[n_jobs++] = LinearJob(e.weights->w2, a, cx);
  }
  cx.ops.WeightProducts(std::span<const kernels::WeightProductJob>(jobs, n_jobs));
}

// A call's routed slots grouped by expert, in ascending expert id and slot order (MoeForward's and
// RoutedExpertsForward's): slot i is expert ids[i] on xq's row slot_rows[i] (null: row 0) with
// routing weight weights[i]; an id outside the experts (a hostile tid2eid) is in no group.
// `experts` gets an entry per expert with slots, its rows' inputs gathered, their outputs in ye in
// grouped order; g and u keep `extra_g_floats` more floats from g_at, for the caller's shared
// expert. Every expert then runs once over all its rows.
struct GroupedSlots {
  int64_t grouped = 0;             // slots in an expert's group
  int64_t n_experts = 0;           // entries of `experts` filled
  const int64_t* order = nullptr;  // [grouped]: grouped position -> slot
  float* ye = nullptr;             // [grouped, dim]
  float *g = nullptr, *u = nullptr;
  int64_t g_at = 0;  // the first float of g and u past the routed experts'
};

GroupedSlots GroupRoutedSlots(const MoeWeights& w, const ModelConfig& c, const float* xq,
                              const int64_t* slot_rows, const int32_t* ids, const float* weights,
                              int64_t n, int64_t extra_g_floats, ExpertRows* experts) {
  const int64_t dim = c.dim, n_exp = c.n_routed_experts;
  kernels::Workspace& ws = MoeWorkspace();
  int64_t* begin = ws.Get<int64_t>(kExpertBegin, n_exp + 1);
  int64_t* order = ws.Get<int64_t>(kSlots, n);
  std::fill(begin, begin + n_exp + 1, 0);
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] >= 0 && ids[i] < n_exp) ++begin[ids[i] + 1];
  }
  std::partial_sum(begin, begin + n_exp + 1, begin);
  // Each slot to its expert's next place, in slot order (a counting sort: one pass, where a scan
  // of every slot per expert was n_exp passes); begin[e] ends at expert e + 1's start, so shift
  // it back.
  for (int64_t j = 0; j < n; ++j) {
    if (ids[j] >= 0 && ids[j] < n_exp) order[begin[ids[j]]++] = j;
  }
  std::copy_backward(begin, begin + n_exp, begin + n_exp + 1);
  begin[0] = 0;
  GroupedSlots s;
  s.grouped = begin[n_exp];
  s.order = order;
  float* xe = ws.Get<float>(kXe, s.grouped * dim);
  float* we = ws.Get<float>(kWe, s.grouped);
  s.ye = ws.Get<float>(kYe, s.grouped * dim);
  for (int64_t i = 0; i < s.grouped; ++i) {
    const int64_t row = slot_rows != nullptr ? slot_rows[order[i]] : 0;
    std::copy(xq + row * dim, xq + (row + 1) * dim, xe + i * dim);
    we[i] = weights[order[i]];
  }
  int64_t g_floats = extra_g_floats;
  for (int64_t e = 0; e < n_exp; ++e) {
    g_floats += (begin[e + 1] - begin[e]) * w.experts[static_cast<size_t>(e)].w1.rows;
  }
  s.g = ws.Get<float>(kG, g_floats);
  s.u = ws.Get<float>(kU, g_floats);
  const float limit = static_cast<float>(c.swiglu_limit);
  for (int64_t e = 0; e < n_exp; ++e) {
    const int64_t b0 = begin[e], m = begin[e + 1] - b0;
    if (m == 0) continue;
    const ExpertWeights& ew = w.experts[static_cast<size_t>(e)];
    experts[s.n_experts++] = {&ew,          xe + b0 * dim,  m, we + b0, limit, s.g + s.g_at,
                              s.u + s.g_at, s.ye + b0 * dim};
    s.g_at += m * ew.w1.rows;
  }
  return s;
}

// out [n, dim]: each grouped slot's output row where its slot is, zeros for the others.
void ScatterSlots(const GroupedSlots& s, int64_t n, int64_t dim, float* out) {
  std::fill(out, out + n * dim, 0.0f);
  for (int64_t i = 0; i < s.grouped; ++i) {
    std::copy(s.ye + i * dim, s.ye + (i + 1) * dim, out + s.order[i] * dim);
  }
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
  // The experts' input, FP8-quantised once per row (see RunExperts).
  float* xq = ws.Get<float>(kQuantised, rows * dim);
  std::copy(x, x + rows * dim, xq);
  cx.ops.ActQuantFp8(kernels::F32Rows(xq, rows, dim), 128);

  // The routed (row, slot) pairs grouped by expert (pair i is row i / k's), each expert once over
  // its rows; then the shared expert on every row, in the same RunExperts.
  const int64_t pairs = rows * k, n_exp = c.n_routed_experts;
  int64_t* pair_rows = ws.Get<int64_t>(kSlotRows, pairs);
  for (int64_t i = 0; i < pairs; ++i) pair_rows[i] = i / k;
  auto* experts = ws.Get<ExpertRows>(kExperts, n_exp + 1);
  static_assert(std::is_trivially_copyable_v<ExpertRows>);
  const GroupedSlots grouped =
      GroupRoutedSlots(w, c, xq, pair_rows, ids, weights, pairs, rows * w.shared.w1.rows, experts);
  float* shared = ws.Get<float>(kShared, rows * dim);
  // The shared expert does not clamp: the reference model.py the golden data was produced with
  // builds it without swiglu_limit (a later upstream revision clamps it too).
  experts[grouped.n_experts] = {
      &w.shared, xq, rows, nullptr, 0.0f, grouped.g + grouped.g_at, grouped.u + grouped.g_at,
      shared};
  RunExperts(std::span<const ExpertRows>(experts, grouped.n_experts + 1), cx);

  // Results per (row, slot).
  float* routed = ws.Get<float>(kRouted, pairs * dim);
  ScatterSlots(grouped, pairs, dim, routed);

  // y = sum of routed outputs in ascending expert order (fp32), + shared, rounded to bf16. A
  // token routed twice to one expert counts it once, as the reference's index_put does.
  cx.ops.CombineExperts(kernels::F32Rows(routed, rows * k, dim),
                        kernels::F32Rows(shared, rows, dim), ids, k,
                        kernels::F32Rows(out, rows, dim));
  ws.Trim(kernels::kWorkspaceKeepBytes);
}

// What RoutedExpertsForward keeps of its workspace after a call, per buffer: a prompt chunk's
// (its slots' inputs and outputs, 16 KB a slot at V4-Flash's width; 100 MB for a 1024-row chunk
// with every slot on the host) stays for the chunk's call on the next layer. Freed after each
// call as MoeForward's are, the buffers were faulted back in by the next one (a page fault per 4
// KB, the kernel zeroing each page): bench/host_experts_bench, docs/BENCHMARKS.md.
constexpr size_t kRoutedExpertsKeepBytes = size_t{128} << 20;

void RoutedExpertsForward(const MoeWeights& w, const ModelConfig& c, const float* xq,
                          const int64_t* rows, const int32_t* ids, const float* weights, int64_t n,
                          float* out, const Compute& cx) {
  kernels::Workspace& ws = MoeWorkspace();
  // Each expert once over its slots' rows: a prompt chunk's host experts read their weights once
  // per chunk, not once per row that chose them.
  auto* experts = ws.Get<ExpertRows>(kExperts, c.n_routed_experts);
  const GroupedSlots grouped = GroupRoutedSlots(w, c, xq, rows, ids, weights, n, 0, experts);
  RunExperts(std::span<const ExpertRows>(experts, grouped.n_experts), cx);
  ScatterSlots(grouped, n, c.dim, out);
  ws.Trim(kRoutedExpertsKeepBytes);
}

}  // namespace dsagent::engine::forward
