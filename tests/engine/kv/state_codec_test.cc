// Snapshots restore bit-exactly: continuing from a restored state computes the same bits as the
// uninterrupted run (and as the reference's golden logits).
#include "engine/kv/state_codec.h"

#include <gtest/gtest.h>

#include "engine/kv/packed_values.h"
#include "tests/engine/kv/kv_test_util.h"

namespace dsagent::engine::kv {
namespace {
using forward::testing::ReadRaw;
using testing::Prompt;
using testing::TinyModel;

std::vector<int32_t> Slice(const std::vector<int32_t>& t, size_t from, size_t to) {
  return std::vector<int32_t>(t.begin() + static_cast<ptrdiff_t>(from),
                              t.begin() + static_cast<ptrdiff_t>(to));
}

// At aligned positions (the window ring wrapped many times, ratio-4 compressors holding the
// previous block, ratio-16 ones empty) and at unaligned ones (partial compressor blocks).
TEST(StateCodecTest, RestoredSnapshotContinuesLikeTheUninterruptedRun) {
  forward::Model& m = TinyModel();
  const auto tokens = Prompt(340);
  const auto golden = ReadRaw<float>("prefill340_logits.f32");
  const int64_t vocab = m.config().vocab_size;
  for (size_t p : {128u, 256u, 203u}) {
    forward::SequenceState s = m.NewSequence();
    ASSERT_TRUE(m.Forward(s, Slice(tokens, 0, p)));
    const std::string bytes = SerializeState(s);
    s = m.NewSequence();  // drop the original
    auto restored = DeserializeState(m.config(), bytes);
    ASSERT_TRUE(restored) << restored.error();
    EXPECT_EQ(restored->pos, static_cast<int64_t>(p));
    EXPECT_EQ(SerializeState(*restored), bytes);
    auto logits = m.Forward(*restored, Slice(tokens, p, 340));
    ASSERT_TRUE(logits) << logits.error();
    int64_t differing = 0;
    for (size_t i = 0; i < logits->size(); ++i) {
      differing += (*logits)[i] != golden[p * static_cast<size_t>(vocab) + i];
    }
    EXPECT_EQ(differing, 0) << "snapshot at " << p;
  }
}

TEST(StateCodecTest, BlocksAndCheckpointReassembleTheState) {
  forward::Model& m = TinyModel();
  const auto tokens = Prompt(256);
  forward::SequenceState s = m.NewSequence();
  ASSERT_TRUE(m.Forward(s, tokens));
  const int64_t align = AlignmentTokens(m.config());
  ASSERT_EQ(align, 128);
  const std::vector<std::string> blocks = {EncodeBlock(s, 0, align), EncodeBlock(s, 1, align)};
  auto whole = AssembleState(m.config(), blocks, EncodeCheckpoint(s), align);
  ASSERT_TRUE(whole) << whole.error();
  EXPECT_EQ(SerializeState(*whole), SerializeState(s));
  // Out of order, missing or truncated parts are errors, never a wrong state.
  const std::vector<std::string> swapped = {blocks[1], blocks[0]};
  EXPECT_FALSE(AssembleState(m.config(), swapped, EncodeCheckpoint(s), align));
  EXPECT_FALSE(AssembleState(m.config(), std::span(blocks).first(1), EncodeCheckpoint(s), align));
  std::string cut = EncodeCheckpoint(s);
  cut.resize(cut.size() - 5);
  EXPECT_FALSE(AssembleState(m.config(), blocks, cut, align));
}

// A block holds every layer's entries in the packed precisions (packed_values.h): its size is
// exactly the packed layout's, so no array fell back to plain bf16.
TEST(StateCodecTest, BlocksStoreEntriesInThePackedPrecisions) {
  forward::Model& m = TinyModel();
  forward::SequenceState s = m.NewSequence();
  ASSERT_TRUE(m.Forward(s, Prompt(128)));
  const int64_t array_header = 1 + 8;  // mode byte + byte count
  int64_t expected = 4 + 4 + 8 + 8;    // tag, format, index, block tokens
  for (const auto& l : s.layers) {
    if (l.ratio == 0) continue;
    const int64_t entries = 128 / l.ratio;
    expected += array_header + entries * Fp8RowLayout(l.head_dim, l.rope_dims).packed_row_bytes();
    expected += array_header;
    if (l.index_head_dim > 0) {
      expected += entries * Fp4RowLayout(l.index_head_dim).packed_row_bytes();
    }
  }
  EXPECT_EQ(static_cast<int64_t>(EncodeBlock(s, 0, 128).size()), expected);
}

// Values the packed form cannot hold (state made by other code) are kept plain, bit for bit.
TEST(StateCodecTest, ValuesOutsideThePackedFormRoundTripPlain) {
  forward::Model& m = TinyModel();
  forward::SequenceState s = m.NewSequence();
  ASSERT_TRUE(m.Forward(s, Prompt(256)));
  s.layers[1].window[3] = 0x3f81;       // 1.0078125: not an e4m3 multiple of a power of two
  s.layers[1].compressed[7] = 0x7fc1;   // a NaN payload
  s.layers[1].index_keys[2] ^= 0x0001;  // off the FP4 grid
  const std::string bytes = SerializeState(s);
  auto restored = DeserializeState(m.config(), bytes);
  ASSERT_TRUE(restored) << restored.error();
  EXPECT_EQ(restored->layers[1].window, s.layers[1].window);
  EXPECT_EQ(restored->layers[1].compressed, s.layers[1].compressed);
  EXPECT_EQ(restored->layers[1].index_keys, s.layers[1].index_keys);
  EXPECT_EQ(SerializeState(*restored), bytes);
}

TEST(StateCodecTest, DecodingRejectsDamagedOrForeignBytes) {
  forward::Model& m = TinyModel();
  forward::SequenceState s = m.NewSequence();
  ASSERT_TRUE(m.Forward(s, Prompt(130)));
  const std::string bytes = SerializeState(s);
  for (size_t cut : {size_t{0}, size_t{3}, size_t{40}, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_FALSE(DeserializeState(m.config(), std::string_view(bytes).substr(0, cut))) << cut;
  }
  EXPECT_FALSE(DeserializeState(m.config(), bytes + "x"));
  auto flash = LoadModelConfig(std::filesystem::path(DSAGENT_SOURCE_DIR) /
                               "tests/data/v4-flash-config.json");
  ASSERT_TRUE(flash);
  auto foreign = DeserializeState(*flash, bytes);
  ASSERT_FALSE(foreign);
  EXPECT_NE(foreign.error().find("model config"), std::string::npos) << foreign.error();
  // A position that does not fit the number of compressed entries.
  std::string wrong_pos = bytes;
  wrong_pos[8] = static_cast<char>(wrong_pos[8] + 4);
  EXPECT_FALSE(DeserializeState(m.config(), wrong_pos));
}

}  // namespace
}  // namespace dsagent::engine::kv
