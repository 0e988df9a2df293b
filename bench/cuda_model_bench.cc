// End-to-end decode on a GPU through the engine's device SequenceModel
// (engine/kernels/cuda/device_sequence_model.h): a checkpoint — e.g. `dsagent engine synth` of
// V4-Flash's shape with as many layers as fit — planned for the device as `--device cuda` plans it
// (engine/model/placement_plan.h; --gpu-memory caps the device, and the routed experts past the
// cap stay in host memory, computed by this machine's CPUs; --expert-share F plans for a device
// that holds the fraction F of the routed experts' bytes), then prefill and --steps decode steps
// for each of --sequences sequences.
//
// Prefill: --prefill N[,M...]: each length timed as one Forward call on a fresh sequence (chunks of
// --chunk-rows rows through ModelRows, logits of the last row only); the sequences that decode
// afterwards hold the first length's prompt. Decode: one token per sequence per step, all
// sequences' tokens as one ForwardBatch call per step (--one-by-one: a Forward call per sequence,
// the way before the rows forward). Prints the plan, prefill tokens/s per length, and for decode
// the time per step, tokens/s over all sequences, the weight bytes a step reads (everything but
// the routed experts, the embedding rows and the MTP blocks once, plus k / n_routed_experts of the
// routed experts' bytes per sequence: the routed experts are read per slot, not yet grouped by
// expert) and their rate against a measured device-to-device copy (of --copy-mib N MiB, 1024 by
// default; the emulated ctest runs take 16, as a GiB costs the CPU seconds). --synth-layers N first
// writes DIR as `dsagent engine synth --config FILE --layers N` would (V4-Flash's shape from
// tests/data/v4-flash-config.json by default, its first N layers' compress ratios) unless DIR
// already holds a checkpoint. Run by scripts/gpu-check.sh; docs/BENCHMARKS.md has the method.
// --phase-times 1: after each prefill, where its device time went (phase_times.h: the rows
// forward's phases summed over the layers, each with its share). --rows-kernel
// gemm|by-input|tensor: the kernel for several activation rows (ops.h RowsKernelChoice; gemm, the
// register-tiled one, by default; tensor, the tensor cores' for a single weight's products) and
// --chunk-rows N the rows per ModelRows call (DeviceDecoderOptions::chunk_rows, 256 by default);
// --row-attention per-row runs each row's attention on its own (attention_step.h
// ChunkWideAttention; chunk-wide by default): by-input with 64 and per-row is the rows forward
// before session 20.
//   cuda_model_bench --model DIR [--synth-layers N [--config FILE]] [--prefill 64[,8192]]
//                    [--steps 32] [--sequences 1] [--one-by-one 1] [--rows-kernel K]
//                    [--chunk-rows N] [--row-attention chunk|per-row] [--phase-times 1]
//                    [--gpu-memory SIZE | --expert-share F] [--threads N] [--json FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/file_io.h"
#include "common/json.h"
#include "engine/forward/model.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/device_sequence_model.h"
#include "engine/kernels/cuda/expert_stream.h"
#include "engine/kernels/cuda/expert_stream_costs.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/phase_times.h"
#include "engine/kernels/cuda_probe.h"
#include "engine/kernels/device_spec.h"
#include "engine/model/dtype.h"
#include "engine/model/loaded_pages.h"
#include "engine/model/placement_plan.h"
#include "engine/model/synthetic_checkpoint.h"
#include "engine/model/tensor_inventory.h"

namespace {
namespace e = dsagent::engine;
namespace k = dsagent::engine::kernels;
namespace kc = dsagent::engine::kernels::cuda;

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// This process's resident host memory, from /proc/self/status: "RssAnon 1.23 GiB, RssFile 4.56
// GiB" (private copies, loaded weights among them; mapped files' pages).
std::string HostMemory() {
  std::ifstream status("/proc/self/status");
  std::string out;
  for (std::string line; std::getline(status, line);) {
    for (const char* key : {"RssAnon:", "RssFile:"}) {
      if (line.rfind(key, 0) != 0) continue;
      char part[64];
      std::snprintf(part, sizeof part, "%s%.*s %.2f GiB", out.empty() ? "" : ", ",
                    static_cast<int>(std::strlen(key) - 1), key,
                    std::atof(line.c_str() + std::strlen(key)) / (1 << 20));
      out += part;
    }
  }
  return out;
}

// The weight bytes a decode step reads (see the header): the dense part once, the routed experts'
// average share per token.
struct StepBytes {
  double dense = 0, routed_per_token = 0;
  double For(int64_t tokens) const {
    return dense + routed_per_token * static_cast<double>(tokens);
  }
};
StepBytes WeightBytes(const e::ModelConfig& c) {
  StepBytes b;
  for (const e::ExpectedTensor& t : e::ExpectedTensors(c)) {
    if (t.mtp || t.id == e::V4Tensor::kEmbed) continue;
    double n = static_cast<double>(e::DTypeBytes(t.dtype));
    for (const int64_t d : t.shape) n *= static_cast<double>(d);
    if (t.routed_expert) {
      b.routed_per_token += n * static_cast<double>(c.n_activated_experts) / c.n_routed_experts;
    } else {
      b.dense += n;
    }
  }
  return b;
}

// Device-to-device copy bandwidth (read + write of a buffer of `mib` MiB, 1024 by default: well
// past any L2; 10 times).
double CopyBandwidth(int64_t mib) {
  kc::UseDevice(0);
  kc::CudaStream stream;
  const size_t bytes = static_cast<size_t>(mib) << 20;
  kc::DeviceBuffer a(bytes), b(bytes);
  kc::CopyDeviceToDevice(b.data(), a.data(), bytes, stream);
  stream.Synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < 10; ++r) kc::CopyDeviceToDevice(b.data(), a.data(), bytes, stream);
  stream.Synchronize();
  return 2.0 * static_cast<double>(bytes) * 10 / Seconds(t0, std::chrono::steady_clock::now());
}

int Usage() {
  std::fprintf(stderr,
               "usage: cuda_model_bench --model DIR [--synth-layers N [--config FILE]] "
               "[--prefill N[,M...]] [--steps N] [--sequences N] [--one-by-one 1] "
               "[--gpu-memory SIZE | --expert-share F] [--threads N] [--graphs 0|1] [--pin 0|1] "
               "[--numerics fast|exact] [--rows-kernel gemm|by-input|tensor] [--chunk-rows N] "
               "[--row-attention chunk|per-row] [--phase-times 1] [--copy-mib N] "
               "[--json FILE]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, gpu_memory, json_path, config_path = "tests/data/v4-flash-config.json";
  int synth_layers = 0;
  std::vector<int64_t> prefills = {64};
  int64_t steps = 32, sequences = 1, chunk_rows = k::cuda::kDeviceChunkRows, copy_mib = 1024;
  std::string rows_kernel = "gemm", row_attention = "chunk";
  bool one_by_one = false, graphs = true, pin = true, phase_times = false;
  k::Numerics numerics = k::Numerics::kFast;
  int threads = 0;
  double expert_share = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--model") {
      model_dir = value;
    } else if (flag == "--prefill") {
      prefills.clear();
      for (size_t at = 0; at <= value.size();) {
        const size_t comma = std::min(value.find(',', at), value.size());
        prefills.push_back(std::atoll(value.substr(at, comma - at).c_str()));
        at = comma + 1;
      }
    } else if (flag == "--one-by-one") {
      one_by_one = value == "1";
    } else if (flag == "--graphs") {
      graphs = value != "0";
    } else if (flag == "--pin") {
      pin = value != "0";
    } else if (flag == "--numerics") {
      const auto parsed = k::ParseNumerics(value);
      if (!parsed) return Usage();
      numerics = *parsed;
    } else if (flag == "--rows-kernel") {
      if (value != "gemm" && value != "by-input" && value != "tensor") return Usage();
      rows_kernel = value;
    } else if (flag == "--row-attention") {
      if (value != "chunk" && value != "per-row") return Usage();
      row_attention = value;
    } else if (flag == "--phase-times") {
      phase_times = value == "1";
    } else if (flag == "--copy-mib") {
      copy_mib = std::atoll(value.c_str());
    } else if (flag == "--chunk-rows") {
      chunk_rows = std::atoll(value.c_str());
    } else if (flag == "--steps") {
      steps = std::atoll(value.c_str());
    } else if (flag == "--sequences") {
      sequences = std::atoll(value.c_str());
    } else if (flag == "--gpu-memory") {
      gpu_memory = value;
    } else if (flag == "--synth-layers") {
      synth_layers = std::atoi(value.c_str());
    } else if (flag == "--config") {
      config_path = value;
    } else if (flag == "--expert-share") {
      expert_share = std::atof(value.c_str());
    } else if (flag == "--threads") {
      threads = std::atoi(value.c_str());
    } else if (flag == "--json") {
      json_path = value;
    } else {
      return Usage();
    }
  }
  if (model_dir.empty() || prefills.empty() || steps < 1 || sequences < 1 || chunk_rows < 1 ||
      copy_mib < 1) {
    return Usage();
  }
  k::cuda::SetRowsKernel(rows_kernel == "gemm"     ? k::cuda::RowsKernel::kGemm
                         : rows_kernel == "tensor" ? k::cuda::RowsKernel::kTensor
                                                   : k::cuda::RowsKernel::kByInput);
  k::cuda::SetChunkWideAttention(row_attention == "chunk");
  for (const int64_t p : prefills) {
    if (p < 1) return Usage();
  }
  const int64_t prefill = prefills[0];
  const int64_t longest = *std::max_element(prefills.begin(), prefills.end());
  // The device first: without one, no synthetic checkpoint (gigabytes) is written for nothing.
  const k::CudaProbe probe = k::ProbeCuda();
  if (probe.devices.empty()) {
    std::fprintf(stderr, "cuda_model_bench: %s\n", probe.problem.c_str());
    return 2;
  }
  if (synth_layers > 0 &&
      !std::filesystem::exists(std::filesystem::path(model_dir) / "config.json")) {
    const auto text = dsagent::ReadFileToString(config_path);
    if (!text) {
      std::fprintf(stderr, "cuda_model_bench: --config: %s\n", text.error().c_str());
      return 2;
    }
    const dsagent::Json base = dsagent::Json::parse(*text, nullptr, false);
    if (base.is_discarded()) {
      std::fprintf(stderr, "cuda_model_bench: --config %s: not valid JSON\n", config_path.c_str());
      return 2;
    }
    e::SyntheticOptions synth;
    synth.layers = synth_layers;
    synth.threads = threads;
    const auto t0 = std::chrono::steady_clock::now();
    auto written = e::WriteSyntheticCheckpoint(base, synth, model_dir);
    if (!written) {
      std::fprintf(stderr, "cuda_model_bench: synth: %s\n", written.error().c_str());
      return 1;
    }
    std::printf("synthetic checkpoint %s: %d layers, %.2f GB, written in %.1f s\n",
                model_dir.c_str(), synth_layers, static_cast<double>(written->file_bytes) / 1e9,
                Seconds(t0, std::chrono::steady_clock::now()));
  }
  auto model = e::forward::Model::Load(model_dir, {.threads = threads, .numerics = numerics});
  if (!model) {
    std::fprintf(stderr, "cuda_model_bench: %s\n", model.error().c_str());
    return 1;
  }
  const e::ModelConfig& c = (*model)->config();
  const int64_t context = std::max(longest, prefill + steps) + 1;
  int64_t capacity = probe.devices[0].total_bytes;
  if (!gpu_memory.empty()) {
    const auto spec = k::ParseDeviceSpec("cuda");
    const auto cap = k::ParseGpuMemory(gpu_memory, *spec);
    if (!cap) {
      std::fprintf(stderr, "cuda_model_bench: --gpu-memory: %s\n", cap.error().c_str());
      return 2;
    }
    if (*cap > 0 && *cap < capacity) capacity = *cap;
  }
  const e::PlacementReserve reserve =
      e::PlacementReserveFor(c, context, static_cast<int>(sequences));
  const auto tensors = e::ExpectedTensors(c);
  if (expert_share >= 0) {
    // The device that holds everything but that share of the experts: plan for an unbounded one
    // to learn the sizes.
    auto all = e::PlanPlacement(tensors, int64_t{1} << 62, reserve.total());
    if (!all) {
      std::fprintf(stderr, "cuda_model_bench: %s\n", all.error().c_str());
      return 1;
    }
    capacity = all->resident_bytes + reserve.total() +
               static_cast<int64_t>(expert_share * static_cast<double>(all->device_expert_bytes));
  }
  auto plan = e::PlanPlacement(tensors, capacity, reserve.total(), e::kRuntimePlacementOptions);
  if (!plan) {
    std::fprintf(stderr, "cuda_model_bench: %s\n", plan.error().c_str());
    return 1;
  }
  std::printf("%s", e::DescribePlacement(*plan).c_str());
  const auto upload_start = std::chrono::steady_clock::now();
  auto device = k::cuda::DeviceSequenceModel::Create(**model, *plan,
                                                     {.device = 0,
                                                      .context = context,
                                                      .host_threads = threads,
                                                      .graphs = graphs,
                                                      .pin_host_experts = pin,
                                                      .chunk_rows = chunk_rows});
  if (!device) {
    std::fprintf(stderr, "cuda_model_bench: %s\n", device.error().c_str());
    return 1;
  }
  // The weights' upload from the host memory the checkpoint was loaded or mapped into (the model
  // built, its state allocated, host experts pinned: what a user waits for at load).
  const double upload_s = Seconds(upload_start, std::chrono::steady_clock::now());
  const double upload_gb =
      static_cast<double>(plan->resident_bytes + plan->device_expert_bytes) / 1e9;
  std::printf("weights to the device: %.2f GB in %.1f s, %.2f GB/s\n", upload_gb, upload_s,
              upload_gb / upload_s);
  if (!plan->all_on_device()) std::printf("  %s\n", (*device)->HostExpertMemory().c_str());
  const kc::ExpertStreamCosts stream_costs = (*device)->StreamCosts();
  if (plan->stream_pool_experts > 0) {
    std::printf("  %s (%s)\n",
                kc::DescribeExpertStreamCosts(stream_costs,
                                              plan->stream_pool_bytes / plan->stream_pool_experts,
                                              plan->stream_min_rows)
                    .c_str(),
                kc::StreamChoiceByCapacity()
                    ? "not used: DSAGENT_CUDA_STREAM_CHOICE=capacity fills the pool"
                    : "the calls' choice");
  }
  // What host memory the run holds, and for loaded weights the host's copy of what the GPU holds
  // given back to the files' pages, as the runtime does after its upload.
  std::printf("host memory after the upload: %s\n", HostMemory().c_str());
  if ((*model)->weight_residency() == e::WeightResidency::kLoaded) {
    const std::vector<e::AddressRange> host = (*device)->HostWeightRanges();
    const std::string line =
        e::DescribeReturnedPages((*model)->ReturnLoadedWeightPages(host), !host.empty());
    std::printf("  %s\n", line.c_str());
    std::printf("host memory after giving back: %s\n", HostMemory().c_str());
  }
  double copy_bw = 0;
  try {
    copy_bw = CopyBandwidth(copy_mib);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "cuda_model_bench: copy bandwidth: %s\n", ex.what());
    return 1;
  }
  const auto token = [&](int64_t s, int64_t i) {
    return static_cast<int32_t>((1000 + 7919 * s + 104729 * i) % c.vocab_size);
  };
  e::StepOptions last_only;
  last_only.last_row_only = true;
  const auto prompt_of = [&](int64_t s, int64_t n) {
    std::vector<int32_t> prompt;
    for (int64_t i = 0; i < n; ++i) prompt.push_back(token(s, i));
    return prompt;
  };

  // With experts on the host, where their time went since the last report (DeviceSequenceModel
  // ::Offload): the host's wait for the routing, its CPU experts, queueing streamed experts.
  k::cuda::DeviceSequenceModel::OffloadStats seen;
  const auto report_offload = [&](const char* what, double calls) {
    if (plan->all_on_device()) return;
    const auto now = (*device)->Offload();
    std::printf(
        "  offload (%s, per %s): %.3f ms waiting for the routing, %.3f ms host experts on the "
        "CPU (%.1f slots), %.3f ms queueing %.1f streamed experts\n",
        what, calls == 1 ? "call" : "step", (now.wait_seconds - seen.wait_seconds) / calls * 1e3,
        (now.host_seconds - seen.host_seconds) / calls * 1e3,
        static_cast<double>(now.host_slots - seen.host_slots) / calls,
        (now.stream_queue_seconds - seen.stream_queue_seconds) / calls * 1e3,
        static_cast<double>(now.streamed_experts - seen.streamed_experts) / calls);
    seen = now;
  };
  // Prefill: each length as one Forward call on a fresh sequence (chunked on the device).
  std::vector<double> prefill_tps;
  if (phase_times) {
    k::cuda::SetPhaseTiming(true);
    k::cuda::CollectPhaseTimes();  // nothing before the prefills
  }
  for (const int64_t n : prefills) {
    auto seq = (*device)->NewSequence();
    const std::vector<int32_t> prompt = prompt_of(0, n);
    const auto p0 = std::chrono::steady_clock::now();
    auto out = (*device)->Forward(*seq, prompt, last_only);
    if (!out) {
      std::fprintf(stderr, "cuda_model_bench: prefill: %s\n", out.error().c_str());
      return 1;
    }
    prefill_tps.push_back(static_cast<double>(n) / Seconds(p0, std::chrono::steady_clock::now()));
    std::printf(
        "prefill %lld tokens (chunks of %lld rows, %s rows kernel, %s attention): %.1f "
        "tokens/s\n",
        static_cast<long long>(n), static_cast<long long>(chunk_rows), rows_kernel.c_str(),
        row_attention.c_str(), prefill_tps.back());
    if (phase_times) {
      const auto phases = k::cuda::CollectPhaseTimes();
      double total = 0;
      for (const auto& p : phases) total += p.ms;
      for (const auto& p : phases) {
        std::printf("  phase %-26s %9.2f ms  %5.1f%%  (%lld intervals)\n", p.name.c_str(), p.ms,
                    total > 0 ? 100.0 * p.ms / total : 0.0, static_cast<long long>(p.count));
      }
    }
    report_offload("prefill", 1);
  }
  if (phase_times) k::cuda::SetPhaseTiming(false);
  // The decoding sequences: the first length's prompt each.
  std::vector<std::unique_ptr<e::ModelSequence>> seqs;
  for (int64_t s = 0; s < sequences; ++s) {
    seqs.push_back((*device)->NewSequence());
    auto out = (*device)->Forward(*seqs.back(), prompt_of(s, prefill), last_only);
    if (!out) {
      std::fprintf(stderr, "cuda_model_bench: prefill: %s\n", out.error().c_str());
      return 1;
    }
  }

  // Decode: one token per sequence per step; all sequences in one ForwardBatch call per step, or
  // (--one-by-one, or one sequence) a Forward call per sequence.
  if (!plan->all_on_device()) seen = (*device)->Offload();  // the sequences' prefills aside
  const auto d0 = std::chrono::steady_clock::now();
  std::vector<int32_t> next(static_cast<size_t>(sequences));
  std::vector<e::SequenceStep> batch(static_cast<size_t>(sequences));
  for (int64_t step = 0; step < steps; ++step) {
    for (int64_t s = 0; s < sequences; ++s) {
      next[static_cast<size_t>(s)] = token(s, prefill + step);
      batch[static_cast<size_t>(s)] = {seqs[static_cast<size_t>(s)].get(),
                                       std::span<const int32_t>(&next[static_cast<size_t>(s)], 1)};
    }
    if (sequences > 1 && !one_by_one) {
      auto out = (*device)->ForwardBatch(batch);
      if (!out) {
        std::fprintf(stderr, "cuda_model_bench: decode: %s\n", out.error().c_str());
        return 1;
      }
      continue;
    }
    for (int64_t s = 0; s < sequences; ++s) {
      auto out = (*device)->Forward(*seqs[static_cast<size_t>(s)],
                                    batch[static_cast<size_t>(s)].tokens, last_only);
      if (!out) {
        std::fprintf(stderr, "cuda_model_bench: decode: %s\n", out.error().c_str());
        return 1;
      }
    }
  }
  const double decode_s = Seconds(d0, std::chrono::steady_clock::now());
  const double tokens = static_cast<double>(steps * sequences);
  const StepBytes bytes = WeightBytes(c);
  const double step_bytes = bytes.For(sequences);
  const double ms_per_step = decode_s / static_cast<double>(steps) * 1e3;
  const double rate = step_bytes * static_cast<double>(steps) / decode_s;
  std::printf(
      "%s: %d layers, context %lld, %lld sequence(s)%s, %s numerics, %s rows kernel, device %s, "
      "copy %.1f GB/s\n"
      "decode %lld steps: %.3f ms per step, %.1f tokens/s, %.1f MB weights per step, "
      "%.1f GB/s (%.1f%% of copy)\n",
      model_dir.c_str(), c.n_layers, static_cast<long long>(context),
      static_cast<long long>(sequences),
      sequences > 1 ? (one_by_one ? " one by one" : " in one ForwardBatch per step") : "",
      std::string(k::NumericsName(numerics)).c_str(), rows_kernel.c_str(),
      probe.devices[0].name.c_str(), copy_bw / 1e9, static_cast<long long>(steps), ms_per_step,
      tokens / decode_s, step_bytes / 1e6, rate / 1e9, 100.0 * rate / copy_bw);
  report_offload("decode", static_cast<double>(steps));
  const auto graph = (*device)->Graphs();
  if (graph.on) {
    std::printf(
        "graphs: on, %lld launches (%lld instantiated, %lld updated), %lld nodes in the "
        "last\n",
        static_cast<long long>(graph.stats.launches),
        static_cast<long long>(graph.stats.instantiations),
        static_cast<long long>(graph.stats.updates),
        static_cast<long long>(graph.stats.last_nodes));
  } else {
    std::printf("graphs: off (%s)\n", graph.off_reason.c_str());
  }
  if (!json_path.empty()) {
    std::ofstream json(json_path);
    json << "{\"model\": \"" << model_dir << "\", \"layers\": " << c.n_layers
         << ", \"sequences\": " << sequences << ", \"one_by_one\": " << (one_by_one ? 1 : 0)
         << ", \"graphs\": " << (graph.on ? 1 : 0) << ", \"numerics\": \""
         << k::NumericsName(numerics) << "\""
         << ", \"rows_kernel\": \"" << rows_kernel << "\", \"row_attention\": \"" << row_attention
         << "\", \"chunk_rows\": " << chunk_rows
         << ", \"experts_on_device\": " << plan->experts_on_device
         << ", \"experts_total\": " << plan->experts_total << ", \"copy_gbps\": " << copy_bw / 1e9
         << ", \"upload_seconds\": " << upload_s << ", \"upload_gb\": " << upload_gb
         << ", \"stream_choice\": \""
         << (kc::StreamChoiceByCapacity() ? "capacity" : "measured costs")
         << "\", \"stream_copy_ms\": " << stream_costs.copy_seconds * 1e3
         << ", \"stream_cpu_ms\": " << stream_costs.cpu_seconds * 1e3
         << ", \"stream_cpu_row_ms\": " << stream_costs.cpu_slot_seconds * 1e3
         << ", \"stream_device_ms\": " << stream_costs.device_seconds * 1e3
         << ", \"stream_device_row_ms\": " << stream_costs.device_slot_seconds * 1e3
         << ", \"stream_copies_hold_the_host\": "
         << (stream_costs.copies_hold_the_host ? "true" : "false") << ", \"prefill\": [";
    for (size_t i = 0; i < prefills.size(); ++i) {
      json << (i ? ", " : "") << "{\"tokens\": " << prefills[i]
           << ", \"tokens_per_s\": " << prefill_tps[i] << "}";
    }
    json << "], \"decode_ms_per_step\": " << ms_per_step
         << ", \"decode_tokens_per_s\": " << tokens / decode_s
         << ", \"weight_bytes_per_step\": " << step_bytes << ", \"weight_gbps\": " << rate / 1e9
         << "}\n";
  }
  return 0;
}
