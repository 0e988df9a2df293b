// The prefill GEMM (issue 16 §5) against OpenBLAS sgemm on the same shapes, one thread.
//
// Ours: forward::Linear in `fast` numerics with M input rows of bf16-exact activations (the pair
// order: vdpbf16ps on AVX-512 BF16 CPUs), weights read straight from their stored FP8 / FP4 /
// BF16 bytes, outputs rounded to bf16 as the model stores them — exactly the call a prefill
// makes. OpenBLAS: cblas_sgemm on the same activations with the weights dequantised to fp32
// beforehand (not timed), i.e. a dense fp32 GEMM that reads 2-8x more weight bytes. Shapes are
// V4-Flash's: an attention projection (FP8 4096 x 4096), a routed expert's w1/w3 (FP4 2048 x 4096)
// and w2 (FP4 4096 x 2048), the output head (BF16 4096 x 4096 rows of it).
//
// Reports the best of 5 runs per shape: G multiply-adds per second of thread CPU time for both,
// and ours / OpenBLAS.
//
// Usage: gemm_bench [M]   (input rows, default 64: one prefill chunk)
#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "bench/thread_cpu_clock.h"
#include "engine/forward/compute.h"
#include "engine/forward/linear.h"
#include "engine/forward/numerics.h"
#include "engine/forward/thread_pool.h"
#include "engine/forward/weight_matrix.h"
#include "engine/kernels/cpu/cpu_ops.h"

extern "C" void openblas_set_num_threads(int);

namespace {
using namespace dsagent::engine;

using dsagent::bench::ThreadCpuSeconds;

struct Shape {
  const char* what;
  forward::WeightFormat format;
  int64_t rows, cols;
};

// Random stored bytes with realistic scales (no FP8 NaN codes).
struct StoredWeight {
  std::vector<uint8_t> data, scale;
  forward::WeightMatrix matrix;
};

StoredWeight MakeWeight(const Shape& s, std::mt19937& rng) {
  StoredWeight w;
  forward::WeightMatrix& m = w.matrix;
  m.name = s.what;
  m.format = s.format;
  m.rows = s.rows;
  m.cols = s.cols;
  int64_t bytes = 0, scale_rows = 0;
  switch (s.format) {
    case forward::WeightFormat::kFP8:
      bytes = s.rows * s.cols;
      scale_rows = (s.rows + 127) / 128;
      m.scale_cols = (s.cols + 127) / 128;
      break;
    case forward::WeightFormat::kFP4:
      bytes = s.rows * s.cols / 2;
      scale_rows = s.rows;
      m.scale_cols = s.cols / 32;
      break;
    default:
      bytes = s.rows * s.cols * 2;
      break;
  }
  w.data.resize(static_cast<size_t>(bytes));
  for (auto& b : w.data) b = static_cast<uint8_t>(rng() & 0x7e);  // bf16: small finite values
  if (s.format == forward::WeightFormat::kBF16) {
    std::normal_distribution<float> normal(0.0f, 0.02f);
    auto* words = reinterpret_cast<uint16_t*>(w.data.data());
    for (int64_t i = 0; i < s.rows * s.cols; ++i)
      words[i] = forward::FloatToBf16Bits(normal(rng));
  }
  w.scale.assign(static_cast<size_t>(scale_rows * m.scale_cols), uint8_t{120});
  m.data = w.data.data();
  m.scale = w.scale.empty() ? nullptr : w.scale.data();
  return w;
}

const char* FormatName(forward::WeightFormat f) {
  switch (f) {
    case forward::WeightFormat::kFP8:
      return "fp8";
    case forward::WeightFormat::kFP4:
      return "fp4";
    case forward::WeightFormat::kBF16:
      return "bf16";
    default:
      return "f32";
  }
}

template <typename Fn>
double BestSeconds(Fn&& fn) {
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    const double t = ThreadCpuSeconds();
    fn();
    best = std::min(best, ThreadCpuSeconds() - t);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t m = argc > 1 ? std::atoll(argv[1]) : 64;
  if (m < 1 || m > 4096) {
    std::fprintf(stderr, "usage: gemm_bench [M 1-4096]\n");
    return 2;
  }
  openblas_set_num_threads(1);
  forward::ThreadPool pool(1);
  const kernels::cpu::CpuOps ops(pool);
  const forward::Compute cx{pool, kernels::Numerics::kFast, ops};
  const Shape shapes[] = {{"attention projection", forward::WeightFormat::kFP8, 4096, 4096},
                          {"expert w1/w3", forward::WeightFormat::kFP4, 2048, 4096},
                          {"expert w2", forward::WeightFormat::kFP4, 4096, 2048},
                          {"head rows", forward::WeightFormat::kBF16, 4096, 4096}};
  std::mt19937 rng(7);
  std::printf("M = %lld input rows, one thread; G multiply-adds/s of thread CPU time, best of 5\n",
              static_cast<long long>(m));
  for (const Shape& s : shapes) {
    StoredWeight w = MakeWeight(s, rng);
    std::vector<float> x(static_cast<size_t>(m * s.cols));
    std::normal_distribution<float> normal;
    for (float& v : x) v = forward::RoundBf16(normal(rng));  // bf16 activations: the pair order
    std::vector<float> y(static_cast<size_t>(m * s.rows)), y_blas(y.size());
    std::vector<float> dense(static_cast<size_t>(s.rows * s.cols));
    for (int64_t r = 0; r < s.rows; ++r) w.matrix.DequantRow(r, dense.data() + r * s.cols);

    const double ours = BestSeconds([&] {
      forward::Linear(w.matrix, x.data(), m, y.data(), forward::InputQuant::kNone,
                      forward::Round::kBF16, cx);
    });
    const double blas = BestSeconds([&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m),
                  static_cast<int>(s.rows), static_cast<int>(s.cols), 1.0f, x.data(),
                  static_cast<int>(s.cols), dense.data(), static_cast<int>(s.cols), 0.0f,
                  y_blas.data(), static_cast<int>(s.rows));
    });
    // The two agree to bf16 rounding and fp32 summation order: a check that both did the work.
    double max_rel = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      const double d = std::abs(static_cast<double>(y[i]) - y_blas[i]);
      max_rel = std::max(max_rel, d / (std::abs(static_cast<double>(y_blas[i])) + 1e-3));
    }
    const double macs = static_cast<double>(m) * s.rows * s.cols;
    std::printf("%-22s %-4s %5lld x %5lld: ours %6.1f  OpenBLAS sgemm %6.1f  ratio %.2f  "
                "(max rel diff %.1e)\n",
                s.what, FormatName(s.format), static_cast<long long>(s.rows),
                static_cast<long long>(s.cols), macs / ours / 1e9, macs / blas / 1e9, blas / ours,
                max_rel);
  }
  return 0;
}
