#include "engine/kv/packed_values.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/forward/numerics.h"

namespace dsagent::engine::kv {
namespace {
using forward::Bf16BitsToFloat;
using forward::E8M0ToFloat;
using forward::FloatToBf16Bits;

// The e8m0 exponent byte of the smallest power of two s with amax / s <= max_code (the scale the
// reference's quantiser picks for the block it quantised; any larger one would lose low bits).
uint8_t ScaleByte(double amax, double max_code) {
  if (!(amax > 0)) return 127;  // an all-zero block: any scale decodes to zeros
  int e = 0;
  const double m = std::frexp(amax / max_code, &e);  // amax / max = m * 2^e, m in [0.5, 1)
  const int k = m == 0.5 ? e - 1 : e;
  return static_cast<uint8_t>(std::clamp(k + 127, 0, 254));
}

// Every code's value (e4m3fn bytes; e2m1 nibbles in the first 16), built once from numerics.h's
// decoders so that packing agrees with the forward pass's number formats by construction.
struct CodeTables {
  float fp8[256], fp4[16];
  CodeTables() {
    for (int b = 0; b < 256; ++b) fp8[b] = forward::Fp8E4M3ToFloat(static_cast<uint8_t>(b));
    for (int n = 0; n < 16; ++n) fp4[n] = forward::Fp4E2M1ToFloat(static_cast<uint8_t>(n));
  }
};
const CodeTables& Tables() {
  static const CodeTables tables;
  return tables;
}

// The one decoding both directions use, so Pack's check is exactly what Unpack computes.
uint16_t Decode(const float* table, uint8_t code, float scale) {
  return FloatToBf16Bits(table[code] * scale);
}

}  // namespace

int64_t RowLayout::packed_row_bytes() const {
  const int64_t codes = kind == PackedKind::kFp8 ? quant_dims : quant_dims / 2;
  return quant_dims / block + codes + (width - quant_dims) * 2;
}

bool RowLayout::valid() const {
  return width > 0 && block > 0 && quant_dims >= 0 && quant_dims <= width &&
         quant_dims % block == 0 && (kind == PackedKind::kFp8 || block % 2 == 0);
}

RowLayout Fp8RowLayout(int64_t width, int64_t rope_dims) {
  return {PackedKind::kFp8, width, width - rope_dims, 64};
}

RowLayout Fp4RowLayout(int64_t width) { return {PackedKind::kFp4, width, width, 32}; }

std::optional<std::string> PackRows(const RowLayout& l, std::span<const uint16_t> values) {
  if (!l.valid() || values.size() % static_cast<size_t>(l.width) != 0) return std::nullopt;
  const bool fp8 = l.kind == PackedKind::kFp8;
  const double max_code = fp8 ? forward::kFp8Max : forward::kFp4Max;
  const float* table = fp8 ? Tables().fp8 : Tables().fp4;
  const int64_t rows = static_cast<int64_t>(values.size()) / l.width;
  std::string out;
  out.reserve(static_cast<size_t>(rows * l.packed_row_bytes()));
  std::vector<uint8_t> codes(static_cast<size_t>(l.block));
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* row = values.data() + r * l.width;
    for (int64_t b = 0; b < l.quant_dims; b += l.block) {
      double amax = 0;
      for (int64_t i = 0; i < l.block; ++i) {
        amax = std::fmax(amax, std::fabs(static_cast<double>(Bf16BitsToFloat(row[b + i]))));
      }
      const uint8_t scale_byte = ScaleByte(amax, max_code);
      const float scale = E8M0ToFloat(scale_byte);
      const float inverse = std::ldexp(1.0f, 127 - static_cast<int>(scale_byte));
      for (int64_t i = 0; i < l.block; ++i) {
        // Exact: a power-of-two factor, and codes are far from float's subnormal range.
        const float x = Bf16BitsToFloat(row[b + i]) * inverse;
        const uint8_t code = fp8 ? forward::Fp8E4M3Byte(x) : forward::Fp4E2M1Nibble(x);
        if (Decode(table, code, scale) != row[b + i]) return std::nullopt;
        codes[static_cast<size_t>(i)] = code;
      }
      out.push_back(static_cast<char>(scale_byte));
      if (fp8) {
        out.append(reinterpret_cast<const char*>(codes.data()), codes.size());
      } else {
        for (size_t i = 0; i < codes.size(); i += 2) {
          out.push_back(static_cast<char>(codes[i] | (codes[i + 1] << 4)));
        }
      }
    }
    out.append(reinterpret_cast<const char*>(row + l.quant_dims),
               static_cast<size_t>(l.width - l.quant_dims) * 2);
  }
  return out;
}

bool UnpackRows(const RowLayout& l, std::string_view packed, int64_t rows, uint16_t* out) {
  if (!l.valid() || rows < 0 || static_cast<int64_t>(packed.size()) != rows * l.packed_row_bytes())
    return false;
  const bool fp8 = l.kind == PackedKind::kFp8;
  const float* table = fp8 ? Tables().fp8 : Tables().fp4;
  const auto* in = reinterpret_cast<const uint8_t*>(packed.data());
  for (int64_t r = 0; r < rows; ++r) {
    uint16_t* row = out + r * l.width;
    for (int64_t b = 0; b < l.quant_dims; b += l.block) {
      const float scale = E8M0ToFloat(*in++);
      if (fp8) {
        for (int64_t i = 0; i < l.block; ++i) row[b + i] = Decode(table, *in++, scale);
      } else {
        for (int64_t i = 0; i < l.block; i += 2, ++in) {
          row[b + i] = Decode(table, *in & 0xf, scale);
          row[b + i + 1] = Decode(table, *in >> 4, scale);
        }
      }
    }
    const size_t rope_bytes = static_cast<size_t>(l.width - l.quant_dims) * 2;
    std::memcpy(row + l.quant_dims, in, rope_bytes);
    in += rope_bytes;
  }
  return true;
}

}  // namespace dsagent::engine::kv
