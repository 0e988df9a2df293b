// Turning what a server said into actionable ProviderError text, without ever leaking the key.
#pragma once

#include <string>
#include <string_view>

namespace dsagent {

// The human-readable part of an error body: `error.message` of an OpenAI-style
// ({"error":{"message":...}}) or Anthropic-style ({"type":"error","error":{...}}) body, else the
// body itself, sanitised to UTF-8, on one line and cut to 500 bytes. "" for an empty body.
std::string ServerErrorMessage(std::string_view body);

// The `error.code` string of an OpenAI-style error body, or "" (none, or not JSON).
std::string ServerErrorCode(std::string_view body);

// `text` with every occurrence of `secret` replaced by "****" (no-op for an empty secret).
std::string RedactSecret(std::string text, const std::string& secret);

// True for DeepSeek's 400 about assistant history lacking reasoning_content — both the V4 text
// ("The `reasoning_content` in the thinking mode must be passed back to the API.") and the
// V3.2-era one ("Missing `reasoning_content` field in the assistant message at message index N").
bool AsksForReasoningContent(int http_status, std::string_view server_message);

}  // namespace dsagent
