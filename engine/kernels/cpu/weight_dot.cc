#include "engine/kernels/cpu/weight_dot.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace dsagent::engine::kernels {
namespace {

// Every e4m3 byte, e8m0 byte and e2m1 nibble as a double (exact).
struct Tables {
  std::array<double, 256> fp8{}, e8m0{};
  std::array<double, 16> fp4{};
  Tables() {
    for (int b = 0; b < 256; ++b) {
      const int exponent = (b >> 3) & 0xf, mantissa = b & 7;
      double v = exponent == 0 ? std::ldexp(mantissa, -9) : std::ldexp(8 + mantissa, exponent - 10);
      if ((b & 0x7f) == 0x7f) v = std::numeric_limits<double>::quiet_NaN();
      fp8[static_cast<size_t>(b)] = (b & 0x80) ? -v : v;
      e8m0[static_cast<size_t>(b)] =
          b == 0xff ? std::numeric_limits<double>::quiet_NaN() : std::ldexp(1.0, b - 127);
    }
    static constexpr double kMagnitude[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
    for (int n = 0; n < 16; ++n) fp4[static_cast<size_t>(n)] = (n & 8) ? -kMagnitude[n & 7] : kMagnitude[n & 7];
  }
};
const Tables& T() {
  static const Tables tables;
  return tables;
}

}  // namespace

void DotInput::Prepare(const float* x, int64_t n) {
  n_ = n;
  values_.resize(static_cast<size_t>(n));
  even_.resize(static_cast<size_t>((n + 1) / 2));
  odd_.resize(static_cast<size_t>(n / 2));
  for (int64_t i = 0; i < n; ++i) {
    const double v = x[i];
    values_[static_cast<size_t>(i)] = v;
    ((i & 1) ? odd_ : even_)[static_cast<size_t>(i / 2)] = v;
  }
}

namespace detail {

double WeightRowDotScalarRange(const WeightRows& w, int64_t row, int64_t c0, int64_t c1,
                               const DotInput& x) {
  const double* xv = x.values();
  double sum = 0;
  switch (w.format) {
    case WeightFormat::kF32: {
      const uint8_t* p = w.data + row * w.cols * 4;
      for (int64_t c = c0; c < c1; ++c) {
        float v;
        std::memcpy(&v, p + 4 * c, 4);
        sum += static_cast<double>(v) * xv[c];
      }
      return sum;
    }
    case WeightFormat::kBF16: {
      const uint8_t* p = w.data + row * w.cols * 2;
      for (int64_t c = c0; c < c1; ++c) {
        uint16_t bits;
        std::memcpy(&bits, p + 2 * c, 2);
        float v;
        const uint32_t u = static_cast<uint32_t>(bits) << 16;
        std::memcpy(&v, &u, 4);
        sum += static_cast<double>(v) * xv[c];
      }
      return sum;
    }
    case WeightFormat::kFP8: {
      const Tables& t = T();
      const uint8_t* p = w.data + row * w.cols;
      const uint8_t* srow = w.scale + (row / 128) * w.scale_cols;
      for (int64_t c = c0; c < c1; ++c) {
        sum += t.fp8[p[c]] * t.e8m0[srow[c / 128]] * xv[c];
      }
      return sum;
    }
    case WeightFormat::kFP4: {
      const Tables& t = T();
      const uint8_t* p = w.data + row * (w.cols / 2);
      const uint8_t* srow = w.scale + row * w.scale_cols;
      for (int64_t c = c0; c < c1; ++c) {
        const uint8_t byte = p[c / 2];
        const double v = t.fp4[(c & 1) ? byte >> 4 : byte & 0xf];
        sum += v * t.e8m0[srow[c / 32]] * xv[c];
      }
      return sum;
    }
  }
  return sum;
}

void WeightRowDotsScalar(const WeightRows& w, int64_t row_begin, int64_t count, const DotInput& x,
                         double* out) {
  for (int64_t i = 0; i < count; ++i) {
    out[i] = WeightRowDotScalarRange(w, row_begin + i, 0, w.cols, x);
  }
}

double DotF64Scalar(const double* a, const double* b, int64_t n) {
  double sum = 0;
  for (int64_t k = 0; k < n; ++k) sum += a[k] * b[k];
  return sum;
}

void AxpyBf16F64Scalar(double a, const uint16_t* x, double* y, int64_t n) {
  for (int64_t k = 0; k < n; ++k) {
    float v;
    const uint32_t u = static_cast<uint32_t>(x[k]) << 16;
    std::memcpy(&v, &u, 4);
    y[k] += a * static_cast<double>(v);
  }
}

}  // namespace detail

void WeightRowDots(CpuIsa isa, const WeightRows& w, int64_t row_begin, int64_t count,
                   const DotInput& x, double* out) {
  switch (isa) {
    case CpuIsa::kAvx512:
      return detail::WeightRowDotsAvx512(w, row_begin, count, x, out);
    case CpuIsa::kAvx2:
      return detail::WeightRowDotsAvx2(w, row_begin, count, x, out);
    case CpuIsa::kScalar:
      break;
  }
  detail::WeightRowDotsScalar(w, row_begin, count, x, out);
}

double DotF64(CpuIsa isa, const double* a, const double* b, int64_t n) {
  switch (isa) {
    case CpuIsa::kAvx512:
      return detail::DotF64Avx512(a, b, n);
    case CpuIsa::kAvx2:
      return detail::DotF64Avx2(a, b, n);
    case CpuIsa::kScalar:
      break;
  }
  return detail::DotF64Scalar(a, b, n);
}

void DotsF64(CpuIsa isa, const double* w, int64_t w_stride, int64_t rows, const double* x,
             int64_t x_stride, int64_t inputs, int64_t n, double* out, int64_t out_stride) {
  if (isa == CpuIsa::kAvx512) {
    // The accumulators between passes, per thread, grown and kept: a warm call allocates nothing.
    thread_local std::vector<double> pass_state;
    double* state = nullptr;
    if (n - n % 16 > kDotsF64PassCols) {
      const auto size = static_cast<size_t>(16 * rows * inputs);
      if (pass_state.size() < size) pass_state.resize(size);
      state = pass_state.data();
    }
    detail::DotsF64Avx512(w, w_stride, rows, x, x_stride, inputs, n, out, out_stride, state);
    return;
  }
  for (int64_t t = 0; t < inputs; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      out[t * out_stride + r] = DotF64(isa, x + t * x_stride, w + r * w_stride, n);
    }
  }
}

void AxpyBf16F64(CpuIsa isa, double a, const uint16_t* x, double* y, int64_t n) {
  switch (isa) {
    case CpuIsa::kAvx512:
      return detail::AxpyBf16F64Avx512(a, x, y, n);
    case CpuIsa::kAvx2:
      return detail::AxpyBf16F64Avx2(a, x, y, n);
    case CpuIsa::kScalar:
      break;
  }
  detail::AxpyBf16F64Scalar(a, x, y, n);
}

}  // namespace dsagent::engine::kernels
