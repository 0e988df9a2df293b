// Random weights in every stored format and random activation rows, for the kernel tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/forward/numerics.h"
#include "engine/forward/weight_matrix.h"

namespace dsagent::engine::kernels::testing {
using forward::WeightMatrix;

// A random weight matrix in `format` with its storage.
struct RandomWeight {
  std::vector<uint8_t> data, scale;
  WeightMatrix matrix;
};

inline RandomWeight MakeWeight(WeightFormat format, int64_t rows, int64_t cols, std::mt19937& rng,
                               bool extreme_scales = false) {
  RandomWeight r;
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  r.matrix.format = format;
  r.matrix.rows = rows;
  r.matrix.cols = cols;
  // Realistic scale bytes are near 127 - 8; extreme ones leave the SIMD range (weight_dot.h).
  const auto scale_byte = [&] {
    if (extreme_scales && byte(rng) < 64) return static_cast<uint8_t>(byte(rng) < 128 ? 5 : 200);
    return static_cast<uint8_t>(110 + byte(rng) % 16);
  };
  switch (format) {
    case WeightFormat::kF32:
      r.data.resize(static_cast<size_t>(rows * cols * 4));
      for (int64_t i = 0; i < rows * cols; ++i) {
        const float v = normal(rng);
        std::memcpy(r.data.data() + 4 * i, &v, 4);
      }
      break;
    case WeightFormat::kBF16:
      r.data.resize(static_cast<size_t>(rows * cols * 2));
      for (int64_t i = 0; i < rows * cols; ++i) {
        const uint16_t bits = forward::FloatToBf16Bits(normal(rng));
        std::memcpy(r.data.data() + 2 * i, &bits, 2);
      }
      break;
    case WeightFormat::kFP8: {
      r.data.resize(static_cast<size_t>(rows * cols));
      for (auto& b : r.data) {
        b = static_cast<uint8_t>(byte(rng));
        if ((b & 0x7f) == 0x7f) b &= 0xfe;  // no NaN in weights
      }
      r.matrix.scale_cols = (cols + 127) / 128;
      r.scale.resize(static_cast<size_t>((rows + 127) / 128 * r.matrix.scale_cols));
      for (auto& s : r.scale) s = scale_byte();
      break;
    }
    case WeightFormat::kFP4: {
      r.data.resize(static_cast<size_t>(rows * cols / 2));
      for (auto& b : r.data) b = static_cast<uint8_t>(byte(rng));
      r.matrix.scale_cols = cols / 32;
      r.scale.resize(static_cast<size_t>(rows * r.matrix.scale_cols));
      for (auto& s : r.scale) s = scale_byte();
      break;
    }
  }
  r.matrix.data = r.data.data();
  r.matrix.scale = r.scale.empty() ? nullptr : r.scale.data();
  return r;
}

inline std::vector<float> RandomInput(int64_t n, std::mt19937& rng, bool fp8_quantised) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = forward::RoundBf16(normal(rng));
  if (fp8_quantised) {
    for (int64_t b = 0; b < n; b += 128) {
      const int64_t e = std::min<int64_t>(n, b + 128);
      float amax = 0;
      for (int64_t i = b; i < e; ++i) amax = std::max(amax, std::fabs(x[static_cast<size_t>(i)]));
      const float s = forward::Fp8BlockScale(amax);
      for (int64_t i = b; i < e; ++i) {
        float& v = x[static_cast<size_t>(i)];
        v = forward::RoundFp8E4M3(v / s) * s;
      }
    }
  }
  return x;
}

}  // namespace dsagent::engine::kernels::testing
