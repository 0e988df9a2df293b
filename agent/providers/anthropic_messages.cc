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

Json UserTextMessage(const std::string& text) {
  return {{"role", "user"}, {"content", Json::array({TextBlock(text)})}};
}

Json ToolResultBlock(const Message& m) {
  return {{"type", "tool_result"}, {"tool_use_id", m.tool_call_id}, {"content", m.content}};
}

// Everything in the body but `messages` and `system`.
Json AnthropicFields(const Request& request) {
  Json body = {{"model", request.lane.model},
               {"max_tokens", request.max_output_tokens},
               {"stream", true},
               {"thinking", {{"type", request.lane.thinking ? "enabled" : "disabled"}}}};
  if (request.lane.thinking && !request.lane.effort.empty()) {
    body["output_config"] = {{"effort", request.lane.effort}};
  }
  if (!request.user_id.empty()) body["metadata"] = {{"user_id", request.user_id}};
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

}  // namespace

void AnthropicEncoding::Encode(const MessageList& messages, bool reasoning_on_every_assistant,
                               std::string* open_element) {
  if (!encoded.ContinueOrReset(messages.storage_id(), messages.size())) {
    system.clear();
    has_system = false;
    past_system = false;
  }
  size_t i = encoded.messages;
  if (!past_system) {
    for (; i < messages.size() && messages[i].role == Role::kSystem; ++i) {
      if (!system.empty()) system += "\n\n";
      system += messages[i].content;
      has_system = true;
    }
    if (i < messages.size()) past_system = true;
    encoded.messages = i;
  }
  Json tool_results;  // the trailing run of tool results: one user message, still open
  for (; i < messages.size(); ++i) {
    const Message& m = messages[i];
    if (m.role == Role::kTool) {
      if (tool_results.is_null()) tool_results = Json::array();
      tool_results.push_back(ToolResultBlock(m));
      continue;
    }
    if (!tool_results.is_null()) {
      encoded.Append(CanonicalJson({{"role", "user"}, {"content", std::move(tool_results)}}));
      tool_results = Json();
    }
    if (m.role == Role::kAssistant) {
      encoded.Append(CanonicalJson(AssistantMessage(m, reasoning_on_every_assistant)));
    } else {  // user, or a system message after the first non-system one
      encoded.Append(CanonicalJson(UserTextMessage(m.content)));
    }
    encoded.messages = i + 1;
  }
  open_element->clear();
  if (!tool_results.is_null()) {
    *open_element = CanonicalJson({{"role", "user"}, {"content", std::move(tool_results)}});
  }
}

Json AnthropicEncoding::Fields(const Request& request) const {
  Json fields = AnthropicFields(request);
  if (has_system) fields["system"] = system;
  return fields;
}

WireBody AnthropicEncoding::Body(const Request& request, const std::string& open_element) const {
  return CanonicalJsonWithArray(Fields(request), "messages", encoded, open_element);
}

Json BuildAnthropicMessagesBody(const Request& request, bool reasoning_on_every_assistant) {
  AnthropicEncoding encoding;
  std::string open;
  encoding.Encode(request.messages, reasoning_on_every_assistant, &open);
  return Json::parse(encoding.Body(request, open).Bytes());
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

WireBody AnthropicMessagesWire::BuildBody(const Request& request,
                                          bool reasoning_on_every_assistant) const {
  std::string open;
  if (reasoning_on_every_assistant) {
    // The one-off repair resend: encoded whole, and kept out of the cache of the usual form.
    AnthropicEncoding once;
    once.Encode(request.messages, true, &open);
    return once.Body(request, open);
  }
  std::lock_guard lock(mu_);
  encoding_.Encode(request.messages, false, &open);
  return fields_.Build(encoding_.Fields(request), "messages", encoding_.encoded, open);
}

std::unique_ptr<StreamDecoder> AnthropicMessagesWire::NewDecoder(StreamSink& sink,
                                                                 std::string expected_model) const {
  return std::make_unique<AnthropicStreamDecoder>(sink, std::move(expected_model));
}

}  // namespace dsagent
