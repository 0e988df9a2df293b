// The `fast` numerics' fused dequantise-and-dot kernels (numerics_mode.h): dot products of weight
// rows, read straight from their stored bytes, with one float activation row, accumulated in fp32.
//
// The order of the arithmetic is part of the contract, so that every variant (scalar, AVX2,
// AVX-512) gives the same bits and a row's result never depends on how a product was split into
// calls, threads or tiles (prefill-then-decode equals one prefill). For one weight row:
//   lanes[16] = 0 (double), tail = 0 (fp32)
//   for each 128-column block:  block[16] = 0
//     FP8 (scale byte in the float-exact range, weight_dot.h), BF16, F32: each full group of 16
//       columns c..c+15 does block[j] = fma(w[c+j], x[c+j], block[j]); the block's remaining
//       columns do tail = fma(w, x, tail) in column order.
//     FP4: each complete 32-column scale group g (scale in range) does, for j = 0..15,
//       block[j] = fma(w[g+2j], x[g+2j], block[j]) then block[j] = fma(w[g+2j+1], x[g+2j+1],
//       block[j]); other groups go to the tail.
//     An FP8 block whose scale is out of range goes to the tail.
//     lanes[j] += block[j]   (in double)
//   result = float(((lanes[i] + lanes[i+8]) then [i] + [i+4], then [i] + [i+2], then [0] + [1])
//                  + tail)   (in double, rounded once to float)
// where w is the exactly dequantised weight (value times its power-of-two scale; out-of-range
// scales multiply in float). This is the GPU kernels' shape — fp32 partial sums per 128-block —
// except that the partial sums are combined in double, not fp32: that keeps the results so close
// to the exact numerics' that bf16 roundings almost never differ (products of FP8-quantised
// activations and FP8/FP4 weights are exact in fp32, and so are most 8-term lane sums of them),
// while the per-element work (the conversions, the multiply-adds) stays in 16-lane fp32.
//
// Thread-safety: pure functions over caller-owned memory.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kernels/cpu/weight_dot.h"

namespace dsagent::engine::kernels {

// One float activation row prepared for many dot products: the caller's values as they are, and
// for FP4 weights the even and odd columns apart (copied into reusable buffers).
class DotInputF32 {
 public:
  // `x` must stay valid while the input is used. split: also prepare even()/odd() (FP4 weights).
  void Prepare(const float* x, int64_t n, bool split);
  int64_t size() const { return n_; }
  const float* values() const { return values_; }
  const float* even() const { return even_.data(); }
  const float* odd() const { return odd_.data(); }

 private:
  int64_t n_ = 0;
  const float* values_ = nullptr;
  std::vector<float> even_, odd_;
};

// out[i] = the fp32 dot of W[row_begin + i, :] and x (the order above), i in [0, count).
// x.size() == w.cols; for FP4 weights x must be prepared with split.
void WeightRowDotsF32(CpuIsa isa, const WeightRows& w, int64_t row_begin, int64_t count,
                      const DotInputF32& x, float* out);

// The same dots for several inputs at once (prefill): out[t * out_stride + i] = the fp32 dot of
// W[row_begin + i, :] and inputs[t], t in [0, n_inputs), i in [0, count). The bits are those of
// n_inputs calls of WeightRowDotsF32 (each (row, input) pair keeps the contract's order); the
// AVX-512 variant dequantises each weight group once for all the inputs, the others loop.
void WeightRowDotsF32Batch(CpuIsa isa, const WeightRows& w, int64_t row_begin, int64_t count,
                           const DotInputF32* inputs, int64_t n_inputs, float* out,
                           int64_t out_stride);

namespace detail {
void WeightRowDotsF32BatchAvx512(const WeightRows& w, int64_t row_begin, int64_t count,
                                 const DotInputF32* inputs, int64_t n_inputs, float* out,
                                 int64_t out_stride);
void WeightRowDotsF32Scalar(const WeightRows& w, int64_t row_begin, int64_t count,
                            const DotInputF32& x, float* out);
void WeightRowDotsF32Avx2(const WeightRows& w, int64_t row_begin, int64_t count,
                          const DotInputF32& x, float* out);
void WeightRowDotsF32Avx512(const WeightRows& w, int64_t row_begin, int64_t count,
                            const DotInputF32& x, float* out);

// tail = fma(w[row, c], x[c], tail) for c in [c0, c1), in column order: the contract's tail,
// shared by every variant.
float WeightTailF32(const WeightRows& w, int64_t row, int64_t c0, int64_t c1, const DotInputF32& x,
                    float tail);
// The contract's final reduction of the 16 lanes.
inline double ReduceLanes16(const double* lanes) {
  double s8[8], s4[4];
  for (int i = 0; i < 8; ++i) s8[i] = lanes[i] + lanes[i + 8];
  for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
  const double s2a = s4[0] + s4[2], s2b = s4[1] + s4[3];
  return s2a + s2b;
}
}  // namespace detail

}  // namespace dsagent::engine::kernels
