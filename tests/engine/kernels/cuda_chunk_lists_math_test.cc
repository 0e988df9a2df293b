// The chunk-wide attention's index lists (engine/kernels/cuda/chunk_lists_math.h) on the host: a
// sequence prefilled in chunks of many sizes, each row's list resolved through the ring as it
// stands during the chunk and the staged rows, must name the same positions and compressed
// entries, in the same order, as the decode step's list resolved through the ring it sees; and
// after each chunk the ring must hold what the decode steps leave. Needs no device (the kernels
// themselves against the decode: cuda_sequence_model_test.cc, on a GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cuda/chunk_lists_math.h"

namespace dsagent::engine::kernels {
namespace chunk_lists_math_test {  // named: the tests build as unity batches
namespace {
namespace dm = cuda;

// What a list entry reads: a window position (>= 0), a compressed entry (-2 - e), or masked (-1).
constexpr int64_t kMasked = -1;
int64_t Compressed(int64_t e) { return -2 - e; }

struct Layer {
  int64_t window, ratio, topk;
};

void CheckChunks(const Layer& l, const std::vector<int64_t>& chunk_sizes, std::mt19937& rng) {
  const int64_t w = l.window;
  std::vector<int64_t> decode_ring(static_cast<size_t>(w), -100), chunk_ring = decode_ring;
  int64_t pos = 0;
  for (const int64_t rows : chunk_sizes) {
    const std::string where = "window " + std::to_string(w) + " ratio " + std::to_string(l.ratio) +
                              ", chunk of " + std::to_string(rows) + " at " + std::to_string(pos);
    // Staged rows start at s0 (as a chunk after another sequence's rows in the same call).
    const int64_t s0 = 5;
    std::vector<int64_t> staged(static_cast<size_t>(s0 + rows), -100);
    for (int64_t i = 0; i < rows; ++i) staged[static_cast<size_t>(s0 + i)] = pos + i;
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t p = pos + i;
      const int64_t n_compressed = dm::CompressedInList(p, l.ratio, l.topk);
      // The indexer's choice: some visible entries in some order (both paths get the same one).
      std::vector<int32_t> selected;
      if (l.topk > 0) {
        std::vector<int32_t> all(static_cast<size_t>((p + 1) / l.ratio));
        for (size_t e = 0; e < all.size(); ++e) all[e] = static_cast<int32_t>(e);
        std::shuffle(all.begin(), all.end(), rng);
        selected.assign(all.begin(), all.begin() + n_compressed);
      }
      const int32_t* sel = l.topk > 0 ? selected.data() : nullptr;
      // The decode step: its row into the ring, then its list (AttentionDecode's ListKernel).
      decode_ring[static_cast<size_t>(p % w)] = p;
      for (int64_t j = 0; j < w + n_compressed; ++j) {
        int64_t want;
        if (j < w) {
          const int64_t first = std::max<int64_t>(p - w + 1, 0), q = first + j;
          want = q > p ? kMasked : decode_ring[static_cast<size_t>(q % w)];
        } else {
          want = Compressed(sel != nullptr ? sel[j - w] : j - w);
        }
        const int32_t e = dm::ChunkListEntry(j, p, w, pos, s0, sel, n_compressed);
        int64_t got;
        if (e < 0) {
          got = kMasked;
        } else if (e >= dm::kStagedRow) {
          got = staged[static_cast<size_t>(e - dm::kStagedRow)];
        } else if (e < w) {
          got = chunk_ring[static_cast<size_t>(e)];
        } else {
          got = Compressed(e - w);
        }
        ASSERT_EQ(got, want) << where << ": row " << p << " entry " << j;
      }
    }
    // The chunk's last rows into the ring.
    for (int64_t k = 0; k < dm::RingCopies(rows, w); ++k) {
      int64_t ring_row = -1, staged_row = -1;
      dm::RingRowsFromChunk(k, pos, rows, w, s0, &ring_row, &staged_row);
      chunk_ring[static_cast<size_t>(ring_row)] = staged[static_cast<size_t>(staged_row)];
    }
    ASSERT_EQ(chunk_ring, decode_ring) << where << ": the ring afterwards";
    pos += rows;
  }
}

TEST(CudaChunkListsMathTest, EveryRowReadsWhatItsDecodeStepReads) {
  std::mt19937 rng(7);
  const std::vector<int64_t> sizes = {1, 3, 8, 7, 20, 2, 9, 16, 1, 33, 5};
  for (const Layer& l : {Layer{8, 0, 0}, Layer{8, 4, 3}, Layer{8, 2, 0}, Layer{16, 4, 6}}) {
    CheckChunks(l, sizes, rng);
  }
  // V4's window and ratios with 256-row chunks.
  for (const Layer& l : {Layer{128, 0, 0}, Layer{128, 4, 512}, Layer{128, 128, 0}}) {
    CheckChunks(l, {256, 256, 100, 256, 300}, rng);
  }
}

TEST(CudaChunkListsMathTest, TheCompressedCountIsTheDecodeStepsCount) {
  EXPECT_EQ(dm::CompressedInList(100, 0, 0), 0);
  EXPECT_EQ(dm::CompressedInList(2, 4, 512), 0);
  EXPECT_EQ(dm::CompressedInList(3, 4, 512), 1);
  EXPECT_EQ(dm::CompressedInList(4095, 4, 512), 512);
  EXPECT_EQ(dm::CompressedInList(2047, 4, 512), 512);
  EXPECT_EQ(dm::CompressedInList(2046, 4, 512), 511);
  EXPECT_EQ(dm::CompressedInList(255, 128, 0), 2);
  EXPECT_EQ(dm::CompressedInList(1 << 20, 128, 0), ((1 << 20) + 1) / 128);
}

}  // namespace
}  // namespace chunk_lists_math_test
}  // namespace dsagent::engine::kernels
