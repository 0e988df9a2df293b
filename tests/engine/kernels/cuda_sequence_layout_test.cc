// The host side of a device sequence's snapshot/restore (kernels/cuda/sequence_state_layout.h):
// a real v4-tiny state after a prefill and the MTP block's rows goes into an emulated device
// sequence (host byte buffers of the device buffers' sizes) by the plan's copies and comes back
// into SnapshotShape field for field, and the CPU engine continues from the copy exactly as from
// the original; states of the wrong shape are refused with the layer and field named. Runs in every
// build (no device).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <utility>
#include <vector>

#include "engine/forward/model.h"
#include "engine/kernels/cuda/sequence_state_layout.h"
#include "tests/engine/kernels/emulated_device_sequence.h"

namespace dsagent::engine::kernels::cuda::sequence_layout_test {
namespace {
using test_support::EmulatedDeviceSequence;
using ::testing::HasSubstr;

constexpr int64_t kContext = 64;

std::unique_ptr<forward::Model> TinyModel() {
  auto model = forward::Model::Load(
      std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny", {.threads = 1});
  EXPECT_TRUE(model) << model.error();
  return model ? std::move(*model) : nullptr;
}

std::vector<int32_t> Tokens(int64_t n, int32_t first) {
  std::vector<int32_t> t;
  for (int64_t i = 0; i < n; ++i) t.push_back(static_cast<int32_t>((first + 37 * i) % 500));
  return t;
}

void ExpectSameCompressor(const forward::CompressorState& a, const forward::CompressorState& b,
                          const std::string& what) {
  EXPECT_EQ(a.slots, b.slots) << what;
  EXPECT_EQ(a.width, b.width) << what;
  ASSERT_EQ(a.kv.size(), b.kv.size()) << what;
  ASSERT_EQ(a.score.size(), b.score.size()) << what;
  // Bit for bit (-inf in the empty slots).
  EXPECT_EQ(std::memcmp(a.kv.data(), b.kv.data(), a.kv.size() * sizeof(float)), 0) << what;
  EXPECT_EQ(std::memcmp(a.score.data(), b.score.data(), a.score.size() * sizeof(float)), 0) << what;
}

void ExpectSameLayer(const forward::LayerState& a, const forward::LayerState& b,
                     const std::string& what) {
  EXPECT_EQ(a.ratio, b.ratio) << what;
  EXPECT_EQ(a.head_dim, b.head_dim) << what;
  EXPECT_EQ(a.index_head_dim, b.index_head_dim) << what;
  EXPECT_EQ(a.rope_dims, b.rope_dims) << what;
  EXPECT_EQ(a.window, b.window) << what << " window";
  EXPECT_EQ(a.compressed, b.compressed) << what << " compressed";
  EXPECT_EQ(a.index_keys, b.index_keys) << what << " index keys";
  ExpectSameCompressor(a.kv_compressor, b.kv_compressor, what + " compressor");
  ExpectSameCompressor(a.index_compressor, b.index_compressor, what + " indexer compressor");
}

TEST(SequenceStateLayoutTest, APrefilledStateRoundTripsThroughTheDeviceLayoutFieldForField) {
  auto model = TinyModel();
  ASSERT_TRUE(model);
  const ModelConfig& c = model->config();
  // 37 tokens: past the 16-row window (the ring has wrapped), 9 CSA and 2 HCA entries, and
  // partial blocks in every compressor.
  forward::SequenceState state = model->NewSequence();
  const std::vector<int32_t> prompt = Tokens(37, 3);
  forward::ForwardTrace trace;
  ASSERT_TRUE(model->Forward(state, prompt, &trace));
  ASSERT_EQ(state.pos, 37);
  // The MTP block through the first 36 positions (the token after each is known).
  const int64_t row = c.hc_mult * c.dim;
  ASSERT_TRUE(model->ForwardMtp(
      state, std::span<const float>(trace.final_streams.data(), static_cast<size_t>(36 * row)),
      std::span<const int32_t>(prompt.data() + 1, 36)));
  ASSERT_EQ(state.mtp_pos, 36);
  bool has_entries = false, has_keys = false;
  for (const auto& l : state.layers) {
    has_entries |= !l.compressed.empty();
    has_keys |= !l.index_keys.empty();
  }
  ASSERT_TRUE(has_entries && has_keys) << "the prefill must reach compressed entries";

  EmulatedDeviceSequence device(c, kContext);
  device.Restore(state);
  forward::SequenceState back = device.Snapshot();
  EXPECT_EQ(back.pos, state.pos);
  EXPECT_EQ(back.mtp_pos, state.mtp_pos);
  ASSERT_EQ(back.layers.size(), state.layers.size());
  for (size_t i = 0; i < state.layers.size(); ++i) {
    ExpectSameLayer(back.layers[i], state.layers[i], "layer " + std::to_string(i));
  }
  ASSERT_EQ(back.mtp.size(), state.mtp.size());
  for (size_t i = 0; i < state.mtp.size(); ++i) {
    ExpectSameLayer(back.mtp[i], state.mtp[i], "MTP block " + std::to_string(i));
  }

  // Nothing the forward pass or the MTP block reads is missing: both continue to the same bits.
  const std::vector<int32_t> next = Tokens(5, 11);
  auto from_original = model->Forward(state, next);
  auto from_copy = model->Forward(back, next);
  ASSERT_TRUE(from_original && from_copy);
  EXPECT_EQ(*from_copy, *from_original);
  const std::span<const float> last_row(trace.final_streams.data() + 36 * row,
                                        static_cast<size_t>(row));
  auto mtp_original = model->ForwardMtp(state, last_row, std::span<const int32_t>(next.data(), 1));
  auto mtp_copy = model->ForwardMtp(back, last_row, std::span<const int32_t>(next.data(), 1));
  ASSERT_TRUE(mtp_original && mtp_copy);
  EXPECT_EQ(*mtp_copy, *mtp_original);
}

TEST(SequenceStateLayoutTest, AFreshStateAndAFullContextRoundTrip) {
  auto model = TinyModel();
  ASSERT_TRUE(model);
  const ModelConfig& c = model->config();
  for (const int64_t n : {int64_t{0}, kContext}) {
    forward::SequenceState state = model->NewSequence();
    if (n > 0) {
      ASSERT_TRUE(model->Forward(state, Tokens(n, 5)));
    }
    EmulatedDeviceSequence device(c, kContext);
    device.Restore(state);
    const forward::SequenceState back = device.Snapshot();
    EXPECT_EQ(back.pos, n);
    for (size_t i = 0; i < state.layers.size(); ++i) {
      ExpectSameLayer(back.layers[i], state.layers[i],
                      "pos " + std::to_string(n) + " layer " + std::to_string(i));
    }
  }
}

TEST(SequenceStateLayoutTest, BufferSizesFollowTheModelsShapes) {
  auto model = TinyModel();
  ASSERT_TRUE(model);
  const ModelConfig& c = model->config();
  // v4-tiny: ratios 0, 4, 16, 4, 16; window 16, head_dim 128, index_head_dim 128.
  ASSERT_EQ(c.compress_ratios[1], 4);
  ASSERT_EQ(c.compress_ratios[2], 16);
  EXPECT_EQ(SequenceBufferBytes(c, kContext, 0, SequenceBuffer::kCache),
            size_t(c.window_size * c.head_dim * 2));
  EXPECT_EQ(SequenceBufferBytes(c, kContext, 0, SequenceBuffer::kCompressorKv), 0u);
  EXPECT_EQ(SequenceBufferBytes(c, kContext, 1, SequenceBuffer::kCache),
            size_t((c.window_size + kContext / 4) * c.head_dim * 2));
  EXPECT_EQ(SequenceBufferBytes(c, kContext, 1, SequenceBuffer::kCompressorKv),
            size_t(8 * 2 * c.head_dim * 4));
  EXPECT_EQ(SequenceBufferBytes(c, kContext, 1, SequenceBuffer::kIndexKeys),
            size_t(kContext / 4 * c.index_head_dim * 2));
  EXPECT_EQ(SequenceBufferBytes(c, kContext, 2, SequenceBuffer::kCompressorScore),
            size_t(16 * c.head_dim * 4));
  EXPECT_EQ(SequenceBufferBytes(c, kContext, 2, SequenceBuffer::kIndexKeys), 0u);
  // A context shorter than a layer's ratio still keeps one entry slot (the device step's buffer;
  // UploadModel sizes the layer's capacity the same way).
  EXPECT_EQ(CompressedEntrySlots(10, 16), 1);
  EXPECT_EQ(CompressedEntrySlots(40, 16), 2);
  EXPECT_EQ(SequenceBufferBytes(c, 10, 2, SequenceBuffer::kCache),
            size_t((c.window_size + 1) * c.head_dim * 2));
  // The MTP block is layer n_layers, with its own ratio from compress_ratios (0 in v4-tiny).
  ASSERT_EQ(StateLayers(c), 6);
  ASSERT_EQ(c.compress_ratios[5], 0);
  EXPECT_EQ(SequenceBufferBytes(c, kContext, 5, SequenceBuffer::kCache),
            size_t(c.window_size * c.head_dim * 2));
  EXPECT_EQ(SequenceBufferBytes(c, kContext, 5, SequenceBuffer::kCompressorKv), 0u);
}

TEST(SequenceStateLayoutTest, RefusesStatesOfTheWrongShapeNamingTheField) {
  auto model = TinyModel();
  ASSERT_TRUE(model);
  const ModelConfig& c = model->config();
  forward::SequenceState good = model->NewSequence();
  ASSERT_TRUE(model->Forward(good, Tokens(20, 7)));
  ASSERT_TRUE(CheckStateFitsDevice(c, kContext, good));

  const auto error_of = [&](forward::SequenceState s, int64_t context = kContext) {
    auto ok = CheckStateFitsDevice(c, context, s);
    EXPECT_FALSE(ok);
    auto plan = PlanStateCopies(c, context, s);
    EXPECT_FALSE(plan);
    return ok ? std::string() : ok.error();
  };
  {
    forward::SequenceState s = good;
    s.layers.pop_back();
    EXPECT_THAT(error_of(s), HasSubstr("has 4 layers and 1 MTP blocks; the model 5 and 1"));
  }
  EXPECT_THAT(error_of(good, 19), HasSubstr("at position 20; the device sequence holds 19"));
  {
    forward::SequenceState s = good;
    s.layers[1].compressed.resize(s.layers[1].compressed.size() - c.head_dim);
    EXPECT_THAT(error_of(s), HasSubstr("layer 1 compressed entries"));
  }
  {
    forward::SequenceState s = good;
    s.layers[3].index_keys.clear();
    EXPECT_THAT(error_of(s), HasSubstr("layer 3 indexer keys"));
  }
  {
    forward::SequenceState s = good;
    s.layers[2].ratio = 4;
    EXPECT_THAT(error_of(s), HasSubstr("layer 2 has ratio 4"));
  }
  {
    forward::SequenceState s = good;
    s.layers[0].window.pop_back();
    EXPECT_THAT(error_of(s), HasSubstr("layer 0 window has 2047 values, the model needs 2048"));
  }
  {
    forward::SequenceState s = good;
    s.layers[4].kv_compressor.width /= 2;
    EXPECT_THAT(error_of(s), HasSubstr("layer 4 compressor is [16, 64], the model's [16, 128]"));
  }
  {
    forward::SequenceState s = good;
    s.layers[1].index_compressor.score.pop_back();
    EXPECT_THAT(error_of(s), HasSubstr("layer 1 indexer compressor has 2047 scores"));
  }
  // The MTP block's part is checked the same way, named as such.
  {
    forward::SequenceState s = good;
    s.mtp[0].window.pop_back();
    EXPECT_THAT(error_of(s), HasSubstr("MTP block 0 window has 2047 values"));
  }
  {
    forward::SequenceState s = good;
    s.mtp_pos = kContext + 1;
    EXPECT_THAT(error_of(s), HasSubstr("MTP blocks are at position 65"));
  }
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda::sequence_layout_test
