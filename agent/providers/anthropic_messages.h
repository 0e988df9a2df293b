// The Anthropic Messages wire format as DeepSeek serves it at {base_url}/anthropic/v1/messages
// (provider kind "deepseek-anthropic").
#pragma once

#include <mutex>
#include <string>

#include "agent/providers/encoded_prefix.h"
#include "agent/providers/wire_format.h"
#include "common/json.h"

namespace dsagent {

// The request body (always streaming). Mapping from the provider-neutral messages:
//  - leading system messages -> top-level `system` string (several are joined with a blank line);
//    a system message later in the conversation becomes a user text block, since Messages has no
//    mid-conversation system role;
//  - user -> {"role":"user","content":[{"type":"text",...}]};
//  - assistant -> content blocks: `thinking` (text = the stored reasoning, "signature": ""), then
//    `text` (when non-empty), then `tool_use` {id, name, input = the parsed argument JSON}. The
//    thinking block is present on turns with tool calls (and on every assistant turn with
//    `reasoning_on_every_assistant`), mirroring DeepSeek's reasoning_content rule; an argument
//    string that is not a JSON object is wrapped as {"value": ...} ({} if unparseable);
//  - consecutive tool results -> one user message of `tool_result` blocks {tool_use_id, content}.
// Also: tools [{name, description, input_schema}], thinking {"type": enabled|disabled},
// output_config {"effort"} only with thinking on, metadata {"user_id"} when set.
Json BuildAnthropicMessagesBody(const Request& request, bool reasoning_on_every_assistant);

// The incremental form of BuildAnthropicMessagesBody (encoded_prefix.h). Every wire message is
// final once written except a trailing run of tool results, which the next tool result joins; so
// the cache holds everything before that run, and the run is encoded again on each call.
struct AnthropicEncoding {
  EncodedPrefix encoded;
  std::string system;        // the leading system messages, joined
  bool has_system = false;   // there was at least one leading system message
  bool past_system = false;  // a non-system message was seen: later system messages are user text

  // Brings the cache up to `messages`; `open_element` receives the trailing tool-result message
  // (empty when the list does not end with tool results).
  void Encode(const MessageList& messages, bool reasoning_on_every_assistant,
              std::string* open_element);
  // The body's fields other than the messages, for `request` (the system text included).
  Json Fields(const Request& request) const;
  // The body for `request`, whose messages were just passed to Encode.
  WireBody Body(const Request& request, const std::string& open_element) const;
};

// POST {base_url}/anthropic/v1/messages with x-api-key and anthropic-version: 2023-06-01.
// BuildBody is incremental (AnthropicEncoding). Thread-safe.
class AnthropicMessagesWire : public WireFormat {
 public:
  std::string Name() const override { return "deepseek-anthropic"; }
  std::string Url(const std::string& base_url) const override;
  std::vector<std::string> Headers(const std::string& api_key) const override;
  WireBody BuildBody(const Request& request, bool reasoning_on_every_assistant) const override;
  std::unique_ptr<StreamDecoder> NewDecoder(StreamSink& sink,
                                            std::string expected_model) const override;

 private:
  mutable std::mutex mu_;
  mutable AnthropicEncoding encoding_;  // guarded by mu_
  mutable EncodedFields fields_;        // guarded by mu_
};

}  // namespace dsagent
