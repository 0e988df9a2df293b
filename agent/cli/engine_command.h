// `dsagent engine ...`: the built-in inference engine's command-line tools: `inspect`, `tokenize`,
// `detokenize`, `logits`, `synth`.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/cli/command_table.h"
#include "common/cancel.h"

namespace dsagent {

// Declares `engine` and its subcommands (these and `generate`, engine_generate_command.h) on
// `app` and binds the commands below.
void AddEngineCommand(CLI::App& app, CommandTable& table);

struct EngineInspectOptions {
  std::string dir, config_file;
  bool json = false;
  // GPU placement (engine/model/placement_plan.h): shown when `device` is cuda[:N] or gpu_memory
  // is set. gpu_memory ("24G") plans for a device of that size, present or not; without it the
  // device's own memory is used. gpu_reserve: kept free for KV/activations (default: the KV state
  // of `batch` sequences at `context` positions plus a workspace, engine::PlacementReserveFor).
  std::string device, gpu_memory, gpu_reserve;
  int64_t context = 0;  // positions; 0: max_position_embeddings
  int batch = 1;        // sequences
};

// `dsagent engine inspect DIR` (a checkpoint: config summary, tensor inventory by dtype, parameter
// counts, missing/unexpected tensors) or `--config FILE` (what a checkpoint for that config must
// hold), plus the GPU placement when asked. Returns the exit code: 0, 1 when the checkpoint does
// not match its config or the model cannot be placed on the device, 2 bad input (including
// --device cuda without a device and without --gpu-memory).
int EngineInspectCommand(const EngineInspectOptions& options);

// `dsagent engine tokenize` (UTF-8 on stdin -> JSON array of ids on stdout) and `detokenize`
// (JSON array of ids on stdin -> text). `tokenizer` is a tokenizer.json, or a model dir holding
// one.
int EngineTokenizeCommand(const std::string& tokenizer, bool detokenize);

// `dsagent engine logits --model DIR --tokens FILE.i32 --out FILE.f32 [--prefill N]`: reads
// little-endian int32 ids and writes float32 logits [T, vocab] for every position. prefill < 0: one
// prefill of all tokens; otherwise the first N are one prefill and the rest are decoded one at a
// time. `weights`: auto | mmap | load (agent/cli/weights_option.h). Returns 0, 2 on bad input
// (model, token file, out-of-vocabulary id, N > T), 1 when the output cannot be written.
int EngineLogitsCommand(const std::string& model_dir, const std::string& tokens_file,
                        const std::string& out_file, int64_t prefill,
                        const std::string& device = "cpu", const std::string& gpu_memory = "",
                        const std::string& weights = "auto");

struct EngineSynthOptions {
  std::string config_file;  // the base config.json
  std::string out_dir;
  int layers = -1;  // -1: not given (see engine/model/synthetic_checkpoint.h for the defaults)
  std::vector<int> ratios;
  int experts = -1;
  int64_t vocab = -1;
  uint64_t seed = 0;
  bool varied = false;  // --values varied (engine::SyntheticValues::kVaried)
  int threads = 0;
};

// `dsagent engine synth --config FILE --out DIR [--layers N] [--ratios LIST] [--experts N]
// [--vocab N] [--seed N] [--values benchmark|varied]`: writes a checkpoint with the base config's
// shapes, fewer layers and experts, and deterministic random weights
// (engine/model/synthetic_checkpoint.h), then prints what it wrote. Returns 0, 2 on bad input (base
// config, options), 1 when writing fails, 130 when interrupted (nothing is left under the final
// names).
int EngineSynthCommand(const EngineSynthOptions& options, const CancelToken& cancel);

}  // namespace dsagent
