#include "tools/mcp/mcp_tool.h"

#include "tools/mcp/mcp_result.h"
#include "tools/tool_util.h"

namespace dsagent {
namespace {

constexpr size_t kMaxToolNameBytes = 64;

std::string Sanitize(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

}  // namespace

std::string McpToolName(const std::string& server, const std::string& tool) {
  std::string name = "mcp__" + Sanitize(server) + "__" + Sanitize(tool);
  if (name.size() > kMaxToolNameBytes) name.resize(kMaxToolNameBytes);
  return name;
}

McpTool::McpTool(std::shared_ptr<McpClient> client, std::string server, McpToolInfo info,
                 std::chrono::milliseconds timeout)
    : client_(std::move(client)),
      server_(std::move(server)),
      info_(std::move(info)),
      timeout_(timeout),
      name_(McpToolName(server_, info_.name)) {}

std::string McpTool::Description() const {
  if (info_.title.empty() || info_.title == info_.name) return info_.description;
  return info_.description.empty() ? info_.title : info_.title + ". " + info_.description;
}

ToolResult McpTool::Run(const Json& args, const ToolContext& ctx) {
  auto result = client_->CallTool(info_.name, args, timeout_, ctx.cancel);
  if (!result) {
    return ErrorResult("MCP server '" + server_ + "', tool " + info_.name + ": " + result.error(),
                       {{"mcp_server", server_}});
  }
  ToolResult out = McpResultToToolResult(*result, ctx.output_cap_bytes);
  out.details["mcp_server"] = server_;
  return out;
}

}  // namespace dsagent
