// Sparse attention of one query head over a gathered list of KV rows (K = V), with the head's
// sink logit in the denominator — the reference's tilelang `sparse_attn` kernel: the list is
// processed in blocks of 64 with an online softmax; probabilities are rounded to bf16 before the
// P.V product while the denominator sums them in fp32. Heads are independent, so callers split a
// token's heads across threads.
#pragma once

#include <cstdint>

namespace dsagent::engine::forward {

struct SparseAttentionShape {
  int64_t heads = 0;
  int64_t head_dim = 0;
  float scale = 0;  // softmax scale (fl32(head_dim^-0.5))
};

// q [head_dim] (bf16 values); kv: `n` pointers to rows of head_dim bf16 values (bit patterns, read
// in place from the cache), nullptr where the reference index is -1 (masked); sink: this head's
// sink logit. Writes o [head_dim] (bf16 values).
void SparseAttentionHead(const float* q, const uint16_t* const* kv, int64_t n, float sink,
                         const SparseAttentionShape& s, float* o);

}  // namespace dsagent::engine::forward
