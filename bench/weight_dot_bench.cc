// Throughput of the fused dequantise-and-dot kernels on one core, both numerics: `exact`
// (engine/kernels/cpu/weight_dot.h, double accumulation) and `fast` (weight_dot_f32.h, fp32 per
// 128-column block). Each stored format (BF16, FP8 + 128x128 scales, FP4 + per-32 scales, random
// bytes with realistic scales), every row dotted with one activation row, for each variant this
// CPU runs. Reports stored bytes per second of thread CPU time (best of 3), and weights x inputs
// per second. The activation is bf16 values, as the model's are, so `fast` takes the pair order
// (vdpbf16ps where the CPU has AVX-512 BF16: the variant prints as avx512bf16); `fastN` is its
// batch (prefill) path with N inputs per call (BATCH, default 4); `fastc` is the columns order (an
// activation with a value not exact in bf16), the fast kernels before the pair order.
//
// Two sizes:
//   stream   a 32768 x 4096 weight (64-268 MB), read from memory once per pass: the figure to hold
//            against the single-core read bandwidth decode_bench measures;
//   cached   a 64 x 4096 weight (128-512 KB, inside L2) dotted 512 times: the kernel's compute
//            ceiling. A kernel whose cached figure is not well above the memory's read bandwidth
//            is compute-bound, and decode cannot reach the bandwidth floor through it.
//
// Usage: weight_dot_bench [stream|cached|both] [exact|fast|both] [BATCH]
// BATCH: inputs per call of the batch path (default 4; `fastN` in the output).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "bench/thread_cpu_clock.h"
#include "engine/forward/numerics.h"
#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/cpu/weight_dot_f32.h"

namespace {
using namespace dsagent::engine::kernels;

using dsagent::bench::ThreadCpuSeconds;

struct Format {
  WeightFormat format;
  const char* name;
  int64_t row_bytes_per_col_x2;  // stored bytes per row = cols * this / 2
  int64_t cols_per_scale;        // 0: no scales
};

constexpr int64_t kCols = 4096;

void Run(const char* size_name, int64_t rows, int passes, bool exact, bool fast, int64_t batch) {
  const Format formats[] = {{WeightFormat::kBF16, "bf16", 4, 0},
                            {WeightFormat::kFP8, "fp8", 2, 128},
                            {WeightFormat::kFP4, "fp4", 1, 32}};
  std::mt19937 rng(1);
  std::vector<float> x(kCols);
  std::normal_distribution<float> normal;
  for (float& v : x) v = dsagent::engine::forward::RoundBf16(normal(rng));
  DotInput input;
  input.Prepare(x.data(), kCols);
  // The batch (prefill) path: `batch` inputs per call; rates count weights x inputs.
  const int64_t kBatch = batch;
  DotInputF32 input_f32, input_cols;
  std::vector<DotInputF32> inputs_f32(static_cast<size_t>(kBatch));
  input_f32.Prepare(x.data(), kCols, /*split=*/true);
  for (auto& in : inputs_f32) in.Prepare(x.data(), kCols, /*split=*/true);
  std::vector<float> x_cols = x;
  x_cols[0] = 1.0f + 0x1p-20f;  // not a bf16: the columns order
  input_cols.Prepare(x_cols.data(), kCols, /*split=*/true);
  std::vector<double> out(static_cast<size_t>(rows));
  std::vector<float> out_f32(static_cast<size_t>(rows * kBatch));
  for (const auto& f : formats) {
    const int64_t row_bytes = kCols * f.row_bytes_per_col_x2 / 2;
    const int64_t scale_cols = f.cols_per_scale ? kCols / f.cols_per_scale : 0;
    std::vector<uint8_t> data(static_cast<size_t>(rows * row_bytes));
    for (auto& b : data) b = static_cast<uint8_t>(rng() & 0x7e);  // no FP8 NaN
    // FP8 scales are per 128 x 128 block, FP4's per row and 32 columns.
    const int64_t scale_rows = f.format == WeightFormat::kFP8 ? (rows + 127) / 128 : rows;
    std::vector<uint8_t> scale(static_cast<size_t>(scale_rows * std::max<int64_t>(1, scale_cols)),
                               static_cast<uint8_t>(120));
    const WeightRows w{f.format, data.data(), scale.data(), kCols, scale_cols};
    for (int mode = 0; mode < 4; ++mode) {
      if ((mode == 0 && !exact) || (mode >= 1 && !fast)) continue;
      const int64_t work = mode == 2 ? kBatch : 1;  // dots per weight
      for (CpuIsa isa : {CpuIsa::kAvx512, CpuIsa::kAvx2, CpuIsa::kScalar}) {
        if (!CpuSupports(isa)) continue;
        const int isa_passes = isa == CpuIsa::kScalar ? std::max(1, passes / 8) : passes;
        double best = 1e30;
        for (int rep = 0; rep < 3; ++rep) {
          const double t = ThreadCpuSeconds();
          for (int p = 0; p < isa_passes; ++p) {
            if (mode == 0) {
              WeightRowDots(isa, w, 0, rows, input, out.data());
            } else if (mode == 1) {
              WeightRowDotsF32(isa, w, 0, rows, input_f32, out_f32.data());
            } else if (mode == 3) {
              WeightRowDotsF32(isa, w, 0, rows, input_cols, out_f32.data());
            } else {
              WeightRowDotsF32Batch(isa, w, 0, rows, inputs_f32.data(), kBatch, out_f32.data(),
                                    rows);
            }
          }
          best = std::min(best, (ThreadCpuSeconds() - t) / isa_passes);
        }
        const std::string variant =
            isa == CpuIsa::kAvx512 && (mode == 1 || mode == 2) && CpuHasAvx512Bf16()
                ? "avx512bf16"
                : std::string(CpuIsaName(isa));
        const std::string batch_mode = "fast" + std::to_string(kBatch);
        const char* kModes[] = {"exact", "fast", batch_mode.c_str(), "fastc"};
        std::printf("%-6s %-6s %-5s %-10s %8.3f ms for %7.2f MB: %6.2f GB/s (%.2f G weights/s)\n",
                    size_name, kModes[mode], f.name, variant.c_str(), best * 1e3,
                    static_cast<double>(data.size()) / 1e6,
                    static_cast<double>(data.size()) / best / 1e9,
                    static_cast<double>(rows * kCols * work) / best / 1e9);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string size = argc > 1 ? argv[1] : "both";
  const std::string numerics = argc > 2 ? argv[2] : "both";
  const int64_t batch = argc > 3 ? std::atoll(argv[3]) : 4;
  if ((size != "stream" && size != "cached" && size != "both") ||
      (numerics != "exact" && numerics != "fast" && numerics != "both") || batch < 1 ||
      batch > 64) {
    std::fprintf(stderr,
                 "usage: weight_dot_bench [stream|cached|both] [exact|fast|both] [BATCH 1-64]\n");
    return 2;
  }
  const bool exact = numerics != "fast", fast = numerics != "exact";
  if (size != "cached") Run("stream", 32768, 1, exact, fast, batch);
  if (size != "stream") Run("cached", 64, 512, exact, fast, batch);
  return 0;
}
