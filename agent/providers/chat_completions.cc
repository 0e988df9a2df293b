#include "agent/providers/chat_completions.h"

#include "agent/providers/chat_completions_stream.h"

namespace dsagent {

ChatDialect DeepSeekDialect() { return {"deepseek", true, true}; }

ChatDialect OpenAiCompatibleDialect() { return {"openai-compatible", false, false}; }

namespace {

// A tool in this format: {"type":"function","function":{name, description, parameters}}.
Json WireTool(const ToolSpec& tool) {
  return {{"type", "function"},
          {"function",
           {{"name", tool.name},
            {"description", tool.description},
            {"parameters", ParametersSchema(tool)}}}};
}

}  // namespace

Json ChatCompletionsMessage(const Message& m, bool reasoning_on_every_assistant) {
  // MessageToJson is the stored (trace) form; the wire form differs only in when
  // reasoning_content is present.
  Json j = MessageToJson(m);
  if (m.role == Role::kAssistant) {
    // DeepSeek requires the reasoning of tool-call turns back and ignores it elsewhere; leaving it
    // out of plain-text turns keeps the prompt (and the cached prefix) smaller.
    if (!m.tool_calls.empty() || reasoning_on_every_assistant) {
      j["reasoning_content"] = m.has_reasoning ? m.reasoning : std::string();
    } else {
      j.erase("reasoning_content");
    }
  }
  return j;
}

Json ChatCompletionsFields(const Request& request, const ChatDialect& dialect) {
  Json body = {{"model", request.lane.model},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}},
               {"max_tokens", request.max_output_tokens}};
  if (!request.tools.empty()) {
    Json tools = Json::array();
    for (const auto& t : request.tools) tools.push_back(WireTool(t));
    body["tools"] = std::move(tools);
  }
  if (dialect.send_user_id && !request.user_id.empty()) body["user_id"] = request.user_id;
  if (dialect.top_level_thinking) {
    body["thinking"] = {{"type", request.lane.thinking ? "enabled" : "disabled"}};
  } else {
    body["chat_template_kwargs"] = {{"thinking", request.lane.thinking}};
  }
  if (request.lane.thinking && !request.lane.effort.empty()) {
    body["reasoning_effort"] = request.lane.effort;
  }
  return body;
}

Json BuildChatCompletionsBody(const Request& request, const ChatDialect& dialect,
                              bool reasoning_on_every_assistant) {
  Json body = ChatCompletionsFields(request, dialect);
  Json messages = Json::array();
  for (const auto& m : request.messages) {
    messages.push_back(ChatCompletionsMessage(m, reasoning_on_every_assistant));
  }
  body["messages"] = std::move(messages);
  return body;
}

std::string ChatCompletionsWire::Url(const std::string& base_url) const {
  return base_url + "/chat/completions";
}

std::vector<std::string> ChatCompletionsWire::Headers(const std::string& api_key) const {
  std::vector<std::string> h = {"Content-Type: application/json", "Accept: text/event-stream"};
  if (!api_key.empty()) h.push_back("Authorization: Bearer " + api_key);
  return h;
}

WireBody ChatCompletionsWire::BuildBody(const Request& request,
                                        bool reasoning_on_every_assistant) const {
  if (reasoning_on_every_assistant) {
    // The one-off repair resend: encoded whole, and kept out of the cache of the usual form.
    return WireBody(CanonicalJson(BuildChatCompletionsBody(request, dialect_, true)));
  }
  const Json fields = ChatCompletionsFields(request, dialect_);
  std::lock_guard lock(mu_);
  encoded_.ContinueOrReset(request.messages.storage_id(), request.messages.size());
  for (size_t i = encoded_.messages; i < request.messages.size(); ++i) {
    encoded_.Append(CanonicalJson(ChatCompletionsMessage(request.messages[i], false)));
  }
  encoded_.messages = request.messages.size();
  return fields_.Build(fields, "messages", encoded_);
}

std::unique_ptr<StreamDecoder> ChatCompletionsWire::NewDecoder(StreamSink& sink,
                                                               std::string expected_model) const {
  return std::make_unique<ChatCompletionsDecoder>(sink, std::move(expected_model));
}

}  // namespace dsagent
