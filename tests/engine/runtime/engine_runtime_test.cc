// EngineRuntime::Open on the tiny checkpoint: what it opens, and the errors a user sees for a
// missing model directory, a bad tokenizer and a KV directory that cannot be created.
#include "engine/runtime/engine_runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/file_io.h"
#include "engine/kernels/cuda_probe.h"
#include "engine/model/synthetic_checkpoint.h"
#include "engine/runtime/sequence_model_factory.h"

namespace dsagent::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

const fs::path kTinyModelDir = fs::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny";
const fs::path kTinyTokenizer =
    fs::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny-tokenizer/tokenizer.json";

// A fresh directory under the test's temp dir, removed at the end of the test.
class EngineRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("engine_runtime_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

TEST_F(EngineRuntimeTest, OpensTheTinyCheckpointWithItsTokenizerAndCaches) {
  auto runtime = EngineRuntime::Open({.model_dir = kTinyModelDir,
                                      .tokenizer_file = kTinyTokenizer,
                                      .threads = 1,
                                      .kv_dir = dir_ / "kv"});
  ASSERT_TRUE(runtime) << runtime.error();
  EngineRuntime& r = **runtime;
  EXPECT_EQ(r.model().config().vocab_size, 512);
  ASSERT_NE(r.tokenizer(), nullptr);
  EXPECT_NE(r.disk_store(), nullptr);
  ASSERT_NE(r.prefix_cache(), nullptr);
  EXPECT_EQ(r.prefix_cache()->alignment_tokens(), r.disk_store()->alignment_tokens());
  EXPECT_TRUE(fs::is_directory(dir_ / "kv"));

  // The completer answers a chat turn, and the same prompt again is a cache hit.
  ChatRequest request;
  request.messages = OrderedJson::array({{{"role", "user"}, {"content", "hello"}}});
  request.thinking = false;
  request.generate.max_tokens = 2;
  auto first = r.completer().Complete(request);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->usage.prompt_cache_hit_tokens, 0);
  auto second = r.completer().Complete(request);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->usage.prompt_cache_hit_tokens, second->usage.prompt_tokens - 1);
  EXPECT_EQ(second->generation.tokens, first->generation.tokens);
}

TEST_F(EngineRuntimeTest, WithoutKvDirOrMemoryCacheThereIsNoPrefixCache) {
  auto runtime = EngineRuntime::Open({.model_dir = kTinyModelDir,
                                      .tokenizer_file = kTinyTokenizer,
                                      .threads = 1,
                                      .memory_cache_entries = 0});
  ASSERT_TRUE(runtime) << runtime.error();
  EXPECT_EQ((*runtime)->prefix_cache(), nullptr);
  EXPECT_EQ((*runtime)->disk_store(), nullptr);

  auto memory_only = EngineRuntime::Open(
      {.model_dir = kTinyModelDir, .tokenizer_file = kTinyTokenizer, .threads = 1});
  ASSERT_TRUE(memory_only) << memory_only.error();
  EXPECT_NE((*memory_only)->prefix_cache(), nullptr);
  EXPECT_EQ((*memory_only)->disk_store(), nullptr);
}

TEST_F(EngineRuntimeTest, MissingModelDirectoryIsNamed) {
  const fs::path missing = dir_ / "no-such-model";
  auto runtime = EngineRuntime::Open({.model_dir = missing, .tokenizer_file = kTinyTokenizer});
  ASSERT_FALSE(runtime);
  EXPECT_THAT(runtime.error(), HasSubstr(missing.string()));

  auto none = EngineRuntime::Open({});
  ASSERT_FALSE(none);
  EXPECT_THAT(none.error(), HasSubstr("no model directory"));
}

TEST_F(EngineRuntimeTest, TheOpsBackendIsPassedToTheModel) {
  auto runtime = EngineRuntime::Open({.model_dir = kTinyModelDir,
                                      .tokenizer_file = kTinyTokenizer,
                                      .threads = 1,
                                      .backend = kernels::OpsBackend::kCuda});
  ASSERT_FALSE(runtime);
  EXPECT_THAT(runtime.error(), HasSubstr("'cuda' is not available"));
}

TEST_F(EngineRuntimeTest, BadTokenizerFileIsNamedUnlessNotRequired) {
  const fs::path bad = dir_ / "tokenizer.json";
  std::ofstream(bad) << "{ not json";
  auto runtime =
      EngineRuntime::Open({.model_dir = kTinyModelDir, .tokenizer_file = bad, .threads = 1});
  ASSERT_FALSE(runtime);
  EXPECT_THAT(runtime.error(), HasSubstr(bad.string()));

  // Token ids in and out (engine generate --tokens) run without one.
  auto ids_only = EngineRuntime::Open({.model_dir = kTinyModelDir,
                                       .tokenizer_file = bad,
                                       .tokenizer_required = false,
                                       .threads = 1});
  ASSERT_TRUE(ids_only) << ids_only.error();
  EXPECT_EQ((*ids_only)->tokenizer(), nullptr);
}

TEST_F(EngineRuntimeTest, KvDirThatCannotBeCreatedIsNamed) {
  // Under a regular file: no user (root included) can create it.
  const fs::path file = dir_ / "a-file";
  std::ofstream(file) << "x";
  const fs::path kv = file / "kv";
  auto runtime = EngineRuntime::Open(
      {.model_dir = kTinyModelDir, .tokenizer_file = kTinyTokenizer, .threads = 1, .kv_dir = kv});
  ASSERT_FALSE(runtime);
  EXPECT_THAT(runtime.error(), HasSubstr(kv.string()));
}

// Speculation (serve --speculative mtp, the local provider's `speculative`) needs an MTP block:
// a checkpoint without one is refused at open, saying so. With the tiny checkpoint's block the
// completer drafts, and a repeat of the prompt (a state a speculating turn stored) drafts too.
TEST_F(EngineRuntimeTest, SpeculationNeedsAnMtpBlock) {
  Json base = Json::parse(ReadFileToString(kTinyModelDir / "config.json").value());
  base["num_nextn_predict_layers"] = 0;
  base["compress_ratios"].erase(base["compress_ratios"].size() - 1);  // the MTP block's
  const fs::path no_mtp = dir_ / "no-mtp";
  auto written = WriteSyntheticCheckpoint(base, {.threads = 1}, no_mtp);
  ASSERT_TRUE(written) << written.error();
  ASSERT_EQ(written->config.n_mtp_layers, 0);
  const SpeculationSettings mtp{.mode = Speculative::kMtp};
  auto refused = EngineRuntime::Open(
      {.model_dir = no_mtp, .tokenizer_file = kTinyTokenizer, .threads = 1, .speculation = mtp});
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error(), HasSubstr("needs a checkpoint with an MTP block"));
  EXPECT_THAT(refused.error(), HasSubstr(no_mtp.string()));
  EXPECT_THAT(refused.error(), HasSubstr("--speculative off"));
  EXPECT_TRUE(EngineRuntime::Open({.model_dir = no_mtp, .tokenizer_file = kTinyTokenizer}));

  auto runtime = EngineRuntime::Open({.model_dir = kTinyModelDir,
                                      .tokenizer_file = kTinyTokenizer,
                                      .threads = 1,
                                      .speculation = mtp});
  ASSERT_TRUE(runtime) << runtime.error();
  ChatRequest request;
  request.messages = OrderedJson::array({{{"role", "user"}, {"content", "hello"}}});
  request.thinking = false;
  request.generate.max_tokens = 5;
  for (int turn = 0; turn < 2; ++turn) {
    auto r = (*runtime)->completer().Complete(request);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->usage.prompt_cache_hit_tokens, turn == 0 ? 0 : r->usage.prompt_tokens - 1);
    EXPECT_EQ(r->generation.speculative_off, "");
    EXPECT_GT(r->usage.speculative_drafted, 0) << "turn " << turn;
  }
}

}  // namespace
}  // namespace dsagent::engine

namespace dsagent::engine {
namespace {

// --device cuda refuses nothing a generation asks for before the model loads: MTP speculation
// and exact numerics both run on the GPU (the missing model is what fails here).
TEST(EngineRuntimeDeviceTest, TheGpuTakesExactNumericsAndMtp) {
  const kernels::DeviceSpec cuda{kernels::DeviceKind::kCuda, 0};
  SpeculationSettings mtp;
  mtp.mode = Speculative::kMtp;
  auto r = EngineRuntime::Open({.model_dir = "/nonexistent", .device = cuda, .speculation = mtp});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error(), HasSubstr("/nonexistent"));
  r = EngineRuntime::Open(
      {.model_dir = "/nonexistent", .numerics = kernels::Numerics::kExact, .device = cuda});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error(), Not(HasSubstr("CPU engine only")));
  EXPECT_THAT(r.error(), HasSubstr("/nonexistent"));
}

TEST(EngineRuntimeDeviceTest, AGpuThatIsNotThereIsNamed) {
  const kernels::CudaProbe probe = kernels::ProbeCuda();
  if (!probe.devices.empty()) GTEST_SKIP() << "a GPU is present (engine_cuda_test covers it)";
  auto r = EngineRuntime::Open({.model_dir = kTinyModelDir,
                                .tokenizer_required = false,
                                .threads = 1,
                                .device = {kernels::DeviceKind::kCuda, 0}});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error(), HasSubstr("cuda:0: "));
  EXPECT_THAT(r.error(), HasSubstr(probe.built ? probe.problem : "without the CUDA backend"));
}

TEST(EngineRuntimeDeviceTest, TheCpuHasNoPlacementAndTheModelsContext) {
  auto r = EngineRuntime::Open(
      {.model_dir = kTinyModelDir, .tokenizer_required = false, .threads = 1});
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ((*r)->placement(), "");
  EXPECT_EQ((*r)->context_limit(), 0);
}

// RuntimeKey: every option that changes what Open builds changes the key; the callbacks and the
// spelling of a directory do not.
TEST(RuntimeKeyTest, EveryOptionButTheCallbacksAndTheSpellingOfPathsCounts) {
  const EngineRuntimeOptions base{.model_dir = kTinyModelDir, .tokenizer_file = kTinyTokenizer};
  const std::string key = RuntimeKey(base);
  const std::vector<std::pair<const char*, std::function<void(EngineRuntimeOptions&)>>> changes = {
      {"model_dir", [](auto& o) { o.model_dir = kTinyModelDir.parent_path() / "v4-tiny-c"; }},
      {"tokenizer_file", [](auto& o) { o.tokenizer_file = ""; }},
      {"tokenizer_required", [](auto& o) { o.tokenizer_required = false; }},
      {"threads", [](auto& o) { o.threads = 3; }},
      {"numerics", [](auto& o) { o.numerics = kernels::Numerics::kExact; }},
      {"weights", [](auto& o) { o.weights = WeightResidency::kLoaded; }},
      {"backend", [](auto& o) { o.backend = kernels::OpsBackend::kCuda; }},
      {"device", [](auto& o) { o.device = {kernels::DeviceKind::kCuda, 1}; }},
      {"gpu_memory", [](auto& o) { o.gpu_memory = int64_t{1} << 30; }},
      {"context", [](auto& o) { o.context = 4096; }},
      {"memory_cache_entries", [](auto& o) { o.memory_cache_entries = 0; }},
      {"kv_dir", [](auto& o) { o.kv_dir = "/tmp/kv"; }},
      {"kv_max_bytes", [](auto& o) { o.kv_max_bytes = 1; }},
      {"max_batch", [](auto& o) { o.max_batch = 4; }},
      {"speculation.mode", [](auto& o) { o.speculation.mode = Speculative::kMtp; }},
      {"speculation.acceptance",
       [](auto& o) { o.speculation.acceptance = SpeculativeAcceptance::kStandard; }},
  };
  for (const auto& [name, change] : changes) {
    EngineRuntimeOptions o = base;
    change(o);
    EXPECT_NE(RuntimeKey(o), key) << name;
  }
  EngineRuntimeOptions same = base;
  same.model_dir = kTinyModelDir / ".." / "v4-tiny" / "";
  same.upload_progress = [](int64_t, int64_t) {};
  same.kv_log = [](const std::string&) {};
  EXPECT_EQ(RuntimeKey(same), key);
}

}  // namespace
}  // namespace dsagent::engine
