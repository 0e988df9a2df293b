#include "tests/support/scripted_wire.h"

#include <ctime>

#include "common/json.h"
#include "common/utf8.h"

namespace dsagent::testing {
namespace {

using nlohmann::json;

std::string Data(const json& j) { return "data: " + dsagent::CanonicalJson(j) + "\n\n"; }

std::string Event(const std::string& name, const json& j) {
  return "event: " + name + "\n" + Data(j);
}

std::vector<std::string> KeepAlives(int n) {
  // DeepSeek sends SSE comments while a request waits for capacity; blank lines come with them.
  std::vector<std::string> pieces;
  for (int i = 0; i < n; ++i) pieces.push_back(": keep-alive\n\n\n");
  return pieces;
}

std::string StopReason(const std::string& finish_reason) {
  if (finish_reason == "tool_calls") return "tool_use";
  if (finish_reason == "length") return "max_tokens";
  return "end_turn";
}

json ParsedInput(const std::string& arguments) {
  json parsed = json::parse(arguments, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return json::object();
  if (!parsed.is_object()) return {{"value", parsed}};
  return parsed;
}

json OpenAiUsage(const dsagent::Usage& u) {
  const int64_t prompt = u.input_cache_hit + u.input_cache_miss;
  return {{"prompt_tokens", prompt},
          {"completion_tokens", u.output},
          {"total_tokens", prompt + u.output},
          {"prompt_tokens_details", {{"cached_tokens", u.input_cache_hit}}},
          {"prompt_cache_hit_tokens", u.input_cache_hit},
          {"prompt_cache_miss_tokens", u.input_cache_miss},
          {"completion_tokens_details", {{"reasoning_tokens", u.reasoning}}}};
}

json AnthropicUsage(const dsagent::Usage& u) {
  return {{"input_tokens", u.input_cache_miss},
          {"cache_read_input_tokens", u.input_cache_hit},
          {"cache_creation_input_tokens", 0},
          {"output_tokens", u.output}};
}

// ---- Chat Completions ----

json Chunk(const ReplyPlan& p, const json& delta, const json& finish_reason = nullptr) {
  return {{"id", p.id},
          {"object", "chat.completion.chunk"},
          {"created", static_cast<int64_t>(std::time(nullptr))},
          {"model", p.model},
          {"system_fingerprint", "fp_dsagent_test"},
          {"choices", json::array({{{"index", 0},
                                    {"delta", delta},
                                    {"finish_reason", finish_reason},
                                    {"logprobs", nullptr}}})},
          {"usage", nullptr}};
}

std::vector<std::string> ChatPieces(const ReplyPlan& p, bool cut) {
  std::vector<std::string> out = KeepAlives(p.keep_alives);
  out.push_back(Data(Chunk(p, {{"role", "assistant"}, {"content", ""}})));
  for (const auto& f : Fragments(p.reasoning)) {
    out.push_back(Data(Chunk(p, {{"content", nullptr}, {"reasoning_content", f}})));
  }
  for (const auto& f : Fragments(p.content)) {
    json delta = {{"content", f}};
    if (!p.reasoning.empty()) delta["reasoning_content"] = nullptr;
    out.push_back(Data(Chunk(p, delta)));
  }
  if (cut) return out;
  for (size_t i = 0; i < p.tool_calls.size(); ++i) {
    const auto& c = p.tool_calls[i];
    out.push_back(Data(Chunk(
        p,
        {{"tool_calls", json::array({{{"index", i},
                                      {"id", c.id},
                                      {"type", "function"},
                                      {"function", {{"name", c.name}, {"arguments", ""}}}}})}})));
    for (const auto& f : Fragments(c.arguments)) {
      out.push_back(Data(Chunk(
          p, {{"tool_calls", json::array({{{"index", i}, {"function", {{"arguments", f}}}}})}})));
    }
  }
  out.push_back(Data(Chunk(p, {{"content", ""}}, p.finish_reason)));
  if (p.send_usage) {
    json usage_chunk = Chunk(p, json::object());
    usage_chunk["choices"] = json::array();
    usage_chunk["usage"] = OpenAiUsage(p.usage);
    out.push_back(Data(usage_chunk));
  }
  out.push_back("data: [DONE]\n\n");
  return out;
}

// ---- Anthropic Messages ----

std::vector<std::string> AnthropicPieces(const ReplyPlan& p, bool cut) {
  std::vector<std::string> out = KeepAlives(p.keep_alives);
  json start_usage = AnthropicUsage(p.usage);
  start_usage["output_tokens"] = 1;
  json message = {{"id", p.id},
                  {"type", "message"},
                  {"role", "assistant"},
                  {"model", p.model},
                  {"content", json::array()},
                  {"stop_reason", nullptr},
                  {"stop_sequence", nullptr}};
  if (p.send_usage) message["usage"] = start_usage;
  out.push_back(Event("message_start", {{"type", "message_start"}, {"message", message}}));
  out.push_back(Event("ping", {{"type", "ping"}}));
  int index = 0;
  auto block = [&](const json& start, const std::string& delta_type, const std::string& field,
                   const std::string& text, bool stop) {
    out.push_back(
        Event("content_block_start",
              {{"type", "content_block_start"}, {"index", index}, {"content_block", start}}));
    for (const auto& f : Fragments(text)) {
      out.push_back(Event("content_block_delta", {{"type", "content_block_delta"},
                                                  {"index", index},
                                                  {"delta", {{"type", delta_type}, {field, f}}}}));
    }
    if (stop) {
      out.push_back(
          Event("content_block_stop", {{"type", "content_block_stop"}, {"index", index}}));
    }
    ++index;
  };
  if (!p.reasoning.empty()) {
    block({{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}, "thinking_delta", "thinking",
          p.reasoning, true);
  }
  if (cut) {
    block({{"type", "text"}, {"text", ""}}, "text_delta", "text", p.content, false);
    return out;
  }
  if (!p.content.empty()) {
    block({{"type", "text"}, {"text", ""}}, "text_delta", "text", p.content, true);
  }
  for (const auto& c : p.tool_calls) {
    block({{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", json::object()}},
          "input_json_delta", "partial_json", c.arguments, true);
  }
  json message_delta = {
      {"type", "message_delta"},
      {"delta", {{"stop_reason", StopReason(p.finish_reason)}, {"stop_sequence", nullptr}}}};
  if (p.send_usage) message_delta["usage"] = {{"output_tokens", p.usage.output}};
  out.push_back(Event("message_delta", message_delta));
  out.push_back(Event("message_stop", {{"type", "message_stop"}}));
  return out;
}

json AnthropicBlocks(const ReplyPlan& p, bool reasoning_only_with_tools) {
  json blocks = json::array();
  const bool thinking = reasoning_only_with_tools ? !p.tool_calls.empty() : !p.reasoning.empty();
  if (thinking) {
    blocks.push_back({{"type", "thinking"}, {"thinking", p.reasoning}, {"signature", ""}});
  }
  if (!p.content.empty()) blocks.push_back({{"type", "text"}, {"text", p.content}});
  for (const auto& c : p.tool_calls) {
    blocks.push_back({{"type", "tool_use"},
                      {"id", c.id},
                      {"name", c.name},
                      {"input", ParsedInput(c.arguments)}});
  }
  if (blocks.empty()) blocks.push_back({{"type", "text"}, {"text", ""}});
  return blocks;
}

json ChatToolCalls(const ReplyPlan& p) {
  json calls = json::array();
  for (const auto& c : p.tool_calls) {
    calls.push_back({{"id", c.id},
                     {"type", "function"},
                     {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  }
  return calls;
}

}  // namespace

std::vector<std::string> Fragments(const std::string& s) {
  if (s.size() < 2) return s.empty() ? std::vector<std::string>{} : std::vector<std::string>{s};
  size_t cut = dsagent::Utf8SafePrefixLength(s, s.size() / 2);
  if (cut == 0) cut = dsagent::Utf8SafePrefixLength(s, s.size() - 1);
  if (cut == 0 || cut == s.size()) return {s};
  return {s.substr(0, cut), s.substr(cut)};
}

std::vector<std::string> StreamPieces(WireKind wire, const ReplyPlan& plan) {
  return wire == WireKind::kChatCompletions ? ChatPieces(plan, false)
                                            : AnthropicPieces(plan, false);
}

std::vector<std::string> CutStreamPieces(WireKind wire, const ReplyPlan& plan) {
  return wire == WireKind::kChatCompletions ? ChatPieces(plan, true) : AnthropicPieces(plan, true);
}

json CompleteBody(WireKind wire, const ReplyPlan& p) {
  if (wire == WireKind::kAnthropic) {
    return {{"id", p.id},
            {"type", "message"},
            {"role", "assistant"},
            {"model", p.model},
            {"content", AnthropicBlocks(p, /*reasoning_only_with_tools=*/false)},
            {"stop_reason", StopReason(p.finish_reason)},
            {"stop_sequence", nullptr},
            {"usage", AnthropicUsage(p.usage)}};
  }
  json message = {{"role", "assistant"}, {"content", p.content}};
  if (!p.reasoning.empty()) message["reasoning_content"] = p.reasoning;
  if (!p.tool_calls.empty()) message["tool_calls"] = ChatToolCalls(p);
  return {{"id", p.id},
          {"object", "chat.completion"},
          {"created", static_cast<int64_t>(std::time(nullptr))},
          {"model", p.model},
          {"system_fingerprint", "fp_dsagent_test"},
          {"choices", json::array({{{"index", 0},
                                    {"message", message},
                                    {"finish_reason", p.finish_reason},
                                    {"logprobs", nullptr}}})},
          {"usage", OpenAiUsage(p.usage)}};
}

json ReplayedAssistantMessage(WireKind wire, const ReplyPlan& p) {
  if (wire == WireKind::kAnthropic) {
    return {{"role", "assistant"}, {"content", AnthropicBlocks(p, true)}};
  }
  json m = {{"role", "assistant"}, {"content", p.content}};
  if (!p.tool_calls.empty()) {
    m["reasoning_content"] = p.reasoning;
    m["tool_calls"] = ChatToolCalls(p);
  }
  return m;
}

json ErrorBody(WireKind wire, int status, const std::string& message, std::string type) {
  if (type.empty()) {
    if (status == 401) {
      type = "authentication_error";
    } else if (status == 402) {
      type = "insufficient_balance_error";
    } else if (status == 429) {
      type = "rate_limit_error";
    } else if (status >= 500) {
      type = status == 503 ? "overloaded_error" : "api_error";
    } else {
      type = "invalid_request_error";
    }
  }
  if (wire == WireKind::kAnthropic) {
    return {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
  }
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", type}}}};
}

}  // namespace dsagent::testing
