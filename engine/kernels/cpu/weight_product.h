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
#include <span>

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

// One product of a group (WeightProducts): a weight and the rows WeightProduct would take.
struct WeightProductTask {
  WeightRows w;
  WeightProductRows rows;
};

// Several independent products, each with WeightProduct's results bit for bit. In `fast`, when
// no product has more than kJoinedMaxRows input rows (decode, small batches), the output rows of
// all of them are split over the pool in one loop: a decode step's MoE is ~20 products of a few
// MB, and one loop each paid a hand-off to the workers and an uneven last chunk every time.
// Otherwise (a prefill, `exact`) they run one after the other. Outputs must not overlap.
constexpr int64_t kJoinedMaxRows = 8;
void WeightProducts(ThreadPool& pool, std::span<const WeightProductTask> tasks, Numerics numerics);

}  // namespace dsagent::engine::kernels::cpu
