// The CPU kernels of the attention sub-layer's KV steps (kernels/ops.h Ops::WriteWindowRing and
// Ops::SparseAttention; the CUDA kernel's twin of the attention: kernels/cuda/attention_ops.h
// SparseAttention).
//
// Thread-safety: pure functions over caller-owned memory (scratch: the thread's Workspace).
#pragma once

#include <cstdint>

#include "engine/kernels/ops.h"

namespace dsagent::engine::kernels::cpu {

// The rows of kv [n, head_dim] (bf16 bits, positions start .. start+n-1) that stay in a window of
// `window` positions, copied to ring row (start + t) % window of ring [window, head_dim].
void WriteWindowRing(const uint16_t* kv, int64_t n, int64_t head_dim, int64_t start, uint16_t* ring,
                     int64_t window);

// Row `index` of the set (kernels/ops.h KvRowSet), or null for index < 0 (masked).
const uint16_t* KvRow(const KvRowSet& kv, int32_t index);

// Sparse attention of one query head over a list of KV rows (K = V), with the head's sink logit in
// the denominator — the reference's tilelang `sparse_attn` kernel: the list is processed in
// blocks of 64 with an online softmax; probabilities are rounded to bf16 before the P.V product
// while the denominator sums them in fp32. q [head_dim] (bf16 values); indices [n] rows of `kv`
// (-1 = masked); writes o [head_dim] (bf16 values).
void SparseAttentionHead(const float* q, const KvRowSet& kv, const int32_t* indices, int64_t n,
                         float sink, int64_t head_dim, float scale, float* o);

}  // namespace dsagent::engine::kernels::cpu
