// KV accounting against the numbers in ../shared/reference/v4-kv-cache.md §2.
#include "engine/kv/kv_accounting.h"

#include <gtest/gtest.h>

#include "engine/forward/sequence_state.h"

namespace dsagent::engine::kv {
namespace {

const std::filesystem::path kData = std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data";

ModelConfig Load(const std::string& file) {
  auto c = LoadModelConfig(kData / file);
  EXPECT_TRUE(c) << c.error();
  return *c;
}

TEST(KvAccountingTest, FlashMatchesTheReferenceNotes) {
  const ModelConfig c = Load("v4-flash-config.json");
  const KvFootprint ref = ComputeKvFootprint(c, KvLayout::kReference);
  EXPECT_EQ(ref.csa_layers, 21);
  EXPECT_EQ(ref.hca_layers, 20);
  EXPECT_EQ(ref.window_only_layers, 2);
  EXPECT_EQ(ref.mtp_layers, 1);
  // 21 * 320 + 20 * 8 bytes per token.
  EXPECT_DOUBLE_EQ(ref.bytes_per_token, 6880.0);
  // Window: 44 layers (incl. MTP) x 128 slots x 512 x bf16 = 5.5 MiB.
  EXPECT_EQ(ref.window_bytes, 44 * 128 * 1024);
  // Compressor state: 21 x (64 + 16) KiB + 20 x 512 KiB (~11.6 MiB).
  EXPECT_EQ(ref.compressor_state_bytes, (21 * 80 + 20 * 512) * 1024);

  const KvFootprint vllm = ComputeKvFootprint(c, KvLayout::kServingFp8);
  EXPECT_EQ(vllm.main_entry_bytes, 584);
  EXPECT_EQ(vllm.index_entry_bytes, 132);
  EXPECT_DOUBLE_EQ(vllm.bytes_per_token, 3850.25);
  EXPECT_EQ(vllm.window_bytes, 44 * 128 * 584);  // 73 KiB per layer

  const KvFootprint packed = ComputeKvFootprint(c, KvLayout::kPacked);
  EXPECT_EQ(packed.main_entry_bytes, 583);
  EXPECT_EQ(packed.index_entry_bytes, 68);
  EXPECT_NEAR(packed.bytes_per_token, 3509.0, 0.5);  // "3,509 B"
  // At 1 M tokens: reference 7.21 GB, vLLM FP8 4.04 GB, packed ~3.68 GB (growing part).
  const double m = 1048576;
  EXPECT_NEAR(ref.bytes_per_token * m / 1e9, 7.21, 0.005);
  EXPECT_NEAR(vllm.bytes_per_token * m / 1e9, 4.04, 0.005);
  EXPECT_NEAR(packed.bytes_per_token * m / 1e9, 3.68, 0.005);
}

// What a SequenceState really holds equals the reference layout's count, for the tiny model
// (ratios 4 and 16, window 16) at a few lengths.
TEST(KvAccountingTest, ReferenceLayoutIsWhatSequenceStateStores) {
  const ModelConfig c = Load("v4-tiny/config.json");
  const KvFootprint f = ComputeKvFootprint(c, KvLayout::kReference);
  for (int64_t tokens : {0, 3, 128, 300}) {
    forward::SequenceState s = forward::NewSequenceState(c);
    int64_t bytes = 0;
    for (auto* layers : {&s.layers, &s.mtp}) {
      const bool mtp = layers == &s.mtp;
      for (auto& l : *layers) {
        const int64_t entries = l.ratio > 0 && !mtp ? tokens / l.ratio : 0;
        l.compressed.resize(static_cast<size_t>(entries * l.head_dim));
        l.index_keys.resize(static_cast<size_t>(entries * l.index_head_dim));
        bytes +=
            static_cast<int64_t>((l.window.size() + l.compressed.size() + l.index_keys.size()) * 2);
        for (auto* cs : {&l.kv_compressor, &l.index_compressor}) {
          bytes += static_cast<int64_t>((cs->kv.size() + cs->score.size()) * 4);
        }
      }
    }
    EXPECT_EQ(f.bytes_for(tokens), bytes) << tokens << " tokens";
  }
}

// The names are the keys of `dsagent engine kv`'s JSON output.
TEST(KvAccountingTest, LayoutNames) {
  EXPECT_EQ(KvLayoutName(KvLayout::kReference), "reference");
  EXPECT_EQ(KvLayoutName(KvLayout::kServingFp8), "serving_fp8");
  EXPECT_EQ(KvLayoutName(KvLayout::kPacked), "packed");
}

}  // namespace
}  // namespace dsagent::engine::kv
