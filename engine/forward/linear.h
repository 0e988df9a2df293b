// The forward pass's weight products: a WeightMatrix times rows of activations, with the
// reference's rounding points, through the backend (Ops::WeightProduct, kernels/ops.h, in the
// Compute's numerics mode). Activations are row-major float arrays; weights stay in their stored
// format.
#pragma once

#include <cstdint>

#include "engine/forward/compute.h"
#include "engine/forward/weight_matrix.h"
#include "engine/kernels/ops.h"

namespace dsagent::engine::forward {

// What a result is rounded to (kF32, kBF16): the dtype the reference holds it in.
using Round = kernels::ProductRound;

// How the input is treated before the product: kNone (plain F.linear / einsum: BF16 or F32
// weights, and the bf16 wo_a einsum) or kFp8Per128 (reference linear() with an FP8/FP4 weight:
// act_quant per 128, pow2 scales).
using InputQuant = kernels::ProductInput;

struct LinearArgs {
  const float* x = nullptr;  // `rows` input rows of W.cols values each, x_stride apart
  int64_t rows = 0;
  int64_t x_stride = 0;  // floats between input rows (0: W.cols)
  float* y = nullptr;
  int64_t y_stride = 0;                  // floats between output rows (0: out_rows)
  int64_t out_begin = 0, out_rows = -1;  // the weight rows to apply (-1: all)
  InputQuant quant = InputQuant::kNone;
  Round round = Round::kBF16;
};

// y[t, o - out_begin] = sum_k x[t, k] * W[o, k] over o in [out_begin, out_begin + out_rows).
void Linear(const WeightMatrix& w, const LinearArgs& args, const Compute& cx);

// The product Linear(w, args, cx) would run, as one job of a group (Ops::WeightProducts: several
// small products in one pass, each with Linear's bits).
kernels::WeightProductJob LinearJob(const WeightMatrix& w, const LinearArgs& args,
                                    const Compute& cx);

// Shorthand: y [rows, W.rows] = x [rows, W.cols] * W^T.
void Linear(const WeightMatrix& w, const float* x, int64_t rows, float* y, InputQuant quant,
            Round round, const Compute& cx);

}  // namespace dsagent::engine::forward
