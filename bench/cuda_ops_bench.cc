// The CUDA forward-op kernels at V4-Flash decode shapes (one token): time per call, and for the
// ones that stream the KV cache or the indexer keys, the bytes they read per second. The kernels
// are the simple first versions (engine/kernels/README.md): these figures say where tuning pays.
// Run by scripts/gpu-check.sh; docs/BENCHMARKS.md has the method.
//   cuda_ops_bench [--json FILE] [--reps N]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cuda/attention_ops.h"
#include "engine/kernels/cuda/indexer_ops.h"
#include "engine/kernels/cuda/mixing_ops.h"
#include "engine/kernels/cuda/moe_ops.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda_probe.h"

namespace {
namespace k = dsagent::engine::kernels;
namespace kc = dsagent::engine::kernels::cuda;

// Mean seconds per call of `op` over `reps` calls after one warm-up call.
double TimePerCall(int reps, kc::CudaStream& stream, const std::function<void()>& op) {
  op();
  stream.Synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) op();
  stream.Synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

template <class T>
kc::DeviceBuffer ToDevice(const std::vector<T>& v, kc::CudaStream& stream) {
  kc::DeviceBuffer b(v.size() * sizeof(T));
  b.Upload(v.data(), b.bytes(), stream);
  stream.Synchronize();
  return b;
}

// bf16 bits of N(0, sigma) values.
std::vector<uint16_t> Bf16Bits(size_t n, std::mt19937& rng, float sigma) {
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<uint16_t> out(n);
  for (uint16_t& b : out) {
    const float f = normal(rng);
    uint32_t u;
    std::memcpy(&u, &f, 4);
    b = static_cast<uint16_t>(u >> 16);
  }
  return out;
}
std::vector<float> Floats(size_t n, std::mt19937& rng, float sigma) {
  std::vector<float> out;
  for (const uint16_t b : Bf16Bits(n, rng, sigma)) {
    const uint32_t u = static_cast<uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    out.push_back(f);
  }
  return out;
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
    std::fprintf(stderr, "cuda_ops_bench: %s\n", probe.problem.c_str());
    return 2;
  }
  try {
    kc::UseDevice(0);
    kc::CudaStream stream;
    std::mt19937 rng(1);
    std::string json = "{\"device\": \"" + probe.devices[0].name + "\", \"ops\": [";
    bool first = true;
    // Prints and records one op: time per call, and GB/s of `bytes` read per call when given.
    const auto report = [&](const std::string& what, double secs, double bytes) {
      if (bytes > 0) {
        std::printf("%-48s %9.1f us  %7.1f GB/s\n", what.c_str(), secs * 1e6, bytes / secs / 1e9);
      } else {
        std::printf("%-48s %9.1f us\n", what.c_str(), secs * 1e6);
      }
      json += std::string(first ? "" : ", ") + "{\"op\": \"" + what +
              "\", \"us\": " + std::to_string(secs * 1e6) +
              (bytes > 0 ? ", \"gbps\": " + std::to_string(bytes / secs / 1e9) : "") + "}";
      first = false;
    };

    // Sparse attention: 64 heads of 512 over the window (128) plus the indexer's top-512 (CSA),
    // or plus every entry of an HCA layer at 1M tokens (8192).
    const int64_t heads = 64, hd = 512, cache_rows = 16384;
    const kc::DeviceBuffer kv =
        ToDevice(Bf16Bits(static_cast<size_t>(cache_rows * hd), rng, 1.0f), stream);
    const kc::DeviceBuffer q = ToDevice(Floats(static_cast<size_t>(heads * hd), rng, 1.0f), stream);
    const kc::DeviceBuffer sink = ToDevice(Floats(static_cast<size_t>(heads), rng, 1.0f), stream);
    kc::DeviceBuffer o(static_cast<size_t>(heads * hd) * sizeof(float));
    // The decode step's call splits the list over CTAs (flash-decoding, with a scratch) and
    // passes arrivals: one launch, the splits' maxima by the look-back and the combine by each
    // head's last split. "three launches": the maxima, the splits and the combine apart (no
    // arrivals, or the fused steps off); "unsplit": one CTA per head, the CPU's bits, as prefill
    // (SparseAttentionTokens) runs.
    kc::DeviceBuffer split_scratch(
        static_cast<size_t>(kc::SparseAttentionScratchFloats(heads, hd)) * sizeof(float));
    kc::DeviceBuffer arrivals(static_cast<size_t>(kc::SparseAttentionArrivalsBytes(heads)));
    arrivals.Zero(stream);
    for (const int64_t n : {640LL, 8320LL}) {
      std::vector<int32_t> index(static_cast<size_t>(n));
      std::uniform_int_distribution<int32_t> pick(0, cache_rows - 1);
      for (int32_t& e : index) e = pick(rng);
      const kc::DeviceBuffer dindex = ToDevice(index, stream);
      for (const int mode : {0, 1, 2}) {  // look-back, three launches, unsplit
        float* scratch = mode < 2 ? split_scratch.as<float>() : nullptr;
        unsigned* arrive = mode == 0 ? arrivals.as<unsigned>() : nullptr;
        const double secs = TimePerCall(reps, stream, [&] {
          kc::SparseAttention(q.as<float>(), heads, hd, kv.as<uint16_t>(), dindex.as<int32_t>(), n,
                              sink.as<float>(), 0.044f, o.as<float>(), stream, scratch, {}, arrive);
        });
        report("sparse_attention 64x512 over " + std::to_string(n) +
                   (mode == 1   ? " three launches"
                    : mode == 2 ? " unsplit"
                                : ""),
               secs, static_cast<double>(n * hd * 2));
      }
    }
    // Per-token norms and rotations of the query side.
    kc::DeviceBuffer qn = ToDevice(Floats(static_cast<size_t>(heads * hd), rng, 1.0f), stream);
    report("head_rmsnorm 64x512",
           TimePerCall(reps, stream,
                       [&] { kc::HeadRmsNorm(qn.as<float>(), heads, hd, 1e-6f, stream); }),
           0);
    report("hadamard 64x128",
           TimePerCall(reps, stream, [&] { kc::HadamardRotate(qn.as<float>(), 64, 128, stream); }),
           0);

    // The lightning indexer at 16K, 64K, 256K and 1M tokens of context (keys = tokens / 4), and
    // the top-512 of its scores.
    const int64_t ih = 64, ihd = 128;
    const kc::DeviceBuffer iq = ToDevice(Floats(static_cast<size_t>(ih * ihd), rng, 1.0f), stream);
    const kc::DeviceBuffer iw = ToDevice(Floats(static_cast<size_t>(ih), rng, 0.02f), stream);
    for (const int64_t n : {4096LL, 16384LL, 65536LL, 262144LL}) {
      const kc::DeviceBuffer keys =
          ToDevice(Bf16Bits(static_cast<size_t>(n * ihd), rng, 1.0f), stream);
      kc::DeviceBuffer scores(static_cast<size_t>(n) * sizeof(float));
      report("indexer_scores 64x128 over " + std::to_string(n) + " keys",
             TimePerCall(reps, stream,
                         [&] {
                           kc::IndexerScores(iq.as<float>(), iw.as<float>(), ih, ihd,
                                             keys.as<uint16_t>(), n, scores.as<float>(), stream);
                         }),
             static_cast<double>(n * ihd * 2));
      kc::DeviceBuffer top(512 * sizeof(int32_t));
      report(
          "topk 512 of " + std::to_string(n),
          TimePerCall(reps, stream,
                      [&] { kc::TopK(scores.as<float>(), 1, n, 512, top.as<int32_t>(), stream); }),
          static_cast<double>(n * 4));
      // With a scratch (what the decode step passes): many CTAs from 64K scores on.
      kc::DeviceBuffer topk_scratch(static_cast<size_t>(kc::TopKScratchBytes(512)));
      report("topk 512 of " + std::to_string(n) + " (scratch: many CTAs from 64K)",
             TimePerCall(reps, stream,
                         [&] {
                           kc::TopK(scores.as<float>(), 1, n, 512, top.as<int32_t>(), stream,
                                    topk_scratch.data(),
                                    static_cast<int64_t>(topk_scratch.bytes()));
                         }),
             static_cast<double>(n * 4));
    }

    // The router (256 experts, top 6) and the mHC pre step (4 streams of 4096).
    const kc::DeviceBuffer logits = ToDevice(Floats(256, rng, 2.0f), stream);
    const kc::DeviceBuffer bias = ToDevice(Floats(256, rng, 0.1f), stream);
    kc::DeviceBuffer ids(6 * sizeof(int32_t)), weights(6 * sizeof(float));
    kc::MoeRouteShape route;
    route.experts = 256;
    route.k = 6;
    route.route_scale = 1.5f;
    report("moe_route 256 experts top 6",
           TimePerCall(reps, stream,
                       [&] {
                         kc::MoeRoute(logits.as<float>(), 1, route, bias.as<float>(), nullptr,
                                      nullptr, ids.as<int32_t>(), weights.as<float>(), stream);
                       }),
           0);
    kc::HcKernelShape hc;
    hc.dim = 4096;
    const kc::DeviceBuffer h = ToDevice(Floats(4 * 4096, rng, 1.0f), stream);
    const kc::DeviceBuffer products = ToDevice(Floats(24, rng, 30.0f), stream);
    const kc::DeviceBuffer scale = ToDevice(std::vector<float>{0.5f, 0.25f, 1.5f}, stream);
    const kc::DeviceBuffer base = ToDevice(Floats(24, rng, 1.0f), stream);
    kc::DeviceBuffer y(4096 * sizeof(float)), post(4 * sizeof(float)), comb(16 * sizeof(float));
    report("hc_pre 4x4096 (Sinkhorn 20)",
           TimePerCall(reps, stream,
                       [&] {
                         kc::HcPre(h.as<float>(), products.as<float>(), 1, scale.as<float>(),
                                   base.as<float>(), hc, y.as<float>(), post.as<float>(),
                                   comb.as<float>(), stream);
                       }),
           0);
    // The exact products (double sums, both numerics modes): the mHC fn of a block (F32, 24 of
    // 16,384), the router's gate (BF16, 256 of 4,096) and a compressor's wkv (BF16, 1,024 of
    // 4,096), one input row each as in a decode step.
    struct ExactShape {
      const char* name;
      dsagent::engine::kernels::WeightFormat format;
      int64_t rows, cols;
    };
    for (const ExactShape& e :
         {ExactShape{"mHC fn F32 24x16384", dsagent::engine::kernels::WeightFormat::kF32, 24,
                     16384},
          ExactShape{"gate BF16 256x4096", dsagent::engine::kernels::WeightFormat::kBF16, 256,
                     4096},
          ExactShape{"compressor BF16 1024x4096", dsagent::engine::kernels::WeightFormat::kBF16,
                     1024, 4096}}) {
      const bool f32 = e.format == dsagent::engine::kernels::WeightFormat::kF32;
      const size_t n = static_cast<size_t>(e.rows * e.cols);
      std::vector<uint8_t> bytes;
      if (f32) {
        const std::vector<float> v = Floats(n, rng, 0.05f);
        bytes.resize(n * 4);
        std::memcpy(bytes.data(), v.data(), bytes.size());
      } else {
        const std::vector<uint16_t> v = Bf16Bits(n, rng, 0.05f);
        bytes.resize(n * 2);
        std::memcpy(bytes.data(), v.data(), bytes.size());
      }
      const kc::DeviceWeight w = kc::DeviceWeight::Upload(
          dsagent::engine::kernels::WeightRows{e.format, bytes.data(), nullptr, e.cols, 0}, e.rows,
          stream);
      const kc::DeviceBuffer x = ToDevice(Floats(static_cast<size_t>(e.cols), rng, 1.0f), stream);
      kc::DeviceBuffer out(static_cast<size_t>(e.rows) * sizeof(float));
      report(std::string("matvec_exact ") + e.name,
             TimePerCall(reps, stream,
                         [&] {
                           kc::MatVecExact(w, x.as<float>(), 1, e.cols, out.as<float>(), e.rows,
                                           false, stream);
                         }),
             static_cast<double>(bytes.size()));
    }
    json += "]}\n";
    if (!json_path.empty()) std::ofstream(json_path) << json;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_ops_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
