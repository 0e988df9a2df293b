// Builds a Provider from plain options (the CLI fills them from the merged config). Kept free of
// the config system so providers stay testable on their own.
#pragma once

#include <memory>
#include <string>

#include "agent/providers/local_engines.h"
#include "agent/providers/provider.h"
#include "common/cancel.h"

namespace dsagent {

struct RetryPolicy {
  int max_attempts = 5;          // total HTTP attempts per call, including the first
  int initial_backoff_ms = 500;  // doubled each attempt, with full jitter
  int max_backoff_ms = 30000;    // cap for one wait (a larger Retry-After is capped too)
  uint64_t jitter_seed = 0;      // 0 = random; tests fix it for reproducible delays
};

struct ProviderOptions {
  std::string kind;         // "deepseek" | "deepseek-anthropic" | "openai-compatible" | "local"
  std::string base_url;     // e.g. https://api.deepseek.com (no trailing /chat/completions)
  std::string api_key;      // required for deepseek kinds; optional for openai-compatible
  std::string api_key_env;  // the variable the key came from, named in errors ("DEEPSEEK_API_KEY")
  RetryPolicy retry;
  int connect_timeout_s = 30;
  // A stream with no bytes at all (not even keep-alives) for this long is treated as cut.
  int idle_timeout_s = 600;
  // A response body (the raw SSE bytes) past this size is abandoned as a protocol error: a broken
  // or hostile endpoint must not grow dsagent's memory and trace without bound. DeepSeek's largest
  // reply (384K tokens, ~150 bytes of SSE per token) stays well below the default.
  int64_t max_response_bytes = int64_t{256} << 20;
  // Fail with kModelMismatch when the echoed model differs from the requested one (DeepSeek's
  // Anthropic endpoint silently maps unknown names to Flash).
  bool check_served_model = true;
  // kind "local" (the built-in engine in-process): the checkpoint, tokenizer, KV store, threads.
  std::string model_dir, tokenizer_file, kv_dir;
  std::string kv_max_size = "0";  // "16G", "512M", bytes; "0" = no limit
  int threads = 0;
  int64_t context_tokens = 0;
  std::string numerics = "fast";  // exact | fast (engine/kernels/numerics_mode.h)
  std::string weights = "auto";   // auto | mmap | load (engine/model/weight_residency.h)
  std::string device = "cpu";     // cpu | cuda | cuda:N (engine/kernels/device_spec.h)
  std::string gpu_memory;         // "" (the GPU's own memory) | a cap for cuda, e.g. "24G"
  // Speculative decoding (engine/generate/generator.h): off | mtp, and match | standard.
  std::string speculative = "off";
  std::string speculative_accept = "match";
  // Not from config: the engine a process keeps across its sessions (null: the provider loads its
  // own), and what a person is told while one loads (local_engines.h).
  LocalEngines* local_engines = nullptr;
  LocalLoadNotices local_load;
  CancelToken local_load_cancel;  // stops the local engine's load (a GPU's upload) once cancelled
};

// Error kConfig for an unknown kind, a missing key (naming api_key_env) or a malformed base URL.
Expected<std::unique_ptr<Provider>, ProviderError> MakeProvider(const ProviderOptions& options);

}  // namespace dsagent
