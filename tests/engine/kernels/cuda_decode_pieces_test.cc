// PiecesOf (engine/kernels/cuda/decode_pieces.h): the blocks each CUDA graph of a decode step
// holds. Host code; no device needed.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "engine/kernels/cuda/decode_pieces.h"

namespace dsagent::engine::kernels::cuda {
namespace {

std::vector<std::pair<int64_t, int64_t>> Ranges(int64_t layers, int64_t per_piece) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const PieceLayers& p : PiecesOf(layers, per_piece)) out.emplace_back(p.first, p.end);
  return out;
}

TEST(DecodePiecesTest, PiecesCoverEveryBlockInOrderTheLastOneShorter) {
  using R = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(Ranges(43, 4), (R{{0, 4},
                              {4, 8},
                              {8, 12},
                              {12, 16},
                              {16, 20},
                              {20, 24},
                              {24, 28},
                              {28, 32},
                              {32, 36},
                              {36, 40},
                              {40, 43}}));
  EXPECT_EQ(Ranges(5, 4), (R{{0, 4}, {4, 5}}));
  EXPECT_EQ(Ranges(8, 4), (R{{0, 4}, {4, 8}}));
  EXPECT_EQ(Ranges(3, 4), (R{{0, 3}}));
  EXPECT_EQ(Ranges(6, 7), (R{{0, 6}}));  // ModelDecode's one piece
  EXPECT_EQ(Ranges(3, 1), (R{{0, 1}, {1, 2}, {2, 3}}));
  // No blocks: still one (empty) piece, for the embedding and the head.
  EXPECT_EQ(Ranges(0, 4), (R{{0, 0}}));
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda
