// The `exact` prefill's inner loop on one core (engine/kernels/cpu/weight_product.cc,
// ProductExactPanels): a panel of weight rows, dequantised to double, dotted with every input row
// of a 128-token chunk (as doubles). Two ways, alternated in one run (this VM's speed drifts by
// +-20% within minutes), best of N by thread CPU time:
//   dotf64   one DotF64 per (input, row) pair (two loads per FMA), the loop before the tiles;
//   tiled    DotsF64 (AVX-512: 3 x 4 register tiles), which must give the same bits (checked).
// Also the panel's dequantisation per stored format: DequantRowRange to float and a copy to double
// (before), against DequantRowF64 straight into the panel, scalar and the CPU's variant.
//
// Usage: exact_panel_bench [REPEATS]   (default 7)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

#include "bench/thread_cpu_clock.h"
#include "engine/kernels/cpu/weight_dequant.h"
#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/cpu_isa.h"

namespace {
using namespace dsagent::engine::kernels;

using dsagent::bench::ThreadCpuSeconds;

// A panel of rows x k (weight_product.cc sizes one pass of it, up to 4096 columns, to 384 KB), 128
// inputs.
void Dots(int64_t rows, int64_t k, int repeats) {
  const int64_t inputs = 128;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<double> w(static_cast<size_t>(rows * k)), x(static_cast<size_t>(inputs * k));
  for (double& v : w) v = normal(rng);
  for (double& v : x) v = normal(rng);
  std::vector<double> old_out(static_cast<size_t>(inputs * rows)), new_out(old_out.size());
  const CpuIsa isa = ActiveCpuIsa();
  double best_old = 1e30, best_new = 1e30;
  for (int rep = 0; rep < repeats; ++rep) {
    double t = ThreadCpuSeconds();
    for (int64_t i = 0; i < inputs; ++i) {
      for (int64_t r = 0; r < rows; ++r) {
        old_out[static_cast<size_t>(i * rows + r)] =
            DotF64(isa, x.data() + i * k, w.data() + r * k, k);
      }
    }
    best_old = std::min(best_old, ThreadCpuSeconds() - t);
    t = ThreadCpuSeconds();
    DotsF64(isa, w.data(), k, rows, x.data(), k, inputs, k, new_out.data(), rows);
    best_new = std::min(best_new, ThreadCpuSeconds() - t);
  }
  const bool same = std::memcmp(old_out.data(), new_out.data(), old_out.size() * 8) == 0;
  const double macs = static_cast<double>(rows * k * inputs);
  std::printf(
      "dots  %2lld rows x %5lld cols x %lld inputs (%s): dotf64 %6.2f  tiled %6.2f G MAC/s  "
      "(x%.2f, %s bits)\n",
      static_cast<long long>(rows), static_cast<long long>(k), static_cast<long long>(inputs),
      CpuIsaName(isa).data(), macs / best_old * 1e-9, macs / best_new * 1e-9, best_old / best_new,
      same ? "same" : "DIFFERENT");
}

void Dequant(WeightFormat format, const char* name, int repeats) {
  const int64_t rows = 12, k = 4096;
  std::mt19937 rng(2);
  const int64_t bytes_per_row = format == WeightFormat::kFP4    ? k / 2
                                : format == WeightFormat::kFP8  ? k
                                : format == WeightFormat::kBF16 ? 2 * k
                                                                : 4 * k;
  std::vector<uint8_t> data(static_cast<size_t>(rows * bytes_per_row));
  for (auto& b : data) b = static_cast<uint8_t>(rng() & 0x3e);  // small values, no NaN
  const int64_t scale_cols = format == WeightFormat::kFP4 ? k / 32 : k / 128;
  std::vector<uint8_t> scale(static_cast<size_t>(rows * scale_cols), 120);
  const WeightRows w{format, data.data(), scale.data(), k, scale_cols};
  std::vector<float> row(static_cast<size_t>(k));
  std::vector<double> panel(static_cast<size_t>(rows * k));
  const CpuIsa isa = ActiveCpuIsa();
  double best_old = 1e30, best_scalar = 1e30, best_new = 1e30;
  for (int rep = 0; rep < repeats; ++rep) {
    double t = ThreadCpuSeconds();
    for (int pass = 0; pass < 20; ++pass) {
      for (int64_t r = 0; r < rows; ++r) {
        cpu::DequantRowRange(w, r, 0, k, row.data());
        std::copy(row.begin(), row.end(), panel.begin() + r * k);
      }
    }
    best_old = std::min(best_old, (ThreadCpuSeconds() - t) / 20);
    t = ThreadCpuSeconds();
    for (int pass = 0; pass < 20; ++pass) {
      for (int64_t r = 0; r < rows; ++r) {
        cpu::DequantRowF64(CpuIsa::kScalar, w, r, panel.data() + r * k);
      }
    }
    best_scalar = std::min(best_scalar, (ThreadCpuSeconds() - t) / 20);
    t = ThreadCpuSeconds();
    for (int pass = 0; pass < 20; ++pass) {
      for (int64_t r = 0; r < rows; ++r) cpu::DequantRowF64(isa, w, r, panel.data() + r * k);
    }
    best_new = std::min(best_new, (ThreadCpuSeconds() - t) / 20);
  }
  const double values = static_cast<double>(rows * k);
  std::printf(
      "panel %-4s 12 x 4096: float+copy %6.2f  straight, scalar %6.2f  straight, %s %6.2f G "
      "values/s\n",
      name, values / best_old * 1e-9, values / best_scalar * 1e-9, CpuIsaName(isa).data(),
      values / best_new * 1e-9);
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 7;
  if (repeats < 1) {
    std::fprintf(stderr, "usage: exact_panel_bench [REPEATS >= 1]\n");
    return 2;
  }
  Dots(12, 4096, repeats);   // the compressor's and gate's k (hidden size)
  Dots(12, 16384, repeats);  // the mHC fn's k (hc_mult x hidden size), in passes of 4096 columns
  Dequant(WeightFormat::kBF16, "bf16", repeats);
  Dequant(WeightFormat::kFP8, "fp8", repeats);
  Dequant(WeightFormat::kFP4, "fp4", repeats);
  Dequant(WeightFormat::kF32, "f32", repeats);
  return 0;
}
