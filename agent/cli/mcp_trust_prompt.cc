#include "agent/cli/mcp_trust_prompt.h"

#include <algorithm>
#include <cctype>

namespace dsagent {

bool AskMcpServerTrust(Screen& screen, LineReader& reader, const McpServerConfig& server) {
  screen.EndLine();
  screen.Line(screen.Paint(Style::kYellow, "? start MCP server ") +
              screen.Paint(Style::kBold, server.name) + " defined by this repository (" +
              server.source.substr(server.source.find(':') + 1) + ")");
  std::string what;
  if (!server.command.empty()) {
    what = "  runs: " + server.command;
    for (const std::string& a : server.args) what += " " + a;
    what += server.sandbox ? "  (sandboxed like shell commands)" : "  (sandbox: false)";
  } else {
    what = "  connects to: " + server.url;
  }
  screen.Line(FitWidth(what, screen.width()));
  std::string names;
  for (const auto& [k, v] : server.env) names += (names.empty() ? "" : ", ") + k;
  if (!names.empty()) screen.Line(screen.Paint(Style::kDim, "  env: " + names));
  names.clear();
  for (const auto& [k, v] : server.headers) names += (names.empty() ? "" : ", ") + k;
  if (!names.empty()) screen.Line(screen.Paint(Style::kDim, "  headers: " + names));
  screen.Line(screen.Paint(Style::kDim,
                           "  y yes · n no  (remembered for this repository until the server's "
                           "definition changes; `dsagent mcp trust|untrust` changes it)"));
  screen.Flush();
  const std::string prompt = screen.Paint(Style::kYellow, "start?") + " ";
  while (true) {
    const InputEvent in = reader.ReadLine(prompt);
    if (in.kind != InputEvent::Kind::kLine) return false;
    std::string answer;
    for (char c : in.text) {
      if (!std::isspace(static_cast<unsigned char>(c))) {
        answer += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
    }
    if (answer == "y" || answer == "yes") return true;
    if (answer == "n" || answer == "no") return false;
    screen.Line(screen.Paint(Style::kDim, "  answer y or n"));
  }
}

}  // namespace dsagent
