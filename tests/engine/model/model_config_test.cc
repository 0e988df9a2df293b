#include "engine/model/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/file_io.h"
#include "engine/model/tensor_inventory.h"

namespace dsagent::engine {
namespace {
using ::testing::HasSubstr;
namespace fs = std::filesystem;

const fs::path kConfigData = fs::path(DSAGENT_SOURCE_DIR) / "tests/data";

Json FlashJson() { return Json::parse(*ReadFileToString(kConfigData / "v4-flash-config.json")); }

TEST(ModelConfigTest, ParsesTheRealFlashConfig) {
  auto c = ParseModelConfig(FlashJson(), "flash");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->dim, 4096);
  EXPECT_EQ(c->n_layers, 43);
  EXPECT_EQ(c->n_blocks(), 44);
  EXPECT_EQ(c->compress_ratios[2], 4);
  EXPECT_EQ(c->compress_ratios[3], 128);
  EXPECT_EQ(c->original_seq_len, 65536);
  EXPECT_EQ(c->expert_dtype, "fp4");
}

// The reference notes: V4-Flash is a 284B-parameter MoE with 13B active per token.
TEST(ModelConfigTest, FlashParameterCountsMatchThePublishedSizes) {
  auto c = ParseModelConfig(FlashJson(), "flash");
  ASSERT_TRUE(c);
  const ParameterCounts n = CountParameters(*c);
  EXPECT_NEAR(static_cast<double>(n.total) / 1e9, 284, 10) << n.total;
  EXPECT_NEAR(static_cast<double>(n.active) / 1e9, 13, 1.5) << n.active;
  EXPECT_LT(n.stored_bytes, n.total);  // FP4 experts and FP8 weights: under a byte per weight
}

TEST(ModelConfigTest, EveryProblemIsNamed) {
  Json j = FlashJson();
  j.erase("hidden_size");
  j["num_attention_heads"] = "sixty-four";
  j["compress_ratios"] = Json::array({0, 4});
  auto c = ParseModelConfig(j, "config.json");
  ASSERT_FALSE(c);
  EXPECT_THAT(c.error(), HasSubstr("config.json: hidden_size: missing"));
  EXPECT_THAT(c.error(), HasSubstr("num_attention_heads: must be an integer"));
}

// Found by fuzz_model_config: a quantization_config that is not an object threw out of the parser,
// and a huge float where an integer belongs was converted to int64 (undefined behaviour).
TEST(ModelConfigTest, NestedFieldsOfTheWrongTypeAreNamedProblems) {
  Json j = FlashJson();
  j["quantization_config"] = "fp4";
  EXPECT_THAT(ParseModelConfig(j, "c").error(),
              HasSubstr("quantization_config: must be an object"));
  j = FlashJson();
  j["rope_scaling"]["original_max_position_embeddings"] = 2.5e73;
  j["rope_scaling"]["factor"] = "x";
  j["rope_scaling"]["type"] = 3;
  const std::string error = ParseModelConfig(j, "c").error();
  EXPECT_THAT(error,
              HasSubstr("rope_scaling.original_max_position_embeddings: must be an integer"));
  EXPECT_THAT(error, HasSubstr("rope_scaling.factor: must be a number"));
  EXPECT_THAT(error, HasSubstr("rope_scaling.type: only yarn"));
}

TEST(ModelConfigTest, InconsistentValuesAreRejected) {
  Json j = FlashJson();
  j["compress_ratios"] = Json::array({0, 4});
  EXPECT_THAT(ParseModelConfig(j, "c").error(), HasSubstr("expected num_hidden_layers"));
  j = FlashJson();
  j["model_type"] = "llama";
  EXPECT_THAT(ParseModelConfig(j, "c").error(), HasSubstr("not supported"));
  j = FlashJson();
  j["o_groups"] = 7;
  EXPECT_THAT(ParseModelConfig(j, "c").error(), HasSubstr("o_groups"));
  EXPECT_FALSE(LoadModelConfig(kConfigData / "does-not-exist.json"));
}

}  // namespace
}  // namespace dsagent::engine
