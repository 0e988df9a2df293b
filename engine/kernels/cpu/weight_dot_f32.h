// The `fast` numerics' fused dequantise-and-dot kernels (numerics_mode.h): dot products of weight
// rows, read straight from their stored bytes, with one float activation row, accumulated in fp32.
//
// The order of the arithmetic is part of the contract, so that every variant (scalar, AVX2,
// AVX-512) gives the same bits and a row's result never depends on how a product was split into
// calls, threads or tiles (prefill-then-decode equals one prefill). There are two orders; which
// one a product takes depends only on its operands:
//
// **Pairs** (BF16, FP8 and FP4 weights, when every value of the activation row is exact in bf16,
// which the reference's bf16 activations and FP8-quantised inputs always are): the order of
// AVX-512 BF16's vdpbf16ps, which multiplies bf16 pairs. For one weight row:
//   lanes[16] = 0 (double), tail = 0 (fp32)
//   for each 128-column block:  block[16] = 0 (fp32)
//     for each full 32-column group g of the block (FP4: whose scale is in the float-exact range,
//     weight_dot.h), for j = 0..15:
//       block[j] = S(block[j], v[g+2j+1], x[g+2j+1]);  block[j] = S(block[j], v[g+2j], x[g+2j])
//     lanes[j] += double(block[j]) * scale   (exact in double)
//   the block's other columns (a partial group, an FP4 group out of range) go to the tail, below.
// where v is the weight without its block scale for FP8 (the e4m3 value; `scale` is the block's
// 2^(e - 127)) and the exactly dequantised weight for BF16 and FP4 (scale 1), and
// S(a, w, x) = FTZ(fma(DAZ(w), DAZ(x), a)): an fp32 fused multiply-add whose inputs below 2^-126
// in magnitude count as (signed) zero and whose result below it becomes zero. That is exactly
// vdpbf16ps (odd column first, each add rounded, denormals flushed: bench/bf16_dot_probe for
// the order; 20M random operand sets biased into the underflow range for the flushes, a one-off
// check in session 11; tests/engine/kernels/weight_dot_f32_test.cc keeps comparing the native
// kernel with the scalar one there), and an fp32 FMA with the MXCSR's DAZ and FTZ set on CPUs
// without it (checked the same way).
//
// **Columns** (F32 weights, and activation rows with a value not exact in bf16):
//   lanes[16] = 0 (double), tail = 0 (fp32)
//   for each 128-column block:  block[16] = 0
//     FP8 (scale byte in the float-exact range, weight_dot.h), BF16, F32: each full group of 16
//       columns c..c+15 does block[j] = fma(w[c+j], x[c+j], block[j]); the block's remaining
//       columns go to the tail.
//     FP4: each complete 32-column scale group g (scale in range) does, for j = 0..15,
//       block[j] = fma(w[g+2j], x[g+2j], block[j]) then block[j] = fma(w[g+2j+1], x[g+2j+1],
//       block[j]); other groups go to the tail.
//     An FP8 block whose scale is out of range goes to the tail.
//     lanes[j] += block[j]   (in double)
//   with w the exactly dequantised weight (value times its power-of-two scale; out-of-range scales
//   multiply in float), plain IEEE fp32 FMAs.
//
// Both orders end the same way. The tail takes its columns in column order, tail = fma(w, x,
// tail) in fp32 with the dequantised weight, and
//   result = float(((lanes[i] + lanes[i+8]) then [i] + [i+4], then [i] + [i+2], then [0] + [1])
//                  + tail)   (in double, rounded once to float)
// This is the GPU kernels' shape — fp32 partial sums per 128-block — except that the partial sums
// are combined in double, not fp32: that keeps the results so close to the exact numerics' that
// bf16 roundings almost never differ (products of FP8-quantised activations and FP8/FP4 weights
// are exact in fp32, and so are most short sums of them), while the per-element work stays in
// 16-lane fp32 (32 products per instruction with vdpbf16ps).
//
// Thread-safety: pure functions over caller-owned memory.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/kernels/cpu/weight_dot.h"

namespace dsagent::engine::kernels {

// One float activation row prepared for many dot products: the caller's values as they are; when
// every value is exact in bf16 (pairs()), their bf16 bits and the even and odd columns apart, with
// values below 2^-126 in magnitude as zero (the pair order's DAZ); otherwise, for FP4 weights,
// the even and odd columns apart. Copied into reusable buffers: a workspace allocates once.
class DotInputF32 {
 public:
  // `x` must stay valid while the input is used. split: also prepare even()/odd() (FP4 weights).
  void Prepare(const float* x, int64_t n, bool split);
  int64_t size() const { return n_; }
  const float* values() const { return values_; }
  // Whether products with BF16, FP8 and FP4 weights take the pair order (see above).
  bool pairs() const { return pairs_; }
  const uint16_t* bf16() const { return bf16_.data(); }  // pairs(): the values' bf16 bits
  const float* even() const { return even_.data(); }
  const float* odd() const { return odd_.data(); }

 private:
  int64_t n_ = 0;
  const float* values_ = nullptr;
  bool pairs_ = false;
  std::vector<uint16_t> bf16_;
  std::vector<float> even_, odd_;
};

// Whether products of weights in `format` with `x` take the pair order.
inline bool TakesPairs(WeightFormat format, const DotInputF32& x) {
  return x.pairs() && format != WeightFormat::kF32;
}

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
// DotInputF32::Prepare's pair form on AVX-512: when every x[i] is exact in bf16, writes the
// values' bf16 bits (denormals flushed to signed zero) and the even and odd columns apart, and
// returns true; otherwise returns false (the outputs are then partly written). bf16 holds n
// words, even (n + 1) / 2 and odd n / 2 floats.
bool PreparePairsAvx512(const float* x, int64_t n, uint16_t* bf16, float* even, float* odd);
void WeightRowDotsF32BatchAvx512(const WeightRows& w, int64_t row_begin, int64_t count,
                                 const DotInputF32* inputs, int64_t n_inputs, float* out,
                                 int64_t out_stride);
void WeightRowDotsF32Scalar(const WeightRows& w, int64_t row_begin, int64_t count,
                            const DotInputF32& x, float* out);
void WeightRowDotsF32Avx2(const WeightRows& w, int64_t row_begin, int64_t count,
                          const DotInputF32& x, float* out);
void WeightRowDotsF32Avx512(const WeightRows& w, int64_t row_begin, int64_t count,
                            const DotInputF32& x, float* out);

// The pair order (TakesPairs). The scalar reference; the AVX2 + FMA variant (fp32 FMAs under
// DAZ/FTZ, also what AVX-512 CPUs without BF16 run); the AVX-512 BF16 + VBMI variant
// (vdpbf16ps; CpuHasAvx512Bf16()), whose batch form converts each weight group once for all the
// inputs. All give the scalar bits.
void PairDotsScalar(const WeightRows& w, int64_t row_begin, int64_t count, const DotInputF32& x,
                    float* out);
void PairDotsAvx2(const WeightRows& w, int64_t row_begin, int64_t count, const DotInputF32& x,
                  float* out);
void PairDotsAvx512Bf16(const WeightRows& w, int64_t row_begin, int64_t count, const DotInputF32& x,
                        float* out);
void PairDotsBatchAvx512Bf16(const WeightRows& w, int64_t row_begin, int64_t count,
                             const DotInputF32* inputs, int64_t n_inputs, float* out,
                             int64_t out_stride);
// The pair order's tail of one row: its partial groups and out-of-range FP4 groups, in column
// order (plain fp32 FMAs, the columns order's tail), shared by every variant.
float PairTail(const WeightRows& w, int64_t row, const DotInputF32& x);
// S(a, w, x) of the pair order, in portable C++.
float PairStep(float a, float w, float x);
// The pair order's FP8 block scale: 2^(e - 127) for an e8m0 byte, in double (NaN for 0xff).
inline double PairBlockScale(uint8_t e) {
  const uint64_t bits = e == 0xff ? 0x7ff8000000000000ull : static_cast<uint64_t>(e + 896) << 52;
  double v;
  std::memcpy(&v, &bits, 8);
  return v;
}

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
