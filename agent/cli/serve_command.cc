#include "agent/cli/serve_command.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "agent/cli/device_option.h"
#include "agent/cli/weights_option.h"
#include "agent/core/termination.h"
#include "common/byte_size.h"
#include "engine/runtime/engine_runtime.h"
#include "engine/server/chat_server.h"

namespace dsagent {

void AddServeCommand(CLI::App& app, CommandTable& table) {
  auto options = std::make_shared<ServeOptions>();
  ServeOptions& serve = *options;
  auto* cmd = app.add_subcommand(
      "serve", "Serve the built-in engine over OpenAI- and Anthropic-compatible HTTP APIs");
  cmd->add_option("--model", serve.model_dir, "Checkpoint directory")->required();
  cmd->add_option("--tokenizer", serve.tokenizer_file,
                  "tokenizer.json (default: the model's, else the npm V3 one)");
  cmd->add_option("--host", serve.host, "Address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", serve.port, "Port (default 8000; 0 = any free port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option(
         "--parallel", serve.parallel,
         "Generations at once; their decode steps run as one batched forward pass (default 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-batch", serve.max_batch,
                  "Decode steps of concurrent requests per batched forward pass (default: "
                  "--parallel; 1 = each alone)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--kv-dir", serve.kv_dir, "Persistent prefix-cache directory");
  cmd->add_option("--kv-max-size", serve.kv_max_size,
                  "Size budget of --kv-dir, e.g. 16G or 512M; 0 = no limit")
      ->capture_default_str();
  cmd->add_option("--model-id", serve.model_id,
                  "Model id for /v1/models (default: the directory name)");
  cmd->add_option("--ctx-size", serve.context,
                  "Context positions (default: max_position_embeddings)");
  cmd->add_option("--max-tokens", serve.max_tokens,
                  "Default max_tokens of a request (default 4096)");
  cmd->add_option("--max-tokens-limit", serve.max_tokens_limit,
                  "Most completion tokens a request gets; larger max_tokens are lowered to it "
                  "(default: no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", serve.threads, "Worker threads (default: all cores)");
  cmd->add_option("--numerics", serve.numerics, "exact | fast (default fast)")
      ->check(CLI::IsMember({"exact", "fast"}));
  AddDeviceOptions(*cmd, serve.device, serve.gpu_memory);
  AddWeightsOption(*cmd, serve.weights);
  cmd->add_option("--speculative", serve.speculative,
                  "off (default) | mtp: draft each next token with the checkpoint's MTP block "
                  "and verify it in the same forward call; speculating requests are not batched")
      ->check(CLI::IsMember({"off", "mtp"}));
  cmd->add_option("--speculative-accept", serve.speculative_accept,
                  "match (default; the tokens plain decoding gives) | standard (speculative "
                  "sampling's min(1, p/q) rule: the same distribution)")
      ->check(CLI::IsMember({"match", "standard"}));
  cmd->add_option("--api-key", serve.api_key,
                  "Require 'Authorization: Bearer KEY' or 'x-api-key: KEY' (default: "
                  "$DSAGENT_SERVE_API_KEY); "
                  "needed for a --host other than loopback");
  cmd->add_option("--max-queue", serve.max_queue,
                  "Requests waiting for a slot; more get 503 + Retry-After (default 64)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-body", serve.max_body,
                  "Largest request body, e.g. 16M; larger gets 413 (default 16M)")
      ->capture_default_str();
  cmd->add_option("--max-prompt-tokens", serve.max_prompt_tokens,
                  "Largest prompt in tokens; more gets 400 (default: the context limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--request-timeout", serve.request_timeout_s,
                  "Seconds a request may take, queue included; then 504 (default 600; 0 = none)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--read-timeout", serve.read_timeout_s,
                  "Seconds a client has to send a request's headers, in total (default 15)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--body-timeout", serve.body_timeout_s,
                  "Seconds a client has to send a request's body, in total (default 60)")
      ->check(CLI::PositiveNumber);
  table.BindCancellable(
      cmd, [options](const CancelToken& cancel) { return ServeCommand(*options, cancel); });
}

namespace {

// The HTTP server's settings from the command line; the error names a bad --max-body.
Expected<engine::server::ServerOptions, std::string> ServerOptionsFrom(const ServeOptions& o,
                                                                       const std::string& api_key) {
  const auto max_body = ParseByteSize(o.max_body);
  if (!max_body) {
    return MakeUnexpected("--max-body '" + o.max_body + "' is not a size (e.g. 16M, bytes)");
  }
  engine::server::ServerOptions options;
  options.host = o.host;
  options.port = o.port;
  options.parallel = o.parallel;
  std::filesystem::path dir = std::filesystem::absolute(o.model_dir).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();  // "DIR/" names DIR
  options.model_id = o.model_id.empty() ? dir.filename().string() : o.model_id;
  if (options.model_id.empty()) options.model_id = "dsagent-local";
  options.context_limit = o.context;
  options.default_max_tokens = o.max_tokens;
  options.max_tokens_limit = o.max_tokens_limit;
  options.max_queue = o.max_queue;
  options.max_body_bytes = *max_body;
  options.max_prompt_tokens = o.max_prompt_tokens;
  options.request_timeout_s = o.request_timeout_s;
  options.read_timeout_s = o.read_timeout_s;
  options.body_timeout_s = o.body_timeout_s;
  options.api_key = api_key;
  return options;
}

}  // namespace

int ServeCommand(const ServeOptions& o, const CancelToken& cancel) {
  std::string api_key = o.api_key;
  if (const char* env = std::getenv("DSAGENT_SERVE_API_KEY"); api_key.empty() && env) api_key = env;
  // Refused before the (possibly long) model load.
  if (auto allowed = engine::server::CheckAccessOptions({.host = o.host, .api_key = api_key});
      !allowed) {
    std::fprintf(stderr, "dsagent serve: %s\n", allowed.error().c_str());
    return kExitUsage;
  }
  engine::kernels::DeviceSpec device;
  int64_t gpu_memory = 0;
  if (const int rc = CheckDeviceOptions(o.device, o.gpu_memory, "serve", &device, &gpu_memory);
      rc != kExitDone)
    return rc;
  int64_t kv_max_bytes = 0;
  if (!o.kv_dir.empty()) {
    const auto max_bytes = ParseByteSize(o.kv_max_size);
    if (!max_bytes) {
      std::fprintf(stderr, "dsagent: --kv-max-size '%s' is not a size (e.g. 16G, 512M, bytes)\n",
                   o.kv_max_size.c_str());
      return kExitUsage;
    }
    kv_max_bytes = *max_bytes;
  }
  const auto speculation = engine::ParseSpeculationSettings(o.speculative, o.speculative_accept);
  if (!speculation) {
    std::fprintf(stderr, "dsagent serve: --%s\n", speculation.error().c_str());
    return kExitUsage;
  }
  const auto numerics =
      engine::kernels::ParseNumerics(o.numerics).value_or(engine::kernels::Numerics::kFast);
  auto runtime = engine::EngineRuntime::Open(
      {.model_dir = o.model_dir,
       .tokenizer_file = o.tokenizer_file,
       .threads = o.threads,
       .numerics = numerics,
       .weights = WeightsFromOption(o.weights),
       .device = device,
       .gpu_memory = gpu_memory,
       .context = o.context,
       .upload_progress = UploadProgressPrinter("serve"),
       .cancel = cancel,  // SIGTERM during a GPU's upload stops it between blocks
       .memory_cache_entries = o.cache_entries,
       .kv_dir = o.kv_dir,
       .kv_max_bytes = kv_max_bytes,
       .max_batch = o.max_batch > 0 ? o.max_batch : o.parallel,
       .speculation = *speculation,
       .kv_log = [](const std::string& line) {
         std::fprintf(stderr, "dsagent serve: %s\n", line.c_str());  // "kv: ..."
       }});
  if (!runtime) {
    std::fprintf(stderr, "dsagent: %s\n", runtime.error().c_str());
    return cancel.IsCancelled() ? kExitInterrupted : kExitUsage;
  }
  // On a GPU, what lives where (the routed experts past the device's memory stay on the host).
  if (!(*runtime)->placement().empty())
    std::fprintf(stderr, "dsagent serve: %s", (*runtime)->placement().c_str());
  auto options = ServerOptionsFrom(o, api_key);
  if (!options) {
    std::fprintf(stderr, "dsagent: %s\n", options.error().c_str());
    return kExitUsage;
  }
  engine::server::ChatServer server((*runtime)->completer(), *options);
  auto port = server.Start();
  if (!port) {
    std::fprintf(stderr, "dsagent: %s\n", port.error().c_str());
    return kExitUsage;
  }
  std::fprintf(stderr, "dsagent serve: model %s, listening on http://%s:%d\n",
               options->model_id.c_str(), o.host.c_str(), *port);
  std::fflush(stderr);
  if (const std::string lost = server.WaitForCancelOrLoss(cancel); !lost.empty()) {
    // Nothing can run on the device again in this process (CUDA keeps such an error): exit, so
    // that a supervisor (systemd's Restart=on-failure, Docker's restart policy, Kubernetes)
    // starts a fresh one, as vLLM, SGLang and llama.cpp's server do.
    std::fprintf(stderr, "dsagent serve: exiting (exit %d): %s\n", kExitApiFailure, lost.c_str());
    server.Stop();
    return kExitApiFailure;
  }
  std::fprintf(stderr, "dsagent serve: stopping\n");
  server.Stop();
  return kExitDone;
}

}  // namespace dsagent
