#include "engine/model/v4_tensor_table.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "engine/model/tensor_inventory.h"

namespace dsagent::engine {
namespace {
namespace fs = std::filesystem;

const fs::path kData = fs::path(DSAGENT_SOURCE_DIR) / "tests/data";

ModelConfig MustLoad(const fs::path& config_json) {
  auto c = LoadModelConfig(config_json);
  EXPECT_TRUE(c) << c.error();
  return c ? *c : ModelConfig{};
}

// Every id the forward pass binds by has exactly one row (V4TensorRow aborts otherwise).
TEST(V4TensorTableTest, EveryIdHasExactlyOneRow) {
  std::map<V4Tensor, int> rows;
  for (const V4TensorSpec& row : V4TensorTable()) ++rows[row.id];
  for (int id = 0; id <= static_cast<int>(V4Tensor::kMtpHcHeadScale); ++id) {
    EXPECT_EQ(rows[static_cast<V4Tensor>(id)], 1) << "id " << id;
  }
  EXPECT_EQ(V4TensorRow(V4Tensor::kWqA).name, std::string("attn.wq_a"));
}

// The expansion keeps the order the checkpoint files and the synthetic writer rely on: every name
// once, each quantised weight directly followed by its scale, with the table's id, block and
// expert on both.
TEST(V4TensorTableTest, ExpansionNamesEachTensorOnceAndPairsWeightsWithScales) {
  for (const char* config :
       {"v4-flash-config.json", "v4-tiny/config.json", "v4-tiny-c/config.json"}) {
    const ModelConfig c = MustLoad(kData / config);
    const std::vector<ExpectedTensor> tensors = ExpectedTensors(c);
    std::set<std::string> names;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const ExpectedTensor& t = tensors[i];
      EXPECT_TRUE(names.insert(t.name).second) << config << ": " << t.name << " twice";
      EXPECT_EQ(t.scale, t.dtype == DType::kF8E8M0) << t.name;
      if (!t.scale) continue;
      ASSERT_GT(i, 0u);
      const ExpectedTensor& w = tensors[i - 1];
      const std::string stem = t.name.substr(0, t.name.size() - std::string("scale").size());
      EXPECT_EQ(w.name, stem + "weight");
      EXPECT_EQ(w.id, t.id);
      EXPECT_EQ(w.block, t.block);
      EXPECT_EQ(w.expert, t.expert);
      EXPECT_EQ(t.parameters, 0) << t.name;
    }
  }
}

// Spot checks against ../shared/reference/v4-architecture.md §4 at V4-Flash's shapes: a CSA
// layer's indexer, an FP4 routed expert, a hash layer's tid2eid and the MTP block's projections.
TEST(V4TensorTableTest, FlashShapesFollowTheArchitecture) {
  const ModelConfig c = MustLoad(kData / "v4-flash-config.json");
  std::map<std::string, ExpectedTensor> by_name;
  for (const ExpectedTensor& t : ExpectedTensors(c)) by_name.emplace(t.name, t);
  const auto shape = [&](const std::string& name) {
    EXPECT_TRUE(by_name.count(name)) << name;
    return by_name.count(name) ? by_name.at(name).shape : std::vector<int64_t>{};
  };
  using S = std::vector<int64_t>;
  const int csa = static_cast<int>(
      std::find(c.compress_ratios.begin(), c.compress_ratios.end(), 4) - c.compress_ratios.begin());
  const std::string p = "layers." + std::to_string(csa) + ".";
  EXPECT_EQ(shape(p + "attn.wq_a.weight"), (S{c.q_lora_rank, c.dim}));
  EXPECT_EQ(shape(p + "attn.indexer.wq_b.weight"),
            (S{c.index_n_heads * c.index_head_dim, c.q_lora_rank}));
  EXPECT_EQ(shape(p + "attn.indexer.compressor.ape"), (S{4, 2 * c.index_head_dim}));
  EXPECT_EQ(shape(p + "ffn.experts.7.w2.weight"), (S{c.dim, c.moe_inter_dim / 2}));
  EXPECT_EQ(shape(p + "ffn.experts.7.w2.scale"), (S{c.dim, c.moe_inter_dim / 32}));
  EXPECT_EQ(by_name.at(p + "ffn.experts.7.w2.weight").parameters, c.dim * c.moe_inter_dim);
  EXPECT_EQ(shape("layers.0.ffn.gate.tid2eid"), (S{c.vocab_size, c.n_activated_experts}));
  EXPECT_FALSE(by_name.count("layers.0.attn.compressor.ape"));  // a window-only layer
  const std::string m = "mtp.0.";
  EXPECT_EQ(shape(m + "e_proj.scale"), (S{c.dim / 128, c.dim / 128}));
  EXPECT_TRUE(by_name.at(m + "hc_head_scale").mtp);
  EXPECT_EQ(by_name.at(m + "hc_head_scale").block, c.n_layers);
}

}  // namespace
}  // namespace dsagent::engine
