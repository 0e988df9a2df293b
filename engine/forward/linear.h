// Matrix products with the reference's rounding points. Activations are row-major
// float arrays; products accumulate in double (the golden reference evaluated every GEMM in
// float64 and rounded once to the dtype upstream produces), weights are dequantised a row at a
// time from their stored format.
#pragma once

#include <cstdint>

#include "engine/forward/compute.h"
#include "engine/forward/weight_matrix.h"

namespace dsagent::engine::forward {

// What a result is rounded to: the dtype the reference holds it in.
enum class Round { kF32, kBF16 };

// How the input is treated before the product.
enum class InputQuant {
  kNone,       // plain F.linear / einsum (BF16 or F32 weights, and the bf16 wo_a einsum)
  kFp8Per128,  // reference linear() with an FP8/FP4 weight: act_quant per 128 (pow2 scales)
};

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

// Shorthand: y [rows, W.rows] = x [rows, W.cols] * W^T.
void Linear(const WeightMatrix& w, const float* x, int64_t rows, float* y, InputQuant quant,
            Round round, const Compute& cx);

}  // namespace dsagent::engine::forward
