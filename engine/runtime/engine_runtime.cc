#include "engine/runtime/engine_runtime.h"

#include <sstream>

#include "engine/kv/model_identity.h"
#include "engine/runtime/sequence_model_factory.h"
#include "engine/tokenizer/model_tokenizer.h"

namespace dsagent::engine {
namespace {

// A directory as the same key however it was spelt (relative, with "..", a trailing slash).
std::string PathKey(const std::filesystem::path& p) {
  if (p.empty()) return "";
  std::error_code ec;
  const auto canonical = std::filesystem::weakly_canonical(std::filesystem::absolute(p, ec), ec);
  return (ec ? p : canonical).lexically_normal().string();
}

}  // namespace

std::string RuntimeKey(const EngineRuntimeOptions& o) {
  std::ostringstream key;
  key << PathKey(o.model_dir) << '\n'
      << PathKey(o.tokenizer_file) << '\n'
      << o.tokenizer_required << ' ' << o.threads << ' ' << static_cast<int>(o.numerics) << ' '
      << static_cast<int>(o.weights) << ' ' << static_cast<int>(o.backend) << ' ' << o.device.Name()
      << ' ' << o.gpu_memory << ' ' << o.context << ' ' << o.memory_cache_entries << ' '
      << o.kv_max_bytes << ' ' << o.max_batch << ' ' << static_cast<int>(o.speculation.mode) << ' '
      << static_cast<int>(o.speculation.acceptance) << '\n'
      << PathKey(o.kv_dir);
  return key.str();
}

Expected<std::unique_ptr<EngineRuntime>, std::string> EngineRuntime::Open(
    const EngineRuntimeOptions& o) {
  if (o.model_dir.empty()) {
    return MakeUnexpected(
        std::string("no model directory given (a checkpoint directory with "
                    "config.json and *.safetensors)"));
  }
  std::unique_ptr<EngineRuntime> r(new EngineRuntime());
  auto model = forward::Model::Load(
      o.model_dir,
      {.threads = o.threads, .numerics = o.numerics, .weights = o.weights, .backend = o.backend});
  if (!model) return MakeUnexpected(model.error());
  r->model_ = std::move(*model);
  auto chosen = MakeSequenceModel(*r->model_, {.device = o.device,
                                               .gpu_memory = o.gpu_memory,
                                               .context = o.context,
                                               .sequences = o.max_batch > 1 ? o.max_batch : 1,
                                               .host_threads = o.threads,
                                               .upload_progress = o.upload_progress,
                                               .cancel = o.cancel});
  if (!chosen) return MakeUnexpected(chosen.error());
  r->sequence_model_ = std::move(chosen->model);
  r->placement_ = std::move(chosen->placement);
  r->context_limit_ = chosen->context_limit;
  if (o.speculation.mode == Speculative::kMtp && r->model_->config().n_mtp_layers < 1) {
    return MakeUnexpected(
        "speculative decoding (--speculative mtp) needs a checkpoint with an "
        "MTP block, and " +
        o.model_dir.string() + " has none (num_nextn_predict_layers = 0); use --speculative off");
  }

  auto tokenizer = LoadModelTokenizer({.tokenizer_file = o.tokenizer_file,
                                       .model_dir = o.model_dir,
                                       .model_vocab_size = r->model_->config().vocab_size});
  if (tokenizer) {
    r->tokenizer_ = std::move(*tokenizer);
  } else if (o.tokenizer_required) {
    return MakeUnexpected(tokenizer.error());
  }

  if (o.memory_cache_entries > 0) {
    r->memory_ = std::make_unique<InMemoryPrefixCache>(
        InMemoryPrefixCache::Options{.max_entries = o.memory_cache_entries});
    r->cache_ = r->memory_.get();
  }
  if (!o.kv_dir.empty()) {
    // The store's records are valid only for these exact weights and numerics.
    auto identity = kv::ComputeModelIdentity(o.model_dir);
    if (!identity) return MakeUnexpected(identity.error());
    auto store = kv::DiskPrefixStore::Open(
        r->model_->config(), kv::StateIdentity(*identity, r->model_->numerics()),
        {.dir = o.kv_dir, .max_bytes = o.kv_max_bytes, .log = o.kv_log});
    if (!store) return MakeUnexpected(store.error());
    r->disk_ = std::move(*store);
    if (r->memory_) {
      r->tiered_ = std::make_unique<TieredPrefixCache>(*r->memory_, *r->disk_);
      r->cache_ = r->tiered_.get();
    } else {
      r->cache_ = r->disk_.get();
    }
  }
  if (o.max_batch > 1) {
    r->batcher_ = std::make_unique<ForwardBatcher>(*r->sequence_model_,
                                                   ForwardBatcherOptions{.max_batch = o.max_batch});
  }
  if (r->tokenizer_) {
    r->completer_ = std::make_unique<ChatCompleter>(*r->sequence_model_, *r->tokenizer_, r->cache_,
                                                    r->batcher_.get(), o.speculation);
  }
  return r;
}

}  // namespace dsagent::engine
