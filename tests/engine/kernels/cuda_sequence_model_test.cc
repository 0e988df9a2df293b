// The generation seam on the device (kernels/cuda/device_sequence_model.h) on tests/data/v4-tiny:
// Generator's greedy tokens against the CPU implementation's (the same, except after a near-tie
// of the CPU's logits), ForwardBatch against Forward, a prefill chunk's last row, HostState into
// the CPU model and a CPU state through SequenceFrom (the fast contract), the rows paths (chunked
// prefill, batched prompts and decode steps, with and without experts on the host) against the
// decode step bit for bit, and the clear errors of bad calls (speculative decoding's calls:
// cuda_mtp_test.cc). Skips without a device (fails with DSAGENT_REQUIRE_CUDA=1); the errors that
// need no device run everywhere.
#include <cuda_runtime.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "engine/forward/logits_runner.h"
#include "engine/forward/model.h"
#include "engine/generate/cpu_sequence_model.h"
#include "engine/generate/generator.h"
#include "engine/kernels/cuda/attention_step.h"
#include "engine/kernels/cuda/device_sequence_model.h"
#include "engine/kernels/cuda/expert_stream.h"
#include "engine/kernels/cuda/fused_steps.h"
#include "engine/kernels/cuda/kernel_launch.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/side_stream.h"
#include "engine/kernels/cuda/upload_staging.h"
#include "engine/model/placement_plan.h"
#include "engine/model/tensor_inventory.h"
#include "tests/engine/forward/golden_data.h"
#include "tests/engine/kernels/cuda_test_support.h"

namespace dsagent::engine::kernels::cuda::sequence_model_test {
namespace {
using forward::testing::Compare;
using forward::testing::Describe;
using forward::testing::GoldenSet;
using ::testing::HasSubstr;

constexpr int64_t kGiB = 1LL << 30;
constexpr int64_t kContext = 96;
// Rows per ModelRows call in these tests: fewer than the default (kDeviceChunkRows), so that a
// 90-token prompt spans two chunks and eight sequences' prompts two calls.
constexpr int64_t kTestChunkRows = 64;

std::filesystem::path TinyDir() { return test_support::TestDataDir() / "v4-tiny"; }

PlacementPlan PlanAllOnDevice(const ModelConfig& c) {
  auto plan = PlanPlacement(ExpectedTensors(c), 64 * kGiB, kGiB);
  EXPECT_TRUE(plan) << plan.error();
  return *plan;
}

void ExpectFastContract(const std::vector<float>& a, const std::vector<float>& b, int64_t vocab,
                        const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  const int64_t rows = static_cast<int64_t>(a.size()) / vocab;
  const auto agreement = Compare(a.data(), b.data(), rows, vocab);
  std::printf("%s: %s\n", what, Describe(agreement).c_str());
  EXPECT_GE(static_cast<double>(agreement.top1_agree), 0.99 * static_cast<double>(rows)) << what;
  EXPECT_LE(agreement.max_abs, 0.05) << what;
}

TEST(DeviceSequenceModelTest, BadContextAndNoDeviceAreErrors) {
  auto model = forward::Model::Load(TinyDir());
  ASSERT_TRUE(model) << model.error();
  const PlacementPlan plan = PlanAllOnDevice((*model)->config());
  auto bad = DeviceSequenceModel::Create(**model, plan, {.device = 0, .context = 0});
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error(), HasSubstr("is not in [1, 512]"));
  for (const int64_t rows : {int64_t{0}, kMaxDeviceChunkRows + 1}) {
    auto chunk = DeviceSequenceModel::Create(**model, plan,
                                             {.device = 0, .context = 16, .chunk_rows = rows});
    ASSERT_FALSE(chunk);
    EXPECT_THAT(chunk.error(), HasSubstr("chunk_rows " + std::to_string(rows) + " is not in [1, "));
  }
  if (!ProbeCuda().devices.empty()) GTEST_SKIP() << "a GPU is present (the tests below cover it)";
  auto none = DeviceSequenceModel::Create(**model, plan, {.device = 0, .context = 16});
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error(), HasSubstr("device model on cuda:0: "));
}

// The weights' upload tells its start, then each block as it lands (the CLI's progress line): the
// decoder layers, the head, the MTP blocks, one call each, in order, of the same total.
TEST(DeviceSequenceModelUploadTest, TheUploadTellsEachBlockInTurn) {
  REQUIRE_CUDA_DEVICE();
  auto model = forward::Model::Load(TinyDir(), {.threads = 2, .numerics = Numerics::kFast});
  ASSERT_TRUE(model) << model.error();
  const ModelConfig& c = (*model)->config();
  std::vector<std::pair<int64_t, int64_t>> told;
  auto device = DeviceSequenceModel::Create(
      **model, PlanAllOnDevice(c),
      {.device = 0, .context = 16, .upload_progress = [&told](int64_t done, int64_t total) {
         told.emplace_back(done, total);
       }});
  ASSERT_TRUE(device) << device.error();
  const int64_t total = c.n_layers + 1 + c.n_mtp_layers;
  // (0, total) as it begins, then one call after each block.
  ASSERT_EQ(static_cast<int64_t>(told.size()), total + 1);
  for (int64_t i = 0; i <= total; ++i) {
    EXPECT_EQ(told[static_cast<size_t>(i)], std::make_pair(i, total)) << "call " << i;
  }
}

// A cancel (Ctrl-C, SIGTERM during a load of minutes) stops the upload between blocks: Create
// fails saying how far it got, and the device memory it took is given back.
TEST(DeviceSequenceModelUploadTest, ACancelStopsTheUploadBetweenBlocks) {
  REQUIRE_CUDA_DEVICE();
  auto model = forward::Model::Load(TinyDir(), {.threads = 2, .numerics = Numerics::kFast});
  ASSERT_TRUE(model) << model.error();
  const ModelConfig& c = (*model)->config();
  const int64_t total = c.n_layers + 1 + c.n_mtp_layers;
  ASSERT_GT(total, 2);
  // Cancelled after the second block; the device's free memory after it.
  const auto cancelled_after_two = [&] {
    CancelToken cancel;
    int64_t last = -1;
    auto stopped = DeviceSequenceModel::Create(**model, PlanAllOnDevice(c),
                                               {.device = 0,
                                                .context = 16,
                                                .upload_progress =
                                                    [&](int64_t done, int64_t) {
                                                      last = done;
                                                      if (done == 2) cancel.Cancel();
                                                    },
                                                .cancel = cancel});
    EXPECT_FALSE(stopped);
    if (!stopped) {
      EXPECT_THAT(stopped.error(), HasSubstr("the weights' upload was cancelled after 2 of " +
                                             std::to_string(total) + " blocks"));
    }
    EXPECT_EQ(last, 2);
    size_t free = 0, all = 0;
    EXPECT_EQ(cudaMemGetInfo(&free, &all), cudaSuccess);
    return free;
  };
  // The blocks it uploaded are given back: a second cancelled upload leaves the same memory free
  // as the first (the first may leave what a context sets up once).
  const size_t first = cancelled_after_two();
  EXPECT_EQ(cancelled_after_two(), first);

  // Cancelled before it began: no block at all.
  CancelToken cancelled;
  cancelled.Cancel();
  auto none = DeviceSequenceModel::Create(**model, PlanAllOnDevice(c),
                                          {.device = 0, .context = 16, .cancel = cancelled});
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error(), HasSubstr("cancelled after 0 of"));
}

// The weights' upload through the page-locked staging (upload_staging.h, pieces of 4 KiB here so
// that the tiny model's weights take many, in buffers shared by the small ones) against the
// driver's own staging: the same logits, bit for bit, for a prompt and two decode steps.
TEST(DeviceSequenceModelUploadTest, TheStagedUploadGivesTheDriversStagingBits) {
  REQUIRE_CUDA_DEVICE();
  auto model = forward::Model::Load(TinyDir(), {.threads = 2, .numerics = Numerics::kFast});
  ASSERT_TRUE(model) << model.error();
  const std::vector<int32_t> tokens = GoldenSet(TinyDir()).Read<int32_t>("tokens");
  ASSERT_GE(tokens.size(), size_t{20});
  const UploadStagingShape shape_before = UploadStagingShapeInUse();
  const bool on_before = UploadStagingOn();
  SetUploadStagingShape({.piece_bytes = 4096, .buffers = 3, .threads = 2});
  const auto logits = [&](bool staged, int64_t* copies) {
    SetUploadStaging(staged);
    const int64_t before = StagedCopies();
    auto device = DeviceSequenceModel::Create(**model, PlanAllOnDevice((*model)->config()),
                                              {.device = 0, .context = 32});
    *copies = StagedCopies() - before;
    std::vector<float> all;
    EXPECT_TRUE(device) << device.error();
    if (!device) return all;
    auto sequence = (*device)->NewSequence();
    for (const auto& part : {std::span<const int32_t>(tokens.data(), 18),
                             std::span<const int32_t>(tokens.data() + 18, 1),
                             std::span<const int32_t>(tokens.data() + 19, 1)}) {
      auto out = (*device)->Forward(*sequence, part, {});
      EXPECT_TRUE(out) << out.error();
      if (out) all.insert(all.end(), out->begin(), out->end());
    }
    return all;
  };
  int64_t staged_copies = 0, driver_copies = 0;
  const std::vector<float> staged = logits(true, &staged_copies);
  const std::vector<float> driver = logits(false, &driver_copies);
  SetUploadStagingShape(shape_before);
  SetUploadStaging(on_before);
  EXPECT_EQ(driver_copies, 0);
  // More pieces than the model has blocks: the staging carried the weights.
  EXPECT_GT(staged_copies, 10 * (*model)->config().n_layers);
  ASSERT_EQ(staged.size(), driver.size());
  ASSERT_FALSE(staged.empty());
  EXPECT_EQ(std::memcmp(staged.data(), driver.data(), staged.size() * sizeof(float)), 0);
}

class DeviceSequenceModelGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_CUDA_DEVICE();
    golden_ = GoldenSet(TinyDir()).Read<int32_t>("tokens");
    auto cpu = forward::Model::Load(TinyDir(), {.threads = 2, .numerics = Numerics::kFast});
    ASSERT_TRUE(cpu) << cpu.error();
    cpu_ = std::move(*cpu);
    auto device = DeviceSequenceModel::Create(
        *cpu_, PlanAllOnDevice(cpu_->config()),
        {.device = 0, .context = kContext, .chunk_rows = kTestChunkRows});
    ASSERT_TRUE(device) << device.error();
    device_ = std::move(*device);
  }

  std::vector<int32_t> golden_;
  std::unique_ptr<forward::Model> cpu_;
  std::unique_ptr<DeviceSequenceModel> device_;
};

// Greedy generation through Generator (prefill, then decode steps): the device's tokens against
// the CPU implementation's. The same tokens, except that after a near-tie (the CPU's two best
// logits within twice the contract's 0.05) the two may part ways.
TEST_F(DeviceSequenceModelGpuTest, GeneratorGivesTheCpuImplementationsTokens) {
  const std::vector<int32_t> prompt(golden_.begin(), golden_.begin() + 24);
  const int64_t steps = 48;
  GenerateOptions options;
  options.max_tokens = steps;
  options.context_limit = kContext;  // the device sequences' room, not max_position_embeddings
  CpuSequenceModel cpu_model(*cpu_);
  auto cpu = Generator(cpu_model, nullptr).Generate(*cpu_model.NewSequence(), prompt, options);
  ASSERT_TRUE(cpu) << cpu.error();
  auto gpu = Generator(*device_, nullptr).Generate(*device_->NewSequence(), prompt, options);
  ASSERT_TRUE(gpu) << gpu.error();
  ASSERT_EQ(gpu->tokens.size(), cpu->tokens.size());
  const auto split = std::mismatch(gpu->tokens.begin(), gpu->tokens.end(), cpu->tokens.begin());
  const int64_t same = split.first - gpu->tokens.begin();
  std::printf("v4-tiny Generator greedy: %lld of %lld tokens as the CPU's\n",
              static_cast<long long>(same), static_cast<long long>(steps));
  if (same == static_cast<int64_t>(cpu->tokens.size())) return;
  std::vector<int32_t> prefix = prompt;
  prefix.insert(prefix.end(), cpu->tokens.begin(), cpu->tokens.begin() + same);
  auto cpu_logits = forward::ComputeLogits(*cpu_, prefix, 1);
  ASSERT_TRUE(cpu_logits) << cpu_logits.error();
  const float* row =
      cpu_logits->data() + (prefix.size() - 1) * static_cast<size_t>(cpu_->config().vocab_size);
  const float gap =
      row[cpu->tokens[static_cast<size_t>(same)]] - row[gpu->tokens[static_cast<size_t>(same)]];
  EXPECT_LE(gap, 0.1f) << "the device chose another token at step " << same;
}

TEST_F(DeviceSequenceModelGpuTest, BatchLastRowAndStatesAcrossEngines) {
  const int64_t vocab = cpu_->config().vocab_size;
  const std::vector<int32_t> a(golden_.begin(), golden_.begin() + 30);
  const std::vector<int32_t> b(golden_.begin() + 50, golden_.begin() + 70);
  // ForwardBatch = Forward per step, bit for bit.
  auto sa = device_->NewSequence(), sb = device_->NewSequence();
  const std::vector<SequenceStep> steps = {{sa.get(), a}, {sb.get(), b}};
  auto batch = device_->ForwardBatch(steps);
  ASSERT_TRUE(batch) << batch.error();
  auto alone_a = device_->Forward(*device_->NewSequence(), a, {});
  ASSERT_TRUE(alone_a) << alone_a.error();
  EXPECT_EQ((*batch)[0], *alone_a);
  // last_row_only: the last row of the full result.
  auto last = device_->Forward(*device_->NewSequence(), b, {.last_row_only = true});
  ASSERT_TRUE(last) << last.error();
  EXPECT_TRUE(std::equal(last->begin(), last->end(), (*batch)[1].end() - vocab));

  // The device state into the CPU model, which continues; against the CPU straight through.
  const std::vector<int32_t> more(golden_.begin() + 30, golden_.begin() + 40);
  auto host = sa->HostState();
  ASSERT_TRUE(host) << host.error();
  EXPECT_EQ((*host)->pos, 30);
  CpuSequenceModel cpu_model(*cpu_);
  auto on_cpu = cpu_model.SequenceFrom(**host);
  ASSERT_TRUE(on_cpu) << on_cpu.error();
  auto cpu_more = cpu_model.Forward(**on_cpu, more, {});
  ASSERT_TRUE(cpu_more) << cpu_more.error();
  auto cpu_seq = cpu_model.NewSequence();
  std::vector<float> cpu_straight;
  for (size_t i = 0; i < 40; ++i) {
    auto row = cpu_model.Forward(*cpu_seq, std::span<const int32_t>(&golden_[i], 1), {});
    ASSERT_TRUE(row) << row.error();
    if (i >= 30) cpu_straight.insert(cpu_straight.end(), row->begin(), row->end());
  }
  ExpectFastContract(*cpu_more, cpu_straight, vocab, "device HostState -> CPU vs CPU");
  // The CPU's state at 30 onto the device, which continues.
  auto cpu_at30 = cpu_model.NewSequence();
  ASSERT_TRUE(cpu_model.Forward(*cpu_at30, a, {}));
  auto cpu_host = cpu_at30->HostState();
  ASSERT_TRUE(cpu_host);
  auto on_device = device_->SequenceFrom(**cpu_host);
  ASSERT_TRUE(on_device) << on_device.error();
  EXPECT_EQ((*on_device)->pos(), 30);
  EXPECT_EQ((*on_device)->mtp_pos(), (*cpu_host)->mtp_pos);
  auto device_more = device_->Forward(**on_device, more, {});
  ASSERT_TRUE(device_more) << device_more.error();
  ExpectFastContract(*device_more, cpu_straight, vocab, "CPU state -> device vs CPU");
  // HostState gives the MTP part back as it came (restored onto the device).
  auto back = (*on_device)->HostState();
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ((*back)->mtp_pos, (*cpu_host)->mtp_pos);
}

// Each token alone through Forward (one token: the decode step, ModelDecode): the reference the
// rows paths must match bit for bit.
std::vector<float> TokenByToken(DeviceSequenceModel& m, ModelSequence& seq,
                                std::span<const int32_t> tokens) {
  std::vector<float> out;
  for (const int32_t t : tokens) {
    auto row = m.Forward(seq, std::span<const int32_t>(&t, 1), {});
    EXPECT_TRUE(row) << row.error();
    if (!row) return out;
    out.insert(out.end(), row->begin(), row->end());
  }
  return out;
}

// The rows paths (model_rows.h) against the decode step, bit for bit: a prompt longer than a
// chunk (kTestChunkRows rows, then the rest), and eight sequences in one ForwardBatch — first
// prompts of different lengths (one ModelRows call over rows of all of them), then decode steps of
// one token each — against each sequence run alone token by token. Bit for bit, not the fast
// contract: every row-wise op gives each row its one-row bits (the matvec over rows is the
// single-row kernel's arithmetic per row; the norms, mixings, router and combine work per row),
// and the state steps (KV ring, indexer, compressor, sparse attention) run per row in the decode's
// order with the same kernels. `decoded`, when given, is the long prompt's decode-step logits
// from another model that must give m's bits (the all-on-device one), in place of m's own.
constexpr int64_t kLongPrompt = 90;
static_assert(kTestChunkRows < kLongPrompt, "the long prompt spans two chunks");

void ExpectRowsPathsGiveTheDecodeBits(DeviceSequenceModel& m, const std::vector<int32_t>& golden,
                                      int sequences,
                                      const std::vector<float>* decoded_by = nullptr) {
  const std::vector<int32_t> prompt(golden.begin(), golden.begin() + kLongPrompt);
  auto chunked = m.Forward(*m.NewSequence(), prompt, {});
  ASSERT_TRUE(chunked) << chunked.error();
  const std::vector<float> decoded =
      decoded_by ? *decoded_by : TokenByToken(m, *m.NewSequence(), prompt);
  ASSERT_EQ(chunked->size(), decoded.size());
  for (size_t i = 0; i < decoded.size(); ++i) {
    ASSERT_EQ(test_support::Bits((*chunked)[i]), test_support::Bits(decoded[i]))
        << "chunked prefill, logit " << i;
  }

  std::vector<std::unique_ptr<ModelSequence>> batch, solo;
  std::vector<std::vector<int32_t>> prompts;
  for (int s = 0; s < sequences; ++s) {
    batch.push_back(m.NewSequence());
    solo.push_back(m.NewSequence());
    prompts.emplace_back(golden.begin() + 7 * s, golden.begin() + 7 * s + 3 + 2 * s);
  }
  std::vector<SequenceStep> steps;
  for (int s = 0; s < sequences; ++s) steps.push_back({batch[s].get(), prompts[s]});
  auto first = m.ForwardBatch(steps);
  ASSERT_TRUE(first) << first.error();
  for (int s = 0; s < sequences; ++s) {
    const std::vector<float> want = TokenByToken(m, *solo[s], prompts[s]);
    ASSERT_EQ((*first)[s].size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(test_support::Bits((*first)[s][i]), test_support::Bits(want[i]))
          << "batched prompts: sequence " << s << " logit " << i;
    }
  }
  for (int step = 0; step < 6; ++step) {
    std::vector<int32_t> next(static_cast<size_t>(sequences));
    for (int s = 0; s < sequences; ++s) next[s] = golden[static_cast<size_t>(60 + 3 * s + step)];
    std::vector<SequenceStep> decode;
    for (int s = 0; s < sequences; ++s) {
      decode.push_back({batch[s].get(), std::span<const int32_t>(&next[s], 1)});
    }
    auto got = m.ForwardBatch(decode);
    ASSERT_TRUE(got) << got.error();
    for (int s = 0; s < sequences; ++s) {
      const std::vector<float> want =
          TokenByToken(m, *solo[s], std::span<const int32_t>(&next[s], 1));
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(test_support::Bits((*got)[s][i]), test_support::Bits(want[i]))
            << "batched decode step " << step << ": sequence " << s << " logit " << i;
      }
    }
  }
}

// Sets ChunkWideAttention for a scope (attention_step.h), restoring it after.
struct ChunkWideAttentionAs {
  explicit ChunkWideAttentionAs(bool on) : was(ChunkWideAttention()) { SetChunkWideAttention(on); }
  ~ChunkWideAttentionAs() { SetChunkWideAttention(was); }
  bool was;
};

// Every step's capture held, so the graphs are still on: a side stream forked and not joined
// back (a batched step's query, say) fails the capture, and the steps then run without graphs.
TEST_F(DeviceSequenceModelGpuTest, ChunkedPrefillAndBatchedStepsGiveTheDecodeStepsBits) {
  const ChunkWideAttentionAs chunk_wide(true);  // the default
  ExpectRowsPathsGiveTheDecodeBits(*device_, golden_, 8);
  EXPECT_TRUE(device_->Graphs().on || GraphsDisabledByEnvironment())
      << device_->Graphs().off_reason;
}

// The same with each row's attention run on its own (ChunkWideAttention off,
// DSAGENT_CUDA_ROW_ATTENTION=per-row): the path the chunk-wide attention replaced.
TEST_F(DeviceSequenceModelGpuTest, PerRowAttentionGivesTheDecodeStepsBitsToo) {
  const ChunkWideAttentionAs per_row(false);
  ExpectRowsPathsGiveTheDecodeBits(*device_, golden_, 8);
}

// The tensor choice (DSAGENT_CUDA_MATVEC_ROWS=tensor, matvec_tensor.h) through the generation
// seam: a 40-token prompt's rows (one chunk) take the tensor cores, dense products and the MoE's
// pieces alike (tensor-core launches: one per dense product and three per MoE, at least), and stay
// within the fast contract of the decode steps' logits; a batched decode step of four sequences
// (fewer rows than kTensorMinInputs) launches none and gives each sequence its own decode step's
// bits, as without the choice.
TEST_F(DeviceSequenceModelGpuTest, TensorRowsTakePromptsAndLeaveBatchedStepsTheirBits) {
  const test_support::RowsKernelScope tensor(RowsKernel::kTensor);
  const std::vector<int32_t> prompt(golden_.begin(), golden_.begin() + 40);
  static_assert(40 >= kTensorMinInputs, "the prompt takes the tensor cores");
  const int64_t before_prompt = TensorLaunches();
  auto rows = device_->Forward(*device_->NewSequence(), prompt, {});
  ASSERT_TRUE(rows) << rows.error();
  const int64_t layers = cpu_->config().n_layers;
  EXPECT_GE(TensorLaunches() - before_prompt, 3 * layers) << "the prompt's MoE pieces at least";
  const std::vector<float> decoded = TokenByToken(*device_, *device_->NewSequence(), prompt);
  ExpectFastContract(*rows, decoded, cpu_->config().vocab_size, "tensor-core prompt rows");

  const int sequences = 4;
  static_assert(sequences < kTensorMinInputs, "a batched step keeps the register-tiled kernel");
  std::vector<std::unique_ptr<ModelSequence>> batch, solo;
  for (int s = 0; s < sequences; ++s) {
    batch.push_back(device_->NewSequence());
    solo.push_back(device_->NewSequence());
    const std::vector<int32_t> start(golden_.begin() + 5 * s, golden_.begin() + 5 * s + 2);
    (void)TokenByToken(*device_, *batch[s], start);
    (void)TokenByToken(*device_, *solo[s], start);
  }
  const int64_t before_steps = TensorLaunches();
  for (int step = 0; step < 2; ++step) {
    std::vector<int32_t> next(sequences);
    std::vector<SequenceStep> decode;
    for (int s = 0; s < sequences; ++s) {
      next[s] = golden_[static_cast<size_t>(50 + 3 * s + step)];
      decode.push_back({batch[s].get(), std::span<const int32_t>(&next[s], 1)});
    }
    auto got = device_->ForwardBatch(decode);
    ASSERT_TRUE(got) << got.error();
    for (int s = 0; s < sequences; ++s) {
      const std::vector<float> want =
          TokenByToken(*device_, *solo[s], std::span<const int32_t>(&next[s], 1));
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(test_support::Bits((*got)[s][i]), test_support::Bits(want[i]))
            << "batched decode step " << step << ": sequence " << s << " logit " << i;
      }
    }
  }
  EXPECT_EQ(TensorLaunches(), before_steps) << "a batched decode step took the tensor cores";
}

// The same with the planner's split (some experts computed on the host for every row of a call).
TEST_F(DeviceSequenceModelGpuTest, RowsPathsWithExpertsOnTheHostGiveTheDecodeStepsBits) {
  const PlacementPlan all = PlanAllOnDevice(cpu_->config());
  auto half = PlanPlacement(ExpectedTensors(cpu_->config()),
                            all.resident_bytes + kGiB + all.device_expert_bytes / 2, kGiB);
  ASSERT_TRUE(half) << half.error();
  ASSERT_LT(half->experts_on_device, half->experts_total);
  auto split = DeviceSequenceModel::Create(
      *cpu_, *half,
      {.device = 0, .context = kContext, .host_threads = 2, .chunk_rows = kTestChunkRows});
  ASSERT_TRUE(split) << split.error();
  // The step waits on the host for its routing: no graphs. The host experts' pages are
  // page-locked in place (host_pinning.h).
  EXPECT_FALSE((*split)->Graphs().on);
  EXPECT_THAT((*split)->Graphs().off_reason, HasSubstr("host memory"));
  std::printf("host experts: %s\n", (*split)->HostExpertMemory().c_str());
  EXPECT_THAT((*split)->HostExpertMemory(), HasSubstr("of host experts pinned (page-locked"));
  EXPECT_EQ(device_->HostExpertMemory(), "");
  ExpectRowsPathsGiveTheDecodeBits(**split, golden_, 5);
  // And against every expert on the device: the same bits.
  const std::vector<int32_t> prompt(golden_.begin(), golden_.begin() + 40);
  auto a = (*split)->Forward(*(*split)->NewSequence(), prompt, {});
  auto b = device_->Forward(*device_->NewSequence(), prompt, {});
  ASSERT_TRUE(a) << a.error();
  ASSERT_TRUE(b) << b.error();
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    ASSERT_EQ(test_support::Bits((*a)[i]), test_support::Bits((*b)[i])) << "logit " << i;
  }
}

// Sets StreamChoiceByCapacity for a scope (expert_stream.h), restoring it after.
struct StreamChoiceByCapacityAs {
  explicit StreamChoiceByCapacityAs(bool on) : was(StreamChoiceByCapacity()) {
    SetStreamChoiceByCapacity(on);
  }
  ~StreamChoiceByCapacityAs() { SetStreamChoiceByCapacity(was); }
  bool was;
};

// A plan with half the experts' room and a stream pool of `pool` for calls of 8 rows or more.
Expected<PlacementPlan, std::string> PlanWithStreamPool(const ModelConfig& c, int64_t pool) {
  const PlacementPlan all = PlanAllOnDevice(c);
  return PlanPlacement(ExpectedTensors(c), all.resident_bytes + kGiB + all.device_expert_bytes / 2,
                       kGiB, {.stream_pool_experts = pool, .stream_min_rows = 8});
}

// Streamed experts (PlacementOptions), each call filling the pool (StreamChoiceByCapacity): with
// half the experts' room, calls of 8 rows or more stream the host experts their rows chose into
// the device pool — all of them (a pool of 64), or the two most chosen with the CPU computing the
// rest (a pool of 2) — while one-row decode steps compute them on the CPU. Every path gives the
// all-on-device model's decode-step bits (its long prompt decoded once, for both pools; one-row
// steps against rows: the batched prompts and steps), and the model reports experts streamed.
TEST_F(DeviceSequenceModelGpuTest, StreamedExpertsGiveTheAllOnDeviceBits) {
  const StreamChoiceByCapacityAs fill_the_pool(true);
  const std::vector<int32_t> prompt(golden_.begin(), golden_.begin() + kLongPrompt);
  const std::vector<float> decoded = TokenByToken(*device_, *device_->NewSequence(), prompt);
  for (const int64_t pool : {int64_t{64}, int64_t{2}}) {
    auto plan = PlanWithStreamPool(cpu_->config(), pool);
    ASSERT_TRUE(plan) << plan.error();
    ASSERT_LT(plan->experts_on_device, plan->experts_total);
    ASSERT_GT(plan->stream_pool_experts, 0) << "pool " << pool;
    auto split = DeviceSequenceModel::Create(
        *cpu_, *plan,
        {.device = 0, .context = kContext, .host_threads = 2, .chunk_rows = kTestChunkRows});
    ASSERT_TRUE(split) << split.error();
    SCOPED_TRACE("pool " + std::to_string(pool));
    ExpectRowsPathsGiveTheDecodeBits(**split, golden_, 5, &decoded);
    if (HasFatalFailure()) return;
    const DeviceSequenceModel::OffloadStats stats = (*split)->Offload();
    std::printf("pool of %lld experts: %lld streamed, %.3f s queueing them, %.3f s on the CPU\n",
                static_cast<long long>(plan->stream_pool_experts),
                static_cast<long long>(stats.streamed_experts), stats.stream_queue_seconds,
                stats.host_seconds);
    EXPECT_GT(stats.streamed_experts, 0) << "pool " << pool;
  }
}

// The calls' choice under the costs the load measured (expert_stream_costs.h): copies and CPU
// products both took time. Under given costs (SetStreamCosts) a prompt streams nothing when a
// copy costs more than the CPU's whole share, every chosen host expert (as many as with a pool
// the plan holds filled) when copies are next to free, and some but fewer when the two cost the
// same; with a pool of 2, next to free copies stream every chosen host expert too, two a turn
// (the CPU computes no slot). The all-on-device model's bits each time.
TEST_F(DeviceSequenceModelGpuTest, StreamingFollowsTheMeasuredCosts) {
  const auto made = [&](int64_t pool) -> std::unique_ptr<DeviceSequenceModel> {
    auto plan = PlanWithStreamPool(cpu_->config(), pool);
    EXPECT_TRUE(plan) << plan.error();
    if (!plan) return nullptr;
    // The plan halves a pool the experts' room cannot hold (64 here); 2 it holds.
    EXPECT_GT(plan->stream_pool_experts, 0) << "pool " << pool;
    EXPECT_LE(plan->stream_pool_experts, pool);
    if (pool == 2) {
      EXPECT_EQ(plan->stream_pool_experts, 2);
    }
    auto split = DeviceSequenceModel::Create(
        *cpu_, *plan,
        {.device = 0, .context = kContext, .host_threads = 2, .chunk_rows = kTestChunkRows});
    EXPECT_TRUE(split) << split.error();
    return split ? std::move(*split) : nullptr;
  };
  const std::unique_ptr<DeviceSequenceModel> wide = made(64), narrow = made(2);
  ASSERT_TRUE(wide != nullptr && narrow != nullptr);
  const ExpertStreamCosts measured = wide->StreamCosts();
  std::printf(
      "measured: copy %.6f ms an expert%s, CPU %.6f ms an expert + %.6f ms a row, device %.6f + "
      "%.6f ms\n",
      measured.copy_seconds * 1e3, measured.copies_hold_the_host ? " (holding the host)" : "",
      measured.cpu_seconds * 1e3, measured.cpu_slot_seconds * 1e3, measured.device_seconds * 1e3,
      measured.device_slot_seconds * 1e3);
  EXPECT_TRUE(measured.measured());
  EXPECT_GT(measured.copy_seconds, 0);
  EXPECT_LT(measured.copy_seconds, 1.0);
  EXPECT_LT(measured.cpu_seconds + measured.cpu_slot_seconds, 1.0);
  EXPECT_GE(measured.cpu_seconds, 0);
  EXPECT_GE(measured.cpu_slot_seconds, 0);
  EXPECT_GT(measured.device_seconds + measured.device_slot_seconds, 0);
  EXPECT_GE(measured.device_seconds, 0);
  EXPECT_GE(measured.device_slot_seconds, 0);
  EXPECT_EQ(device_->StreamCosts().copy_seconds, 0) << "no pools, nothing measured";

  const std::vector<int32_t> prompt(golden_.begin(), golden_.begin() + kLongPrompt);
  auto want = device_->Forward(*device_->NewSequence(), prompt, {});
  ASSERT_TRUE(want) << want.error();
  // The prompt's chunks under `costs`: experts streamed (and `cpu_slots`, the slots the CPU
  // computed), the same bits.
  const auto streamed_under = [&](const ExpertStreamCosts& costs, DeviceSequenceModel* on = nullptr,
                                  int64_t* cpu_slots = nullptr) -> int64_t {
    DeviceSequenceModel& model = on != nullptr ? *on : *wide;
    model.SetStreamCosts(costs);
    const DeviceSequenceModel::OffloadStats before = model.Offload();
    auto got = model.Forward(*model.NewSequence(), prompt, {});
    EXPECT_TRUE(got) << got.error();
    if (!got) return -1;
    EXPECT_EQ(got->size(), want->size());
    for (size_t i = 0; i < got->size() && i < want->size(); ++i) {
      if (test_support::Bits((*got)[i]) != test_support::Bits((*want)[i])) {
        ADD_FAILURE() << "logit " << i;
        break;
      }
    }
    const DeviceSequenceModel::OffloadStats after = model.Offload();
    if (cpu_slots != nullptr) *cpu_slots = after.host_slots - before.host_slots;
    return after.streamed_experts - before.streamed_experts;
  };
  const int64_t none =
      streamed_under({.copy_seconds = 1.0, .cpu_seconds = 1e-6, .cpu_slot_seconds = 1e-6});
  const ExpertStreamCosts free_copies{
      .copy_seconds = 1e-9, .cpu_seconds = 1e-3, .cpu_slot_seconds = 1e-3};
  const int64_t every = streamed_under(free_copies);
  int64_t narrow_cpu_slots = -1, all_cpu_slots = -1;
  const int64_t in_turns = streamed_under(free_copies, narrow.get(), &narrow_cpu_slots);
  EXPECT_EQ(
      streamed_under({.copy_seconds = 1.0, .cpu_seconds = 1e-6}, narrow.get(), &all_cpu_slots), 0);
  const int64_t some = streamed_under({.copy_seconds = 1e-3, .cpu_seconds = 1e-3});
  int64_t filled = 0;
  {
    const StreamChoiceByCapacityAs fill_the_pool(true);
    filled = streamed_under(measured);
  }
  std::printf(
      "experts streamed: %lld, %lld, %lld; the pool filled: %lld; in turns of 2: %lld "
      "(the CPU's slots: %lld, all %lld without streaming)\n",
      static_cast<long long>(none), static_cast<long long>(every), static_cast<long long>(some),
      static_cast<long long>(filled), static_cast<long long>(in_turns),
      static_cast<long long>(narrow_cpu_slots), static_cast<long long>(all_cpu_slots));
  EXPECT_EQ(none, 0);
  EXPECT_GT(every, 0);
  EXPECT_GE(every, filled);
  // The two chunks (64 and 26 rows) would stream 2 experts each without turns.
  EXPECT_GT(in_turns, 4);
  EXPECT_EQ(narrow_cpu_slots, 0);
  EXPECT_GT(all_cpu_slots, 0);
  EXPECT_GT(some, 0);
  EXPECT_LT(some, every);
}

// A device fault mid-prompt (on a GPU an illegal memory access, which CUDA keeps for the rest of
// the process; here the emulator's FaultAtLaunch): the call fails naming the CUDA error, the
// model is lost from then on (Lost(): cuda:0, the error, restart), and every later call — a
// decode step of a sequence made before, a new sequence's prompt, a batch, a snapshot for the
// prefix store — fails at once with that message, before touching the device. The model and its
// sequences are then destroyed without a throw (their frees fail).
TEST_F(DeviceSequenceModelGpuTest, ADeviceFaultLosesTheModelForEveryLaterCall) {
#if !defined(DSAGENT_CUDA_EMULATOR_RUNTIME)
  GTEST_SKIP() << "needs the CUDA emulator's injected device fault (tests/cuda_emulator)";
#else
  const std::vector<int32_t> prompt(golden_.begin(), golden_.begin() + 8);
  auto before = device_->NewSequence();
  ASSERT_TRUE(device_->Forward(*before, prompt, {}));
  EXPECT_EQ(device_->Lost(), "");
  auto seq = device_->NewSequence();
  dsagent_emu::FaultAtLaunch(5);
  auto faulted = device_->Forward(*seq, prompt, {});
  ASSERT_FALSE(faulted);
  EXPECT_THAT(faulted.error(), HasSubstr("cudaErrorIllegalAddress"));
  const std::string lost = device_->Lost();
  EXPECT_THAT(lost, HasSubstr("cuda:0 is lost to a device fault ("));
  EXPECT_THAT(lost, HasSubstr("an illegal memory access was encountered"));
  EXPECT_THAT(lost, HasSubstr("restart it"));
  auto step = device_->Forward(*before, std::span<const int32_t>(prompt).first(1), {});
  ASSERT_FALSE(step);
  EXPECT_EQ(step.error(), lost);
  auto fresh = device_->NewSequence();
  auto fresh_prompt = device_->Forward(*fresh, prompt, {});
  ASSERT_FALSE(fresh_prompt);
  EXPECT_EQ(fresh_prompt.error(), lost);
  const std::vector<SequenceStep> steps{{before.get(), std::span<const int32_t>(prompt).first(1)},
                                        {fresh.get(), prompt}};
  auto batch = device_->ForwardBatch(steps);
  ASSERT_FALSE(batch);
  EXPECT_THAT(batch.error(), HasSubstr(lost));
  auto snapshot = before->HostState();
  ASSERT_FALSE(snapshot);
  EXPECT_EQ(snapshot.error(), lost);
  before.reset();
  seq.reset();
  fresh.reset();
  device_.reset();
  dsagent_emu::ClearDeviceFault();  // for the tests after this one in the process
#endif
}

// A fault from outside the model's own calls (another stream of the process) loses it too: on a
// GPU a kernel that reads an address no allocation holds (RmsNorm on pointers near null) faults as
// any illegal access does, where no fault can be injected; on the emulator, whose memory check
// stops such a read as a misuse of that launch alone, its injected fault stands in. CUDA keeps the
// fault for the rest of the process, so the test runs in a child process of its own (a death test,
// re-executed: no CUDA state is inherited), which exits 0 when every check holds and names the
// failed one otherwise.
TEST(DeviceSequenceModelFaultTest, AFaultOnAnotherStreamLosesTheModel) {
  REQUIRE_CUDA_DEVICE();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto child = [] {
    const auto fail = [](const char* what) {
      std::fprintf(stderr, "child: %s\n", what);
      std::fflush(stderr);
      std::_Exit(1);
    };
    auto cpu = forward::Model::Load(TinyDir(), {.threads = 2, .numerics = Numerics::kFast});
    if (!cpu) fail("the tiny model did not load");
    auto device = DeviceSequenceModel::Create(**cpu, PlanAllOnDevice((*cpu)->config()),
                                              {.device = 0, .context = kContext});
    if (!device) fail("the device model was not made");
    const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8};
    auto seq = (*device)->NewSequence();
    if (!(*device)->Forward(*seq, prompt, {})) fail("the prompt before the fault failed");
    CudaStream stream;
#if defined(DSAGENT_CUDA_EMULATOR_RUNTIME)
    DeviceBuffer row = DeviceFloats(256);
    float* x = row.as<float>();
    dsagent_emu::FaultAtLaunch(1);
#else
    float* x = reinterpret_cast<float*>(uintptr_t{0x100});
#endif
    try {
      RmsNorm(x, 1, 256, x, 1e-6f, x, stream);
      stream.Synchronize();
      fail("the read did not fault");
    } catch (const CudaError& e) {
      std::fprintf(stderr, "child: the fault: %s\n", e.what());
      if (!e.device_lost()) fail("the fault's error is not one that loses the device");
    }
    if ((*device)->Forward(*seq, std::span<const int32_t>(prompt).first(1), {})) {
      fail("a decode step after the fault succeeded");
    }
    const std::string lost = (*device)->Lost();
    std::fprintf(stderr, "child: Lost(): %s\n", lost.c_str());
    if (lost.find("cuda:0 is lost to a device fault") == std::string::npos) fail("not lost");
    auto fresh = (*device)->NewSequence();
    auto after = (*device)->Forward(*fresh, prompt, {});
    if (after || after.error() != lost) fail("a new sequence's prompt did not get the reason");
    std::fflush(stderr);
    std::_Exit(0);  // no teardown on the lost context
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "child: Lost..: cuda:0 is lost");
}

// Decode steps as CUDA graphs (decode_graph.h) against the same model without them, bit for
// bit: 90 tokens one at a time (past both compressed ratios' blocks, 4 and 16, so every shape a
// step takes) and batched decode steps of four sequences, each step in pieces of kLayersPerGraph
// blocks. The graphs must have updated the executables they keep, not instantiated one per step.
// The decode steps' independent chains on side streams (side_stream.h: the attention's KV row,
// compressor and indexer, the MoE's shared expert), graphed as parallel branches, against the same
// steps on one stream: the same bits.
TEST_F(DeviceSequenceModelGpuTest, SideStreamsGiveTheOneStreamBits) {
  const std::vector<int32_t> tokens(golden_.begin(), golden_.begin() + 40);
  const bool before = SideStreamsOn();
  SetSideStreams(true);
  auto sides_seq = device_->NewSequence();
  const std::vector<float> sides = TokenByToken(*device_, *sides_seq, tokens);
  SetSideStreams(false);
  auto one_seq = device_->NewSequence();
  const std::vector<float> one = TokenByToken(*device_, *one_seq, tokens);
  SetSideStreams(before);
  ASSERT_EQ(sides.size(), one.size());
  for (size_t i = 0; i < one.size(); ++i) {
    ASSERT_EQ(test_support::Bits(sides[i]), test_support::Bits(one[i]))
        << "token " << i / static_cast<size_t>(cpu_->config().vocab_size);
  }
}

// A process-wide way of running on, then off (`set`; `on` says which it was before, restored
// after): 40 tokens one at a time and a 24-token prompt's rows at once give the same bits.
void ExpectTheSameBitsEitherWay(DeviceSequenceModel& m, const std::vector<int32_t>& golden,
                                bool (*on)(), void (*set)(bool)) {
  const std::vector<int32_t> tokens(golden.begin(), golden.begin() + 40);
  const std::vector<int32_t> prompt(golden.begin(), golden.begin() + 24);
  const bool before = on();
  std::vector<float> steps[2], rows[2];
  for (const bool way : {true, false}) {
    set(way);
    auto seq = m.NewSequence();
    steps[way] = TokenByToken(m, *seq, tokens);
    auto forward = m.Forward(*m.NewSequence(), prompt, {});
    set(before);
    ASSERT_TRUE(forward) << forward.error();
    rows[way] = *forward;
  }
  for (auto* pair : {steps, rows}) {
    ASSERT_EQ(pair[1].size(), pair[0].size());
    for (size_t i = 0; i < pair[0].size(); ++i) {
      ASSERT_EQ(test_support::Bits(pair[1][i]), test_support::Bits(pair[0][i]))
          << (pair == steps ? "decode step, " : "prompt rows, ") << "logit " << i;
    }
  }
}

// Every kernel launched as a programmatic dependent launch (kernel_launch.cuh: its blocks may
// start while the kernel before it runs, and wait for it) against plain launches: the same bits,
// token by token and for a prompt's rows at once. On the emulator, block 0 of each such launch
// runs up to its wait before the kernel before it, so a kernel that reads its input too early
// fails here; on a GPU the overlap is real.
TEST_F(DeviceSequenceModelGpuTest, ProgrammaticLaunchesGiveThePlainLaunchesBits) {
  // Off where the device's probe refused it (before compute 9.0, a driver without it) or the
  // environment turns it off: then there is no other way to compare with.
  if (!ProgrammaticLaunchOn()) GTEST_SKIP() << "programmatic launch is off on this device";
  ExpectTheSameBitsEitherWay(*device_, golden_, ProgrammaticLaunchOn, SetProgrammaticLaunch);
}

// The fused steps (fused_steps.h: the mHC fn products with HcPreNorm, the gate with the router,
// the split attention with its combine, w2 on the SwiGLU) against the same pairs as two launches
// each: the same bits, token by token and for a prompt's rows at once.
TEST_F(DeviceSequenceModelGpuTest, FusedStepsGiveTheSeparateLaunchesBits) {
  ExpectTheSameBitsEitherWay(*device_, golden_, FusedStepsOn, SetFusedSteps);
}

TEST_F(DeviceSequenceModelGpuTest, GraphedDecodeStepsGiveThePlainStepsBits) {
  if (GraphsDisabledByEnvironment()) GTEST_SKIP() << "DSAGENT_CUDA_GRAPHS turns graphs off";
  auto plain = DeviceSequenceModel::Create(*cpu_, PlanAllOnDevice(cpu_->config()),
                                           {.device = 0, .context = kContext, .graphs = false});
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_FALSE((*plain)->Graphs().on);
  EXPECT_THAT((*plain)->Graphs().off_reason, HasSubstr("by the caller"));
  ASSERT_TRUE(device_->Graphs().on) << device_->Graphs().off_reason;

  const std::vector<int32_t> tokens(golden_.begin(), golden_.begin() + 90);
  auto graphed_seq = device_->NewSequence();
  auto plain_seq = (*plain)->NewSequence();
  const std::vector<float> graphed = TokenByToken(*device_, *graphed_seq, tokens);
  const std::vector<float> want = TokenByToken(**plain, *plain_seq, tokens);
  ASSERT_EQ(graphed.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(test_support::Bits(graphed[i]), test_support::Bits(want[i]))
        << "token " << i / static_cast<size_t>(cpu_->config().vocab_size);
  }

  constexpr int kSequences = 4;
  std::vector<std::unique_ptr<ModelSequence>> a, b;
  for (int s = 0; s < kSequences; ++s) {
    a.push_back(device_->NewSequence());
    b.push_back((*plain)->NewSequence());
    const std::vector<int32_t> prompt(golden_.begin() + 5 * s, golden_.begin() + 5 * s + 5);
    ASSERT_TRUE(device_->Forward(*a.back(), prompt, {}));
    ASSERT_TRUE((*plain)->Forward(*b.back(), prompt, {}));
  }
  for (int step = 0; step < 6; ++step) {
    std::vector<int32_t> next(kSequences);
    std::vector<SequenceStep> on, off;
    for (int s = 0; s < kSequences; ++s) next[s] = golden_[static_cast<size_t>(40 + 3 * s + step)];
    for (int s = 0; s < kSequences; ++s) {
      on.push_back({a[s].get(), std::span<const int32_t>(&next[s], 1)});
      off.push_back({b[s].get(), std::span<const int32_t>(&next[s], 1)});
    }
    auto got = device_->ForwardBatch(on);
    auto expected = (*plain)->ForwardBatch(off);
    ASSERT_TRUE(got) << got.error();
    ASSERT_TRUE(expected) << expected.error();
    for (int s = 0; s < kSequences; ++s) {
      ASSERT_EQ((*got)[s].size(), (*expected)[s].size());
      for (size_t i = 0; i < (*got)[s].size(); ++i) {
        ASSERT_EQ(test_support::Bits((*got)[s][i]), test_support::Bits((*expected)[s][i]))
            << "batched step " << step << ", sequence " << s << ", logit " << i;
      }
    }
  }
  const DeviceSequenceModel::GraphReport report = device_->Graphs();
  std::printf("graphs: %lld launches, %lld instantiated, %lld updated, %lld nodes in the last\n",
              static_cast<long long>(report.stats.launches),
              static_cast<long long>(report.stats.instantiations),
              static_cast<long long>(report.stats.updates),
              static_cast<long long>(report.stats.last_nodes));
  EXPECT_TRUE(report.on) << report.off_reason;
  // Each step in pieces of kLayersPerGraph blocks (v4-tiny's 5 layers: 2 pieces).
  const int64_t pieces = (cpu_->config().n_layers + kLayersPerGraph - 1) / kLayersPerGraph;
  EXPECT_EQ(report.stats.launches, (90 + 6) * pieces);
  EXPECT_EQ(report.stats.instantiations + report.stats.updates, report.stats.launches);
  // A handful of shapes per piece (the indexer starting, the compressors pooling every 4 and 16
  // tokens; the batch's rows each at their own position): far fewer than the 96 steps.
  EXPECT_LE(report.stats.instantiations, 20 * pieces)
      << "a kept executable per piece and shape, updated after";
  EXPECT_EQ((*plain)->Graphs().stats.launches, 0);
}

TEST_F(DeviceSequenceModelGpuTest, BadCallsAreClearErrors) {
  auto seq = device_->NewSequence();
  const std::vector<int32_t> t = {1, 2};
  // Nothing to take back (the last call did not ask for it); MTP streams of the wrong size.
  EXPECT_THAT(device_->TakeBackLastRow(*seq).error(), HasSubstr("cannot take back"));
  const std::vector<float> h(static_cast<size_t>(cpu_->config().hc_mult * cpu_->config().dim));
  EXPECT_THAT(device_->ForwardMtpLast(*seq, h, t).error(), HasSubstr("stream values for 2 tokens"));
  EXPECT_EQ(seq->mtp_pos(), 0);
  // A bad id, too many tokens, another model's sequence: errors, the sequence untouched.
  EXPECT_FALSE(device_->Forward(*seq, std::vector<int32_t>{-1}, {}));
  EXPECT_THAT(device_->Forward(*seq, std::vector<int32_t>(kContext + 1, 1), {}).error(),
              HasSubstr("do not fit the context"));
  CpuSequenceModel cpu_model(*cpu_);
  EXPECT_THAT(device_->Forward(*cpu_model.NewSequence(), t, {}).error(),
              HasSubstr("another model"));
  EXPECT_EQ(seq->pos(), 0);
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda::sequence_model_test
