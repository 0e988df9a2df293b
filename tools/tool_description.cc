#include "prompts/prompts.h"
#include "tools/tool.h"

namespace dsagent {

std::string ToolDescription(const std::string& tool_name) {
  auto text = prompts::Find("tools/" + tool_name + ".md");
  return text ? std::string(*text) : std::string();
}

}  // namespace dsagent
