#include "engine/forward/linear.h"

#include <algorithm>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "engine/forward/numerics.h"
#include "engine/forward/quant_sim.h"

namespace dsagent::engine::forward {
namespace {

// sum_k a[k] * b[k] in double with several partial sums (SSE2 where available). The products
// of the values involved (bf16/FP8/FP4 times bf16/fp32) are exact in double and the order of the
// additions does not matter at the precision the results are rounded to.
inline double Dot(const float* a, const float* b, int64_t n) {
  int64_t k = 0;
  double total = 0;
#if defined(__SSE2__)
  __m128d s0 = _mm_setzero_pd(), s1 = _mm_setzero_pd(), s2 = _mm_setzero_pd(),
          s3 = _mm_setzero_pd();
  for (; k + 8 <= n; k += 8) {
    const __m128 a0 = _mm_loadu_ps(a + k), a1 = _mm_loadu_ps(a + k + 4);
    const __m128 b0 = _mm_loadu_ps(b + k), b1 = _mm_loadu_ps(b + k + 4);
    s0 = _mm_add_pd(s0, _mm_mul_pd(_mm_cvtps_pd(a0), _mm_cvtps_pd(b0)));
    s1 = _mm_add_pd(
        s1, _mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(a0, a0)), _mm_cvtps_pd(_mm_movehl_ps(b0, b0))));
    s2 = _mm_add_pd(s2, _mm_mul_pd(_mm_cvtps_pd(a1), _mm_cvtps_pd(b1)));
    s3 = _mm_add_pd(
        s3, _mm_mul_pd(_mm_cvtps_pd(_mm_movehl_ps(a1, a1)), _mm_cvtps_pd(_mm_movehl_ps(b1, b1))));
  }
  double lanes[2];
  _mm_storeu_pd(lanes, _mm_add_pd(_mm_add_pd(s0, s1), _mm_add_pd(s2, s3)));
  total = lanes[0] + lanes[1];
#endif
  for (; k < n; ++k) total += static_cast<double>(a[k]) * b[k];
  return total;
}

inline float RoundTo(double v, Round r) {
  return r == Round::kBF16 ? RoundBf16(v) : static_cast<float>(v);
}

}  // namespace

void Linear(const WeightMatrix& w, const LinearArgs& a, ThreadPool& pool) {
  const int64_t k = w.cols;
  const int64_t x_stride = a.x_stride ? a.x_stride : k;
  const int64_t out_rows = a.out_rows < 0 ? w.rows - a.out_begin : a.out_rows;
  const int64_t y_stride = a.y_stride ? a.y_stride : out_rows;
  if (a.rows <= 0 || out_rows <= 0) return;

  // The FP8-quantised copy of the input (reference act_quant, blocks of 128 along K).
  const float* x = a.x;
  int64_t xs = x_stride;
  std::vector<float> quantised;
  if (a.quant == InputQuant::kFp8Per128) {
    quantised.resize(static_cast<size_t>(a.rows * k));
    for (int64_t t = 0; t < a.rows; ++t) {
      std::copy(a.x + t * x_stride, a.x + t * x_stride + k, quantised.data() + t * k);
      QuantizeFp8Blocks(quantised.data() + t * k, k, 128);
    }
    x = quantised.data();
    xs = k;
  }
  // Tasks own ranges of output rows; each dequantises its weight rows once, in panels that stay
  // in cache, and writes its outputs row-contiguously.
  constexpr int64_t kPanelBytes = 64 * 1024;
  const int64_t panel = std::max<int64_t>(1, kPanelBytes / (4 * k));
  // Tasks of at least ~64k multiply-adds: small products (decode steps) stay on the caller.
  const int64_t grain = std::min<int64_t>(panel, std::max<int64_t>(1, 65536 / (k * a.rows)));
  pool.ParallelFor(out_rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> wp(static_cast<size_t>(std::min(panel, end - begin) * k));
    for (int64_t p0 = begin; p0 < end; p0 += panel) {
      const int64_t p1 = std::min(end, p0 + panel);
      for (int64_t o = p0; o < p1; ++o) {
        w.DequantRow(a.out_begin + o, wp.data() + (o - p0) * k);
      }
      for (int64_t t = 0; t < a.rows; ++t) {
        const float* xt = x + t * xs;
        float* yt = a.y + t * y_stride;
        for (int64_t o = p0; o < p1; ++o) {
          yt[o] = RoundTo(Dot(xt, wp.data() + (o - p0) * k, k), a.round);
        }
      }
    }
  });
}

void Linear(const WeightMatrix& w, const float* x, int64_t rows, float* y, InputQuant quant,
            Round round, ThreadPool& pool) {
  LinearArgs a;
  a.x = x;
  a.rows = rows;
  a.y = y;
  a.quant = quant;
  a.round = round;
  Linear(w, a, pool);
}

void RmsNorm(const float* x, int64_t rows, int64_t n, const float* w, float eps, float* y) {
  for (int64_t t = 0; t < rows; ++t) {
    const float* xr = x + t * n;
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(xr[i] * xr[i]);
    const float var = static_cast<float>(ss / static_cast<double>(n));
    const float r = RsqrtF(var + eps);
    float* yr = y + t * n;
    for (int64_t i = 0; i < n; ++i) yr[i] = RoundBf16(w[i] * (xr[i] * r));
  }
}

}  // namespace dsagent::engine::forward
