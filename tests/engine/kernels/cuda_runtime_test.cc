// EngineRuntime on a GPU (`--device cuda`, engine/runtime/sequence_model_factory.h): the tiny
// checkpoint opened on cuda:0 runs its tokens through the device SequenceModel within the fast
// contract of the CPU runtime (top-1 >= 99%, max |d logit| <= 0.05), says its placement and
// context; with --gpu-memory small enough that the planner keeps experts in host memory, the
// logits are the same bits as with every expert on the device. And the persistent prefix store:
// a chat turn on the GPU leaves its prefix in --kv-dir, and a new GPU runtime, then a CPU one,
// serve the same turn from it (prefill skipped) with the same reply. Skips without a device
// (fails with DSAGENT_REQUIRE_CUDA=1).
#include <cuda_runtime.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "engine/generate/generator.h"
#include "engine/model/placement_plan.h"
#include "engine/model/tensor_inventory.h"
#include "engine/runtime/engine_runtime.h"
#include "tests/engine/kernels/cuda_test_support.h"
#include "tests/support/memory_map.h"
#include "tests/support/temp_dir.h"

namespace dsagent::engine::kernels::cuda::runtime_test {
namespace {

std::filesystem::path TinyModel() { return test_support::TestDataDir() / "v4-tiny"; }

std::filesystem::path TinyTokenizer() {
  return test_support::TestDataDir() / "v4-tiny-tokenizer/tokenizer.json";
}

std::vector<float> RunTokens(EngineRuntime& r, const std::vector<int32_t>& tokens) {
  auto sequence = r.sequence_model().NewSequence();
  auto logits = r.sequence_model().Forward(*sequence, tokens, {});
  EXPECT_TRUE(logits) << logits.error();
  return logits ? *logits : std::vector<float>{};
}

TEST(CudaEngineRuntimeTest, TheTinyModelOnTheGpuFollowsTheCpuAndOffloadKeepsTheBits) {
  REQUIRE_CUDA_DEVICE();
  const std::vector<int32_t> tokens = {1, 17, 300, 5, 42, 99, 7, 256, 3, 64, 128, 11};
  auto cpu =
      EngineRuntime::Open({.model_dir = TinyModel(), .tokenizer_required = false, .threads = 2});
  ASSERT_TRUE(cpu) << cpu.error();
  auto gpu = EngineRuntime::Open({.model_dir = TinyModel(),
                                  .tokenizer_required = false,
                                  .threads = 2,
                                  .device = {DeviceKind::kCuda, 0},
                                  .context = 32});
  ASSERT_TRUE(gpu) << gpu.error();
  EXPECT_THAT((*gpu)->placement(), ::testing::HasSubstr("placement on cuda:0"));
  EXPECT_EQ((*gpu)->context_limit(), 32);
  const std::vector<float> a = RunTokens(**cpu, tokens), b = RunTokens(**gpu, tokens);
  ASSERT_EQ(a.size(), b.size());
  const int64_t vocab = (*cpu)->model().config().vocab_size;
  const int64_t n = static_cast<int64_t>(tokens.size());
  int64_t top1 = 0;
  double max_abs = 0;
  for (int64_t t = 0; t < n; ++t) {
    const auto row_a = a.begin() + t * vocab, row_b = b.begin() + t * vocab;
    top1 += std::max_element(row_a, row_a + vocab) - row_a ==
            std::max_element(row_b, row_b + vocab) - row_b;
    for (int64_t v = 0; v < vocab; ++v) {
      max_abs = std::max(max_abs, static_cast<double>(std::fabs(row_a[v] - row_b[v])));
    }
  }
  EXPECT_GE(static_cast<double>(top1), 0.99 * static_cast<double>(n));
  EXPECT_LE(max_abs, 0.05);

  // A cap that holds half the routed experts' bytes: some stay on the host, same bits.
  const ModelConfig& c = (*cpu)->model().config();
  const auto reserve = PlacementReserveFor(c, 32, 1);
  auto all = PlanPlacement(ExpectedTensors(c), int64_t{1} << 50, reserve.total());
  ASSERT_TRUE(all) << all.error();
  auto split = EngineRuntime::Open(
      {.model_dir = TinyModel(),
       .tokenizer_required = false,
       .threads = 2,
       .device = {DeviceKind::kCuda, 0},
       .gpu_memory = all->resident_bytes + reserve.total() + all->device_expert_bytes / 2,
       .context = 32});
  ASSERT_TRUE(split) << split.error();
  EXPECT_THAT((*split)->placement(), ::testing::HasSubstr("capped by --gpu-memory"));
  // The runtime's stream pool, and the costs its load measured for the calls' choice.
  EXPECT_THAT((*split)->placement(), ::testing::HasSubstr("streamed to the device for MoE calls"));
  EXPECT_THAT((*split)->placement(), ::testing::HasSubstr("host experts: a copy to the device "));
  const std::vector<float> s = RunTokens(**split, tokens);
  ASSERT_EQ(s.size(), b.size());
  for (size_t i = 0; i < s.size(); ++i) {
    ASSERT_EQ(test_support::Bits(s[i]), test_support::Bits(b[i])) << "logit " << i;
  }
}

// Loaded weights after the upload: the GPU holds all but the host experts, so the host's copy of
// the rest goes back to the checkpoint file's pages (engine/model/loaded_pages.h), and the
// placement says so; the host experts stay in the loaded copy. Every weight the runtime's model
// points at still reads the file's bytes. Mapped weights have nothing to give back.
TEST(CudaEngineRuntimeTest, LoadedWeightsTheGpuHoldsGoBackToTheFiles) {
  REQUIRE_CUDA_DEVICE();
  const std::filesystem::path file = std::filesystem::canonical(TinyModel() / "model.safetensors");
  auto mapped = SafetensorsFile::Open(file, WeightResidency::kMapped);
  ASSERT_TRUE(mapped) << mapped.error();
  const ModelConfig c = (*forward::Model::Load(TinyModel()))->config();
  const auto reserve = PlacementReserveFor(c, 32, 1);
  auto all = PlanPlacement(ExpectedTensors(c), int64_t{1} << 50, reserve.total());
  ASSERT_TRUE(all) << all.error();
  const auto open = [&](WeightResidency weights) {
    return EngineRuntime::Open(
        {.model_dir = TinyModel(),
         .tokenizer_required = false,
         .threads = 2,
         .weights = weights,
         .device = {DeviceKind::kCuda, 0},
         .gpu_memory = all->resident_bytes + reserve.total() + all->device_expert_bytes / 2,
         .context = 32});
  };
  auto split = open(WeightResidency::kLoaded);
  ASSERT_TRUE(split) << split.error();
  std::printf("%s", (*split)->placement().c_str());
  EXPECT_THAT((*split)->placement(),
              ::testing::HasSubstr("GiB that the GPU holds given back to the files' page cache "
                                   "(the host experts' stay loaded)"));
  const forward::ModelWeights& w = (*split)->model().weights();
  // The head is the GPU's: the file's page now. Some routed experts are the host's: still loaded.
  EXPECT_EQ(dsagent::testing::MappedFrom(w.head.data), file.string());
  int64_t loaded_experts = 0, weights_checked = 0;
  const auto same_as_file = [&](const forward::WeightMatrix& m) {
    const TensorInfo* t = (*mapped)->Find(m.name);
    ASSERT_NE(t, nullptr) << m.name;
    EXPECT_EQ(std::memcmp(m.data, t->data, t->size_bytes), 0) << m.name;
    ++weights_checked;
  };
  same_as_file(w.head);
  same_as_file(w.embed);
  for (const forward::BlockWeights& b : w.layers) {
    for (const forward::ExpertWeights& e : b.ffn.experts) {
      for (const forward::WeightMatrix* m : {&e.w1, &e.w2, &e.w3}) same_as_file(*m);
      loaded_experts += dsagent::testing::MappedFrom(e.w1.data).empty();
    }
  }
  EXPECT_GT(weights_checked, 2);
  EXPECT_GT(loaded_experts, 0);
  EXPECT_LT(loaded_experts, c.n_layers * c.n_routed_experts);

  auto on_mapped = open(WeightResidency::kMapped);
  ASSERT_TRUE(on_mapped) << on_mapped.error();
  EXPECT_THAT((*on_mapped)->placement(), ::testing::Not(::testing::HasSubstr("loaded weights")));
}

// What `engine generate --device cuda` does: Generator's greedy tokens on the GPU runtime's
// SequenceModel against the CPU runtime's. The same tokens, except that after a near-tie (the
// CPU's two best logits within twice the contract's 0.05) the two may part ways. A prompt past the
// GPU's context (the state's room, sized at open) is refused naming the limit.
TEST(CudaEngineRuntimeTest, TheGpuRuntimeGeneratesTheCpuRuntimesGreedyTokens) {
  REQUIRE_CUDA_DEVICE();
  const std::vector<int32_t> prompt = {0, 17, 42, 99, 300, 7, 256, 128, 5, 511, 64, 33};
  constexpr int64_t kContext = 64;
  auto cpu =
      EngineRuntime::Open({.model_dir = TinyModel(), .tokenizer_required = false, .threads = 2});
  ASSERT_TRUE(cpu) << cpu.error();
  auto gpu = EngineRuntime::Open({.model_dir = TinyModel(),
                                  .tokenizer_required = false,
                                  .threads = 2,
                                  .device = {DeviceKind::kCuda, 0},
                                  .context = kContext});
  ASSERT_TRUE(gpu) << gpu.error();
  GenerateOptions options;
  options.max_tokens = 40;
  options.context_limit = (*gpu)->context_limit();
  SequenceModel& cpu_model = (*cpu)->sequence_model();
  SequenceModel& gpu_model = (*gpu)->sequence_model();
  auto a = Generator(cpu_model, nullptr).Generate(*cpu_model.NewSequence(), prompt, options);
  ASSERT_TRUE(a) << a.error();
  auto b = Generator(gpu_model, nullptr).Generate(*gpu_model.NewSequence(), prompt, options);
  ASSERT_TRUE(b) << b.error();
  ASSERT_EQ(a->tokens.size(), b->tokens.size());
  const auto split = std::mismatch(b->tokens.begin(), b->tokens.end(), a->tokens.begin());
  const size_t same = static_cast<size_t>(split.first - b->tokens.begin());
  std::printf("v4-tiny runtime greedy on cuda:0: %zu of %zu tokens as the CPU runtime's\n", same,
              a->tokens.size());
  if (same < a->tokens.size()) {
    std::vector<int32_t> prefix = prompt;
    prefix.insert(prefix.end(), a->tokens.begin(), a->tokens.begin() + same);
    const std::vector<float> logits = RunTokens(**cpu, prefix);
    const int64_t vocab = (*cpu)->model().config().vocab_size;
    ASSERT_EQ(logits.size(), prefix.size() * static_cast<size_t>(vocab));
    const float* row = logits.data() + (prefix.size() - 1) * static_cast<size_t>(vocab);
    EXPECT_LE(row[a->tokens[same]] - row[b->tokens[same]], 0.1f)
        << "the GPU chose another token at step " << same;
  }

  const std::vector<int32_t> too_long(kContext + 1, 17);
  auto refused =
      Generator(gpu_model, nullptr).Generate(*gpu_model.NewSequence(), too_long, options);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error(), ::testing::HasSubstr("the context limit is 64"));
}

TEST(CudaEngineRuntimeTest, APrefixStoredFromTheGpuServesTheGpuAndTheCpu) {
  REQUIRE_CUDA_DEVICE();
  ::dsagent::TempDir dir;
  ChatRequest request;
  // Long enough for the disk store, which keeps prefixes in whole alignment blocks.
  std::string text;
  for (int i = 0; i < 30; ++i) text += "hello there, line " + std::to_string(i) + ". ";
  request.messages = OrderedJson::array({{{"role", "user"}, {"content", text}}});
  request.thinking = false;
  request.generate.max_tokens = 3;
  const auto open = [&](bool gpu) {
    EngineRuntimeOptions o{
        .model_dir = TinyModel(), .tokenizer_file = TinyTokenizer(), .threads = 2};
    if (gpu) {
      o.device = {DeviceKind::kCuda, 0};
      o.context = 512;
    }
    o.memory_cache_entries = 0;  // the disk store alone: every hit below comes from it
    o.kv_dir = dir.path() / "kv";
    return EngineRuntime::Open(o);
  };
  std::vector<int32_t> reply;
  {
    auto gpu = open(true);
    ASSERT_TRUE(gpu) << gpu.error();
    auto first = (*gpu)->completer().Complete(request);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(first->usage.prompt_cache_hit_tokens, 0);
    reply = first->generation.tokens;
  }
  for (const bool gpu : {true, false}) {
    auto r = open(gpu);
    ASSERT_TRUE(r) << r.error();
    auto again = (*r)->completer().Complete(request);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_GT(again->usage.prompt_cache_hit_tokens, 0) << (gpu ? "gpu" : "cpu");
    EXPECT_EQ(again->generation.tokens, reply) << (gpu ? "gpu" : "cpu");
  }
}

// Memory held elsewhere (a desktop's, another process's: here a buffer of this process's) is left
// out of the plan: with no --gpu-memory the runtime plans for what the driver reports free, so
// where that holds only part of the routed experts the rest stay on the host (the all-on-device
// logits, bit for bit), and where it cannot hold the resident weights and the reserve the open
// fails naming the free memory. Planning for the total put every expert on the device both times
// (where a real checkpoint's upload runs out of memory partway through). The emulator fills what it
// allocates, so there this runs with a small device (ctest emulated.small_device_memory) and skips
// on the default 16 GiB.
TEST(CudaEngineRuntimeTest, MemoryHeldElsewhereIsLeftOutOfThePlan) {
  REQUIRE_CUDA_DEVICE();
  const std::vector<int32_t> tokens = {1, 17, 300, 5, 42, 99, 7, 256};
  const auto open = [](int64_t gpu_memory) {
    return EngineRuntime::Open({.model_dir = TinyModel(),
                                .tokenizer_required = false,
                                .threads = 2,
                                .device = {DeviceKind::kCuda, 0},
                                .gpu_memory = gpu_memory,
                                .context = 32});
  };
  std::vector<float> all_on_device;
  int64_t resident = 0, reserve = 0, expert_bytes = 0;
  {
    auto gpu = open(0);
    ASSERT_TRUE(gpu) << gpu.error();
    EXPECT_THAT((*gpu)->placement(), ::testing::HasSubstr(" free of "));
    const ModelConfig& c = (*gpu)->model().config();
    reserve = PlacementReserveFor(c, 32, 1).total();
    auto all = PlanPlacement(ExpectedTensors(c), int64_t{1} << 50, reserve);
    ASSERT_TRUE(all) << all.error();
    resident = all->resident_bytes;
    expert_bytes = all->device_expert_bytes;
    all_on_device = RunTokens(**gpu, tokens);
  }
  size_t free_bytes = 0, total_bytes = 0;
  ASSERT_EQ(cudaMemGetInfo(&free_bytes, &total_bytes), cudaSuccess);
#if defined(DSAGENT_CUDA_EMULATOR_RUNTIME)
  if (free_bytes > (size_t{4} << 30)) {
    GTEST_SKIP() << "the emulator fills the memory it allocates: this test runs in ctest "
                    "emulated.small_device_memory";
  }
#endif
  // Leaves free the resident weights, the reserve and half the routed experts' bytes.
  const int64_t room = resident + reserve + expert_bytes / 2;
  ASSERT_GT(static_cast<int64_t>(free_bytes), room + (int64_t{64} << 20));
  DeviceBuffer elsewhere(free_bytes - static_cast<size_t>(room));
  {
    auto split = open(0);
    ASSERT_TRUE(split) << split.error();
    const std::string placement = (*split)->placement();
    EXPECT_THAT(placement, ::testing::HasSubstr(" free of "));
    std::smatch m;
    ASSERT_TRUE(std::regex_search(placement, m, std::regex(R"(\+ (\d+) of (\d+) routed experts)")))
        << placement;
    EXPECT_GT(std::stoi(m[1].str()), 0) << placement;
    EXPECT_LT(std::stoi(m[1].str()), std::stoi(m[2].str())) << placement;
    const std::vector<float> s = RunTokens(**split, tokens);
    ASSERT_EQ(s.size(), all_on_device.size());
    for (size_t i = 0; i < s.size(); ++i) {
      ASSERT_EQ(test_support::Bits(s[i]), test_support::Bits(all_on_device[i])) << "logit " << i;
    }
  }
  // Less than the resident weights and the reserve left: refused, naming what was free.
  DeviceBuffer more(static_cast<size_t>(room - reserve / 2));
  auto refused = open(0);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error(), ::testing::HasSubstr(" free of ")) << refused.error();
  EXPECT_THAT(refused.error(), ::testing::HasSubstr("cannot hold")) << refused.error();
  EXPECT_THAT(refused.error(), ::testing::HasSubstr("the KV state of 1 sequence of 32 positions"))
      << refused.error();
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda::runtime_test
