#include "engine/chat/chat_encoding.h"

#include <algorithm>
#include <map>
#include <vector>

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

// Tool messages become user messages of tool_result blocks; consecutive results (and a plain user
// text right after them) merge, ordered like the preceding assistant's tool_calls.
Expected<std::vector<OrderedJson>, std::string> Preprocess(const OrderedJson& messages) {
  std::vector<OrderedJson> out;
  std::vector<std::string> call_order;  // tool_call ids of the last assistant message
  bool merging = false;                 // the last output message is a merged tool-result user
  for (size_t i = 0; i < messages.size(); ++i) {
    const OrderedJson& m = messages[i];
    const std::string role = Str(m, "role");
    if (role == "tool") {
      OrderedJson block = {{"type", "tool_result"},
                           {"tool_call_id", Str(m, "tool_call_id")},
                           {"content", m.contains("content") ? m["content"] : OrderedJson("")}};
      if (!merging) {
        out.push_back({{"role", "user"}, {"content", OrderedJson::array()}});
        merging = true;
      }
      out.back()["content"].push_back(block);
      continue;
    }
    if (role == "user" && merging && !m.contains("task")) {
      out.back()["content"].push_back({{"type", "text"}, {"text", m.value("content", "")}});
      continue;
    }
    if (merging) {
      OrderLikeCalls(call_order, out.back()["content"]);
      merging = false;
    }
    static const char* kRoles[] = {"system", "user", "assistant", "developer", "latest_reminder"};
    if (std::find(std::begin(kRoles), std::end(kRoles), role) == std::end(kRoles)) {
      return MakeUnexpected("message " + std::to_string(i) + ": unknown role '" + role + "'");
    }
    if (role == "assistant") {
      call_order.clear();
      if (m.contains("tool_calls") && m["tool_calls"].is_array()) {
        for (const auto& c : m["tool_calls"]) call_order.push_back(Str(c, "id"));
      }
    }
    out.push_back(m);
  }
  if (merging) OrderLikeCalls(call_order, out.back()["content"]);
  return out;
}

}  // namespace

std::string RenderToolsBlock(const OrderedJson& tools) {
  std::string out = kToolsHeader;
  for (const auto& t : tools) {
    out += PythonJsonDumps(t.contains("function") ? t["function"] : t) + "\n";
  }
  return out + kToolsFooter;
}

Expected<std::string, std::string> EncodeMessages(const OrderedJson& input,
                                                  const ChatEncodeOptions& options) {
  if (!input.is_array()) return MakeUnexpected("messages must be a JSON array");
  auto pre = Preprocess(input);
  if (!pre) return MakeUnexpected(pre.error());
  std::vector<OrderedJson> msgs = std::move(*pre);

  bool drop_thinking = options.drop_thinking;
  for (const auto& m : msgs) {
    if (m.contains("tools") && !m["tools"].empty()) drop_thinking = false;
  }
  int last_user = -1;
  for (size_t i = 0; i < msgs.size(); ++i) {
    const std::string role = Str(msgs[i], "role");
    if (role == "user" || role == "developer") last_user = static_cast<int>(i);
  }
  if (options.thinking && drop_thinking) {
    std::vector<OrderedJson> kept;
    int new_last = -1;
    for (size_t i = 0; i < msgs.size(); ++i) {
      const std::string role = Str(msgs[i], "role");
      if (static_cast<int>(i) < last_user && role == "developer") continue;
      if (static_cast<int>(i) == last_user) new_last = static_cast<int>(kept.size());
      kept.push_back(msgs[i]);
    }
    msgs = std::move(kept);
    last_user = new_last;
  }

  std::string out;
  if (options.add_bos) out += tokens::kBos;
  if (options.thinking && options.reasoning_effort == "max") out += kMaxEffortPreamble;

  bool pending_transition = false;  // a user/developer message awaits "<｜Assistant｜>..."
  bool pending_think = false;       // ... and whether it opens <think>
  bool after_task = false;          // the previous message carried a task
  for (size_t i = 0; i < msgs.size(); ++i) {
    const OrderedJson& m = msgs[i];
    const std::string role = Str(m, "role");
    const std::string task = Str(m, "task");
    if (pending_transition && role != "latest_reminder") {
      out += std::string(tokens::kAssistant) + (pending_think ? tokens::kThink : tokens::kEndThink);
      pending_transition = false;
    }
    if (role == "system") {
      out += Str(m, "content");
      if (m.contains("tools") && !m["tools"].empty()) out += "\n\n" + RenderToolsBlock(m["tools"]);
    } else if (role == "latest_reminder") {
      out += std::string(tokens::kLatestReminder) + Str(m, "content");
    } else if (role == "user" || role == "developer") {
      out += std::string(tokens::kUser) +
             RenderUserContent(m.contains("content") ? m["content"] : OrderedJson(""));
      if (m.contains("tools") && !m["tools"].empty()) out += "\n\n" + RenderToolsBlock(m["tools"]);
      const bool think = options.thinking && (!drop_thinking || static_cast<int>(i) == last_user);
      if (task == "action") {
        out += std::string(tokens::kAssistant) +
               (options.thinking ? tokens::kThink : tokens::kEndThink) + TaskTokens().at("action");
      } else if (!task.empty() && TaskTokens().count(task) && task != "title") {
        out += TaskTokens().at(task);
      } else {
        pending_transition = true;
        pending_think = think;
      }
    } else if (role == "assistant") {
      std::string thinking;
      if (options.thinking && !after_task && (!drop_thinking || static_cast<int>(i) > last_user)) {
        thinking = Str(m, "reasoning_content") + tokens::kEndThink;
      }
      out += thinking + Str(m, "content") +
             RenderToolCalls(m.contains("tool_calls") ? m["tool_calls"] : OrderedJson());
      if (!m.value("wo_eos", false)) out += tokens::kEos;
      if (task == "title") out += TaskTokens().at("title");
    }
    after_task = !task.empty();
  }
  if (pending_transition) {
    out += std::string(tokens::kAssistant) + (pending_think ? tokens::kThink : tokens::kEndThink);
  }
  return out;
}

}  // namespace dsagent::engine
