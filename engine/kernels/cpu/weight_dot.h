// Fused dequantise-and-dot kernels for the CPU: dot products of weight rows, read straight from
// their stored bytes (BF16, F32, FP8 e4m3 + e8m0 per 128x128 block, FP4 e2m1 + e8m0 per 32), with
// one activation row, accumulated in double.
//
// Why double: every product of a stored weight and an activation the reference feeds it (bf16,
// fp32, or FP8-quantised) is exact in double, and the double sums are exact or within an ulp of
// double, far below the float/bf16 the results are rounded to. So these kernels give the `exact`
// numerics' results whatever their summation order: the scalar, AVX2 and AVX-512 variants agree
// with each other (and with the reference's float64 GEMMs) after rounding to float.
//
// Each variant is compiled for its instruction set and chosen at run time (cpu_isa.h). Weight
// blocks whose scale would leave the float range during dequantisation (never seen in real
// checkpoints) go through the scalar path, so results never depend on the variant.
//
// Thread-safety: pure functions over caller-owned memory.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kernels/cpu_isa.h"
#include "engine/kernels/weight_format.h"

namespace dsagent::engine::kernels {

// Rows of a stored weight matrix (a view into the checkpoint mapping).
struct WeightRows {
  WeightFormat format = WeightFormat::kBF16;
  const uint8_t* data = nullptr;   // row 0 of the matrix
  const uint8_t* scale = nullptr;  // kFP8 / kFP4 block scales (see WeightFormat)
  int64_t cols = 0;                // logical columns (FP4: two per byte)
  int64_t scale_cols = 0;          // columns of the scale tensor
};

// One activation row converted once for many dot products: the values as doubles, and for FP4
// weights the even and odd columns apart (a packed FP4 byte holds an even and an odd column).
// Reusable: Prepare() keeps its buffers, so a workspace allocates once.
class DotInput {
 public:
  void Prepare(const float* x, int64_t n);
  int64_t size() const { return n_; }
  const double* values() const { return values_.data(); }
  const double* even() const { return even_.data(); }
  const double* odd() const { return odd_.data(); }

 private:
  int64_t n_ = 0;
  std::vector<double> values_, even_, odd_;
};

// out[i] = sum_k W[row_begin + i, k] * x[k] for i in [0, count), in double. x.size() == w.cols.
void WeightRowDots(CpuIsa isa, const WeightRows& w, int64_t row_begin, int64_t count,
                   const DotInput& x, double* out);

// sum_k a[k] * b[k] in double (the prefill path's inner product over dequantised panels).
double DotF64(CpuIsa isa, const double* a, const double* b, int64_t n);

// The prefill path's many dot products over dequantised panels: out[t * out_stride + r] =
// DotF64(isa, x + t * x_stride, w + r * w_stride, n) bit for bit, for r < rows, t < inputs. The
// AVX-512 variant works in register tiles of kDotsF64TileRows weight rows x kDotsF64TileInputs
// input rows (each vector loaded once per tile step and used by several FMAs; DotF64 loads two
// vectors per FMA) in the same per-pair order, so the tiling changes nothing but speed; the
// others loop over DotF64. Longer rows go in passes of kDotsF64PassCols columns, each pair's
// accumulators kept in memory between passes (the same values, so the same bits), so that the
// columns a pass reads stay in cache: a caller sizes its panels for min(n, kDotsF64PassCols)
// columns, in multiples of kDotsF64TileRows rows.
void DotsF64(CpuIsa isa, const double* w, int64_t w_stride, int64_t rows, const double* x,
             int64_t x_stride, int64_t inputs, int64_t n, double* out, int64_t out_stride);
constexpr int kDotsF64TileRows = 3, kDotsF64TileInputs = 4;
constexpr int64_t kDotsF64PassCols = 4096;

// y[k] += a * x[k] for k in [0, n), x bf16 bits, in double (attention's P.V: a is a bf16-rounded
// probability, so every product is exact and each y[k] gets the same bits in every variant).
void AxpyBf16F64(CpuIsa isa, double a, const uint16_t* x, double* y, int64_t n);

// The variants behind the dispatch (weight_dot_<isa>.cc). Each handles every format; a block it
// cannot dequantise exactly in float falls back to WeightRowDotScalarBlock.
namespace detail {
void WeightRowDotsScalar(const WeightRows& w, int64_t row_begin, int64_t count, const DotInput& x,
                         double* out);
void WeightRowDotsAvx2(const WeightRows& w, int64_t row_begin, int64_t count, const DotInput& x,
                       double* out);
void WeightRowDotsAvx512(const WeightRows& w, int64_t row_begin, int64_t count,
                         const DotInput& x, double* out);
double DotF64Scalar(const double* a, const double* b, int64_t n);
double DotF64Avx2(const double* a, const double* b, int64_t n);
double DotF64Avx512(const double* a, const double* b, int64_t n);
// DotsF64's register-tiled variant (weight_dot_avx512.cc). pass_state: 16 * rows * inputs
// doubles for the accumulators between passes when n - n % 16 > kDotsF64PassCols, else unused
// (DotsF64 keeps it per thread, outside the AVX-512 file, which uses no library templates).
void DotsF64Avx512(const double* w, int64_t w_stride, int64_t rows, const double* x,
                   int64_t x_stride, int64_t inputs, int64_t n, double* out, int64_t out_stride,
                   double* pass_state);
void AxpyBf16F64Scalar(double a, const uint16_t* x, double* y, int64_t n);
void AxpyBf16F64Avx2(double a, const uint16_t* x, double* y, int64_t n);
void AxpyBf16F64Avx512(double a, const uint16_t* x, double* y, int64_t n);

// The FP8 and FP4 blocks the SIMD variants dequantise in float: a scale byte in this range keeps
// every dequantised value a normal float, so value * scale is exact.
// FP8: the smallest e4m3 subnormal 2^-9 times 2^(s - 127) must be >= 2^-126, and 448 times it
// below 2^128: 10 <= s <= 246. FP4: 0.5 * 2^(s - 127) >= 2^-126 and 6 * 2^(s - 127) < 2^128.
inline bool Fp8ScaleFitsFloat(uint8_t scale_byte) { return scale_byte >= 10 && scale_byte <= 246; }
inline bool Fp4ScaleFitsFloat(uint8_t scale_byte) { return scale_byte >= 2 && scale_byte <= 251; }

// sum over columns [c0, c1) of row `row` (one scale block or part of it), scalar, in double.
double WeightRowDotScalarRange(const WeightRows& w, int64_t row, int64_t c0, int64_t c1,
                               const DotInput& x);
}  // namespace detail

}  // namespace dsagent::engine::kernels
