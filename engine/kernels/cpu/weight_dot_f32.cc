#include "engine/kernels/cpu/weight_dot_f32.h"

#include <array>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

namespace dsagent::engine::kernels {
namespace {

// Every e4m3 byte, e8m0 byte and e2m1 nibble as a float (exact; 2^-127 is a float subnormal).
struct TablesF32 {
  std::array<float, 256> fp8{}, e8m0{};
  std::array<float, 16> fp4{};
  TablesF32() {
    for (int b = 0; b < 256; ++b) {
      const int exponent = (b >> 3) & 0xf, mantissa = b & 7;
      float v = exponent == 0 ? std::ldexp(static_cast<float>(mantissa), -9)
                              : std::ldexp(static_cast<float>(8 + mantissa), exponent - 10);
      if ((b & 0x7f) == 0x7f) v = std::numeric_limits<float>::quiet_NaN();
      fp8[static_cast<size_t>(b)] = (b & 0x80) ? -v : v;
      e8m0[static_cast<size_t>(b)] =
          b == 0xff ? std::numeric_limits<float>::quiet_NaN() : std::ldexp(1.0f, b - 127);
    }
    static constexpr float kMagnitude[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    for (int n = 0; n < 16; ++n) {
      fp4[static_cast<size_t>(n)] = (n & 8) ? -kMagnitude[n & 7] : kMagnitude[n & 7];
    }
  }
};
const TablesF32& T() {
  static const TablesF32 tables;
  return tables;
}

// The dequantised weight W[row, c] in float.
inline float WeightValue(const WeightRows& w, int64_t row, int64_t c) {
  switch (w.format) {
    case WeightFormat::kF32: {
      float v;
      std::memcpy(&v, w.data + (row * w.cols + c) * 4, 4);
      return v;
    }
    case WeightFormat::kBF16: {
      uint16_t bits;
      std::memcpy(&bits, w.data + (row * w.cols + c) * 2, 2);
      const uint32_t u = static_cast<uint32_t>(bits) << 16;
      float v;
      std::memcpy(&v, &u, 4);
      return v;
    }
    case WeightFormat::kFP8:
      return T().fp8[w.data[row * w.cols + c]] *
             T().e8m0[w.scale[(row / 128) * w.scale_cols + c / 128]];
    case WeightFormat::kFP4: {
      const uint8_t byte = w.data[row * (w.cols / 2) + c / 2];
      return T().fp4[(c & 1) ? byte >> 4 : byte & 0xf] *
             T().e8m0[w.scale[row * w.scale_cols + c / 32]];
    }
  }
  return 0;
}

float RowScalar(const WeightRows& w, int64_t row, const DotInputF32& x) {
  const float* xv = x.values();
  double lanes[16] = {};
  float tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    float block[16] = {};
    if (w.format == WeightFormat::kFP4) {
      for (int64_t g = c0; g < c1; g += 32) {
        const int64_t g1 = c1 < g + 32 ? c1 : g + 32;
        if (g1 - g == 32 && detail::Fp4ScaleFitsFloat(w.scale[row * w.scale_cols + g / 32])) {
          for (int j = 0; j < 16; ++j) {
            block[j] = std::fma(WeightValue(w, row, g + 2 * j), xv[g + 2 * j], block[j]);
            block[j] = std::fma(WeightValue(w, row, g + 2 * j + 1), xv[g + 2 * j + 1], block[j]);
          }
        } else {
          tail = detail::WeightTailF32(w, row, g, g1, x, tail);
        }
      }
    } else if (w.format == WeightFormat::kFP8 &&
               !detail::Fp8ScaleFitsFloat(w.scale[(row / 128) * w.scale_cols + c0 / 128])) {
      tail = detail::WeightTailF32(w, row, c0, c1, x, tail);
    } else {
      int64_t c = c0;
      for (; c + 16 <= c1; c += 16) {
        for (int j = 0; j < 16; ++j)
          block[j] = std::fma(WeightValue(w, row, c + j), xv[c + j], block[j]);
      }
      tail = detail::WeightTailF32(w, row, c, c1, x, tail);
    }
    for (int j = 0; j < 16; ++j) lanes[j] += block[j];
  }
  return static_cast<float>(detail::ReduceLanes16(lanes) + static_cast<double>(tail));
}

// The pair order's weight value v (weight_dot_f32.h): FP8 without its block scale.
inline float PairWeightValue(const WeightRows& w, int64_t row, int64_t c) {
  if (w.format == WeightFormat::kFP8) return T().fp8[w.data[row * w.cols + c]];
  return WeightValue(w, row, c);
}

float PairRowScalar(const WeightRows& w, int64_t row, const DotInputF32& x) {
  const float* xe = x.even();
  const float* xo = x.odd();
  double lanes[16] = {};
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    float block[16] = {};
    for (int64_t g = c0; g + 32 <= c1; g += 32) {
      if (w.format == WeightFormat::kFP4 &&
          !detail::Fp4ScaleFitsFloat(w.scale[row * w.scale_cols + g / 32])) {
        continue;  // in the tail
      }
      for (int j = 0; j < 16; ++j) {
        const int64_t c = g + 2 * j;
        block[j] = detail::PairStep(block[j], PairWeightValue(w, row, c + 1), xo[c / 2]);
        block[j] = detail::PairStep(block[j], PairWeightValue(w, row, c), xe[c / 2]);
      }
    }
    const double scale =
        w.format == WeightFormat::kFP8
            ? detail::PairBlockScale(w.scale[(row / 128) * w.scale_cols + c0 / 128])
            : 1.0;
    for (int j = 0; j < 16; ++j) lanes[j] += static_cast<double>(block[j]) * scale;
  }
  return static_cast<float>(detail::ReduceLanes16(lanes) +
                            static_cast<double>(detail::PairTail(w, row, x)));
}

// Below 2^-126 in magnitude: the signed zero (the pair order's DAZ and FTZ).
inline float FlushDenormal(float v) { return std::fabs(v) < FLT_MIN ? std::copysign(0.0f, v) : v; }

}  // namespace

void DotInputF32::Prepare(const float* x, int64_t n, bool split) {
  n_ = n;
  values_ = x;
  if (ActiveCpuIsa() == CpuIsa::kAvx512) {
    // One vector pass (a prefill prepares every input row of every product on the caller's
    // thread, so the scalar loops below were ~8% of its wall time; measured with perf).
    bf16_.resize(static_cast<size_t>(n));
    even_.resize(static_cast<size_t>((n + 1) / 2));
    odd_.resize(static_cast<size_t>(n / 2));
    pairs_ = detail::PreparePairsAvx512(x, n, bf16_.data(), even_.data(), odd_.data());
    if (pairs_) return;
  }
  pairs_ = true;
  for (int64_t i = 0; i < n && pairs_; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], 4);
    pairs_ = (bits & 0xffff) == 0;
  }
  if (pairs_) {
    bf16_.resize(static_cast<size_t>(n));
    even_.resize(static_cast<size_t>((n + 1) / 2));
    odd_.resize(static_cast<size_t>(n / 2));
    for (int64_t i = 0; i < n; ++i) {
      const float v = FlushDenormal(x[i]);
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      bf16_[static_cast<size_t>(i)] = static_cast<uint16_t>(bits >> 16);
      ((i & 1) ? odd_ : even_)[static_cast<size_t>(i / 2)] = v;
    }
    return;
  }
  if (!split) return;
  even_.resize(static_cast<size_t>((n + 1) / 2));
  odd_.resize(static_cast<size_t>(n / 2));
  for (int64_t i = 0; i < n; ++i) ((i & 1) ? odd_ : even_)[static_cast<size_t>(i / 2)] = x[i];
}

namespace detail {

float WeightTailF32(const WeightRows& w, int64_t row, int64_t c0, int64_t c1, const DotInputF32& x,
                    float tail) {
  const float* xv = x.values();
  for (int64_t c = c0; c < c1; ++c) tail = std::fma(WeightValue(w, row, c), xv[c], tail);
  return tail;
}

void WeightRowDotsF32Scalar(const WeightRows& w, int64_t row_begin, int64_t count,
                            const DotInputF32& x, float* out) {
  for (int64_t i = 0; i < count; ++i) out[i] = RowScalar(w, row_begin + i, x);
}

float PairStep(float a, float w, float x) {
  return FlushDenormal(std::fma(FlushDenormal(w), FlushDenormal(x), FlushDenormal(a)));
}

float PairTail(const WeightRows& w, int64_t row, const DotInputF32& x) {
  if (w.cols % 32 == 0 && w.format != WeightFormat::kFP4) return 0;
  float tail = 0;
  for (int64_t c0 = 0; c0 < w.cols; c0 += 128) {
    const int64_t c1 = w.cols < c0 + 128 ? w.cols : c0 + 128;
    int64_t g = c0;
    for (; g + 32 <= c1; g += 32) {
      if (w.format == WeightFormat::kFP4 &&
          !Fp4ScaleFitsFloat(w.scale[row * w.scale_cols + g / 32])) {
        tail = WeightTailF32(w, row, g, g + 32, x, tail);
      }
    }
    if (g < c1) tail = WeightTailF32(w, row, g, c1, x, tail);
  }
  return tail;
}

void PairDotsScalar(const WeightRows& w, int64_t row_begin, int64_t count, const DotInputF32& x,
                    float* out) {
  for (int64_t i = 0; i < count; ++i) out[i] = PairRowScalar(w, row_begin + i, x);
}

}  // namespace detail

void WeightRowDotsF32(CpuIsa isa, const WeightRows& w, int64_t row_begin, int64_t count,
                      const DotInputF32& x, float* out) {
  if (TakesPairs(w.format, x)) {
    switch (isa) {
      case CpuIsa::kAvx512:
        if (CpuHasAvx512Bf16()) return detail::PairDotsAvx512Bf16(w, row_begin, count, x, out);
        return detail::PairDotsAvx2(w, row_begin, count, x, out);
      case CpuIsa::kAvx2:
        return detail::PairDotsAvx2(w, row_begin, count, x, out);
      case CpuIsa::kScalar:
        return detail::PairDotsScalar(w, row_begin, count, x, out);
    }
  }
  switch (isa) {
    case CpuIsa::kAvx512:
      return detail::WeightRowDotsF32Avx512(w, row_begin, count, x, out);
    case CpuIsa::kAvx2:
      return detail::WeightRowDotsF32Avx2(w, row_begin, count, x, out);
    case CpuIsa::kScalar:
      break;
  }
  detail::WeightRowDotsF32Scalar(w, row_begin, count, x, out);
}

void WeightRowDotsF32Batch(CpuIsa isa, const WeightRows& w, int64_t row_begin, int64_t count,
                           const DotInputF32* inputs, int64_t n_inputs, float* out,
                           int64_t out_stride) {
  // One input (decode) takes the single-input kernel, which prefetches the weights it streams.
  // The batch kernels take inputs of one order; a mix goes one input at a time (the same bits).
  if (isa == CpuIsa::kAvx512 && n_inputs > 1) {
    int64_t pairs = 0;
    for (int64_t t = 0; t < n_inputs; ++t) pairs += TakesPairs(w.format, inputs[t]) ? 1 : 0;
    if (pairs == n_inputs && CpuHasAvx512Bf16()) {
      return detail::PairDotsBatchAvx512Bf16(w, row_begin, count, inputs, n_inputs, out,
                                             out_stride);
    }
    if (pairs == 0) {
      return detail::WeightRowDotsF32BatchAvx512(w, row_begin, count, inputs, n_inputs, out,
                                                 out_stride);
    }
  }
  for (int64_t t = 0; t < n_inputs; ++t) {
    WeightRowDotsF32(isa, w, row_begin, count, inputs[t], out + t * out_stride);
  }
}

}  // namespace dsagent::engine::kernels
