#include "engine/server/openai_responses.h"

#include "engine/server/openai_chat.h"

namespace dsagent::engine::server {
namespace {

using Json = OrderedJson;

// A message's or tool output's text: a string, or text parts (input_text / output_text / text /
// refusal) joined with "\n\n". Error: images, files and other parts.
Expected<std::string, WireError> PartsText(const Json& content, const std::string& param) {
  if (content.is_null()) return std::string();
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) {
    return MakeUnexpected(BadField(param, param + " must be a string or an array of parts"));
  }
  std::string out;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& p = content[i];
    const std::string type = StringOr(p, "type");
    const char* key = type == "refusal" ? "refusal" : "text";
    if ((type != "input_text" && type != "output_text" && type != "text" && type != "refusal") ||
        !p.contains(key) || !p[key].is_string()) {
      return MakeUnexpected(BadField(
          ParamAt(param, i), ParamAt(param, i) + ": '" + (type.empty() ? "?" : type) +
                                 "' parts are not supported by dsagent serve (the local model "
                                 "reads text)"));
    }
    if (i) out += "\n\n";
    out += p[key].get<std::string>();
  }
  return out;
}

// The reasoning an input reasoning item carries: its reasoning_text content, else the
// encrypted_content this server filled with the same text, else its summary.
std::string ReasoningText(const Json& item) {
  std::string out;
  const auto join = [&out](const Json& parts) {
    if (!parts.is_array()) return;
    for (const auto& p : parts) {
      if (p.is_object() && p.contains("text") && p["text"].is_string()) out += p["text"];
    }
  };
  if (item.contains("content")) join(item["content"]);
  if (out.empty() && item.contains("encrypted_content") && item["encrypted_content"].is_string()) {
    out = item["encrypted_content"];
  }
  if (out.empty() && item.contains("summary")) join(item["summary"]);
  return out;
}

Expected<Json, WireError> ConvertInput(const Json& input, std::string& system) {
  Json messages = Json::array();
  if (input.is_string()) {
    messages.push_back({{"role", "user"}, {"content", input}});
    return messages;
  }
  if (!input.is_array() || input.empty()) {
    return MakeUnexpected(BadField("input", "input must be a string or a non-empty array"));
  }
  std::string reasoning;  // from a reasoning item, for the next assistant message
  // The assistant message the next function_call joins, or none.
  const auto open_assistant = [&messages]() -> Json* {
    if (messages.empty() || messages.back().value("role", "") != "assistant") return nullptr;
    return &messages.back();
  };
  // A reply that was only reasoning (no message or call followed it) is still a turn.
  const auto flush_reasoning = [&messages, &reasoning] {
    if (reasoning.empty()) return;
    messages.push_back({{"role", "assistant"}, {"content", ""}, {"reasoning_content", reasoning}});
    reasoning.clear();
  };
  for (size_t i = 0; i < input.size(); ++i) {
    const std::string at = ParamAt("input", i);
    const Json& item = input[i];
    if (!item.is_object()) return MakeUnexpected(BadField(at, at + " must be an object"));
    const std::string type = StringOr(item, "type", item.contains("role") ? "message" : "");
    const std::string item_role = StringOr(item, "role");
    if (type == "function_call_output" || (type == "message" && item_role != "assistant")) {
      flush_reasoning();
    }
    if (type == "message") {
      const std::string role =
          item.contains("role") && item["role"].is_string() ? item["role"].get<std::string>() : "";
      auto text = PartsText(item.contains("content") ? item["content"] : Json(""), at + ".content");
      if (!text) return MakeUnexpected(text.error());
      if (role == "system" || role == "developer") {
        if (messages.empty()) {
          system += (system.empty() ? "" : "\n\n") + *text;
        } else {
          AppendTextMessage(messages, "user", *text);
        }
      } else if (role == "user") {
        AppendTextMessage(messages, "user", *text);
      } else if (role == "assistant") {
        Json m = {{"role", "assistant"}, {"content", *text}};
        if (!reasoning.empty()) m["reasoning_content"] = reasoning;
        reasoning.clear();
        messages.push_back(std::move(m));
      } else {
        return MakeUnexpected(
            BadField(at + ".role", at + ".role must be user, assistant, system or developer"));
      }
    } else if (type == "function_call") {
      for (const char* key : {"call_id", "name", "arguments"}) {
        if (!item.contains(key) || !item[key].is_string()) {
          return MakeUnexpected(BadField(at + "." + key, at + "." + key + " must be a string"));
        }
      }
      Json call = {{"id", item["call_id"]},
                   {"type", "function"},
                   {"function", {{"name", item["name"]}, {"arguments", item["arguments"]}}}};
      Json* m = open_assistant();
      if (m == nullptr) {
        messages.push_back({{"role", "assistant"}, {"content", ""}});
        m = &messages.back();
        if (!reasoning.empty()) (*m)["reasoning_content"] = reasoning;
        reasoning.clear();
      }
      if (!m->contains("tool_calls")) (*m)["tool_calls"] = Json::array();
      (*m)["tool_calls"].push_back(std::move(call));
    } else if (type == "function_call_output") {
      if (!item.contains("call_id") || !item["call_id"].is_string()) {
        return MakeUnexpected(BadField(at + ".call_id", at + ".call_id must be a string"));
      }
      auto output = PartsText(item.contains("output") ? item["output"] : Json(""), at + ".output");
      if (!output) return MakeUnexpected(output.error());
      messages.push_back(
          {{"role", "tool"}, {"tool_call_id", item["call_id"]}, {"content", *output}});
    } else if (type == "reasoning") {
      reasoning += ReasoningText(item);
    } else {
      return MakeUnexpected(
          BadField(at + ".type", at + ": '" + (type.empty() ? "?" : type) +
                                     "' items are not supported by dsagent serve (send message, "
                                     "function_call, function_call_output and reasoning items)"));
    }
  }
  flush_reasoning();
  return messages;
}

// Function tools in the chat-completions shape the engine reads. Other types are dropped.
Expected<Json, WireError> ConvertResponsesTools(const Json& tools) {
  if (!tools.is_array()) return MakeUnexpected(BadField("tools", "tools must be an array"));
  Json out = Json::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const Json& t = tools[i];
    if (StringOr(t, "type") != "function") continue;
    if (t.contains("function") && t["function"].is_object()) {  // chat-completions shape
      out.push_back(t);
      continue;
    }
    if (!t.contains("name") || !t["name"].is_string()) {
      return MakeUnexpected(
          BadField(ParamAt("tools", i), ParamAt("tools", i) + ".name must be a string"));
    }
    Json fn = {{"name", t["name"]}};
    if (t.contains("description") && t["description"].is_string()) {
      fn["description"] = t["description"];
    }
    fn["parameters"] = t.contains("parameters") && t["parameters"].is_object()
                           ? t["parameters"]
                           : Json{{"type", "object"}, {"properties", Json::object()}};
    out.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  return out;
}

Json UsageJson(const ChatUsage& u) {
  return {{"input_tokens", u.prompt_tokens},
          {"input_tokens_details", {{"cached_tokens", u.prompt_cache_hit_tokens}}},
          {"output_tokens", u.completion_tokens},
          {"output_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

// Item ids: unique across responses ("resp_X" -> "rs_X_0", "msg_X_1", "fc_X_2", "call_X_2").
std::string ItemId(const ResponseInfo& info, const char* prefix, size_t index) {
  const std::string id = info.id.rfind("resp_", 0) == 0 ? info.id.substr(5) : info.id;
  return std::string(prefix) + id + "_" + std::to_string(index);
}

Json ReasoningItem(const std::string& id, const std::string& text, bool encrypted,
                   bool in_progress = false) {
  Json item = {
      {"id", id},
      {"type", "reasoning"},
      {"summary", Json::array()},
      {"content",
       in_progress ? Json::array() : Json::array({{{"type", "reasoning_text"}, {"text", text}}})}};
  if (encrypted && !in_progress) item["encrypted_content"] = text;
  return item;
}

Json OutputText(const std::string& text) {
  return {{"type", "output_text"}, {"text", text}, {"annotations", Json::array()}};
}

Json MessageItem(const std::string& id, const std::string& text, bool in_progress = false) {
  return {{"id", id},
          {"type", "message"},
          {"status", in_progress ? "in_progress" : "completed"},
          {"role", "assistant"},
          {"content", in_progress ? Json::array() : Json::array({OutputText(text)})}};
}

Json FunctionCallItem(const std::string& id, const std::string& call_id, const std::string& name,
                      const std::string& arguments, bool in_progress = false) {
  return {{"id", id},
          {"type", "function_call"},
          {"status", in_progress ? "in_progress" : "completed"},
          {"call_id", call_id},
          {"name", name},
          {"arguments", in_progress ? "" : arguments}};
}

bool Incomplete(const ChatResult& r) {
  return r.message.tool_calls.empty() && r.finish_reason == "length";
}

bool WantsEncrypted(const WireRequest& request) {
  const Json& include = request.echo.contains("include") ? request.echo["include"] : Json();
  if (!include.is_array()) return false;
  for (const auto& v : include) {
    if (v == "reasoning.encrypted_content") return true;
  }
  return false;
}

// The response object. `status`: in_progress, completed, incomplete or failed.
Json ResponseObject(const Json& e, const ResponseInfo& info, const std::string& status, Json output,
                    const ChatUsage* usage, const WireError* error = nullptr) {
  const auto echo = [&e](const char* key, Json fallback) {
    return e.contains(key) && !e[key].is_null() ? e[key] : fallback;
  };
  return {{"id", info.id},
          {"object", "response"},
          {"created_at", info.created},
          {"status", status},
          {"error",
           error == nullptr ? Json() : Json{{"code", error->code}, {"message", error->message}}},
          {"incomplete_details",
           status == "incomplete" ? Json{{"reason", "max_output_tokens"}} : Json()},
          {"instructions", echo("instructions", Json())},
          {"max_output_tokens", echo("max_output_tokens", Json())},
          {"model", info.model},
          {"output", std::move(output)},
          {"parallel_tool_calls", echo("parallel_tool_calls", true)},
          {"previous_response_id", nullptr},
          {"reasoning", {{"effort", echo("reasoning_effort", Json())}, {"summary", nullptr}}},
          {"store", false},
          {"temperature", echo("temperature", 1.0)},
          {"text", {{"format", {{"type", "text"}}}}},
          {"tool_choice", echo("tool_choice", "auto")},
          {"tools", echo("tools", Json::array())},
          {"top_p", echo("top_p", 1.0)},
          {"truncation", "disabled"},
          {"usage", usage == nullptr ? Json() : UsageJson(*usage)},
          {"metadata", echo("metadata", Json::object())}};
}

class ResponsesStream : public WireStream {
 public:
  ResponsesStream(const WireRequest& request, ResponseInfo info)
      : echo_(request.echo), info_(std::move(info)), encrypted_(WantsEncrypted(request)) {}

  std::string Begin(const ChatUsage&) override {
    began_ = true;
    const Json response = ResponseObject(echo_, info_, "in_progress", Json::array(), nullptr);
    std::string out = Event("response.created", {{"response", response}});
    return out + Event("response.in_progress", {{"response", response}});
  }

  std::string Delta(const StreamingCompletionParser::Delta& d) override {
    std::string out;
    if (!d.reasoning.empty()) {
      out += Open(Kind::kReasoning);
      text_ += d.reasoning;
      out += Event("response.reasoning_text.delta", {{"item_id", item_id_},
                                                     {"output_index", output_.size()},
                                                     {"content_index", 0},
                                                     {"delta", d.reasoning}});
    }
    if (!d.content.empty()) {
      out += Open(Kind::kMessage);
      text_ += d.content;
      out += Event("response.output_text.delta", {{"item_id", item_id_},
                                                  {"output_index", output_.size()},
                                                  {"content_index", 0},
                                                  {"delta", d.content},
                                                  {"logprobs", Json::array()}});
    }
    for (const auto& piece : d.tool_calls) {
      if (!piece.name.empty()) {
        out += Close();
        open_ = Kind::kCall;
        const size_t index = output_.size();
        item_id_ = ItemId(info_, "fc_", index);
        call_id_ = ItemId(info_, "call_", index);
        call_name_ = piece.name;
        out += Event("response.output_item.added",
                     {{"output_index", index},
                      {"item", FunctionCallItem(item_id_, call_id_, call_name_, "", true)}});
        ++streamed_calls_;
      }
      if (!piece.arguments.empty()) {
        text_ += piece.arguments;
        out += Event(
            "response.function_call_arguments.delta",
            {{"item_id", item_id_}, {"output_index", output_.size()}, {"delta", piece.arguments}});
      }
      if (piece.done) {
        call_closed_ = true;
        out += Close();
        call_closed_ = false;
      }
    }
    return out;
  }

  std::string End(const ChatResult& r) override {
    std::string out = Close();
    for (size_t i = streamed_calls_; i < r.message.tool_calls.size(); ++i) {
      const auto& c = r.message.tool_calls[i];
      const size_t index = output_.size();
      const std::string id = ItemId(info_, "fc_", index);
      const std::string call_id = ItemId(info_, "call_", index);
      out += Event(
          "response.output_item.added",
          {{"output_index", index}, {"item", FunctionCallItem(id, call_id, c.name, "", true)}});
      out += Event("response.function_call_arguments.delta",
                   {{"item_id", id}, {"output_index", index}, {"delta", c.arguments}});
      out += Event("response.function_call_arguments.done",
                   {{"item_id", id}, {"output_index", index}, {"arguments", c.arguments}});
      Json item = FunctionCallItem(id, call_id, c.name, c.arguments);
      out += Event("response.output_item.done", {{"output_index", index}, {"item", item}});
      output_.push_back(std::move(item));
    }
    const bool incomplete = Incomplete(r);
    const std::string status = incomplete ? "incomplete" : "completed";
    return out + Event(incomplete ? "response.incomplete" : "response.completed",
                       {{"response", ResponseObject(echo_, info_, status, output_, &r.usage)}});
  }

  std::string Error(const WireError& e) override {
    std::string out = began_ ? "" : Begin({});
    return out +
           Event("response.failed",
                 {{"response", ResponseObject(echo_, info_, "failed", output_, nullptr, &e)}});
  }

 private:
  enum class Kind { kNone, kReasoning, kMessage, kCall };

  std::string Event(const std::string& type, Json data) {
    Json event = {{"type", type}, {"sequence_number", sequence_++}};
    for (auto& [k, v] : data.items()) event[k] = std::move(v);
    return SseEvent(type, event);
  }
  std::string Open(Kind kind) {
    if (open_ == kind) return "";
    std::string out = Close();
    open_ = kind;
    const size_t index = output_.size();
    if (kind == Kind::kReasoning) {
      item_id_ = ItemId(info_, "rs_", index);
      return out + Event("response.output_item.added",
                         {{"output_index", index},
                          {"item", ReasoningItem(item_id_, "", encrypted_, true)}});
    }
    item_id_ = ItemId(info_, "msg_", index);
    out += Event("response.output_item.added",
                 {{"output_index", index}, {"item", MessageItem(item_id_, "", true)}});
    return out + Event("response.content_part.added", {{"item_id", item_id_},
                                                       {"output_index", index},
                                                       {"content_index", 0},
                                                       {"part", OutputText("")}});
  }
  std::string Close() {
    if (open_ == Kind::kNone) return "";
    const size_t index = output_.size();
    std::string out;
    Json item;
    if (open_ == Kind::kCall) {
      // A call cut off before its invoke closed keeps the arguments it got, as incomplete.
      out += Event("response.function_call_arguments.done",
                   {{"item_id", item_id_}, {"output_index", index}, {"arguments", text_}});
      item = FunctionCallItem(item_id_, call_id_, call_name_, text_);
      if (!call_closed_) item["status"] = "incomplete";
    } else if (open_ == Kind::kReasoning) {
      out += Event(
          "response.reasoning_text.done",
          {{"item_id", item_id_}, {"output_index", index}, {"content_index", 0}, {"text", text_}});
      item = ReasoningItem(item_id_, text_, encrypted_);
    } else {
      out += Event("response.output_text.done", {{"item_id", item_id_},
                                                 {"output_index", index},
                                                 {"content_index", 0},
                                                 {"text", text_},
                                                 {"logprobs", Json::array()}});
      out += Event("response.content_part.done", {{"item_id", item_id_},
                                                  {"output_index", index},
                                                  {"content_index", 0},
                                                  {"part", OutputText(text_)}});
      item = MessageItem(item_id_, text_);
    }
    out += Event("response.output_item.done", {{"output_index", index}, {"item", item}});
    output_.push_back(std::move(item));
    open_ = Kind::kNone;
    text_.clear();
    return out;
  }

  Json echo_;  // the request fields the response object repeats
  ResponseInfo info_;
  bool encrypted_;
  bool began_ = false;
  int64_t sequence_ = 0;
  Kind open_ = Kind::kNone;
  std::string item_id_, text_;       // the open item's id and text (or call arguments) so far
  std::string call_id_, call_name_;  // the open function call's
  bool call_closed_ = false;         // its invoke closed
  size_t streamed_calls_ = 0;
  Json output_ = Json::array();  // finished items
};

}  // namespace

std::string OpenAIResponsesFormat::ErrorBody(const WireError& error) const {
  return server::ErrorBody(error);
}

Expected<WireRequest, WireError> OpenAIResponsesFormat::Parse(
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
  if (body.contains("previous_response_id") && !body["previous_response_id"].is_null()) {
    return MakeUnexpected(BadField(
        "previous_response_id",
        "previous_response_id is not supported: dsagent serve stores no responses; send the whole "
        "conversation in `input` (the prefix cache makes that cheap)"));
  }
  std::string system;
  if (body.contains("instructions") && !body["instructions"].is_null()) {
    if (!body["instructions"].is_string()) {
      return MakeUnexpected(BadField("instructions", "instructions must be a string"));
    }
    system = body["instructions"];
  }
  if (!body.contains("input") || body["input"].is_null()) {
    return MakeUnexpected(BadField("input", "input is required"));
  }
  auto messages = ConvertInput(body["input"], system);
  if (!messages) return MakeUnexpected(messages.error());
  if (!system.empty()) {
    const Json system_message = {{"role", "system"}, {"content", system}};
    messages->insert(messages->begin(), system_message);
  }
  out.chat.messages = std::move(*messages);

  if (body.contains("tools") && !body["tools"].is_null()) {
    auto tools = ConvertResponsesTools(body["tools"]);
    if (!tools) return MakeUnexpected(tools.error());
    if (!tools->empty()) out.chat.tools = std::move(*tools);
  }
  if (body.contains("tool_choice") && !body["tool_choice"].is_null()) {
    const Json& c = body["tool_choice"];
    const std::string mode = c.is_string() ? c.get<std::string>() : "";
    ToolChoice& choice = out.chat.tool_choice;
    if (mode == "none") {
      choice.mode = ToolChoice::Mode::kNone;
      out.chat.tools = Json();
    } else if (mode == "required") {
      choice.mode = ToolChoice::Mode::kRequired;
    } else if (c.is_object() && StringOr(c, "type") == "function" && !StringOr(c, "name").empty()) {
      choice.mode = ToolChoice::Mode::kNamed;
      choice.name = StringOr(c, "name");
    } else if (mode != "auto") {
      return MakeUnexpected(BadField("tool_choice",
                                     "tool_choice must be \"none\", \"auto\", \"required\" or "
                                     "{\"type\": \"function\", \"name\": NAME} (dsagent serve runs "
                                     "function tools only)"));
    }
  }
  auto parallel = BoolField(body, "parallel_tool_calls", true);
  if (!parallel) return MakeUnexpected(parallel.error());
  out.chat.parallel_tool_calls = *parallel;

  out.chat.thinking = true;
  if (body.contains("reasoning") && !body["reasoning"].is_null()) {
    const Json& r = body["reasoning"];
    if (!r.is_object()) return MakeUnexpected(BadField("reasoning", "reasoning must be an object"));
    if (r.contains("effort") && !r["effort"].is_null()) {
      if (!r["effort"].is_string()) {
        return MakeUnexpected(BadField("reasoning.effort", "reasoning.effort must be a string"));
      }
      const std::string e = r["effort"];
      if (e == "none") {
        out.chat.thinking = false;
      } else if (e == "xhigh" || e == "max") {
        out.chat.reasoning_effort = "max";
      } else if (e == "minimal" || e == "low" || e == "medium" || e == "high") {
        out.chat.reasoning_effort = "high";
      } else {
        return MakeUnexpected(
            BadField("reasoning.effort",
                     "reasoning.effort must be none, minimal, low, medium, high or xhigh"));
      }
      out.echo["reasoning_effort"] = e;
    }
  }

  GenerateOptions& g = out.chat.generate;
  g.context_limit = defaults.context_limit;
  auto max_tokens = IntegerField(body, "max_output_tokens", defaults.max_tokens);
  if (!max_tokens) return MakeUnexpected(max_tokens.error());
  auto budget = CompletionBudget(*max_tokens, "max_output_tokens", defaults);
  if (!budget) return MakeUnexpected(budget.error());
  g.max_tokens = *budget;
  auto sampling = ParseSampling(body);
  if (!sampling) return MakeUnexpected(sampling.error());
  g.sampling = *sampling;
  if (auto ok = CheckToolChoice(out.chat, "tool_choice"); !ok) return MakeUnexpected(ok.error());

  for (const char* key : {"instructions", "max_output_tokens", "parallel_tool_calls", "temperature",
                          "tool_choice", "tools", "top_p", "metadata", "include"}) {
    if (body.contains(key) && !body[key].is_null()) out.echo[key] = body[key];
  }
  return out;
}

std::string OpenAIResponsesFormat::Body(const WireRequest& request, const ResponseInfo& info,
                                        const ChatResult& r) const {
  Json output = Json::array();
  if (request.chat.thinking && !r.message.reasoning.empty()) {
    output.push_back(ReasoningItem(ItemId(info, "rs_", output.size()), r.message.reasoning,
                                   WantsEncrypted(request)));
  }
  if (!r.message.content.empty()) {
    output.push_back(MessageItem(ItemId(info, "msg_", output.size()), r.message.content));
  }
  for (const auto& c : r.message.tool_calls) {
    const size_t index = output.size();
    output.push_back(FunctionCallItem(ItemId(info, "fc_", index), ItemId(info, "call_", index),
                                      c.name, c.arguments));
  }
  return DumpJson(ResponseObject(request.echo, info, Incomplete(r) ? "incomplete" : "completed",
                                 std::move(output), &r.usage));
}

std::unique_ptr<WireStream> OpenAIResponsesFormat::Stream(const WireRequest& request,
                                                          const ResponseInfo& info) const {
  return std::make_unique<ResponsesStream>(request, info);
}

}  // namespace dsagent::engine::server
