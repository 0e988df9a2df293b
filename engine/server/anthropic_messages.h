// The Anthropic Messages API (POST /v1/messages, /v1/messages/count_tokens) as a WireFormat, so
// Claude Code (ANTHROPIC_BASE_URL) and the Anthropic SDKs run on the local engine.
//
// Request -> engine: `system` (a string or text blocks) becomes the system message; user text
// blocks join with "\n\n"; tool_result blocks become tool messages (their text content, in
// order); assistant text / thinking / tool_use blocks become content, reasoning_content and
// tool_calls (input serialised as JSON arguments); `tools` [{name, description, input_schema}]
// become function tools; `tool_choice` none drops them (and keeps DSML out of the reply), any /
// tool {name} constrain the reply to a tool call (ChatRequest::tool_choice), and
// disable_parallel_tool_use allows one call. `thinking: {type: enabled | adaptive}` turns V4's
// thinking mode on; with `enabled`, budget_tokens is required, >= 1024 and < max_tokens (400
// otherwise, as Anthropic's API does) and closes the think block once used; any / tool with
// thinking on is a 400, as there. Without it the model answers directly, as Anthropic's API does.
// `cache_control` is accepted and ignored: every prompt is cached by prefix on its own. Image and
// document blocks and server tools (web_search, ...) are refused with 400: the engine reads text
// and calls client tools only; in a tool_result they become a one-line note instead (a tool's
// picture must not end a session).
//
// Engine -> response: thinking (with a constant signature, so clients can send it back), text and
// tool_use blocks (ids toolu_<response id>_<n>); stop_reason end_turn, max_tokens, stop_sequence
// or tool_use; usage input_tokens = prompt tokens computed, cache_read_input_tokens = prompt
// tokens served from the prefix cache, cache_creation_input_tokens = 0 (storing a prefix costs
// nothing extra here), output_tokens. Streaming sends message_start (with the cache figures),
// ping, content_block_start / content_block_delta (text_delta, thinking_delta, signature_delta,
// input_json_delta: a tool call's input as it is generated) / content_block_stop, message_delta,
// message_stop; errors are
// {"type":"error","error":{"type","message"}} (as an `error` event once streaming).
#pragma once

#include "engine/server/wire_format.h"

namespace dsagent::engine::server {

// A system text block that starts with this (Claude Code's per-request billing header) is
// dropped: it changes between requests and would otherwise defeat the prefix cache.
inline constexpr const char* kBillingHeaderPrefix = "x-anthropic-billing-header:";

// What thinking blocks carry as `signature`: the engine does not sign its reasoning.
inline constexpr const char* kThinkingSignature = "dsagent-local";

// Anthropic's error type for an HTTP status (400 invalid_request_error, 401
// authentication_error, 404 not_found_error, 413 request_too_large, 503 overloaded_error, ...).
const char* AnthropicErrorType(int status);

class AnthropicMessagesFormat : public WireFormat {
 public:
  const char* name() const override { return "messages"; }
  const char* id_prefix() const override { return "msg_"; }
  Expected<WireRequest, WireError> Parse(const std::string& body,
                                         const RequestDefaults& defaults) const override;
  // Anthropic's envelope, its type from the status (a lost engine's 503: api_error, not
  // overloaded_error) and the server's code as `code` where the type does not say it.
  std::string ErrorBody(const WireError& error) const override;
  std::string Body(const WireRequest& request, const ResponseInfo& info,
                   const ChatResult& result) const override;
  std::unique_ptr<WireStream> Stream(const WireRequest& request,
                                     const ResponseInfo& info) const override;
};

}  // namespace dsagent::engine::server
