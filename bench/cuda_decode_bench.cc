// One token's decode through V4-Flash-shaped blocks on the device (kernels/cuda/block_step.h
// BlockDecode): random weights in the checkpoint's formats (attention FP8, routed experts FP4,
// shared expert FP8, compressors BF16, mHC F32), a CSA block (ratio 4, indexer) and an HCA block
// (ratio 128), each timed per token after its cache holds --context positions. Prints ms per
// token per block, the weight bytes a token reads per block and their rate, and the tokens/s the
// 43 layers of V4-Flash would give (embedding and head aside; cuda_matvec_bench times the head).
// Run by scripts/gpu-check.sh; docs/BENCHMARKS.md has the method.
// --experts-on-device N keeps routed experts N.. of each block in host memory (the expert
// offload, kernels/cuda/moe_step.h): the CPU kernels compute them on this machine's cores while
// the device computes the rest, and the bench adds where the offloaded token's host time went.
// --ratio 4|128 runs that block only; --profile brackets the timed steps with ProfilerStart /
// ProfilerStop, for `ncu --profile-from-start off` (scripts/gpu-check.sh, scripts/ncu_summary.py:
// every kernel's time in a decode step).
//   cuda_decode_bench [--config FILE] [--context N] [--reps N] [--experts-on-device N]
//                     [--ratio 4|128] [--profile] [--json FILE]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/forward/compute.h"
#include "engine/forward/moe.h"
#include "engine/forward/rope.h"
#include "engine/forward/thread_pool.h"
#include "engine/kernels/cpu/cpu_ops.h"
#include "engine/kernels/cuda/block_step.h"
#include "engine/kernels/cuda/decode_graph.h"
#include "engine/kernels/cuda/weight_upload.h"
#include "engine/kernels/cuda_probe.h"
#include "engine/model/model_config.h"

namespace {
namespace k = dsagent::engine::kernels;
namespace kc = dsagent::engine::kernels::cuda;
using dsagent::engine::ModelConfig;

// Random stored weights, kept alive for the uploads (splitmix64 bytes: fast enough for gigabytes).
// A deque: a weight's scale bytes are added after its data, which must stay where it is.
class WeightFactory {
 public:
  k::WeightRows Make(k::WeightFormat format, int64_t rows, int64_t cols) {
    const auto layout = kc::UploadLayout(format, rows, cols);
    if (!layout) throw std::invalid_argument(layout.error());
    auto& data = store_.emplace_back(static_cast<size_t>(layout->data_bytes));
    Fill(data);
    switch (format) {
      case k::WeightFormat::kFP8:
        for (auto& b : data) b &= 0x3e;  // small e4m3 values, no NaN
        break;
      case k::WeightFormat::kBF16:
      case k::WeightFormat::kF32:
        // Small normal-ish values: keep the sign and low mantissa bits, exponent near 2^-6.
        if (format == k::WeightFormat::kBF16) {
          for (size_t i = 1; i < data.size(); i += 2) data[i] = (data[i] & 0x80) | 0x3c;
        } else {
          for (size_t i = 3; i < data.size(); i += 4) data[i] = (data[i] & 0x80) | 0x3c;
        }
        break;
      case k::WeightFormat::kFP4:
        break;
    }
    const uint8_t* scale = nullptr;
    if (layout->scale_bytes() > 0) {
      auto& s = store_.emplace_back(static_cast<size_t>(layout->scale_bytes()), uint8_t{120});
      scale = s.data();
    }
    bytes_ += layout->total_bytes();
    return {format, data.data(), scale, cols, layout->scale_cols};
  }
  int64_t bytes() const { return bytes_; }

 private:
  void Fill(std::vector<uint8_t>& v) {
    size_t i = 0;
    for (; i + 8 <= v.size(); i += 8) {
      uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      std::memcpy(v.data() + i, &z, 8);
    }
    for (; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i * 131);
  }
  std::deque<std::vector<uint8_t>> store_;
  uint64_t state_ = 1;
  int64_t bytes_ = 0;
};

std::vector<float> Floats(int64_t n, float v) {
  return std::vector<float>(static_cast<size_t>(n), v);
}

struct BenchBlock {
  kc::DeviceBlock block;
  int64_t token_bytes = 0;  // weight bytes one token reads
};

// The CPU side of the expert offload: forward's view of a block's experts and the kernels that
// compute the ones kept on the host.
struct HostExperts {
  explicit HostExperts(int threads) : pool(threads), ops(pool), cx{pool, k::Numerics::kFast, ops} {}
  dsagent::engine::forward::ThreadPool pool;
  k::cpu::CpuOps ops;
  dsagent::engine::forward::Compute cx;
  std::deque<dsagent::engine::forward::MoeWeights> layers;  // stable addresses
};

dsagent::engine::forward::WeightMatrix MatrixOf(const k::WeightRows& w, int64_t rows) {
  dsagent::engine::forward::WeightMatrix m;
  m.format = w.format;
  m.rows = rows;
  m.cols = w.cols;
  m.data = w.data;
  m.scale = w.scale;
  m.scale_cols = w.scale_cols;
  return m;
}

BenchBlock MakeBlock(const ModelConfig& c, int ratio, int64_t capacity, WeightFactory& f,
                     int64_t experts_on_device, HostExperts& host, kc::CudaStream& stream) {
  using k::WeightFormat;
  const dsagent::engine::forward::Rope rope(c, ratio > 0);
  const int64_t hd = c.head_dim, dim = c.dim, width = ratio == 4 ? 2 * hd : hd;
  const float eps = static_cast<float>(c.norm_eps);
  const int64_t before = f.bytes();
  kc::AttentionWeightRows aw{
      f.Make(WeightFormat::kFP8, c.q_lora_rank, dim),
      f.Make(WeightFormat::kFP8, c.n_heads * hd, c.q_lora_rank),
      f.Make(WeightFormat::kFP8, hd, dim),
      f.Make(WeightFormat::kFP8, c.o_groups * c.o_lora_rank, c.n_heads * hd / c.o_groups),
      f.Make(WeightFormat::kFP8, dim, c.o_groups * c.o_lora_rank),
      Floats(c.q_lora_rank, 1.0f),
      Floats(hd, 1.0f),
      Floats(c.n_heads, 0.5f),
      rope.frequencies()};
  kc::AttentionShape as;
  as.dim = dim;
  as.heads = c.n_heads;
  as.head_dim = hd;
  as.rope_dims = c.rope_head_dim;
  as.q_lora_rank = c.q_lora_rank;
  as.o_groups = c.o_groups;
  as.o_lora_rank = c.o_lora_rank;
  as.window = c.window_size;
  as.ratio = ratio;
  as.capacity = capacity / ratio;
  as.norm_eps = eps;
  const auto compressor = [&](int64_t head_dim, int64_t w, bool rotate) {
    kc::CompressorShape cs;
    cs.ratio = ratio;
    cs.head_dim = head_dim;
    cs.rope_dims = c.rope_head_dim;
    cs.overlap = ratio == 4;
    cs.rotate = rotate;
    cs.norm_eps = eps;
    return kc::DeviceCompressor::Create(
        cs, f.Make(WeightFormat::kBF16, w, dim), f.Make(WeightFormat::kBF16, w, dim),
        Floats(ratio * w, 0.0f), Floats(head_dim, 1.0f), rope.frequencies(), stream);
  };
  std::optional<kc::DeviceIndexer> indexer;
  if (ratio == 4) {
    kc::IndexerShape is;
    is.heads = c.index_n_heads;
    is.head_dim = c.index_head_dim;
    is.rope_dims = c.rope_head_dim;
    is.topk = c.index_topk;
    is.ratio = 4;
    is.capacity = capacity / 4;
    indexer = kc::DeviceIndexer::Create(
        is, f.Make(WeightFormat::kFP8, int64_t{c.index_n_heads} * c.index_head_dim, c.q_lora_rank),
        f.Make(WeightFormat::kBF16, c.index_n_heads, dim), rope.frequencies(),
        compressor(c.index_head_dim, 2 * c.index_head_dim, true), stream);
  }
  kc::DeviceAttention attn =
      kc::DeviceAttention::Create(as, aw, compressor(hd, width, false), std::move(indexer), stream);
  const int64_t attention_bytes = f.bytes() - before;

  kc::MoeShape ms;
  ms.dim = dim;
  ms.inter = c.moe_inter_dim;
  ms.route.experts = c.n_routed_experts;
  ms.route.k = c.n_activated_experts;
  ms.route.route_scale = static_cast<float>(c.route_scale);
  ms.swiglu_limit = static_cast<float>(c.swiglu_limit);
  kc::MoeWeightRows mw;
  mw.gate = f.Make(WeightFormat::kBF16, c.n_routed_experts, dim);
  mw.bias = Floats(c.n_routed_experts, 0.0f);
  const int64_t expert_start = f.bytes();
  for (int e = 0; e < c.n_routed_experts; ++e) {
    mw.w1.push_back(f.Make(WeightFormat::kFP4, c.moe_inter_dim, dim));
    mw.w2.push_back(f.Make(WeightFormat::kFP4, dim, c.moe_inter_dim));
    mw.w3.push_back(f.Make(WeightFormat::kFP4, c.moe_inter_dim, dim));
  }
  const int64_t one_expert = (f.bytes() - expert_start) / c.n_routed_experts;
  const int64_t shared_start = f.bytes();
  mw.shared_w1 = f.Make(WeightFormat::kFP8, c.moe_inter_dim, dim);
  mw.shared_w2 = f.Make(WeightFormat::kFP8, dim, c.moe_inter_dim);
  mw.shared_w3 = f.Make(WeightFormat::kFP8, c.moe_inter_dim, dim);
  const int64_t shared_bytes = f.bytes() - shared_start;
  std::optional<kc::MoeOffload> offload;
  if (experts_on_device >= 0 && experts_on_device < c.n_routed_experts) {
    auto& fw = host.layers.emplace_back();
    for (int e = 0; e < c.n_routed_experts; ++e) {
      const auto i = static_cast<size_t>(e);
      fw.experts.push_back({MatrixOf(mw.w1[i], c.moe_inter_dim), MatrixOf(mw.w2[i], c.dim),
                            MatrixOf(mw.w3[i], c.moe_inter_dim)});
    }
    offload.emplace();
    offload->on_device = experts_on_device;
    offload->compute = [&fw, &c, &host](const float* xq, const int64_t* rows, const int32_t* ids,
                                        const float* weights, int64_t n, float* out) {
      dsagent::engine::forward::RoutedExpertsForward(fw, c, xq, rows, ids, weights, n, out,
                                                     host.cx);
    };
  }
  kc::DeviceMoe moe = kc::DeviceMoe::Create(ms, mw, stream, offload ? &*offload : nullptr);

  const int64_t hc = c.hc_mult, mix = (2 + hc) * hc;
  const int64_t hc_start = f.bytes();
  auto hc_attn = kc::DeviceHcWeights::Upload(f.Make(WeightFormat::kF32, mix, hc * dim), mix,
                                             Floats(mix, 0.0f), {1.0f, 1.0f, 1.0f}, stream);
  auto hc_ffn = kc::DeviceHcWeights::Upload(f.Make(WeightFormat::kF32, mix, hc * dim), mix,
                                            Floats(mix, 0.0f), {1.0f, 1.0f, 1.0f}, stream);
  const int64_t hc_bytes = f.bytes() - hc_start;
  kc::HcKernelShape hs;
  hs.hc = hc;
  hs.dim = dim;
  hs.sinkhorn_iters = c.hc_sinkhorn_iters;
  hs.hc_eps = static_cast<float>(c.hc_eps);
  hs.norm_eps = eps;
  BenchBlock b{
      kc::DeviceBlock::Create(hs, std::move(attn), std::move(moe), std::move(hc_attn),
                              std::move(hc_ffn), Floats(dim, 1.0f), Floats(dim, 1.0f), stream),
      0};
  // A token reads the attention (all of it; the compressors' and indexer's included), the gate,
  // its k routed experts, the shared expert and the mHC fns.
  b.token_bytes = attention_bytes + int64_t{c.n_routed_experts} * dim * 2 +
                  c.n_activated_experts * one_expert + shared_bytes + hc_bytes;
  return b;
}

// Seconds since t0.
double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "tests/data/v4-flash-config.json", json_path;
  int64_t context = 2048;
  int reps = 32;
  int64_t experts_on_device = -1;
  // --profile: the timed steps only, between ProfilerStart and ProfilerStop (for `ncu
  // --profile-from-start off`, scripts/gpu-check.sh: every kernel's time in a decode step).
  bool profile = false;
  int only_ratio = 0;  // --ratio 4|128: that block only (a profile of one kind of layer)
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--config") && i + 1 < argc) config_path = argv[++i];
    if (!std::strcmp(argv[i], "--context") && i + 1 < argc) context = std::atoll(argv[++i]);
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    if (!std::strcmp(argv[i], "--profile")) profile = true;
    if (!std::strcmp(argv[i], "--ratio") && i + 1 < argc) only_ratio = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--experts-on-device") && i + 1 < argc) {
      experts_on_device = std::atoll(argv[++i]);
    }
  }
  const k::CudaProbe probe = k::ProbeCuda();
  if (probe.devices.empty()) {
    std::fprintf(stderr, "cuda_decode_bench: %s\n", probe.problem.c_str());
    return 2;
  }
  auto config = dsagent::engine::LoadModelConfig(config_path);
  if (!config) {
    std::fprintf(stderr, "cuda_decode_bench: %s\n", config.error().c_str());
    return 2;
  }
  const ModelConfig& c = *config;
  try {
    kc::UseDevice(0);
    kc::CudaStream stream;
    WeightFactory factory;
    HostExperts host(static_cast<int>(std::thread::hardware_concurrency()));
    // Room for the plain steps and, all experts on the device, as many graphed ones.
    const int64_t capacity = context + 2 * reps + 1;
    std::string json = "{\"device\": \"" + probe.devices[0].name +
                       "\", \"context\": " + std::to_string(context) + ", \"blocks\": [";
    double csa_ms = 0, hca_ms = 0;
    for (const int ratio : {4, 128}) {
      if (only_ratio != 0 && ratio != only_ratio) continue;
      const auto t_build = std::chrono::steady_clock::now();
      BenchBlock b = MakeBlock(c, ratio, capacity, factory, experts_on_device, host, stream);
      const double build_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t_build).count();
      kc::DeviceAttentionState state = kc::DeviceAttentionState::Create(b.block.attn, stream);
      kc::DeviceBuffer h(static_cast<size_t>(c.hc_mult * c.dim) * sizeof(float));
      const std::vector<float> h0(static_cast<size_t>(c.hc_mult * c.dim), 0.01f);
      // Fill the cache: `context` tokens (the streams reset each time so values stay tame).
      for (int64_t pos = 0; pos < context; ++pos) {
        h.Upload(h0.data(), h.bytes(), stream);
        kc::BlockDecode(b.block, state, h.as<float>(), pos, nullptr, stream);
      }
      stream.Synchronize();
      b.block.ffn.offload_wait_seconds = b.block.ffn.offload_host_seconds = 0;
      if (profile) kc::ProfilerStart();
      const auto t0 = std::chrono::steady_clock::now();
      // As a model's step chains its blocks: each step but the last leaves its MoE combine to the
      // next one's first launch (block_step.h), so a middle step is one the model runs.
      for (int r = 0; r < reps; ++r) {
        kc::BlockDecode(b.block, state, h.as<float>(), context + r, nullptr, stream,
                        r > 0 ? &b.block : nullptr, r + 1 < reps);
      }
      // The host's own time to queue the steps: near the step time, the launches are the bound.
      const double queue_s = Since(t0) / reps;
      stream.Synchronize();
      if (profile) kc::ProfilerStop();
      const double secs = Since(t0) / reps;
      (ratio == 4 ? csa_ms : hca_ms) = secs * 1e3;
      std::printf(
          "block ratio %3d at %lld tokens: %8.3f ms/token, %7.1f MB weights/token, "
          "%7.1f GB/s (built in %.1f s); the host queued a step in %.3f ms\n",
          ratio, static_cast<long long>(context), secs * 1e3, b.token_bytes / 1e6,
          b.token_bytes / secs / 1e9, build_s, queue_s * 1e3);
      if (!profile && reps >= 2 && b.block.ffn.on_device == c.n_routed_experts) {
        // The same steps as CUDA graphs (decode_graph.h), a capture and a launch per block as the
        // engine's decode does. Queued without waiting, so the host captures a block while the
        // device runs the one before, as it does with the pieces of a model's step.
        kc::DecodeGraphs graphs;
        const int64_t first = context + reps;
        // A warm-up pass over the same slots and positions: the instantiations (the timed pass
        // then only updates; repeating positions changes nothing a timing depends on).
        for (int r = 1; r < reps; ++r) {
          graphs.Run(stream, static_cast<uint64_t>(r), [&] {
            kc::BlockDecode(b.block, state, h.as<float>(), first + r, nullptr, stream,
                            r > 1 ? &b.block : nullptr, r + 1 < reps);
          });
        }
        stream.Synchronize();
        const int64_t warm_instantiations = graphs.stats().instantiations;
        const auto g0 = std::chrono::steady_clock::now();
        // Each block of the run in its own slot, as a model step's pieces are (the slot's last
        // launch long done when it is updated).
        for (int r = 1; r < reps; ++r) {
          graphs.Run(stream, static_cast<uint64_t>(r), [&] {
            kc::BlockDecode(b.block, state, h.as<float>(), first + r, nullptr, stream,
                            r > 1 ? &b.block : nullptr, r + 1 < reps);
          });
        }
        const double graph_queue_s = Since(g0) / (reps - 1);
        stream.Synchronize();
        const double graph_s = Since(g0) / (reps - 1);
        std::printf(
            "  as CUDA graphs: %8.3f ms/token (the host captured and launched a step in %.3f "
            "ms; %lld nodes, %lld instantiated while timed)\n",
            graph_s * 1e3, graph_queue_s * 1e3,
            static_cast<long long>(graphs.stats().last_nodes),
            static_cast<long long>(graphs.stats().instantiations - warm_instantiations));
        json += std::string(json.back() == '[' ? "" : ", ") + "{\"ratio\": " +
                std::to_string(ratio) +
                ", \"graphs\": 1, \"ms_per_token\": " + std::to_string(graph_s * 1e3) + "}";
      }
      if (b.block.ffn.on_device < c.n_routed_experts) {
        std::printf(
            "  experts %lld..%d on the host: per token %.3f ms waiting for the router's copies, "
            "%.3f ms computing them (%u threads)\n",
            static_cast<long long>(b.block.ffn.on_device), c.n_routed_experts - 1,
            b.block.ffn.offload_wait_seconds / reps * 1e3,
            b.block.ffn.offload_host_seconds / reps * 1e3, std::thread::hardware_concurrency());
      }
      json += std::string(json.back() == '[' ? "" : ", ") + "{\"ratio\": " +
              std::to_string(ratio) + ", \"ms_per_token\": " + std::to_string(secs * 1e3) +
              ", \"weight_bytes_per_token\": " + std::to_string(b.token_bytes) + "}";
    }
    int csa = 0, hca = 0, window = 0;
    for (int l = 0; l < c.n_layers; ++l) {
      const int r = c.compress_ratios[static_cast<size_t>(l)];
      (r == 4 ? csa : r > 0 ? hca : window) += 1;
    }
    // Window-only layers counted as HCA ones (no indexer either; their compressor is absent).
    const double token_ms = csa * csa_ms + (hca + window) * hca_ms;
    std::printf(
        "%d layers (%d CSA, %d HCA, %d window-only as HCA): %.2f ms/token, %.1f tokens/s "
        "(embedding and head aside)\n",
        c.n_layers, csa, hca, window, token_ms, 1e3 / token_ms);
    json += "], \"model_ms_per_token\": " + std::to_string(token_ms) + "}\n";
    if (!json_path.empty()) std::ofstream(json_path) << json;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_decode_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
