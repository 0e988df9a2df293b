// The OpenAI Chat Completions wire format as DeepSeek's API speaks it, for the local server:
// request bodies -> ChatRequest (with every field type-checked), ChatResult -> response bodies,
// streamed deltas -> `chat.completion.chunk` events. No I/O here; chat_server.cc does HTTP.
//
// Thinking follows DeepSeek: on by default; `thinking: {type: enabled|disabled}` (DeepSeek) or
// `chat_template_kwargs: {thinking: bool}` (vLLM/SGLang) switch it; `reasoning_effort` low /
// medium / high -> high, xhigh / max -> max. Unlike the hosted API, sampling parameters are
// honoured in thinking mode too (local runs want determinism).
#pragma once

#include <cstdint>
#include <string>

#include "common/expected.h"
#include "engine/generate/chat_completion.h"

namespace dsagent::engine::server {

struct WireRequest {
  ChatRequest chat;
  std::string model;  // as requested ("" if absent)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

struct WireError {
  int status = 400;
  std::string message;
  std::string code = "invalid_request_error";
  std::string param;  // the offending field, when there is one
};

struct RequestDefaults {
  int64_t max_tokens = 4096;
  int64_t context_limit = 0;  // <= 0: the model's max_position_embeddings
};

// Parses and checks a /v1/chat/completions body. Error (400): malformed JSON, a missing or
// mistyped field (named in `param`), an out-of-range value. Unknown fields are ignored.
Expected<WireRequest, WireError> ParseChatRequest(const std::string& body,
                                                  const RequestDefaults& defaults);

// {"error": {"message", "type", "param", "code"}} as DeepSeek sends it.
std::string ErrorBody(const WireError& error);

// DeepSeek's usage object: prompt_tokens, completion_tokens, total_tokens,
// prompt_tokens_details.cached_tokens, prompt_cache_hit_tokens, prompt_cache_miss_tokens,
// completion_tokens_details.reasoning_tokens.
OrderedJson UsageJson(const ChatUsage& usage);

// The non-streamed `chat.completion` body. Tool call ids are "call_<n>" in order.
std::string CompletionBody(const std::string& id, int64_t created, const std::string& model,
                           const ChatResult& result, bool thinking);

// One SSE event ("data: {chunk}\n\n") of a `chat.completion.chunk` with `delta` and
// `finish_reason` (null when empty); `usage` is null except on the usage-only final chunk.
std::string ChunkEvent(const std::string& id, int64_t created, const std::string& model,
                       const OrderedJson& delta, const std::string& finish_reason);
std::string UsageChunkEvent(const std::string& id, int64_t created, const std::string& model,
                            const ChatUsage& usage);
// The tool_calls delta for the final chunk(s).
OrderedJson ToolCallsDelta(const ChatResult& result);

}  // namespace dsagent::engine::server
