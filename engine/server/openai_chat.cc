#include "engine/server/openai_chat.h"

namespace dsagent::engine::server {
namespace {

// Text parts of an OpenAI content array joined, or the string itself.
Expected<OrderedJson, WireError> FlattenContent(const OrderedJson& content, size_t index) {
  if (content.is_null() || content.is_string()) return content;
  const std::string param = "messages[" + std::to_string(index) + "].content";
  if (!content.is_array())
    return MakeUnexpected(BadField(param, param + " must be a string or array"));
  std::string text;
  for (const auto& part : content) {
    if (part.is_string()) {
      text += part.get<std::string>();
    } else if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
               part["text"].is_string()) {
      text += part["text"].get<std::string>();
    } else {
      return MakeUnexpected(BadField(param, param + ": only text parts are supported"));
    }
  }
  return OrderedJson(text);
}

}  // namespace

Expected<OrderedJson, WireError> CheckChatMessage(const OrderedJson& m, size_t i) {
  const std::string at = "messages[" + std::to_string(i) + "]";
  if (!m.is_object()) return MakeUnexpected(BadField(at, at + " must be an object"));
  if (!m.contains("role") || !m["role"].is_string()) {
    return MakeUnexpected(BadField(at + ".role", at + ".role must be a string"));
  }
  const std::string role = m["role"];
  if (role != "system" && role != "user" && role != "assistant" && role != "tool" &&
      role != "latest_reminder" && role != "developer") {
    return MakeUnexpected(BadField(at + ".role", "unknown variant `" + role +
                                                     "`, expected one of `system`, `user`, "
                                                     "`assistant`, `tool`, `latest_reminder`"));
  }
  OrderedJson copy = m;
  if (m.contains("content")) {
    auto flat = FlattenContent(m["content"], i);
    if (!flat) return MakeUnexpected(flat.error());
    copy["content"] = *flat;
  }
  for (const char* key : {"reasoning_content", "tool_call_id", "name"}) {
    if (m.contains(key) && !m[key].is_null() && !m[key].is_string()) {
      return MakeUnexpected(BadField(at + "." + key, at + "." + key + " must be a string"));
    }
  }
  if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
    if (!m["tool_calls"].is_array()) {
      return MakeUnexpected(BadField(at + ".tool_calls", at + ".tool_calls must be an array"));
    }
    for (const auto& c : m["tool_calls"]) {
      if (!c.is_object() || !c.contains("function") || !c["function"].is_object() ||
          !c["function"].contains("name") || !c["function"]["name"].is_string() ||
          (c["function"].contains("arguments") && !c["function"]["arguments"].is_string())) {
        return MakeUnexpected(
            BadField(at + ".tool_calls", at + ".tool_calls entries need "
                                              "function.name and string arguments"));
      }
    }
  } else {
    copy.erase("tool_calls");
  }
  return copy;
}

namespace {

Expected<OrderedJson, WireError> CheckMessages(const OrderedJson& body) {
  if (!body.contains("messages"))
    return MakeUnexpected(BadField("messages", "messages is required"));
  const OrderedJson& in = body["messages"];
  if (!in.is_array() || in.empty()) {
    return MakeUnexpected(BadField("messages", "messages must be a non-empty array"));
  }
  OrderedJson out = OrderedJson::array();
  for (size_t i = 0; i < in.size(); ++i) {
    auto checked = CheckChatMessage(in[i], i);
    if (!checked) return MakeUnexpected(checked.error());
    out.push_back(std::move(*checked));
  }
  return out;
}

}  // namespace

Expected<WireRequest, WireError> ParseChatRequest(const std::string& text,
                                                  const RequestDefaults& defaults) {
  auto parsed = ParseBodyObject(text);
  if (!parsed) return MakeUnexpected(parsed.error());
  auto messages = CheckMessages(*parsed);
  if (!messages) return MakeUnexpected(messages.error());
  auto out = ParseChatFields(*parsed, defaults);
  if (!out) return MakeUnexpected(out.error());
  out->chat.messages = std::move(*messages);
  return out;
}

Expected<WireRequest, WireError> ParseChatFields(const OrderedJson& body,
                                                 const RequestDefaults& defaults) {
  WireRequest out;
  auto model = ModelField(body);
  if (!model) return MakeUnexpected(model.error());
  out.model = std::move(*model);
  for (const char* key : {"stream", "ignore_eos"}) {
    if (body.contains(key) && !body[key].is_null() && !body[key].is_boolean()) {
      return MakeUnexpected(BadField(key, std::string(key) + " must be a boolean"));
    }
  }
  out.stream = body.value("stream", false);
  out.chat.ignore_eos = body.value("ignore_eos", false);
  if (body.contains("stream_options") && !body["stream_options"].is_null()) {
    const auto& so = body["stream_options"];
    if (!so.is_object() || (so.contains("include_usage") && !so["include_usage"].is_boolean())) {
      return MakeUnexpected(
          BadField("stream_options", "stream_options must be {\"include_usage\": bool}"));
    }
    out.include_usage = so.value("include_usage", false);
  }

  // Thinking: DeepSeek's field, then vLLM/SGLang's; default on.
  bool thinking = true;
  if (body.contains("chat_template_kwargs") && !body["chat_template_kwargs"].is_null()) {
    const auto& k = body["chat_template_kwargs"];
    if (!k.is_object()) {
      return MakeUnexpected(
          BadField("chat_template_kwargs", "chat_template_kwargs must be an object"));
    }
    if (k.contains("thinking")) {
      if (!k["thinking"].is_boolean()) {
        return MakeUnexpected(
            BadField("chat_template_kwargs.thinking", "thinking must be a boolean"));
      }
      thinking = k["thinking"];
    }
  }
  if (body.contains("thinking") && !body["thinking"].is_null()) {
    const auto& t = body["thinking"];
    const std::string type = t.is_object() && t.contains("type") && t["type"].is_string()
                                 ? t["type"].get<std::string>()
                                 : "";
    if (type != "enabled" && type != "disabled") {
      return MakeUnexpected(BadField(
          "thinking", "thinking must be {\"type\": \"enabled\"} or {\"type\": \"disabled\"}"));
    }
    thinking = type == "enabled";
  }
  out.chat.thinking = thinking;
  if (body.contains("reasoning_effort") && !body["reasoning_effort"].is_null()) {
    if (!body["reasoning_effort"].is_string()) {
      return MakeUnexpected(BadField("reasoning_effort", "reasoning_effort must be a string"));
    }
    const std::string e = body["reasoning_effort"];
    if (e == "low" || e == "medium" || e == "high" || e == "minimal") {
      out.chat.reasoning_effort = "high";
    } else if (e == "xhigh" || e == "max" || e == "ultra") {
      out.chat.reasoning_effort = "max";
    } else {
      return MakeUnexpected(
          BadField("reasoning_effort", "reasoning_effort must be low, medium, high, xhigh or max"));
    }
    if (!thinking) out.chat.reasoning_effort.clear();
  }

  if (body.contains("tools") && !body["tools"].is_null()) {
    const auto& tools = body["tools"];
    if (!tools.is_array()) return MakeUnexpected(BadField("tools", "tools must be an array"));
    for (const auto& t : tools) {
      if (!t.is_object() || !t.contains("function") || !t["function"].is_object() ||
          !t["function"].contains("name") || !t["function"]["name"].is_string()) {
        return MakeUnexpected(BadField(
            "tools", "each tool must be {\"type\": \"function\", \"function\": {\"name\"...}}"));
      }
    }
    out.chat.tools = tools;
  }
  if (body.contains("tool_choice") && !body["tool_choice"].is_null()) {
    const auto& c = body["tool_choice"];
    const std::string mode = c.is_string() ? c.get<std::string>() : "";
    ToolChoice& choice = out.chat.tool_choice;
    if (mode == "none") {
      choice.mode = ToolChoice::Mode::kNone;
      out.chat.tools = OrderedJson();
    } else if (mode == "required") {
      choice.mode = ToolChoice::Mode::kRequired;
    } else if (mode == "auto") {
      choice.mode = ToolChoice::Mode::kAuto;
    } else if (c.is_object() && StringOr(c, "type") == "function" && c.contains("function") &&
               c["function"].is_object() && !StringOr(c["function"], "name").empty()) {
      choice.mode = ToolChoice::Mode::kNamed;
      choice.name = StringOr(c["function"], "name");
    } else {
      return MakeUnexpected(BadField("tool_choice",
                                     "tool_choice must be \"none\", \"auto\", \"required\" or "
                                     "{\"type\": \"function\", \"function\": {\"name\": NAME}}"));
    }
  }
  auto parallel = BoolField(body, "parallel_tool_calls", true);
  if (!parallel) return MakeUnexpected(parallel.error());
  out.chat.parallel_tool_calls = *parallel;

  GenerateOptions& g = out.chat.generate;
  g.context_limit = defaults.context_limit;
  auto max_tokens = IntegerField(body, "max_tokens", defaults.max_tokens);
  if (!max_tokens) return MakeUnexpected(max_tokens.error());
  auto max_completion = IntegerField(body, "max_completion_tokens", *max_tokens);
  if (!max_completion) return MakeUnexpected(max_completion.error());
  auto budget = CompletionBudget(*max_completion, "max_tokens", defaults);
  if (!budget) return MakeUnexpected(budget.error());
  g.max_tokens = *budget;
  auto sampling = ParseSampling(body);
  if (!sampling) return MakeUnexpected(sampling.error());
  g.sampling = *sampling;
  if (body.contains("stop") && !body["stop"].is_null()) {
    const auto& stop = body["stop"];
    if (stop.is_string()) {
      g.stop.push_back(stop);
    } else if (stop.is_array() && stop.size() <= 16) {
      for (const auto& s : stop) {
        if (!s.is_string()) return MakeUnexpected(BadField("stop", "stop must hold strings"));
        g.stop.push_back(s);
      }
    } else {
      return MakeUnexpected(BadField("stop", "stop must be a string or up to 16 strings"));
    }
  }
  if (auto ok = CheckToolChoice(out.chat, "tool_choice"); !ok) return MakeUnexpected(ok.error());
  return out;
}

std::string ErrorBody(const WireError& e) {
  OrderedJson err = {{"message", e.message},
                     {"type", e.status >= 500 ? "server_error" : "invalid_request_error"},
                     {"param", e.param.empty() ? OrderedJson() : OrderedJson(e.param)},
                     {"code", e.code}};
  return DumpJson(OrderedJson{{"error", err}});
}

OrderedJson UsageJson(const ChatUsage& u) {
  OrderedJson usage = {{"prompt_tokens", u.prompt_tokens},
                       {"completion_tokens", u.completion_tokens},
                       {"total_tokens", u.prompt_tokens + u.completion_tokens},
                       {"prompt_tokens_details", {{"cached_tokens", u.prompt_cache_hit_tokens}}},
                       {"prompt_cache_hit_tokens", u.prompt_cache_hit_tokens},
                       {"prompt_cache_miss_tokens", u.prompt_cache_miss_tokens},
                       {"completion_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}}};
  // dsagent's extension, only where speculative decoding ran (`serve --speculative mtp`).
  if (u.speculative_drafted > 0) {
    usage["speculative"] = {{"drafted_tokens", u.speculative_drafted},
                            {"accepted_tokens", u.speculative_accepted}};
  }
  return usage;
}

OrderedJson ToolCallsDelta(const ChatResult& result) {
  OrderedJson calls = OrderedJson::array();
  for (size_t i = 0; i < result.message.tool_calls.size(); ++i) {
    const auto& c = result.message.tool_calls[i];
    calls.push_back({{"index", i},
                     {"id", "call_" + std::to_string(i)},
                     {"type", "function"},
                     {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  }
  return calls;
}

std::string CompletionBody(const std::string& id, int64_t created, const std::string& model,
                           const ChatResult& result, bool thinking) {
  OrderedJson message = {{"role", "assistant"}, {"content", result.message.content}};
  if (thinking) message["reasoning_content"] = result.message.reasoning;
  if (!result.message.tool_calls.empty()) {
    OrderedJson calls = ToolCallsDelta(result);
    for (auto& c : calls) c.erase("index");
    message["tool_calls"] = std::move(calls);
  }
  OrderedJson body = {{"id", id},
                      {"object", "chat.completion"},
                      {"created", created},
                      {"model", model},
                      {"choices", OrderedJson::array({{{"index", 0},
                                                       {"message", std::move(message)},
                                                       {"logprobs", nullptr},
                                                       {"finish_reason", result.finish_reason}}})},
                      {"usage", UsageJson(result.usage)},
                      {"system_fingerprint", "dsagent-local"}};
  return DumpJson(body);
}

std::string ChunkEvent(const std::string& id, int64_t created, const std::string& model,
                       const OrderedJson& delta, const std::string& finish_reason) {
  OrderedJson chunk = {
      {"id", id},
      {"object", "chat.completion.chunk"},
      {"created", created},
      {"model", model},
      {"system_fingerprint", "dsagent-local"},
      {"choices", OrderedJson::array(
                      {{{"index", 0},
                        {"delta", delta},
                        {"logprobs", nullptr},
                        {"finish_reason",
                         finish_reason.empty() ? OrderedJson() : OrderedJson(finish_reason)}}})},
      {"usage", nullptr}};
  return "data: " + DumpJson(chunk) + "\n\n";
}

std::string UsageChunkEvent(const std::string& id, int64_t created, const std::string& model,
                            const ChatUsage& usage) {
  OrderedJson chunk = {{"id", id},
                       {"object", "chat.completion.chunk"},
                       {"created", created},
                       {"model", model},
                       {"system_fingerprint", "dsagent-local"},
                       {"choices", OrderedJson::array()},
                       {"usage", UsageJson(usage)}};
  return "data: " + DumpJson(chunk) + "\n\n";
}

namespace {

class OpenAIChatStream : public WireStream {
 public:
  OpenAIChatStream(const WireRequest& request, ResponseInfo info)
      : include_usage_(request.include_usage), info_(std::move(info)) {}

  std::string Begin(const ChatUsage&) override {
    return Chunk({{"role", "assistant"}, {"content", ""}}, "");
  }
  std::string Delta(const StreamingCompletionParser::Delta& d) override {
    std::string out;
    if (!d.reasoning.empty() || !d.content.empty()) {
      OrderedJson delta = OrderedJson::object();
      if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
      if (!d.content.empty()) delta["content"] = d.content;
      out += Chunk(delta, "");
    }
    // Tool calls as OpenAI streams them: the first piece of a call has its id, type and name,
    // later ones only the next fragment of function.arguments.
    for (const auto& piece : d.tool_calls) {
      if (piece.name.empty() && piece.arguments.empty()) continue;
      OrderedJson call = {{"index", piece.index}};
      if (!piece.name.empty()) {
        call["id"] = "call_" + std::to_string(piece.index);
        call["type"] = "function";
        call["function"] = {{"name", piece.name}, {"arguments", piece.arguments}};
        streamed_calls_ = std::max(streamed_calls_, piece.index + 1);
      } else {
        call["function"] = {{"arguments", piece.arguments}};
      }
      out += Chunk({{"tool_calls", OrderedJson::array({call})}}, "");
    }
    return out;
  }
  std::string End(const ChatResult& r) override {
    std::string out;
    // Calls the stream has not shown (none, when the block parsed as it was written).
    OrderedJson rest = ToolCallsDelta(r);
    if (rest.size() > streamed_calls_) {
      rest.erase(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(streamed_calls_));
      out += Chunk({{"tool_calls", rest}}, "");
    }
    out += Chunk(OrderedJson::object(), r.finish_reason);
    if (include_usage_) out += UsageChunkEvent(info_.id, info_.created, info_.model, r.usage);
    return out + "data: [DONE]\n\n";
  }
  std::string Error(const WireError& e) override { return "data: " + ErrorBody(e) + "\n\n"; }

 private:
  std::string Chunk(const OrderedJson& delta, const std::string& finish) const {
    return ChunkEvent(info_.id, info_.created, info_.model, delta, finish);
  }
  bool include_usage_;
  ResponseInfo info_;
  size_t streamed_calls_ = 0;
};

}  // namespace

std::string OpenAIChatFormat::Body(const WireRequest& request, const ResponseInfo& info,
                                   const ChatResult& result) const {
  return CompletionBody(info.id, info.created, info.model, result, request.chat.thinking);
}

std::unique_ptr<WireStream> OpenAIChatFormat::Stream(const WireRequest& request,
                                                     const ResponseInfo& info) const {
  return std::make_unique<OpenAIChatStream>(request, info);
}

}  // namespace dsagent::engine::server
