#include "agent/core/tool_specs.h"

namespace dsagent {

std::vector<ToolSpec> ToolSpecsOf(const ToolRegistry& registry) {
  std::vector<ToolSpec> specs;
  for (const Tool* tool : registry.Tools()) {
    const std::string name = tool->Name();
    specs.push_back({name, registry.Description(name), tool->Schema()});
  }
  return specs;
}

}  // namespace dsagent
