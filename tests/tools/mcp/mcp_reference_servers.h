// Where the MCP reference servers from npm live once scripts/setup.sh installed them
// (.deps/npm), and how to start one over stdio. Tests skip, with a message saying how to install
// them, when they are missing.
#pragma once

#include <filesystem>
#include <string>

#include "common/process_env.h"
#include "tools/mcp/stdio_transport.h"

namespace dsagent::testing {

// dist/index.js of @modelcontextprotocol/<package>; empty when not installed or node is missing.
inline std::filesystem::path ReferenceServerScript(const std::string& package) {
  const std::filesystem::path script = std::filesystem::path(DSAGENT_SOURCE_DIR) / ".deps/npm" /
                                       "node_modules/@modelcontextprotocol" / package /
                                       "dist/index.js";
  if (!std::filesystem::exists(script)) return {};
  if (!std::filesystem::exists("/usr/bin/node") && !std::filesystem::exists("/usr/local/bin/node")) {
    return {};
  }
  return script;
}

#define DSAGENT_SKIP_WITHOUT_SERVER(script, package)                                           \
  if ((script).empty()) {                                                                      \
    GTEST_SKIP() << "the MCP reference server @modelcontextprotocol/" package                  \
                 << " is not installed in .deps/npm (or node is missing); scripts/setup.sh " \
                    "installs it";                                                             \
  }

// Options that run `node script args...` with a small environment: PATH and HOME only, plus
// `extra`.
inline StdioServerOptions NodeServer(const std::filesystem::path& script,
                                     std::vector<std::string> args,
                                     const std::filesystem::path& cwd, EnvMap extra = {}) {
  StdioServerOptions o;
  o.command = "node";
  o.args = {script.string()};
  o.args.insert(o.args.end(), args.begin(), args.end());
  o.cwd = cwd;
  const EnvMap parent = ProcessEnvironment();
  for (const char* name : {"PATH", "HOME"}) {
    if (auto it = parent.find(name); it != parent.end()) o.environment[name] = it->second;
  }
  for (auto& [k, v] : extra) o.environment[k] = v;
  return o;
}

}  // namespace dsagent::testing
