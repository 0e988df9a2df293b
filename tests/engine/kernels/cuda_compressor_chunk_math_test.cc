// A compressor fed whole chunks (engine/kernels/cuda/compressor_chunk_math.h) on the host, with
// each slot tracked by the position whose value it holds: for chunks of many sizes, every block a
// chunk completes must pool the positions the row-by-row state machine (CompressProjected) pools,
// slot for slot, and the state after the chunk must be the one the row steps leave. Needs no
// device (the kernels against the row-by-row path: cuda_sequence_model_test.cc, on a GPU).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "engine/kernels/cuda/compressor_chunk_math.h"

namespace dsagent::engine::kernels {
namespace compressor_chunk_math_test {  // named: the tests build as unity batches
namespace {
namespace dm = cuda;

constexpr int64_t kEmpty = -1;

void Check(int64_t ratio, bool overlap, const std::vector<int64_t>& chunk_sizes) {
  const int64_t slots = overlap ? 2 * ratio : ratio, offset = overlap ? ratio : 0;
  std::vector<int64_t> rows_state(static_cast<size_t>(slots), kEmpty), chunk_state = rows_state;
  int64_t pos = 0;
  for (const int64_t rows : chunk_sizes) {
    const std::string where = "ratio " + std::to_string(ratio) + (overlap ? " overlap" : "") +
                              ", chunk of " + std::to_string(rows) + " at " + std::to_string(pos);
    // Row by row: each block's pooled slots.
    std::map<int64_t, std::vector<int64_t>> pooled;
    for (int64_t p = pos; p < pos + rows; ++p) {
      rows_state[static_cast<size_t>(offset + p % ratio)] = p;
      if ((p + 1) % ratio != 0) continue;
      pooled[p / ratio] = rows_state;
      for (int64_t i = 0; i < slots; ++i) {
        if (overlap && i < ratio) {
          rows_state[static_cast<size_t>(i)] = rows_state[static_cast<size_t>(ratio + i)];
        } else {
          rows_state[static_cast<size_t>(i)] = kEmpty;
        }
      }
      if (overlap) {
        for (int64_t i = ratio; i < slots; ++i) rows_state[static_cast<size_t>(i)] = kEmpty;
      }
    }
    // The chunk at once.
    const int64_t begin = dm::ChunkBlocksBegin(pos, ratio),
                  end = dm::ChunkBlocksEnd(pos, rows, ratio);
    ASSERT_EQ(end - begin, static_cast<int64_t>(pooled.size())) << where;
    const auto value_at = [&](int64_t p) {
      if (p < 0) return kEmpty;
      const int64_t src = dm::ChunkValueSource(p, pos, ratio, overlap);
      return src >= 0 ? pos + src : chunk_state[static_cast<size_t>(-1 - src)];
    };
    for (int64_t b = begin; b < end; ++b) {
      ASSERT_EQ(pooled.count(b), 1u) << where << ": block " << b;
      for (int64_t i = 0; i < slots; ++i) {
        ASSERT_EQ(value_at(dm::PoolSlotPosition(b, i, ratio, overlap)),
                  pooled[b][static_cast<size_t>(i)])
            << where << ": block " << b << " slot " << i;
      }
    }
    std::vector<int64_t> after(static_cast<size_t>(slots));
    for (int64_t i = 0; i < slots; ++i) {
      if (end > begin) {
        after[static_cast<size_t>(i)] =
            value_at(dm::StateSlotAfterChunk(i, pos, rows, ratio, overlap));
      } else {
        after[static_cast<size_t>(i)] = chunk_state[static_cast<size_t>(i)];
      }
    }
    if (end == begin) {
      for (int64_t p = pos; p < pos + rows; ++p) after[static_cast<size_t>(offset + p % ratio)] = p;
    }
    chunk_state = after;
    ASSERT_EQ(chunk_state, rows_state) << where << ": the state afterwards";
    pos += rows;
  }
}

TEST(CudaCompressorChunkMathTest, ChunksPoolAndLeaveWhatTheRowStepsDo) {
  const std::vector<int64_t> sizes = {1, 2, 3, 5, 8, 1, 13, 4, 4, 7, 64, 3, 256, 1, 2, 100};
  for (const int64_t ratio : {4, 8, 16, 128}) {
    for (const bool overlap : {false, true}) Check(ratio, overlap, sizes);
  }
  Check(4, true, {256, 256, 255, 257});
  Check(128, false, {256, 100, 300, 256});
}

}  // namespace
}  // namespace compressor_chunk_math_test
}  // namespace dsagent::engine::kernels
