#include "engine/kernels/cpu/compressor_pool.h"

#include <algorithm>
#include <cmath>

#include "engine/kernels/cpu/workspace_slots.h"
#include "engine/kernels/workspace.h"

namespace dsagent::engine::kernels::cpu {

void PoolBlock(const float* kv_state, const float* score_state, int64_t width, int64_t ratio,
               int64_t head_dim, bool overlap, float* entry) {
  const int64_t r = ratio, d = head_dim;
  const int64_t n = overlap ? 2 * r : r;
  Workspace& ws = ThreadWorkspace();
  float* kv = ws.Get<float>(kPoolValues, n);
  float* score = ws.Get<float>(kPoolScores, n);
  double* e = ws.Get<double>(kPoolExp, n);
  for (int64_t c = 0; c < d; ++c) {
    for (int64_t i = 0; i < n; ++i) {
      // Overlapping: the previous block's first halves, then this block's second halves.
      const int64_t slot = i, col = (overlap && i >= r) ? d + c : c;
      kv[i] = kv_state[slot * width + col];
      score[i] = score_state[slot * width + col];
    }
    const double mx = *std::max_element(score, score + n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += (e[i] = std::exp(static_cast<double>(score[i]) - mx));
    double acc = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float weight = static_cast<float>(e[i] / sum);
      acc += static_cast<double>(kv[i] * weight);
    }
    entry[c] = static_cast<float>(acc);
  }
}

void WriteCompressorSlot(const float* kv, const float* score, const float* ape, int64_t width,
                         float* kv_slot, float* score_slot) {
  for (int64_t c = 0; c < width; ++c) {
    kv_slot[c] = kv[c];
    score_slot[c] = score[c] + ape[c];
  }
}

}  // namespace dsagent::engine::kernels::cpu
