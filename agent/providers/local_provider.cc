#include "agent/providers/local_provider.h"

#include <chrono>
#include <mutex>

#include "agent/providers/chat_completions.h"
#include "engine/generate/chat_completion.h"
#include "engine/kv/disk_prefix_store.h"
#include "engine/kv/model_identity.h"
#include "engine/server/openai_chat.h"
#include "engine/tokenizer/model_tokenizer.h"

namespace dsagent {
namespace {

ProviderError Error(ProviderErrorKind kind, std::string message) {
  return {kind, 0, "local engine: " + std::move(message)};
}

// Forwards the completer's deltas to the agent's sink; stops generation once cancelled.
bool ForwardDelta(StreamSink& sink, const CancelToken& cancel,
                  const engine::StreamingCompletionParser::Delta& delta) {
  if (!delta.reasoning.empty()) sink.OnReasoningDelta(delta.reasoning);
  if (!delta.content.empty()) sink.OnContentDelta(delta.content);
  return !cancel.IsCancelled();
}

class LocalProvider : public Provider {
 public:
  LocalProvider(std::unique_ptr<engine::forward::Model> model,
                std::unique_ptr<engine::BpeTokenizer> tokenizer,
                std::unique_ptr<engine::kv::DiskPrefixStore> disk, int64_t context_tokens)
      : context_tokens_(context_tokens),
        model_(std::move(model)),
        tokenizer_(std::move(tokenizer)),
        disk_(std::move(disk)),
        tiered_(disk_ ? std::make_unique<engine::TieredPrefixCache>(memory_, *disk_) : nullptr),
        completer_(*model_, *tokenizer_,
                   tiered_ ? static_cast<engine::PrefixCache*>(tiered_.get()) : &memory_) {}

  Expected<Response, ProviderError> Complete(const Request& request, StreamSink& sink,
                                             const CancelToken& cancel) override {
    // The request as an OpenAI-compatible body, parsed exactly as `dsagent serve` parses it.
    const std::string body = wire_.BuildBody(request, false).Bytes();
    auto wire = engine::server::ParseChatRequest(
        body, {.max_tokens = request.max_output_tokens, .context_limit = context_tokens_});
    if (!wire) {
      return MakeUnexpected(Error(ProviderErrorKind::kInvalidRequest, wire.error().message));
    }
    wire->chat.generate.cancel = cancel;

    std::lock_guard lock(mu_);  // one sequence at a time through the engine
    const auto start = std::chrono::steady_clock::now();
    auto result = completer_.Complete(
        wire->chat, [&](const auto& delta) { return ForwardDelta(sink, cancel, delta); });
    if (!result && result.error().kind == engine::ChatError::Kind::kCancelled) {
      return MakeUnexpected(Error(ProviderErrorKind::kCancelled, "cancelled"));
    }
    if (!result) {
      const auto kind = result.error().kind == engine::ChatError::Kind::kInternal
                            ? ProviderErrorKind::kServer
                            : ProviderErrorKind::kInvalidRequest;
      return MakeUnexpected(Error(kind, result.error().message));
    }
    if (cancel.IsCancelled()) {
      return MakeUnexpected(Error(ProviderErrorKind::kCancelled, "cancelled"));
    }
    Response r;
    r.message.role = Role::kAssistant;
    r.message.content = result->message.content;
    if (wire->chat.thinking) {
      r.message.reasoning = result->message.reasoning;
      r.message.has_reasoning = true;
    }
    for (size_t i = 0; i < result->message.tool_calls.size(); ++i) {
      const auto& call = result->message.tool_calls[i];
      r.message.tool_calls.push_back({"call_" + std::to_string(i), call.name, call.arguments});
    }
    r.finish_reason = result->finish_reason;
    r.usage.input_cache_hit = result->usage.prompt_cache_hit_tokens;
    r.usage.input_cache_miss = result->usage.prompt_cache_miss_tokens;
    r.usage.output = result->usage.completion_tokens;
    r.usage.reasoning = result->usage.reasoning_tokens;
    r.served_model = request.lane.model;
    r.latency_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

  std::string Name() const override { return "local"; }

 private:
  int64_t context_tokens_;
  // Incremental: serialises only the messages added since the last call (encoded_prefix.h).
  ChatCompletionsWire wire_{OpenAiCompatibleDialect()};
  std::unique_ptr<engine::forward::Model> model_;
  std::unique_ptr<engine::BpeTokenizer> tokenizer_;
  engine::InMemoryPrefixCache memory_;
  std::unique_ptr<engine::kv::DiskPrefixStore> disk_;
  std::unique_ptr<engine::TieredPrefixCache> tiered_;
  engine::ChatCompleter completer_;
  std::mutex mu_;
};

}  // namespace

Expected<std::unique_ptr<Provider>, ProviderError> MakeLocalProvider(
    const LocalProviderOptions& o) {
  if (o.model_dir.empty()) {
    return MakeUnexpected(Error(ProviderErrorKind::kConfig,
                                "no model directory: pass --model DIR (or set "
                                "providers.local.model_dir)"));
  }
  auto model =
      engine::forward::Model::Load(o.model_dir, {.threads = o.threads, .numerics = o.numerics});
  if (!model) return MakeUnexpected(Error(ProviderErrorKind::kConfig, model.error()));
  auto tokenizer = engine::LoadModelTokenizer({.tokenizer_file = o.tokenizer_file,
                                               .model_dir = o.model_dir,
                                               .model_vocab_size = (*model)->config().vocab_size});
  if (!tokenizer) return MakeUnexpected(Error(ProviderErrorKind::kConfig, tokenizer.error()));
  std::unique_ptr<engine::kv::DiskPrefixStore> disk;
  if (!o.kv_dir.empty()) {
    auto identity = engine::kv::ComputeModelIdentity(o.model_dir);
    if (!identity) return MakeUnexpected(Error(ProviderErrorKind::kConfig, identity.error()));
    auto store = engine::kv::DiskPrefixStore::Open(
        (*model)->config(), engine::kv::StateIdentity(*identity, o.numerics),
        {.dir = o.kv_dir, .max_bytes = o.kv_max_bytes, .log = {}});
    if (!store) return MakeUnexpected(Error(ProviderErrorKind::kConfig, store.error()));
    disk = std::move(*store);
  }
  return std::unique_ptr<Provider>(new LocalProvider(std::move(*model), std::move(*tokenizer),
                                                     std::move(disk), o.context_tokens));
}

}  // namespace dsagent
