#include "agent/cli/serve_command.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include "agent/core/termination.h"
#include "common/byte_size.h"
#include "engine/generate/chat_completion.h"
#include "engine/kv/disk_prefix_store.h"
#include "engine/kv/model_identity.h"
#include "engine/server/chat_server.h"
#include "engine/tokenizer/model_tokenizer.h"

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
  cmd->add_option("--parallel", serve.parallel, "Generations at once (default 1)")
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

int ServeCommand(const ServeOptions& o, const CancelToken& cancel) {
  std::string api_key = o.api_key;
  if (const char* env = std::getenv("DSAGENT_SERVE_API_KEY"); api_key.empty() && env) api_key = env;
  // Refused before the (possibly long) model load.
  if (auto refused = engine::server::CheckAccessOptions({.host = o.host, .api_key = api_key});
      !refused.empty()) {
    std::fprintf(stderr, "dsagent serve: %s\n", refused.c_str());
    return kExitUsage;
  }
  auto model = engine::forward::Model::Load(
      o.model_dir,
      {.threads = o.threads,
       .numerics =
           engine::kernels::ParseNumerics(o.numerics).value_or(engine::kernels::Numerics::kFast)});
  if (!model) {
    std::fprintf(stderr, "dsagent: %s\n", model.error().c_str());
    return kExitUsage;
  }
  auto tokenizer = engine::LoadModelTokenizer({.tokenizer_file = o.tokenizer_file,
                                               .model_dir = o.model_dir,
                                               .model_vocab_size = (*model)->config().vocab_size});
  if (!tokenizer) {
    std::fprintf(stderr, "dsagent: %s\n", tokenizer.error().c_str());
    return kExitUsage;
  }
  // Recent states in memory; with --kv-dir also the persistent store (128-aligned records).
  engine::InMemoryPrefixCache memory({.max_entries = o.cache_entries});
  engine::PrefixCache* cache = &memory;
  std::unique_ptr<engine::kv::DiskPrefixStore> disk;
  std::unique_ptr<engine::TieredPrefixCache> tiered;
  if (!o.kv_dir.empty()) {
    const auto max_bytes = ParseByteSize(o.kv_max_size);
    if (!max_bytes) {
      std::fprintf(stderr, "dsagent: --kv-max-size '%s' is not a size (e.g. 16G, 512M, bytes)\n",
                   o.kv_max_size.c_str());
      return kExitUsage;
    }
    auto identity = engine::kv::ComputeModelIdentity(o.model_dir);
    if (!identity) {
      std::fprintf(stderr, "dsagent: %s\n", identity.error().c_str());
      return kExitUsage;
    }
    auto store = engine::kv::DiskPrefixStore::Open(
        (*model)->config(), engine::kv::StateIdentity(*identity, (*model)->numerics()),
        {.dir = o.kv_dir, .max_bytes = *max_bytes, .log = [](const std::string& line) {
           std::fprintf(stderr, "dsagent serve: kv: %s\n", line.c_str());
         }});
    if (!store) {
      std::fprintf(stderr, "dsagent: %s\n", store.error().c_str());
      return kExitUsage;
    }
    disk = std::move(*store);
    tiered = std::make_unique<engine::TieredPrefixCache>(memory, *disk);
    cache = tiered.get();
  }
  const auto max_body = ParseByteSize(o.max_body);
  if (!max_body) {
    std::fprintf(stderr, "dsagent: --max-body '%s' is not a size (e.g. 16M, bytes)\n",
                 o.max_body.c_str());
    return kExitUsage;
  }
  engine::ChatCompleter completer(**model, **tokenizer, cache);
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
  engine::server::ChatServer server(completer, options);
  auto port = server.Start();
  if (!port) {
    std::fprintf(stderr, "dsagent: %s\n", port.error().c_str());
    return kExitUsage;
  }
  std::fprintf(stderr, "dsagent serve: model %s, listening on http://%s:%d\n",
               options.model_id.c_str(), o.host.c_str(), *port);
  std::fflush(stderr);
  while (!cancel.IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::fprintf(stderr, "dsagent serve: stopping\n");
  server.Stop();
  return kExitDone;
}

}  // namespace dsagent
