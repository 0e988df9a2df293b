// Device sequences apart from the device weights (kernels/cuda/model_step.h DeviceSequence) and
// their snapshot/restore to the host layout (device_sequence_copy.h), on tests/data/v4-tiny:
// two sequences interleaved on one DeviceModel decode as each alone; a sequence restored from a
// snapshot decodes to the same bits as one decoded straight through; a device snapshot continues
// in the CPU engine, and a CPU state on the device, within the fast contract (top-1 >= 99%,
// max |d logit| <= 0.05). Skips without a device (fails with DSAGENT_REQUIRE_CUDA=1).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "engine/forward/model.h"
#include "engine/kernels/cuda/device_model_upload.h"
#include "engine/kernels/cuda/device_sequence_copy.h"
#include "engine/model/checkpoint.h"
#include "tests/engine/forward/golden_data.h"
#include "tests/engine/kernels/cuda_test_support.h"

namespace dsagent::engine::kernels::cuda::sequence_copy_test {
namespace {
using forward::testing::Compare;
using forward::testing::Describe;
using forward::testing::GoldenSet;
using test_support::ToDevice;
using test_support::ToHost;

constexpr int64_t kContext = 64, kPrefix = 40, kMore = 20;

std::filesystem::path TinyDir() { return test_support::TestDataDir() / "v4-tiny"; }

// Decodes tokens[from, to) on `seq`, appending each row's logits to `out`.
void Decode(DeviceModel& m, DeviceSequence& seq, const std::vector<int32_t>& tokens, size_t from,
            size_t to, std::vector<float>& out, CudaStream& stream) {
  DeviceBuffer dlogits(static_cast<size_t>(m.vocab) * sizeof(float));
  for (size_t i = from; i < to; ++i) {
    const DeviceBuffer dtoken = ToDevice(std::vector<int32_t>{tokens[i]}, stream);
    ModelDecode(m, seq, dtoken.as<int32_t>(), dlogits.as<float>(), stream);
    const std::vector<float> row = ToHost(dlogits, static_cast<size_t>(m.vocab), stream);
    out.insert(out.end(), row.begin(), row.end());
  }
}

void ExpectFastContract(const std::vector<float>& a, const std::vector<float>& b, int64_t rows,
                        int64_t vocab, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  const auto agreement = Compare(a.data(), b.data(), rows, vocab);
  std::printf("%s: %s\n", what, Describe(agreement).c_str());
  EXPECT_GE(static_cast<double>(agreement.top1_agree), 0.99 * static_cast<double>(rows)) << what;
  EXPECT_LE(agreement.max_abs, 0.05) << what;
}

class CudaSequenceCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_CUDA_DEVICE();
    const GoldenSet set(TinyDir());
    tokens_ = set.Read<int32_t>("tokens");
    ASSERT_GE(tokens_.size(), static_cast<size_t>(kPrefix + kMore));
    auto checkpoint = Checkpoint::Open(TinyDir());
    ASSERT_TRUE(checkpoint) << checkpoint.error();
    config_ = (*checkpoint)->config();
    auto weights = forward::LoadModelWeights(**checkpoint, TinyDir().string());
    ASSERT_TRUE(weights) << weights.error();
    stream_ = std::make_unique<CudaStream>();
    model_ = std::make_unique<DeviceModel>(UploadModel(*weights, config_, kContext, *stream_));
  }

  std::vector<int32_t> tokens_;
  ModelConfig config_;
  std::unique_ptr<CudaStream> stream_;
  std::unique_ptr<DeviceModel> model_;
};

TEST_F(CudaSequenceCopyTest, SequencesShareTheWeightsAndARestoredOneDecodesAsStraightThrough) {
  CudaStream& s = *stream_;
  // Straight through, interleaved token by token with a second sequence on the same weights.
  DeviceSequence straight = DeviceSequence::Create(*model_, s);
  DeviceSequence other = DeviceSequence::Create(*model_, s);
  std::vector<float> straight_logits, other_logits;
  for (size_t i = 0; i < kPrefix + kMore; ++i) {
    Decode(*model_, straight, tokens_, i, i + 1, straight_logits, s);
    if (i < kPrefix) Decode(*model_, other, tokens_, i, i + 1, other_logits, s);
  }
  // `other` alone again (Reset, then the same tokens): interleaving changed nothing.
  std::vector<float> alone;
  other.Reset(*model_, s);
  Decode(*model_, other, tokens_, 0, kPrefix, alone, s);
  EXPECT_EQ(alone, other_logits) << "a second sequence on the same weights changed the bits";
  const std::vector<float> prefix_rows(straight_logits.begin(),
                                       straight_logits.begin() + kPrefix * model_->vocab);
  EXPECT_EQ(alone, prefix_rows);

  // Snapshot at kPrefix, restore into a fresh sequence, decode the rest.
  const forward::SequenceState snap = SnapshotSequence(*model_, config_, other, s);
  EXPECT_EQ(snap.pos, kPrefix);
  DeviceSequence restored = DeviceSequence::Create(*model_, s);
  auto ok = RestoreSequence(*model_, config_, snap, restored, s);
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(restored.pos, kPrefix);
  std::vector<float> rest;
  Decode(*model_, restored, tokens_, kPrefix, kPrefix + kMore, rest, s);
  const std::vector<float> straight_rest(straight_logits.begin() + kPrefix * model_->vocab,
                                         straight_logits.end());
  EXPECT_EQ(rest, straight_rest) << "restore then decode is not decoding straight through";
  // A restored sequence's snapshot is the state it was restored from.
  DeviceSequence again = DeviceSequence::Create(*model_, s);
  ASSERT_TRUE(RestoreSequence(*model_, config_, snap, again, s));
  const forward::SequenceState snap2 = SnapshotSequence(*model_, config_, again, s);
  for (size_t l = 0; l < snap.layers.size(); ++l) {
    EXPECT_EQ(snap2.layers[l].window, snap.layers[l].window) << "layer " << l;
    EXPECT_EQ(snap2.layers[l].compressed, snap.layers[l].compressed) << "layer " << l;
    EXPECT_EQ(snap2.layers[l].index_keys, snap.layers[l].index_keys) << "layer " << l;
    EXPECT_EQ(snap2.layers[l].kv_compressor.kv, snap.layers[l].kv_compressor.kv) << "layer " << l;
  }
  // A state of the wrong shape is refused, the sequence untouched.
  forward::SequenceState bad = snap;
  bad.layers[1].compressed.clear();
  auto refused = RestoreSequence(*model_, config_, bad, again, s);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("layer 1 compressed entries"), std::string::npos)
      << refused.error();
  EXPECT_EQ(again.pos, kPrefix);
}

TEST_F(CudaSequenceCopyTest, StatesMoveBetweenTheCpuAndTheDeviceWithinTheFastContract) {
  CudaStream& s = *stream_;
  auto cpu = forward::Model::Load(TinyDir(), {.threads = 2, .numerics = Numerics::kFast});
  ASSERT_TRUE(cpu) << cpu.error();
  // The CPU straight through, token by token (the rows to compare with).
  forward::SequenceState cpu_state = (*cpu)->NewSequence();
  std::vector<float> cpu_rest, device_rest_from_cpu;
  for (size_t i = 0; i < kPrefix + kMore; ++i) {
    auto row = (*cpu)->Forward(cpu_state, std::span<const int32_t>(&tokens_[i], 1));
    ASSERT_TRUE(row) << row.error();
    if (i >= kPrefix) cpu_rest.insert(cpu_rest.end(), row->begin(), row->end());
    if (i + 1 == kPrefix) {
      // The CPU's state at kPrefix onto the device, which decodes the rest.
      DeviceSequence from_cpu = DeviceSequence::Create(*model_, s);
      auto ok = RestoreSequence(*model_, config_, cpu_state, from_cpu, s);
      ASSERT_TRUE(ok) << ok.error();
      Decode(*model_, from_cpu, tokens_, kPrefix, kPrefix + kMore, device_rest_from_cpu, s);
    }
  }
  ExpectFastContract(device_rest_from_cpu, cpu_rest, kMore, model_->vocab,
                     "CPU state -> device decode vs CPU");

  // The device's state at kPrefix into the CPU engine, which decodes the rest.
  DeviceSequence seq = DeviceSequence::Create(*model_, s);
  std::vector<float> ignored;
  Decode(*model_, seq, tokens_, 0, kPrefix, ignored, s);
  forward::SequenceState snap = SnapshotSequence(*model_, config_, seq, s);
  // The MTP part comes too (untouched here: an empty MTP state).
  EXPECT_EQ(snap.mtp_pos, 0);
  ASSERT_EQ(snap.mtp.size(), (*cpu)->NewSequence().mtp.size());
  EXPECT_EQ(snap.mtp[0].window, (*cpu)->NewSequence().mtp[0].window);
  std::vector<float> from_device;
  for (size_t i = kPrefix; i < kPrefix + kMore; ++i) {
    auto row = (*cpu)->Forward(snap, std::span<const int32_t>(&tokens_[i], 1));
    ASSERT_TRUE(row) << row.error();
    from_device.insert(from_device.end(), row->begin(), row->end());
  }
  ExpectFastContract(from_device, cpu_rest, kMore, model_->vocab,
                     "device snapshot -> CPU decode vs CPU");
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda::sequence_copy_test
