// A design probe for the `fast` numerics (issue 16): how many FP8 multiply-adds per second one
// core does with AVX-512 BF16's vdpbf16ps, against the fp32-FMA shape of today's fast kernels
// (kernels/cpu/weight_dot_f32_avx512.cc), both on one FP8 (e4m3) weight row at a time and one
// activation row, in cache (64 x 4096, many passes: the compute ceiling) and streamed from memory
// (32768 x 4096, a few passes).
//   bf16-dot: 64 weights per step become bf16 by two 128-entry byte-table lookups (vpermi2b, the
//             high and low bytes of each code's value) and a byte interleave; the activation is
//             stored once per call in the interleaved order; then two vdpbf16ps (32 exact
//             products each, in pairs).
//   fp32-fma: 32 weights per step widened to fp16 (sign-extend, shift, clear a bit), converted to
//             fp32, multiplied by the block scale, two FMAs (today's fast FP8 inner loop).
// Neither keeps the contract's per-128-column double fold: the probe measures the inner loops'
// ceilings only. Each prints its dot of row 0 next to a double-precision reference so the probe
// is checked to compute the same products.
//
// Usage: bf16_dot_probe   (needs AVX-512 F/BW/VBMI/BF16; says so and exits 0 without them)
#include <immintrin.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

// GCC 12's intrinsics headers trip its own uninitialized-value warnings (as in kernels/cpu/).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

uint16_t Bf16Bits(float f) {  // exact for the values used here
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>(u >> 16);
}

float E4m3(uint8_t b) {
  const int e = (b >> 3) & 15, m = b & 7;
  const float v = e ? (1 + m / 8.0f) * static_cast<float>(1 << e) / 128.0f : m / 8.0f / 64.0f;
  return (b & 0x80) ? -v : v;
}

__attribute__((target("avx512f,avx512bw,avx512vbmi,avx512bf16"))) float DotBf16(
    const uint8_t* w, const uint16_t* x_interleaved, int64_t k, const uint8_t* table_hi,
    const uint8_t* table_lo) {
  const __m512i hi0 = _mm512_loadu_si512(table_hi), hi1 = _mm512_loadu_si512(table_hi + 64);
  const __m512i lo0 = _mm512_loadu_si512(table_lo), lo1 = _mm512_loadu_si512(table_lo + 64);
  const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  for (int64_t c = 0; c < k; c += 64) {
    const __m512i b = _mm512_loadu_si512(w + c);
    // The low 7 bits pick the magnitude's bytes; the code's sign goes to bit 15 (a | (b & 0x80)).
    const __m512i hi =
        _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(hi0, b, hi1), b, sign, 0xf8);
    const __m512i lo = _mm512_permutex2var_epi8(lo0, b, lo1);
    const __m512i w0 = _mm512_unpacklo_epi8(lo, hi), w1 = _mm512_unpackhi_epi8(lo, hi);
    acc0 = _mm512_dpbf16_ps(acc0, reinterpret_cast<__m512bh>(w0),
                            reinterpret_cast<__m512bh>(_mm512_loadu_si512(x_interleaved + c)));
    acc1 = _mm512_dpbf16_ps(acc1, reinterpret_cast<__m512bh>(w1),
                            reinterpret_cast<__m512bh>(_mm512_loadu_si512(x_interleaved + c + 32)));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

__attribute__((target("avx512f,avx512bw,f16c,fma"))) float DotF32(const uint8_t* w, const float* x,
                                                                  int64_t k) {
  __m512 acc = _mm512_setzero_ps();
  const __m512 factor = _mm512_set1_ps(256.0f);  // the fp16 trick's 2^-8 undone, as a block scale
  for (int64_t c = 0; c < k; c += 32) {
    const __m512i b =
        _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + c)));
    const __m512i h =
        _mm512_and_si512(_mm512_slli_epi16(b, 7), _mm512_set1_epi16(static_cast<int16_t>(0xbfff)));
    const __m512 lo = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(h)), factor);
    const __m512 hi = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1)), factor);
    acc = _mm512_fmadd_ps(lo, _mm512_loadu_ps(x + c), acc);
    acc = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + c + 16), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

}  // namespace

int main() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512bf16") || !__builtin_cpu_supports("avx512vbmi")) {
    std::printf("bf16_dot_probe: this CPU lacks AVX-512 BF16 or VBMI; nothing to measure\n");
    return 0;
  }
  constexpr int64_t kCols = 4096;
  uint8_t table_hi[128], table_lo[128];
  for (int i = 0; i < 128; ++i) {
    const uint16_t v = Bf16Bits(E4m3(static_cast<uint8_t>(i)));
    table_hi[i] = static_cast<uint8_t>(v >> 8);
    table_lo[i] = static_cast<uint8_t>(v & 0xff);
  }
  std::mt19937 rng(7);
  std::vector<float> x(kCols);
  for (auto& v : x) v = E4m3(static_cast<uint8_t>(rng() % 126));  // FP8-quantised activations
  // The activation in the order the interleave leaves the weights in: per 64 columns, word j of
  // 128-bit lane L of the first product holds column L*16 + j, of the second L*16 + 8 + j.
  std::vector<uint16_t> xi(kCols);
  for (int64_t c = 0; c < kCols; c += 64) {
    for (int lane = 0; lane < 4; ++lane) {
      for (int j = 0; j < 8; ++j) {
        xi[c + lane * 8 + j] = Bf16Bits(x[c + lane * 16 + j]);
        xi[c + 32 + lane * 8 + j] = Bf16Bits(x[c + lane * 16 + 8 + j]);
      }
    }
  }
  for (const bool stream : {false, true}) {
    const int64_t rows = stream ? 32768 : 64, passes = stream ? 4 : 2000;
    std::vector<uint8_t> w(static_cast<size_t>(rows * kCols));
    for (auto& b : w) {
      b = static_cast<uint8_t>(rng());
      if ((b & 0x7f) == 0x7f) b = 0;  // no NaN codes
    }
    double reference = 0;
    for (int64_t c = 0; c < kCols; ++c) reference += static_cast<double>(E4m3(w[c])) * x[c];
    const float bf16_row0 = DotBf16(w.data(), xi.data(), kCols, table_hi, table_lo);
    const float f32_row0 = DotF32(w.data(), x.data(), kCols);
    float sink = 0;
    const double t0 = Now();
    for (int64_t p = 0; p < passes; ++p) {
      for (int64_t r = 0; r < rows; ++r) {
        sink += DotBf16(w.data() + r * kCols, xi.data(), kCols, table_hi, table_lo);
      }
    }
    const double t1 = Now();
    for (int64_t p = 0; p < passes; ++p) {
      for (int64_t r = 0; r < rows; ++r) sink += DotF32(w.data() + r * kCols, x.data(), kCols);
    }
    const double t2 = Now();
    const double macs = static_cast<double>(rows * kCols * passes);
    std::printf(
        "%s (%lld x %lld FP8, one core): bf16-dot %.1f G MAC/s, fp32-fma %.1f G MAC/s; row 0: "
        "reference %.4f, bf16-dot %.4f, fp32-fma %.4f%s\n",
        stream ? "streamed" : "in cache", static_cast<long long>(rows),
        static_cast<long long>(kCols), macs / (t1 - t0) / 1e9, macs / (t2 - t1) / 1e9, reference,
        bf16_row0, f32_row0, sink == 12345.0f ? " " : "");
  }
  return 0;
}
