// The tiled CUDA MatVec's arithmetic (engine/kernels/cuda/matvec_tiled_math.h) on the host: every
// row computed item by item and folded block by block, as the kernel does, against the CPU's
// WeightRowDotsF32, bit for bit. Needs no device, so the decomposition is checked in every build
// (the kernel itself against the CPU: cuda_ops_test.cc, on a GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/weight_dot_f32.h"
#include "engine/kernels/cuda/expert_groups_math.h"
#include "engine/kernels/cuda/matvec_tiled_math.h"
#include "tests/engine/kernels/cuda_weight_view.h"
#include "tests/engine/kernels/random_weights.h"
#include "tests/engine/kernels/reference_rounding.h"

namespace dsagent::engine::kernels {
namespace tiled_matvec_math_test {  // named: the tests build as unity batches
namespace {
namespace dm = cuda;

using testing::CudaViewOf;

float TiledDot(const dm::WeightView& v, int64_t row, const float* x) {
  switch (v.kind) {
    case dm::WeightKind::kFP8:
      return dm::RowDotByTiledItems<dm::WeightKind::kFP8>(v, row, x);
    case dm::WeightKind::kFP4:
      return dm::RowDotByTiledItems<dm::WeightKind::kFP4>(v, row, x);
    case dm::WeightKind::kBF16:
      return dm::RowDotByTiledItems<dm::WeightKind::kBF16>(v, row, x);
    case dm::WeightKind::kF32:
      break;
  }
  ADD_FAILURE() << "F32 weights do not take the tiled kernel";
  return 0;
}

TEST(CudaTiledMatVecMathTest, DecodingFromBitsGivesEveryCodesValue) {
  for (uint32_t b = 0; b < 256; ++b) {
    const float want = dm::E4M3ToFloat(static_cast<uint8_t>(b));
    for (int i = 0; i < 4; ++i) {
      // The byte at position i among neighbours that must not leak into it.
      const uint32_t word = (0xa5c3e1ffu & ~(0xffu << (8 * i))) | (b << (8 * i));
      const float got = dm::E4M3ByteScaled(word, i) * 0x1p120f;
      const bool nan = dm::E4M3NanBytes(word) & (0x80u << (8 * i));
      if (std::isnan(want)) {
        EXPECT_TRUE(nan) << b;
      } else {
        EXPECT_FALSE(nan) << b;
        EXPECT_EQ(reference_rounding::Bits(got), reference_rounding::Bits(want))
            << "e4m3 " << b << " at " << i;
      }
    }
  }
  for (uint32_t n = 0; n < 16; ++n) {
    const float want = dm::E2M1ToFloat(static_cast<uint8_t>(n));
    for (int i = 0; i < 8; ++i) {
      const uint32_t word = (0x9e3779b9u & ~(0xfu << (4 * i))) | (n << (4 * i));
      EXPECT_EQ(reference_rounding::Bits(dm::E2M1NibbleScaled(word, i) * 0x1p126f),
                reference_rounding::Bits(want))
          << "e2m1 " << n << " at " << i;
    }
  }
}

// The bf16 pairs the decode item reads its weights through (E4M3PairBf16, E2M1PairBf16,
// Bf16LaneTimes): every code in either lane of its pair, among neighbours that must not leak into
// it, times the scale the item applies, equals the code's value times that scale; a negative zero
// reads +0 (the sign of a zero never reaches a row's output: matvec_tiled_math.h).
float PairLaneTimes(uint32_t pair, int lane, uint32_t scale) {
  return lane == 0 ? dm::Bf16LaneTimes<0>(pair, scale) : dm::Bf16LaneTimes<1>(pair, scale);
}
TEST(CudaTiledMatVecMathTest, Bf16PairsGiveEveryCodesScaledValue) {
  for (uint32_t b = 0; b < 256; ++b) {
    const float want = dm::E4M3ToFloat(static_cast<uint8_t>(b));
    if (std::isnan(want)) continue;  // E4M3NanBytes sends such an item to the generic code
    for (int i = 0; i < 4; ++i) {
      const uint32_t word = (0xa5c3e1ffu & ~(0xffu << (8 * i))) | (b << (8 * i));
      const float got = PairLaneTimes(dm::E4M3PairBf16(word, i % 2), i / 2, 0x7b800000u);
      EXPECT_EQ(reference_rounding::Bits(got), reference_rounding::Bits(want + 0.0f))
          << "e4m3 " << b << " at " << i;
    }
  }
  for (const int s : {2, 3, 64, 120, 127, 128}) {
    const uint32_t scale = static_cast<uint32_t>(s + 126) << 23;  // bf16 2^(s-1)
    for (uint32_t n = 0; n < 16; ++n) {
      const float want = std::ldexp(dm::E2M1ToFloat(static_cast<uint8_t>(n)), s - 127) + 0.0f;
      for (int i = 0; i < 8; ++i) {
        const uint32_t word = (0x9e3779b9u & ~(0xfu << (4 * i))) | (n << (4 * i));
        const float got = PairLaneTimes(dm::E2M1PairBf16(word, i % 4), i / 4, scale);
        EXPECT_EQ(reference_rounding::Bits(got), reference_rounding::Bits(want))
            << "e2m1 " << n << " at " << i << ", scale byte " << s;
      }
    }
  }
}

// Decode shapes and the rare paths: an FP8 NaN byte, FP4 scale bytes out of the lane range (the
// tail) and past 128 (two multiplies), subnormal products (the flushes), extreme FP8 scales.
TEST(CudaTiledMatVecMathTest, ItemsFoldedInBlockOrderGiveTheCpuBits) {
  std::mt19937 rng(41);
  struct Case {
    WeightFormat format;
    int64_t rows, cols;
    bool extreme;
  };
  const Case cases[] = {
      {WeightFormat::kFP8, 260, 1024, false}, {WeightFormat::kFP8, 64, 4096, true},
      {WeightFormat::kFP4, 96, 2048, false},  {WeightFormat::kFP4, 40, 512, true},
      {WeightFormat::kBF16, 80, 1024, false}, {WeightFormat::kBF16, 16, 128, false},
  };
  for (const Case& c : cases) {
    auto w = testing::MakeWeight(c.format, c.rows, c.cols, rng, c.extreme);
    if (c.format == WeightFormat::kFP8) w.data[static_cast<size_t>(5 * c.cols + 77)] = 0xff;
    if (c.format == WeightFormat::kFP4) {
      const uint8_t odd[] = {0, 1, 252, 255};
      const int64_t groups = c.cols / 32;
      for (int g = 0; g < 4; ++g) w.scale[static_cast<size_t>(3 * groups + 3 * g)] = odd[g];
      for (int64_t g = 0; g < groups; ++g) w.scale[static_cast<size_t>(4 * groups + g)] = 200;
      // Row 5: one item with a scale past 128 (two multiplies: the generic code recomputes the
      // item) beside a group out of the lane range (the tail, flagged all the same), whose one
      // nonzero weight (0.5 * 2^125) outweighs the rest of the row.
      w.scale[static_cast<size_t>(5 * groups)] = 129;
      w.scale[static_cast<size_t>(5 * groups + 1)] = 252;
      uint8_t* const tail_group = w.data.data() + (5 * c.cols + 32) / 2;
      std::fill(tail_group, tail_group + 16, uint8_t{0});
      tail_group[0] = 0x01;
    }
    if (c.format == WeightFormat::kBF16) {
      // Row 2: tiny weights (a third of them subnormal), so products and partial sums fall
      // below 2^-126 (flushed).
      for (int64_t i = 0; i < c.cols; ++i) {
        const uint16_t low = static_cast<uint16_t>(i % 3 == 0 ? i % 7 : 0x0080 | (i % 7));
        const uint16_t bits = static_cast<uint16_t>((i & 1 ? 0x8000 : 0) | low);
        std::memcpy(w.data.data() + 2 * (2 * c.cols + i), &bits, 2);
      }
    }
    const auto x = testing::RandomInput(c.cols, rng, c.format == WeightFormat::kFP8);
    DotInputF32 in;
    in.Prepare(x.data(), c.cols, c.format == WeightFormat::kFP4);
    ASSERT_TRUE(in.pairs()) << "the activation must take the pair order";
    std::vector<float> cpu(static_cast<size_t>(c.rows));
    WeightRowDotsF32(CpuIsa::kScalar, w.matrix.rows_view(), 0, c.rows, in, cpu.data());
    const dm::WeightView v = CudaViewOf(w);
    const std::string name = "format " + std::to_string(static_cast<int>(c.format)) + " " +
                             std::to_string(c.rows) + "x" + std::to_string(c.cols);
    for (int64_t r = 0; r < c.rows; ++r) {
      const float got = TiledDot(v, r, x.data());
      const float want = cpu[static_cast<size_t>(r)];
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << name << " row " << r;
      } else {
        ASSERT_EQ(reference_rounding::Bits(got), reference_rounding::Bits(want))
            << name << " row " << r << ": " << got << " vs " << want;
      }
    }
  }
}

// The grouping of the routed slots by expert (expert_groups_math.h), each slot's two phases run
// on the host as the kernel's threads run them: the order is the slots sorted by expert, stably;
// the pieces cover it in order, one expert each, at most kExpertPieceSlots slots, starting at each
// expert's first slot and every kExpertPieceSlots after.
TEST(CudaTiledMatVecMathTest, ExpertSlotGroupingSortsStablyAndCutsPiecesOfOneExpert) {
  std::mt19937 rng(59);
  struct Case {
    int slots, experts;
  };
  for (const Case c : {Case{1, 4}, Case{6, 256}, Case{48, 8}, Case{384, 256}, Case{1024, 3}}) {
    std::vector<int32_t> ids(static_cast<size_t>(c.slots));
    for (auto& id : ids) id = static_cast<int32_t>(rng() % static_cast<uint32_t>(c.experts));
    std::vector<int32_t> ranks(ids.size()), order(ids.size(), -1);
    std::vector<dm::ExpertPiece> pieces(ids.size(), dm::ExpertPiece{-1, -1, -1});
    for (int s = 0; s < c.slots; ++s) ranks[static_cast<size_t>(s)] = dm::SlotRank(ids.data(), s);
    int count = 0;
    for (int s = 0; s < c.slots; ++s) {
      count += dm::GroupSlot(ids.data(), ranks.data(), c.slots, s, order.data(), pieces.data());
    }
    std::vector<int32_t> want(ids.size());
    for (int s = 0; s < c.slots; ++s) want[static_cast<size_t>(s)] = s;
    std::stable_sort(want.begin(), want.end(), [&](int32_t a, int32_t b) {
      return ids[static_cast<size_t>(a)] < ids[static_cast<size_t>(b)];
    });
    ASSERT_EQ(order, want) << c.slots << " slots";
    int expected_pieces = 0, at = 0;
    for (int p = 0; p < count; ++p) {
      const dm::ExpertPiece piece = pieces[static_cast<size_t>(p)];
      ASSERT_EQ(piece.begin, at) << "piece " << p;
      ASSERT_GE(piece.count, 1);
      ASSERT_LE(piece.count, dm::kExpertPieceSlots);
      for (int i = 0; i < piece.count; ++i) {
        ASSERT_EQ(ids[static_cast<size_t>(order[static_cast<size_t>(at + i)])], piece.expert);
      }
      // A piece is full unless its expert's slots end with it.
      const int end = at + piece.count;
      if (piece.count < dm::kExpertPieceSlots && end < c.slots) {
        ASSERT_NE(ids[static_cast<size_t>(order[static_cast<size_t>(end)])], piece.expert);
      }
      at = end;
      ++expected_pieces;
    }
    EXPECT_EQ(at, c.slots) << "the pieces cover every slot";
    EXPECT_EQ(count, expected_pieces);
  }
}

}  // namespace
}  // namespace tiled_matvec_math_test
}  // namespace dsagent::engine::kernels
