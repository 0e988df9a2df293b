// The one place the agent describes its tools to the model: a ToolRegistry's tools (tools/) as the
// ToolSpecs a Request carries (agent/providers). The tools and the providers do not know each
// other; each wire format turns a ToolSpec into its own JSON (chat_completions.cc,
// anthropic_messages.cc).
#pragma once

#include <vector>

#include "agent/providers/provider.h"
#include "tools/registry.h"

namespace dsagent {

// One spec per tool in the registry's order (built-ins sorted by name, then external tools): name, description (prompts/tools/<name>.md) and the JSON
// Schema of its arguments.
std::vector<ToolSpec> ToolSpecsOf(const ToolRegistry& registry);

}  // namespace dsagent
