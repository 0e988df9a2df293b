// The golden data of the tiny V4 checkpoint (tests/data/v4-tiny, copied from
// ../shared/golden/v4-tiny: logits and streams the official reference code produced) and
// comparison helpers for the forward-pass tests.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace dsagent::engine::forward::testing {

inline const std::filesystem::path kTinyModel =
    std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny";
constexpr int64_t kVocab = 512;

template <class T>
std::vector<T> ReadRaw(const std::string& file) {
  std::ifstream in(kTinyModel / file, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

// How two [rows, width] float arrays compare.
struct Agreement {
  int64_t rows = 0;
  int64_t top1_agree = 0;     // rows whose argmax is the same
  int64_t differing = 0;      // values not bit-identical
  double max_abs = 0;         // max |a - b|
  double relative_error = 0;  // ||a - b|| / ||b||
};

inline Agreement Compare(const float* a, const float* b, int64_t rows, int64_t width) {
  Agreement r;
  r.rows = rows;
  double num = 0, den = 0;
  for (int64_t t = 0; t < rows; ++t) {
    int64_t ia = 0, ib = 0;
    for (int64_t i = 0; i < width; ++i) {
      const float x = a[t * width + i], y = b[t * width + i];
      if (x > a[t * width + ia]) ia = i;
      if (y > b[t * width + ib]) ib = i;
      if (x != y) ++r.differing;
      const double d = static_cast<double>(x) - y;
      r.max_abs = std::fmax(r.max_abs, std::fabs(d));
      num += d * d;
      den += static_cast<double>(y) * y;
    }
    r.top1_agree += ia == ib;
  }
  r.relative_error = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return r;
}

inline std::string Describe(const Agreement& a) {
  return "top-1 " + std::to_string(a.top1_agree) + "/" + std::to_string(a.rows) + ", " +
         std::to_string(a.differing) + " values differ, max |d| " + std::to_string(a.max_abs) +
         ", rel err " + std::to_string(a.relative_error);
}

}  // namespace dsagent::engine::forward::testing
