// ChatCompleter: one chat turn on the local engine, the way DeepSeek's API does it. OpenAI-style
// messages (+ tools) are rendered with the V4 chat encoding, tokenized, continued from the longest
// cached prefix, generated, and parsed back with the DSML parser into reasoning, content and tool
// calls; usage is counted like the API (prompt tokens split into cache hits and misses, reasoning
// tokens among the completion tokens). Shared by `dsagent engine generate --messages`,
// `dsagent serve` and the in-process `local` provider.
//
// Thread-safe: Complete() may run concurrently (each call has its own ModelSequence; the model,
// tokenizer and cache are shared and thread-safe).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/expected.h"
#include "engine/chat/chat_encoding.h"
#include "engine/chat/dsml_parser.h"
#include "engine/generate/chat_constraint.h"
#include "engine/generate/generator.h"
#include "engine/generate/prefix_cache.h"
#include "engine/generate/prompt_token_cache.h"

namespace dsagent::engine {

// Which tool calls the reply may or must make (the APIs' tool_choice).
struct ToolChoice {
  enum class Mode {
    kAuto,      // the model decides; a call it starts is constrained like a required one
    kNone,      // no tool calls: the reply is constrained to text without DSML
    kRequired,  // at least one call to one of `tools`: the reply is a DSML tool-call block
    kNamed,     // a call to `name`
  };
  Mode mode = Mode::kAuto;
  std::string name;  // kNamed
};

struct ChatRequest {
  OrderedJson messages = OrderedJson::array();  // OpenAI-style messages
  OrderedJson tools;                            // OpenAI tools array (null/empty: none)
  ToolChoice tool_choice;
  // false: at most one tool call (the block is constrained to one invoke).
  bool parallel_tool_calls = true;
  // > 0: the think block closes within this many tokens (see chat_constraint.h).
  int64_t thinking_budget = 0;
  bool thinking = true;                         // V4 thinking mode (else chat mode)
  std::string reasoning_effort;                 // "" | "high" | "max"
  GenerateOptions generate;                     // sampling, max_tokens, stop strings, cancel
  // Generate past EOS until max_tokens (the `ignore_eos` extension of vLLM's and llama.cpp's
  // servers: benchmarks and tests that need a reply of a known length). EOS is then plain text.
  bool ignore_eos = false;
};

// Counted like DeepSeek's API: prompt_tokens = cache_hit + cache_miss; reasoning_tokens are the
// completion tokens up to and including </think> (all of them if it never came).
struct ChatUsage {
  int64_t prompt_tokens = 0;
  int64_t prompt_cache_hit_tokens = 0;
  int64_t prompt_cache_miss_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t reasoning_tokens = 0;
  // Speculative decoding (not part of DeepSeek's usage): drafts verified and accepted.
  int64_t speculative_drafted = 0;
  int64_t speculative_accepted = 0;
};

// Speculative decoding for the requests a ChatCompleter answers (`dsagent serve --speculative`,
// the local provider's `speculative` setting). Speculative steps run unbatched: a request that
// speculates does not join the ForwardBatcher (its steps take rows back).
struct SpeculationSettings {
  Speculative mode = Speculative::kOff;
  SpeculativeAcceptance acceptance = SpeculativeAcceptance::kMatch;
};
// From their names ("off" | "mtp", "match" | "standard"). Error: "speculative: 'X' is not off
// or mtp" (or the same for speculative_accept), for a caller to prefix with where it came from.
Expected<SpeculationSettings, std::string> ParseSpeculationSettings(std::string_view mode,
                                                                    std::string_view acceptance);

struct ChatResult {
  ParsedCompletion message;   // reasoning, content, tool calls
  std::string finish_reason;  // "stop", "length", "tool_calls" (OpenAI's names)
  bool cancelled = false;     // stopped by the cancel token or the sink
  ChatUsage usage;
  GenerateResult generation;  // tokens, raw text, timings
  std::string parse_error;    // the DSML parser's complaint; then content holds the raw text
  // A required tool call that did not complete (max_tokens, cancelled): no tool calls and no
  // content; finish_reason says why.
  bool tool_call_incomplete = false;
};

struct ChatError {
  enum class Kind { kBadRequest, kContextOverflow, kInternal, kCancelled };
  Kind kind = Kind::kBadRequest;
  std::string message;
};

// Streamed text of the reply as it becomes certain (never a partial marker or UTF-8 char), and
// the tool calls piece by piece as their arguments are generated (StreamingCompletionParser).
using ChatSink = std::function<bool(const StreamingCompletionParser::Delta& delta)>;
// Called once the prompt's cache lookup is done, before any prefill, with the prompt's usage
// (prompt_tokens, prompt_cache_hit_tokens, prompt_cache_miss_tokens): lets a server announce the
// response with its cache figures (Anthropic's message_start) before the first token.
using PromptHook = std::function<void(const ChatUsage& prompt)>;

// The prompt text: `tools` are attached to the first system message (one is inserted at the
// front when there is none), then EncodeMessages. Error: what EncodeMessages reports.
Expected<std::string, std::string> RenderChatPrompt(const ChatRequest& request);

class ChatCompleter {
 public:
  // `cache` may be null (every prompt token is a miss). `batcher` (may be null) batches the
  // decode steps of concurrent Complete() calls (forward_batcher.h); a request's own
  // generate.batcher wins. `speculation` applies to requests whose generate.speculative is kOff
  // (and that bring no drafts of their own); the caller checks that the model has an MTP block
  // (EngineRuntime::Open does), else such requests decode plainly and say why
  // (GenerateResult::speculative_off).
  // `model` (sequence_model.h: the CPU's or a device's), `tokenizer`, `cache` and `batcher` must
  // outlive the completer.
  ChatCompleter(SequenceModel& model, const BpeTokenizer& tokenizer, PrefixCache* cache,
                ForwardBatcher* batcher = nullptr, SpeculationSettings speculation = {})
      : model_(model),
        tokenizer_(tokenizer),
        cache_(cache),
        batcher_(batcher),
        speculation_(speculation) {}

  // Renders and tokenizes the prompt. Error: kBadRequest (messages the encoder rejects, a
  // tool_choice the tools cannot satisfy), kContextOverflow (the prompt leaves no room for a
  // completion token) or kCancelled (request.generate.cancel fired while tokenizing).
  Expected<std::vector<int32_t>, ChatError> PromptTokens(const ChatRequest& request) const;
  // Error kContextOverflow when a prompt of `prompt_tokens` leaves no room for a completion token
  // under request.generate.context_limit (<= 0: the model's max_position_embeddings). For a
  // caller that tokenized the prompt itself (ConversationPrompt).
  Expected<Ok, ChatError> CheckPromptFits(size_t prompt_tokens, const ChatRequest& request) const;

  // PromptTokens, then generation. Errors: as PromptTokens, or kInternal from the forward pass.
  Expected<ChatResult, ChatError> Complete(const ChatRequest& request, const ChatSink& sink = {});
  // Generation for a prompt PromptTokens(request) returned (lets a server answer 4xx before it
  // commits to a streamed 200).
  Expected<ChatResult, ChatError> Complete(const ChatRequest& request,
                                           const std::vector<int32_t>& prompt, const ChatSink& sink,
                                           const PromptHook& on_prompt = {});

  const BpeTokenizer& tokenizer() const { return tokenizer_; }
  SequenceModel& model() { return model_; }

 private:
  const TokenBytesTable& TokenTable() const;  // built on first use

  SequenceModel& model_;
  const BpeTokenizer& tokenizer_;
  PrefixCache* cache_;
  ForwardBatcher* batcher_;
  SpeculationSettings speculation_;
  // The next turn of a conversation tokenizes only its new part.
  mutable PromptTokenCache prompt_tokens_;
  mutable std::once_flag table_once_;
  mutable std::unique_ptr<TokenBytesTable> table_;
};

// The grammar a request's tool_choice needs (none for auto without tools). Error: a named tool
// that is not among the tools, a required call without tools, a tool name DSML cannot carry.
Expected<std::optional<DsmlGrammarSpec>, std::string> ToolChoiceGrammar(const ChatRequest& request);

}  // namespace dsagent::engine
