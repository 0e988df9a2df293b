// The per-vector steps that follow a product in the attention's chains, in one launch: a norm,
// RoPE on the vector's last dims, the Hadamard rotation, act_quant and the bf16 store. The KV row,
// the compressed entries, the queries and the indexer's queries each take three to five of them
// in a row, and each used to be a launch of its own (a decode step's critical path is a chain of
// such small kernels, so every launch it loses is latency it loses). One CTA per vector runs the
// steps in order with a barrier between them; each step is the arithmetic of the op it replaces
// (device_math.h, attention_math.h), so the bits are those of the ops one after another:
//   norm       RmsNorm (ops.h) with a weight, or HeadRmsNorm (attention_ops.h) without
//   rope       RopeRotate / RopeRotateRows (ops.h) on the last rope_dims values
//   hadamard   HadamardRotate (attention_ops.h)
//   quant      ActQuantRows (ops.h) on the first quant_n values
//   bf16_out   StoreBf16Bits (ops.h)
// HeadRmsNorm and HadamardRotate are this kernel with one step. Tested against the ops one by one
// in tests/engine/kernels/cuda_forward_ops_test.cc (skips without a device).
#pragma once

#include <cstdint>

#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/ops.h"

namespace dsagent::engine::kernels::cuda {

// Which steps, and their parameters; a step whose switch is off (null, 0, false) is skipped.
struct VectorSteps {
  // 1. A norm: RmsNorm with norm_weight (n values), or, with head_norm, the weightless per-head
  //    norm. Not both.
  const float* norm_weight = nullptr;
  bool head_norm = false;
  float eps = 0.0f;
  // 2. RoPE on the last rope_dims values (even): at `pos`, or, when positions is set (device
  //    int32), vector v at positions[v / vectors_per_position]; inverse as RopeRotate's.
  int64_t rope_dims = 0;
  const float* freqs = nullptr;  // rope_dims / 2 device floats
  int64_t pos = 0;
  const int32_t* positions = nullptr;
  int64_t vectors_per_position = 1;
  bool rope_inverse = false;
  // 3. The Hadamard rotation of the whole vector (n a power of two, 2 .. 4096).
  bool hadamard = false;
  // 4. act_quant of the first quant_n values (a multiple of quant_block: 32, 64 or 128).
  int64_t quant_n = 0;
  int64_t quant_block = 0;
  ActQuantFormat quant_format = ActQuantFormat::kFp8;
  // 5. The vector's bf16 bits to bf16_out + v * n; or, with bf16_rows (device, a pointer per
  //    vector; positions set, vectors_per_position 1), to bf16_rows[v] + (positions[v] %
  //    bf16_ring) * n: each vector into its position's slot of its own ring (a batched decode
  //    step's KV rows, each into its sequence's window).
  uint16_t* bf16_out = nullptr;
  uint16_t* const* bf16_rows = nullptr;
  int64_t bf16_ring = 0;
};

// In place on `count` vectors of n values, x[v * n ..]: the steps above in order, one CTA per
// vector. Throws CudaError for parameters the steps cannot take (both norms, odd or too many
// rope dims, a Hadamard length that is no power of two, a quant block other than 32/64/128 or
// more quant values than n).
void RunVectorSteps(float* x, int64_t count, int64_t n, const VectorSteps& steps,
                    CudaStream& stream);
// RunVectorSteps' checks alone, for a kernel that runs the steps in its own launch
// (vector_steps_cta.cuh). Throws CudaError.
void CheckVectorSteps(int64_t n, const VectorSteps& steps);

// The steps that make KV cache entries of n values out of projected rows (the attention's KV row,
// a compressor's pooled entry): RMSNorm with norm_weight, RoPE on the last rope_dims at pos (or
// row v at positions[v]), then FP8 per 64 on the non-RoPE dims, or with `rotate` (the indexer's
// keys) the Hadamard rotation and FP4 per 32 on all n; the bf16 store into `out` when it is set.
VectorSteps CacheEntrySteps(int64_t n, const float* norm_weight, float eps, int64_t rope_dims,
                            const float* freqs, int64_t pos, const int32_t* positions, bool rotate,
                            uint16_t* out);

// The attention query's steps for the heads of its rows (heads vectors a row): the weightless
// per-head norm, then RoPE on the last rope_dims at pos (or row t's heads at positions[t]).
VectorSteps AttentionQuerySteps(int64_t heads, float eps, int64_t rope_dims, const float* freqs,
                                int64_t pos, const int32_t* positions);

}  // namespace dsagent::engine::kernels::cuda
