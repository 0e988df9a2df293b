// Tool: something the agent can do in the workspace. Each tool has a name, a JSON schema for its
// arguments, a description (prompts/tools/<name>.md, embedded at build time) and Run(), which never
// throws: every failure becomes a ToolResult the model can read and act on.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/json.h"
#include "tools/env_policy.h"
#include "tools/redactor.h"
#include "tools/sandbox.h"

namespace dsagent {

// Limits and environment for tool execution. Units are in the names.
struct ToolContext {
  std::filesystem::path workspace;  // absolute, canonical; every path argument resolves inside it
  CancelToken cancel;
  int bash_timeout_s = 120;            // default when the call gives none
  int bash_max_timeout_s = 1800;       // upper bound a call may request
  size_t output_cap_bytes = 30000;     // bash/grep output kept (head + tail with a marker)
  size_t read_max_bytes = 256 * 1024;  // read_file refuses larger slices
  size_t read_default_lines = 2000;    // read_file lines when no range is given
  size_t list_max_entries = 2000;      // list_files/glob result cap
  size_t grep_max_matches = 500;       // grep result cap
  // grep stops searching after this long and says its results are partial; 0 = no limit.
  double grep_time_limit_s = 10;
  // The clock grep's time limit reads; unset: std::chrono::steady_clock::now. Tests inject one.
  std::function<std::chrono::steady_clock::time_point()> clock;
  SandboxPolicy sandbox;               // for bash; off unless enabled (see tools/sandbox.h)
  // The environment of shell commands (see tools/env_policy.h); unset: the default policy applied
  // to this process's environment.
  std::optional<EnvMap> environment;
  // Secrets to take out of every tool result (see tools/redactor.h). Tools do not apply it: the
  // agent loop does, once per result, before the result is shown, recorded or sent. May be null.
  std::shared_ptr<const Redactor> redactor;
};

struct ToolResult {
  bool ok = true;      // false: the model gets the text as an error
  std::string output;  // valid UTF-8, already capped; what the model sees
  // Optional machine-readable facts for the trace and UI (e.g. {"exit_code":1}, {"path":...}).
  Json details = Json::object();
};

class Tool {
 public:
  virtual ~Tool() = default;
  virtual std::string Name() const = 0;
  // JSON Schema of the arguments object ({"type":"object","properties":...,"required":[...]}).
  virtual Json Schema() const = 0;
  // Runs with already-parsed arguments. Must not throw; must honour ctx.cancel for long work.
  virtual ToolResult Run(const Json& args, const ToolContext& ctx) = 0;
};

// The description text for `tool_name` from prompts/tools/<tool_name>.md (embedded). Empty if none.
// With Name() and Schema(), what the model is told about a tool (agent/core/tool_specs.h).
std::string ToolDescription(const std::string& tool_name);

}  // namespace dsagent
