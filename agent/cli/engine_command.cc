#include "agent/cli/engine_command.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>

#include "agent/cli/device_option.h"
#include "agent/cli/engine_generate_command.h"
#include "agent/cli/weights_option.h"
#include "agent/core/termination.h"
#include "common/byte_size.h"
#include "common/file_io.h"
#include "engine/forward/logits_runner.h"
#include "engine/forward/model.h"
#include "engine/kernels/cuda_probe.h"
#include "engine/kernels/device_spec.h"
#include "engine/kv/kv_accounting.h"
#include "engine/model/checkpoint.h"
#include "engine/model/placement_plan.h"
#include "engine/model/synthetic_checkpoint.h"
#include "engine/runtime/sequence_model_factory.h"
#include "engine/tokenizer/bpe_tokenizer.h"

namespace dsagent {
namespace {
using engine::DType;

// 284.33B, 1.37M, 950.
std::string HumanCount(int64_t n) {
  char buf[32];
  const double v = static_cast<double>(n);
  if (v >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2fB", v / 1e9);
  } else if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  }
  return buf;
}

Json ConfigSummary(const engine::ModelConfig& c) {
  std::map<int, int> by_ratio;
  for (int i = 0; i < c.n_layers; ++i) by_ratio[c.compress_ratios[static_cast<size_t>(i)]] += 1;
  Json layers = Json::object();
  for (const auto& [ratio, count] : by_ratio) {
    layers[ratio == 0 ? "window" : ratio == 4 ? "csa_4" : "hca_" + std::to_string(ratio)] = count;
  }
  return {{"hidden_size", c.dim},
          {"layers", c.n_layers},
          {"mtp_layers", c.n_mtp_layers},
          {"heads", c.n_heads},
          {"head_dim", c.head_dim},
          {"vocab_size", c.vocab_size},
          {"routed_experts", c.n_routed_experts},
          {"experts_per_token", c.n_activated_experts},
          {"expert_dtype", c.expert_dtype},
          {"sliding_window", c.window_size},
          {"attention_layers", layers}};
}

Json CountsJson(const engine::ParameterCounts& n) {
  return {{"total", n.total},
          {"total_without_mtp", n.total_no_mtp},
          {"active_per_token", n.active},
          {"stored_bytes", n.stored_bytes}};
}

// KV cache per sequence in each layout (engine/kv/kv_accounting.h).
Json KvJson(const engine::ModelConfig& c) {
  Json out = Json::object();
  for (auto layout : {engine::kv::KvLayout::kReference, engine::kv::KvLayout::kServingFp8,
                      engine::kv::KvLayout::kPacked}) {
    const auto f = engine::kv::ComputeKvFootprint(c, layout);
    out[engine::kv::KvLayoutName(layout)] = {{"bytes_per_token", f.bytes_per_token},
                                             {"fixed_bytes", f.fixed_bytes()},
                                             {"window_bytes", f.window_bytes},
                                             {"compressor_state_bytes", f.compressor_state_bytes}};
  }
  return out;
}

void PrintKv(const engine::ModelConfig& c) {
  const char* what[] = {"reference bf16, as this engine stores it", "serving FP8 (vLLM layout)",
                        "packed FP8/FP4 (lossless)"};
  int i = 0;
  for (auto layout : {engine::kv::KvLayout::kReference, engine::kv::KvLayout::kServingFp8,
                      engine::kv::KvLayout::kPacked}) {
    const auto f = engine::kv::ComputeKvFootprint(c, layout);
    std::printf(
        "kv cache, %s: %.2f bytes/token + %.2f MiB fixed per sequence (window %.2f MiB, "
        "compressor state %.2f MiB); growing part %.2f GB at 1M tokens\n",
        what[i++], f.bytes_per_token, static_cast<double>(f.fixed_bytes()) / (1 << 20),
        static_cast<double>(f.window_bytes) / (1 << 20),
        static_cast<double>(f.compressor_state_bytes) / (1 << 20),
        f.bytes_per_token * 1048576.0 / 1e9);
  }
}

// Tensors and bytes per dtype name: what the checkpoint's files hold, or (no checkpoint) what the
// config implies.
using DtypeTally = std::map<std::string, std::pair<int64_t, int64_t>>;

DtypeTally TensorsByDtype(const engine::Checkpoint* ck, const engine::ModelConfig& config) {
  DtypeTally by_dtype;
  if (ck) {
    for (const auto* t : ck->Tensors()) {
      auto& [n, bytes] = by_dtype[engine::DTypeName(t->dtype)];
      n += 1;
      bytes += static_cast<int64_t>(t->size_bytes);
    }
    return by_dtype;
  }
  for (const auto& t : engine::ExpectedTensors(config)) {
    int64_t elements = 1;
    for (int64_t d : t.shape) elements *= d;
    auto& [n, bytes] = by_dtype[engine::DTypeName(t.dtype)];
    n += 1;
    bytes += elements * static_cast<int64_t>(engine::DTypeBytes(t.dtype));
  }
  return by_dtype;
}

// `engine inspect` without --json; `c` is the JSON config summary.
void PrintInspection(const Json& c, const engine::ModelConfig& config,
                     const engine::ParameterCounts& counts, const DtypeTally& by_dtype,
                     const engine::Checkpoint* ck) {
  std::printf("model: hidden %lld, %d layers + %d MTP, %d heads x %lld, vocab %lld\n",
              static_cast<long long>(config.dim), config.n_layers, config.n_mtp_layers,
              config.n_heads, static_cast<long long>(config.head_dim),
              static_cast<long long>(config.vocab_size));
  std::printf("attention layers: %s\n", c["attention_layers"].dump().c_str());
  std::printf("experts: %d routed (%d per token, %s) + %d shared, width %lld\n",
              config.n_routed_experts, config.n_activated_experts, config.expert_dtype.c_str(),
              config.n_shared_experts, static_cast<long long>(config.moe_inter_dim));
  std::printf("parameters: %s total (%s without MTP), %s active per token, %.2f GB stored\n",
              HumanCount(counts.total).c_str(), HumanCount(counts.total_no_mtp).c_str(),
              HumanCount(counts.active).c_str(), static_cast<double>(counts.stored_bytes) / 1e9);
  PrintKv(config);
  std::printf("%s tensors by dtype:\n", ck ? "checkpoint" : "expected");
  for (const auto& [dtype, nb] : by_dtype) {
    std::printf("  %-8s %6lld tensors %14lld bytes\n", dtype.c_str(),
                static_cast<long long>(nb.first), static_cast<long long>(nb.second));
  }
  if (ck) {
    const auto& r = ck->report();
    for (const auto& m : r.missing) std::printf("missing: %s\n", m.c_str());
    for (const auto& m : r.unexpected) std::printf("unexpected: %s\n", m.c_str());
    for (const auto& m : r.mismatched) std::printf("mismatched: %s\n", m.c_str());
    std::printf("%s\n", r.ok() ? "all tensors present with the expected dtype and shape"
                               : "the checkpoint does not match its config");
  }
}

std::string FormatGiB(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1LL << 30));
  return buf;
}

struct InspectPlacement {
  Json json;
  std::string text;
  bool fits = true;
};
struct InspectPlacementError {
  std::string message;
  int exit_code;
};

// The GPU placement `engine inspect --device cuda[:N] [--gpu-memory SIZE]` prints: for the
// device's memory, or for --gpu-memory (a plan only, when there is no such device here), with
// what the CUDA backend sees here (built or not, the device or why there is none).
Expected<InspectPlacement, InspectPlacementError> PlanInspectPlacement(
    const EngineInspectOptions& o, const engine::ModelConfig& config) {
  const auto usage = [](std::string m) {
    return MakeUnexpected(InspectPlacementError{std::move(m), kExitUsage});
  };
  const auto spec = engine::kernels::ParseDeviceSpec(o.device.empty() ? "cuda" : o.device);
  if (!spec) return usage("--device: " + spec.error());
  if (spec->kind != engine::kernels::DeviceKind::kCuda) {
    return usage("--gpu-memory plans a GPU placement: use it with --device cuda[:N] (or alone)");
  }
  const auto cap = engine::kernels::ParseGpuMemory(o.gpu_memory, *spec);
  if (!cap) return usage("--gpu-memory: " + cap.error());
  if (o.context < 0) return usage("--ctx-size: must be 0 (the model's) or more positions");
  if (o.batch < 1) return usage("--batch: must be 1 or more sequences");
  const engine::kernels::CudaProbe probe = engine::kernels::ProbeCuda();
  const engine::kernels::CudaDeviceInfo* device = engine::kernels::FindDevice(probe, spec->index);
  int64_t capacity = 0;
  std::string header;
  if (device) {
    const engine::kernels::PlanningMemory memory = engine::kernels::PlanningMemoryOf(*device, *cap);
    capacity = memory.bytes;
    header = "placement on " + spec->Name() + " (" + device->name + "), " + memory.basis;
  } else if (*cap > 0) {
    capacity = *cap;
    header = "placement plan for a device of " + o.gpu_memory + " (plan only: " +
             (probe.devices.empty() ? probe.problem : "no device " + spec->Name() + " here") + ")";
  } else {
    return usage("--device " + spec->Name() + ": " +
                 (probe.devices.empty() ? probe.problem : "no such device here") +
                 "; add --gpu-memory SIZE (e.g. 24G) to plan for a device of that size");
  }
  const int64_t context = o.context > 0 ? o.context : config.max_position_embeddings;
  const engine::PlacementReserve estimate = engine::PlacementReserveFor(config, context, o.batch);
  int64_t reserve = estimate.total();
  std::string reserve_text = "reserve: KV state of " + std::to_string(o.batch) + " sequence(s) x " +
                             std::to_string(context) + " positions (" +
                             FormatGiB(estimate.kv_bytes) + ") + workspace (" +
                             FormatGiB(estimate.workspace_bytes) + "); --ctx-size, --batch";
  if (!o.gpu_reserve.empty()) {
    const auto r = ParseByteSize(o.gpu_reserve);
    if (!r) return usage("--gpu-reserve: '" + o.gpu_reserve + "' is not a size (e.g. 8G)");
    reserve = *r;
    reserve_text = "reserve: " + FormatGiB(reserve) + " (--gpu-reserve)";
  }
  InspectPlacement result;
  result.json = {{"device", spec->Name()},
                 {"device_present", device != nullptr},
                 {"cuda", engine::kernels::DescribeCuda(probe)},
                 {"device_bytes", capacity},
                 {"reserve_bytes", reserve},
                 {"context", context},
                 {"batch", o.batch},
                 {"kv_reserve_bytes", estimate.kv_bytes},
                 {"workspace_reserve_bytes", estimate.workspace_bytes}};
  header = engine::kernels::DescribeCuda(probe) + "\n" + header + "\n" + reserve_text;
  auto plan = engine::PlanPlacement(engine::ExpectedTensors(config), capacity, reserve,
                                    engine::kRuntimePlacementOptions);
  if (!plan) {
    result.fits = false;
    result.json["error"] = plan.error();
    result.text = header + ": " + plan.error() + "\n";
    return result;
  }
  result.json["resident_bytes"] = plan->resident_bytes;
  result.json["experts_total"] = plan->experts_total;
  result.json["experts_on_device"] = plan->experts_on_device;
  result.json["device_expert_bytes"] = plan->device_expert_bytes;
  result.json["host_expert_bytes"] = plan->host_expert_bytes;
  result.json["stream_pool_experts"] = plan->stream_pool_experts;
  result.json["stream_pool_bytes"] = plan->stream_pool_bytes;
  result.json["stream_min_rows"] = plan->stream_min_rows;
  Json blocks = Json::array();
  for (const engine::BlockExperts& b : plan->blocks) {
    blocks.push_back({{"block", b.prefix}, {"experts", b.experts}, {"on_device", b.on_device}});
  }
  result.json["blocks"] = blocks;
  result.text = header + "\n" + engine::DescribePlacement(*plan);
  return result;
}

}  // namespace

int EngineInspectCommand(const EngineInspectOptions& o) {
  const std::string& dir = o.dir;
  const std::string& config_file = o.config_file;
  const bool json = o.json;
  if (dir.empty() == config_file.empty()) {
    std::fprintf(stderr, "dsagent: give a checkpoint DIR or --config FILE (one of them)\n");
    return kExitUsage;
  }
  Json out;
  engine::ModelConfig config;
  std::unique_ptr<engine::Checkpoint> ck;
  if (!config_file.empty()) {
    auto c = engine::LoadModelConfig(config_file);
    if (!c) {
      std::fprintf(stderr, "dsagent: %s\n", c.error().c_str());
      return kExitUsage;
    }
    config = *c;
  } else {
    auto opened = engine::Checkpoint::Open(dir);
    if (!opened) {
      std::fprintf(stderr, "dsagent: %s\n", opened.error().c_str());
      return kExitUsage;
    }
    ck = std::move(*opened);
    config = ck->config();
  }
  const engine::ParameterCounts counts = engine::CountParameters(config);
  out["config"] = ConfigSummary(config);
  out["parameters"] = CountsJson(counts);
  out["kv_cache"] = KvJson(config);

  const DtypeTally by_dtype = TensorsByDtype(ck.get(), config);
  if (ck) {
    const auto& r = ck->report();
    out["missing"] = r.missing;
    out["unexpected"] = r.unexpected;
    out["mismatched"] = r.mismatched;
  }
  Json inventory = Json::object();
  for (const auto& [dtype, nb] : by_dtype) {
    inventory[dtype] = {{"tensors", nb.first}, {"bytes", nb.second}};
  }
  out["tensors_by_dtype"] = inventory;

  bool ok = !ck || ck->report().ok();
  std::string placement_text;
  if (!o.device.empty() || !o.gpu_memory.empty()) {
    auto placement = PlanInspectPlacement(o, config);
    if (!placement) {
      std::fprintf(stderr, "dsagent engine inspect: %s\n", placement.error().message.c_str());
      return placement.error().exit_code;
    }
    out["placement"] = placement->json;
    placement_text = placement->text;
    ok = ok && placement->fits;
  }
  if (json) {
    std::cout << out.dump(2) << std::endl;
    return ok ? kExitDone : kExitError;
  }
  PrintInspection(out["config"], config, counts, by_dtype, ck.get());
  std::fputs(placement_text.c_str(), stdout);
  return ok ? kExitDone : kExitError;
}

int EngineTokenizeCommand(const std::string& tokenizer, bool detokenize) {
  std::filesystem::path path = tokenizer;
  if (std::filesystem::is_directory(path)) path /= "tokenizer.json";
  auto tok = engine::BpeTokenizer::Load(path);
  if (!tok) {
    std::fprintf(stderr, "dsagent: %s\n", tok.error().c_str());
    return kExitUsage;
  }
  const std::string input{std::istreambuf_iterator<char>(std::cin),
                          std::istreambuf_iterator<char>()};
  if (!detokenize) {
    std::cout << Json((*tok)->Encode(input)).dump() << std::endl;
    return kExitDone;
  }
  const Json ids = Json::parse(input, nullptr, false);
  if (ids.is_discarded() || !ids.is_array()) {
    std::fprintf(stderr, "dsagent: stdin must be a JSON array of token ids\n");
    return kExitUsage;
  }
  std::vector<int32_t> v;
  for (const auto& id : ids) {
    if (!id.is_number_integer()) {
      std::fprintf(stderr, "dsagent: token ids must be integers, got %s\n", id.dump().c_str());
      return kExitUsage;
    }
    v.push_back(id.get<int32_t>());
  }
  auto text = (*tok)->Decode(v);
  if (!text) {
    std::fprintf(stderr, "dsagent: %s\n", text.error().c_str());
    return kExitUsage;
  }
  std::cout << *text;
  return kExitDone;
}

namespace {

// Every token's logits [n, vocab] from a GPU (engine logits --device cuda): one sequence, the
// tokens run in one Forward call (decode steps on the device), sized for exactly them.
Expected<std::vector<float>, std::string> DeviceLogits(engine::forward::Model& model,
                                                       const std::vector<int32_t>& tokens,
                                                       const engine::kernels::DeviceSpec& spec,
                                                       int64_t gpu_memory) {
  if (tokens.empty()) return MakeUnexpected(std::string("no tokens"));
  auto chosen = engine::MakeSequenceModel(
      model, {.device = spec, .gpu_memory = gpu_memory,
              .context = static_cast<int64_t>(tokens.size()),
              .upload_progress = UploadProgressPrinter("engine logits")});
  if (!chosen) return MakeUnexpected(chosen.error());
  std::fprintf(stderr, "dsagent engine logits: %s", chosen->placement.c_str());
  auto sequence = chosen->model->NewSequence();
  return chosen->model->Forward(*sequence, tokens, {});
}

}  // namespace

int EngineLogitsCommand(const std::string& model_dir, const std::string& tokens_file,
                        const std::string& out_file, int64_t prefill, const std::string& device,
                        const std::string& gpu_memory, const std::string& weights) {
  engine::kernels::DeviceSpec spec;
  int64_t cap = 0;
  if (const int rc = CheckDeviceOptions(device, gpu_memory, "engine logits", &spec, &cap);
      rc != kExitDone)
    return rc;
  auto tokens = engine::forward::ReadTokenFile(tokens_file);
  if (!tokens) {
    std::fprintf(stderr, "dsagent: %s\n", tokens.error().c_str());
    return kExitUsage;
  }
  const bool gpu = spec.kind == engine::kernels::DeviceKind::kCuda;
  // The golden data's exact numerics, on the CPU and on a GPU alike (the same bits).
  auto model = engine::forward::Model::Load(
      model_dir, {.numerics = engine::kernels::Numerics::kExact,
                  .weights = WeightsFromOption(weights)});
  if (!model) {
    std::fprintf(stderr, "dsagent: %s\n", model.error().c_str());
    return kExitUsage;
  }
  auto logits = gpu ? DeviceLogits(**model, *tokens, spec, cap)
                    : engine::forward::ComputeLogits(**model, *tokens, prefill);
  if (!logits) {
    std::fprintf(stderr, "dsagent: %s\n", logits.error().c_str());
    return kExitUsage;
  }
  if (auto w = engine::forward::WriteFloatFile(out_file, *logits); !w) {
    std::fprintf(stderr, "dsagent: %s\n", w.error().c_str());
    return kExitError;
  }
  return kExitDone;
}

int EngineSynthCommand(const EngineSynthOptions& options, const CancelToken& cancel) {
  const auto text = ReadFileToString(options.config_file);
  if (!text) {
    std::fprintf(stderr, "dsagent: --config: %s\n", text.error().c_str());
    return kExitUsage;
  }
  const Json base = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (base.is_discarded()) {
    std::fprintf(stderr, "dsagent: --config %s: not valid JSON\n", options.config_file.c_str());
    return kExitUsage;
  }
  engine::SyntheticOptions synth;
  if (options.layers >= 0) synth.layers = options.layers;
  synth.ratios = options.ratios;
  if (options.experts >= 0) synth.routed_experts = options.experts;
  if (options.vocab >= 0) synth.vocab_size = options.vocab;
  synth.seed = options.seed;
  if (options.varied) synth.values = engine::SyntheticValues::kVaried;
  synth.threads = options.threads;
  synth.cancel = cancel;
  // Bad options are usage errors (2); only failures to write are 1.
  if (auto derived = engine::DeriveSyntheticConfig(base, synth); !derived) {
    std::fprintf(stderr, "dsagent: %s\n", derived.error().c_str());
    return kExitUsage;
  }
  const auto start = std::chrono::steady_clock::now();
  auto written = engine::WriteSyntheticCheckpoint(base, synth, options.out_dir);
  if (!written) {
    std::fprintf(stderr, "dsagent: %s\n", written.error().c_str());
    return cancel.IsCancelled() ? kExitInterrupted : kExitError;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const engine::ModelConfig& c = written->config;
  std::string ratios;
  for (int i = 0; i < c.n_blocks(); ++i) {
    if (i > 0) ratios += i == c.n_layers ? " | MTP " : ", ";
    ratios += std::to_string(c.compress_ratios[static_cast<size_t>(i)]);
  }
  const engine::ParameterCounts counts = engine::CountParameters(c);
  std::printf("wrote %s in %.1f s (seed %llu)\n", options.out_dir.c_str(), seconds,
              static_cast<unsigned long long>(options.seed));
  std::printf(
      "model: %d layers + %d MTP, compress ratios %s; %d routed experts (%d per token); "
      "vocab %lld\n",
      c.n_layers, c.n_mtp_layers, ratios.c_str(), c.n_routed_experts, c.n_activated_experts,
      static_cast<long long>(c.vocab_size));
  const double bytes = static_cast<double>(written->file_bytes);
  std::printf("model.safetensors: %lld tensors, %.2f %s (%lld bytes)\n",
              static_cast<long long>(written->tensors), bytes >= 1e9 ? bytes / 1e9 : bytes / 1e6,
              bytes >= 1e9 ? "GB" : "MB", static_cast<long long>(written->file_bytes));
  std::printf("parameters: %s total (%s without MTP), %s active per token\n",
              HumanCount(counts.total).c_str(), HumanCount(counts.total_no_mtp).c_str(),
              HumanCount(counts.active).c_str());
  return kExitDone;
}

void AddEngineCommand(CLI::App& app, CommandTable& table) {
  auto* engine = app.add_subcommand("engine", "The built-in DeepSeek-V4 inference engine");
  engine->require_subcommand(1);

  auto inspect_flags = std::make_shared<EngineInspectOptions>();
  auto* inspect = engine->add_subcommand(
      "inspect", "Config summary, tensor inventory and parameter counts of a checkpoint");
  inspect->add_option("dir", inspect_flags->dir,
                      "Checkpoint directory (config.json + safetensors)");
  inspect->add_option("--config", inspect_flags->config_file,
                      "Only a config.json: what its checkpoint must hold");
  inspect->add_flag("--json", inspect_flags->json, "JSON output");
  inspect->add_option("--device", inspect_flags->device,
                      "cuda | cuda:N: show the GPU placement (attention, norms, head, shared and "
                      "as many routed experts as fit on the device; the rest in host memory)");
  inspect->add_option("--gpu-memory", inspect_flags->gpu_memory,
                      "Plan for a device of this size, e.g. 24G (no GPU needed)");
  inspect->add_option("--gpu-reserve", inspect_flags->gpu_reserve,
                      "Device memory kept for KV state and activations (default: the KV state "
                      "of --batch sequences at --ctx-size, plus a workspace)");
  inspect->add_option("--ctx-size", inspect_flags->context,
                      "Context positions the placement reserves KV state for (default: "
                      "max_position_embeddings)");
  inspect->add_option("--batch", inspect_flags->batch,
                      "Sequences the placement reserves KV state for (default 1; serve "
                      "--parallel N runs N)");
  table.Bind(inspect, [f = inspect_flags] { return EngineInspectCommand(*f); });

  for (const bool detokenize : {false, true}) {
    auto* cmd =
        detokenize
            ? engine->add_subcommand("detokenize", "JSON token ids on stdin -> text on stdout")
            : engine->add_subcommand("tokenize", "UTF-8 text on stdin -> JSON token ids on stdout");
    auto source = std::make_shared<std::string>();  // --model DIR or --tokenizer FILE
    auto* group = cmd->add_option_group("tokenizer source");
    group->add_option("--model", *source, "Model directory holding tokenizer.json");
    group->add_option("--tokenizer", *source, "A tokenizer.json file");
    group->require_option(1);
    table.Bind(cmd, [source, detokenize] { return EngineTokenizeCommand(*source, detokenize); });
  }

  struct LogitsFlags {
    std::string model, tokens, out, device = "cpu", gpu_memory, weights = "auto";
    int64_t prefill = -1;
  };
  auto logits_flags = std::make_shared<LogitsFlags>();
  auto* logits = engine->add_subcommand(
      "logits", "Logits [T, vocab] (float32) for int32 token ids, by prefill and/or decode steps");
  logits->add_option("--model", logits_flags->model, "Checkpoint directory")->required();
  logits->add_option("--tokens", logits_flags->tokens, "Little-endian int32 token ids")->required();
  logits->add_option("--out", logits_flags->out, "Output: float32 logits [T, vocab]")->required();
  logits
      ->add_option("--prefill", logits_flags->prefill,
                   "Prefill the first N tokens, then decode the rest one at a time")
      ->check(CLI::NonNegativeNumber);
  AddDeviceOptions(*logits, logits_flags->device, logits_flags->gpu_memory);
  AddWeightsOption(*logits, logits_flags->weights);
  table.Bind(logits, [f = logits_flags] {
    return EngineLogitsCommand(f->model, f->tokens, f->out, f->prefill, f->device, f->gpu_memory,
                               f->weights);
  });

  AddEngineGenerateCommand(*engine, table);

  auto synth_flags = std::make_shared<EngineSynthOptions>();
  EngineSynthOptions& synth = *synth_flags;
  auto* synth_cmd = engine->add_subcommand(
      "synth", "Write a checkpoint with a config's shapes, fewer layers/experts, random weights");
  synth_cmd->add_option("--config", synth.config_file, "Base config.json (e.g. Flash's)")
      ->required();
  synth_cmd->add_option("--out", synth.out_dir, "Output checkpoint directory")->required();
  synth_cmd->add_option("--layers", synth.layers, "Decoder layers (default: the base's)")
      ->check(CLI::NonNegativeNumber);
  synth_cmd
      ->add_option("--ratios", synth.ratios,
                   "Compress ratio per decoder layer, e.g. 4,128 (default: the base's pattern "
                   "from its first compressed layer)")
      ->delimiter(',');
  synth_cmd->add_option("--experts", synth.experts, "Routed experts (default: the base's)")
      ->check(CLI::NonNegativeNumber);
  synth_cmd->add_option("--vocab", synth.vocab, "Vocabulary size (default: the base's)")
      ->check(CLI::NonNegativeNumber);
  synth_cmd->add_option("--seed", synth.seed, "Random seed (default 0)");
  synth_cmd
      ->add_option_function<std::string>(
          "--values", [&synth](const std::string& v) { synth.varied = v == "varied"; },
          "benchmark (default: norms 1, sinks and biases 0) | varied (every parameter drawn at "
          "random, for golden data)")
      ->check(CLI::IsMember({"benchmark", "varied"}));
  synth_cmd->add_option("--threads", synth.threads, "Worker threads (default: all cores)");
  table.BindCancellable(synth_cmd, [synth_flags](const CancelToken& cancel) {
    return EngineSynthCommand(*synth_flags, cancel);
  });
}

}  // namespace dsagent
