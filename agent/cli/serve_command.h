// `dsagent serve`: the built-in engine behind an HTTP server speaking OpenAI Chat Completions,
// OpenAI Responses and Anthropic Messages (engine/server).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "agent/cli/command_table.h"
#include "common/cancel.h"

namespace dsagent {

struct ServeOptions {
  std::string model_dir;
  std::string tokenizer_file;
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (printed on stderr as "listening on http://HOST:PORT")
  int parallel = 1;
  int max_batch = 0;  // decode steps per batched forward call; 0: = parallel, 1: no batching
  std::string kv_dir;  // the persistent prefix store's directory ("" = memory cache only)
  std::string kv_max_size = "16G";  // its size budget (LRU eviction); "0" = no limit
  std::string model_id;             // default: the model directory's name
  int64_t context = 0;              // positions; 0: max_position_embeddings
  int64_t max_tokens = 4096;        // default max_tokens of a request
  int64_t max_tokens_limit = 0;     // cap on a request's max_tokens; 0: none
  int cache_entries = 32;           // in-memory prefix cache size (states)
  int threads = 0;
  std::string numerics = "fast";  // exact | fast (engine/kernels/numerics_mode.h)
  std::string weights = "auto";   // auto | mmap | load (agent/cli/weights_option.h)
  std::string device = "cpu";     // cpu | cuda | cuda:N (agent/cli/device_option.h)
  std::string gpu_memory;         // "" (the GPU's own memory) | a cap, e.g. "24G"
  // Speculative decoding for every request (engine/generate/generator.h): off | mtp, and how
  // drafts are verified: match | standard. Speculating requests decode unbatched.
  std::string speculative = "off";
  std::string speculative_accept = "match";
  // Limits and access (engine/server/chat_server.h).
  std::string api_key;             // "": $DSAGENT_SERVE_API_KEY, else none (loopback only)
  int max_queue = 64;              // requests waiting for a slot (503 + Retry-After beyond)
  std::string max_body = "16M";    // request body (413 beyond)
  int64_t max_prompt_tokens = 0;   // 0: the context limit
  double request_timeout_s = 600;  // 0: none (504 when exceeded)
  double read_timeout_s = 15;      // a request's headers, in total (from their first byte)
  double body_timeout_s = 60;      // a request's body, in total (from the end of the headers)
};

// Declares `serve` and its flags on `app` and binds ServeCommand to it.
void AddServeCommand(CLI::App& app, CommandTable& table);

// Serves until `cancel` fires (SIGINT/SIGTERM; running requests are cancelled, so it returns
// within about a prefill chunk). Returns 0, 2 on bad input (model, tokenizer, address in use, a
// non-loopback --host without an API key).
int ServeCommand(const ServeOptions& options, const CancelToken& cancel);

}  // namespace dsagent
