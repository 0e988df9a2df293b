// The `fast` contract's 16 double lanes (weight_dot_f32.h) in AVX-512 registers, shared by the
// AVX-512 kernels of both orders. Include only inside a region compiled for AVX-512 F/DQ
// (`#pragma GCC target` / `clang attribute push`), after <immintrin.h>. Everything here has
// internal linkage, so each kernel file gets its own copy built for its own target: an inline
// function with external linkage could be merged with a copy built for a larger instruction set.
#pragma once

#include <immintrin.h>

namespace dsagent::engine::kernels::detail {
namespace {  // NOLINT(build/namespaces): internal linkage per target, see above

// lo = lanes 0..7, hi = lanes 8..15.
struct Lanes16 {
  __m512d lo, hi;
};
inline Lanes16 ZeroLanes16() { return Lanes16{_mm512_setzero_pd(), _mm512_setzero_pd()}; }
// lanes += double(block) (the columns order).
inline void AddBlock(Lanes16& lanes, __m512 block) {
  lanes.lo = _mm512_add_pd(lanes.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(block)));
  lanes.hi = _mm512_add_pd(lanes.hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(block, 1)));
}
// lanes += double(block) * scale (the pair order; exact: a power of two times a float).
inline void AddScaledBlock(Lanes16& lanes, __m512 block, __m512d scale) {
  lanes.lo = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(block)), scale, lanes.lo);
  lanes.hi = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(block, 1)), scale, lanes.hi);
}
// The contract's reduction: lanes i + i+8, then i + i+4, i + i+2, 0 + 1 (addition is
// commutative, so operand order inside each step does not matter), plus the tail, rounded once.
inline float FinishLanes16(const Lanes16& lanes, float tail) {
  const __m512d s8 = _mm512_add_pd(lanes.lo, lanes.hi);
  const __m256d s4 = _mm256_add_pd(_mm512_castpd512_pd256(s8), _mm512_extractf64x4_pd(s8, 1));
  const __m128d s2 = _mm_add_pd(_mm256_castpd256_pd128(s4), _mm256_extractf128_pd(s4, 1));
  const double s = _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)));
  return static_cast<float>(s + static_cast<double>(tail));
}

}  // namespace
}  // namespace dsagent::engine::kernels::detail
