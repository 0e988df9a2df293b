#include "engine/forward/sparse_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/forward/numerics.h"
#include "engine/kernels/cpu/weight_dot.h"

namespace dsagent::engine::forward {
namespace {
constexpr int64_t kBlock = 64;  // index block of the reference kernel

// Per-thread buffers: this runs once per head and token on the pool's threads, without allocating
// once a thread has seen the head size.
struct HeadScratch {
  std::vector<float> acc;
  std::vector<double> pv;
  kernels::DotInput query;
};
HeadScratch& Scratch(int64_t head_dim) {
  thread_local HeadScratch scratch;
  scratch.acc.resize(static_cast<size_t>(head_dim));
  scratch.pv.resize(static_cast<size_t>(head_dim));
  return scratch;
}
}  // namespace

void SparseAttentionHead(const float* q, const uint16_t* const* kv, int64_t n, float sink,
                         const SparseAttentionShape& s, float* o) {
  const int64_t hd = s.head_dim;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  HeadScratch& scratch = Scratch(hd);
  float* acc = scratch.acc.data();
  double* pv = scratch.pv.data();
  float score[kBlock], p[kBlock];
  std::fill(acc, acc + hd, 0.0f);
  // The scores run through the SIMD row kernel in double: q and K are bf16, so every product is
  // exact and the sums are the scalar loop's (kernels/cpu/weight_dot.h).
  const kernels::CpuIsa isa = kernels::ActiveCpuIsa();
  scratch.query.Prepare(q, hd);
  float running_max = neg_inf, sum_exp = 0.0f;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t bn = std::min(kBlock, n - b0);
    float block_max = running_max;
    for (int64_t j = 0; j < bn; ++j) {
      const uint16_t* k = kv[b0 + j];
      if (k == nullptr) {
        score[j] = neg_inf;
        continue;
      }
      double dot = 0;
      kernels::WeightRowDots(
          isa, {kernels::WeightFormat::kBF16, reinterpret_cast<const uint8_t*>(k), nullptr, hd, 0},
          0, 1, scratch.query, &dot);
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
    std::fill(pv, pv + hd, 0.0);
    for (int64_t j = 0; j < bn; ++j) {
      if (p[j] == 0.0f) continue;
      const double pb = RoundBf16(p[j]);  // P is cast to bf16 before P.V
      kernels::AxpyBf16F64(isa, pb, kv[b0 + j], pv, hd);
    }
    for (int64_t d = 0; d < hd; ++d) acc[d] = acc[d] * rescale + static_cast<float>(pv[d]);
  }
  sum_exp += running_max == neg_inf ? ExpF(sink) : ExpF(sink - running_max);
  for (int64_t d = 0; d < hd; ++d) o[d] = RoundBf16(acc[d] / sum_exp);
}

}  // namespace dsagent::engine::forward
