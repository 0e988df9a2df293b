// The CPU kernels of the KV compressor's state write (Ops::CompressorWriteSlot) and pooling
// (Ops::CompressorPool, kernels/ops.h; the CUDA kernel's twin: kernels/cuda/mixing_ops.h
// CompressorPool).
//
// Thread-safety: a function over caller-owned memory; its scratch is the calling thread's
// Workspace (workspace_slots.h).
#pragma once

#include <cstdint>

namespace dsagent::engine::kernels::cpu {

// Pools a complete block into entry [head_dim] (fp32), per channel c: softmax over the candidates'
// gate logits (exp in double, weights rounded to fp32) times their values (fp32 products), summed
// in double. The candidates are slots 0 .. ratio-1 of kv_state / score_state [slots, width],
// column c; overlapping compressors (overlap: 2*ratio slots) take column c of slots 0 .. ratio-1
// (the previous block's first half) and column head_dim + c of slots ratio .. 2*ratio-1 (this
// block's second half).
void PoolBlock(const float* kv_state, const float* score_state, int64_t width, int64_t ratio,
               int64_t head_dim, bool overlap, float* entry);

// A token's projections into its slot (Ops::CompressorWriteSlot): kv_slot [width] = kv,
// score_slot [width] = fl32(score + ape).
void WriteCompressorSlot(const float* kv, const float* score, const float* ape, int64_t width,
                         float* kv_slot, float* score_slot);

}  // namespace dsagent::engine::kernels::cpu
