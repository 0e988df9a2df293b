#include "engine/kernels/cpu/weight_dequant.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "engine/kernels/number_formats.h"

namespace dsagent::engine::kernels::cpu {
namespace {

// Every e4m3 byte's value, every e8m0 byte's power of two, and the two e2m1 values of every
// packed FP4 byte (low nibble = even column).
struct Tables {
  float fp8[256];
  float e8m0[256];
  float fp4_low[256], fp4_high[256];
  Tables() {
    for (int b = 0; b < 256; ++b) {
      const auto byte = static_cast<uint8_t>(b);
      fp8[b] = Fp8E4M3ToFloat(byte);
      e8m0[b] = E8M0ToFloat(byte);
      fp4_low[b] = Fp4E2M1ToFloat(byte & 0xf);
      fp4_high[b] = Fp4E2M1ToFloat(static_cast<uint8_t>(byte >> 4));
    }
  }
};
const Tables& LookupTables() {
  static const Tables tables;
  return tables;
}

// The values as floats (exact), stored as Out: float, or double for the panels.
template <class Out>
void DequantInto(const WeightRows& w, int64_t r, int64_t col_begin, int64_t col_end, Out* out) {
  const WeightFormat format = w.format;
  const uint8_t *data = w.data, *scale = w.scale;
  const int64_t cols = w.cols, scale_cols = w.scale_cols;
  const int64_t n = col_end - col_begin;
  switch (format) {
    case WeightFormat::kF32:
      if constexpr (std::is_same_v<Out, float>) {
        std::memcpy(out, data + (r * cols + col_begin) * 4, static_cast<size_t>(n) * 4);
      } else {
        for (int64_t i = 0; i < n; ++i) {
          float v;
          std::memcpy(&v, data + (r * cols + col_begin + i) * 4, 4);
          out[i] = v;
        }
      }
      return;
    case WeightFormat::kBF16: {
      const uint8_t* p = data + (r * cols + col_begin) * 2;
      for (int64_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, p + 2 * i, 2);
        out[i] = Bf16BitsToFloat(bits);
      }
      return;
    }
    case WeightFormat::kFP8: {
      const Tables& t = LookupTables();
      const uint8_t* p = data + r * cols;
      const uint8_t* srow = scale + (r / 128) * scale_cols;
      for (int64_t c = col_begin; c < col_end;) {
        const int64_t block_end = std::min(col_end, (c / 128 + 1) * 128);
        const float s = t.e8m0[srow[c / 128]];
        for (; c < block_end; ++c) out[c - col_begin] = t.fp8[p[c]] * s;
      }
      return;
    }
    case WeightFormat::kFP4: {
      const Tables& t = LookupTables();
      const uint8_t* p = data + r * (cols / 2);
      const uint8_t* srow = scale + r * scale_cols;
      for (int64_t c = col_begin; c < col_end;) {
        const int64_t block_end = std::min(col_end, (c / 32 + 1) * 32);
        const float s = t.e8m0[srow[c / 32]];
        if (c % 2 == 1) {  // an odd start: the high nibble of its byte
          out[c - col_begin] = t.fp4_high[p[c / 2]] * s;
          ++c;
        }
        for (; c + 1 < block_end; c += 2) {
          out[c - col_begin] = t.fp4_low[p[c / 2]] * s;
          out[c + 1 - col_begin] = t.fp4_high[p[c / 2]] * s;
        }
        if (c < block_end) {  // an odd end: the low nibble
          out[c - col_begin] = t.fp4_low[p[c / 2]] * s;
          ++c;
        }
      }
      return;
    }
  }
}

}  // namespace

void DequantRowRange(const WeightRows& w, int64_t r, int64_t col_begin, int64_t col_end,
                     float* out) {
  DequantInto(w, r, col_begin, col_end, out);
}

void DequantRowRangeF64(const WeightRows& w, int64_t r, int64_t col_begin, int64_t col_end,
                        double* out) {
  DequantInto(w, r, col_begin, col_end, out);
}

void DequantRowF64(CpuIsa isa, const WeightRows& w, int64_t r, double* out) {
  if (isa == CpuIsa::kAvx512) {
    detail::DequantRowF64Avx512(w, r, out);
  } else {
    DequantInto(w, r, 0, w.cols, out);
  }
}

void EmbedRows(const WeightRows& w, const int32_t* ids, int64_t rows, int64_t copies, float* out,
               int64_t out_stride) {
  for (int64_t t = 0; t < rows; ++t) {
    float* row = out + t * out_stride;
    DequantRowRange(w, ids[t], 0, w.cols, row);
    for (int64_t j = 1; j < copies; ++j) std::copy(row, row + w.cols, row + j * w.cols);
  }
}

}  // namespace dsagent::engine::kernels::cpu
