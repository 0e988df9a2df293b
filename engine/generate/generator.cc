#include "engine/generate/generator.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>

#include "common/name_table.h"
#include "engine/forward/model.h"  // CheckTokenIds
#include "engine/generate/mtp_drafter.h"
#include "engine/generate/text_stream.h"

namespace dsagent::engine {
namespace {
constexpr EnumName<FinishReason> kFinishReasonNames[] = {{FinishReason::kStopToken, "stop_token"},
                                                         {FinishReason::kStopString, "stop_string"},
                                                         {FinishReason::kLength, "length"},
                                                         {FinishReason::kCancelled, "cancelled"}};
constexpr EnumName<Speculative> kSpeculativeNames[] = {{Speculative::kOff, "off"},
                                                       {Speculative::kMtp, "mtp"}};
constexpr EnumName<SpeculativeAcceptance> kAcceptanceNames[] = {
    {SpeculativeAcceptance::kMatch, "match"}, {SpeculativeAcceptance::kStandard, "standard"}};

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

std::optional<Speculative> ParseSpeculative(std::string_view name) {
  return ValueNamed(kSpeculativeNames, name);
}

std::optional<SpeculativeAcceptance> ParseSpeculativeAcceptance(std::string_view name) {
  return ValueNamed(kAcceptanceNames, name);
}

const char* SpeculativeAcceptanceName(SpeculativeAcceptance acceptance) {
  return NameOf(kAcceptanceNames, acceptance).data();
}

Expected<bool, std::string> PrefillInChunks(SequenceModel& model, ModelSequence& sequence,
                                            std::span<const int32_t> tokens,
                                            const CancelToken& cancel,
                                            const std::function<void()>& on_chunk,
                                            DraftSource* drafts) {
  for (size_t at = 0; at < tokens.size(); at += kPrefillChunkTokens) {
    if (cancel.IsCancelled()) return false;
    const auto chunk = tokens.subspan(at, std::min(kPrefillChunkTokens, tokens.size() - at));
    std::vector<float> streams;
    auto out = model.Forward(sequence, chunk,
                             {.last_row_only = true, .final_streams = drafts ? &streams : nullptr});
    if (!out) return MakeUnexpected(out.error());
    if (drafts) {
      if (auto told = drafts->Fed(chunk, streams); !told) {
        return MakeUnexpected(told.error());
      }
    }
    if (on_chunk) on_chunk();
  }
  return true;
}

std::string Generator::TokenBytes(int32_t id) const {
  if (tokenizer_ == nullptr) return "";
  auto text = tokenizer_->Decode({id});
  return text ? *text : "";
}

Expected<GenerateResult, std::string> Generator::Generate(ModelSequence& sequence,
                                                          std::span<const int32_t> prompt,
                                                          const GenerateOptions& options,
                                                          const TokenSink& sink,
                                                          const PrefillHook& on_prefill) {
  if (prompt.empty()) return MakeUnexpected("the prompt is empty");
  if (auto ok = CheckSamplingParams(options.sampling); !ok) return MakeUnexpected(ok.error());
  if (options.max_tokens < 1) return MakeUnexpected("max_tokens must be at least 1");
  if (auto ok = forward::CheckTokenIds(model_.config(), prompt, sequence.pos()); !ok) {
    return MakeUnexpected(ok.error());
  }
  const int64_t limit =
      options.context_limit > 0 ? options.context_limit : model_.config().max_position_embeddings;
  const int64_t prompt_end = sequence.pos() + static_cast<int64_t>(prompt.size());
  if (prompt_end > limit) {
    return MakeUnexpected("the prompt needs " + std::to_string(prompt_end) +
                          " positions but the context limit is " + std::to_string(limit));
  }

  GenerateResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  std::optional<MtpDrafter> mtp_drafter;
  DraftSource* drafts = options.drafts;
  if (drafts == nullptr && options.speculative == Speculative::kMtp) {
    if (auto can = MtpDrafter::CanDraft(model_, sequence); can) {
      drafts = &mtp_drafter.emplace(model_, sequence);
    } else {
      result.speculative_off = can.error();
    }
  }
  // A plain forward call (batched with other generations' steps once decoding starts); the draft
  // source is told its token and stream.
  std::optional<ForwardBatcher::Member> batched;
  std::vector<float> streams;
  const auto forward =
      [&](std::span<const int32_t> tokens) -> Expected<std::vector<float>, std::string> {
    if (batched) return batched->Forward(sequence, tokens);
    auto logits = model_.Forward(sequence, tokens, {.final_streams = drafts ? &streams : nullptr});
    if (logits && drafts) {
      if (auto told = drafts->Fed(tokens, streams); !told) {
        return MakeUnexpected(told.error());
      }
    }
    return logits;
  };

  const auto t0 = std::chrono::steady_clock::now();
  auto head = PrefillInChunks(model_, sequence, prompt.first(prompt.size() - 1), options.cancel,
                              options.on_prefill_chunk, drafts);
  if (!head) return MakeUnexpected(head.error());
  if (!*head || options.cancel.IsCancelled()) {
    result.finish = FinishReason::kCancelled;
    return result;
  }
  if (drafts != nullptr) {  // the MTP state level with the main one before the state is shown
    if (auto caught = drafts->CatchUp(prompt.back()); !caught) {
      return MakeUnexpected(caught.error());
    }
  }
  if (on_prefill) on_prefill(sequence);
  if (options.batcher != nullptr && drafts == nullptr) batched.emplace(*options.batcher);
  auto logits = forward(prompt.last(1));
  if (!logits) return MakeUnexpected(logits.error());
  result.prefill_seconds = SecondsSince(t0);

  const auto t1 = std::chrono::steady_clock::now();
  Sampler sampler(options.sampling);
  TextStream stream(options.stop);
  const auto emit = [&](int32_t token, const std::string& text) {
    result.text += text;
    return !sink || sink(token, text);
  };
  // The next token from one row of logits, as plain decoding picks it (constraint included).
  const auto pick = [&](std::span<float> row) -> Expected<int32_t, std::string> {
    int32_t token = sampler.Sample(row);
    if (options.constraint != nullptr) {
      if (!options.constraint->Allows(token)) {
        if (!options.constraint->Mask(row)) {
          return MakeUnexpected("the output constraint allows no token after " +
                                std::to_string(result.tokens.size()) + " generated tokens");
        }
        token = sampler.Sample(row);
      }
      options.constraint->Accept(token);
    }
    return token;
  };
  // Keeps a picked token; true when generation ends with it (result.finish set). `fed` is how
  // many tokens plain decoding would have in the state at this point.
  const auto ends_with = [&](int32_t token, int64_t fed) {
    result.tokens.push_back(token);
    const bool stop_token = std::find(options.stop_token_ids.begin(), options.stop_token_ids.end(),
                                      token) != options.stop_token_ids.end();
    const std::string text = stop_token ? stream.Flush() : stream.Append(TokenBytes(token));
    if (!emit(token, text)) {
      result.finish = FinishReason::kCancelled;
    } else if (stop_token) {
      result.finish = FinishReason::kStopToken;
    } else if (stream.stopped()) {
      result.finish = FinishReason::kStopString;
      result.matched_stop = stream.matched_stop();
    } else if (static_cast<int64_t>(result.tokens.size()) >= options.max_tokens || fed >= limit) {
      result.finish = FinishReason::kLength;
    } else if (options.cancel.IsCancelled()) {
      result.finish = FinishReason::kCancelled;
    } else {
      return false;
    }
    return true;
  };

  auto token = pick(*logits);
  if (!token) return MakeUnexpected(token.error());
  const auto vocab = static_cast<size_t>(model_.config().vocab_size);
  // The standard acceptance rule where it differs from the match rule (see SpeculativeAcceptance).
  const bool standard = options.speculative_acceptance == SpeculativeAcceptance::kStandard &&
                        options.sampling.temperature > 0 && options.constraint == nullptr;
  while (!ends_with(*token, sequence.pos())) {
    const int32_t fed[1] = {*token};
    if (drafts == nullptr || sequence.pos() + 1 >= limit) {  // plain step (the draft would not fit)
      logits = forward(fed);
      if (!logits) return MakeUnexpected(logits.error());
      token = pick(*logits);
      if (!token) return MakeUnexpected(token.error());
      continue;
    }
    // Speculative step: feed the token and a draft of the one after it together.
    auto guess = drafts->Draft(*token);
    if (!guess) return MakeUnexpected(guess.error());
    int32_t draft = guess->token;
    TokenDistribution q;
    if (standard) {  // the draft is sampled from the drafter's distribution
      if (guess->logits.size() == vocab) {
        q = sampler.Distribution(guess->logits);
        draft = q.Pick(sampler.Uniform());
      } else {
        q = {.ids = {draft}, .weights = {1.0}, .total = 1.0};
      }
    }
    const int32_t pair[2] = {*token, draft};
    auto rows =
        model_.Forward(sequence, pair, {.final_streams = &streams, .undoable_last_row = true});
    if (!rows) return MakeUnexpected(rows.error());
    ++result.drafted;
    const std::span<float> first(rows->data(), vocab), second(rows->data() + vocab, vocab);
    Expected<int32_t, std::string> next = 0;
    bool kept = false;
    if (standard) {
      const double u_accept = sampler.Uniform(), u_residual = sampler.Uniform();
      const DraftVerdict verdict =
          VerifyDraft(sampler.Distribution(first), q, draft, u_accept, u_residual);
      next = verdict.token;
      kept = verdict.accepted;
    } else {
      next = pick(first);
      if (!next) return MakeUnexpected(next.error());
      kept = *next == draft;
    }
    const auto row_width = static_cast<size_t>(model_.config().hc_mult * model_.config().dim);
    // The token alone stays in the state: the draft's row is taken back, the source told the
    // token's row only.
    const auto keep_token_only = [&]() -> Expected<Ok, std::string> {
      if (auto undo = model_.TakeBackLastRow(sequence); !undo) return MakeUnexpected(undo.error());
      return drafts->Fed(std::span<const int32_t>(pair, 1),
                         std::span<const float>(streams.data(), row_width));
    };
    if (!kept) {
      if (auto back = keep_token_only(); !back) return MakeUnexpected(back.error());
      token = next;
      continue;
    }
    ++result.accepted;
    if (ends_with(*next, sequence.pos() - 1)) {  // plain decoding never feeds the last token
      if (auto back = keep_token_only(); !back) return MakeUnexpected(back.error());
      break;
    }
    if (auto told = drafts->Fed(pair, streams); !told) {
      return MakeUnexpected(told.error());
    }
    token = pick(second);
    if (!token) return MakeUnexpected(token.error());
  }
  // The MTP state level with the main one: the last sampled token is the next after the state.
  if (drafts != nullptr && !result.tokens.empty()) {
    if (auto caught = drafts->CatchUp(result.tokens.back()); !caught) {
      return MakeUnexpected(caught.error());
    }
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
