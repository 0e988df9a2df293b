// Speculative decoding on the device (kernels/cuda/device_sequence_model.h with mtp_step.h and
// device_row_undo.h) on the tiny golden checkpoints, which have an MTP block: the final hc streams
// against the CPU's; the device MTP block's logits against the CPU's Model::ForwardMtp on the same
// streams (the fast contract: top-1 >= 99%, max |d logit| <= 0.05) and, end to end from the
// device's own streams, against the reference's golden MTP logits; a row taken back leaves the
// state, downloaded with HostState, field for field as without the row (also rows that complete
// a compressor block); speculative greedy generation gives plain greedy generation's tokens on the
// device, with the MTP block's drafts and with scripted ones that are mostly right; the MTP
// block's experts offloaded to the host give the same bits. Skips without a device (fails with
// DSAGENT_REQUIRE_CUDA=1).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "engine/forward/model.h"
#include "engine/generate/cpu_sequence_model.h"
#include "engine/generate/generator.h"
#include "engine/kernels/cuda/device_sequence_model.h"
#include "engine/model/placement_plan.h"
#include "engine/model/tensor_inventory.h"
#include "tests/engine/forward/golden_data.h"
#include "tests/engine/forward/state_checks.h"
#include "tests/engine/generate/scripted_drafts.h"
#include "tests/engine/kernels/cuda_test_support.h"

namespace dsagent::engine::kernels::cuda::mtp_test {
namespace {
using engine::testing::ScriptedDrafts;
using forward::testing::Compare;
using forward::testing::Describe;
using forward::testing::GoldenSet;
using ::testing::HasSubstr;

constexpr int64_t kGiB = 1LL << 30;

std::filesystem::path DataDir(const std::string& set) { return test_support::TestDataDir() / set; }

void ExpectLogitContract(const std::vector<float>& a, const std::vector<float>& b, int64_t vocab,
                         const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  const int64_t rows = static_cast<int64_t>(a.size()) / vocab;
  const auto agreement = Compare(a.data(), b.data(), rows, vocab);
  std::printf("%s: %s\n", what.c_str(), Describe(agreement).c_str());
  EXPECT_GE(static_cast<double>(agreement.top1_agree), 0.99 * static_cast<double>(rows)) << what;
  EXPECT_LE(agreement.max_abs, 0.05) << what;
}

class DeviceMtpTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    REQUIRE_CUDA_DEVICE();
    set_ = std::make_unique<GoldenSet>(DataDir(GetParam()));
    tokens_ = set_->Read<int32_t>("tokens");
    tokens_.resize(static_cast<size_t>(
        test_support::GoldenTokensOnThisDevice(static_cast<int64_t>(tokens_.size()))));
    auto cpu =
        forward::Model::Load(DataDir(GetParam()), {.threads = 2, .numerics = Numerics::kFast});
    ASSERT_TRUE(cpu) << cpu.error();
    cpu_ = std::move(*cpu);
    const ModelConfig& c = cpu_->config();
    ASSERT_EQ(c.n_mtp_layers, 1);
    auto plan = PlanPlacement(ExpectedTensors(c), 64 * kGiB, kGiB);
    ASSERT_TRUE(plan) << plan.error();
    auto device = DeviceSequenceModel::Create(
        *cpu_, *plan, {.device = 0, .context = static_cast<int64_t>(tokens_.size()) + 8});
    ASSERT_TRUE(device) << device.error();
    device_ = std::move(*device);
  }

  int64_t vocab() const { return cpu_->config().vocab_size; }
  int64_t row() const { return cpu_->config().hc_mult * cpu_->config().dim; }

  // The device's MTP logits of rows [0, rows) of `streams` with next tokens tokens_[1..], one
  // ForwardMtpLast per row (each gives its row's logits), on `seq`.
  std::vector<float> DeviceMtpRows(ModelSequence& seq, const std::vector<float>& streams,
                                   int64_t rows) {
    std::vector<float> out;
    for (int64_t i = 0; i < rows; ++i) {
      auto logits = device_->ForwardMtpLast(
          seq, std::span<const float>(streams.data() + i * row(), static_cast<size_t>(row())),
          std::span<const int32_t>(&tokens_[static_cast<size_t>(i + 1)], 1));
      EXPECT_TRUE(logits) << logits.error();
      if (!logits) return {};
      out.insert(out.end(), logits->begin(), logits->end());
    }
    return out;
  }

  std::unique_ptr<GoldenSet> set_;
  std::vector<int32_t> tokens_;
  std::unique_ptr<forward::Model> cpu_;
  std::unique_ptr<DeviceSequenceModel> device_;
};

TEST_P(DeviceMtpTest, FinalStreamsAndMtpLogitsMatchTheCpuAndTheReference) {
  const int64_t s = static_cast<int64_t>(tokens_.size());
  // The final streams of a whole prompt: the CPU's fast Forward against the device's.
  forward::SequenceState cpu_state = cpu_->NewSequence();
  forward::ForwardTrace trace;
  ASSERT_TRUE(cpu_->Forward(cpu_state, tokens_, &trace));
  auto seq = device_->NewSequence();
  std::vector<float> streams;
  auto logits = device_->Forward(*seq, tokens_, {.last_row_only = true, .final_streams = &streams});
  ASSERT_TRUE(logits) << logits.error();
  ASSERT_EQ(streams.size(), trace.final_streams.size());
  const auto agreement = Compare(streams.data(), trace.final_streams.data(), s, row());
  std::printf("%s final streams, device vs CPU: %s\n", GetParam(), Describe(agreement).c_str());
  // bf16 values through every layer: the contract's last-bit differences, not another result.
  EXPECT_LE(agreement.relative_error, 0.01);

  // The MTP block alone: the CPU's streams into both, row by row against the CPU's rows.
  auto cpu_mtp = cpu_->ForwardMtp(
      cpu_state,
      std::span<const float>(trace.final_streams.data(), static_cast<size_t>((s - 1) * row())),
      std::span<const int32_t>(tokens_.data() + 1, static_cast<size_t>(s - 1)));
  ASSERT_TRUE(cpu_mtp) << cpu_mtp.error();
  auto on_cpu_streams = device_->NewSequence();
  ASSERT_TRUE(device_->Forward(*on_cpu_streams, tokens_, {.last_row_only = true}));
  const std::vector<float> device_mtp = DeviceMtpRows(*on_cpu_streams, trace.final_streams, s - 1);
  EXPECT_EQ(on_cpu_streams->mtp_pos(), s - 1);
  ExpectLogitContract(device_mtp, *cpu_mtp, vocab(),
                      std::string(GetParam()) + " MTP logits on the CPU's streams, device vs CPU");

  // End to end on the device (its own streams) against the reference's MTP logits.
  const std::vector<float> end_to_end = DeviceMtpRows(*seq, streams, s - 1);
  std::vector<float> reference = set_->Read<float>("mtp_logits");
  reference.resize(static_cast<size_t>((s - 1) * vocab()));
  ExpectLogitContract(end_to_end, reference, vocab(),
                      std::string(GetParam()) + " device MTP end to end vs the reference");

  // Several rows in one call: the last row's logits of the rows one by one, bit for bit.
  auto many = device_->NewSequence();
  ASSERT_TRUE(device_->Forward(*many, std::span<const int32_t>(tokens_.data(), 12), {}));
  auto last = device_->ForwardMtpLast(
      *many, std::span<const float>(streams.data(), static_cast<size_t>(11 * row())),
      std::span<const int32_t>(tokens_.data() + 1, 11));
  ASSERT_TRUE(last) << last.error();
  EXPECT_TRUE(std::equal(last->begin(), last->end(), end_to_end.begin() + 10 * vocab()));
}

TEST_P(DeviceMtpTest, ARowTakenBackLeavesTheStateAsWithoutIt) {
  // Past the window, then rows at every position up to 48: ordinary rows and rows that complete a
  // block of each compressor (ratios 4, 8, 16).
  const std::vector<int32_t> prompt(tokens_.begin(), tokens_.begin() + 20);
  auto seq = device_->NewSequence();
  auto plain = device_->NewSequence();
  ASSERT_TRUE(device_->Forward(*seq, prompt, {}));
  ASSERT_TRUE(device_->Forward(*plain, prompt, {}));
  for (size_t i = 20; i < 48; ++i) {
    const std::string at = std::string(GetParam()) + " position " + std::to_string(i);
    const int32_t token = tokens_[i], draft = tokens_[i + 7];
    // One undoable row taken back: the state before it.
    auto before = seq->HostState();
    ASSERT_TRUE(before) << before.error();
    const forward::SequenceState kept = **before;
    ASSERT_TRUE(
        device_->Forward(*seq, std::span<const int32_t>(&draft, 1), {.undoable_last_row = true}));
    ASSERT_TRUE(device_->TakeBackLastRow(*seq)) << at;
    auto after = seq->HostState();
    ASSERT_TRUE(after) << after.error();
    forward::testing::ExpectSameState(**after, kept, at + ", one row taken back");
    // A second take-back has nothing to take.
    EXPECT_THAT(device_->TakeBackLastRow(*seq).error(), HasSubstr("cannot take back")) << at;
    // Two rows, the second (a draft) taken back: the state of the first alone, and the first's
    // logits the plain sequence's, bit for bit.
    const int32_t pair[2] = {token, draft};
    std::vector<float> pair_streams;
    auto rows =
        device_->Forward(*seq, pair, {.final_streams = &pair_streams, .undoable_last_row = true});
    ASSERT_TRUE(rows) << rows.error();
    EXPECT_EQ(pair_streams.size(), static_cast<size_t>(2 * row()));
    ASSERT_TRUE(device_->TakeBackLastRow(*seq)) << at;
    auto one = device_->Forward(*plain, std::span<const int32_t>(&token, 1), {});
    ASSERT_TRUE(one) << one.error();
    EXPECT_TRUE(std::equal(one->begin(), one->end(), rows->begin())) << at;
    auto got = seq->HostState();
    ASSERT_TRUE(got) << got.error();
    const forward::SequenceState got_state = **got;
    auto want = plain->HostState();
    ASSERT_TRUE(want) << want.error();
    forward::testing::ExpectSameState(got_state, **want, at + ", a draft taken back");
  }
}

TEST_P(DeviceMtpTest, SpeculativeGreedyGivesPlainGreedyTokens) {
  const std::vector<int32_t> prompt(tokens_.begin(), tokens_.begin() + 24);
  GenerateOptions plain_options;
  plain_options.max_tokens = 40;
  plain_options.sampling.temperature = 0;
  plain_options.context_limit = device_->context();
  Generator generator(*device_, nullptr);
  auto plain_seq = device_->NewSequence();
  auto plain = generator.Generate(*plain_seq, prompt, plain_options);
  ASSERT_TRUE(plain) << plain.error();

  GenerateOptions mtp_options = plain_options;
  mtp_options.speculative = Speculative::kMtp;
  auto mtp_seq = device_->NewSequence();
  auto mtp = generator.Generate(*mtp_seq, prompt, mtp_options);
  ASSERT_TRUE(mtp) << mtp.error();
  std::printf("%s device speculative (MTP drafts): %lld drafted, %lld accepted\n", GetParam(),
              static_cast<long long>(mtp->drafted), static_cast<long long>(mtp->accepted));
  EXPECT_EQ(mtp->speculative_off, "");
  EXPECT_GT(mtp->drafted, 0);
  EXPECT_EQ(mtp->tokens, plain->tokens);
  // The MTP part kept up, and HostState carries it to the CPU engine.
  EXPECT_EQ(mtp_seq->mtp_pos(), mtp_seq->pos());
  auto host = mtp_seq->HostState();
  ASSERT_TRUE(host) << host.error();
  EXPECT_EQ((*host)->mtp_pos, mtp_seq->pos());

  // Scripted drafts, two of three right: accepted drafts and taken-back rows both run often; the
  // tokens and the state are plain decoding's.
  std::vector<int32_t> sequence = prompt;
  sequence.insert(sequence.end(), plain->tokens.begin(), plain->tokens.end());
  ScriptedDrafts drafts(sequence, 3, static_cast<int32_t>(vocab()));
  GenerateOptions scripted_options = plain_options;
  scripted_options.drafts = &drafts;
  auto scripted_seq = device_->NewSequence();
  auto scripted = generator.Generate(*scripted_seq, prompt, scripted_options);
  ASSERT_TRUE(scripted) << scripted.error();
  std::printf("%s device speculative (scripted drafts): %lld drafted, %lld accepted\n", GetParam(),
              static_cast<long long>(scripted->drafted),
              static_cast<long long>(scripted->accepted));
  EXPECT_EQ(scripted->tokens, plain->tokens);
  EXPECT_GT(scripted->accepted, 5);
  EXPECT_LT(scripted->accepted, scripted->drafted);
  auto got = scripted_seq->HostState();
  ASSERT_TRUE(got) << got.error();
  const forward::SequenceState got_state = **got;
  auto want = plain_seq->HostState();
  ASSERT_TRUE(want) << want.error();
  forward::testing::ExpectSameState(got_state, **want, "after scripted speculative decoding");
}

// A CPU state with its MTP part (after speculative decoding on the CPU) continues drafting on the
// device: SequenceFrom restores the MTP block's state, and the next MTP row matches the CPU's.
TEST_P(DeviceMtpTest, ACpuStateWithItsMtpPartDraftsOnTheDevice) {
  const int64_t n = 30;
  forward::SequenceState cpu_state = cpu_->NewSequence();
  forward::ForwardTrace trace;
  ASSERT_TRUE(cpu_->Forward(cpu_state, std::span<const int32_t>(tokens_.data(), n + 1), &trace));
  ASSERT_TRUE(cpu_->ForwardMtp(
      cpu_state, std::span<const float>(trace.final_streams.data(), static_cast<size_t>(n * row())),
      std::span<const int32_t>(tokens_.data() + 1, n)));
  auto on_device = device_->SequenceFrom(cpu_state);
  ASSERT_TRUE(on_device) << on_device.error();
  EXPECT_EQ((*on_device)->mtp_pos(), n);
  const std::span<const float> last(trace.final_streams.data() + n * row(),
                                    static_cast<size_t>(row()));
  const std::span<const int32_t> next(tokens_.data() + n + 1, 1);
  auto device_logits = device_->ForwardMtpLast(**on_device, last, next);
  ASSERT_TRUE(device_logits) << device_logits.error();
  auto cpu_logits = cpu_->ForwardMtpLast(cpu_state, last, next);
  ASSERT_TRUE(cpu_logits) << cpu_logits.error();
  ExpectLogitContract(*device_logits, *cpu_logits, vocab(),
                      std::string(GetParam()) + " MTP row after a CPU state, device vs CPU");
  // And back: the device's MTP part as the CPU's.
  auto back = (*on_device)->HostState();
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ((*back)->mtp_pos, n + 1);
  EXPECT_EQ(cpu_state.mtp_pos, n + 1);
}

// The MTP block's routed experts kept on the host (the plan's "mtp.0." block, half of its
// experts; the CPU kernels compute them, which give the device's bits): the same MTP logits, bit
// for bit, as with every expert on the device.
TEST_P(DeviceMtpTest, MtpExpertsOnTheHostGiveTheSameBits) {
  const ModelConfig& c = cpu_->config();
  auto plan = PlanPlacement(ExpectedTensors(c), 64 * kGiB, kGiB);
  ASSERT_TRUE(plan) << plan.error();
  bool split = false;
  for (BlockExperts& b : plan->blocks) {
    if (b.mtp) {
      b.on_device = b.experts / 2;
      split = true;
    }
  }
  ASSERT_TRUE(split) << "the plan has no MTP block";
  auto offloaded = DeviceSequenceModel::Create(
      *cpu_, *plan,
      {.device = 0, .context = static_cast<int64_t>(tokens_.size()) + 8, .host_threads = 2});
  ASSERT_TRUE(offloaded) << offloaded.error();
  const int64_t n = 24;
  const std::span<const int32_t> prompt(tokens_.data(), static_cast<size_t>(n));
  std::vector<std::vector<float>> mtp_logits;
  for (SequenceModel* model : {static_cast<SequenceModel*>(device_.get()),
                               static_cast<SequenceModel*>(offloaded->get())}) {
    auto seq = model->NewSequence();
    std::vector<float> streams;
    ASSERT_TRUE(model->Forward(*seq, prompt, {.last_row_only = true, .final_streams = &streams}));
    auto logits = model->ForwardMtpLast(
        *seq, std::span<const float>(streams.data(), static_cast<size_t>((n - 1) * row())),
        std::span<const int32_t>(tokens_.data() + 1, static_cast<size_t>(n - 1)));
    ASSERT_TRUE(logits) << logits.error();
    mtp_logits.push_back(std::move(*logits));
  }
  EXPECT_TRUE(forward::testing::SameBits(mtp_logits[1], mtp_logits[0]));
}

INSTANTIATE_TEST_SUITE_P(TinyGolden, DeviceMtpTest, ::testing::Values("v4-tiny", "v4-tiny-c"),
                         [](const auto& p) { return forward::testing::TestName(p.param); });

}  // namespace
}  // namespace dsagent::engine::kernels::cuda::mtp_test
