// End-to-end decode on a GPU through the engine's device SequenceModel
// (engine/kernels/cuda/device_sequence_model.h): a checkpoint — e.g. `dsagent engine synth` of
// V4-Flash's shape with as many layers as fit — planned for the device as `--device cuda` plans it
// (engine/model/placement_plan.h; --gpu-memory caps the device, and the routed experts past the
// cap stay in host memory, computed by this machine's CPUs; --expert-share F plans for a device
// that holds the fraction F of the routed experts' bytes), then --prefill tokens and --steps
// decode steps for each of --sequences sequences, round robin. Prints the plan, the prefill
// tokens/s (token by token today: the device has no multi-token prefill yet), and for decode the
// time per step, tokens/s over all sequences, the weight bytes one token reads (everything but
// the routed experts, the embedding row and the MTP blocks, plus k / n_routed_experts of the routed
// experts' bytes) and their rate. --synth-layers N first writes DIR as `dsagent engine synth
// --config FILE --layers N` would (V4-Flash's shape from tests/data/v4-flash-config.json by
// default, its first N layers' compress ratios) unless DIR already holds a checkpoint. Run by
// scripts/gpu-check.sh; docs/BENCHMARKS.md has the method.
//   cuda_model_bench --model DIR [--synth-layers N [--config FILE]] [--prefill 64] [--steps 32]
//                    [--sequences 1] [--gpu-memory SIZE | --expert-share F] [--threads N]
//                    [--json FILE]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "engine/forward/model.h"
#include "engine/kernels/cuda/device_sequence_model.h"
#include "engine/kernels/cuda_probe.h"
#include "engine/kernels/device_spec.h"
#include "engine/model/dtype.h"
#include "common/file_io.h"
#include "common/json.h"
#include "engine/model/placement_plan.h"
#include "engine/model/synthetic_checkpoint.h"
#include "engine/model/tensor_inventory.h"

namespace {
namespace e = dsagent::engine;
namespace k = dsagent::engine::kernels;

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The weight bytes one decode token reads on average (see the header).
double TokenWeightBytes(const e::ModelConfig& c) {
  double bytes = 0;
  for (const e::ExpectedTensor& t : e::ExpectedTensors(c)) {
    if (t.mtp || t.id == e::V4Tensor::kEmbed) continue;
    double n = static_cast<double>(e::DTypeBytes(t.dtype));
    for (const int64_t d : t.shape) n *= static_cast<double>(d);
    if (t.routed_expert) n *= static_cast<double>(c.n_activated_experts) / c.n_routed_experts;
    bytes += n;
  }
  return bytes;
}

int Usage() {
  std::fprintf(stderr,
               "usage: cuda_model_bench --model DIR [--synth-layers N [--config FILE]] "
               "[--prefill N] [--steps N] [--sequences N] "
               "[--gpu-memory SIZE | --expert-share F] [--threads N] [--json FILE]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, gpu_memory, json_path, config_path = "tests/data/v4-flash-config.json";
  int synth_layers = 0;
  int64_t prefill = 64, steps = 32, sequences = 1;
  int threads = 0;
  double expert_share = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--model") {
      model_dir = value;
    } else if (flag == "--prefill") {
      prefill = std::atoll(value.c_str());
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
  if (model_dir.empty() || prefill < 1 || steps < 1 || sequences < 1) return Usage();
  if (synth_layers > 0 && !std::filesystem::exists(std::filesystem::path(model_dir) / "config.json")) {
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
  const k::CudaProbe probe = k::ProbeCuda();
  if (probe.devices.empty()) {
    std::fprintf(stderr, "cuda_model_bench: %s\n", probe.problem.c_str());
    return 2;
  }
  auto model = e::forward::Model::Load(model_dir, {.threads = threads, .numerics = k::Numerics::kFast});
  if (!model) {
    std::fprintf(stderr, "cuda_model_bench: %s\n", model.error().c_str());
    return 1;
  }
  const e::ModelConfig& c = (*model)->config();
  const int64_t context = prefill + steps + 1;
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
  auto plan = e::PlanPlacement(tensors, capacity, reserve.total());
  if (!plan) {
    std::fprintf(stderr, "cuda_model_bench: %s\n", plan.error().c_str());
    return 1;
  }
  std::printf("%s", e::DescribePlacement(*plan).c_str());
  auto device = k::cuda::DeviceSequenceModel::Create(
      **model, *plan, {.device = 0, .context = context, .host_threads = threads});
  if (!device) {
    std::fprintf(stderr, "cuda_model_bench: %s\n", device.error().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<e::ModelSequence>> seqs;
  for (int64_t s = 0; s < sequences; ++s) seqs.push_back((*device)->NewSequence());
  const auto token = [&](int64_t s, int64_t i) {
    return static_cast<int32_t>((1000 + 7919 * s + 104729 * i) % c.vocab_size);
  };
  e::StepOptions last_only;
  last_only.last_row_only = true;

  // Prefill: each sequence's prompt in one Forward call (token by token on the device today).
  const auto p0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < sequences; ++s) {
    std::vector<int32_t> prompt;
    for (int64_t i = 0; i < prefill; ++i) prompt.push_back(token(s, i));
    auto out = (*device)->Forward(*seqs[static_cast<size_t>(s)], prompt, last_only);
    if (!out) {
      std::fprintf(stderr, "cuda_model_bench: prefill: %s\n", out.error().c_str());
      return 1;
    }
  }
  const double prefill_s = Seconds(p0, std::chrono::steady_clock::now());

  // Decode: one token per sequence per step, round robin (ForwardBatch would run them the same way
  // today: one after another).
  const auto d0 = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < steps; ++step) {
    for (int64_t s = 0; s < sequences; ++s) {
      const int32_t t = token(s, prefill + step);
      auto out = (*device)->Forward(*seqs[static_cast<size_t>(s)], {&t, 1}, last_only);
      if (!out) {
        std::fprintf(stderr, "cuda_model_bench: decode: %s\n", out.error().c_str());
        return 1;
      }
    }
  }
  const double decode_s = Seconds(d0, std::chrono::steady_clock::now());
  const double tokens = static_cast<double>(steps * sequences);
  const double token_bytes = TokenWeightBytes(c);
  const double ms_per_step = decode_s / static_cast<double>(steps) * 1e3;
  std::printf(
      "%s: %d layers, context %lld, %lld sequence(s), device %s\n"
      "prefill %lld tokens x %lld: %.1f tokens/s\n"
      "decode %lld steps: %.3f ms per step, %.1f tokens/s, %.1f MB weights per token, "
      "%.1f GB/s\n",
      model_dir.c_str(), c.n_layers, static_cast<long long>(context),
      static_cast<long long>(sequences), probe.devices[0].name.c_str(),
      static_cast<long long>(prefill), static_cast<long long>(sequences),
      static_cast<double>(prefill * sequences) / prefill_s, static_cast<long long>(steps),
      ms_per_step, tokens / decode_s, token_bytes / 1e6, token_bytes * tokens / decode_s / 1e9);
  if (!json_path.empty()) {
    std::ofstream(json_path) << "{\"model\": \"" << model_dir << "\", \"layers\": " << c.n_layers
                             << ", \"sequences\": " << sequences
                             << ", \"experts_on_device\": " << plan->experts_on_device
                             << ", \"experts_total\": " << plan->experts_total
                             << ", \"prefill_tokens_per_s\": "
                             << static_cast<double>(prefill * sequences) / prefill_s
                             << ", \"decode_ms_per_step\": " << ms_per_step
                             << ", \"decode_tokens_per_s\": " << tokens / decode_s
                             << ", \"weight_bytes_per_token\": " << token_bytes << "}\n";
  }
  return 0;
}
