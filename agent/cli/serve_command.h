// `dsagent serve`: the built-in engine behind an OpenAI-compatible HTTP server (engine/server).
#pragma once

#include <cstdint>
#include <string>

#include "common/cancel.h"

namespace dsagent {

struct ServeOptions {
  std::string model_dir;
  std::string tokenizer_file;
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (printed on stderr as "listening on http://HOST:PORT")
  int parallel = 1;
  std::string kv_dir;         // the persistent prefix store's directory ("" = memory cache only)
  std::string kv_max_size = "16G";  // its size budget (LRU eviction); "0" = no limit
  std::string model_id;       // default: the model directory's name
  int64_t context = 0;        // positions; 0: max_position_embeddings
  int64_t max_tokens = 4096;  // default max_tokens of a request
  int cache_entries = 32;     // in-memory prefix cache size (states)
  int threads = 0;
};

// Serves until `cancel` fires (SIGINT/SIGTERM). Returns 0, 2 on bad input (model, tokenizer,
// address in use).
int ServeCommand(const ServeOptions& options, const CancelToken& cancel);

}  // namespace dsagent
