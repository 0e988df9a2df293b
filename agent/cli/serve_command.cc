#include "agent/cli/serve_command.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "agent/core/termination.h"
#include "common/byte_size.h"
#include "engine/generate/chat_completion.h"
#include "engine/kv/disk_prefix_store.h"
#include "engine/kv/model_identity.h"
#include "engine/server/chat_server.h"
#include "engine/tokenizer/model_tokenizer.h"

namespace dsagent {

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
  options.max_queue = o.max_queue;
  options.max_body_bytes = *max_body;
  options.max_prompt_tokens = o.max_prompt_tokens;
  options.request_timeout_s = o.request_timeout_s;
  options.read_timeout_s = o.read_timeout_s;
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
