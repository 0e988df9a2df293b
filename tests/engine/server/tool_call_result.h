// A finished turn for the wire-format tests: reasoning "think", `content`, one tool call, and
// fixed usage (10 prompt tokens, 7 of them cached; 5 completion tokens, 2 of them reasoning).
#pragma once

#include <string>

#include "engine/generate/chat_completion.h"

namespace dsagent::engine::testing {

inline ChatResult ToolCallResult(const std::string& content, const std::string& tool,
                                 const std::string& arguments) {
  ChatResult r;
  r.message.reasoning = "think";
  r.message.content = content;
  r.message.tool_calls = {{tool, arguments}};
  r.finish_reason = "tool_calls";
  r.usage = {.prompt_tokens = 10,
             .prompt_cache_hit_tokens = 7,
             .prompt_cache_miss_tokens = 3,
             .completion_tokens = 5,
             .reasoning_tokens = 2};
  return r;
}

}  // namespace dsagent::engine::testing
