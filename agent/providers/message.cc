#include "agent/providers/message.h"

#include <stdexcept>

#include "common/name_table.h"

namespace dsagent {
namespace {
constexpr EnumName<Role> kRoleNames[] = {{Role::kSystem, "system"},
                                         {Role::kUser, "user"},
                                         {Role::kAssistant, "assistant"},
                                         {Role::kTool, "tool"}};

Role RoleFromName(const std::string& name) {
  if (auto role = ValueNamed(kRoleNames, name)) return *role;
  throw std::invalid_argument("unknown message role: " + name);
}
}  // namespace

const char* RoleName(Role role) { return NameOf(kRoleNames, role).data(); }

Json MessageToJson(const Message& m) {
  Json j = {{"role", RoleName(m.role)}, {"content", m.content}};
  if (m.role == Role::kAssistant) {
    if (m.has_reasoning) j["reasoning_content"] = m.reasoning;
    if (!m.tool_calls.empty()) {
      Json calls = Json::array();
      for (const auto& c : m.tool_calls) {
        calls.push_back({{"id", c.id},
                         {"type", "function"},
                         {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
      }
      j["tool_calls"] = std::move(calls);
    }
  }
  if (m.role == Role::kTool) j["tool_call_id"] = m.tool_call_id;
  return j;
}

Message MessageFromJson(const Json& j) {
  Message m;
  m.role = RoleFromName(j.at("role").get<std::string>());
  if (j.contains("content") && j["content"].is_string())
    m.content = j["content"].get<std::string>();
  if (j.contains("reasoning_content") && j["reasoning_content"].is_string()) {
    m.reasoning = j["reasoning_content"].get<std::string>();
    m.has_reasoning = true;
  }
  if (j.contains("tool_calls")) {
    for (const auto& c : j["tool_calls"]) {
      m.tool_calls.push_back({c.at("id").get<std::string>(),
                              c.at("function").at("name").get<std::string>(),
                              c.at("function").at("arguments").get<std::string>()});
    }
  }
  if (j.contains("tool_call_id")) m.tool_call_id = j["tool_call_id"].get<std::string>();
  return m;
}

Message SystemMessage(std::string content) {
  Message m;
  m.role = Role::kSystem;
  m.content = std::move(content);
  return m;
}

Message UserMessage(std::string content) {
  Message m;
  m.role = Role::kUser;
  m.content = std::move(content);
  return m;
}

Message ToolResultMessage(std::string tool_call_id, std::string content) {
  Message m;
  m.role = Role::kTool;
  m.tool_call_id = std::move(tool_call_id);
  m.content = std::move(content);
  return m;
}

}  // namespace dsagent
