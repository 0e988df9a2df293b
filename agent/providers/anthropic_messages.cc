#include "agent/providers/anthropic_messages.h"

#include "agent/providers/anthropic_stream.h"

namespace dsagent {
namespace {

Json TextBlock(const std::string& text) { return {{"type", "text"}, {"text", text}}; }

Json ToolInput(const std::string& arguments) {
  Json parsed = Json::parse(arguments, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Json::object();
  if (!parsed.is_object()) return {{"value", parsed}};
  return parsed;
}

Json AssistantMessage(const Message& m, bool reasoning_on_every_assistant) {
  Json blocks = Json::array();
  if (!m.tool_calls.empty() || reasoning_on_every_assistant) {
    blocks.push_back({{"type", "thinking"},
                      {"thinking", m.has_reasoning ? m.reasoning : std::string()},
                      {"signature", ""}});
  }
  if (!m.content.empty()) blocks.push_back(TextBlock(m.content));
  for (const auto& c : m.tool_calls) {
    blocks.push_back(
        {{"type", "tool_use"}, {"id", c.id}, {"name", c.name}, {"input", ToolInput(c.arguments)}});
  }
  if (blocks.empty()) blocks.push_back(TextBlock(""));
  return {{"role", "assistant"}, {"content", std::move(blocks)}};
}

}  // namespace

Json BuildAnthropicMessagesBody(const Request& request, bool reasoning_on_every_assistant) {
  Json body = {{"model", request.lane.model},
               {"max_tokens", request.max_output_tokens},
               {"stream", true},
               {"thinking", {{"type", request.lane.thinking ? "enabled" : "disabled"}}}};
  if (request.lane.thinking && !request.lane.effort.empty()) {
    body["output_config"] = {{"effort", request.lane.effort}};
  }
  if (!request.user_id.empty()) body["metadata"] = {{"user_id", request.user_id}};

  size_t i = 0;
  std::string system;
  for (; i < request.messages.size() && request.messages[i].role == Role::kSystem; ++i) {
    if (!system.empty()) system += "\n\n";
    system += request.messages[i].content;
  }
  if (i > 0) body["system"] = system;

  Json messages = Json::array();
  bool last_is_tool_results = false;
  for (; i < request.messages.size(); ++i) {
    const Message& m = request.messages[i];
    if (m.role == Role::kTool) {
      Json block = {
          {"type", "tool_result"}, {"tool_use_id", m.tool_call_id}, {"content", m.content}};
      if (last_is_tool_results) {
        messages.back()["content"].push_back(std::move(block));
      } else {
        messages.push_back({{"role", "user"}, {"content", Json::array({std::move(block)})}});
      }
      last_is_tool_results = true;
      continue;
    }
    last_is_tool_results = false;
    if (m.role == Role::kAssistant) {
      messages.push_back(AssistantMessage(m, reasoning_on_every_assistant));
    } else {  // user, or a system message after the first non-system one
      messages.push_back({{"role", "user"}, {"content", Json::array({TextBlock(m.content)})}});
    }
  }
  body["messages"] = std::move(messages);

  if (!request.tools.empty()) {
    Json tools = Json::array();
    for (const auto& t : request.tools) {
      tools.push_back({{"name", t.name},
                       {"description", t.description},
                       {"input_schema", ParametersSchema(t)}});
    }
    body["tools"] = std::move(tools);
  }
  return body;
}

std::string AnthropicMessagesWire::Url(const std::string& base_url) const {
  return base_url + "/anthropic/v1/messages";
}

std::vector<std::string> AnthropicMessagesWire::Headers(const std::string& api_key) const {
  std::vector<std::string> h = {"content-type: application/json", "anthropic-version: 2023-06-01",
                                "accept: text/event-stream"};
  if (!api_key.empty()) h.push_back("x-api-key: " + api_key);
  return h;
}

std::string AnthropicMessagesWire::BuildBody(const Request& request,
                                             bool reasoning_on_every_assistant) const {
  return CanonicalJson(BuildAnthropicMessagesBody(request, reasoning_on_every_assistant));
}

std::unique_ptr<StreamDecoder> AnthropicMessagesWire::NewDecoder(StreamSink& sink,
                                                                 std::string expected_model) const {
  return std::make_unique<AnthropicStreamDecoder>(sink, std::move(expected_model));
}

}  // namespace dsagent
