// The device's row undo plan (kernels/cuda/row_undo_plan.h) on real states: for every position of
// a decode on the CPU engine (v4-tiny: ratios 4 and 16; v4-tiny-c: 4, 8 and 16; both past their
// window and through several block completions), the device layout of the state before the row
// and after it (an emulated device sequence) differ only inside the plan's ranges, and copying
// the ranges kept from before back gives the layout before, byte for byte. Runs in every build (no
// device).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/forward/model.h"
#include "engine/kernels/cuda/row_undo_plan.h"
#include "tests/engine/kernels/emulated_device_sequence.h"

namespace dsagent::engine::kernels::cuda::row_undo_plan_test {
namespace {
using test_support::EmulatedDeviceSequence;

constexpr int64_t kContext = 48;

void ExpectPlanUndoesEveryRow(const char* checkpoint) {
  auto model = forward::Model::Load(
      std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data" / checkpoint, {.threads = 1});
  ASSERT_TRUE(model) << model.error();
  const ModelConfig& c = (*model)->config();
  forward::SequenceState state = (*model)->NewSequence();
  for (int64_t pos = 0; pos < kContext; ++pos) {
    const std::string where = std::string(checkpoint) + " pos " + std::to_string(pos);
    const std::vector<ByteRange> plan = PlanRowUndo(c, kContext, pos);
    EmulatedDeviceSequence before(c, kContext), after(c, kContext);
    before.Restore(state);
    const int32_t token = static_cast<int32_t>((7 + 37 * pos) % c.vocab_size);
    ASSERT_TRUE((*model)->Forward(state, std::vector<int32_t>{token})) << where;
    after.Restore(state);

    // The ranges fit their buffers and do not overlap; then the bytes they leave out agree.
    std::map<std::pair<int64_t, SequenceBuffer>, std::vector<bool>> covered;
    for (const ByteRange& r : plan) {
      auto& buf = after.Buffer(r.layer, r.buffer);
      ASSERT_LE(r.offset + r.bytes, buf.size()) << where << " layer " << r.layer;
      auto& mask = covered[{r.layer, r.buffer}];
      mask.resize(buf.size(), false);
      for (size_t i = r.offset; i < r.offset + r.bytes; ++i) {
        ASSERT_FALSE(mask[i]) << where << " layer " << r.layer << ": ranges overlap";
        mask[i] = true;
      }
    }
    for (const auto& [key, bytes] : before.buffers()) {
      const std::vector<unsigned char>& now = after.Buffer(key.first, key.second);
      const auto it = covered.find(key);
      for (size_t i = 0; i < bytes.size(); ++i) {
        if (bytes[i] == now[i] || (it != covered.end() && it->second[i])) continue;
        FAIL() << where << ": layer " << key.first << " buffer " << static_cast<int>(key.second)
               << " byte " << i << " changed outside the plan";
      }
    }
    // Copying the kept ranges back undoes the row.
    for (const ByteRange& r : plan) {
      std::memcpy(after.Buffer(r.layer, r.buffer).data() + r.offset,
                  before.Buffer(r.layer, r.buffer).data() + r.offset, r.bytes);
    }
    for (const auto& [key, bytes] : before.buffers()) {
      ASSERT_EQ(after.Buffer(key.first, key.second), bytes)
          << where << ": layer " << key.first << " buffer " << static_cast<int>(key.second);
    }
  }
}

TEST(RowUndoPlanTest, TheRangesHoldEverythingARowChangesV4Tiny) {
  ExpectPlanUndoesEveryRow("v4-tiny");
}

TEST(RowUndoPlanTest, TheRangesHoldEverythingARowChangesV4TinyC) {
  ExpectPlanUndoesEveryRow("v4-tiny-c");
}

TEST(RowUndoPlanTest, AnOrdinaryRowKeepsAFewRowsPerLayer) {
  auto model = forward::Model::Load(
      std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny", {.threads = 1});
  ASSERT_TRUE(model) << model.error();
  const ModelConfig& c = (*model)->config();
  // Position 1 completes no block (ratios 4 and 16): per layer the window row, and per compressor
  // one slot of values and one of scores.
  size_t want = 0;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const int ratio = c.compress_ratios[static_cast<size_t>(l)];
    want += static_cast<size_t>(c.head_dim) * 2;
    const int64_t coff = ratio == 4 ? 2 : 1;
    if (ratio > 0) want += 2 * static_cast<size_t>(coff * c.head_dim) * 4;
    if (ratio == 4) want += 2 * static_cast<size_t>(coff * c.index_head_dim) * 4;
  }
  EXPECT_EQ(RangeBytes(PlanRowUndo(c, kContext, 1)), want);
  // Position 15 completes a block of every compressor: more is kept.
  EXPECT_GT(RangeBytes(PlanRowUndo(c, kContext, 15)), want);
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda::row_undo_plan_test
