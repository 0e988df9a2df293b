#include "engine/server/anthropic_messages.h"

namespace dsagent::engine::server {
namespace {

using Json = OrderedJson;

// Consecutive user messages as one: the V4 format would otherwise put an empty assistant turn
// between them.
Json MergeUserTurns(const Json& messages) {
  Json out = Json::array();
  for (const auto& m : messages) {
    if (m.value("role", "") == "user" && m["content"].is_string()) {
      AppendTextMessage(out, "user", m["content"].get<std::string>());
    } else {
      out.push_back(m);
    }
  }
  return out;
}

// The text of a string or an array of text blocks (joined with `sep`). Error: another block.
Expected<std::string, WireError> BlockText(const Json& content, const std::string& param,
                                           const char* sep) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) {
    return MakeUnexpected(BadField(param, param + " must be a string or an array of blocks"));
  }
  std::string out;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& b = content[i];
    const std::string type = StringOr(b, "type");
    if (type != "text" || !b.contains("text") || !b["text"].is_string()) {
      return MakeUnexpected(BadField(
          ParamAt(param, i), ParamAt(param, i) + ": only text blocks are supported here (got '" +
                                 (type.empty() ? std::string("?") : type) + "')"));
    }
    if (i) out += sep;
    out += b["text"].get<std::string>();
  }
  return out;
}

WireError Unsupported(const std::string& param, const std::string& type) {
  return BadField(param, param + ": '" + type +
                             "' blocks are not supported by dsagent serve (the local model reads "
                             "text; send text, tool_use and tool_result blocks)");
}

// A tool_result's content as text. Images and documents a tool returned (Claude Code's Read on
// a picture) become a note, so one such result does not make the whole conversation a 400.
Expected<std::string, WireError> ToolResultText(const Json& content, const std::string& param) {
  if (!content.is_array()) return BlockText(content, param, "\n\n");
  Json blocks = Json::array();
  for (const auto& b : content) {
    const std::string type = StringOr(b, "type");
    if (type == "image" || type == "document") {
      blocks.push_back({{"type", "text"},
                        {"text", "[" + type + " not shown: the local model reads text only]"}});
    } else {
      blocks.push_back(b);
    }
  }
  return BlockText(blocks, param, "\n\n");
}

// Claude Code starts `system` with a block "x-anthropic-billing-header: cc_version=...;" whose
// value changes between requests of one conversation. It means nothing to the model, and at the
// very start of the prompt it would defeat the prefix cache for everything after it: dropped.
Json WithoutBillingHeader(const Json& system) {
  if (!system.is_array()) return system;
  Json out = Json::array();
  for (const auto& b : system) {
    if (StringOr(b, "text").rfind(kBillingHeaderPrefix, 0) != 0) out.push_back(b);
  }
  return out;
}

// One user message: tool results first (as tool messages), then its text (a user message).
Expected<bool, WireError> AddUser(const Json& content, const std::string& at, Json& out) {
  if (content.is_string()) {
    out.push_back({{"role", "user"}, {"content", content}});
    return true;
  }
  if (!content.is_array()) {
    return MakeUnexpected(BadField(at + ".content", at + ".content must be a string or array"));
  }
  std::string text;
  bool has_text = false;
  for (size_t j = 0; j < content.size(); ++j) {
    const std::string param = ParamAt(at + ".content", j);
    const Json& b = content[j];
    if (!b.is_object() || !b.contains("type") || !b["type"].is_string()) {
      return MakeUnexpected(BadField(param, param + " must be a block with a type"));
    }
    const std::string type = b["type"];
    if (type == "text") {
      if (!b.contains("text") || !b["text"].is_string()) {
        return MakeUnexpected(BadField(param + ".text", param + ".text must be a string"));
      }
      if (has_text) text += "\n\n";
      text += b["text"].get<std::string>();
      has_text = true;
    } else if (type == "tool_result") {
      if (!b.contains("tool_use_id") || !b["tool_use_id"].is_string()) {
        return MakeUnexpected(
            BadField(param + ".tool_use_id", param + ".tool_use_id must be a string"));
      }
      std::string result;
      if (b.contains("content") && !b["content"].is_null()) {
        auto t = ToolResultText(b["content"], param + ".content");
        if (!t) return MakeUnexpected(t.error());
        result = *t;
      }
      out.push_back({{"role", "tool"}, {"tool_call_id", b["tool_use_id"]}, {"content", result}});
    } else {
      return MakeUnexpected(Unsupported(param, type));
    }
  }
  if (has_text) out.push_back({{"role", "user"}, {"content", text}});
  return true;
}

Expected<bool, WireError> AddAssistant(const Json& content, const std::string& at, Json& out) {
  Json m = {{"role", "assistant"}, {"content", ""}};
  if (content.is_string()) {
    m["content"] = content;
    out.push_back(std::move(m));
    return true;
  }
  if (!content.is_array()) {
    return MakeUnexpected(BadField(at + ".content", at + ".content must be a string or array"));
  }
  std::string text, reasoning;
  Json calls = Json::array();
  for (size_t j = 0; j < content.size(); ++j) {
    const std::string param = ParamAt(at + ".content", j);
    const Json& b = content[j];
    if (!b.is_object() || !b.contains("type") || !b["type"].is_string()) {
      return MakeUnexpected(BadField(param, param + " must be a block with a type"));
    }
    const std::string type = b["type"];
    if (type == "text") {
      if (!b.contains("text") || !b["text"].is_string()) {
        return MakeUnexpected(BadField(param + ".text", param + ".text must be a string"));
      }
      text += b["text"].get<std::string>();
    } else if (type == "thinking") {
      if (b.contains("thinking") && b["thinking"].is_string()) reasoning += b["thinking"];
    } else if (type == "redacted_thinking") {
      // Opaque reasoning from another model: nothing the engine can read.
    } else if (type == "tool_use") {
      if (!b.contains("id") || !b["id"].is_string() || !b.contains("name") ||
          !b["name"].is_string()) {
        return MakeUnexpected(BadField(param, param + ": tool_use needs string id and name"));
      }
      const Json input = b.contains("input") && !b["input"].is_null() ? b["input"] : Json::object();
      calls.push_back({{"id", b["id"]},
                       {"type", "function"},
                       {"function", {{"name", b["name"]}, {"arguments", DumpJson(input)}}}});
    } else {
      return MakeUnexpected(Unsupported(param, type));
    }
  }
  m["content"] = text;
  if (!reasoning.empty()) m["reasoning_content"] = reasoning;
  if (!calls.empty()) m["tool_calls"] = std::move(calls);
  out.push_back(std::move(m));
  return true;
}

Expected<Json, WireError> ConvertMessagesTools(const Json& tools) {
  if (!tools.is_array()) return MakeUnexpected(BadField("tools", "tools must be an array"));
  Json out = Json::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string param = ParamAt("tools", i);
    const Json& t = tools[i];
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) {
      return MakeUnexpected(BadField(param, param + " must be {\"name\", \"input_schema\", ...}"));
    }
    const std::string type = StringOr(t, "type", "custom");
    if (type != "custom" || !t.contains("input_schema")) {
      return MakeUnexpected(BadField(
          param, param + " ('" + t["name"].get<std::string>() + "', type '" + type +
                     "'): server tools are not supported by dsagent serve; define client tools "
                     "with an input_schema"));
    }
    if (!t["input_schema"].is_object()) {
      return MakeUnexpected(
          BadField(param + ".input_schema", param + ".input_schema must be an object"));
    }
    Json fn = {{"name", t["name"]}};
    if (t.contains("description") && t["description"].is_string()) {
      fn["description"] = t["description"];
    }
    fn["parameters"] = t["input_schema"];
    out.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  return out;
}

std::string ToolUseId(const ResponseInfo& info, size_t i) {
  // "msg_..." -> "toolu_...": unique across responses, so a conversation's ids never collide.
  const std::string id = info.id.rfind("msg_", 0) == 0 ? info.id.substr(4) : info.id;
  return "toolu_" + id + "_" + std::to_string(i);
}

std::string StopReason(const ChatResult& r) {
  if (!r.message.tool_calls.empty()) return "tool_use";
  if (r.generation.finish == FinishReason::kStopString) return "stop_sequence";
  if (r.finish_reason == "length") return "max_tokens";
  return "end_turn";
}

Json StopSequence(const ChatResult& r) {
  return r.generation.finish == FinishReason::kStopString && r.message.tool_calls.empty()
             ? Json(r.generation.matched_stop)
             : Json();
}

Json Usage(const ChatUsage& u, int64_t output_tokens) {
  return {{"input_tokens", u.prompt_cache_miss_tokens},
          {"cache_creation_input_tokens", 0},
          {"cache_read_input_tokens", u.prompt_cache_hit_tokens},
          {"output_tokens", output_tokens}};
}

class AnthropicStream : public WireStream {
 public:
  explicit AnthropicStream(ResponseInfo info) : info_(std::move(info)) {}

  std::string Begin(const ChatUsage& prompt) override {
    const Json message = {{"id", info_.id},           {"type", "message"},
                          {"role", "assistant"},      {"model", info_.model},
                          {"content", Json::array()}, {"stop_reason", nullptr},
                          {"stop_sequence", nullptr}, {"usage", Usage(prompt, 0)}};
    return SseEvent("message_start", {{"type", "message_start"}, {"message", message}}) +
           KeepAlive();
  }

  std::string Delta(const StreamingCompletionParser::Delta& d) override {
    std::string out;
    if (!d.reasoning.empty()) {
      out += Open("thinking", {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}});
      out += BlockDelta({{"type", "thinking_delta"}, {"thinking", d.reasoning}});
    }
    if (!d.content.empty()) {
      out += Open("text", {{"type", "text"}, {"text", ""}});
      out += BlockDelta({{"type", "text_delta"}, {"text", d.content}});
    }
    // Each tool call is a tool_use block whose input streams as input_json_delta pieces.
    for (const auto& piece : d.tool_calls) {
      if (!piece.name.empty()) {
        out += Close();
        out += Open("tool_use", {{"type", "tool_use"},
                                 {"id", ToolUseId(info_, piece.index)},
                                 {"name", piece.name},
                                 {"input", Json::object()}});
        streamed_calls_ = piece.index + 1;
      }
      if (!piece.arguments.empty()) {
        out += BlockDelta({{"type", "input_json_delta"}, {"partial_json", piece.arguments}});
      }
      if (piece.done) out += Close();
    }
    return out;
  }

  std::string End(const ChatResult& r) override {
    std::string out = Close();
    for (size_t i = streamed_calls_; i < r.message.tool_calls.size(); ++i) {
      const auto& c = r.message.tool_calls[i];
      out += Open("tool_use", {{"type", "tool_use"},
                               {"id", ToolUseId(info_, i)},
                               {"name", c.name},
                               {"input", Json::object()}});
      out += BlockDelta(
          {{"type", "input_json_delta"}, {"partial_json", DumpJson(ArgumentsObject(c.arguments))}});
      out += Close();
    }
    Json usage = Usage(r.usage, r.usage.completion_tokens);
    out +=
        SseEvent("message_delta",
                 {{"type", "message_delta"},
                  {"delta", {{"stop_reason", StopReason(r)}, {"stop_sequence", StopSequence(r)}}},
                  {"usage", std::move(usage)}});
    return out + SseEvent("message_stop", {{"type", "message_stop"}});
  }

  std::string Error(const WireError& e) override {
    return SseEvent("error", Json::parse(AnthropicMessagesFormat().ErrorBody(e)));
  }

  std::string KeepAlive() override { return SseEvent("ping", {{"type", "ping"}}); }

 private:
  // Starts a block of `type` unless one is open (closing another kind first).
  std::string Open(const std::string& type, const Json& block) {
    if (open_ == type) return "";
    std::string out = Close();
    open_ = type;
    return out +
           SseEvent("content_block_start",
                    {{"type", "content_block_start"}, {"index", index_}, {"content_block", block}});
  }
  std::string BlockDelta(const Json& delta) const {
    return SseEvent("content_block_delta",
                    {{"type", "content_block_delta"}, {"index", index_}, {"delta", delta}});
  }
  std::string Close() {
    if (open_.empty()) return "";
    std::string out;
    if (open_ == "thinking") {
      out += BlockDelta({{"type", "signature_delta"}, {"signature", kThinkingSignature}});
    }
    out += SseEvent("content_block_stop", {{"type", "content_block_stop"}, {"index", index_}});
    open_.clear();
    ++index_;
    return out;
  }

  ResponseInfo info_;
  std::string open_;  // the open block's type ("" none)
  int index_ = 0;     // the open (or next) block's index
  size_t streamed_calls_ = 0;
};

}  // namespace

const char* AnthropicErrorType(int status) {
  switch (status) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    default:
      return status < 500 ? "invalid_request_error" : "api_error";
  }
}

std::string AnthropicMessagesFormat::ErrorBody(const WireError& e) const {
  std::string message = e.message;
  if (!e.param.empty() && message.find(e.param) == std::string::npos) {
    message = e.param + ": " + message;
  }
  // A lost engine's 503 is no overload: a retry cannot help (the x-should-retry header says so).
  const std::string type =
      e.code == kEngineUnavailable ? "api_error" : AnthropicErrorType(e.status);
  Json error = {{"type", type}, {"message", message}};
  // Anthropic's envelope has no code; ours adds the server's where the type does not say it
  // ("server_busy", "engine_unavailable", ...), for clients that tell them apart.
  if (!e.code.empty() && e.code != type) error["code"] = e.code;
  return DumpJson({{"type", "error"}, {"error", std::move(error)}});
}

Expected<WireRequest, WireError> AnthropicMessagesFormat::Parse(
    const std::string& body_text, const RequestDefaults& defaults) const {
  auto parsed = ParseBodyObject(body_text);
  if (!parsed) return MakeUnexpected(parsed.error());
  const Json& body = *parsed;
  WireRequest out;
  auto model = ModelField(body);
  if (!model) return MakeUnexpected(model.error());
  out.model = std::move(*model);
  auto stream = BoolField(body, "stream", false);
  if (!stream) return MakeUnexpected(stream.error());
  out.stream = *stream;

  Json messages = Json::array();
  if (body.contains("system") && !body["system"].is_null()) {
    auto system = BlockText(WithoutBillingHeader(body["system"]), "system", "\n\n");
    if (!system) return MakeUnexpected(system.error());
    messages.push_back({{"role", "system"}, {"content", *system}});
  }
  if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
    return MakeUnexpected(BadField("messages", "messages must be a non-empty array"));
  }
  const Json& in = body["messages"];
  for (size_t i = 0; i < in.size(); ++i) {
    const std::string at = ParamAt("messages", i);
    const Json& m = in[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return MakeUnexpected(BadField(at + ".role", at + " must be an object with a string role"));
    }
    const std::string role = m["role"];
    const Json content = m.contains("content") ? m["content"] : Json("");
    Expected<bool, WireError> added = true;
    if (role == "user") {
      added = AddUser(content, at, messages);
    } else if (role == "assistant") {
      added = AddAssistant(content, at, messages);
    } else if (role == "system") {
      // Claude Code's mid-conversation system messages: the V4 format has system text only at
      // the start, so later ones are read as the user's (merged into the user turn).
      auto text = BlockText(content, at + ".content", "\n\n");
      if (!text) return MakeUnexpected(text.error());
      const bool leading =
          messages.empty() || (messages.size() == 1 && messages[0].value("role", "") == "system");
      if (leading) {
        AppendTextMessage(messages, "system", *text);
      } else {
        messages.push_back({{"role", "user"}, {"content", *text}});
      }
    } else {
      return MakeUnexpected(BadField(
          at + ".role",
          at + ".role must be \"user\", \"assistant\" or \"system\", not \"" + role + "\""));
    }
    if (!added) return MakeUnexpected(added.error());
  }
  out.chat.messages = MergeUserTurns(messages);

  if (body.contains("tools") && !body["tools"].is_null()) {
    auto tools = ConvertMessagesTools(body["tools"]);
    if (!tools) return MakeUnexpected(tools.error());
    if (!tools->empty()) out.chat.tools = std::move(*tools);
  }
  if (body.contains("tool_choice") && !body["tool_choice"].is_null()) {
    const Json& c = body["tool_choice"];
    const std::string type = c.is_object() && c.contains("type") && c["type"].is_string()
                                 ? c["type"].get<std::string>()
                                 : "";
    ToolChoice& choice = out.chat.tool_choice;
    if (type == "none") {
      choice.mode = ToolChoice::Mode::kNone;
      out.chat.tools = Json();
    } else if (type == "any") {
      choice.mode = ToolChoice::Mode::kRequired;
    } else if (type == "tool" && !StringOr(c, "name").empty()) {
      choice.mode = ToolChoice::Mode::kNamed;
      choice.name = StringOr(c, "name");
    } else if (type != "auto") {
      return MakeUnexpected(
          BadField("tool_choice",
                   "tool_choice must be {\"type\": \"auto\" | \"any\" | \"none\"} or "
                   "{\"type\": \"tool\", \"name\": NAME}"));
    }
    auto single = BoolField(c, "disable_parallel_tool_use", false);
    if (!single) {
      return MakeUnexpected(BadField("tool_choice.disable_parallel_tool_use",
                                     "tool_choice.disable_parallel_tool_use must be a boolean"));
    }
    out.chat.parallel_tool_calls = !*single;
  }

  out.chat.thinking = false;
  if (body.contains("thinking") && !body["thinking"].is_null()) {
    const Json& t = body["thinking"];
    const std::string type = t.is_object() && t.contains("type") && t["type"].is_string()
                                 ? t["type"].get<std::string>()
                                 : "";
    if (type != "enabled" && type != "disabled" && type != "adaptive") {
      return MakeUnexpected(
          BadField("thinking",
                   "thinking must be {\"type\": \"enabled\", \"budget_tokens\": N} or "
                   "{\"type\": \"disabled\"}"));
    }
    out.chat.thinking = type != "disabled";
    if (type == "enabled") {
      // Anthropic's rules: budget_tokens is required, at least 1024 and below max_tokens.
      auto budget = IntegerField(t, "budget_tokens", -1);
      if (!budget) {
        return MakeUnexpected(
            BadField("thinking.budget_tokens", "thinking.budget_tokens must be an integer"));
      }
      if (*budget < 1024) {
        return MakeUnexpected(BadField(
            "thinking.budget_tokens",
            *budget < 0 ? "thinking.budget_tokens: Field required"
                        : "thinking.budget_tokens: Input should be greater than or equal to 1024"));
      }
      out.chat.thinking_budget = *budget;
    }
  }
  // output_config.effort (Claude Code sends it with adaptive thinking): "max" is V4's max effort.
  if (out.chat.thinking && body.contains("output_config") && body["output_config"].is_object() &&
      StringOr(body["output_config"], "effort") == "max") {
    out.chat.reasoning_effort = "max";
  }

  GenerateOptions& g = out.chat.generate;
  g.context_limit = defaults.context_limit;
  auto max_tokens = IntegerField(body, "max_tokens", defaults.max_tokens);
  if (!max_tokens) return MakeUnexpected(max_tokens.error());
  auto budget = CompletionBudget(*max_tokens, "max_tokens", defaults);
  if (!budget) return MakeUnexpected(budget.error());
  g.max_tokens = *budget;
  // (Anthropic requires max_tokens; without one the server's default applies and is not held
  // against the budget.)
  if (out.chat.thinking_budget > 0 && body.contains("max_tokens") &&
      out.chat.thinking_budget >= *max_tokens) {
    return MakeUnexpected(
        BadField("max_tokens", "max_tokens must be greater than thinking.budget_tokens (" +
                                   std::to_string(*max_tokens) +
                                   " <= " + std::to_string(out.chat.thinking_budget) + ")"));
  }
  if (out.chat.thinking && (out.chat.tool_choice.mode == ToolChoice::Mode::kRequired ||
                            out.chat.tool_choice.mode == ToolChoice::Mode::kNamed)) {
    return MakeUnexpected(
        BadField("tool_choice", "Thinking may not be enabled when tool_choice forces tool use."));
  }
  if (auto ok = CheckToolChoice(out.chat, "tool_choice"); !ok) return MakeUnexpected(ok.error());
  auto sampling = ParseSampling(body);
  if (!sampling) return MakeUnexpected(sampling.error());
  g.sampling = *sampling;
  if (body.contains("stop_sequences") && !body["stop_sequences"].is_null()) {
    const Json& stop = body["stop_sequences"];
    if (!stop.is_array()) {
      return MakeUnexpected(BadField("stop_sequences", "stop_sequences must be an array"));
    }
    for (const auto& s : stop) {
      if (!s.is_string() || s.get<std::string>().empty()) {
        return MakeUnexpected(
            BadField("stop_sequences", "stop_sequences must hold non-empty strings"));
      }
      g.stop.push_back(s);
    }
  }
  return out;
}

std::string AnthropicMessagesFormat::Body(const WireRequest& request, const ResponseInfo& info,
                                          const ChatResult& r) const {
  Json content = Json::array();
  if (request.chat.thinking && !r.message.reasoning.empty()) {
    content.push_back({{"type", "thinking"},
                       {"thinking", r.message.reasoning},
                       {"signature", kThinkingSignature}});
  }
  if (!r.message.content.empty()) {
    content.push_back({{"type", "text"}, {"text", r.message.content}});
  }
  for (size_t i = 0; i < r.message.tool_calls.size(); ++i) {
    const auto& c = r.message.tool_calls[i];
    content.push_back({{"type", "tool_use"},
                       {"id", ToolUseId(info, i)},
                       {"name", c.name},
                       {"input", ArgumentsObject(c.arguments)}});
  }
  return DumpJson({{"id", info.id},
                   {"type", "message"},
                   {"role", "assistant"},
                   {"model", info.model},
                   {"content", std::move(content)},
                   {"stop_reason", StopReason(r)},
                   {"stop_sequence", StopSequence(r)},
                   {"usage", Usage(r.usage, r.usage.completion_tokens)}});
}

std::unique_ptr<WireStream> AnthropicMessagesFormat::Stream(const WireRequest&,
                                                            const ResponseInfo& info) const {
  return std::make_unique<AnthropicStream>(info);
}

}  // namespace dsagent::engine::server
