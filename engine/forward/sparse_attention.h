// Sparse attention of one query token over a gathered list of KV vectors (K = V), with a
// per-head sink logit in the denominator — the reference's tilelang `sparse_attn` kernel:
// the list is processed in blocks of 64 with an online softmax; probabilities are rounded to bf16
// before the P.V product while the denominator sums them in fp32.
#pragma once

#include <cstdint>

namespace dsagent::engine::forward {

struct SparseAttentionShape {
  int64_t heads = 0;
  int64_t head_dim = 0;
  float scale = 0;  // softmax scale (fl32(head_dim^-0.5))
};

// q [heads, head_dim] (bf16 values); kv: `n` pointers to head_dim-vectors, nullptr where the
// reference index is -1 (masked); sink [heads]. Writes o [heads, head_dim] (bf16).
void SparseAttention(const float* q, const float* const* kv, int64_t n, const float* sink,
                     const SparseAttentionShape& s, float* o);

}  // namespace dsagent::engine::forward
