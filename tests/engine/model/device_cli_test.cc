// The CUDA backend's command-line surface through the real binary: `engine inspect` placement
// plans (no GPU needed with --gpu-memory), and `--device` on the commands that run the model,
// which refuse a device they cannot use with exit 2 and the reason.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/json.h"
#include "engine/kernels/cuda_probe.h"
#include "tests/support/command_output.h"
#include "tests/support/temp_dir.h"

namespace dsagent {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kFlashConfig =
    (fs::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-flash-config.json").string();
const std::string kTinyModel = (fs::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny").string();

dsagent::testing::CommandResult RunDsagent(const TempDir& dir, const std::string& args) {
  return dsagent::testing::RunCommand(std::string(DSAGENT_BINARY) + " " + args, dir.path());
}

TEST(DeviceCliTest, InspectPlansAPlacementForAGivenDeviceSize) {
  TempDir dir;
  auto r = RunDsagent(dir, "engine inspect --config '" + kFlashConfig + "' --gpu-memory 48G");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("placement"));
  EXPECT_THAT(r.out, HasSubstr("routed experts"));
  EXPECT_THAT(r.out, HasSubstr("in pinned host memory (CPU kernels)"));
  EXPECT_THAT(r.out, HasSubstr("layers.0-"));
  if (engine::kernels::ProbeCuda().devices.empty()) {
    EXPECT_THAT(r.out, HasSubstr("placement plan for a device of 48G (plan only: "));
  }
  r = RunDsagent(dir, "engine inspect --config '" + kFlashConfig + "' --gpu-memory 48G --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = Json::parse(r.out);
  EXPECT_EQ(j["placement"]["device_bytes"], 48LL << 30);
  EXPECT_GT(j["placement"]["experts_on_device"].get<int64_t>(), 0);
  EXPECT_LT(j["placement"]["experts_on_device"].get<int64_t>(),
            j["placement"]["experts_total"].get<int64_t>());
}

TEST(DeviceCliTest, InspectReservesKvStateForTheContextAndBatch) {
  TempDir dir;
  const std::string base = "engine inspect --config '" + kFlashConfig + "' --gpu-memory 96G --json";
  auto one = RunDsagent(dir, base + " --ctx-size 65536");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto eight = RunDsagent(dir, base + " --ctx-size 65536 --batch 8");
  ASSERT_EQ(eight.exit_code, 0) << eight.err;
  const Json a = Json::parse(one.out)["placement"], b = Json::parse(eight.out)["placement"];
  EXPECT_EQ(a["context"], 65536);
  EXPECT_EQ(b["batch"], 8);
  EXPECT_EQ(b["kv_reserve_bytes"].get<int64_t>(), 8 * a["kv_reserve_bytes"].get<int64_t>());
  EXPECT_EQ(a["reserve_bytes"].get<int64_t>(),
            a["kv_reserve_bytes"].get<int64_t>() + a["workspace_reserve_bytes"].get<int64_t>());
  EXPECT_LT(b["experts_on_device"].get<int64_t>(), a["experts_on_device"].get<int64_t>());
  // The text names the reserve's parts; --gpu-reserve replaces the estimate.
  auto text = RunDsagent(dir, "engine inspect --config '" + kFlashConfig +
                                  "' --gpu-memory 96G --ctx-size 65536 --batch 8");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("reserve: KV state of 8 sequence(s) x 65536 positions ("));
  EXPECT_THAT(text.out, HasSubstr(") + workspace ("));
  auto fixed = RunDsagent(dir, base + " --gpu-reserve 10G");
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_EQ(Json::parse(fixed.out)["placement"]["reserve_bytes"], 10LL << 30);
  auto bad = RunDsagent(dir, base + " --batch 0");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--batch: must be 1 or more"));
}

TEST(DeviceCliTest, InspectReportsTheCudaBackendWithThePlan) {
  TempDir dir;
  auto r = RunDsagent(dir, "engine inspect --config '" + kFlashConfig + "' --gpu-memory 48G");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto probe = engine::kernels::ProbeCuda();
  EXPECT_THAT(r.out, HasSubstr(engine::kernels::DescribeCuda(probe)));
  if (!probe.built) {
    EXPECT_THAT(r.out, HasSubstr("CUDA: not built"));
  } else if (probe.devices.empty()) {
    EXPECT_THAT(r.out, HasSubstr("CUDA: backend built (runtime "));
    EXPECT_THAT(r.out, HasSubstr("no CUDA device: "));
  }
  r = RunDsagent(dir, "engine inspect --config '" + kFlashConfig + "' --gpu-memory 48G --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Json::parse(r.out)["placement"]["cuda"], engine::kernels::DescribeCuda(probe));
}

TEST(DeviceCliTest, InspectSaysWhenTheModelCannotBePlaced) {
  TempDir dir;
  auto r = RunDsagent(dir, "engine inspect --config '" + kFlashConfig + "' --gpu-memory 3G");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("needs at least"));
  r = RunDsagent(dir, "engine inspect --config '" + kFlashConfig + "' --gpu-memory lots");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--gpu-memory: 'lots' is not a size"));
}

TEST(DeviceCliTest, InspectWithoutADeviceOrASizeAsksForOne) {
  if (!engine::kernels::ProbeCuda().devices.empty()) GTEST_SKIP() << "a GPU is present";
  TempDir dir;
  auto r = RunDsagent(dir, "engine inspect --config '" + kFlashConfig + "' --device cuda");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("add --gpu-memory SIZE"));
}

TEST(DeviceCliTest, CommandsThatRunTheModelRefuseAnUnusableDevice) {
  TempDir dir;
  const fs::path tokens = dir.Write("t.i32", std::string("\0\0\0\0", 4));
  const std::string logits = "engine logits --model '" + kTinyModel + "' --tokens '" +
                             tokens.string() + "' --out '" + (dir.path() / "o.f32").string() + "'";
  auto r = RunDsagent(dir, logits + " --device gpu");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("use cpu, cuda or cuda:N"));
  // cpu keeps today's behaviour.
  r = RunDsagent(dir, logits + " --device cpu");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Without a usable GPU (no CUDA build, no device), cuda is refused before the model loads.
  if (!engine::kernels::ProbeCuda().devices.empty()) {
    GTEST_SKIP() << "a GPU is present: --device cuda runs (engine_cuda_test covers it)";
  }
  r = RunDsagent(dir, logits + " --device cuda:0");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--device cuda:0: "));
  EXPECT_THAT(r.err, HasSubstr("use --device cpu"));
  r = RunDsagent(dir, "engine generate --model '" + kTinyModel + "' --tokens '" + tokens.string() +
                          "' --device cuda");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("use --device cpu"));
  r = RunDsagent(dir, "serve --model '" + kTinyModel + "' --device cuda:1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--device cuda:1: "));
}

// Exact numerics and MTP drafts both run on the GPU: the flags refuse neither (what fails is the
// missing cuda:7 or the model directory that does not exist), and on the CPU both are fine.
TEST(DeviceCliTest, CudaTakesExactNumericsAndMtp) {
  TempDir dir;
  const fs::path tokens = dir.Write("t.i32", std::string("\0\0\0\0", 4));
  const std::string generate =
      "engine generate --model /nonexistent --tokens '" + tokens.string() + "'";
  const std::string serve = "serve --model /nonexistent";
  for (const std::string& cmd : {generate, serve}) {
    auto r = RunDsagent(dir, cmd + " --device cuda:7 --speculative mtp");
    EXPECT_NE(r.exit_code, 0) << cmd;  // no cuda:7 here, or no model: not the flags
    EXPECT_THAT(r.err, Not(HasSubstr("CPU engine only"))) << cmd;
    r = RunDsagent(dir, cmd + " --device cuda:7 --numerics exact");
    EXPECT_NE(r.exit_code, 0) << cmd;  // no cuda:7 here, or no model: not the numerics
    EXPECT_THAT(r.err, Not(HasSubstr("CPU engine only"))) << cmd;
    // On the CPU both are fine: the missing model is what is refused.
    r = RunDsagent(dir, cmd + " --speculative mtp --numerics exact");
    EXPECT_NE(r.exit_code, 0) << cmd;
    EXPECT_THAT(r.err, Not(HasSubstr("CPU engine only"))) << cmd;
    EXPECT_THAT(r.err, HasSubstr("/nonexistent")) << cmd;
  }
}

TEST(DeviceCliTest, GpuMemoryIsCheckedBeforeTheModelLoads) {
  TempDir dir;
  const fs::path tokens = dir.Write("t.i32", std::string("\0\0\0\0", 4));
  // No model needed: a bad value is refused first.
  const std::string logits = "engine logits --model /nonexistent --tokens '" + tokens.string() +
                             "' --out '" + (dir.path() / "o.f32").string() + "'";
  const std::string generate =
      "engine generate --model /nonexistent --tokens '" + tokens.string() + "'";
  const std::string serve = "serve --model /nonexistent";
  for (const std::string& cmd : {logits, generate, serve}) {
    auto r = RunDsagent(dir, cmd + " --device cuda --gpu-memory lots");
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_THAT(r.err, HasSubstr("--gpu-memory: 'lots' is not a size (e.g. 24G")) << cmd;
    r = RunDsagent(dir, cmd + " --gpu-memory 24G");
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_THAT(r.err, HasSubstr("--gpu-memory: '24G' caps a GPU's memory, but the device is cpu"))
        << cmd;
    // A good cap: what is refused is the device (no CUDA build, no GPU) or, with a GPU, the
    // model directory that does not exist.
    r = RunDsagent(dir, cmd + " --device cuda --gpu-memory 24G");
    EXPECT_EQ(r.exit_code, 2) << cmd;
    if (engine::kernels::ProbeCuda().devices.empty()) {
      EXPECT_THAT(r.err, HasSubstr("--device cuda:0: ")) << cmd;
    }
    EXPECT_THAT(r.err, Not(HasSubstr("--gpu-memory"))) << cmd;
  }
}

TEST(DeviceCliTest, DoctorReportsTheCudaBackend) {
  TempDir dir;
  auto r = RunDsagent(dir, "doctor");
  EXPECT_THAT(r.out, HasSubstr("CUDA: "));
  const auto probe = engine::kernels::ProbeCuda();
  if (!probe.built) {
    EXPECT_THAT(r.out, HasSubstr("CUDA: not built"));
  } else if (probe.devices.empty()) {
    EXPECT_THAT(r.out, HasSubstr("CUDA: backend built (runtime "));
    EXPECT_THAT(r.out, HasSubstr("no CUDA device: "));
  }
}

}  // namespace
}  // namespace dsagent
