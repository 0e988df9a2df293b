// Lossless packing of the KV state's bf16 arrays into the precisions the reference quantised
// them to (../shared/reference/v4-kv-cache.md §2, "packed" in kv_accounting.h):
//   - main KV rows (window ring and compressed entries): the first `quant_dims` values of each row
//     went through FP8 e4m3 quantisation with one power-of-two scale per 64 values, the remaining
//     RoPE dims are plain bf16 -> per row: one e8m0 scale byte per 64 values, one e4m3 byte per
//     value, then the bf16 RoPE dims (Flash: 7 + 448 + 128 = 583 B instead of 1,024);
//   - indexer keys: every value went through FP4 e2m1 with one scale per 32 -> per row one e8m0
//     byte per 32 values and two values per byte, low nibble first (Flash: 4 + 64 = 68 B vs 256).
// Packing is verified value by value: unpacking gives back exactly the input bits, or Pack
// returns nullopt (a value that is not of that form: a state produced by other code, NaN, a
// scale outside e8m0's range) and the caller stores the array as plain bf16. So the packed form
// never changes a single bit of a restored state. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace dsagent::engine::kv {

enum class PackedKind : uint8_t { kFp8 = 1, kFp4 = 2 };

struct RowLayout {
  PackedKind kind = PackedKind::kFp8;
  int64_t width = 0;       // values per row
  int64_t quant_dims = 0;  // leading quantised values per row (a multiple of block); rest bf16
  int64_t block = 0;       // values per scale: 64 (FP8) or 32 (FP4)

  // Packed bytes per row.
  int64_t packed_row_bytes() const;
  bool valid() const;
};

// FP8 rows of `width` whose last `rope_dims` are bf16 (block 64); FP4 rows of `width` (block 32).
RowLayout Fp8RowLayout(int64_t width, int64_t rope_dims);
RowLayout Fp4RowLayout(int64_t width);

// Packs `values` (bf16 bits, a whole number of rows); nullopt unless every value round-trips.
std::optional<std::string> PackRows(const RowLayout& layout, std::span<const uint16_t> values);

// Unpacks `rows` rows from `packed` (exactly rows * packed_row_bytes() bytes) into `out`
// (rows * width values). False when the sizes do not match.
bool UnpackRows(const RowLayout& layout, std::string_view packed, int64_t rows, uint16_t* out);

}  // namespace dsagent::engine::kv
