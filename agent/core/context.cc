#include "agent/core/context.h"

#include <algorithm>
#include <set>
#include <string_view>
#include <utility>

#include "common/sha256.h"

namespace dsagent {

Context::Context(std::string system_prompt, std::vector<ToolSpec> tools)
    : system_prompt_(std::move(system_prompt)), tools_(std::move(tools)) {
  // Built-in tools sorted by name, then MCP servers' tools (mcp__...) in the order given: the
  // session's fixed order (tools/mcp/mcp_server_set.h), after every built-in.
  const auto key = [](const ToolSpec& t) {
    const bool mcp = t.name.rfind("mcp__", 0) == 0;
    return std::pair<bool, std::string_view>(mcp, mcp ? std::string_view() : t.name);
  };
  std::stable_sort(tools_.begin(), tools_.end(),
                   [&](const ToolSpec& a, const ToolSpec& b) { return key(a) < key(b); });
}

void Context::Append(Message message) { log_.push_back(std::move(message)); }

Request Context::BuildRequest(const Lane& lane, int64_t max_output_tokens,
                              const std::string& user_id) const {
  Request r;
  r.lane = lane;
  r.messages.reserve(log_.size() + 1);
  r.messages.push_back(SystemMessage(system_prompt_));
  r.messages.insert(r.messages.end(), log_.begin(), log_.end());
  r.tools = tools_;
  r.max_output_tokens = max_output_tokens;
  r.user_id = user_id;
  return r;
}

std::string Context::PrefixHash() const {
  return Sha256Hex(CanonicalJson({{"system", system_prompt_}, {"tools", ToolSpecsToJson(tools_)}}));
}

std::vector<ToolCall> Context::UnansweredToolCalls() const {
  // Find the last assistant message; collect tool results after it.
  auto it = std::find_if(log_.rbegin(), log_.rend(),
                         [](const Message& m) { return m.role == Role::kAssistant; });
  if (it == log_.rend()) return {};
  std::set<std::string> answered;
  for (auto fwd = it.base(); fwd != log_.end(); ++fwd) {
    if (fwd->role == Role::kTool) answered.insert(fwd->tool_call_id);
  }
  std::vector<ToolCall> out;
  for (const auto& call : it->tool_calls) {
    if (!answered.count(call.id)) out.push_back(call);
  }
  return out;
}

Json ToolSpecsToJson(const std::vector<ToolSpec>& tools) {
  Json arr = Json::array();
  for (const auto& t : tools) {
    arr.push_back({{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}});
  }
  return arr;
}

std::vector<ToolSpec> ToolSpecsFromJson(const Json& j) {
  std::vector<ToolSpec> out;
  for (const auto& t : j) {
    out.push_back({t.at("name").get<std::string>(), t.at("description").get<std::string>(),
                   t.at("parameters")});
  }
  return out;
}

}  // namespace dsagent
