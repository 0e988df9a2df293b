#include "agent/providers/local_provider.h"

#include <chrono>

#include "agent/providers/local_request.h"
#include "engine/runtime/engine_runtime.h"

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
  LocalProvider(std::shared_ptr<LocalEngine> engine, int64_t context_tokens)
      : context_tokens_(context_tokens), engine_(std::move(engine)) {}

  Expected<Response, ProviderError> Complete(const Request& request, StreamSink& sink,
                                             const CancelToken& cancel) override {
    // In line with the other sessions' turns on this engine (local_engines.h).
    auto turn = engine_->turns.Enter();
    if (!turn || !engine_->turns.Wait(*turn, cancel)) {
      return MakeUnexpected(Error(ProviderErrorKind::kCancelled, "cancelled"));
    }
    // The request as `dsagent serve` would parse it from the openai-compatible body, and its
    // prompt, both brought up to date with only the new messages (local_request.h).
    if (auto built = request_.Build(request, context_tokens_, cancel); !built) {
      return MakeUnexpected(built.error());
    }
    engine::ChatRequest chat = request_.chat();
    chat.generate.cancel = cancel;
    engine::ChatCompleter& completer = engine_->runtime->completer();
    if (auto fits = completer.CheckPromptFits(request_.prompt_ids().size(), chat); !fits) {
      return MakeUnexpected(Error(ProviderErrorKind::kInvalidRequest, fits.error().message));
    }

    const auto start = std::chrono::steady_clock::now();
    auto result = completer.Complete(chat, request_.prompt_ids(), [&](const auto& delta) {
      return ForwardDelta(sink, cancel, delta);
    });
    if (!result && result.error().kind == engine::ChatError::Kind::kCancelled) {
      return MakeUnexpected(Error(ProviderErrorKind::kCancelled, "cancelled"));
    }
    if (!result) {
      // A GPU lost to a device fault: the engine's own reason (which device, the error, restart).
      if (std::string lost = completer.model().Lost(); !lost.empty()) {
        return MakeUnexpected(Error(ProviderErrorKind::kEngineLost, std::move(lost)));
      }
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
    if (chat.thinking) {
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
  std::shared_ptr<LocalEngine> engine_;  // shared with other sessions' providers, or its own
  // This session's conversation as last sent (a session calls its provider one call at a time).
  LocalRequestBuilder request_{*engine_->runtime->tokenizer()};
};

}  // namespace

Expected<std::unique_ptr<Provider>, ProviderError> MakeLocalProvider(
    const LocalProviderOptions& o) {
  if (o.model_dir.empty()) {
    return MakeUnexpected(Error(ProviderErrorKind::kConfig,
                                "no model directory: pass --model DIR (or set "
                                "providers.local.model_dir)"));
  }
  LocalEngines own;  // without a shared one: loaded for this provider alone
  LocalEngines& engines = o.engines ? *o.engines : own;
  auto engine = engines.Acquire({.model_dir = o.model_dir,
                                 .tokenizer_file = o.tokenizer_file,
                                 .threads = o.threads,
                                 .numerics = o.numerics,
                                 .weights = o.weights,
                                 .device = o.device,
                                 .gpu_memory = o.gpu_memory,
                                 .context = o.context_tokens,
                                 .cancel = o.cancel,
                                 .kv_dir = o.kv_dir,
                                 .kv_max_bytes = o.kv_max_bytes,
                                 .speculation = o.speculation},
                                o.notices);
  if (!engine) {
    const auto kind =
        o.cancel.IsCancelled() ? ProviderErrorKind::kCancelled : ProviderErrorKind::kConfig;
    return MakeUnexpected(Error(kind, engine.error()));
  }
  return std::unique_ptr<Provider>(new LocalProvider(std::move(*engine), o.context_tokens));
}

}  // namespace dsagent
