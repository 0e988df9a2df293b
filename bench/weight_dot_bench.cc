// Throughput of the fused dequantise-and-dot kernels (engine/kernels/cpu/weight_dot.h) on one
// core: a 32768 x 4096 weight in each stored format (BF16, FP8 + 128x128 scales, FP4 + per-32
// scales, random bytes with realistic scales), every row dotted with one activation row, for each
// variant this CPU runs. Reports stored bytes per second of thread CPU time (best of 3), the
// figure to hold against the single-core read bandwidth decode_bench measures.
//
// Usage: weight_dot_bench
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu/weight_dot.h"

namespace {
using namespace dsagent::engine::kernels;

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

}  // namespace

int main() {
  constexpr int64_t kRows = 32768, kCols = 4096;
  const struct {
    WeightFormat format;
    const char* name;
    int64_t row_bytes, scale_cols;
  } formats[] = {{WeightFormat::kBF16, "bf16", kCols * 2, 0},
                 {WeightFormat::kFP8, "fp8", kCols, kCols / 128},
                 {WeightFormat::kFP4, "fp4", kCols / 2, kCols / 32}};
  std::mt19937 rng(1);
  std::vector<float> x(kCols);
  std::normal_distribution<float> normal;
  for (float& v : x) v = normal(rng);
  DotInput input;
  input.Prepare(x.data(), kCols);
  std::vector<double> out(kRows);
  for (const auto& f : formats) {
    std::vector<uint8_t> data(static_cast<size_t>(kRows * f.row_bytes));
    for (auto& b : data) b = static_cast<uint8_t>(rng() & 0x7e);  // no FP8 NaN
    std::vector<uint8_t> scale(static_cast<size_t>(kRows * std::max<int64_t>(1, f.scale_cols)),
                               static_cast<uint8_t>(120));
    const WeightRows w{f.format, data.data(), scale.data(), kCols, f.scale_cols};
    for (CpuIsa isa : {CpuIsa::kAvx512, CpuIsa::kAvx2, CpuIsa::kScalar}) {
      if (!CpuSupports(isa)) continue;
      double best = 1e30;
      for (int rep = 0; rep < 3; ++rep) {
        const double t = ThreadCpuSeconds();
        WeightRowDots(isa, w, 0, kRows, input, out.data());
        best = std::min(best, ThreadCpuSeconds() - t);
      }
      std::printf("%-5s %-7s %6.1f ms for %4.0f MB: %5.2f GB/s (%.2f G weights/s)\n", f.name,
                  std::string(CpuIsaName(isa)).c_str(), best * 1e3,
                  static_cast<double>(data.size()) / 1e6,
                  static_cast<double>(data.size()) / best / 1e9,
                  static_cast<double>(kRows * kCols) / best / 1e9);
    }
  }
  return 0;
}
