// The engine's device entry point (kernels/cuda/device_decoder.h): the plan's expert split and its
// errors without a device (these run in every CUDA build), and on a GPU the golden checkpoints
// decoded token by token through it against the reference and the CPU engine's fast decode, and a
// greedy generation against the CPU Generator's (the fast contract: top-1 >= 99%, max |d logit|
// <= 0.05). The device tests skip without a device (fail with DSAGENT_REQUIRE_CUDA=1).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <utility>
#include <vector>

#include "engine/forward/logits_runner.h"
#include "engine/forward/model.h"
#include "engine/generate/cpu_sequence_model.h"
#include "engine/generate/generator.h"
#include "engine/kernels/cuda/device_decoder.h"
#include "engine/model/placement_plan.h"
#include "engine/model/tensor_inventory.h"
#include "tests/engine/forward/golden_data.h"
#include "tests/engine/kernels/cuda_test_support.h"

namespace dsagent::engine::kernels::cuda::decoder_test {
namespace {
using forward::testing::Compare;
using forward::testing::Describe;
using forward::testing::GoldenSet;
using ::testing::HasSubstr;

std::filesystem::path DataDir(const char* name) { return test_support::TestDataDir() / name; }

constexpr int64_t kGiB = 1LL << 30;

// Everything on a (hypothetical) large device.
PlacementPlan PlanAllOnDevice(const ModelConfig& c) {
  auto plan = PlanPlacement(ExpectedTensors(c), 64 * kGiB, kGiB);
  EXPECT_TRUE(plan) << plan.error();
  EXPECT_TRUE(plan->all_on_device());
  return *plan;
}

TEST(DeviceDecoderPlanTest, ThePlansSplitGivesEachDecoderLayersExpertsOnTheDevice) {
  PlacementPlan plan;
  plan.blocks = {{.prefix = "layers.1.", .experts = 8, .on_device = 5},
                 {.prefix = "layers.0.", .experts = 8, .on_device = 8},
                 {.prefix = "mtp.0.", .mtp = true, .experts = 8, .on_device = 0}};
  auto split = ExpertsOnDevicePerLayer(plan, 3);
  ASSERT_TRUE(split) << split.error();
  // Layer 2 is not in the plan: all of its experts on the device (-1). MTP blocks apart.
  EXPECT_THAT(*split, ::testing::ElementsAre(8, 5, -1));
  auto mtp_split = ExpertsOnDevicePerMtpBlock(plan, 1);
  ASSERT_TRUE(mtp_split) << mtp_split.error();
  EXPECT_THAT(*mtp_split, ::testing::ElementsAre(0));
  auto no_such_block = ExpertsOnDevicePerMtpBlock(plan, 0);
  ASSERT_FALSE(no_such_block);
  EXPECT_THAT(no_such_block.error(), HasSubstr("\"mtp.0.\" is not one of the 0 MTP blocks"));

  plan.blocks.push_back({.prefix = "layers.1.", .experts = 8, .on_device = 8});
  auto twice = ExpertsOnDevicePerLayer(plan, 3);
  ASSERT_FALSE(twice);
  EXPECT_THAT(twice.error(), HasSubstr("decoder layer 1 is planned twice"));
  for (const char* bad : {"layers.3.", "layers.-1.", "layers.1x.", "layers.01.", "blocks.0."}) {
    plan.blocks = {{.prefix = bad, .experts = 8, .on_device = 8}};
    auto refused = ExpertsOnDevicePerLayer(plan, 3);
    ASSERT_FALSE(refused) << bad;
    EXPECT_THAT(refused.error(), HasSubstr("is not one of the 3 decoder layers")) << bad;
  }
}

// The planner's split of the tiny model (some decoder-layer experts in host memory): accepted now
// (the expert offload); on a GPU the decoder gives the same logits, bit for bit, as with every
// expert on the device (the host experts run the CPU kernels, which give the device's bits).
TEST(DeviceDecoderPlanTest, APlannerSplitOfTheTinyModelDecodesWithTheSameBits) {
  auto model =
      forward::Model::Load(DataDir("v4-tiny"), {.threads = 2, .numerics = Numerics::kFast});
  ASSERT_TRUE(model) << model.error();
  const auto tensors = ExpectedTensors((*model)->config());
  const PlacementPlan all = PlanAllOnDevice((*model)->config());
  // Half the expert bytes: the planner keeps some decoder-layer experts on the host.
  const int64_t device = all.resident_bytes + kGiB + all.device_expert_bytes / 2;
  auto half = PlanPlacement(tensors, device, kGiB);
  ASSERT_TRUE(half) << half.error();
  ASSERT_LT(half->experts_on_device, half->experts_total);
  EXPECT_FALSE(DeviceModelRefuses((*model)->config(), *half, {.device = 0, .context = 16},
                                  "device decoder"));
  REQUIRE_CUDA_DEVICE();
  auto split =
      DeviceDecoder::Create(**model, *half, {.device = 0, .context = 16, .host_threads = 2});
  ASSERT_TRUE(split) << split.error();
  auto whole = DeviceDecoder::Create(**model, all, {.device = 0, .context = 16});
  ASSERT_TRUE(whole) << whole.error();
  for (const int32_t token : {5, 17, 3, 99, 42, 7, 1, 64}) {
    auto a = (*split)->Decode(token);
    auto b = (*whole)->Decode(token);
    ASSERT_TRUE(a) << a.error();
    ASSERT_TRUE(b) << b.error();
    ASSERT_EQ(a->size(), b->size());
    for (size_t i = 0; i < a->size(); ++i) {
      ASSERT_EQ(test_support::Bits((*a)[i]), test_support::Bits((*b)[i]))
          << "token " << token << " logit " << i;
    }
  }
}

TEST(DeviceDecoderTest, BadContextAndNoDeviceAreErrorsNotExceptions) {
  auto model = forward::Model::Load(DataDir("v4-tiny"));
  ASSERT_TRUE(model) << model.error();
  const PlacementPlan plan = PlanAllOnDevice((*model)->config());
  for (const int64_t context : {int64_t{0}, int64_t{-1}, int64_t{513}}) {
    auto d = DeviceDecoder::Create(**model, plan, {.device = 0, .context = context});
    ASSERT_FALSE(d) << context;
    EXPECT_THAT(d.error(), HasSubstr("is not in [1, 512]")) << d.error();
  }
  const CudaProbe probe = ProbeCuda();
  if (!probe.devices.empty()) GTEST_SKIP() << "a GPU is present (the golden tests cover it)";
  auto d = DeviceDecoder::Create(**model, plan, {.device = 0, .context = 16});
  ASSERT_FALSE(d);
  EXPECT_THAT(d.error(), HasSubstr("device decoder on cuda:0: "));
}

class DeviceDecoderGoldenTest : public ::testing::TestWithParam<const char*> {};

TEST_P(DeviceDecoderGoldenTest, DecodesEveryTokenWithinTheContract) {
  REQUIRE_CUDA_DEVICE();
  const GoldenSet set(DataDir(GetParam()));
  const int64_t n = test_support::GoldenTokensOnThisDevice(set.tokens()), vocab = set.vocab();
  std::vector<int32_t> tokens = set.Read<int32_t>("tokens");
  std::vector<float> reference = set.Read<float>("prefill_full_logits");
  tokens.resize(static_cast<size_t>(n));
  reference.resize(static_cast<size_t>(n * vocab));
  auto model = forward::Model::Load(set.dir(), {.threads = 2, .numerics = Numerics::kFast});
  ASSERT_TRUE(model) << model.error();
  auto decoder = DeviceDecoder::Create(**model, PlanAllOnDevice((*model)->config()),
                                       {.device = 0, .context = n});
  ASSERT_TRUE(decoder) << decoder.error();
  EXPECT_EQ((*decoder)->vocab(), vocab);
  // A bad id is refused with the state untouched.
  auto bad = (*decoder)->Decode(static_cast<int32_t>(vocab));
  ASSERT_FALSE(bad);
  EXPECT_EQ((*decoder)->pos(), 0);
  std::vector<float> gpu;
  for (int64_t pos = 0; pos < n; ++pos) {
    auto row = (*decoder)->Decode(tokens[static_cast<size_t>(pos)]);
    ASSERT_TRUE(row) << row.error();
    ASSERT_EQ(static_cast<int64_t>(row->size()), vocab);
    gpu.insert(gpu.end(), row->begin(), row->end());
  }
  EXPECT_EQ((*decoder)->pos(), n);
  auto full = (*decoder)->Decode(tokens[0]);
  ASSERT_FALSE(full);
  EXPECT_THAT(full.error(), HasSubstr("the context is full"));

  auto cpu = forward::ComputeLogits(**model, tokens, 1);
  ASSERT_TRUE(cpu) << cpu.error();
  const std::vector<std::pair<const char*, const float*>> others = {
      {"reference", reference.data()}, {"CPU fast decode", cpu->data()}};
  for (const auto& [what, other] : others) {
    const auto a = Compare(gpu.data(), other, n, vocab);
    std::printf("%s decoder vs %s: %s\n", set.name().c_str(), what, Describe(a).c_str());
    EXPECT_GE(static_cast<double>(a.top1_agree), 0.99 * static_cast<double>(n)) << what;
    EXPECT_LE(a.max_abs, 0.05) << what;
  }
}

// Greedy generation from a prompt: the decoder's tokens (argmax, lowest id on ties, as the
// Sampler) against the CPU Generator's. The same tokens, except that after a near-tie (the CPU's
// two best logits within twice the contract's 0.05) the two may part ways.
TEST_P(DeviceDecoderGoldenTest, GreedyGenerationFollowsTheCpuEngine) {
  REQUIRE_CUDA_DEVICE();
  const GoldenSet set(DataDir(GetParam()));
  const std::vector<int32_t> golden = set.Read<int32_t>("tokens");
  const std::vector<int32_t> prompt(golden.begin(), golden.begin() + 8);
  const int64_t steps = 48;
  auto model = forward::Model::Load(set.dir(), {.threads = 2, .numerics = Numerics::kFast});
  ASSERT_TRUE(model) << model.error();

  CpuSequenceModel cpu_model(**model);
  GenerateOptions options;
  options.max_tokens = steps;
  Generator generator(cpu_model, nullptr);
  auto cpu = generator.Generate(*cpu_model.NewSequence(), prompt, options);
  ASSERT_TRUE(cpu) << cpu.error();
  ASSERT_EQ(static_cast<int64_t>(cpu->tokens.size()), steps);

  auto decoder =
      DeviceDecoder::Create(**model, PlanAllOnDevice((*model)->config()),
                            {.device = 0, .context = static_cast<int64_t>(prompt.size()) + steps});
  ASSERT_TRUE(decoder) << decoder.error();
  std::vector<float> logits;
  for (const int32_t t : prompt) {
    auto row = (*decoder)->Decode(t);
    ASSERT_TRUE(row) << row.error();
    logits = *row;
  }
  std::vector<int32_t> gpu;
  for (int64_t i = 0; i < steps; ++i) {
    const auto best = std::max_element(logits.begin(), logits.end());
    gpu.push_back(static_cast<int32_t>(best - logits.begin()));
    if (i + 1 == steps) break;
    auto row = (*decoder)->Decode(gpu.back());
    ASSERT_TRUE(row) << row.error();
    logits = *row;
  }
  const auto split = std::mismatch(gpu.begin(), gpu.end(), cpu->tokens.begin());
  const int64_t same = split.first - gpu.begin();
  std::printf("%s greedy: %lld of %lld tokens as the CPU engine's\n", set.name().c_str(),
              static_cast<long long>(same), static_cast<long long>(steps));
  if (same == steps) return;
  // Where they part: the CPU's logits of that step (its prompt + tokens so far) must be a near-tie
  // between the two choices.
  std::vector<int32_t> prefix = prompt;
  prefix.insert(prefix.end(), cpu->tokens.begin(), cpu->tokens.begin() + same);
  auto cpu_logits = forward::ComputeLogits(**model, prefix, 1);
  ASSERT_TRUE(cpu_logits) << cpu_logits.error();
  const float* row = cpu_logits->data() + (prefix.size() - 1) * static_cast<size_t>(set.vocab());
  const float gap =
      row[cpu->tokens[static_cast<size_t>(same)]] - row[gpu[static_cast<size_t>(same)]];
  EXPECT_LE(gap, 0.1f) << "the decoder chose token " << gpu[static_cast<size_t>(same)]
                       << " at step " << same << " where the CPU's choice "
                       << cpu->tokens[static_cast<size_t>(same)] << " leads by " << gap;
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, DeviceDecoderGoldenTest,
                         ::testing::Values("v4-tiny", "v4-tiny-c"),
                         [](const auto& p) { return forward::testing::TestName(p.param); });

}  // namespace
}  // namespace dsagent::engine::kernels::cuda::decoder_test
