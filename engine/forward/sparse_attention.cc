#include "engine/forward/sparse_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/forward/numerics.h"

namespace dsagent::engine::forward {
namespace {
constexpr int64_t kBlock = 64;  // index block of the reference kernel
}  // namespace

void SparseAttention(const float* q, const float* const* kv, int64_t n, const float* sink,
                     const SparseAttentionShape& s, float* o) {
  const int64_t hd = s.head_dim;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::vector<float> acc(static_cast<size_t>(hd));
  std::vector<float> score(kBlock), p(kBlock);
  std::vector<double> pv(static_cast<size_t>(hd));
  for (int64_t h = 0; h < s.heads; ++h) {
    const float* qh = q + h * hd;
    std::fill(acc.begin(), acc.end(), 0.0f);
    float running_max = neg_inf, sum_exp = 0.0f;
    for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
      const int64_t bn = std::min(kBlock, n - b0);
      float block_max = running_max;
      for (int64_t j = 0; j < bn; ++j) {
        const float* k = kv[b0 + j];
        if (k == nullptr) {
          score[j] = neg_inf;
          continue;
        }
        double dot = 0;
        for (int64_t d = 0; d < hd; ++d) dot += static_cast<double>(qh[d]) * k[d];
        score[j] = static_cast<float>(dot) * s.scale;
        block_max = std::max(block_max, score[j]);
      }
      if (block_max == neg_inf) continue;  // nothing visible yet
      const float rescale = running_max == neg_inf ? 0.0f : ExpF(running_max - block_max);
      running_max = block_max;
      double psum = 0;
      for (int64_t j = 0; j < bn; ++j) {
        p[j] = score[j] == neg_inf ? 0.0f : ExpF(score[j] - block_max);
        psum += p[j];
      }
      sum_exp = sum_exp * rescale + static_cast<float>(psum);
      std::fill(pv.begin(), pv.end(), 0.0);
      for (int64_t j = 0; j < bn; ++j) {
        if (p[j] == 0.0f) continue;
        const double pb = RoundBf16(p[j]);  // P is cast to bf16 before P.V
        const float* k = kv[b0 + j];
        for (int64_t d = 0; d < hd; ++d) pv[d] += pb * k[d];
      }
      for (int64_t d = 0; d < hd; ++d) acc[d] = acc[d] * rescale + static_cast<float>(pv[d]);
    }
    sum_exp += running_max == neg_inf ? ExpF(sink[h]) : ExpF(sink[h] - running_max);
    for (int64_t d = 0; d < hd; ++d) o[h * hd + d] = RoundBf16(acc[d] / sum_exp);
  }
}

}  // namespace dsagent::engine::forward
