#include "engine/kernels/cpu/mixing_ops.h"

#include <algorithm>
#include <cmath>

#include "engine/kernels/cpu/workspace_slots.h"
#include "engine/kernels/number_formats.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::kernels::cpu {

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
  Workspace& ws = ThreadWorkspace();
  float* c = ws.Get<float>(kSinkhornComb, hc * hc);
  double* e = ws.Get<double>(kSinkhornExp, hc);
  for (int64_t i = 0; i < hc * hc; ++i) c[i] = mixes[2 * hc + i] * scale[2] + base[2 * hc + i];
  // Row softmax (double, rounded once) + eps.
  for (int64_t j = 0; j < hc; ++j) {
    float* row = c + j * hc;
    const double mx = *std::max_element(row, row + hc);
    double sum = 0;
    for (int64_t k = 0; k < hc; ++k) sum += (e[k] = std::exp(static_cast<double>(row[k]) - mx));
    for (int64_t k = 0; k < hc; ++k) row[k] = static_cast<float>(e[k] / sum) + eps;
  }
  // Each of the hc lines (line i: the values c[i * next + m * step], m ascending) divided by its
  // sum (double, rounded) + eps: the columns with (next, step) = (1, hc), the rows with (hc, 1).
  const auto normalise = [&](int64_t next, int64_t step) {
    for (int64_t i = 0; i < hc; ++i) {
      float* line = c + i * next;
      double sum = 0;
      for (int64_t m = 0; m < hc; ++m) sum += line[m * step];
      const float denom = static_cast<float>(sum) + eps;
      for (int64_t m = 0; m < hc; ++m) line[m * step] /= denom;
    }
  };
  normalise(1, hc);
  for (int it = 1; it < s.sinkhorn_iters; ++it) {
    normalise(hc, 1);
    normalise(1, hc);
  }
  std::copy(c, c + hc * hc, comb);
}

void HcPost(const float* f, const float* h, const float* post, const float* comb, int64_t rows,
            const HcShape& s, float* out) {
  const int64_t hc = s.hc, dim = s.dim;
  // One token's streams at a time: out may alias h, which the mix reads in full.
  float* next = ThreadWorkspace().Get<float>(kHcPostNext, hc * dim);
  for (int64_t t = 0; t < rows; ++t) {
    const float* ht = h + t * hc * dim;
    const float* ct = comb + t * hc * hc;
    for (int64_t k = 0; k < hc; ++k) {
      const float pk = post[t * hc + k];
      for (int64_t d = 0; d < dim; ++d) {
        double mix = 0;
        for (int64_t j = 0; j < hc; ++j)
          mix += static_cast<double>(ct[j * hc + k] * ht[j * dim + d]);
        next[k * dim + d] = RoundBf16(pk * f[t * dim + d] + static_cast<float>(mix));
      }
    }
    std::copy(next, next + hc * dim, out + t * hc * dim);
  }
}

void HcHeadSum(const float* h, const float* mixes, int64_t rows, const float* scale,
               const float* base, const HcShape& s, float* y) {
  const int64_t hc = s.hc;
  float* pre = ThreadWorkspace().Get<float>(kHcWeights, hc);
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t j = 0; j < hc; ++j) {
      pre[j] = SigmoidF(mixes[t * hc + j] * scale[0] + base[j]) + s.hc_eps;
    }
    WeightedStreamSum(h + t * hc * s.dim, pre, s, y + t * s.dim);
  }
}

}  // namespace dsagent::engine::kernels::cpu
