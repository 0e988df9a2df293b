#include "agent/cli/mcp_command.h"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "agent/config/config.h"
#include "agent/core/mcp_setup.h"
#include "agent/core/mcp_trust.h"
#include "agent/core/termination.h"
#include "agent/core/tool_environment.h"
#include "common/xdg.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

fs::path McpRepoDir(const McpCommandOptions& o) {
  return o.repo.empty() ? fs::current_path() : fs::path(o.repo);
}

// The workspace as sessions name it in the trust store (canonical).
fs::path TrustWorkspace(const McpCommandOptions& o) {
  std::error_code ec;
  fs::path canonical = fs::canonical(McpRepoDir(o), ec);
  return ec ? McpRepoDir(o) : canonical;
}

fs::path McpScopeFile(const McpCommandOptions& o) {
  return o.scope == "repo" ? McpRepoDir(o) / ".dsagent" / "config.yaml"
                           : XdgConfigHome() / "dsagent" / "config.yaml";
}

int FailMcpCommand(const std::string& message, int code) {
  std::fprintf(stderr, "dsagent: %s\n", message.c_str());
  return code;
}

// Connects the configured servers (all, or the one named) as a session would and prints them.
int ShowConfiguredMcpServers(const McpCommandOptions& o, bool with_tools,
                             const CancelToken& cancel) {
  auto config = Config::Load({.repo_dir = McpRepoDir(o),
                              .user_file = std::nullopt,
                              .env = Config::ProcessEnvironment(),
                              .flags = {}});
  if (!config) return FailMcpCommand(config.error(), kExitConfigAuth);
  const auto& servers = config->McpServers();
  const McpServerConfig* named = nullptr;
  for (const McpServerConfig& s : servers) {
    if (s.name == o.name) named = &s;
  }
  if (!o.name.empty() && named == nullptr) {
    return FailMcpCommand(
        "no MCP server '" + o.name + "' is configured; `dsagent mcp list` shows them", kExitUsage);
  }
  if (servers.empty()) {
    std::cout << "No MCP servers configured. Add one with `dsagent mcp add NAME -- COMMAND "
                 "[ARGS...]` (stdio) or `dsagent mcp add NAME --url URL` (HTTP).\n";
    return kExitDone;
  }
  auto tool_env = ToolEnvironmentFromConfig(*config, Config::ProcessEnvironment());
  if (!tool_env) return FailMcpCommand(tool_env.error(), kExitConfigAuth);
  const McpServerSelection selection =
      o.trust_repo_mcp
          ? McpServerSelection{.start = servers, .untrusted = {}, .notes = {}}
          : SelectTrustedMcpServers(*config, TrustWorkspace(o), McpTrustFront::kInspect, nullptr,
                                    McpTrustStore(McpTrustStorePath()));
  std::vector<std::string> problems;
  auto specs =
      McpServerSpecsFromConfig(*config, selection.start, McpRepoDir(o), tool_env->child.vars,
                               Config::ProcessEnvironment(), problems);
  if (named != nullptr) {
    std::erase_if(specs, [&](const McpServerSpec& s) { return s.name != o.name; });
    std::cout << named->name << "  (from " << named->source << ")\n";
    if (!named->command.empty()) {
      std::cout << "  command: " << named->command;
      for (const std::string& a : named->args) std::cout << " " << a;
      std::cout << "\n  cwd: " << (named->cwd.empty() ? "(the workspace)" : named->cwd)
                << "\n  sandbox: " << (named->sandbox ? "as shell commands" : "off")
                << "\n  stderr log: " << McpServerLogPath(named->name).string() << "\n";
      for (const auto& [k, v] : named->env) std::cout << "  env: " << k << "\n";  // no values
    } else {
      std::cout << "  url: " << named->url << "\n";
      for (const auto& [k, v] : named->headers) std::cout << "  header: " << k << "\n";
    }
    std::cout << "  timeouts: startup " << named->startup_timeout_s << " s, tool call "
              << named->tool_timeout_s << " s\n";
  }
  for (const std::string& p : problems) std::cout << p << "\n";
  for (const McpServerConfig& s : servers) {
    if (!s.enabled && (named == nullptr || named == &s)) std::cout << s.name << "  disabled\n";
  }
  for (const McpServerConfig& s : selection.untrusted) {
    if (named != nullptr && named->name != s.name) continue;
    std::cout << UntrustedMcpServerLine(s, true) << "\n";
  }
  auto set = McpServerSet::Connect(specs, DSAGENT_VERSION, cancel);
  std::cout << DescribeMcpServers(*set, with_tools);
  for (const McpServerState& s : set->States()) {
    if (!s.connected) return kExitError;
  }
  return kExitDone;
}

int AddConfiguredMcpServer(const McpCommandOptions& o) {
  if (!IsValidMcpServerName(o.name)) {
    return FailMcpCommand(
        "'" + o.name + "' cannot name a server: use 1-32 letters, digits, '-' or '_', without '__'",
        kExitUsage);
  }
  if (o.url.empty() == o.command.empty()) {
    return FailMcpCommand(
        "give either --url URL (an HTTP server) or -- COMMAND [ARGS...] (a stdio server)",
        kExitUsage);
  }
  McpServerConfig server;
  server.name = o.name;
  server.url = o.url;
  if (!o.command.empty()) {
    server.command = o.command[0];
    server.args.assign(o.command.begin() + 1, o.command.end());
  }
  server.cwd = o.cwd;
  server.sandbox = !o.no_sandbox;
  for (const std::string& e : o.env) {
    const size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0)
      return FailMcpCommand("--env expects NAME=VALUE", kExitUsage);
    server.env[e.substr(0, eq)] = e.substr(eq + 1);
  }
  for (const std::string& h : o.headers) {
    const size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      return FailMcpCommand("--header expects 'Name: value'", kExitUsage);
    }
    std::string value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    server.headers[h.substr(0, colon)] = value;
  }
  const fs::path file = McpScopeFile(o);
  if (auto written = WriteMcpServer(file, server); !written) {
    return FailMcpCommand(written.error(), kExitError);
  }
  if (o.scope == "repo") {
    // The user wrote this definition: sessions here need not ask about it.
    server.source = "repo:" + file.string();
    if (auto r = McpTrustStore(McpTrustStorePath()).Record(TrustWorkspace(o), server, true); !r) {
      std::fprintf(stderr, "dsagent: warning: %s\n", r.error().c_str());
    }
  }
  std::cout << "Added MCP server '" << o.name << "' to " << file.string()
            << ". Its tools appear as mcp__" << o.name << "__<tool> from the next session.\n";
  return kExitDone;
}

// `mcp trust|untrust NAME`: remembers the answer for a server the repository defines.
int TrustRepoMcpServer(const McpCommandOptions& o, bool trusted) {
  auto config = Config::Load({.repo_dir = McpRepoDir(o),
                              .user_file = std::nullopt,
                              .env = Config::ProcessEnvironment(),
                              .flags = {}});
  if (!config) return FailMcpCommand(config.error(), kExitConfigAuth);
  for (const McpServerConfig& s : config->McpServers()) {
    if (s.name != o.name) continue;
    if (!IsRepoMcpServer(s)) {
      return FailMcpCommand("MCP server '" + o.name + "' comes from your user config (" + s.source +
                                "); only servers a repository defines need trust",
                            kExitUsage);
    }
    const McpTrustStore store(McpTrustStorePath());
    if (auto r = store.Record(TrustWorkspace(o), s, trusted); !r)
      return FailMcpCommand(r.error(), kExitError);
    std::cout << (trusted ? "Trusted" : "Declined") << " MCP server '" << o.name << "' for "
              << TrustWorkspace(o).string()
              << (trusted ? "; it starts in sessions here until its definition changes.\n"
                          : "; it does not start in sessions here.\n");
    return kExitDone;
  }
  return FailMcpCommand(
      "no MCP server '" + o.name + "' is configured; `dsagent mcp list` shows them", kExitUsage);
}

int RemoveConfiguredMcpServer(const McpCommandOptions& o) {
  const fs::path file = McpScopeFile(o);
  if (auto removed = RemoveMcpServer(file, o.name); !removed) {
    return FailMcpCommand(removed.error(), kExitUsage);
  }
  std::cout << "Removed MCP server '" << o.name << "' from " << file.string() << ".\n";
  return kExitDone;
}

}  // namespace

void AddMcpCommand(CLI::App& app, CommandTable& table) {
  auto options = std::make_shared<McpCommandOptions>();
  McpCommandOptions& o = *options;
  auto* cmd = app.add_subcommand("mcp", "MCP servers: list, inspect, add and remove");
  cmd->require_subcommand(1);
  const auto repo_option = [&](CLI::App* sub) {
    sub->add_option("--repo", o.repo, "Repository whose .dsagent/config.yaml applies");
  };
  const auto trust_option = [&](CLI::App* sub) {
    sub->add_flag("--trust-repo-mcp", o.trust_repo_mcp,
                  "Also start servers the repository defines that are not trusted here");
  };
  o.list = cmd->add_subcommand("list", "Connect to every configured server and show its state");
  repo_option(o.list);
  trust_option(o.list);
  o.get = cmd->add_subcommand("get", "One server's settings, state and tools");
  o.get->add_option("name", o.name, "Server name")->required();
  repo_option(o.get);
  trust_option(o.get);
  o.add = cmd->add_subcommand(
      "add", "Add a server: `mcp add NAME -- COMMAND ARGS...` or `mcp add NAME --url URL`");
  o.add->add_option("name", o.name, "Server name (tools appear as mcp__NAME__TOOL)")->required();
  o.add->add_option("command", o.command, "The stdio server's command and arguments (after --)");
  o.add->add_option("--url", o.url, "A streamable HTTP server's endpoint");
  o.add->add_option("--env", o.env, "NAME=VALUE set for a stdio server (${VAR} expands)");
  o.add->add_option("--header", o.headers, "'Name: value' sent to an HTTP server (${VAR} expands)");
  o.add->add_option("--cwd", o.cwd, "A stdio server's directory, relative to the workspace");
  o.add->add_flag("--no-sandbox", o.no_sandbox, "Run a stdio server outside the sandbox");
  o.add->add_option("--scope", o.scope, "user (your config) or repo (.dsagent/config.yaml)")
      ->check(CLI::IsMember({"user", "repo"}));
  repo_option(o.add);
  o.remove = cmd->add_subcommand("remove", "Remove a server from the user or repo config file");
  o.remove->add_option("name", o.name, "Server name")->required();
  o.remove->add_option("--scope", o.scope, "user or repo")->check(CLI::IsMember({"user", "repo"}));
  repo_option(o.remove);
  o.trust = cmd->add_subcommand(
      "trust", "Let a server the repository's config defines start in sessions here");
  o.trust->add_option("name", o.name, "Server name")->required();
  repo_option(o.trust);
  o.untrust = cmd->add_subcommand(
      "untrust", "Keep a server the repository's config defines from starting here");
  o.untrust->add_option("name", o.name, "Server name")->required();
  repo_option(o.untrust);
  // list and get wait on servers, so Ctrl-C cancels them; the others only edit a file.
  table.BindCancellable(o.list, [options](const CancelToken& cancel) {
    return ShowConfiguredMcpServers(*options, false, cancel);
  });
  table.BindCancellable(o.get, [options](const CancelToken& cancel) {
    return ShowConfiguredMcpServers(*options, true, cancel);
  });
  table.Bind(o.add, [options] { return AddConfiguredMcpServer(*options); });
  table.Bind(o.remove, [options] { return RemoveConfiguredMcpServer(*options); });
  table.Bind(o.trust, [options] { return TrustRepoMcpServer(*options, true); });
  table.Bind(o.untrust, [options] { return TrustRepoMcpServer(*options, false); });
}

}  // namespace dsagent
