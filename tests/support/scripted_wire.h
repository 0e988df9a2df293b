// How the test server writes a scripted reply in each wire format: SSE pieces for streams,
// complete bodies otherwise, error bodies, and the reply as a client would replay it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent/providers/message.h"
#include "agent/providers/provider.h"

namespace dsagent::testing {

enum class WireKind { kChatCompletions, kAnthropic };

// One reply with every default resolved.
struct ReplyPlan {
  std::string id;  // chatcmpl-... / msg_...
  std::string model;
  std::string content;
  std::string reasoning;
  std::vector<dsagent::ToolCall> tool_calls;
  std::string finish_reason;  // Chat Completions naming: stop, tool_calls, length
  dsagent::Usage usage;
  bool send_usage = true;
  int keep_alives = 1;
};

// `s` split into 2+ non-empty pieces at UTF-8 boundaries (one piece if it is shorter than 2 bytes).
std::vector<std::string> Fragments(const std::string& s);

// The SSE body of a complete streamed reply, as the pieces to write one after another.
std::vector<std::string> StreamPieces(WireKind wire, const ReplyPlan& plan);
// The SSE pieces of a stream that breaks off after streaming `plan.content` (no final event).
std::vector<std::string> CutStreamPieces(WireKind wire, const ReplyPlan& plan);
// The non-streaming response body (chat.completion / message).
nlohmann::json CompleteBody(WireKind wire, const ReplyPlan& plan);
// The reply as the next request's history should carry it (DeepSeek's rule: reasoning only on
// tool-call turns) — what the prefix cache persists.
nlohmann::json ReplayedAssistantMessage(WireKind wire, const ReplyPlan& plan);
// An error body: {"error":{"message","type","param","code"}} or Anthropic's
// {"type":"error","error":{"type","message"}}. `type` defaults from the status when empty.
nlohmann::json ErrorBody(WireKind wire, int status, const std::string& message,
                         std::string type = "");

}  // namespace dsagent::testing
