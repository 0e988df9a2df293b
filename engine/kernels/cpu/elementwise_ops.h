// The CPU kernels of the elementwise steps between the forward pass's ops (Ops::ScaleBf16,
// RoundToBf16, AddBroadcastBf16, ToBf16Bits, kernels/ops.h): each value on its own, in the dtype
// the reference holds it in.
//
// Thread-safety: pure functions over caller-owned memory.
#pragma once

#include <cstdint>

namespace dsagent::engine::kernels::cpu {

// x[i] <- bf16(fl32(x[i] * scale)) for n values.
void ScaleBf16(float* x, int64_t n, float scale);

// x[i] <- bf16(x[i]), ties to even, for n values.
void RoundToBf16(float* x, int64_t n);

// y [rows, groups * cols]: y[r, g * cols + c] <- bf16(fl32(x[r, c] + y[r, g * cols + c])), x
// [rows, cols] (row strides x_stride, y_stride values).
void AddBroadcastBf16(const float* x, int64_t x_stride, int64_t rows, int64_t cols, int64_t groups,
                      float* y, int64_t y_stride);

// bits[i] = the bf16 bit pattern nearest x[i], ties to even, for n values.
void ToBf16Bits(const float* x, int64_t n, uint16_t* bits);

}  // namespace dsagent::engine::kernels::cpu
