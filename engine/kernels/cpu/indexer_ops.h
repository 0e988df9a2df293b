// The CPU kernels of the lightning indexer's scoring and selection (Ops::IndexerScores and
// Ops::StableTopK, kernels/ops.h; the CUDA kernels' twins: kernels/cuda/indexer_ops.h
// IndexerScores and TopK).
//
// Thread-safety: functions over caller-owned memory; their scratch is the calling thread's
// (thread_local prepared queries, Workspace slots of workspace_slots.h).
#pragma once

#include <cstdint>

namespace dsagent::engine::kernels::cpu {

// One query token's scores of the entries [e0, e1): score[e - e0] = bf16(sum_h bf16(relu(bf16(
// q_h . K_e)) * w_h)), the sum over heads in double in head order. q [heads, hd] (FP4-simulated),
// head_weights [heads] (bf16, scaled), keys [entries, hd] bf16 bits. The dots are exact products
// summed in double (on the SIMD row kernel, weight_dot.h).
void IndexerScores(const float* q, const float* head_weights, int64_t heads, int64_t hd,
                   const uint16_t* keys, int64_t e0, int64_t e1, float* score);

// out [min(k, n)] = the indices of the min(k, n) largest of score [n], in descending score order,
// ties to the lower index (a stable sort's prefix; selected without one: top_k_order.h). Returns
// min(k, n).
int64_t StableTopK(const float* score, int64_t n, int64_t k, int32_t* out);

}  // namespace dsagent::engine::kernels::cpu
