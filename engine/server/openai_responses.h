// The OpenAI Responses API (POST /v1/responses) as a WireFormat, so Codex CLI (a custom model
// provider with wire_api = "responses") and the OpenAI SDKs' responses.create run on the local
// engine.
//
// Request -> engine: `instructions` and the leading system/developer messages of `input` form the
// system prompt; `input` is a string (one user message) or items: messages (content a string or
// input_text / output_text parts; later developer/system messages are read as user text),
// function_call (an assistant tool call), function_call_output (its result) and reasoning (the
// next assistant message's reasoning: its content, else its encrypted_content, which this server
// fills with the plain reasoning text). Function tools [{type: function, name, description,
// parameters}] are offered to the model; hosted and other tool types (web_search, namespace,
// custom, ...) are dropped, since the model cannot call them here. `tool_choice`: "none" drops
// all tools (and keeps DSML out of the reply); "required" and {type: function, name} constrain
// the reply to a tool call; `parallel_tool_calls: false` allows one. `reasoning.effort`: none ->
// thinking off; minimal / low / medium / high -> V4 high; xhigh -> max; thinking is on by default.
// max_output_tokens, temperature, top_p are honoured. previous_response_id is refused (nothing is
// stored: send the whole conversation).
//
// Engine -> response: output items reasoning (rs_..., content [reasoning_text]), message
// (msg_..., output_text) and function_call (fc_..., call_id call_...); status completed, or
// incomplete with incomplete_details.reason max_output_tokens; usage input_tokens,
// input_tokens_details.cached_tokens (the prefix-cache hit), output_tokens,
// output_tokens_details.reasoning_tokens, total_tokens. Streaming sends response.created,
// response.in_progress, response.output_item.added / .done, response.reasoning_text.delta /
// .done, response.content_part.added / .done, response.output_text.delta / .done,
// response.function_call_arguments.delta (as the arguments are generated) / .done, and
// response.completed (or
// response.incomplete / response.failed), each with a sequence_number. Errors use OpenAI's
// {"error": {...}} envelope.
#pragma once

#include "engine/server/wire_format.h"

namespace dsagent::engine::server {

class OpenAIResponsesFormat : public WireFormat {
 public:
  const char* name() const override { return "responses"; }
  const char* id_prefix() const override { return "resp_"; }
  Expected<WireRequest, WireError> Parse(const std::string& body,
                                         const RequestDefaults& defaults) const override;
  std::string ErrorBody(const WireError& error) const override;
  std::string Body(const WireRequest& request, const ResponseInfo& info,
                   const ChatResult& result) const override;
  std::unique_ptr<WireStream> Stream(const WireRequest& request,
                                     const ResponseInfo& info) const override;
};

}  // namespace dsagent::engine::server
