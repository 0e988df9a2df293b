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
  // Whatever this machine has, cuda is refused today (not built, no device, or no GPU forward).
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
  // cpu keeps today's behaviour.
  r = RunDsagent(dir, logits + " --device cpu");
  EXPECT_EQ(r.exit_code, 0) << r.err;
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
