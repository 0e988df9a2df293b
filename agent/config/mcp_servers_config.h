// The `mcp_servers:` section of the user and repository config files: the MCP servers whose
// tools a session offers (tools/mcp/). Unlike the other settings it is a mapping of names the
// user chooses, so it is read here rather than through the schema of configs/default.yaml:
//
//   mcp_servers:
//     fs:                                   # tools appear as mcp__fs__<tool>
//       command: npx                        # stdio: the server is a child process
//       args: ["-y", "@modelcontextprotocol/server-filesystem", "."]
//       env: {LOG_LEVEL: debug}             # set on top of the scrubbed shell environment
//       cwd: .                              # relative to the workspace; default: the workspace
//       sandbox: false                      # default true: the shell tools' sandbox applies
//     tracker:
//       url: https://mcp.example.com/mcp    # streamable HTTP
//       headers: {Authorization: "Bearer ${TRACKER_TOKEN}"}   # ${VAR} from the environment
//
// Both files may define servers; a repository entry replaces a user entry of the same name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"

namespace dsagent {

struct McpServerConfig {
  std::string name;  // [A-Za-z0-9_-]+ without "__"
  // stdio: command (and args, env, cwd); HTTP: url (and headers). Exactly one of command, url.
  std::string command;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string cwd;  // "" = the workspace
  std::string url;
  std::map<std::string, std::string> headers;  // values as written; ${VAR} expanded at connect
  bool sandbox = true;
  bool enabled = true;
  int64_t startup_timeout_s = 30;
  int64_t tool_timeout_s = 120;
  std::string source;  // "user:<path>" or "repo:<path>"
};

// The servers of one file's `mcp_servers:` section, in file order (none when the file or the
// section is absent). `label` is "user" or "repo". Error (every problem, one per line,
// "<path>:<line>: mcp_servers.<name>[.<field>]: ..."): malformed YAML, a bad server name, an
// unknown field (with the closest known one suggested), a value of the wrong type, both or
// neither of command and url, a url that is not http(s), a timeout below 1.
Expected<std::vector<McpServerConfig>, std::string> ReadMcpServersFromFile(
    const std::filesystem::path& path, const std::string& label);

// `text` with every ${NAME} replaced by env[NAME]. Error: "${NAME} is not set" for a missing or
// empty variable, or an unterminated "${".
Expected<std::string, std::string> ExpandEnvReferences(
    std::string_view text, const std::map<std::string, std::string>& env);

// Writes `server` as mcp_servers.<server.name> into the config file at `path` (created with its
// directory when missing), replacing an entry of that name; RemoveMcpServer takes one out
// (error when there is none). Other settings are kept; the file is rewritten from its parsed form
// (comments are lost). Atomic replace. Error: unreadable or malformed file, a write failure.
Expected<Ok, std::string> WriteMcpServer(const std::filesystem::path& path,
                                         const McpServerConfig& server);
Expected<Ok, std::string> RemoveMcpServer(const std::filesystem::path& path,
                                          const std::string& name);

// True when `name` can name a server ([A-Za-z0-9_-]+, no "__", at most 32 bytes).
bool IsValidMcpServerName(std::string_view name);

}  // namespace dsagent
