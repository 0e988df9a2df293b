// The GPU placement planner (engine/model/placement_plan.h) on the Flash config's real inventory.
#include "engine/model/placement_plan.h"

#include <gtest/gtest.h>

#include "engine/kv/kv_accounting.h"
#include "engine/model/model_config.h"

namespace dsagent::engine {
namespace {

constexpr int64_t kGiB = 1LL << 30;

struct FlashInventory {
  ModelConfig config;
  std::vector<ExpectedTensor> tensors;
  int64_t resident = 0, expert = 0;  // bytes outside routed experts; one routed expert
};

FlashInventory LoadFlash() {
  FlashInventory f;
  auto c = LoadModelConfig(DSAGENT_SOURCE_DIR "/tests/data/v4-flash-config.json");
  EXPECT_TRUE(c) << c.error();
  f.config = *c;
  f.tensors = ExpectedTensors(f.config);
  for (const ExpectedTensor& t : f.tensors) {
    int64_t bytes = static_cast<int64_t>(DTypeBytes(t.dtype));
    for (int64_t d : t.shape) bytes *= d;
    if (!t.routed_expert) f.resident += bytes;
    if (t.name.rfind("layers.0.ffn.experts.0.", 0) == 0) f.expert += bytes;
  }
  return f;
}

TEST(PlacementPlanTest, EverythingFitsOnALargeDevice) {
  const FlashInventory f = LoadFlash();
  auto plan = PlanPlacement(f.tensors, 1024 * kGiB, 10 * kGiB);
  ASSERT_TRUE(plan) << plan.error();
  EXPECT_TRUE(plan->all_on_device());
  EXPECT_EQ(plan->resident_bytes, f.resident);
  const int64_t experts =
      static_cast<int64_t>(f.config.n_routed_experts) * (f.config.n_layers + f.config.n_mtp_layers);
  EXPECT_EQ(plan->experts_total, experts);
  EXPECT_EQ(plan->host_expert_bytes, 0);
  EXPECT_EQ(plan->device_used_bytes(), CountParameters(f.config).stored_bytes);
}

TEST(PlacementPlanTest, ExpertsThatDoNotFitStayOnTheHostSpreadEvenlyOverLayers) {
  const FlashInventory f = LoadFlash();
  ASSERT_GT(f.expert, 0);
  const int64_t reserve = 4 * kGiB;
  // Room for exactly 2.5 experts per main layer.
  const int64_t fit = f.config.n_layers * 5 / 2;
  auto plan = PlanPlacement(f.tensors, f.resident + reserve + fit * f.expert, reserve);
  ASSERT_TRUE(plan) << plan.error();
  EXPECT_EQ(plan->experts_on_device, fit);
  EXPECT_EQ(plan->device_expert_bytes, fit * f.expert);
  EXPECT_EQ(plan->host_expert_bytes, (plan->experts_total - fit) * f.expert);
  for (const BlockExperts& b : plan->blocks) {
    if (b.mtp) {
      EXPECT_EQ(b.on_device, 0) << b.prefix << ": MTP experts come after every main layer's";
    } else {
      EXPECT_TRUE(b.on_device == 2 || b.on_device == 3) << b.prefix << " " << b.on_device;
      EXPECT_EQ(b.bytes_per_expert, f.expert);
    }
  }
  // The first layers get the extra expert (round robin by expert index).
  EXPECT_EQ(plan->blocks.front().on_device, 3);
  EXPECT_EQ(plan->blocks[static_cast<size_t>(f.config.n_layers - 1)].on_device, 2);
  const std::string text = DescribePlacement(*plan);
  EXPECT_NE(text.find(std::to_string(fit) + " of " + std::to_string(plan->experts_total) +
                      " routed experts"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("layers.0-"), std::string::npos) << text;
  EXPECT_NE(text.find("mtp.0: 0/"), std::string::npos) << text;
}

TEST(PlacementPlanTest, RefusesADeviceTooSmallForTheResidentPart) {
  const FlashInventory f = LoadFlash();
  auto plan = PlanPlacement(f.tensors, f.resident + kGiB, 2 * kGiB);
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().find("needs at least"), std::string::npos) << plan.error();
  EXPECT_NE(plan.error().find("--device cpu"), std::string::npos) << plan.error();
  // Exactly enough: no expert on the device, but a plan.
  auto tight = PlanPlacement(f.tensors, f.resident + 2 * kGiB, 2 * kGiB);
  ASSERT_TRUE(tight) << tight.error();
  EXPECT_EQ(tight->experts_on_device, 0);
}

TEST(PlacementPlanTest, ReserveHoldsTheKvStateOfEverySequenceAtTheContextPlusAWorkspace) {
  const FlashInventory f = LoadFlash();
  const kv::KvFootprint kv = kv::ComputeKvFootprint(f.config, kv::KvLayout::kReference);
  const PlacementReserve one = PlacementReserveFor(f.config, 65536, 1);
  EXPECT_EQ(one.kv_bytes, kv.bytes_for(65536));
  EXPECT_GT(one.workspace_bytes, kDeviceWorkspaceBytes);
  const PlacementReserve eight = PlacementReserveFor(f.config, 65536, 8);
  EXPECT_EQ(eight.kv_bytes, 8 * kv.bytes_for(65536));
  EXPECT_EQ(eight.workspace_bytes - kDeviceWorkspaceBytes,
            8 * (one.workspace_bytes - kDeviceWorkspaceBytes));
  // No context given: the model's whole context window (1M positions for Flash).
  const PlacementReserve full = PlacementReserveFor(f.config, 0, 1);
  EXPECT_EQ(full.kv_bytes, kv.bytes_for(f.config.max_position_embeddings));
  EXPECT_GT(full.kv_bytes, one.kv_bytes);
  EXPECT_EQ(full.total(), full.kv_bytes + full.workspace_bytes);
  // A longer context leaves fewer experts on a device of the same size.
  const int64_t device = f.resident + 40 * kGiB;
  auto short_ctx = PlanPlacement(f.tensors, device, one.total());
  auto long_ctx = PlanPlacement(f.tensors, device, full.total());
  ASSERT_TRUE(short_ctx) << short_ctx.error();
  ASSERT_TRUE(long_ctx) << long_ctx.error();
  EXPECT_GT(short_ctx->experts_on_device, long_ctx->experts_on_device);
}

// A made-up model: `layers` main layers and `mtp` MTP blocks of `experts` routed experts each
// (three BF16 matrices of `expert_bytes` / 3 bytes), and `resident_bytes` of everything else.
std::vector<ExpectedTensor> FakeInventory(int layers, int mtp, int experts, int64_t expert_bytes,
                                          int64_t resident_bytes) {
  std::vector<ExpectedTensor> out;
  out.push_back({.name = "embed.weight", .dtype = DType::kBF16, .shape = {resident_bytes / 4}});
  out.push_back({.name = "head.weight", .dtype = DType::kBF16, .shape = {resident_bytes / 4}});
  for (int b = 0; b < layers + mtp; ++b) {
    const bool is_mtp = b >= layers;
    const std::string block =
        is_mtp ? "mtp." + std::to_string(b - layers) + "." : "layers." + std::to_string(b) + ".";
    out.push_back({.name = block + "attn.wq.weight", .dtype = DType::kBF16, .shape = {2}});
    for (int e = 0; e < experts; ++e) {
      for (const char* w : {"w1", "w2", "w3"}) {
        out.push_back({.name = block + "ffn.experts." + std::to_string(e) + "." + w + ".weight",
                       .dtype = DType::kBF16,
                       .shape = {expert_bytes / 6},
                       .routed_expert = true,
                       .mtp = is_mtp});
      }
    }
  }
  return out;
}

constexpr int64_t kMiB = 1LL << 20;

TEST(PlacementPlanTest, FakeModelEverythingFits) {
  const auto t = FakeInventory(4, 1, 8, 6 * kMiB, 100 * kMiB);
  auto plan = PlanPlacement(t, 1000 * kMiB, 100 * kMiB);
  ASSERT_TRUE(plan) << plan.error();
  EXPECT_EQ(plan->resident_bytes, 100 * kMiB + 5 * 4);  // + the five blocks' wq
  EXPECT_EQ(plan->experts_total, 40);
  EXPECT_TRUE(plan->all_on_device());
  EXPECT_EQ(plan->device_expert_bytes, 40 * 6 * kMiB);
  EXPECT_EQ(plan->host_expert_bytes, 0);
  ASSERT_EQ(plan->blocks.size(), 5u);
  for (const BlockExperts& b : plan->blocks) {
    EXPECT_EQ(b.on_device, 8) << b.prefix;
    EXPECT_EQ(b.bytes_per_expert, 6 * kMiB) << b.prefix;
  }
  EXPECT_TRUE(plan->blocks.back().mtp);
  EXPECT_EQ(plan->blocks.back().prefix, "mtp.0.");
  const std::string text = DescribePlacement(*plan);
  EXPECT_NE(text.find("40 of 40 routed experts"), std::string::npos) << text;
  EXPECT_NE(text.find("layers.0-3: 8/8 experts on the device"), std::string::npos) << text;
  EXPECT_NE(text.find("in pinned host memory (CPU kernels): 0 routed experts"), std::string::npos)
      << text;
}

TEST(PlacementPlanTest, FakeModelHalfTheExpertsFitAndMtpWaitsForTheMainLayers) {
  const auto t = FakeInventory(4, 1, 8, 6 * kMiB, 100 * kMiB);
  const int64_t resident = 100 * kMiB + 20, reserve = 50 * kMiB;
  // Room for 16 experts (and a little more, but not a 17th).
  auto plan = PlanPlacement(t, resident + reserve + 16 * 6 * kMiB + 5 * kMiB, reserve);
  ASSERT_TRUE(plan) << plan.error();
  EXPECT_EQ(plan->experts_on_device, 16);
  EXPECT_EQ(plan->device_expert_bytes, 16 * 6 * kMiB);
  EXPECT_EQ(plan->host_expert_bytes, 24 * 6 * kMiB);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(plan->blocks[static_cast<size_t>(i)].on_device, 4) << i;
  EXPECT_EQ(plan->blocks[4].on_device, 0) << "MTP experts come after every main layer's";
  EXPECT_EQ(plan->device_used_bytes(), resident + 16 * 6 * kMiB);
  const std::string text = DescribePlacement(*plan);
  EXPECT_NE(text.find("layers.0-3: 4/8 experts on the device"), std::string::npos) << text;
  EXPECT_NE(text.find("mtp.0: 0/8 experts on the device"), std::string::npos) << text;
  EXPECT_NE(text.find("in pinned host memory (CPU kernels): 24 routed experts"), std::string::npos)
      << text;
}

// Streaming (PlacementOptions): when experts stay on the host, a pool for `stream_pool_experts`
// of them comes out of the experts' budget (halved while it does not fit), and the plan says from
// how many rows a MoE call streams; with everything on the device, no pool.
TEST(PlacementPlanTest, FakeModelStreamPoolComesOutOfTheExpertsBudget) {
  const auto t = FakeInventory(4, 1, 8, 6 * kMiB, 100 * kMiB);
  const int64_t resident = 100 * kMiB + 20, reserve = 50 * kMiB;
  const PlacementOptions stream{.stream_pool_experts = 4, .stream_min_rows = 32};
  // Room for 16 experts: 4 of them become the pool, 12 stay on the device.
  auto plan = PlanPlacement(t, resident + reserve + 16 * 6 * kMiB + 5 * kMiB, reserve, stream);
  ASSERT_TRUE(plan) << plan.error();
  EXPECT_EQ(plan->stream_pool_experts, 4);
  EXPECT_EQ(plan->stream_pool_bytes, 4 * 6 * kMiB);
  EXPECT_EQ(plan->stream_min_rows, 32);
  EXPECT_EQ(plan->experts_on_device, 12);
  EXPECT_EQ(plan->host_expert_bytes, 28 * 6 * kMiB);
  EXPECT_EQ(plan->device_used_bytes(), resident + 12 * 6 * kMiB + 4 * 6 * kMiB);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(plan->blocks[static_cast<size_t>(i)].on_device, 3) << i;
  const std::string text = DescribePlacement(*plan);
  EXPECT_NE(text.find("streamed to the device for MoE calls of 32 rows or more (prefill chunks): "
                      "a pool of 4 experts"),
            std::string::npos)
      << text;
  // Room for 3 experts: a pool of 4 does not fit, 2 does; 1 expert stays on the device.
  auto small = PlanPlacement(t, resident + reserve + 3 * 6 * kMiB, reserve,
                             {.stream_pool_experts = 8, .stream_min_rows = 32});
  ASSERT_TRUE(small) << small.error();
  EXPECT_EQ(small->stream_pool_experts, 2);
  EXPECT_EQ(small->experts_on_device, 1);
  // Room for none: no pool either (the CPU computes every expert).
  auto none = PlanPlacement(t, resident + reserve + 6 * kMiB - 1, reserve, stream);
  ASSERT_TRUE(none) << none.error();
  EXPECT_EQ(none->stream_pool_experts, 0);
  EXPECT_EQ(none->stream_pool_bytes, 0);
  EXPECT_EQ(DescribePlacement(*none).find("streamed"), std::string::npos);
  // Everything fits: no pool.
  auto fits = PlanPlacement(t, 1000 * kMiB, 100 * kMiB, stream);
  ASSERT_TRUE(fits) << fits.error();
  EXPECT_TRUE(fits->all_on_device());
  EXPECT_EQ(fits->stream_pool_experts, 0);
  EXPECT_EQ(fits->device_used_bytes(), resident + 40 * 6 * kMiB);
}

TEST(PlacementPlanTest, FakeModelOnlyTheDensePartFits) {
  const auto t = FakeInventory(3, 0, 4, 6 * kMiB, 30 * kMiB);
  const int64_t resident = 30 * kMiB + 12, reserve = 10 * kMiB;
  // One byte short of the first expert.
  auto plan = PlanPlacement(t, resident + reserve + 6 * kMiB - 1, reserve);
  ASSERT_TRUE(plan) << plan.error();
  EXPECT_EQ(plan->experts_on_device, 0);
  EXPECT_EQ(plan->device_expert_bytes, 0);
  EXPECT_EQ(plan->host_expert_bytes, 12 * 6 * kMiB);
  EXPECT_EQ(plan->device_used_bytes(), resident);
  for (const BlockExperts& b : plan->blocks) EXPECT_EQ(b.on_device, 0) << b.prefix;
  // One more byte: expert 0 of the first layer (and only it).
  auto one = PlanPlacement(t, resident + reserve + 6 * kMiB, reserve);
  ASSERT_TRUE(one) << one.error();
  EXPECT_EQ(one->experts_on_device, 1);
  EXPECT_EQ(one->blocks[0].on_device, 1);
  EXPECT_EQ(one->blocks[1].on_device, 0);
}

TEST(PlacementPlanTest, FakeModelTooSmallSaysWhatItNeeds) {
  const auto t = FakeInventory(2, 0, 4, 6 * kMiB, 3 * kGiB);
  const int64_t resident = 3 * kGiB + 8;
  auto plan = PlanPlacement(t, resident + 2 * kGiB - 1, 2 * kGiB);
  ASSERT_FALSE(plan);
  EXPECT_NE(plan.error().find("(3.00 GiB)"), std::string::npos) << plan.error();
  EXPECT_NE(plan.error().find("(2.00 GiB)"), std::string::npos) << plan.error();
  EXPECT_NE(plan.error().find("needs at least 5.00 GiB"), std::string::npos) << plan.error();
  EXPECT_NE(plan.error().find("use a larger device or --device cpu"), std::string::npos)
      << plan.error();
}

TEST(PlacementPlanTest, TheSameInputsGiveTheSamePlan) {
  const auto t = FakeInventory(5, 1, 16, 3 * kMiB, 64 * kMiB);
  const int64_t device = 64 * kMiB + 24 + 8 * kMiB + 37 * 3 * kMiB + kMiB;
  auto a = PlanPlacement(t, device, 8 * kMiB);
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->experts_on_device, 37);
  for (int run = 0; run < 3; ++run) {
    auto b = PlanPlacement(t, device, 8 * kMiB);
    ASSERT_TRUE(b) << b.error();
    ASSERT_EQ(b->blocks.size(), a->blocks.size());
    for (size_t i = 0; i < a->blocks.size(); ++i) {
      EXPECT_EQ(b->blocks[i].prefix, a->blocks[i].prefix);
      EXPECT_EQ(b->blocks[i].on_device, a->blocks[i].on_device) << a->blocks[i].prefix;
    }
    EXPECT_EQ(DescribePlacement(*b), DescribePlacement(*a));
  }
  // 37 = 7 per main layer + 2 more: the first two layers get the 8th.
  const std::vector<int> expected = {8, 8, 7, 7, 7, 0};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(a->blocks[i].on_device, expected[i]) << a->blocks[i].prefix;
  }
}

}  // namespace
}  // namespace dsagent::engine
