// Lossless FP8 / FP4 packing of the KV state's bf16 arrays: real states from the tiny model and
// values quantised by the forward pass's own quantisers pack and come back bit for bit; anything
// else is refused (so the codec stores it plain), never altered.
#include "engine/kv/packed_values.h"

#include <gtest/gtest.h>

#include <random>

#include "engine/forward/numerics.h"
#include "engine/kernels/cpu/quant_ops.h"
#include "tests/engine/kv/kv_test_util.h"

namespace dsagent::engine::kv {
namespace {
using forward::FloatToBf16Bits;

std::vector<uint16_t> RoundTrip(const RowLayout& l, const std::vector<uint16_t>& v) {
  auto packed = PackRows(l, v);
  if (!packed) return {};
  EXPECT_EQ(static_cast<int64_t>(packed->size()),
            static_cast<int64_t>(v.size()) / l.width * l.packed_row_bytes());
  std::vector<uint16_t> out(v.size(), 0x7fc1);
  EXPECT_TRUE(UnpackRows(l, *packed, static_cast<int64_t>(v.size()) / l.width, out.data()));
  return out;
}

// Rows as the forward pass makes them: random values over a wide range of magnitudes, quantised
// the reference's way, then held as bf16.
std::vector<uint16_t> QuantisedRows(const RowLayout& l, int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> exponent(-30, 12);
  std::vector<uint16_t> out;
  std::vector<float> row(static_cast<size_t>(l.width));
  for (int64_t r = 0; r < rows; ++r) {
    const float magnitude = std::ldexp(1.0f, exponent(rng));
    for (float& x : row) x = normal(rng) * magnitude;
    if (r % 7 == 3) row[5] = -0.0f;  // the sign of zero survives
    if (r % 11 == 4) std::fill(row.begin(), row.begin() + l.block, 0.0f);  // an all-zero block
    if (l.kind == PackedKind::kFp8) {
      kernels::cpu::QuantizeFp8Blocks(row.data(), l.quant_dims, l.block);
    } else {
      kernels::cpu::HadamardRotateBf16(row.data(), l.width);
      kernels::cpu::QuantizeFp4Blocks(row.data(), l.quant_dims, l.block);
    }
    for (float x : row) out.push_back(FloatToBf16Bits(x));
  }
  return out;
}

TEST(PackedValuesTest, LayoutsHaveTheSizesOfThePackedAccounting) {
  // Flash: 448 e4m3 + 7 scales + 64 bf16 RoPE dims = 583 B; indexer 64 + 4 = 68 B.
  EXPECT_EQ(Fp8RowLayout(512, 64).packed_row_bytes(), 583);
  EXPECT_EQ(Fp4RowLayout(128).packed_row_bytes(), 68);
  EXPECT_FALSE(Fp8RowLayout(100, 64).valid());  // 36 quantised dims: not whole blocks
  EXPECT_FALSE(Fp4RowLayout(0).valid());
}

TEST(PackedValuesTest, QuantisedRowsRoundTripBitExactly) {
  for (const RowLayout& l : {Fp8RowLayout(512, 64), Fp8RowLayout(128, 64), Fp4RowLayout(128)}) {
    const auto v = QuantisedRows(l, 40, static_cast<uint32_t>(l.width + l.quant_dims));
    EXPECT_EQ(RoundTrip(l, v), v) << "width " << l.width;
  }
}

TEST(PackedValuesTest, ValuesNotOfThatFormAreRefusedNotAltered) {
  const RowLayout fp8 = Fp8RowLayout(128, 64);
  auto v = QuantisedRows(fp8, 3, 9);
  ASSERT_TRUE(PackRows(fp8, v));
  // bf16 1.0078125 needs 7 mantissa bits; e4m3 has 3 (next to 1.0 in the same block).
  auto finer = v;
  finer[0] = FloatToBf16Bits(1.0f);
  finer[1] = FloatToBf16Bits(1.0078125f);
  EXPECT_FALSE(PackRows(fp8, finer));
  auto nan = v;
  nan[2] = 0x7fc1;  // a NaN payload e4m3 cannot hold
  EXPECT_FALSE(PackRows(fp8, nan));
  // The RoPE dims are kept as they are, whatever they hold.
  auto rope = v;
  rope[100] = FloatToBf16Bits(1.0078125f);
  EXPECT_EQ(RoundTrip(fp8, rope), rope);

  const RowLayout fp4 = Fp4RowLayout(128);
  auto w = QuantisedRows(fp4, 2, 5);
  ASSERT_TRUE(PackRows(fp4, w));
  w[3] = FloatToBf16Bits(2.5f * forward::Bf16BitsToFloat(w[3] == 0 ? 0x3f80 : w[3]));
  EXPECT_FALSE(PackRows(fp4, w));
  EXPECT_FALSE(PackRows(fp8, std::vector<uint16_t>(127, 0)));  // not a whole row
}

TEST(PackedValuesTest, UnpackRejectsSizesThatDoNotMatch) {
  const RowLayout l = Fp8RowLayout(128, 64);
  const auto v = QuantisedRows(l, 2, 3);
  auto packed = PackRows(l, v);
  ASSERT_TRUE(packed);
  std::vector<uint16_t> out(v.size());
  EXPECT_FALSE(UnpackRows(l, std::string_view(*packed).substr(1), 2, out.data()));
  EXPECT_FALSE(UnpackRows(l, *packed, 1, out.data()));
  EXPECT_FALSE(UnpackRows(l, *packed + "x", 2, out.data()));
}

// Every window row, compressed entry and indexer key the tiny model produces packs losslessly.
TEST(PackedValuesTest, TinyModelStatesPackCompletely) {
  forward::Model& m = testing::TinyModel();
  forward::SequenceState s = m.NewSequence();
  ASSERT_TRUE(m.Forward(s, testing::Prompt(300)));
  int packed_arrays = 0;
  for (const auto& l : s.layers) {
    const RowLayout main = Fp8RowLayout(l.head_dim, l.rope_dims);
    EXPECT_EQ(RoundTrip(main, l.window), l.window);
    if (!l.compressed.empty()) {
      EXPECT_EQ(RoundTrip(main, l.compressed), l.compressed);
      ++packed_arrays;
    }
    if (!l.index_keys.empty()) {
      EXPECT_EQ(RoundTrip(Fp4RowLayout(l.index_head_dim), l.index_keys), l.index_keys);
      ++packed_arrays;
    }
  }
  EXPECT_GE(packed_arrays, 4);  // 4 compressed layers, 2 of them with an indexer
}

}  // namespace
}  // namespace dsagent::engine::kv
