// The CPU kernel of the weight products (Ops::WeightProduct, kernels/ops.h): rows of activations
// times a weight read from its stored bytes, in either numerics mode, split over the pool by
// output rows. The input is already what the product reads (CpuOps::WeightProduct applies the
// FP8 act_quant first).
//
// - `fast` (numerics_mode.h): weight_dot_f32.h's fused kernel, decode and prefill alike, in tiles
//   of input rows x weight rows; every output is the same kernel call on the same bytes, so the
//   bits do not depend on the row count, the threads or the tiling.
// - `exact`: up to 4 input rows (decode) weight_dot.h's fused dequantise-and-dot; more (prefill)
//   dequantise panels of weight rows once into doubles and take every input row's dot with them.
//   Both accumulate exact products in double and round once.
//
// Thread-safety: uses the pool (one ParallelFor at a time) and per-thread scratch kept between
// calls, so a warm call allocates nothing.
#pragma once

#include <cstdint>

#include "engine/kernels/cpu/thread_pool.h"
#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/numerics_mode.h"

namespace dsagent::engine::kernels::cpu {

struct WeightProductRows {
  const float* x = nullptr;  // `rows` input rows of w.cols values, x_stride floats apart
  int64_t rows = 0, x_stride = 0;
  float* y = nullptr;  // rows of out_rows results, y_stride floats apart
  int64_t y_stride = 0;
  int64_t out_begin = 0, out_rows = 0;  // the weight rows applied
  bool round_bf16 = true;               // results rounded to bf16 (else fp32)
};

// y[t, o - out_begin] = sum_k x[t, k] * W[o, k] for o in [out_begin, out_begin + out_rows).
void WeightProduct(ThreadPool& pool, const WeightRows& w, const WeightProductRows& a,
                   Numerics numerics);

}  // namespace dsagent::engine::kernels::cpu
