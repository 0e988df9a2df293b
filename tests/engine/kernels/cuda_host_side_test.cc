// The device-free parts of the CUDA backend: weight upload layout, --device parsing and the
// checks that refuse a device the engine cannot use, and the probe's answer in this build.
#include <gtest/gtest.h>

#include "engine/kernels/cuda/weight_upload.h"
#include "engine/kernels/cuda_probe.h"
#include "engine/kernels/device_spec.h"

namespace dsagent::engine::kernels {
namespace {

TEST(CudaWeightUploadTest, LayoutIsTheStoredBytesAndScales) {
  auto fp8 = cuda::UploadLayout(WeightFormat::kFP8, 1536, 7168);
  ASSERT_TRUE(fp8) << fp8.error();
  EXPECT_EQ(fp8->data_bytes, 1536 * 7168);
  EXPECT_EQ(fp8->scale_rows, 12);
  EXPECT_EQ(fp8->scale_cols, 56);
  // Partial 128-blocks round up.
  auto odd = cuda::UploadLayout(WeightFormat::kFP8, 130, 200);
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->scale_rows, 2);
  EXPECT_EQ(odd->scale_cols, 2);
  EXPECT_EQ(odd->total_bytes(), 130 * 200 + 4);
  auto fp4 = cuda::UploadLayout(WeightFormat::kFP4, 2048, 7168);
  ASSERT_TRUE(fp4);
  EXPECT_EQ(fp4->data_bytes, 2048 * 3584);
  EXPECT_EQ(fp4->scale_rows, 2048);
  EXPECT_EQ(fp4->scale_cols, 224);
  auto bf16 = cuda::UploadLayout(WeightFormat::kBF16, 3, 5);
  ASSERT_TRUE(bf16);
  EXPECT_EQ(bf16->data_bytes, 30);
  EXPECT_EQ(bf16->scale_bytes(), 0);
  auto f32 = cuda::UploadLayout(WeightFormat::kF32, 3, 5);
  ASSERT_TRUE(f32);
  EXPECT_EQ(f32->data_bytes, 60);
}

TEST(CudaWeightUploadTest, RefusesShapesTheFormatCannotHave) {
  auto fp4 = cuda::UploadLayout(WeightFormat::kFP4, 4, 48);
  ASSERT_FALSE(fp4);
  EXPECT_NE(fp4.error().find("multiple of 32"), std::string::npos) << fp4.error();
  auto empty = cuda::UploadLayout(WeightFormat::kBF16, 0, 5);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().find("[0, 5]"), std::string::npos) << empty.error();
}

TEST(DeviceSpecTest, ParsesCpuCudaAndCudaN) {
  auto cpu = ParseDeviceSpec("cpu");
  ASSERT_TRUE(cpu);
  EXPECT_EQ(cpu->kind, DeviceKind::kCpu);
  auto cuda = ParseDeviceSpec("cuda");
  ASSERT_TRUE(cuda);
  EXPECT_EQ(cuda->kind, DeviceKind::kCuda);
  EXPECT_EQ(cuda->index, 0);
  auto three = ParseDeviceSpec("cuda:3");
  ASSERT_TRUE(three);
  EXPECT_EQ(three->index, 3);
  EXPECT_EQ(three->Name(), "cuda:3");
  for (const char* bad : {"gpu", "cuda:", "cuda:-1", "cuda:1x", "CUDA", "cuda:0:1", ""}) {
    auto r = ParseDeviceSpec(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().find("use cpu, cuda or cuda:N"), std::string::npos) << r.error();
  }
}

TEST(DeviceSpecTest, GpuMemoryIsAPositiveSizeForACudaDevice) {
  const DeviceSpec cpu{};
  const DeviceSpec cuda{DeviceKind::kCuda, 0};
  auto none = ParseGpuMemory("", cuda);
  ASSERT_TRUE(none) << none.error();
  EXPECT_EQ(*none, 0);
  auto g24 = ParseGpuMemory("24G", cuda);
  ASSERT_TRUE(g24) << g24.error();
  EXPECT_EQ(*g24, 24LL << 30);
  auto bytes = ParseGpuMemory("1000000", cuda);
  ASSERT_TRUE(bytes) << bytes.error();
  EXPECT_EQ(*bytes, 1000000);
  EXPECT_TRUE(ParseGpuMemory("", cpu)) << "no cap is fine for cpu";
  for (const char* bad : {"lots", "0", "-4G", "24X", "G"}) {
    auto r = ParseGpuMemory(bad, cuda);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().find("is not a size (e.g. 24G"), std::string::npos) << r.error();
  }
  auto for_cpu = ParseGpuMemory("24G", cpu);
  ASSERT_FALSE(for_cpu);
  EXPECT_NE(for_cpu.error().find("the device is cpu: use it with cuda[:N]"), std::string::npos)
      << for_cpu.error();
}

// The runtime's text for a machine without a driver blames the driver's version; the reason names
// which of the three it is.
TEST(CudaProbeTest, SaysWhetherTheDriverIsMissingOldOrSeesNoGpu) {
  const std::string insufficient = "CUDA driver version is insufficient for CUDA runtime version";
  const std::string none = NoCudaDeviceReason(35, insufficient, 0, 13000);
  EXPECT_EQ(none.rfind("no CUDA device: ", 0), 0u) << none;
  EXPECT_NE(none.find("no NVIDIA driver is installed"), std::string::npos) << none;

  const std::string old = NoCudaDeviceReason(35, insufficient, 12040, 13000);
  EXPECT_NE(old.find("the NVIDIA driver (CUDA 12.4) is older than the CUDA 13.0 runtime"),
            std::string::npos)
      << old;
  EXPECT_NE(old.find("update the driver"), std::string::npos) << old;

  for (int error : {100, 0}) {  // cudaErrorNoDevice, or a count of 0
    const std::string no_gpu =
        NoCudaDeviceReason(error, "no CUDA-capable device is detected", 13000, 13000);
    EXPECT_NE(no_gpu.find("the NVIDIA driver (CUDA 13.0) reports no GPU"), std::string::npos)
        << no_gpu;
    EXPECT_NE(no_gpu.find("CUDA_VISIBLE_DEVICES"), std::string::npos) << no_gpu;
  }
  EXPECT_EQ(NoCudaDeviceReason(999, "unknown error", 13000, 13000),
            "no CUDA device: unknown error");
}

TEST(DeviceSpecTest, SaysWhyACudaDeviceCannotBeUsed) {
  const DeviceSpec cpu{};
  const DeviceSpec cuda1{DeviceKind::kCuda, 1};
  CudaProbe not_built;
  not_built.problem = "CUDA backend not built (x)";
  EXPECT_FALSE(DeviceUnavailable(cpu, not_built));
  auto why = DeviceUnavailable(cuda1, not_built);
  ASSERT_TRUE(why);
  EXPECT_EQ(why->rfind("cuda:1: ", 0), 0u) << *why;
  EXPECT_NE(why->find("built without the CUDA backend"), std::string::npos) << *why;
  EXPECT_NE(why->find("--device cpu"), std::string::npos) << *why;

  CudaProbe no_device;
  no_device.built = true;
  no_device.problem = "no CUDA device: CUDA driver version is insufficient";
  why = DeviceUnavailable(cuda1, no_device);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("no CUDA device: CUDA driver"), std::string::npos) << *why;

  CudaProbe one;
  one.built = true;
  one.devices.push_back({.index = 0, .name = "GPU", .total_bytes = 1LL << 34});
  why = DeviceUnavailable(cuda1, one);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("no such device: this machine has 1 (cuda:0)"), std::string::npos) << *why;
  // Device 0 exists: the engine can run there.
  EXPECT_FALSE(DeviceUnavailable(DeviceSpec{DeviceKind::kCuda, 0}, one));

  // The probe lists the devices that answered: device 0 did not, device 1 did. A list position
  // is not a device index.
  CudaProbe second_only;
  second_only.built = true;
  second_only.devices.push_back({.index = 1, .name = "GPU1", .total_bytes = 1LL << 34});
  why = DeviceUnavailable(DeviceSpec{DeviceKind::kCuda, 0}, second_only);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("no such device: this machine has 1 (cuda:1)"), std::string::npos) << *why;
  EXPECT_FALSE(DeviceUnavailable(cuda1, second_only));
  ASSERT_NE(FindDevice(second_only, 1), nullptr);
  EXPECT_EQ(FindDevice(second_only, 1)->name, "GPU1");
  EXPECT_EQ(FindDevice(second_only, 0), nullptr);
}

// Which devices a build's kernels run on: SASS on its own major at or above its minor, PTX on
// anything at or above it, an "a" architecture on itself alone.
TEST(CudaProbeTest, SaysWhichDevicesABuildsArchitecturesRunOn) {
  const std::string defaults = "90-real,100-real,120-real,90-virtual";  // cmake/Cuda.cmake's
  EXPECT_TRUE(ArchitecturesRunOn(defaults, 9, 0));                      // H100, H200: SASS
  EXPECT_TRUE(ArchitecturesRunOn(defaults, 10, 0));                     // B200: SASS
  EXPECT_TRUE(ArchitecturesRunOn(defaults, 12, 0));                     // RTX 5090: SASS
  EXPECT_TRUE(ArchitecturesRunOn(defaults, 10, 3));                     // SASS 10.0 on 10.3
  EXPECT_TRUE(ArchitecturesRunOn(defaults, 11, 0));                     // no SASS: the 9.0 PTX
  EXPECT_FALSE(ArchitecturesRunOn(defaults, 8, 9));                     // RTX 4090
  EXPECT_FALSE(ArchitecturesRunOn(defaults, 8, 0));                     // A100
  EXPECT_FALSE(ArchitecturesRunOn("90-real;100-real", 12, 0));          // no PTX to compile
  EXPECT_TRUE(ArchitecturesRunOn("80-real", 8, 6));                     // within a major
  EXPECT_FALSE(ArchitecturesRunOn("86-real", 8, 0));                    // not below its minor
  EXPECT_FALSE(ArchitecturesRunOn("80-real", 9, 0));                    // nor across majors
  EXPECT_TRUE(ArchitecturesRunOn("89", 9, 0));                          // plain 89: SASS and PTX
  EXPECT_FALSE(ArchitecturesRunOn("89-real", 9, 0));
  EXPECT_TRUE(ArchitecturesRunOn("90a-real", 9, 0));
  EXPECT_FALSE(ArchitecturesRunOn("90a-real", 10, 0));  // arch-specific: itself alone
  EXPECT_TRUE(ArchitecturesRunOn("100f-real", 10, 3));  // family-specific: its family
  EXPECT_FALSE(ArchitecturesRunOn("100f-real", 12, 0));
  EXPECT_FALSE(ArchitecturesRunOn("100f", 12, 0));  // and no PTX for later majors
  EXPECT_TRUE(ArchitecturesRunOn("", 7, 5));        // nothing recorded: no verdict
  EXPECT_TRUE(ArchitecturesRunOn("native", 8, 9));
}

// A device the build has no kernels for is refused before anything is uploaded, saying how to
// rebuild for it (or that it is too old), and `doctor`'s line says so.
TEST(CudaProbeTest, ADeviceWithoutKernelsInThisBuildIsRefusedNamingTheRebuild) {
  CudaProbe probe;
  probe.built = true;
  probe.architectures = "90-real,90-virtual";
  CudaDeviceInfo ada{.index = 0,
                     .name = "RTX 4090",
                     .total_bytes = 24LL << 30,
                     .free_bytes = 23LL << 30,
                     .cc_major = 8,
                     .cc_minor = 9};
  ada.has_kernels = ArchitecturesRunOn(probe.architectures, 8, 9);
  ASSERT_FALSE(ada.has_kernels);
  probe.devices.push_back(ada);
  const auto why = DeviceUnavailable(DeviceSpec{DeviceKind::kCuda, 0}, probe);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("cuda:0: RTX 4090: "), std::string::npos) << *why;
  EXPECT_NE(why->find("90-real,90-virtual, none of which runs on compute 8.9"), std::string::npos)
      << *why;
  EXPECT_NE(why->find("-DCMAKE_CUDA_ARCHITECTURES=89"), std::string::npos) << *why;
  EXPECT_NE(why->find("--device cpu"), std::string::npos) << *why;
  EXPECT_NE(DescribeCuda(probe).find("[not usable: "), std::string::npos) << DescribeCuda(probe);
  EXPECT_NE(DescribeCuda(probe).find(", kernels for 90-real,90-virtual"), std::string::npos)
      << DescribeCuda(probe);

  CudaDeviceInfo turing{.index = 0, .name = "T4", .cc_major = 7, .cc_minor = 5};
  turing.has_kernels = false;
  EXPECT_NE(MissingKernels(probe, turing).find("needs compute 8.0 (Ampere) or newer"),
            std::string::npos)
      << MissingKernels(probe, turing);
  CudaDeviceInfo hopper{.index = 0, .name = "H200", .cc_major = 9, .cc_minor = 0};
  EXPECT_EQ(MissingKernels(probe, hopper), "");
  probe.devices = {hopper};
  EXPECT_FALSE(DeviceUnavailable(DeviceSpec{DeviceKind::kCuda, 0}, probe));
  EXPECT_EQ(DescribeCuda(probe).find("not usable"), std::string::npos);
}

// A placement plans for the memory the driver reported free (what other allocations leave), not
// the total; --gpu-memory caps that, and a cap above it plans for the free memory, saying so.
TEST(CudaProbeTest, APlacementPlansForTheFreeMemoryCappedByGpuMemory) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  const CudaDeviceInfo busy{
      .index = 0, .name = "GPU", .total_bytes = 24 * kGiB, .free_bytes = 20 * kGiB};
  PlanningMemory m = PlanningMemoryOf(busy, 0);
  EXPECT_EQ(m.bytes, 20 * kGiB);
  EXPECT_EQ(m.basis, "20.0 GiB free of 24.0 GiB");
  m = PlanningMemoryOf(busy, 16 * kGiB);
  EXPECT_EQ(m.bytes, 16 * kGiB);
  EXPECT_EQ(m.basis, "capped by --gpu-memory");
  m = PlanningMemoryOf(busy, 20 * kGiB);  // exactly the free memory: the cap
  EXPECT_EQ(m.bytes, 20 * kGiB);
  EXPECT_EQ(m.basis, "capped by --gpu-memory");
  m = PlanningMemoryOf(busy, 22 * kGiB);
  EXPECT_EQ(m.bytes, 20 * kGiB);
  EXPECT_EQ(m.basis,
            "--gpu-memory 22.0 GiB is more than the 20.0 GiB free of 24.0 GiB: planned for the "
            "free memory");
  // No free figure (cudaMemGetInfo failed at the probe): the total, capped.
  const CudaDeviceInfo unknown{.index = 0, .name = "GPU", .total_bytes = 24 * kGiB};
  m = PlanningMemoryOf(unknown, 0);
  EXPECT_EQ(m.bytes, 24 * kGiB);
  EXPECT_EQ(m.basis, "24.0 GiB (the driver reported no free memory figure)");
  m = PlanningMemoryOf(unknown, 8 * kGiB);
  EXPECT_EQ(m.bytes, 8 * kGiB);
  EXPECT_EQ(m.basis, "capped by --gpu-memory");
  EXPECT_EQ(PlanningMemoryOf(unknown, 30 * kGiB).bytes, 24 * kGiB);
}

TEST(CudaProbeTest, ReportsThisBuildAndNeverThrows) {
  const CudaProbe probe = ProbeCuda();
#ifdef DSAGENT_HAVE_CUDA
  EXPECT_TRUE(probe.built);
  EXPECT_GT(probe.runtime_version, 0);
  if (probe.devices.empty()) {
    EXPECT_NE(probe.problem.find("no CUDA device: "), std::string::npos) << probe.problem;
    EXPECT_NE(DescribeCuda(probe).find("backend built"), std::string::npos);
  } else {
    EXPECT_GT(probe.devices[0].total_bytes, 0);
    EXPECT_NE(DescribeCuda(probe).find("cuda:0 "), std::string::npos) << DescribeCuda(probe);
  }
#else
  EXPECT_FALSE(probe.built);
  EXPECT_TRUE(probe.devices.empty());
  EXPECT_EQ(DescribeCuda(probe).rfind("CUDA: not built", 0), 0u) << DescribeCuda(probe);
#endif
}

}  // namespace
}  // namespace dsagent::engine::kernels
