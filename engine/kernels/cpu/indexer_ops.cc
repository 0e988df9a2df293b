#include "engine/kernels/cpu/indexer_ops.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "engine/kernels/cpu/top_k_order.h"
#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/cpu/workspace_slots.h"
#include "engine/kernels/cpu_isa.h"
#include "engine/kernels/number_formats.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::kernels::cpu {

void IndexerScores(const float* q, const float* head_weights, int64_t heads, int64_t hd,
                   const uint16_t* keys, int64_t e0, int64_t e1, float* score) {
  // The dots run through the SIMD row kernel in double: q is on the FP4 grid and K is bf16, so
  // every product is exact and the sums are those of the scalar loop (weight_dot.h). Entries go
  // in tiles whose keys stay in cache while every head reads them.
  const CpuIsa isa = ActiveCpuIsa();
  const WeightRows key_rows{WeightFormat::kBF16, reinterpret_cast<const uint8_t*>(keys), nullptr,
                            hd, 0};
  constexpr int64_t kTile = 256;
  // DotInput keeps its buffers between calls (a class with its own storage, so not a slot).
  thread_local std::vector<DotInput> queries;
  if (queries.size() < static_cast<size_t>(heads)) queries.resize(static_cast<size_t>(heads));
  for (int64_t h = 0; h < heads; ++h) queries[static_cast<size_t>(h)].Prepare(q + h * hd, hd);
  double* dots = ThreadWorkspace().Get<double>(kIndexerDots, heads * kTile);
  for (int64_t tile = e0; tile < e1; tile += kTile) {
    const int64_t n = std::min(kTile, e1 - tile);
    for (int64_t h = 0; h < heads; ++h) {
      WeightRowDots(isa, key_rows, tile, n, queries[static_cast<size_t>(h)], dots + h * kTile);
    }
    for (int64_t i = 0; i < n; ++i) {
      double sum = 0;
      for (int64_t h = 0; h < heads; ++h) {
        const float s = std::max(0.0f, RoundBf16(dots[h * kTile + i]));
        sum += RoundBf16(s * head_weights[h]);
      }
      score[tile - e0 + i] = RoundBf16(sum);
    }
  }
}

int64_t StableTopK(const float* score, int64_t n, int64_t k, int32_t* out) {
  int32_t* order = ThreadWorkspace().Get<int32_t>(kTopKOrder, n);
  const int64_t count = TopKOrder(score, n, k, order);
  std::copy(order, order + count, out);
  return count;
}

}  // namespace dsagent::engine::kernels::cpu
