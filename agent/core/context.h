// Context: what every request carries, in cache-friendly order — the static system prompt, the tool
// schemas (sorted, fixed for the session), then the append-only message log. Nothing is ever
// edited in place, so request N is a byte prefix of request N+1 up to its new tail.
#pragma once

#include <string>
#include <vector>

#include "agent/providers/provider.h"

namespace dsagent {

class Context {
 public:
  // `tools` are sorted by name here, whatever order they arrive in.
  Context(std::string system_prompt, std::vector<ToolSpec> tools);

  // Appends to the log. The system message is implicit; do not append one.
  void Append(Message message);

  const std::string& system_prompt() const { return system_prompt_; }
  const std::vector<ToolSpec>& tools() const { return tools_; }
  // The log without the system message.
  const std::vector<Message>& log() const { return log_; }

  // The request for the next model call: system message, then the log.
  Request BuildRequest(const Lane& lane, int64_t max_output_tokens,
                       const std::string& user_id) const;

  // SHA-256 of the canonical system prompt + tool schemas: identifies the static prefix.
  std::string PrefixHash() const;

  // Assistant tool calls at the end of the log that have no tool result yet (e.g. a session killed
  // mid-step). Resume must answer them before the next model call.
  std::vector<ToolCall> UnansweredToolCalls() const;

 private:
  std::string system_prompt_;
  std::vector<ToolSpec> tools_;
  std::vector<Message> log_;
};

// The canonical JSON of the tool specs as sent (name, description, parameters), for hashing/traces.
Json ToolSpecsToJson(const std::vector<ToolSpec>& tools);
std::vector<ToolSpec> ToolSpecsFromJson(const Json& j);

}  // namespace dsagent
