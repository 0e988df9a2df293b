// The GPU placement planner (engine/model/placement_plan.h) on the Flash config's real inventory.
#include "engine/model/placement_plan.h"

#include <gtest/gtest.h>

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

TEST(PlacementPlanTest, DefaultReserveIsATenthWithAFloor) {
  EXPECT_EQ(DefaultPlacementReserve(8 * kGiB), 2 * kGiB);
  EXPECT_EQ(DefaultPlacementReserve(140 * kGiB), 14 * kGiB);
}

}  // namespace
}  // namespace dsagent::engine
