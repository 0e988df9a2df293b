// `dsagent engine generate`: text generation on the built-in engine, streamed to stdout.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/cli/command_table.h"
#include "common/cancel.h"

namespace dsagent {

struct EngineGenerateOptions {
  std::string model_dir;
  std::string tokenizer_file;  // optional; see engine/tokenizer/model_tokenizer.h for the order
  std::string prompt;          // raw text completion (BOS prepended), or
  std::string messages_file;   // a JSON array of messages, or {"messages": [...], "tools": [...]}
  std::string tokens_file;     // little-endian int32 prompt ids (no tokenizer needed)
  bool thinking = true;        // chat mode for --messages
  std::string effort;          // "" | high | max
  int64_t max_tokens = 256;
  double temperature = 0;  // 0: greedy
  double top_p = 1.0;
  int top_k = 0;
  double min_p = 0;
  uint64_t seed = 0;
  int64_t context = 0;  // positions; 0: the model's max_position_embeddings
  std::vector<std::string> stop;
  int threads = 0;
  std::string numerics = "fast";             // exact | fast (engine/kernels/numerics_mode.h)
  std::string weights = "auto";              // auto | mmap | load (agent/cli/weights_option.h)
  std::string speculative = "off";           // off | mtp (engine/generate/generator.h, Speculative)
  std::string speculative_accept = "match";  // match | standard (SpeculativeAcceptance)
  std::string device = "cpu";                // cpu | cuda | cuda:N (agent/cli/device_option.h)
  std::string gpu_memory;                    // "" (the GPU's own memory) | a cap, e.g. "24G"
  // --messages only: the persistent prefix store (engine/kv/disk_prefix_store.h) read before the
  // prefill and written after it, so a later run with the same conversation start prefills only
  // the tail (the stats line's "(N cached)"). "": none.
  std::string kv_dir;
};

// Declares `generate` under `engine` (the `engine` subcommand) and binds EngineGenerateCommand.
void AddEngineGenerateCommand(CLI::App& engine, CommandTable& table);

// Streams the completion to stdout (with --messages: content on stdout, reasoning on stderr,
// tool calls as one JSON line each after the content; with --tokens and no tokenizer: the ids as
// a JSON array) and prints timing to stderr. Returns 0, 2 on bad input (model, tokenizer,
// messages, context), 1 when generation fails, 130 when interrupted.
int EngineGenerateCommand(const EngineGenerateOptions& options, const CancelToken& cancel);

}  // namespace dsagent
