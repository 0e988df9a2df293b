// The conversation as the agent keeps it: one provider-neutral message type in OpenAI Chat shape.
// Assistant messages hold exactly what the model returned (content, reasoning, tool-call ids and
// argument strings) so that replaying them is byte-identical — required by DeepSeek for
// `reasoning_content` on tool-call turns and by the prefix cache for everything.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"

namespace dsagent {

struct ToolCall {
  std::string id;         // as issued by the model, e.g. "call_0"
  std::string name;       // function name
  std::string arguments;  // the JSON text exactly as received (not re-serialised)

  bool operator==(const ToolCall&) const = default;
};

enum class Role { kSystem, kUser, kAssistant, kTool };

struct Message {
  Role role = Role::kUser;
  std::string content;
  // Assistant only: chain-of-thought text (`reasoning_content`). has_reasoning distinguishes "the
  // model sent an empty string" from "the field was absent"; both replay faithfully.
  std::string reasoning;
  bool has_reasoning = false;
  std::vector<ToolCall> tool_calls;  // assistant only
  std::string tool_call_id;          // tool only: the call this result answers

  bool operator==(const Message&) const = default;
};

const char* RoleName(Role role);  // "system", "user", "assistant", "tool"

// The canonical JSON form of a message (OpenAI Chat shape, `reasoning_content` included when
// present). This is what the session trace stores and what resume reads back.
Json MessageToJson(const Message& m);
// Inverse of MessageToJson. Throws nlohmann::json::exception on a malformed object.
Message MessageFromJson(const Json& j);

Message SystemMessage(std::string content);
Message UserMessage(std::string content);
Message ToolResultMessage(std::string tool_call_id, std::string content);

}  // namespace dsagent
