// The CUDA matrix-vector kernels' achieved weight bandwidth (engine/kernels/cuda/ops.h MatVec),
// against a measured device-to-device copy of the same device: decode reads every weight byte
// once per token, so bytes/s of weights is the figure that bounds tokens/s (issue 17's target:
// >= 70% of the copy bandwidth). Each shape is timed through MatVec (the tiled kernel for these
// weights) and the 16-lanes-per-row kernel it replaced, then with M = 1, 4, 8, 32, 128 activation
// rows through the register-tiled kernel (MatVecRowsGemm, what MatVec runs by default for several
// rows), one row at a time (MatVecRowsByInput) and, from 32 rows, on the tensor cores
// (MatVecRowsTensor; weight bytes/s and rows x weights/s for each), then a
// token's six routed experts through ExpertMatVec. Run by scripts/gpu-check.sh; docs/BENCHMARKS.md
// has the method.
//   cuda_matvec_bench [--json FILE] [--reps N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cuda/matvec_tensor.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/weight_upload.h"
#include "engine/kernels/cuda_probe.h"

namespace {
namespace k = dsagent::engine::kernels;
namespace kc = dsagent::engine::kernels::cuda;

// Activation rows timed through the register-tiled kernel and one row at a time.
constexpr int64_t kRowCounts[] = {1, 4, 8, 32, 128};
constexpr int64_t kMaxRows = 128;

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path;
  int reps = 50;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
  }
  const k::CudaProbe probe = k::ProbeCuda();
  if (probe.devices.empty()) {
    std::fprintf(stderr, "cuda_matvec_bench: %s\n", probe.problem.c_str());
    return 2;
  }
  try {
    kc::UseDevice(0);
    kc::CudaStream stream;
    // Copy bandwidth: read + write of a 1 GiB buffer.
    const size_t copy_bytes = size_t{1} << 30;
    kc::DeviceBuffer a(copy_bytes), b(copy_bytes);
    kc::CopyDeviceToDevice(b.data(), a.data(), copy_bytes, stream);
    stream.Synchronize();
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) kc::CopyDeviceToDevice(b.data(), a.data(), copy_bytes, stream);
    stream.Synchronize();
    const double copy_bw = 2.0 * copy_bytes * reps / Seconds(t0, std::chrono::steady_clock::now());
    std::printf("device %s: copy %.1f GB/s (read + write)\n", probe.devices[0].name.c_str(),
                copy_bw / 1e9);

    struct Shape {
      const char* what;
      k::WeightFormat format;
      int64_t rows, cols;
    };
    // V4-Flash shapes: an attention projection, a routed expert's w1 (FP4) and w2, the head (BF16).
    const Shape shapes[] = {{"fp8 wkv 512x4096", k::WeightFormat::kFP8, 512, 4096},
                            {"fp8 wq_a 1024x4096", k::WeightFormat::kFP8, 1024, 4096},
                            {"fp8 wq_b 32768x1024", k::WeightFormat::kFP8, 32768, 1024},
                            {"fp8 wo_b 4096x8192", k::WeightFormat::kFP8, 4096, 8192},
                            {"fp8 shared w1 2048x4096", k::WeightFormat::kFP8, 2048, 4096},
                            {"fp4 expert w1 2048x4096", k::WeightFormat::kFP4, 2048, 4096},
                            {"fp4 expert w2 4096x2048", k::WeightFormat::kFP4, 4096, 2048},
                            {"bf16 head 129280x4096", k::WeightFormat::kBF16, 129280, 4096}};
    std::mt19937 rng(1);
    std::string json = "{\"device\": \"" + probe.devices[0].name +
                       "\", \"copy_gbps\": " + std::to_string(copy_bw / 1e9) + ", \"matvec\": [";
    // Seconds per call of `run` (one warm-up call, then `reps` timed between synchronisations),
    // and a line for the shape: time, weight bytes/s, share of the copy bandwidth.
    const auto time_it = [&](const auto& run) {
      run();
      stream.Synchronize();
      const auto start = std::chrono::steady_clock::now();
      for (int r = 0; r < reps; ++r) run();
      stream.Synchronize();
      return Seconds(start, std::chrono::steady_clock::now()) / reps;
    };
    const auto report = [&](const std::string& what, double secs, double bytes) {
      const double bw = bytes / secs;
      std::printf("matvec %-34s %8.1f us  %7.1f GB/s  %5.1f%% of copy\n", what.c_str(), secs * 1e6,
                  bw / 1e9, 100.0 * bw / copy_bw);
      json += std::string(json.back() == '[' ? "" : ", ") + "{\"shape\": \"" + what +
              "\", \"us\": " + std::to_string(secs * 1e6) +
              ", \"gbps\": " + std::to_string(bw / 1e9) + "}";
    };
    for (const Shape& s : shapes) {
      const auto layout = kc::UploadLayout(s.format, s.rows, s.cols);
      std::vector<uint8_t> data(static_cast<size_t>(layout->data_bytes));
      std::vector<uint8_t> scale(static_cast<size_t>(layout->scale_bytes()), 120);
      for (auto& v : data) v = static_cast<uint8_t>(rng() & 0x7e);  // no e4m3 NaN
      const k::WeightRows rows{s.format, data.data(), scale.empty() ? nullptr : scale.data(),
                               s.cols, layout->scale_cols};
      const kc::DeviceWeight w = kc::DeviceWeight::Upload(rows, s.rows, stream);
      std::vector<float> x(static_cast<size_t>(s.cols), 0.5f);
      kc::DeviceBuffer dx(x.size() * 4), dy(static_cast<size_t>(s.rows) * 4);
      dx.Upload(x.data(), x.size() * 4, stream);
      // MatVec (the tiled kernel for these weights, its threads loading several items before
      // computing them, a CTA's rows one round of those loads: the default), the same loading one
      // item at a time (the kernel of runs 2-4), then the 16-lanes-per-row kernel, then the tiled
      // kernel with the CTA's rows of sessions 17-21 (as many as its block sums' budget holds).
      const int prefetch = kc::TiledPrefetch();
      const bool budget_tiles = kc::TiledBudgetTiles();
      for (const int variant : {0, 1, 2, 3}) {
        kc::SetTiledPrefetch(variant == 1 ? 1 : kc::kTiledPrefetchItems);
        kc::SetTiledBudgetTiles(variant == 3);
        const auto run = [&] {
          if (variant == 2) {
            kc::MatVecRowsByLanes(w, 0, s.rows, dx.as<float>(), 1, s.cols, dy.as<float>(), s.rows,
                                  true, stream);
          } else {
            kc::MatVec(w, dx.as<float>(), 1, s.cols, dy.as<float>(), s.rows, true, stream);
          }
        };
        const char* suffix[] = {"", " (one item at a time)", " (lanes)", " (budget tiles)"};
        report(std::string(s.what) + suffix[variant], time_it(run),
               static_cast<double>(layout->total_bytes()));
      }
      kc::SetTiledPrefetch(prefetch);
      kc::SetTiledBudgetTiles(budget_tiles);
      // Several activation rows (a batched decode step, a prefill chunk): the register-tiled
      // kernel (MatVecRowsGemm, the default: each weight value decoded once per 8 rows) against
      // the single-row kernel once per row (the default until session 20; the grouped kernel,
      // which lost to it in run 4, is no longer timed) and, from kTensorMinInputs rows, the
      // tensor cores (MatVecRowsTensor, session 28). Weight bytes/s counts the weight once per
      // call; rows x weights/s the products.
      std::vector<float> xm(static_cast<size_t>(s.cols * kMaxRows), 0.5f);
      kc::DeviceBuffer dxm(xm.size() * 4), dym(static_cast<size_t>(s.rows * kMaxRows) * 4);
      dxm.Upload(xm.data(), xm.size() * 4, stream);
      for (const int64_t m : kRowCounts) {
        for (const char* kernel : {"gemm", "by-input", "tensor"}) {
          const bool by_input = std::string(kernel) == "by-input";
          const bool tensor = std::string(kernel) == "tensor";
          if (m == 1 && by_input) continue;
          if (tensor && m < kc::kTensorMinInputs) continue;
          const auto run = [&] {
            if (by_input) {
              kc::MatVecRowsByInput(w, 0, s.rows, dxm.as<float>(), m, s.cols, dym.as<float>(),
                                    s.rows, true, stream);
            } else if (tensor) {
              kc::MatVecRowsTensor(w, 0, s.rows, dxm.as<float>(), m, s.cols, dym.as<float>(),
                                   s.rows, true, stream);
            } else {
              kc::MatVecRowsGemm(w, 0, s.rows, dxm.as<float>(), m, s.cols, dym.as<float>(), s.rows,
                                 true, stream);
            }
          };
          const int saved = reps;
          reps = std::max(3, static_cast<int>(reps / m));
          const double secs = time_it(run);
          reps = saved;
          const double bytes = static_cast<double>(layout->total_bytes());
          const double products = static_cast<double>(m) * s.rows * s.cols;
          std::printf(
              "rows   %-34s M=%-3lld %9.1f us  %7.1f GB/s  %5.1f%% of copy  %7.1f G "
              "rows*weights/s%s\n",
              s.what, static_cast<long long>(m), secs * 1e6, bytes / secs / 1e9,
              100.0 * bytes / secs / copy_bw, products / secs / 1e9,
              by_input ? "  (one row at a time)"
              : tensor ? "  (tensor cores)"
                       : "  (register-tiled)");
          json += std::string(", {\"shape\": \"") + s.what + "\", \"rows\": " + std::to_string(m) +
                  (by_input ? ", \"by_input\": true"
                            : std::string(", \"kernel\": \"") + kernel + "\"") +
                  ", \"us\": " + std::to_string(secs * 1e6) +
                  ", \"gbps\": " + std::to_string(bytes / secs / 1e9) +
                  ", \"g_products_per_s\": " + std::to_string(products / secs / 1e9) + "}";
        }
      }
    }
    {
      // A token's routed experts: ExpertMatVec over 6 slots of 8 FP4 experts' w1 (2048x4096).
      const int64_t rows = 2048, cols = 4096, experts = 8, slots = 6;
      const auto layout = kc::UploadLayout(k::WeightFormat::kFP4, rows, cols);
      std::vector<std::vector<uint8_t>> data, scale;
      std::vector<k::WeightRows> views;
      for (int64_t e = 0; e < experts; ++e) {
        data.emplace_back(static_cast<size_t>(layout->data_bytes));
        for (auto& v : data.back()) v = static_cast<uint8_t>(rng());
        scale.emplace_back(static_cast<size_t>(layout->scale_bytes()), 120);
      }
      for (int64_t e = 0; e < experts; ++e) {
        views.push_back({k::WeightFormat::kFP4, data[static_cast<size_t>(e)].data(),
                         scale[static_cast<size_t>(e)].data(), cols, layout->scale_cols});
      }
      const kc::DeviceWeightSet set = kc::DeviceWeightSet::Upload(views, rows, stream);
      const std::vector<int32_t> ids = {5, 1, 7, 2, 0, 3};
      const std::vector<float> x(static_cast<size_t>(cols), 0.5f);
      kc::DeviceBuffer dids(ids.size() * 4), dx(x.size() * 4),
          dy(static_cast<size_t>(slots * rows) * 4);
      dids.Upload(ids.data(), ids.size() * 4, stream);
      dx.Upload(x.data(), x.size() * 4, stream);
      const auto run = [&] {
        kc::ExpertMatVec(set, dids.as<int32_t>(), slots, dx.as<float>(), 0, dy.as<float>(), rows,
                         true, stream);
      };
      report("fp4 6 experts' w1 (ExpertMatVec)", time_it(run),
             static_cast<double>(slots * layout->total_bytes()));
    }
    json += "]}\n";
    if (!json_path.empty()) std::ofstream(json_path) << json;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_matvec_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
