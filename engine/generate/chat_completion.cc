#include "engine/generate/chat_completion.h"

#include <algorithm>
#include <optional>

#include "engine/generate/mtp_drafter.h"

namespace dsagent::engine {
namespace {

// Without a usable DSML parse: reasoning up to </think>, the rest (minus a final EOS) is content.
ParsedCompletion RawSplit(std::string_view text, bool thinking) {
  ParsedCompletion out;
  if (thinking) {
    const size_t end = text.find(tokens::kEndThink);
    out.reasoning = std::string(text.substr(0, end));
    text = end == std::string_view::npos
               ? std::string_view()
               : text.substr(end + std::string_view(tokens::kEndThink).size());
  }
  const std::string_view eos = tokens::kEos;
  if (text.size() >= eos.size() && text.substr(text.size() - eos.size()) == eos) {
    text.remove_suffix(eos.size());
    out.ended = true;
  }
  out.content = std::string(text);
  return out;
}

}  // namespace

Expected<std::optional<DsmlGrammarSpec>, std::string> ToolChoiceGrammar(
    const ChatRequest& request) {
  DsmlGrammarSpec spec;
  spec.thinking = request.thinking;
  switch (request.tool_choice.mode) {
    case ToolChoice::Mode::kAuto: {
      // A call the model starts on its own is held to the same grammar as a required one. Not
      // under ignore_eos (EOS is text there, and the grammar ends a block with EOS), and not for
      // tools DSML cannot name (the call then stays unconstrained, as before).
      if (!request.tools.is_array() || request.tools.empty() || request.ignore_eos) {
        return std::optional<DsmlGrammarSpec>();
      }
      auto tools = DsmlToolSpecs(request.tools);
      if (!tools || tools->empty()) return std::optional<DsmlGrammarSpec>();
      spec.mode = DsmlGrammarSpec::Mode::kAuto;
      spec.single_call = !request.parallel_tool_calls;
      spec.tools = std::move(*tools);
      return std::optional<DsmlGrammarSpec>(std::move(spec));
    }
    case ToolChoice::Mode::kNone:
      spec.mode = DsmlGrammarSpec::Mode::kNoTools;
      return std::optional<DsmlGrammarSpec>(std::move(spec));
    case ToolChoice::Mode::kRequired:
    case ToolChoice::Mode::kNamed:
      break;
  }
  const bool named = request.tool_choice.mode == ToolChoice::Mode::kNamed;
  auto tools = DsmlToolSpecs(request.tools, named ? request.tool_choice.name : "");
  if (!tools) return MakeUnexpected(tools.error());
  if (tools->empty())
    return MakeUnexpected(std::string("a tool call is required but no tools are given"));
  spec.mode = DsmlGrammarSpec::Mode::kToolCall;
  spec.single_call = !request.parallel_tool_calls;
  spec.tools = std::move(*tools);
  return std::optional<DsmlGrammarSpec>(std::move(spec));
}

const TokenBytesTable& ChatCompleter::TokenTable() const {
  std::call_once(table_once_, [this] {
    table_ = std::make_unique<TokenBytesTable>(tokenizer_,
                                               static_cast<size_t>(model_.config().vocab_size));
  });
  return *table_;
}

Expected<std::string, std::string> RenderChatPrompt(const ChatRequest& request) {
  if (!request.messages.is_array()) return MakeUnexpected("messages must be an array");
  OrderedJson messages = request.messages;
  if (request.tools.is_array() && !request.tools.empty()) {
    auto system = std::find_if(messages.begin(), messages.end(), [](const OrderedJson& m) {
      return m.is_object() && m.value("role", "") == "system";
    });
    if (system == messages.end()) {
      messages.insert(messages.begin(), OrderedJson{{"role", "system"}, {"content", ""}});
      system = messages.begin();
    }
    (*system)["tools"] = request.tools;
  }
  ChatEncodeOptions options;
  options.thinking = request.thinking;
  options.reasoning_effort = request.reasoning_effort;
  return EncodeMessages(messages, options);
}

Expected<SpeculationSettings, std::string> ParseSpeculationSettings(std::string_view mode,
                                                                    std::string_view acceptance) {
  const auto m = ParseSpeculative(mode);
  if (!m) return MakeUnexpected("speculative: '" + std::string(mode) + "' is not off or mtp");
  const auto a = ParseSpeculativeAcceptance(acceptance);
  if (!a) {
    return MakeUnexpected("speculative_accept: '" + std::string(acceptance) +
                          "' is not match or standard");
  }
  return SpeculationSettings{*m, *a};
}

Expected<std::vector<int32_t>, ChatError> ChatCompleter::PromptTokens(
    const ChatRequest& request) const {
  if (auto grammar = ToolChoiceGrammar(request); !grammar) {
    return MakeUnexpected(ChatError{ChatError::Kind::kBadRequest, grammar.error()});
  }
  auto prompt_text = RenderChatPrompt(request);
  if (!prompt_text) {
    return MakeUnexpected(ChatError{ChatError::Kind::kBadRequest, prompt_text.error()});
  }
  std::vector<int32_t> prompt =
      prompt_tokens_.Encode(tokenizer_, *prompt_text, &request.generate.cancel);
  if (request.generate.cancel.IsCancelled()) {
    return MakeUnexpected(ChatError{ChatError::Kind::kCancelled, "cancelled while tokenizing"});
  }
  if (auto fits = CheckPromptFits(prompt.size(), request); !fits) {
    return MakeUnexpected(fits.error());
  }
  return prompt;
}

Expected<Ok, ChatError> ChatCompleter::CheckPromptFits(size_t prompt_tokens,
                                                       const ChatRequest& request) const {
  const int64_t limit = request.generate.context_limit > 0
                            ? request.generate.context_limit
                            : model_.config().max_position_embeddings;
  if (static_cast<int64_t>(prompt_tokens) >= limit) {
    return MakeUnexpected(ChatError{
        ChatError::Kind::kContextOverflow,
        "the prompt is " + std::to_string(prompt_tokens) + " tokens but the context limit is " +
            std::to_string(limit) + " (prompt and completion together)"});
  }
  return Ok{};
}

Expected<ChatResult, ChatError> ChatCompleter::Complete(const ChatRequest& request,
                                                        const ChatSink& sink) {
  auto prompt = PromptTokens(request);
  if (!prompt) return MakeUnexpected(prompt.error());
  return Complete(request, *prompt, sink);
}

Expected<ChatResult, ChatError> ChatCompleter::Complete(const ChatRequest& request,
                                                        const std::vector<int32_t>& prompt,
                                                        const ChatSink& sink,
                                                        const PromptHook& on_prompt) {
  if (prompt.empty())
    return MakeUnexpected(ChatError{ChatError::Kind::kBadRequest, "empty prompt"});

  std::unique_ptr<ModelSequence> sequence;
  int64_t hit = 0;
  if (cache_ != nullptr) {
    if (auto found = cache_->LongestPrefix(prompt, static_cast<int64_t>(prompt.size()) - 1)) {
      // A state that does not fit the model is a miss (the prompt is computed anew).
      if (auto restored = model_.SequenceFrom(std::move(found->state)); restored) {
        sequence = std::move(*restored);
        hit = found->tokens;
      }
    }
  }
  if (hit == 0) sequence = model_.NewSequence();
  ModelSequence& seq = *sequence;
  // Offers the sequence's state after `tokens` to the cache (a state that cannot be read back
  // from where the model keeps it is not stored: the cache is only a shortcut).
  const auto store = [&](std::span<const int32_t> tokens) {
    if (auto host = seq.HostState(); host) cache_->Store(tokens, **host);
  };
  if (on_prompt) {
    on_prompt({.prompt_tokens = static_cast<int64_t>(prompt.size()),
               .prompt_cache_hit_tokens = hit,
               .prompt_cache_miss_tokens = static_cast<int64_t>(prompt.size()) - hit});
  }
  // Cache points, each stored as soon as the prefill passes it: the start of the last user turn
  // (a client's next request may rewrite that turn, as Claude Code's continuation after a
  // max_tokens cut does, yet still share everything before it) and, for a store that keeps only
  // aligned states, the prompt's last aligned position. Chunked prefill gives the same bits.
  int64_t fed = hit;
  // With speculative decoding the MTP state is fed beside the main one and brought level at each
  // cache point (the next prompt token is known), so the stored states can be continued
  // speculatively; a state whose MTP part lags (stored without speculation) decodes plainly.
  GenerateOptions options = request.generate;
  if (options.batcher == nullptr) options.batcher = batcher_;
  if (options.speculative == Speculative::kOff && options.drafts == nullptr) {
    options.speculative = speculation_.mode;
    options.speculative_acceptance = speculation_.acceptance;
  }
  std::optional<MtpDrafter> drafter;
  if (options.speculative == Speculative::kMtp && options.drafts == nullptr &&
      MtpDrafter::CanDraft(model_, seq)) {
    drafter.emplace(model_, seq);
  }
  if (cache_ != nullptr) {
    const int64_t align = std::max<int64_t>(1, cache_->alignment_tokens());
    const int32_t user = tokenizer_.TokenId(tokens::kUser);
    const auto last_user = std::find(prompt.rbegin(), prompt.rend(), user);
    const int64_t turn =
        last_user == prompt.rend() ? 0 : static_cast<int64_t>(prompt.rend() - last_user) - 1;
    const int64_t last = static_cast<int64_t>(prompt.size()) - 1;
    std::vector<int64_t> points = {turn / align * align};
    if (align > 1) points.push_back(last / align * align);
    for (const int64_t point : points) {
      if (point <= fed || point >= last) continue;
      const std::span<const int32_t> head(prompt.data(), static_cast<size_t>(point));
      auto done = PrefillInChunks(model_, seq, head.subspan(static_cast<size_t>(fed)),
                                  request.generate.cancel, request.generate.on_prefill_chunk,
                                  drafter ? &*drafter : nullptr);
      if (!done) return MakeUnexpected(ChatError{ChatError::Kind::kInternal, done.error()});
      if (drafter && *done) {
        if (auto caught = drafter->CatchUp(prompt[static_cast<size_t>(point)]); !caught) {
          return MakeUnexpected(ChatError{ChatError::Kind::kInternal, caught.error()});
        }
      }
      if (!*done) {  // cancelled part-way: nothing to generate
        // Keep what was computed (whole chunks from an aligned start: aligned too), so a client
        // that gave up on a long prefill and retries continues from here instead of anew.
        if (seq.pos() > fed && seq.pos() % align == 0) {
          // (Failing, it leaves the MTP part behind: a later hit then decodes plainly.)
          if (drafter) (void)drafter->CatchUp(prompt[static_cast<size_t>(seq.pos())]);
          store(head.first(static_cast<size_t>(seq.pos())));
        }
        ChatResult cancelled;
        cancelled.cancelled = true;
        cancelled.finish_reason = "length";
        cancelled.generation.finish = FinishReason::kCancelled;
        cancelled.usage.prompt_tokens = static_cast<int64_t>(prompt.size());
        cancelled.usage.prompt_cache_hit_tokens = hit;
        cancelled.usage.prompt_cache_miss_tokens = cancelled.usage.prompt_tokens - hit;
        return cancelled;
      }
      store(head);
      fed = point;
    }
  }

  ChatResult result;
  StreamingCompletionParser parser(request.thinking);
  const int32_t end_think = tokenizer_.TokenId(tokens::kEndThink);
  const int32_t eos = static_cast<int32_t>(model_.config().eos_token_id);
  bool reasoning_done = !request.thinking;
  std::string streamed_reasoning, streamed_content;
  bool streamed_tool_calls = false;
  if (!request.parallel_tool_calls) parser.LimitToolCalls(1);
  Generator generator(model_, &tokenizer_);
  auto grammar = ToolChoiceGrammar(request);
  if (!grammar) return MakeUnexpected(ChatError{ChatError::Kind::kBadRequest, grammar.error()});
  const bool call_required = *grammar && (*grammar)->mode == DsmlGrammarSpec::Mode::kToolCall;
  std::optional<ChatOutputConstraint> constraint;
  if (*grammar || (request.thinking && request.thinking_budget > 0)) {
    constraint.emplace(TokenTable(),
                       ChatConstraintOptions{.grammar = *grammar ? &**grammar : nullptr,
                                             .thinking = request.thinking,
                                             .thinking_budget = request.thinking_budget,
                                             .eos = eos,
                                             .end_think = end_think});
    options.constraint = &*constraint;
  }
  // A required call ends where its grammar does: EOS stays a stop token, and stop strings
  // (which could cut a tool call in half) do not apply.
  if (call_required) options.stop.clear();
  const bool eos_stops = !request.ignore_eos || call_required;
  if (!eos_stops) {
    std::erase(options.stop_token_ids, eos);
  } else if (std::find(options.stop_token_ids.begin(), options.stop_token_ids.end(), eos) ==
             options.stop_token_ids.end()) {
    options.stop_token_ids.push_back(eos);
  }
  const auto on_token = [&](int32_t token, std::string_view text) {
    if (token >= 0 && !reasoning_done) {
      result.usage.reasoning_tokens += 1;
      if (token == end_think) reasoning_done = true;
    }
    // The EOS's text matters to the parser (it ends the content); it is not in `text`.
    const std::string chunk =
        token == eos && eos_stops ? std::string(text) + tokens::kEos : std::string(text);
    const auto delta = parser.Feed(chunk);
    streamed_reasoning += delta.reasoning;
    streamed_content += delta.content;
    streamed_tool_calls = streamed_tool_calls || !delta.tool_calls.empty();
    if (sink && !delta.empty()) return sink(delta);
    return true;
  };
  const std::span<const int32_t> all(prompt);
  const auto on_prefill = [&](ModelSequence& s) {
    if (cache_ != nullptr && s.pos() > fed) store(all.first(static_cast<size_t>(s.pos())));
  };
  auto generated =
      generator.Generate(seq, all.subspan(static_cast<size_t>(fed)), options, on_token, on_prefill);
  if (!generated) return MakeUnexpected(ChatError{ChatError::Kind::kInternal, generated.error()});
  result.generation = std::move(*generated);
  const GenerateResult& g = result.generation;

  // Cancelled while prefilling: keep the part computed (see the aligned case above).
  if (cache_ != nullptr && g.tokens.empty() && g.finish == FinishReason::kCancelled &&
      seq.pos() > fed && seq.pos() % std::max<int64_t>(1, cache_->alignment_tokens()) == 0) {
    store(all.first(static_cast<size_t>(seq.pos())));
  }
  if (cache_ != nullptr && g.tokens.size() > 1) {
    std::vector<int32_t> processed = prompt;
    processed.insert(processed.end(), g.tokens.begin(), g.tokens.end() - 1);
    store(processed);
  }

  result.usage.prompt_tokens = static_cast<int64_t>(prompt.size());
  result.usage.prompt_cache_hit_tokens = hit;
  result.usage.prompt_cache_miss_tokens = result.usage.prompt_tokens - hit;
  result.usage.completion_tokens = static_cast<int64_t>(g.tokens.size());
  result.usage.speculative_drafted = g.drafted;
  result.usage.speculative_accepted = g.accepted;
  result.cancelled = g.finish == FinishReason::kCancelled;

  const std::string full =
      g.finish == FinishReason::kStopToken && !g.tokens.empty() && g.tokens.back() == eos
          ? g.text + tokens::kEos
          : g.text;
  if (auto parsed = parser.Finish(); parsed) {
    result.message = std::move(*parsed);
  } else {
    result.parse_error = parsed.error();
    result.message = RawSplit(full, request.thinking);
  }
  if (call_required && result.message.tool_calls.empty()) {
    // Cut before the block was complete: what there is of it is not an answer.
    result.tool_call_incomplete = true;
    result.message.content.clear();
  }
  if (!request.parallel_tool_calls && result.message.tool_calls.size() > 1) {
    result.message.tool_calls.resize(1);
  }
  // Text the streaming parser held back (a cut-off marker prefix) or that only the final parse
  // settled: send what the stream has not shown yet, when it extends what was shown.
  if (sink && !result.cancelled) {
    StreamingCompletionParser::Delta rest;
    const auto tail = [](const std::string& whole, const std::string& shown, std::string* out) {
      if (whole.size() > shown.size() && whole.compare(0, shown.size(), shown) == 0) {
        *out = whole.substr(shown.size());
      }
    };
    tail(result.message.reasoning, streamed_reasoning, &rest.reasoning);
    // Not when part of a tool call went out: a block that then failed to parse is not content.
    if (!streamed_tool_calls) tail(result.message.content, streamed_content, &rest.content);
    if (!rest.reasoning.empty() || !rest.content.empty()) sink(rest);
  }
  if (!result.message.tool_calls.empty()) {
    result.finish_reason = "tool_calls";
  } else if (g.finish == FinishReason::kLength) {
    result.finish_reason = "length";
  } else {
    result.finish_reason = "stop";
  }
  return result;
}

}  // namespace dsagent::engine
