// The whole model's decode on the device (kernels/cuda/model_step.h) on the golden checkpoints
// (tests/data/v4-tiny: window, CSA and HCA layers, a hash layer; v4-tiny-c): every token decoded
// one at a time from position 0, against the reference's logits of the same tokens and against
// the CPU engine in `fast` numerics decoding them the same way. The end-to-end contract:
// top-1 agreement >= 99% and max |d logit| <= 0.05; then the same tokens as a chunked prefill
// (model_rows.h), bit for bit the decode's. In exact numerics, through the generation seam: the
// reference's bits. Skips without a device (fails with DSAGENT_REQUIRE_CUDA=1).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/forward/logits_runner.h"
#include "engine/forward/model.h"
#include "engine/forward/model_weights.h"
#include "engine/kernels/cuda/decode_graph.h"
#include "engine/kernels/cuda/device_model_upload.h"
#include "engine/kernels/cuda/device_sequence_model.h"
#include "engine/kernels/cuda/matvec_tensor.h"
#include "engine/kernels/cuda/model_rows.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/model/checkpoint.h"
#include "engine/model/placement_plan.h"
#include "engine/model/tensor_inventory.h"
#include "tests/engine/forward/golden_data.h"
#include "tests/engine/forward/golden_sweep.h"
#include "tests/engine/kernels/cuda_test_support.h"
#include "tests/support/temp_dir.h"

namespace dsagent::engine::kernels::cuda::model_test {
namespace {
using forward::testing::Agreement;
using forward::testing::Compare;
using forward::testing::Describe;
using forward::testing::GoldenSet;
using test_support::ToDevice;
using test_support::ToHost;

void ExpectEndToEndContract(const Agreement& a, int64_t rows, const std::string& what) {
  EXPECT_EQ(a.rows, rows) << what;
  std::printf("%s: %s\n", what.c_str(), Describe(a).c_str());
  EXPECT_GE(static_cast<double>(a.top1_agree), 0.99 * static_cast<double>(a.rows))
      << what << ": " << Describe(a);
  EXPECT_LE(a.max_abs, 0.05) << what << ": " << Describe(a);
}

// `tokens` through ModelRows into `seq` in chunks of `chunk` rows: every row's logits.
std::vector<float> ChunkedPrefill(DeviceModel& model, DeviceSequence& seq,
                                  const std::vector<int32_t>& tokens, int64_t chunk, int64_t vocab,
                                  CudaStream& stream) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  DeviceRows rows = CreateDeviceRows(model, chunk);
  DeviceBuffer chunk_logits(static_cast<size_t>(chunk * vocab) * sizeof(float));
  std::vector<float> logits;
  for (int64_t begin = 0; begin < n; begin += chunk) {
    const int64_t count = std::min(chunk, n - begin);
    const RowChunk c{&seq, count};
    ModelRows(model, rows, &c, 1, tokens.data() + begin, RowLogits::kEveryRow,
              chunk_logits.as<float>(), stream);
    const std::vector<float> part =
        ToHost(chunk_logits, static_cast<size_t>(count * vocab), stream);
    logits.insert(logits.end(), part.begin(), part.end());
  }
  return logits;
}

// A checkpoint through the generation seam on the device (every weight there), for sequences of
// up to `context` positions, and the CPU model it is made from (kept: the device model reads it).
// Null with a test failure when either does not load.
struct OnTheDevice {
  std::unique_ptr<forward::Model> cpu;
  std::unique_ptr<DeviceSequenceModel> device;
};
OnTheDevice LoadOnTheDevice(const std::filesystem::path& dir, Numerics numerics, int64_t context) {
  OnTheDevice loaded;
  auto cpu = forward::Model::Load(dir, {.threads = 2, .numerics = numerics});
  if (!cpu) {
    ADD_FAILURE() << cpu.error();
    return loaded;
  }
  loaded.cpu = std::move(*cpu);
  auto plan =
      PlanPlacement(ExpectedTensors(loaded.cpu->config()), int64_t{64} << 30, int64_t{1} << 30);
  if (!plan) {
    ADD_FAILURE() << plan.error();
    return loaded;
  }
  auto device = DeviceSequenceModel::Create(*loaded.cpu, *plan, {.device = 0, .context = context});
  if (!device) {
    ADD_FAILURE() << device.error();
    return loaded;
  }
  loaded.device = std::move(*device);
  return loaded;
}

// The golden set of the parameter's checkpoint: its tokens, the reference's logits, sizes.
class CudaModelGoldenTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    REQUIRE_CUDA_DEVICE();
    set_.emplace(test_support::TestDataDir() / GetParam());
    tokens_ = set_->Read<int32_t>("tokens");
    reference_ = set_->Read<float>("prefill_full_logits");
    ASSERT_GT(set_->tokens(), 0);
    const int64_t n = test_support::GoldenTokensOnThisDevice(set_->tokens());
    tokens_.resize(static_cast<size_t>(n));
    reference_.resize(static_cast<size_t>(n * set_->vocab()));
  }

  std::optional<GoldenSet> set_;
  std::vector<int32_t> tokens_;   // the first GoldenTokensOnThisDevice of the set's
  std::vector<float> reference_;  // their rows
};

TEST_P(CudaModelGoldenTest, DecodingEveryTokenStaysWithinTheEndToEndContract) {
  const GoldenSet& set = *set_;
  const std::vector<int32_t>& tokens = tokens_;
  const std::vector<float>& reference = reference_;
  const int64_t n = static_cast<int64_t>(tokens.size()), vocab = set.vocab();

  auto checkpoint = Checkpoint::Open(set.dir());
  ASSERT_TRUE(checkpoint) << checkpoint.error();
  auto weights = forward::LoadModelWeights(**checkpoint, set.dir().string());
  ASSERT_TRUE(weights) << weights.error();
  const ModelConfig& config = (*checkpoint)->config();
  CudaStream stream;
  DeviceModel model = UploadModel(*weights, config, n, stream);
  DeviceSequence seq = DeviceSequence::Create(model, stream);
  DeviceBuffer dlogits(static_cast<size_t>(vocab) * sizeof(float));
  std::vector<float> gpu;
  for (int64_t pos = 0; pos < n; ++pos) {
    const DeviceBuffer dtoken =
        ToDevice(std::vector<int32_t>{tokens[static_cast<size_t>(pos)]}, stream);
    ModelDecode(model, seq, dtoken.as<int32_t>(), dlogits.as<float>(), stream);
    const std::vector<float> row = ToHost(dlogits, static_cast<size_t>(vocab), stream);
    gpu.insert(gpu.end(), row.begin(), row.end());
  }
  ExpectEndToEndContract(Compare(gpu.data(), reference.data(), n, vocab), n,
                         set.name() + " device decode vs reference");

  // The CPU engine in fast numerics, the same tokens decoded one at a time (a one-token prefill,
  // then decode steps).
  auto cpu_model = forward::Model::Load(set.dir(), {.threads = 2, .numerics = Numerics::kFast});
  ASSERT_TRUE(cpu_model) << cpu_model.error();
  auto cpu = forward::ComputeLogits(**cpu_model, tokens, 1);
  ASSERT_TRUE(cpu) << cpu.error();
  ExpectEndToEndContract(Compare(gpu.data(), cpu->data(), n, vocab), n,
                         set.name() + " device decode vs CPU fast decode");

  // The same tokens as a chunked prefill (ModelRows, chunks of 37 rows: odd, so chunks start
  // anywhere in the window ring and the compressors' blocks): every row's logits are the decode
  // step's bits (each row-wise op gives every row its one-row bits, and the state steps run per
  // row in decode's order), so the end-to-end contract holds as above.
  DeviceSequence chunked = DeviceSequence::Create(model, stream);
  const std::vector<float> prefill = ChunkedPrefill(model, chunked, tokens, 37, vocab, stream);
  EXPECT_EQ(chunked.pos, n);
  ASSERT_EQ(prefill.size(), gpu.size());
  for (size_t i = 0; i < gpu.size(); ++i) {
    ASSERT_EQ(test_support::Bits(prefill[i]), test_support::Bits(gpu[i]))
        << set.name() << " chunked prefill row " << i / static_cast<size_t>(vocab) << " logit "
        << i % static_cast<size_t>(vocab);
  }
  ExpectEndToEndContract(Compare(prefill.data(), reference.data(), n, vocab), n,
                         set.name() + " device chunked prefill vs reference");

  // One sequence in two chunks of a call (its rows would share its positions and its KV ring's
  // slots): refused before anything is queued, the sequence where it was.
  DeviceSequence twice = DeviceSequence::Create(model, stream);
  DeviceRows rows = CreateDeviceRows(model, 2);
  const RowChunk both[2] = {{&twice, 1}, {&twice, 1}};
  EXPECT_THROW(ModelRows(model, rows, both, 2, tokens.data(), RowLogits::kEveryRow,
                         dlogits.as<float>(), stream),
               std::out_of_range);
  EXPECT_EQ(twice.pos, 0);
}

// The prompt's rows with the tensor cores' products (DSAGENT_CUDA_MATVEC_ROWS=tensor,
// matvec_tensor.h: bf16 MMAs, fp32 sums per scale group) in chunks of 37 rows (each at least
// kTensorMinInputs, so every product over a chunk takes them): not the decode step's bits, but
// within the end-to-end contract of the reference's logits.
TEST_P(CudaModelGoldenTest, TensorCoreRowsStayWithinTheEndToEndContract) {
  const GoldenSet& set = *set_;
  const int64_t n = static_cast<int64_t>(tokens_.size()), vocab = set.vocab();
  auto checkpoint = Checkpoint::Open(set.dir());
  ASSERT_TRUE(checkpoint) << checkpoint.error();
  auto weights = forward::LoadModelWeights(**checkpoint, set.dir().string());
  ASSERT_TRUE(weights) << weights.error();
  CudaStream stream;
  DeviceModel model = UploadModel(*weights, (*checkpoint)->config(), n, stream);
  const int64_t chunk = 37;
  ASSERT_GE(n % chunk == 0 ? chunk : n % chunk, kTensorMinInputs);
  DeviceSequence seq = DeviceSequence::Create(model, stream);
  std::vector<float> prefill;
  {
    const test_support::RowsKernelScope tensor(RowsKernel::kTensor);
    prefill = ChunkedPrefill(model, seq, tokens_, chunk, vocab, stream);
  }
  ExpectEndToEndContract(Compare(prefill.data(), reference_.data(), n, vocab), n,
                         set.name() + " tensor-core chunked prefill vs reference");
}

// The exact numerics on the device (a model loaded with Numerics::kExact: device_model_upload.h
// UseExactNumerics, every product in double and attention one CTA per head), through the
// generation seam (DeviceSequenceModel: decode steps as CUDA graphs, prompts in chunks of rows):
// the reference's logits bit for bit, as the CPU's exact numerics give them, token by token and
// as one chunked prompt.
TEST_P(CudaModelGoldenTest, ExactNumericsGiveTheReferencesBits) {
  const GoldenSet& set = *set_;
  const std::vector<int32_t>& tokens = tokens_;
  const std::vector<float>& reference = reference_;
  const int64_t n = static_cast<int64_t>(tokens.size()), vocab = set.vocab();
  const OnTheDevice loaded = LoadOnTheDevice(set.dir(), Numerics::kExact, n);
  ASSERT_NE(loaded.device, nullptr);
  DeviceSequenceModel* const device = loaded.device.get();
  const auto expect_reference_bits = [&](const std::vector<float>& got, const std::string& what) {
    ASSERT_EQ(got.size(), reference.size()) << what;
    int64_t differ = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      differ += test_support::Bits(got[i]) != test_support::Bits(reference[i]) ? 1 : 0;
    }
    std::printf("%s %s: %lld of %zu logits differ from the reference's bits; %s\n",
                set.name().c_str(), what.c_str(), static_cast<long long>(differ), got.size(),
                Describe(Compare(got.data(), reference.data(), n, vocab)).c_str());
    EXPECT_EQ(differ, 0) << set.name() << " " << what;
  };
  std::vector<float> decoded;
  auto seq = device->NewSequence();
  for (const int32_t t : tokens) {
    auto row = device->Forward(*seq, std::span<const int32_t>(&t, 1), {});
    ASSERT_TRUE(row) << row.error();
    decoded.insert(decoded.end(), row->begin(), row->end());
  }
  expect_reference_bits(decoded, "exact decode on the device");
  auto prompt = device->Forward(*device->NewSequence(), tokens, {});
  ASSERT_TRUE(prompt) << prompt.error();
  expect_reference_bits(*prompt, "exact chunked prompt on the device");
  EXPECT_TRUE(device->Graphs().on || GraphsDisabledByEnvironment()) << device->Graphs().off_reason;
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, CudaModelGoldenTest,
                         ::testing::Values("v4-tiny", "v4-tiny-c"),
                         [](const auto& p) { return forward::testing::TestName(p.param); });

// The golden sweep (tests/data/golden-sweep, docs/GOLDEN.md: window only, CSA at layer 0, HCA 8,
// 16 and 128, index top-k binding and not, 0-3 hash layers, 1-6 experts a token, 8 output groups,
// a window of 128, YaRN on and off; two seeds each), which the CPU engine is held to bit for bit,
// on the device through the generation seam: the set's first part as one prompt (chunks of rows),
// the rest decoded a token at a time (decode steps as CUDA graphs), against the reference's logits
// of that same split (prefill300_logits, decode_logits). The weights are written again from the
// set's seed. On the emulator flash-widths (V4-Flash's widths) and the second seeds are left to a
// GPU.
class CudaSweepGoldenTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    REQUIRE_CUDA_DEVICE();
#if defined(DSAGENT_CUDA_EMULATION)
    // On the emulator (CI), each configuration's first seed only: the second gives other weights
    // to the same code paths, for half a minute of CI's time more.
    if (GetParam() == "flash-widths-s1") GTEST_SKIP() << "V4-Flash's widths: minutes here";
    if (GetParam().ends_with("-s2")) GTEST_SKIP() << "the second seed runs on a GPU only";
#endif
    set_.emplace(test_support::TestDataDir() / "golden-sweep" / GetParam());
    ASSERT_GT(set_->prefill_part(), 0);
    ASSERT_LT(set_->prefill_part(), set_->tokens());
  }

  // Every row's logits of the prompt, then of each decode step, on the device in `numerics`
  // (empty, with a failure, when the model does not load or a call fails).
  std::vector<float> PromptThenDecode(Numerics numerics) {
    TempDir dir;
    const std::string written = forward::testing::WriteSweepCheckpoint(*set_, dir.path());
    if (!written.empty()) {
      ADD_FAILURE() << written;
      return {};
    }
    const auto tokens = set_->Read<int32_t>("tokens");
    const int64_t n = set_->tokens(), part = set_->prefill_part();
    const OnTheDevice loaded = LoadOnTheDevice(dir.path(), numerics, n);
    if (loaded.device == nullptr) return {};
    DeviceSequenceModel& device = *loaded.device;
    auto seq = device.NewSequence();
    auto logits = device.Forward(*seq, std::span<const int32_t>(tokens.data(), part), {});
    if (!logits) {
      ADD_FAILURE() << logits.error();
      return {};
    }
    for (int64_t pos = part; pos < n; ++pos) {
      auto row =
          device.Forward(*seq, std::span<const int32_t>(&tokens[static_cast<size_t>(pos)], 1), {});
      if (!row) {
        ADD_FAILURE() << "decode at " << pos << ": " << row.error();
        return {};
      }
      logits->insert(logits->end(), row->begin(), row->end());
    }
    return std::move(*logits);
  }

  std::optional<GoldenSet> set_;
};

// Fast numerics, the default kernels: every row within the end-to-end contract.
TEST_P(CudaSweepGoldenTest, PromptAndDecodeStayWithinTheEndToEndContract) {
  const GoldenSet& set = *set_;
  const int64_t n = set.tokens(), part = set.prefill_part(), vocab = set.vocab();
  const std::vector<float> logits = PromptThenDecode(Numerics::kFast);
  ASSERT_EQ(logits.size(), static_cast<size_t>(n * vocab));
  const auto prompt = set.Read<float>("prefill300_logits");
  const auto decode = set.Read<float>("decode_logits");
  ExpectEndToEndContract(Compare(logits.data(), prompt.data(), part, vocab), part,
                         set.name() + " prompt of " + std::to_string(part) + " on the device");
  ExpectEndToEndContract(Compare(logits.data() + part * vocab, decode.data(), n - part, vocab),
                         n - part, set.name() + " decode steps on the device");
}

// Exact numerics (every product in double, attention one CTA per head): the reference's bits.
TEST_P(CudaSweepGoldenTest, ExactNumericsGiveTheReferencesBits) {
#if defined(DSAGENT_CUDA_EMULATION)
  // Double products make these minutes of CI's time; v4-tiny's and v4-tiny-c's exact tests run
  // here (docs/BENCHMARKS.md, session 31: the first seeds gave the reference's bits here too).
  GTEST_SKIP() << "exact numerics over the sweep run on a GPU only";
#endif
  const GoldenSet& set = *set_;
  const int64_t n = set.tokens(), part = set.prefill_part(), vocab = set.vocab();
  const std::vector<float> logits = PromptThenDecode(Numerics::kExact);
  ASSERT_EQ(logits.size(), static_cast<size_t>(n * vocab));
  std::vector<float> reference = set.Read<float>("prefill300_logits");
  const auto decode = set.Read<float>("decode_logits");
  reference.insert(reference.end(), decode.begin(), decode.end());
  ASSERT_EQ(reference.size(), logits.size());
  int64_t differ = 0, first = -1;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (test_support::Bits(logits[i]) == test_support::Bits(reference[i])) continue;
    if (first < 0) first = static_cast<int64_t>(i) / vocab;
    ++differ;
  }
  std::printf("%s exact on the device: %lld of %zu logits differ from the reference's bits\n",
              set.name().c_str(), static_cast<long long>(differ), logits.size());
  EXPECT_EQ(differ, 0) << set.name() << ": the first in row " << first << " (the prompt is " << part
                       << " rows)";
}

INSTANTIATE_TEST_SUITE_P(
    Sweep, CudaSweepGoldenTest,
    ::testing::ValuesIn(forward::testing::SweepSetNames(test_support::TestDataDir())),
    [](const auto& p) { return forward::testing::TestName(p.param); });

}  // namespace
}  // namespace dsagent::engine::kernels::cuda::model_test
