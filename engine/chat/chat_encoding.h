// The DeepSeek-V4 prompt format: OpenAI-style messages -> the prompt string the model reads
// (special tokens included as text; the tokenizer matches them as added tokens). Byte-identical to
// upstream `encoding_dsv4.py` `encode_messages` (see ../shared/reference/v4-chat-format.md and the
// upstream vectors in ../shared/reference/v4-encoding-tests/).
#pragma once

#include <string>
#include <string_view>

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

// The DSML tool-call markup: what the encoder renders, the parser reads and constrained decoding
// forces (dsml_parser.h, dsml_grammar.h).
namespace dsml {
inline constexpr std::string_view kToolsOpen = "\n\n<｜DSML｜tool_calls>\n";
inline constexpr std::string_view kToolsClose = "</｜DSML｜tool_calls>";
inline constexpr std::string_view kInvokeOpen = "<｜DSML｜invoke name=\"";
inline constexpr std::string_view kInvokeClose = "</｜DSML｜invoke>";
inline constexpr std::string_view kParamOpen = "<｜DSML｜parameter name=\"";
inline constexpr std::string_view kParamClose = "</｜DSML｜parameter>";
}  // namespace dsml

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
