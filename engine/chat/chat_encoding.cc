#include "engine/chat/chat_encoding.h"

#include <algorithm>
#include <map>
#include <vector>

#include "engine/chat/chat_encoding_steps.h"

namespace dsagent::engine {
namespace {

constexpr const char* kMaxEffortPreamble =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to "
    "resolve the root cause, rigorously stress-testing your logic against all potential paths, "
    "edge cases, and adversarial scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, "
    "considered alternative, and rejected hypothesis to ensure absolutely no assumption is left "
    "unchecked.\n\n";

constexpr const char* kToolsHeader =
    "## Tools\n\n"
    "You have access to a set of tools to help answer the user's question. You can invoke tools "
    "by writing a \"<｜DSML｜tool_calls>\" block like the following:\n\n"
    "<｜DSML｜tool_calls>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME\">\n"
    "<｜DSML｜parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</｜DSML｜"
    "parameter>\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME2\">\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "</｜DSML｜tool_calls>\n\n"
    "String parameters should be specified as is and set `string=\"true\"`. For all other types "
    "(numbers, booleans, arrays, objects), pass the value in JSON format and set "
    "`string=\"false\"`.\n\n"
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning "
    "inside <think>...</think> BEFORE any tool calls or final response.\n\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n\n"
    "### Available Tool Schemas\n\n";

constexpr const char* kToolsFooter =
    "\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke tool "
    "calls.\n";

const std::map<std::string, std::string>& TaskTokens() {
  static const std::map<std::string, std::string> kTokens = {
      {"action", "<｜action｜>"}, {"query", "<｜query｜>"}, {"authority", "<｜authority｜>"},
      {"domain", "<｜domain｜>"}, {"title", "<｜title｜>"}, {"read_url", "<｜read_url｜>"}};
  return kTokens;
}

std::string Str(const OrderedJson& m, const char* key) {
  return m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : std::string();
}

// User content: a string, or blocks ({type:text,text} / {type:tool_result,content}).
std::string RenderUserContent(const OrderedJson& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  bool first = true;
  for (const auto& block : content) {
    if (!first) out += "\n\n";
    first = false;
    const std::string type = Str(block, "type");
    if (type == "tool_result") {
      const OrderedJson& c = block["content"];
      std::string text;
      if (c.is_string()) {
        text = c.get<std::string>();
      } else if (c.is_array()) {
        bool f = true;
        for (const auto& part : c) {
          if (!f) text += "\n\n";
          f = false;
          text += Str(part, "text");
        }
      }
      out += "<tool_result>" + text + "</tool_result>";
    } else {
      out += Str(block, "text");
    }
  }
  return out;
}

std::string RenderToolCalls(const OrderedJson& calls) {
  if (!calls.is_array() || calls.empty()) return "";
  std::string out = "\n\n<｜DSML｜tool_calls>\n";
  for (size_t i = 0; i < calls.size(); ++i) {
    const OrderedJson& fn = calls[i]["function"];
    if (i) out += "\n";
    out += "<｜DSML｜invoke name=\"" + Str(fn, "name") + "\">\n";
    OrderedJson args;
    const OrderedJson& raw = fn["arguments"];
    if (raw.is_string()) {
      args = OrderedJson::parse(raw.get<std::string>(), nullptr, false);
      if (args.is_discarded() || !args.is_object()) args = OrderedJson{{"arguments", raw}};
    } else {
      args = raw.is_object() ? raw : OrderedJson{{"arguments", raw}};
    }
    bool first = true;
    for (const auto& [k, v] : args.items()) {
      if (!first) out += "\n";
      first = false;
      if (v.is_string()) {
        out += "<｜DSML｜parameter name=\"" + k + "\" string=\"true\">" + v.get<std::string>() +
               "</｜DSML｜parameter>";
      } else {
        out += "<｜DSML｜parameter name=\"" + k + "\" string=\"false\">" + PythonJsonDumps(v) +
               "</｜DSML｜parameter>";
      }
    }
    out += "\n</｜DSML｜invoke>";
  }
  return out + "\n</｜DSML｜tool_calls>";
}

// Puts the tool_result blocks in the order of `call_order` (the ids of the assistant's tool calls);
// results for unknown ids and text blocks follow in their original order.
void OrderLikeCalls(const std::vector<std::string>& call_order, OrderedJson& blocks) {
  const auto is_known_result = [&](const OrderedJson& b) {
    return Str(b, "type") == "tool_result" && std::find(call_order.begin(), call_order.end(),
                                                        Str(b, "tool_call_id")) != call_order.end();
  };
  std::vector<OrderedJson> sorted;
  for (const auto& id : call_order) {
    for (const auto& b : blocks) {
      if (is_known_result(b) && Str(b, "tool_call_id") == id) sorted.push_back(b);
    }
  }
  for (const auto& b : blocks) {
    if (!is_known_result(b)) sorted.push_back(b);
  }
  blocks = OrderedJson(sorted);
}

}  // namespace

std::string RenderToolsBlock(const OrderedJson& tools) {
  std::string out = kToolsHeader;
  for (const auto& t : tools) {
    out += PythonJsonDumps(t.contains("function") ? t["function"] : t) + "\n";
  }
  return out + kToolsFooter;
}

namespace chat_steps {

Expected<Ok, std::string> MessagePreprocessor::Add(const OrderedJson& m, size_t index) {
  const std::string role = Str(m, "role");
  if (role == "tool") {
    OrderedJson block = {{"type", "tool_result"},
                         {"tool_call_id", Str(m, "tool_call_id")},
                         {"content", m.contains("content") ? m["content"] : OrderedJson("")}};
    if (!merging_) {
      out_.push_back({{"role", "user"}, {"content", OrderedJson::array()}});
      merging_ = true;
    }
    out_.back()["content"].push_back(std::move(block));
    return Ok{};
  }
  if (role == "user" && merging_ && !m.contains("task")) {
    out_.back()["content"].push_back({{"type", "text"}, {"text", m.value("content", "")}});
    return Ok{};
  }
  static const char* kRoles[] = {"system", "user", "assistant", "developer", "latest_reminder"};
  if (std::find(std::begin(kRoles), std::end(kRoles), role) == std::end(kRoles)) {
    return MakeUnexpected("message " + std::to_string(index) + ": unknown role '" + role + "'");
  }
  Finish();
  if (role == "assistant") {
    call_order_.clear();
    if (m.contains("tool_calls") && m["tool_calls"].is_array()) {
      for (const auto& c : m["tool_calls"]) call_order_.push_back(Str(c, "id"));
    }
  }
  out_.push_back(m);
  return Ok{};
}

void MessagePreprocessor::Finish() {
  if (!merging_) return;
  OrderLikeCalls(call_order_, out_.back()["content"]);
  merging_ = false;
}

OrderedJson MessagePreprocessor::ClosedLast() const {
  OrderedJson last = out_.back();
  if (merging_) OrderLikeCalls(call_order_, last["content"]);
  return last;
}

bool CarriesTools(const OrderedJson& m) { return m.contains("tools") && !m["tools"].empty(); }

bool IsUserTurn(const OrderedJson& m) {
  const std::string role = Str(m, "role");
  return role == "user" || role == "developer";
}

bool Skipped(const OrderedJson& m, int i, const EncodeScope& scope) {
  return scope.options->thinking && scope.drop_thinking && i < scope.last_user &&
         Str(m, "role") == "developer";
}

std::string RenderStart(const ChatEncodeOptions& options) {
  std::string out;
  if (options.add_bos) out += tokens::kBos;
  if (options.thinking && options.reasoning_effort == "max") out += kMaxEffortPreamble;
  return out;
}

void RenderMessage(const OrderedJson& m, int i, const EncodeScope& scope, EncodeState& state,
                   std::string& out) {
  const ChatEncodeOptions& options = *scope.options;
  const std::string role = Str(m, "role");
  const std::string task = Str(m, "task");
  if (state.pending_transition && role != "latest_reminder") {
    out += std::string(tokens::kAssistant) +
           (state.pending_think ? tokens::kThink : tokens::kEndThink);
    state.pending_transition = false;
  }
  if (role == "system") {
    out += Str(m, "content");
    if (CarriesTools(m)) out += "\n\n" + RenderToolsBlock(m["tools"]);
  } else if (role == "latest_reminder") {
    out += std::string(tokens::kLatestReminder) + Str(m, "content");
  } else if (role == "user" || role == "developer") {
    out += std::string(tokens::kUser) +
           RenderUserContent(m.contains("content") ? m["content"] : OrderedJson(""));
    if (CarriesTools(m)) out += "\n\n" + RenderToolsBlock(m["tools"]);
    const bool think = options.thinking && (!scope.drop_thinking || i == scope.last_user);
    if (task == "action") {
      out += std::string(tokens::kAssistant) +
             (options.thinking ? tokens::kThink : tokens::kEndThink) + TaskTokens().at("action");
    } else if (!task.empty() && TaskTokens().count(task) && task != "title") {
      out += TaskTokens().at(task);
    } else {
      state.pending_transition = true;
      state.pending_think = think;
    }
  } else if (role == "assistant") {
    std::string thinking;
    if (options.thinking && !state.after_task && (!scope.drop_thinking || i > scope.last_user)) {
      thinking = Str(m, "reasoning_content") + tokens::kEndThink;
    }
    out += thinking + Str(m, "content") +
           RenderToolCalls(m.contains("tool_calls") ? m["tool_calls"] : OrderedJson());
    if (!m.value("wo_eos", false)) out += tokens::kEos;
    if (task == "title") out += TaskTokens().at("title");
  }
  state.after_task = !task.empty();
}

void RenderEnd(const EncodeState& state, std::string& out) {
  if (state.pending_transition) {
    out += std::string(tokens::kAssistant) +
           (state.pending_think ? tokens::kThink : tokens::kEndThink);
  }
}

}  // namespace chat_steps

Expected<std::string, std::string> EncodeMessages(const OrderedJson& input,
                                                  const ChatEncodeOptions& options) {
  using namespace chat_steps;
  if (!input.is_array()) return MakeUnexpected("messages must be a JSON array");
  MessagePreprocessor pre;
  for (size_t i = 0; i < input.size(); ++i) {
    if (auto added = pre.Add(input[i], i); !added) return MakeUnexpected(added.error());
  }
  pre.Finish();
  const std::vector<OrderedJson>& msgs = pre.messages();

  EncodeScope scope{.options = &options, .drop_thinking = options.drop_thinking, .last_user = -1};
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (CarriesTools(msgs[i])) scope.drop_thinking = false;
    if (IsUserTurn(msgs[i])) scope.last_user = static_cast<int>(i);
  }
  std::string out = RenderStart(options);
  EncodeState state;
  for (size_t i = 0; i < msgs.size(); ++i) {
    const int at = static_cast<int>(i);
    if (!Skipped(msgs[i], at, scope)) RenderMessage(msgs[i], at, scope, state, out);
  }
  RenderEnd(state, out);
  return out;
}

}  // namespace dsagent::engine
