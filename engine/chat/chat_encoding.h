// The DeepSeek-V4 prompt format: OpenAI-style messages -> the prompt string the model reads
// (special tokens included as text; the tokenizer matches them as added tokens). Byte-identical to
// upstream `encoding_dsv4.py` `encode_messages` (see ../shared/reference/v4-chat-format.md and the
// upstream vectors in ../shared/reference/v4-encoding-tests/).
#pragma once

#include <string>

#include "common/expected.h"
#include "engine/chat/python_json.h"

namespace dsagent::engine {

namespace tokens {
inline constexpr const char* kBos = "<｜begin▁of▁sentence｜>";
inline constexpr const char* kEos = "<｜end▁of▁sentence｜>";
inline constexpr const char* kUser = "<｜User｜>";
inline constexpr const char* kAssistant = "<｜Assistant｜>";
inline constexpr const char* kThink = "<think>";
inline constexpr const char* kEndThink = "</think>";
inline constexpr const char* kLatestReminder = "<｜latest_reminder｜>";
inline constexpr const char* kDsml = "｜DSML｜";
}  // namespace tokens

struct ChatEncodeOptions {
  bool thinking = true;       // "thinking" mode (else "chat")
  bool drop_thinking = true;  // drop reasoning of turns before the last user message
  bool add_bos = true;
  std::string reasoning_effort;  // "", "high" or "max" ("max" adds the effort preamble)
};

// Renders `messages` (a JSON array of {role, content, reasoning_content?, tool_calls?,
// tool_call_id?, tools?, task?, wo_eos?}). Roles: system, user, assistant, tool, developer,
// latest_reminder. Error: a message naming the index and the problem (unknown role, a tool result
// with no preceding tool call, malformed tool-call arguments are wrapped, not errors).
Expected<std::string, std::string> EncodeMessages(const OrderedJson& messages,
                                                  const ChatEncodeOptions& options);

// The "## Tools" block for OpenAI-format tools ([{type:function, function:{...}}]).
std::string RenderToolsBlock(const OrderedJson& tools);

}  // namespace dsagent::engine
