// The OpenAI Chat Completions wire format, in two dialects: DeepSeek's hosted API and generic
// OpenAI-compatible servers (vLLM, SGLang, llama.cpp, `dsagent serve`). The dialects differ only in
// how thinking is switched and whether user_id is sent; everything else is shared.
#pragma once

#include <mutex>
#include <string>

#include "agent/providers/encoded_prefix.h"
#include "agent/providers/wire_format.h"
#include "common/json.h"

namespace dsagent {

struct ChatDialect {
  std::string name;  // provider kind reported by Name()
  // true: DeepSeek's top-level `thinking: {"type": "enabled"|"disabled"}`. false: the vLLM/SGLang
  // convention `chat_template_kwargs: {"thinking": true|false}` (which DeepSeek ignores).
  bool top_level_thinking = true;
  bool send_user_id = true;  // DeepSeek's cache-isolation field; generic servers may reject it
};

ChatDialect DeepSeekDialect();          // "deepseek"
ChatDialect OpenAiCompatibleDialect();  // "openai-compatible"

// The request body (always streaming, with usage in the stream). Rules for assistant messages:
// `reasoning_content` is sent on every message with tool calls (the stored text verbatim, "" when
// the model gave none) and omitted on plain-text turns, unless `reasoning_on_every_assistant`.
// Tool-call ids and argument strings are sent exactly as stored. `reasoning_effort` is sent only
// with thinking on. The `developer` role is never produced (system stays `system`).
Json BuildChatCompletionsBody(const Request& request, const ChatDialect& dialect,
                              bool reasoning_on_every_assistant);

// One element of the body's `messages`: the stored form (MessageToJson) with reasoning_content
// as described above.
Json ChatCompletionsMessage(const Message& message, bool reasoning_on_every_assistant);

// Everything in the body but `messages`.
Json ChatCompletionsFields(const Request& request, const ChatDialect& dialect);

// POST {base_url}/chat/completions with `Authorization: Bearer <key>` when a key is set.
// BuildBody is incremental (encoded_prefix.h): it keeps the serialised messages of the last body
// and serialises only the messages added since. Thread-safe.
class ChatCompletionsWire : public WireFormat {
 public:
  explicit ChatCompletionsWire(ChatDialect dialect) : dialect_(std::move(dialect)) {}
  std::string Name() const override { return dialect_.name; }
  std::string Url(const std::string& base_url) const override;
  std::vector<std::string> Headers(const std::string& api_key) const override;
  WireBody BuildBody(const Request& request, bool reasoning_on_every_assistant) const override;
  std::unique_ptr<StreamDecoder> NewDecoder(StreamSink& sink,
                                            std::string expected_model) const override;

 private:
  ChatDialect dialect_;
  mutable std::mutex mu_;
  mutable EncodedPrefix encoded_;  // guarded by mu_
  mutable EncodedFields fields_;   // guarded by mu_
};

}  // namespace dsagent
