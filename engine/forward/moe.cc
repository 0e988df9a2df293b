#include "engine/forward/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "engine/forward/linear.h"
#include "engine/forward/numerics.h"

namespace dsagent::engine::forward {
namespace {

// SwiGLU expert on n rows: out [n, dim] = w2 . bf16(weight * silu(g) * u), g = w1 . x, u = w3 . x
// (both bf16 from FP8-input GEMMs); `limit` > 0 clamps g from above and u on both sides.
void Expert(const ExpertWeights& e, const float* x, int64_t n, const float* row_weight, float limit,
            float* out, const Compute& cx) {
  const int64_t inter = e.w1.rows;
  std::vector<float> g(static_cast<size_t>(n * inter)), u(g.size());
  Linear(e.w1, x, n, g.data(), InputQuant::kFp8Per128, Round::kBF16, cx);
  Linear(e.w3, x, n, u.data(), InputQuant::kFp8Per128, Round::kBF16, cx);
  cx.ops.SwiGlu(kernels::F32Rows(g.data(), n, inter), kernels::F32Rows(u.data(), n, inter),
                row_weight, limit);
  Linear(e.w2, g.data(), n, out, InputQuant::kFp8Per128, Round::kBF16, cx);
}

// Router: per row the chosen expert ids and their weights (n_activated each).
void Route(const MoeWeights& w, const ModelConfig& c, const float* x, const int32_t* tokens,
           int64_t rows, std::vector<int32_t>& ids, std::vector<float>& weights, const Compute& cx) {
  const int64_t n_exp = c.n_routed_experts, k = c.n_activated_experts;
  std::vector<float> scores(static_cast<size_t>(rows * n_exp));
  // Exact in both modes: the scores choose the top-k experts (Compute::Exact).
  Linear(w.gate, x, rows, scores.data(), InputQuant::kNone, Round::kF32, cx.Exact());
  ids.resize(static_cast<size_t>(rows * k));
  weights.resize(ids.size());
  std::vector<int32_t> hash_ids;
  if (w.hash) {
    hash_ids.resize(ids.size());
    for (int64_t t = 0; t < rows; ++t) {
      const uint8_t* row =
          w.tid2eid->data + tokens[t] * k * (w.tid2eid->dtype == DType::kI64 ? 8 : 4);
      for (int64_t j = 0; j < k; ++j) {
        int32_t& id = hash_ids[static_cast<size_t>(t * k + j)];
        if (w.tid2eid->dtype == DType::kI64) {
          int64_t v;
          std::memcpy(&v, row + 8 * j, 8);
          id = static_cast<int32_t>(v);
        } else {
          std::memcpy(&id, row + 4 * j, 4);
        }
      }
    }
  }
  RouterShape shape;
  shape.experts = n_exp;
  shape.k = k;
  shape.func = ScoreFuncOf(c.score_func);
  shape.route_scale = static_cast<float>(c.route_scale);
  RouteFromScores(scores.data(), rows, shape, w.hash ? nullptr : w.bias.data(),
                  w.hash ? hash_ids.data() : nullptr, ids.data(), weights.data());
}

}  // namespace

ScoreFunc ScoreFuncOf(const std::string& name) {
  if (name == "softmax") return ScoreFunc::kSoftmax;
  if (name == "sigmoid") return ScoreFunc::kSigmoid;
  return ScoreFunc::kSqrtSoftplus;  // the config accepts no other (model_config.cc)
}

void RouteFromScores(float* scores, int64_t rows, const RouterShape& r, const float* bias,
                     const int32_t* hash_ids, int32_t* ids, float* weights) {
  const int64_t n_exp = r.experts, k = r.k;
  std::vector<float> biased(static_cast<size_t>(n_exp));
  std::vector<int32_t> order(static_cast<size_t>(n_exp));
  for (int64_t t = 0; t < rows; ++t) {
    float* s = scores + t * n_exp;
    if (r.func == ScoreFunc::kSoftmax) {
      const double mx = *std::max_element(s, s + n_exp);
      double sum = 0;
      std::vector<double> e(static_cast<size_t>(n_exp));
      for (int64_t i = 0; i < n_exp; ++i) sum += (e[i] = std::exp(s[i] - mx));
      for (int64_t i = 0; i < n_exp; ++i) s[i] = static_cast<float>(e[i] / sum);
    } else if (r.func == ScoreFunc::kSigmoid) {
      for (int64_t i = 0; i < n_exp; ++i) s[i] = SigmoidF(s[i]);
    } else {
      for (int64_t i = 0; i < n_exp; ++i) s[i] = SqrtF(SoftplusF(s[i]));
    }
    int32_t* id = ids + t * k;
    if (hash_ids != nullptr) {
      std::copy(hash_ids + t * k, hash_ids + (t + 1) * k, id);
    } else {
      for (int64_t i = 0; i < n_exp; ++i) biased[i] = s[i] + bias[i];
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](int32_t a, int32_t b) { return biased[a] > biased[b]; });
      std::copy(order.begin(), order.begin() + k, id);
    }
    float* wt = weights + t * k;
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += (wt[j] = s[id[j]]);
    const float total = static_cast<float>(sum);
    for (int64_t j = 0; j < k; ++j) {
      if (r.func != ScoreFunc::kSoftmax) wt[j] /= total;
      wt[j] *= r.route_scale;
    }
  }
}

void MoeForward(const MoeWeights& w, const ModelConfig& c, const float* x, const int32_t* tokens,
                int64_t rows, float* out, const Compute& cx) {
  const int64_t dim = c.dim, k = c.n_activated_experts;
  std::vector<int32_t> ids;
  std::vector<float> weights;
  Route(w, c, x, tokens, rows, ids, weights, cx);

  // Routed experts, one batch of rows each; results per (row, slot).
  std::vector<float> routed(static_cast<size_t>(rows * k * dim), 0.0f);
  const float limit = static_cast<float>(c.swiglu_limit);
  for (int32_t e = 0; e < c.n_routed_experts; ++e) {
    std::vector<int64_t> slots;  // row * k + j
    for (int64_t i = 0; i < rows * k; ++i) {
      if (ids[static_cast<size_t>(i)] == e) slots.push_back(i);
    }
    if (slots.empty()) continue;
    const int64_t n = static_cast<int64_t>(slots.size());
    std::vector<float> xe(static_cast<size_t>(n * dim)), we(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = slots[i] / k;
      std::copy(x + row * dim, x + (row + 1) * dim, xe.data() + i * dim);
      we[i] = weights[static_cast<size_t>(slots[i])];
    }
    std::vector<float> ye(static_cast<size_t>(n * dim));
    Expert(w.experts[static_cast<size_t>(e)], xe.data(), n, we.data(), limit, ye.data(), cx);
    for (int64_t i = 0; i < n; ++i) {
      std::copy(ye.data() + i * dim, ye.data() + (i + 1) * dim, routed.data() + slots[i] * dim);
    }
  }
  // The shared expert does not clamp: the reference model.py the golden data was produced with
  // builds it without swiglu_limit (a later upstream revision clamps it too).
  std::vector<float> shared(static_cast<size_t>(rows * dim));
  Expert(w.shared, x, rows, nullptr, 0.0f, shared.data(), cx);

  // y = sum of routed outputs in ascending expert order (fp32), + shared, rounded to bf16. A
  // token routed twice to one expert counts it once, as the reference's index_put does.
  cx.ops.CombineExperts(kernels::F32Rows(routed.data(), rows * k, dim),
                        kernels::F32Rows(shared.data(), rows, dim), ids.data(), k,
                        kernels::F32Rows(out, rows, dim));
}

}  // namespace dsagent::engine::forward
