#include "engine/forward/hyper_connection.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/forward/linear.h"
#include "engine/forward/numerics.h"

namespace dsagent::engine::forward {
namespace {

// mixes [rows, m] = (x_flat . fn^T) * rsqrt(mean(x_flat^2) + eps), x_flat = the hc*dim streams.
std::vector<float> Mixes(const float* h, int64_t rows, const WeightMatrix& fn, const HcShape& s,
                         const Compute& cx) {
  const int64_t m = fn.rows;
  std::vector<float> mixes(static_cast<size_t>(rows * m));
  // Exact in both modes: the mixes feed the Sinkhorn iterations (Compute::Exact).
  Linear(fn, h, rows, mixes.data(), InputQuant::kNone, Round::kF32, cx.Exact());
  ScaleMixes(h, rows, m, s, mixes.data());
  return mixes;
}

}  // namespace

void ScaleMixes(const float* h, int64_t rows, int64_t m, const HcShape& s, float* mixes) {
  const int64_t n = s.hc * s.dim;
  for (int64_t t = 0; t < rows; ++t) {
    const float* x = h + t * n;
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i] * x[i]);
    const float r = RsqrtF(static_cast<float>(ss / static_cast<double>(n)) + s.norm_eps);
    for (int64_t j = 0; j < m; ++j) mixes[t * m + j] *= r;
  }
}

void WeightedStreamSum(const float* h, const float* weight, const HcShape& s, float* y) {
  for (int64_t d = 0; d < s.dim; ++d) {
    double acc = 0;
    for (int64_t j = 0; j < s.hc; ++j) acc += static_cast<double>(weight[j] * h[j * s.dim + d]);
    y[d] = RoundBf16(static_cast<float>(acc));
  }
}

void SinkhornSplit(const float* mixes, const float* scale, const float* base, const HcShape& s,
                   float* pre, float* post, float* comb) {
  const int64_t hc = s.hc;
  const float eps = s.hc_eps;
  for (int64_t j = 0; j < hc; ++j) {
    pre[j] = SigmoidF(mixes[j] * scale[0] + base[j]) + eps;
    post[j] = 2.0f * SigmoidF(mixes[hc + j] * scale[1] + base[hc + j]);
  }
  std::vector<float> c(static_cast<size_t>(hc * hc));
  for (int64_t i = 0; i < hc * hc; ++i) c[i] = mixes[2 * hc + i] * scale[2] + base[2 * hc + i];
  // Row softmax (double, rounded once) + eps.
  for (int64_t j = 0; j < hc; ++j) {
    float* row = c.data() + j * hc;
    const double mx = *std::max_element(row, row + hc);
    std::vector<double> e(static_cast<size_t>(hc));
    double sum = 0;
    for (int64_t k = 0; k < hc; ++k) sum += (e[k] = std::exp(static_cast<double>(row[k]) - mx));
    for (int64_t k = 0; k < hc; ++k) row[k] = static_cast<float>(e[k] / sum) + eps;
  }
  auto normalise_columns = [&] {
    for (int64_t k = 0; k < hc; ++k) {
      double sum = 0;
      for (int64_t j = 0; j < hc; ++j) sum += c[j * hc + k];
      const float denom = static_cast<float>(sum) + eps;
      for (int64_t j = 0; j < hc; ++j) c[j * hc + k] /= denom;
    }
  };
  auto normalise_rows = [&] {
    for (int64_t j = 0; j < hc; ++j) {
      double sum = 0;
      for (int64_t k = 0; k < hc; ++k) sum += c[j * hc + k];
      const float denom = static_cast<float>(sum) + eps;
      for (int64_t k = 0; k < hc; ++k) c[j * hc + k] /= denom;
    }
  };
  normalise_columns();
  for (int it = 1; it < s.sinkhorn_iters; ++it) {
    normalise_rows();
    normalise_columns();
  }
  std::copy(c.begin(), c.end(), comb);
}

void HcPre(const float* h, int64_t rows, const HcWeights& w, const HcShape& s, float* y,
           float* post, float* comb, const Compute& cx) {
  const int64_t m = w.fn.rows, hc = s.hc;
  const std::vector<float> mixes = Mixes(h, rows, w.fn, s, cx);
  cx.pool.ParallelFor(rows, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> pre(static_cast<size_t>(hc));
    for (int64_t t = begin; t < end; ++t) {
      SinkhornSplit(mixes.data() + t * m, w.scale.data(), w.base.data(), s, pre.data(),
                    post + t * hc, comb + t * hc * hc);
      WeightedStreamSum(h + t * hc * s.dim, pre.data(), s, y + t * s.dim);
    }
  });
}

void HcPost(const float* f, const float* h, const float* post, const float* comb, int64_t rows,
            const HcShape& s, float* out) {
  const int64_t hc = s.hc, dim = s.dim;
  std::vector<float> next(static_cast<size_t>(hc * dim));
  for (int64_t t = 0; t < rows; ++t) {
    const float* ht = h + t * hc * dim;
    const float* ct = comb + t * hc * hc;
    for (int64_t k = 0; k < hc; ++k) {
      const float pk = post[t * hc + k];
      for (int64_t d = 0; d < dim; ++d) {
        double mix = 0;
        for (int64_t j = 0; j < hc; ++j)
          mix += static_cast<double>(ct[j * hc + k] * ht[j * dim + d]);
        next[static_cast<size_t>(k * dim + d)] =
            RoundBf16(pk * f[t * dim + d] + static_cast<float>(mix));
      }
    }
    std::copy(next.begin(), next.end(), out + t * hc * dim);
  }
}

void HcHead(const float* h, int64_t rows, const HcWeights& w, const HcShape& s, float* y,
            const Compute& cx) {
  const int64_t hc = s.hc;
  const std::vector<float> mixes = Mixes(h, rows, w.fn, s, cx);
  std::vector<float> pre(static_cast<size_t>(hc));
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t j = 0; j < hc; ++j) {
      pre[j] = SigmoidF(mixes[static_cast<size_t>(t * hc + j)] * w.scale[0] + w.base[j]) + s.hc_eps;
    }
    WeightedStreamSum(h + t * hc * s.dim, pre.data(), s, y + t * s.dim);
  }
}

}  // namespace dsagent::engine::forward
