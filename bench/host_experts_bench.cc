// The CPU's side of the GPU's expert offload on a prompt chunk (kernels/cuda/moe_step.cc MoeRows):
// the routed experts kept in host memory, computed for every row of a chunk that chose them. Times
// forward::RoutedExpertsForward the two ways MoeRows has called it: one call per row (until
// session 38: each host expert's weights read once per row that chose it) and one call for the
// whole chunk (each host expert once over all its rows), checks that both give the same bits, and
// reports the weight bytes each way reads; then the line the offload's load measures
// (forward/routed_experts_cost.h: a cost an expert and a row) and what it predicts for both
// ways. Needs no GPU: the host side is CPU work alone.
//
// The layer is a checkpoint's first (a V4-Flash-shaped synthetic one from `dsagent engine synth
// --layers 1`: 256 routed experts of 2048 x 4096 in FP4); the rows' inputs are random FP8-grid
// values, each row routed to k distinct random experts, the experts from --on-device on counted as
// kept on the host (half by default, the offload figure).
//
// --weights mmap|load holds the checkpoint mapped (4 KiB page-cache pages) or loaded (private
// huge pages), as `--weights` does (auto by default: loaded where it fits in half the memory).
//
// Usage: host_experts_bench --model DIR [--rows 256] [--on-device N] [--reps 3] [--threads 0]
//                           [--weights auto|mmap|load]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/forward/compute.h"
#include "engine/forward/model.h"
#include "engine/forward/moe.h"
#include "engine/forward/routed_experts_cost.h"
#include "engine/forward/thread_pool.h"
#include "engine/kernels/cpu/cpu_ops.h"

namespace {
using namespace dsagent::engine;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A weight's stored bytes: its values and their e8m0 scales (kernels/weight_format.h).
int64_t StoredBytes(const forward::WeightMatrix& m) {
  switch (m.format) {
    case kernels::WeightFormat::kFP4:
      return m.rows * m.cols / 2 + m.rows * m.scale_cols;
    case kernels::WeightFormat::kFP8:
      return m.rows * m.cols + (m.rows + 127) / 128 * m.scale_cols;
    case kernels::WeightFormat::kBF16:
      return m.rows * m.cols * 2;
    case kernels::WeightFormat::kF32:
      return m.rows * m.cols * 4;
  }
  return 0;
}

int64_t ExpertBytes(const forward::ExpertWeights& e) {
  return StoredBytes(e.w1) + StoredBytes(e.w2) + StoredBytes(e.w3);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir;
  int64_t rows = 256, on_device = -1, reps = 3;
  int threads = 0;
  WeightResidency residency = WeightResidency::kAuto;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--model") {
      model_dir = next();
    } else if (a == "--rows") {
      rows = std::atoll(next());
    } else if (a == "--on-device") {
      on_device = std::atoll(next());
    } else if (a == "--reps") {
      reps = std::atoll(next());
    } else if (a == "--threads") {
      threads = std::atoi(next());
    } else if (a == "--weights") {
      const auto w = ParseWeightResidency(next());
      if (!w) {
        std::fprintf(stderr, "host_experts_bench: --weights takes auto, mmap or load\n");
        return 2;
      }
      residency = *w;
    } else {
      std::fprintf(stderr,
                   "usage: host_experts_bench --model DIR [--rows 256] [--on-device N] "
                   "[--reps 3] [--threads 0] [--weights auto|mmap|load]\n");
      return 2;
    }
  }
  if (model_dir.empty() || rows < 1 || reps < 1) {
    std::fprintf(stderr, "host_experts_bench: --model DIR is required (dsagent engine synth)\n");
    return 2;
  }
  auto model = forward::Model::Load(
      model_dir, {.threads = threads, .numerics = kernels::Numerics::kFast, .weights = residency});
  if (!model) {
    std::fprintf(stderr, "%s\n", model.error().c_str());
    return 1;
  }
  const forward::Model& m = **model;
  std::printf("weights: %s\n", WeightResidencyName(m.weight_residency()));
  const ModelConfig& c = m.config();
  const forward::MoeWeights& moe = m.weights().layers.at(0).ffn;
  const int64_t n_exp = c.n_routed_experts, k = c.n_activated_experts, dim = c.dim;
  if (on_device < 0) on_device = n_exp / 2;
  // The offload's own threads and ops, as HostExpertCompute (kernels/cuda/device_model_upload.h)
  // makes them: every core by default.
  forward::ThreadPool pool(threads);
  const kernels::cpu::CpuOps ops(pool);
  const forward::Compute cx{pool, kernels::Numerics::kFast, ops};

  // Inputs on the FP8 grid (act_quant per 128 of bf16 values), k distinct experts a row.
  std::mt19937 rng(38);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> xq(static_cast<size_t>(rows * dim));
  for (float& v : xq) v = normal(rng);
  cx.ops.ActQuantFp8(kernels::F32Rows(xq.data(), rows, dim), 128);
  std::vector<int64_t> slot_rows;
  std::vector<int32_t> ids;
  std::vector<float> weights;
  std::vector<int32_t> all(static_cast<size_t>(n_exp));
  for (int64_t e = 0; e < n_exp; ++e) all[static_cast<size_t>(e)] = static_cast<int32_t>(e);
  std::uniform_real_distribution<float> weight(0.05f, 0.5f);
  std::vector<char> chosen(static_cast<size_t>(n_exp), 0);
  for (int64_t t = 0; t < rows; ++t) {
    std::shuffle(all.begin(), all.end(), rng);
    for (int64_t j = 0; j < k; ++j) {
      const int32_t e = all[static_cast<size_t>(j)];
      if (e < on_device) continue;  // on the device
      slot_rows.push_back(t);
      ids.push_back(e);
      weights.push_back(weight(rng));
      chosen[static_cast<size_t>(e)] = 1;
    }
  }
  const auto n = static_cast<int64_t>(ids.size());
  int64_t bytes_by_row = 0, bytes_once = 0;
  for (int64_t j = 0; j < n; ++j)
    bytes_by_row += ExpertBytes(moe.experts[static_cast<size_t>(ids[j])]);
  for (int64_t e = 0; e < n_exp; ++e) {
    if (chosen[static_cast<size_t>(e)])
      bytes_once += ExpertBytes(moe.experts[static_cast<size_t>(e)]);
  }

  std::vector<float> by_row(static_cast<size_t>(n * dim)), once(static_cast<size_t>(n * dim));
  double best_by_row = 1e30, best_once = 1e30;
  for (int64_t r = 0; r < reps; ++r) {
    auto t0 = Clock::now();
    for (int64_t j = 0; j < n;) {  // a row's slots are consecutive
      int64_t end = j;
      while (end < n && slot_rows[static_cast<size_t>(end)] == slot_rows[static_cast<size_t>(j)])
        ++end;
      forward::RoutedExpertsForward(moe, c, xq.data() + slot_rows[static_cast<size_t>(j)] * dim,
                                    nullptr, ids.data() + j, weights.data() + j, end - j,
                                    by_row.data() + j * dim, cx);
      j = end;
    }
    best_by_row = std::min(best_by_row, Since(t0));
    t0 = Clock::now();
    forward::RoutedExpertsForward(moe, c, xq.data(), slot_rows.data(), ids.data(), weights.data(),
                                  n, once.data(), cx);
    best_once = std::min(best_once, Since(t0));
  }
  const bool same = std::memcmp(by_row.data(), once.data(), by_row.size() * sizeof(float)) == 0;
  int64_t experts_chosen = 0;
  for (const char b : chosen) experts_chosen += b;
  std::printf(
      "host experts of a %lld-row chunk (%lld of %lld experts on the device, k %lld): %lld slots "
      "on the host over %lld experts, %d threads\n",
      static_cast<long long>(rows), static_cast<long long>(on_device),
      static_cast<long long>(n_exp), static_cast<long long>(k), static_cast<long long>(n),
      static_cast<long long>(experts_chosen), cx.pool.size());
  std::printf("  one call per row:       %8.1f ms, %6.2f GB of weights read, %6.2f GB/s\n",
              best_by_row * 1e3, static_cast<double>(bytes_by_row) / 1e9,
              static_cast<double>(bytes_by_row) / 1e9 / best_by_row);
  std::printf("  one call for the chunk: %8.1f ms, %6.2f GB of weights read, %6.2f GB/s\n",
              best_once * 1e3, static_cast<double>(bytes_once) / 1e9,
              static_cast<double>(bytes_once) / 1e9 / best_once);
  std::printf("  %.2fx; the same bits: %s\n", best_by_row / best_once, same ? "yes" : "NO");
  // The line the GPU's offload weighs streaming against (forward/routed_experts_cost.h, as the
  // load measures it), and what it says of the two ways above.
  std::vector<int32_t> measured;
  for (int64_t e = on_device;
       e < n_exp && static_cast<int64_t>(measured.size()) < forward::kExpertsMeasured; ++e) {
    measured.push_back(static_cast<int32_t>(e));
  }
  const forward::RoutedExpertsCost line = forward::MeasureRoutedExpertsCost(
      [&](const float* x, const int64_t* r, const int32_t* i, const float* w, int64_t slots,
          float* out) { forward::RoutedExpertsForward(moe, c, x, r, i, w, slots, out, cx); },
      measured, dim);
  std::printf(
      "  the load's line (%zu experts, 1 and %lld rows): %.3f ms an expert + %.3f ms a row; it "
      "says %.1f ms for one call per row, %.1f ms for the chunk\n",
      measured.size(), static_cast<long long>(forward::kRowsMeasured), line.expert_seconds * 1e3,
      line.slot_seconds * 1e3,
      static_cast<double>(n) * (line.expert_seconds + line.slot_seconds) * 1e3,
      (static_cast<double>(experts_chosen) * line.expert_seconds +
       static_cast<double>(n) * line.slot_seconds) *
          1e3);
  return same ? 0 : 1;
}
