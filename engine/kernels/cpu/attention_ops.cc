#include "engine/kernels/cpu/attention_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/cpu/workspace_slots.h"
#include "engine/kernels/cpu_isa.h"
#include "engine/kernels/number_formats.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::kernels::cpu {
namespace {
constexpr int64_t kBlock = 64;  // index block of the reference kernel
}  // namespace

void WriteWindowRing(const uint16_t* kv, int64_t n, int64_t head_dim, int64_t start, uint16_t* ring,
                     int64_t window) {
  for (int64_t t = std::max<int64_t>(0, n - window); t < n; ++t) {
    const int64_t slot = (start + t) % window;
    std::copy(kv + t * head_dim, kv + (t + 1) * head_dim, ring + slot * head_dim);
  }
}

const uint16_t* KvRow(const KvRowSet& kv, int32_t index) {
  if (index < 0) return nullptr;
  int64_t i = index;
  for (int p = 0; p < kv.count; ++p) {
    if (i < kv.parts[p].rows) return kv.parts[p].row<const uint16_t>(i);
    i -= kv.parts[p].rows;
  }
  throw std::out_of_range("SparseAttention: KV row " + std::to_string(index) + " past the set");
}

void SparseAttentionHead(const float* q, const KvRowSet& kv, const int32_t* indices, int64_t n,
                         float sink, int64_t head_dim, float scale, float* o) {
  const int64_t hd = head_dim;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  Workspace& ws = ThreadWorkspace();
  float* acc = ws.Get<float>(kAttentionAcc, hd);
  double* pv = ws.Get<double>(kAttentionPv, hd);
  thread_local DotInput query;  // keeps its buffers between calls
  const uint16_t* rows[kBlock];
  float score[kBlock], p[kBlock];
  std::fill(acc, acc + hd, 0.0f);
  // The scores run through the SIMD row kernel in double: q and K are bf16, so every product is
  // exact and the sums are the scalar loop's (kernels/cpu/weight_dot.h).
  const CpuIsa isa = ActiveCpuIsa();
  query.Prepare(q, hd);
  float running_max = neg_inf, sum_exp = 0.0f;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t bn = std::min(kBlock, n - b0);
    float block_max = running_max;
    for (int64_t j = 0; j < bn; ++j) {
      const uint16_t* k = rows[j] = KvRow(kv, indices[b0 + j]);
      if (k == nullptr) {
        score[j] = neg_inf;
        continue;
      }
      double dot = 0;
      WeightRowDots(isa, {WeightFormat::kBF16, reinterpret_cast<const uint8_t*>(k), nullptr, hd, 0},
                    0, 1, query, &dot);
      score[j] = static_cast<float>(dot) * scale;
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
      AxpyBf16F64(isa, pb, rows[j], pv, hd);
    }
    for (int64_t d = 0; d < hd; ++d) acc[d] = acc[d] * rescale + static_cast<float>(pv[d]);
  }
  sum_exp += running_max == neg_inf ? ExpF(sink) : ExpF(sink - running_max);
  for (int64_t d = 0; d < hd; ++d) o[d] = RoundBf16(acc[d] / sum_exp);
}

}  // namespace dsagent::engine::kernels::cpu
