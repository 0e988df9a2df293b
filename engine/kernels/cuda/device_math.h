// Per-element arithmetic shared by the CUDA kernels and the host: number-format decoding (e4m3,
// e2m1, e8m0, bf16), the reference's roundings and block scales, SwiGLU, and the `fast` numerics'
// per-lane matrix-vector arithmetic (cpu/weight_dot_f32.h). Every function is `__host__
// __device__` under nvcc and plain inline under g++, so the device-free tests run the very code
// the kernels run and compare it with the CPU implementation (tests/engine/kernels/
// cuda_device_math_test.cc).
//
// The functions compute exactly what engine/forward/numerics.h and kernels/cpu/weight_dot_f32.*
// compute, operation for operation, so results are the same bits on both sides: the CUDA files
// are compiled with --fmad=false (no contraction of a*b+c, like g++ in ISO mode) and without
// fast-math (IEEE division, subnormals kept). Transcendentals (exp, cos, sin) are evaluated in
// double and rounded to float, as on the CPU; CUDA's double exp/cos/sin are within 2 ulp of
// glibc's, which the float rounding hides except in rare near-tie cases (the fast-mode contract).
//
// C++17 (nvcc), no std::bit_cast, no tables: device code cannot read host static arrays.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define DSAGENT_HD __host__ __device__ __forceinline__
#else
#define DSAGENT_HD inline
#endif

namespace dsagent::engine::kernels::cuda {

// ---- flags -----------------------------------------------------------------------------------
// Sets a flag that several threads may set at once (an FP4 row's tail, an input not exact in
// bf16). Plain stores of one value by several threads are still a data race under CUDA's memory
// model (the emulator's race check reports them: tests/cuda_emulator/README.md), so on the device
// and the emulator it is an atomic store, taken only on these rare paths; the host tests, one
// thread at a time, store plainly. (A .cu file includes <cuda_runtime.h> first, which marks the
// emulator's.)
DSAGENT_HD void RaiseFlag(int* flag) {
#if defined(__CUDA_ARCH__) || defined(DSAGENT_CUDA_EMULATOR_RUNTIME)
  atomicExch(flag, 1);
#else
  *flag = 1;
#endif
}

// ---- bits ------------------------------------------------------------------------------------
DSAGENT_HD uint32_t FloatBits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}
DSAGENT_HD float BitsFloat(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}
// 2^e as a float for e in [-149, 127] (subnormals below -126).
DSAGENT_HD float Pow2F(int e) {
  return e >= -126 ? BitsFloat(static_cast<uint32_t>(e + 127) << 23) : BitsFloat(1u << (e + 149));
}
DSAGENT_HD float QuietNanF() { return BitsFloat(0x7fc00000u); }
DSAGENT_HD bool IsNanF(float f) { return (FloatBits(f) & 0x7fffffffu) > 0x7f800000u; }

// ---- bf16 ------------------------------------------------------------------------------------
DSAGENT_HD float Bf16ToFloat(uint16_t bits) { return BitsFloat(static_cast<uint32_t>(bits) << 16); }
// Round to nearest even; NaN stays NaN (quiet).
DSAGENT_HD uint16_t FloatToBf16Bits(float f) {
  uint32_t u = FloatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
DSAGENT_HD float RoundBf16(float f) { return Bf16ToFloat(FloatToBf16Bits(f)); }

// ---- stored weight formats -------------------------------------------------------------------
// e4m3fn: 1 sign, 4 exponent bits (bias 7), 3 mantissa bits; 0x7f/0xff are NaN.
DSAGENT_HD float E4M3ToFloat(uint8_t b) {
  const uint32_t exponent = (b >> 3) & 0xfu, mantissa = b & 7u;
  float v;
  if ((b & 0x7fu) == 0x7fu) {
    v = QuietNanF();
  } else if (exponent == 0) {
    v = static_cast<float>(mantissa) * Pow2F(-9);
  } else {
    v = BitsFloat(((exponent - 7u + 127u) << 23) | (mantissa << 20));
  }
  return (b & 0x80u) ? -v : v;
}
// e8m0: 2^(b - 127); 0xff is NaN (2^-127 is a float subnormal).
DSAGENT_HD float E8M0ToFloat(uint8_t b) {
  return b == 0xff ? QuietNanF() : Pow2F(static_cast<int>(b) - 127);
}
// e2m1 nibble: bit 3 sign, bits 0..2 index {0, .5, 1, 1.5, 2, 3, 4, 6}.
DSAGENT_HD float E2M1ToFloat(uint8_t nibble) {
  const int i = nibble & 7;
  const float m = i < 4 ? 0.5f * static_cast<float>(i)
                        : (i < 6 ? static_cast<float>(i - 2) : 2.0f * static_cast<float>(i - 4));
  return (nibble & 8) ? -m : m;
}
// The scale bytes whose blocks the per-lane arithmetic handles (kernels/cpu/weight_dot.h).
DSAGENT_HD bool Fp8ScaleInLaneRange(uint8_t s) { return s >= 10 && s <= 246; }
DSAGENT_HD bool Fp4ScaleInLaneRange(uint8_t s) { return s >= 2 && s <= 251; }

// ---- the reference's activation quantisers (number_formats.h, cpu/quant_ops.h) ----------
// 2^ceil(log2(t)) from t's bits, for a positive normal float.
DSAGENT_HD float Pow2Ceil(float t) {
  const uint32_t bits = FloatBits(t);
  const int e = static_cast<int>((bits >> 23) & 0xffu) - 127 + ((bits & 0x7fffffu) != 0 ? 1 : 0);
  return Pow2F(e);
}
DSAGENT_HD float Fp8BlockScale(float amax) {
  return Pow2Ceil(fmaxf(amax, 1e-4f) * static_cast<float>(1.0 / 448.0));
}
DSAGENT_HD float Fp4BlockScale(float amax) {
  return Pow2Ceil(fmaxf(amax, 6.0f * Pow2F(-126)) * static_cast<float>(1.0 / 6.0));
}
// The nearest e4m3fn value (ties to even), saturating at +-448; NaN stays NaN. Scaling by the
// power-of-two quantum is exact, so rounding to an integer in float equals the CPU's double path.
DSAGENT_HD float RoundE4M3(float v) {
  if (IsNanF(v)) return v;
  const float a = fabsf(v);
  if (a >= 448.0f) return v > 0 ? 448.0f : -448.0f;
  // Spacing: 2^-9 below 2^-6 (subnormals), else 2^(floor(log2 a) - 3).
  const int e = a < Pow2F(-6) ? -9 : static_cast<int>((FloatBits(a) >> 23) & 0xffu) - 127 - 3;
  const float r = rintf(v * Pow2F(-e)) * Pow2F(e);
  return fmaxf(-448.0f, fminf(448.0f, r));
}
// The nearest e2m1 value (ties to even), saturating at +-6.
DSAGENT_HD float RoundE2M1(float v) {
  if (IsNanF(v)) return v;
  const float a = fabsf(v);
  if (a >= 6.0f) return v > 0 ? 6.0f : -6.0f;
  const float quantum = a < 2.0f ? 0.5f : (a < 4.0f ? 1.0f : 2.0f);
  return rintf(v / quantum) * quantum;
}
// One value of a quantised block with scale s: round(x / s) * s.
DSAGENT_HD float QuantizeE4M3(float x, float s) { return RoundE4M3(x / s) * s; }
DSAGENT_HD float QuantizeE2M1(float x, float s) { return RoundE2M1(x / s) * s; }

// ---- activations -----------------------------------------------------------------------------
// silu in double, rounded once to float (forward::SiluF).
DSAGENT_HD float SiluF(float x) {
  const double d = x;
  return static_cast<float>(d / (1.0 + exp(-d)));
}
// exp, sigmoid, softplus (beta 1, threshold 20) and sqrt in double, rounded once to float
// (forward::ExpF, SigmoidF, SoftplusF, SqrtF).
DSAGENT_HD float ExpF(float x) { return static_cast<float>(exp(static_cast<double>(x))); }
DSAGENT_HD float SigmoidF(float x) {
  return static_cast<float>(1.0 / (1.0 + exp(-static_cast<double>(x))));
}
DSAGENT_HD float SoftplusF(float x) {
  return x > 20.0f ? x : static_cast<float>(log1p(exp(static_cast<double>(x))));
}
DSAGENT_HD float SqrtF(float x) { return static_cast<float>(sqrt(static_cast<double>(x))); }
DSAGENT_HD float NegInfF() { return BitsFloat(0xff800000u); }
// 1/sqrt in double, rounded once to float (forward::RsqrtF).
DSAGENT_HD float RsqrtF(float x) { return static_cast<float>(1.0 / sqrt(static_cast<double>(x))); }
// One SwiGLU output (cpu/moe_ops.cc SwiGluInPlace): limit > 0 clamps u to [-limit, limit] and g
// from above; bf16(weight * (silu(g) * u)), `weight` 1 when the row has none.
DSAGENT_HD float SwiGluValue(float g, float u, float limit, bool has_weight, float weight) {
  if (limit > 0) {
    u = u < -limit ? -limit : (limit < u ? limit : u);  // std::clamp, NaN kept
    g = limit < g ? limit : g;                          // std::min(g, limit)
  }
  float a = SiluF(g) * u;
  if (has_weight) a = weight * a;
  return RoundBf16(a);
}
// One rotated pair of RoPE (cpu/rope_rotate.cc): cos/sin of the fp32 angle in double, rounded to
// float; the complex product in double, rounded to float, then bf16.
DSAGENT_HD void RopePair(float& a, float& b, float angle, bool inverse) {
  const double c = static_cast<float>(cos(static_cast<double>(angle)));
  double s = static_cast<float>(sin(static_cast<double>(angle)));
  if (inverse) s = -s;
  const double x = a, y = b;
  a = RoundBf16(static_cast<float>(x * c - y * s));
  b = RoundBf16(static_cast<float>(x * s + y * c));
}

// ---- the `fast` numerics' matrix-vector arithmetic (kernels/cpu/weight_dot_f32.h) ----------
// Two orders, as on the CPU: the columns order (below: F32 weights, or an activation with a value
// not exact in bf16) and the pair order (after it).
// A stored weight as the kernels read it (kernels::WeightRows plus nothing host-only).
enum class WeightKind : int { kBF16 = 0, kF32 = 1, kFP8 = 2, kFP4 = 3 };
struct WeightView {
  WeightKind kind;
  const uint8_t* data;   // row 0
  const uint8_t* scale;  // FP8: [ceil(rows/128), scale_cols]; FP4: [rows, scale_cols]
  int64_t cols;          // logical columns
  int64_t scale_cols;
};

// The dequantised weight W[row, c] in float (value times scale, multiplied in float).
DSAGENT_HD float WeightAt(const WeightView& w, int64_t row, int64_t c) {
  switch (w.kind) {
    case WeightKind::kF32: {
      float v;
      memcpy(&v, w.data + (row * w.cols + c) * 4, 4);
      return v;
    }
    case WeightKind::kBF16: {
      const uint8_t* p = w.data + (row * w.cols + c) * 2;
      return Bf16ToFloat(static_cast<uint16_t>(p[0] | (p[1] << 8)));
    }
    case WeightKind::kFP8:
      return E4M3ToFloat(w.data[row * w.cols + c]) *
             E8M0ToFloat(w.scale[(row / 128) * w.scale_cols + c / 128]);
    case WeightKind::kFP4: {
      const uint8_t byte = w.data[row * (w.cols / 2) + c / 2];
      return E2M1ToFloat(static_cast<uint8_t>((c & 1) ? byte >> 4 : byte & 0xf)) *
             E8M0ToFloat(w.scale[row * w.scale_cols + c / 32]);
    }
  }
  return 0;
}

// Lane j's (0..15) fp32 sum over the 128-column block [c0, c1) of `row`: the contract's block[j].
// 0 for the parts that go to the tail.
DSAGENT_HD float BlockLaneSum(const WeightView& w, int64_t row, int64_t c0, int64_t c1, int j,
                              const float* x) {
  float acc = 0.0f;
  if (w.kind == WeightKind::kFP4) {
    for (int64_t g = c0; g + 32 <= c1; g += 32) {
      if (!Fp4ScaleInLaneRange(w.scale[row * w.scale_cols + g / 32])) continue;
      acc = fmaf(WeightAt(w, row, g + 2 * j), x[g + 2 * j], acc);
      acc = fmaf(WeightAt(w, row, g + 2 * j + 1), x[g + 2 * j + 1], acc);
    }
    return acc;
  }
  if (w.kind == WeightKind::kFP8 &&
      !Fp8ScaleInLaneRange(w.scale[(row / 128) * w.scale_cols + c0 / 128])) {
    return acc;
  }
  for (int64_t c = c0; c + 16 <= c1; c += 16) acc = fmaf(WeightAt(w, row, c + j), x[c + j], acc);
  return acc;
}

// The contract's tail accumulator continued over the block [c0, c1) of `row`: every column the
// lanes do not take, in column order.
DSAGENT_HD float BlockTail(const WeightView& w, int64_t row, int64_t c0, int64_t c1, const float* x,
                           float tail) {
  if (w.kind == WeightKind::kFP4) {
    for (int64_t g = c0; g < c1; g += 32) {
      const int64_t g1 = c1 < g + 32 ? c1 : g + 32;
      if (g1 - g == 32 && Fp4ScaleInLaneRange(w.scale[row * w.scale_cols + g / 32])) continue;
      for (int64_t c = g; c < g1; ++c) tail = fmaf(WeightAt(w, row, c), x[c], tail);
    }
    return tail;
  }
  int64_t c = c0;
  if (w.kind != WeightKind::kFP8 ||
      Fp8ScaleInLaneRange(w.scale[(row / 128) * w.scale_cols + c0 / 128])) {
    c = c0 + (c1 - c0) / 16 * 16;
  }
  for (; c < c1; ++c) tail = fmaf(WeightAt(w, row, c), x[c], tail);
  return tail;
}

// The contract's reduction of the 16 double lanes ((i, i+8), then (i, i+4), (0, 2) (1, 3), (0, 1)).
DSAGENT_HD double ReduceLanes16(const double* lanes) {
  double s8[8], s4[4];
  for (int i = 0; i < 8; ++i) s8[i] = lanes[i] + lanes[i + 8];
  for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

// ---- the pair order (weight_dot_f32.h): BF16/FP8/FP4 weights with an activation exact in bf16 --

// Below 2^-126 in magnitude: the signed zero (vdpbf16ps's DAZ and FTZ).
DSAGENT_HD float FlushDenormal(float v) {
  return fabsf(v) < 1.17549435e-38f ? copysignf(0.0f, v) : v;
}
// S(a, w, x): an fp32 FMA with denormal inputs and result flushed.
DSAGENT_HD float PairStep(float a, float w, float x) {
  return FlushDenormal(fmaf(FlushDenormal(w), FlushDenormal(x), FlushDenormal(a)));
}
// Whether a value is exact in bf16 (its low 16 bits are zero).
DSAGENT_HD bool ExactInBf16(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  return (u & 0xffffu) == 0;
}
// The pair order's weight value: FP8 without its block scale, the others dequantised.
DSAGENT_HD float PairWeightAt(const WeightView& w, int64_t row, int64_t c) {
  if (w.kind == WeightKind::kFP8) return E4M3ToFloat(w.data[row * w.cols + c]);
  return WeightAt(w, row, c);
}

// Lane j's (0..15) block[j] over the 128-column block [c0, c1) in the pair order: for each full
// 32-column group (FP4: scale in range), the odd column's step, then the even one's.
DSAGENT_HD float BlockLanePairSum(const WeightView& w, int64_t row, int64_t c0, int64_t c1, int j,
                                  const float* x) {
  float acc = 0.0f;
  for (int64_t g = c0; g + 32 <= c1; g += 32) {
    if (w.kind == WeightKind::kFP4 && !Fp4ScaleInLaneRange(w.scale[row * w.scale_cols + g / 32])) {
      continue;
    }
    const int64_t c = g + 2 * j;
    acc = PairStep(acc, PairWeightAt(w, row, c + 1), x[c + 1]);
    acc = PairStep(acc, PairWeightAt(w, row, c), x[c]);
  }
  return acc;
}
// The block's factor for lanes += double(block) * factor: FP8's block scale, else 1.
DSAGENT_HD double BlockPairScale(const WeightView& w, int64_t row, int64_t c0) {
  if (w.kind != WeightKind::kFP8) return 1.0;
  return static_cast<double>(E8M0ToFloat(w.scale[(row / 128) * w.scale_cols + c0 / 128]));
}
// The pair order's tail continued over the block [c0, c1): a partial last group and FP4 groups
// whose scale is out of range, in column order, plain fp32 FMAs.
DSAGENT_HD float BlockPairTail(const WeightView& w, int64_t row, int64_t c0, int64_t c1,
                               const float* x, float tail) {
  int64_t g = c0;
  for (; g + 32 <= c1; g += 32) {
    if (w.kind == WeightKind::kFP4 && !Fp4ScaleInLaneRange(w.scale[row * w.scale_cols + g / 32])) {
      for (int64_t c = g; c < g + 32; ++c) tail = fmaf(WeightAt(w, row, c), x[c], tail);
    }
  }
  for (int64_t c = g; c < c1; ++c) tail = fmaf(WeightAt(w, row, c), x[c], tail);
  return tail;
}

// One row's fp32 dot with x, lane by lane in sequence: what the CUDA kernel computes with 16
// threads per row (host reference for the device-free tests). pairs: the activation is exact in
// bf16 and the weight is not F32 (the pair order), else the columns order.
inline float RowDotBySharedLanes(const WeightView& w, int64_t row, const float* x, bool pairs) {
  double lanes[16] = {};
  float tail = 0.0f;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    if (pairs) {
      const double scale = BlockPairScale(w, row, c0);
      for (int j = 0; j < 16; ++j) {
        lanes[j] += static_cast<double>(BlockLanePairSum(w, row, c0, c1, j, x)) * scale;
      }
      tail = BlockPairTail(w, row, c0, c1, x, tail);
    } else {
      for (int j = 0; j < 16; ++j) lanes[j] += BlockLaneSum(w, row, c0, c1, j, x);
      tail = BlockTail(w, row, c0, c1, x, tail);
    }
  }
  return static_cast<float>(ReduceLanes16(lanes) + static_cast<double>(tail));
}

// ---- the `exact` numerics' matrix-vector arithmetic (kernels/cpu/weight_dot.h) -------------
// W[row, c] in double: value times scale multiplied in double (exact for every scale byte, as
// the CPU's tables), so each product with an fp32 activation is exact in double.
DSAGENT_HD double WeightAtF64(const WeightView& w, int64_t row, int64_t c) {
  switch (w.kind) {
    case WeightKind::kF32:
    case WeightKind::kBF16:
      return WeightAt(w, row, c);
    case WeightKind::kFP8:
      return static_cast<double>(E4M3ToFloat(w.data[row * w.cols + c])) *
             static_cast<double>(E8M0ToFloat(w.scale[(row / 128) * w.scale_cols + c / 128]));
    case WeightKind::kFP4: {
      const uint8_t byte = w.data[row * (w.cols / 2) + c / 2];
      return static_cast<double>(
                 E2M1ToFloat(static_cast<uint8_t>((c & 1) ? byte >> 4 : byte & 0xf))) *
             static_cast<double>(E8M0ToFloat(w.scale[row * w.scale_cols + c / 32]));
    }
  }
  return 0;
}

// Lane `lane` of `lanes`' double partial dot of `row` with x: columns lane, lane + lanes, ...
// added in that order. The weights and inputs are loaded 8 at a time before their adds (on the
// device: 8 loads in flight per thread rather than a latency per column; the same sum).
DSAGENT_HD double ExactLaneDot(const WeightView& w, int64_t row, const float* x, int lane,
                               int lanes) {
  constexpr int kAhead = 8;
  const int64_t step = lanes;
  double acc = 0;
  int64_t c = lane;
  for (; c + (kAhead - 1) * step < w.cols; c += kAhead * step) {
    double wv[kAhead];
    float xv[kAhead];
    for (int u = 0; u < kAhead; ++u) {
      wv[u] = WeightAtF64(w, row, c + u * step);
      xv[u] = x[c + u * step];
    }
    for (int u = 0; u < kAhead; ++u) acc += wv[u] * static_cast<double>(xv[u]);
  }
  for (; c < w.cols; c += step) acc += WeightAtF64(w, row, c) * static_cast<double>(x[c]);
  return acc;
}

// The threads of the MatVecExact kernel's CTA (one CTA per output row and input): about 16
// columns each, a whole number of warps, 32 to 1024. A function of the columns alone, so the
// order of the sums (RowDotF64ByCta) is too.
DSAGENT_HD int ExactMatVecThreads(int64_t cols) {
  int64_t threads = (cols + 15) / 16;
  threads = (threads + 31) / 32 * 32;
  return static_cast<int>(threads < 32 ? 32 : threads > 1024 ? 1024 : threads);
}

// One row's exact dot as the MatVecExact kernel sums it (host reference): ExactMatVecThreads
// lane partials (columns t, t + threads, ...), each warp's 32 combined by xor butterflies, then
// the warps' sums added in order. The products are exact, so this is the CPU's double (any
// order) but for rare last-bit differences of the double, which the float rounding hides.
inline double RowDotF64ByCta(const WeightView& w, int64_t row, const float* x) {
  const int threads = ExactMatVecThreads(w.cols);
  double total = 0;
  for (int warp = 0; warp < threads / 32; ++warp) {
    double lane[32];
    for (int l = 0; l < 32; ++l) lane[l] = ExactLaneDot(w, row, x, warp * 32 + l, threads);
    for (int offset = 16; offset > 0; offset /= 2) {
      double next[32];
      for (int l = 0; l < 32; ++l) next[l] = lane[l] + lane[l ^ offset];
      for (int l = 0; l < 32; ++l) lane[l] = next[l];
    }
    total += lane[0];
  }
  return total;
}

}  // namespace dsagent::engine::kernels::cuda
