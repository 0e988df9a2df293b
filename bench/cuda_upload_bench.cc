// The weights' upload at load (engine/kernels/cuda/upload_staging.h): the host-to-device rate of a
// set of V4-Flash-shaped routed experts (FP4 2048 x 4096: 4 MiB of codes and 256 KiB of scales
// each) uploaded as UploadModel uploads them (DeviceWeightSet::Upload, one synchronisation for
// the set), from the same resident pageable memory:
//   driver   through the driver's own staging (DSAGENT_CUDA_UPLOAD_STAGING=off at load);
//   staged   through the page-locked staging buffers (the default at load), and with one host
//            thread copying (staged-1);
//   pinned   from page-locked memory, what the link itself gives (no host copy at all).
// Each way the best of --reps uploads; after each, the first and last experts are read back and
// compared with the source (a fast wrong path is no result). Run by scripts/gpu-check.sh;
// docs/BENCHMARKS.md has the method. On the CUDA emulator (ctest) it only runs the paths.
//   cuda_upload_bench [--mib N (4096)] [--reps R (2)] [--json FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/upload_staging.h"
#include "engine/kernels/cuda_probe.h"

namespace {
namespace k = dsagent::engine::kernels;
namespace kc = dsagent::engine::kernels::cuda;

constexpr int64_t kRows = 2048, kCols = 4096;  // V4-Flash's w1 / w3 shape
constexpr size_t kCodeBytes = kRows * kCols / 2, kScaleBytes = kRows * (kCols / 32);
constexpr size_t kExpertBytes = kCodeBytes + kScaleBytes;

struct Way {
  const char* name;
  double seconds = 0;  // the best upload's
};

// The experts as WeightRows over `memory` (kExpertBytes each: codes, then scales).
std::vector<k::WeightRows> Experts(const uint8_t* memory, int64_t count) {
  std::vector<k::WeightRows> w;
  for (int64_t e = 0; e < count; ++e) {
    const uint8_t* at = memory + e * kExpertBytes;
    w.push_back(k::WeightRows{k::WeightFormat::kFP4, at, at + kCodeBytes, kCols, kCols / 32});
  }
  return w;
}

bool SameAsSource(const kc::DeviceWeightSet& set, const uint8_t* memory, kc::CudaStream& stream) {
  std::vector<uint8_t> back(kCodeBytes);
  for (const size_t e : {size_t{0}, set.weights.size() - 1}) {
    const uint8_t* at = memory + e * kExpertBytes;
    set.weights[e].data.Download(back.data(), kCodeBytes, stream);
    if (std::memcmp(back.data(), at, kCodeBytes) != 0) return false;
    set.weights[e].scale.Download(back.data(), kScaleBytes, stream);
    if (std::memcmp(back.data(), at + kCodeBytes, kScaleBytes) != 0) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t mib = 4096;
  int reps = 2;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--mib") && i + 1 < argc) mib = std::atoll(argv[++i]);
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
  }
  const k::CudaProbe probe = k::ProbeCuda();
  if (probe.devices.empty()) {
    std::fprintf(stderr, "cuda_upload_bench: %s\n", probe.problem.c_str());
    return 2;
  }
  const int64_t count = std::max<int64_t>(2, (mib << 20) / static_cast<int64_t>(kExpertBytes));
  const size_t bytes = static_cast<size_t>(count) * kExpertBytes;
  try {
    kc::UseDevice(0);
    kc::CudaStream stream;
    // Resident pageable memory (every page written), and a page-locked copy of it.
    std::vector<uint8_t> pageable(bytes);
    for (size_t i = 0; i < bytes; ++i) pageable[i] = static_cast<uint8_t>(i * 2654435761u >> 13);
    kc::PinnedHostBuffer pinned(bytes);
    std::memcpy(pinned.as<uint8_t>(), pageable.data(), bytes);
    const std::vector<k::WeightRows> from_pageable = Experts(pageable.data(), count);
    const std::vector<k::WeightRows> from_pinned = Experts(pinned.as<uint8_t>(), count);

    std::vector<Way> ways = {{"driver"}, {"staged"}, {"staged-1"}, {"pinned"}};
    for (Way& way : ways) {
      const std::string name = way.name;
      const bool staged = name.rfind("staged", 0) == 0;
      kc::UploadStagingShape shape;
      if (name == "staged-1") shape.threads = 1;
      for (int r = 0; r < reps; ++r) {
        std::optional<kc::UploadStaging> staging;
        if (staged) staging.emplace(shape);  // outside the timing: made once at load
        stream.Synchronize();
        const auto t0 = std::chrono::steady_clock::now();
        stream.SetUploadStaging(staging ? &*staging : nullptr);
        kc::DeviceWeightSet set = kc::DeviceWeightSet::Upload(
            name == "pinned" ? from_pinned : from_pageable, kRows, stream);
        stream.SetUploadStaging(nullptr);
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (r == 0 || s < way.seconds) way.seconds = s;
        if (!SameAsSource(set, pageable.data(), stream)) {
          std::fprintf(stderr, "cuda_upload_bench: the %s upload's bytes differ from the source\n",
                       way.name);
          return 1;
        }
      }
    }
    std::printf("device %s: %lld experts of %.2f MiB (FP4 %lldx%lld), %.2f GB, best of %d\n",
                probe.devices[0].name.c_str(), static_cast<long long>(count),
                kExpertBytes / 1048576.0, static_cast<long long>(kRows),
                static_cast<long long>(kCols), bytes / 1e9, reps);
    const double pinned_s = ways.back().seconds;
    for (const Way& w : ways) {
      std::printf("upload %-9s %8.3f s  %7.2f GB/s  %5.1f%% of pinned\n", w.name, w.seconds,
                  bytes / w.seconds / 1e9, 100.0 * pinned_s / w.seconds);
    }
    if (!json_path.empty()) {
      std::ofstream j(json_path);
      j << "{\"device\": \"" << probe.devices[0].name << "\", \"bytes\": " << bytes
        << ", \"experts\": " << count << ", \"reps\": " << reps;
      for (const Way& w : ways) {
        std::string key = w.name;
        std::replace(key.begin(), key.end(), '-', '_');
        j << ", \"" << key << "_gbps\": " << bytes / w.seconds / 1e9;
      }
      j << "}\n";
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_upload_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
