// The `fast` contract's 16 lanes (weight_dot_f32.h) in AVX2 registers, shared by the AVX2 kernels
// of both orders: a block's 16 fp32 lanes as two registers, the 16 double lanes as four. Include
// only inside a region compiled for AVX2 (`#pragma GCC target` / `clang attribute push`), after
// <immintrin.h>. Everything here has internal linkage, so each kernel file gets its own copy
// built for its own target (see lanes16_avx512.h). No constructors or default member
// initialisers: GCC compiles those without the target pragma's instruction set.
#pragma once

#include <immintrin.h>

namespace dsagent::engine::kernels::detail {
namespace {  // NOLINT(build/namespaces): internal linkage per target, see above

// A block's 16 fp32 lanes: lo = lanes 0..7, hi = lanes 8..15.
struct Lanes {
  __m256 lo, hi;
};
inline Lanes Zero() { return Lanes{_mm256_setzero_ps(), _mm256_setzero_ps()}; }

// The contract's 16 double lanes, four to a register: q[0] = lanes 0..3, ... q[3] = 12..15.
struct Lanes64 {
  __m256d q[4];
  // q += double(block) (the columns order).
  void Add(const Lanes& block) {
    q[0] = _mm256_add_pd(q[0], _mm256_cvtps_pd(_mm256_castps256_ps128(block.lo)));
    q[1] = _mm256_add_pd(q[1], _mm256_cvtps_pd(_mm256_extractf128_ps(block.lo, 1)));
    q[2] = _mm256_add_pd(q[2], _mm256_cvtps_pd(_mm256_castps256_ps128(block.hi)));
    q[3] = _mm256_add_pd(q[3], _mm256_cvtps_pd(_mm256_extractf128_ps(block.hi, 1)));
  }
  // q += double(block) * scale (the pair order; exact: a power of two times a float).
  void AddScaled(const Lanes& block, __m256d scale) {
    q[0] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(block.lo)), scale, q[0]);
    q[1] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(block.lo, 1)), scale, q[1]);
    q[2] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(block.hi)), scale, q[2]);
    q[3] = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(block.hi, 1)), scale, q[3]);
  }
  // The contract's reduction: i + i+8, then i + i+4, i + i+2, 0 + 1, plus the tail, rounded once.
  float Finish(float tail) const {
    const __m256d s8a = _mm256_add_pd(q[0], q[2]), s8b = _mm256_add_pd(q[1], q[3]);
    const __m256d s4 = _mm256_add_pd(s8a, s8b);
    const __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
    const double s = _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
    return static_cast<float>(s + static_cast<double>(tail));
  }
};
inline Lanes64 Zero64() {
  const __m256d z = _mm256_setzero_pd();
  return Lanes64{{z, z, z, z}};
}

}  // namespace
}  // namespace dsagent::engine::kernels::detail
