// The OpenAI Chat Completions wire format as DeepSeek's API speaks it, for the local server:
// request bodies -> ChatRequest (with every field type-checked), ChatResult -> response bodies,
// streamed deltas -> `chat.completion.chunk` events. No I/O here; chat_server.cc does HTTP.
// OpenAIChatFormat is the WireFormat (wire_format.h) over these functions.
//
// Thinking follows DeepSeek: on by default; `thinking: {type: enabled|disabled}` (DeepSeek) or
// `chat_template_kwargs: {thinking: bool}` (vLLM/SGLang) switch it; `reasoning_effort` low /
// medium / high -> high, xhigh / max -> max. Unlike the hosted API, sampling parameters are
// honoured in thinking mode too (local runs want determinism). `tool_choice` none / auto /
// required / {type: function, function: {name}} and `parallel_tool_calls` map to
// ChatRequest::tool_choice / parallel_tool_calls (required and named calls are constrained, and
// so is a call the model starts on its own under auto).
// Streamed tool calls go out as they are generated: `delta.tool_calls[i]` with id, type and name
// first, then `function.arguments` fragments.
#pragma once

#include <cstdint>
#include <string>

#include "common/expected.h"
#include "engine/generate/chat_completion.h"
#include "engine/server/wire_format.h"

namespace dsagent::engine::server {

// Parses and checks a /v1/chat/completions body. Error (400): malformed JSON, a missing or
// mistyped field (named in `param`), an out-of-range value. Unknown fields are ignored.
Expected<WireRequest, WireError> ParseChatRequest(const std::string& body,
                                                  const RequestDefaults& defaults);

// The two halves of ParseChatRequest, for a caller that adds the messages one at a time (the
// in-process `local` provider, whose conversation only grows). ParseChatFields: every field of
// the body object but `messages` (chat.messages stays empty). CheckChatMessage: message `index`
// of `messages`, checked and normalised (content parts joined into a string, an absent or null
// tool_calls dropped); errors name messages[index].
Expected<WireRequest, WireError> ParseChatFields(const OrderedJson& body,
                                                 const RequestDefaults& defaults);
Expected<OrderedJson, WireError> CheckChatMessage(const OrderedJson& message, size_t index);

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

class OpenAIChatFormat : public WireFormat {
 public:
  const char* name() const override { return "chat"; }
  const char* id_prefix() const override { return "chatcmpl-"; }
  Expected<WireRequest, WireError> Parse(const std::string& body,
                                         const RequestDefaults& defaults) const override {
    return ParseChatRequest(body, defaults);
  }
  std::string ErrorBody(const WireError& error) const override { return server::ErrorBody(error); }
  std::string Body(const WireRequest& request, const ResponseInfo& info,
                   const ChatResult& result) const override;
  std::unique_ptr<WireStream> Stream(const WireRequest& request,
                                     const ResponseInfo& info) const override;
};

}  // namespace dsagent::engine::server
