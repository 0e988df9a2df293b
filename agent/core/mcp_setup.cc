#include "agent/core/mcp_setup.h"

#include <algorithm>

#include "agent/core/run_setup.h"
#include "common/xdg.h"

namespace dsagent {
namespace fs = std::filesystem;

fs::path McpServerLogPath(const std::string& server_name) {
  return XdgStateHome() / "dsagent" / "mcp" / (server_name + ".log");
}

std::vector<McpServerSpec> McpServerSpecsFromConfig(
    const Config& config, const std::vector<McpServerConfig>& servers, const fs::path& workspace,
    const EnvMap& tool_env, const EnvMap& process_env, std::vector<std::string>& problems) {
  std::vector<McpServerSpec> specs;
  const SandboxPolicy sandbox = ToolContextFromConfig(config, workspace).sandbox;
  for (const McpServerConfig& server : servers) {
    if (!server.enabled) continue;
    McpServerSpec spec;
    spec.name = server.name;
    spec.startup_timeout = std::chrono::seconds(server.startup_timeout_s);
    spec.tool_timeout = std::chrono::seconds(server.tool_timeout_s);
    std::string problem;
    if (!server.command.empty()) {
      StdioServerOptions o;
      o.command = server.command;
      o.args = server.args;
      o.cwd = server.cwd.empty() ? workspace : (workspace / server.cwd).lexically_normal();
      o.environment = tool_env;
      for (const auto& [name, value] : server.env) {
        auto expanded = ExpandEnvReferences(value, process_env);
        if (!expanded) {
          problem = "env " + name + ": " + expanded.error();
          break;
        }
        o.environment[name] = *expanded;
      }
      o.stderr_log = McpServerLogPath(server.name);
      if (server.sandbox && sandbox.enabled) o.sandbox = sandbox;
      spec.stdio = std::move(o);
    } else {
      HttpServerOptions o;
      o.url = server.url;
      for (const auto& [name, value] : server.headers) {
        auto expanded = ExpandEnvReferences(value, process_env);
        if (!expanded) {
          problem = "header " + name + ": " + expanded.error();
          break;
        }
        o.headers.push_back(name + ": " + *expanded);
      }
      spec.http = std::move(o);
    }
    if (!problem.empty()) {
      problems.push_back("MCP server '" + server.name + "' (" + server.source +
                         ") is not started: " + problem);
      continue;
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

std::shared_ptr<McpServerSet> AddMcpTools(const Config& config,
                                          const std::vector<McpServerConfig>& servers,
                                          const fs::path& workspace, const EnvMap& tool_env,
                                          ToolRegistry& registry,
                                          std::vector<std::string>& warnings,
                                          const CancelToken& cancel) {
  if (servers.empty()) return nullptr;
  auto specs = McpServerSpecsFromConfig(config, servers, workspace, tool_env,
                                        Config::ProcessEnvironment(), warnings);
  std::shared_ptr<McpServerSet> set = McpServerSet::Connect(specs, DSAGENT_VERSION, cancel);
  for (const McpServerState& state : set->States()) {
    if (!state.connected) {
      warnings.push_back("MCP server '" + state.name + "' is not available: " + state.error);
    }
  }
  for (auto& tool : set->MakeTools()) {
    if (registry.Has(tool->Name())) {
      warnings.push_back("MCP tool " + tool->Name() + " is offered twice; the first is kept");
      continue;
    }
    std::string description = tool->Description();
    registry.AddExternal(std::move(tool), std::move(description));
  }
  return set;
}

namespace {

std::string JoinToolNames(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

McpToolsUpdate ApplyMcpToolChanges(McpServerSet& set, ToolRegistry& registry,
                                   const CancelToken& cancel) {
  McpToolsUpdate update;
  std::vector<std::string> problems;
  for (const McpToolListChange& change : set.Refresh(cancel)) {
    if (!change.error.empty()) {
      problems.push_back("MCP server '" + change.server +
                         "' announced a new tool list that could not be read (" + change.error +
                         "); its tools stay as they were");
      continue;
    }
    for (const std::string& name : change.removed) {
      const std::string full = McpToolName(change.server, name);
      if (registry.RemoveExternal(full)) update.removed.push_back(full);
    }
    for (const McpToolInfo& info : change.changed) {
      auto tool = set.MakeTool(change.server, info);
      if (!tool) continue;
      const std::string full = tool->Name();
      std::string description = tool->Description();
      if (registry.ReplaceExternal(std::move(tool), std::move(description))) {
        update.changed.push_back(full);
      }
    }
    for (const McpToolInfo& info : change.added) {
      auto tool = set.MakeTool(change.server, info);
      if (!tool || registry.Has(tool->Name())) continue;
      const std::string full = tool->Name();
      std::string description = tool->Description();
      registry.AddExternal(std::move(tool), std::move(description));
      update.added.push_back(full);
    }
  }
  std::string note;
  if (!update.added.empty())
    note += " New tools (now offered): " + JoinToolNames(update.added) + ".";
  if (!update.changed.empty()) {
    note += " Changed (read their new descriptions): " + JoinToolNames(update.changed) + ".";
  }
  if (!update.removed.empty()) {
    note += " Removed (no longer available): " + JoinToolNames(update.removed) + ".";
  }
  if (!note.empty()) note = "[dsagent] The MCP tool list changed." + note;
  for (const std::string& p : problems) note += (note.empty() ? "[dsagent] " : " ") + p + ".";
  update.note = std::move(note);
  return update;
}

std::string DescribeMcpServers(const McpServerSet& set, bool with_tools) {
  const std::vector<std::string> changed = set.ChangedServers();
  std::string out;
  for (const McpServerState& s : set.States()) {
    out += s.name + "  (" + s.transport + ")\n";
    if (!s.connected) {
      out += "  failed: " + s.error + "\n";
      continue;
    }
    out += "  connected: " + (s.info.name.empty() ? std::string("server") : s.info.name) +
           (s.info.version.empty() ? "" : " " + s.info.version) + ", MCP " +
           s.info.protocol_version + ", " + std::to_string(s.tools.size()) + " tool" +
           (s.tools.size() == 1 ? "" : "s") + "\n";
    if (std::find(changed.begin(), changed.end(), s.name) != changed.end()) {
      out += "  its tool list changed; the new list is offered from the next step\n";
    }
    if (!with_tools) continue;
    for (const McpToolInfo& t : s.tools) {
      std::string about = !t.title.empty() ? t.title : t.description;
      if (const size_t nl = about.find('\n'); nl != std::string::npos) about.resize(nl);
      constexpr size_t kMaxAbout = 100;
      if (about.size() > kMaxAbout) about = about.substr(0, kMaxAbout) + "...";
      out += "    " + McpToolName(s.name, t.name) + (about.empty() ? "" : "  " + about) + "\n";
    }
  }
  return out;
}

}  // namespace dsagent
