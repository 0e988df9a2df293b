#include "engine/kernels/cpu/weight_dot_f32.h"

#include <array>
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

}  // namespace

void DotInputF32::Prepare(const float* x, int64_t n, bool split) {
  n_ = n;
  values_ = x;
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

}  // namespace detail

void WeightRowDotsF32(CpuIsa isa, const WeightRows& w, int64_t row_begin, int64_t count,
                      const DotInputF32& x, float* out) {
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
  if (isa == CpuIsa::kAvx512 && n_inputs > 1) {
    return detail::WeightRowDotsF32BatchAvx512(w, row_begin, count, inputs, n_inputs, out,
                                               out_stride);
  }
  for (int64_t t = 0; t < n_inputs; ++t) {
    WeightRowDotsF32(isa, w, row_begin, count, inputs[t], out + t * out_stride);
  }
}

}  // namespace dsagent::engine::kernels
