#include "tests/cuda_emulator/mma_model.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dsagent_emu {
namespace {

// `s` rounded toward zero to fp32 (finite `s` beyond fp32's range: the largest finite float).
float RoundTowardZero(double s) {
  float f = static_cast<float>(s);
  if (std::isinf(f) && std::isfinite(s)) return std::copysign(FLT_MAX, static_cast<float>(s));
  if (std::fabs(static_cast<double>(f)) > std::fabs(s)) f = std::nextafter(f, 0.0f);
  return f;
}

// One block: `acc` and the products a[k] b[k], k in [begin, end).
float TruncatedBlock(const MmaModel& model, const float* a, const float* b, int begin, int end,
                     float acc) {
  // Products of two floats are exact in double (24 + 24 significant bits).
  double terms[65];
  int count = 0;
  terms[count++] = acc;
  for (int k = begin; k < end; ++k) {
    terms[count++] = static_cast<double>(a[k]) * static_cast<double>(b[k]);
  }
  int emax = INT32_MIN;
  for (int i = 0; i < count; ++i) {
    if (!std::isfinite(terms[i])) {
      double sum = 0;
      for (int j = 0; j < count; ++j) sum += terms[j];
      return static_cast<float>(sum);
    }
    if (terms[i] != 0) emax = std::max(emax, std::ilogb(terms[i]));
  }
  if (emax == INT32_MIN) return 0.0f;
  // Every term on the grid of the largest one's 24 + E bits, cut toward zero; the sum of at most
  // 65 terms below 2^(25 + E) each is exact in int64 and, scaled back, in double.
  const int lsb = emax - 23 - model.extra_bits;
  int64_t sum = 0;
  for (int i = 0; i < count; ++i) {
    sum += static_cast<int64_t>(std::trunc(std::ldexp(terms[i], -lsb)));
  }
  return RoundTowardZero(std::ldexp(static_cast<double>(sum), lsb));
}

// The whole number in [lo, hi] that `text` starts with, the rest of it in `*rest`.
bool ParseInt(const char* text, int lo, int hi, int* value, const char** rest) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || v < lo || v > hi) return false;
  *value = static_cast<int>(v);
  *rest = end;
  return true;
}

}  // namespace

bool ParseMmaModel(const char* text, MmaModel* model) {
  if (text == nullptr) return false;
  if (std::strcmp(text, "fma") == 0) {
    *model = MmaModel{};
    return true;
  }
  if (std::strcmp(text, "truncate") == 0) {
    *model = MmaModel{16, 0};
    return true;
  }
  const char* p = text;
  if (std::strncmp(p, "truncate:", 9) != 0) return false;
  MmaModel parsed;
  if (!ParseInt(p + 9, 1, 64, &parsed.block, &p) || *p != ':') return false;
  if (!ParseInt(p + 1, 0, 16, &parsed.extra_bits, &p) || *p != '\0') return false;
  *model = parsed;
  return true;
}

float MmaDot(const MmaModel& model, const float* a, const float* b, int n, float c) {
  if (model.block == 0) {
    float acc = c;
    for (int k = 0; k < n; ++k) acc = std::fmaf(a[k], b[k], acc);
    return acc;
  }
  float acc = c;
  for (int begin = 0; begin < n; begin += model.block) {
    acc = TruncatedBlock(model, a, b, begin, std::min(n, begin + model.block), acc);
  }
  return acc;
}

const MmaModel& ActiveMmaModel() {
  static const MmaModel model = [] {
    MmaModel m;
    const char* v = std::getenv("DSAGENT_CUDA_EMULATOR_MMA");
    if (v != nullptr && *v != '\0' && !ParseMmaModel(v, &m)) {
      std::fprintf(stderr,
                   "cuda emulator: DSAGENT_CUDA_EMULATOR_MMA=%s is not fma, truncate or "
                   "truncate:B:E (B 1-64 products a block, E 0-16 extra bits)\n",
                   v);
      std::exit(2);
    }
    return m;
  }();
  return model;
}

float TensorCoreDot(const float* a, const float* b, int n, float c) {
  return MmaDot(ActiveMmaModel(), a, b, n, c);
}

}  // namespace dsagent_emu
