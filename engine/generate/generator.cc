#include "engine/generate/generator.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "common/name_table.h"
#include "engine/generate/text_stream.h"

namespace dsagent::engine {
namespace {
constexpr EnumName<FinishReason> kFinishReasonNames[] = {{FinishReason::kStopToken, "stop_token"},
                                                         {FinishReason::kStopString, "stop_string"},
                                                         {FinishReason::kLength, "length"},
                                                         {FinishReason::kCancelled, "cancelled"}};

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

bool TokenConstraint::Mask(std::span<float> logits) const {
  bool any = false;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (Allows(static_cast<int32_t>(i))) {
      any = true;
    } else {
      logits[i] = -std::numeric_limits<float>::infinity();
    }
  }
  return any;
}

const char* FinishReasonName(FinishReason reason) {
  return NameOf(kFinishReasonNames, reason).data();
}

Expected<bool, std::string> PrefillInChunks(forward::Model& model, forward::SequenceState& state,
                                            std::span<const int32_t> tokens,
                                            const CancelToken& cancel,
                                            const std::function<void()>& on_chunk) {
  for (size_t at = 0; at < tokens.size(); at += kPrefillChunkTokens) {
    if (cancel.IsCancelled()) return false;
    auto out = model.ForwardLast(
        state, tokens.subspan(at, std::min(kPrefillChunkTokens, tokens.size() - at)));
    if (!out) return MakeUnexpected(out.error());
    if (on_chunk) on_chunk();
  }
  return true;
}

std::string Generator::TokenBytes(int32_t id) const {
  if (tokenizer_ == nullptr) return "";
  auto text = tokenizer_->Decode({id});
  return text ? *text : "";
}

Expected<GenerateResult, std::string> Generator::Generate(forward::SequenceState& state,
                                                          std::span<const int32_t> prompt,
                                                          const GenerateOptions& options,
                                                          const TokenSink& sink,
                                                          const PrefillHook& on_prefill) {
  if (prompt.empty()) return MakeUnexpected("the prompt is empty");
  if (auto ok = CheckSamplingParams(options.sampling); !ok) return MakeUnexpected(ok.error());
  if (options.max_tokens < 1) return MakeUnexpected("max_tokens must be at least 1");
  if (auto ok = forward::CheckTokenIds(model_.config(), prompt, state.pos); !ok) {
    return MakeUnexpected(ok.error());
  }
  const int64_t limit =
      options.context_limit > 0 ? options.context_limit : model_.config().max_position_embeddings;
  const int64_t prompt_end = state.pos + static_cast<int64_t>(prompt.size());
  if (prompt_end > limit) {
    return MakeUnexpected("the prompt needs " + std::to_string(prompt_end) +
                          " positions but the context limit is " + std::to_string(limit));
  }

  GenerateResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  const auto t0 = std::chrono::steady_clock::now();
  auto head = PrefillInChunks(model_, state, prompt.first(prompt.size() - 1), options.cancel,
                              options.on_prefill_chunk);
  if (!head) return MakeUnexpected(head.error());
  if (!*head || options.cancel.IsCancelled()) {
    result.finish = FinishReason::kCancelled;
    return result;
  }
  if (on_prefill) on_prefill(state);
  auto logits = model_.Forward(state, prompt.last(1));
  if (!logits) return MakeUnexpected(logits.error());
  result.prefill_seconds = SecondsSince(t0);

  const auto t1 = std::chrono::steady_clock::now();
  Sampler sampler(options.sampling);
  TextStream stream(options.stop);
  const auto emit = [&](int32_t token, const std::string& text) {
    result.text += text;
    return !sink || sink(token, text);
  };
  while (true) {
    int32_t token = sampler.Sample(*logits);
    if (options.constraint != nullptr) {
      if (!options.constraint->Allows(token)) {
        if (!options.constraint->Mask(*logits)) {
          return MakeUnexpected("the output constraint allows no token after " +
                                std::to_string(result.tokens.size()) + " generated tokens");
        }
        token = sampler.Sample(*logits);
      }
      options.constraint->Accept(token);
    }
    result.tokens.push_back(token);
    const bool stop_token = std::find(options.stop_token_ids.begin(), options.stop_token_ids.end(),
                                      token) != options.stop_token_ids.end();
    const std::string text = stop_token ? stream.Flush() : stream.Append(TokenBytes(token));
    if (!emit(token, text)) {
      result.finish = FinishReason::kCancelled;
      break;
    }
    if (stop_token) {
      result.finish = FinishReason::kStopToken;
      break;
    }
    if (stream.stopped()) {
      result.finish = FinishReason::kStopString;
      result.matched_stop = stream.matched_stop();
      break;
    }
    if (static_cast<int64_t>(result.tokens.size()) >= options.max_tokens || state.pos >= limit) {
      result.finish = FinishReason::kLength;
      break;
    }
    if (options.cancel.IsCancelled()) {
      result.finish = FinishReason::kCancelled;
      break;
    }
    const int32_t fed[1] = {token};
    logits = model_.Forward(state, fed);
    if (!logits) return MakeUnexpected(logits.error());
  }
  if (result.finish != FinishReason::kStopString && result.finish != FinishReason::kStopToken) {
    if (const std::string rest = stream.Flush(); !rest.empty()) {
      result.text += rest;
      if (sink) sink(-1, rest);
    }
  }
  result.decode_seconds = SecondsSince(t1);
  return result;
}

}  // namespace dsagent::engine
