#include "tools/bash.h"

#include <algorithm>
#include <optional>
#include <string>

#include "tools/shell_command.h"
#include "tools/tool_util.h"

namespace dsagent {
namespace {

class BashTool : public Tool {
 public:
  std::string Name() const override { return "bash"; }

  Json Schema() const override {
    return Json::parse(R"({
      "type": "object",
      "properties": {
        "command": {"type": "string", "description": "Shell command, run with /bin/bash -c in the workspace root."},
        "timeout_s": {"type": "integer", "minimum": 1, "description": "Seconds before the command and every process it started are killed. Default: the session default (normally 120)."}
      },
      "required": ["command"],
      "additionalProperties": false
    })");
  }

  ToolResult Run(const Json& args, const ToolContext& ctx) override {
    const std::string command = StringArg(args, "command");
    if (command.find_first_not_of(" \t\r\n") == std::string::npos) {
      return ErrorResult("command is empty");
    }
    int64_t timeout_s = IntArg(args, "timeout_s", ctx.bash_timeout_s);
    if (timeout_s < 1) return ErrorResult("timeout_s must be at least 1");
    std::string notes;
    if (timeout_s > ctx.bash_max_timeout_s) {
      timeout_s = ctx.bash_max_timeout_s;
      notes += "[timeout_s capped at " + std::to_string(timeout_s) + "]\n";
    }

    ShellOptions options;
    options.cwd = ctx.workspace;
    options.timeout = std::chrono::seconds(timeout_s);
    options.output_cap_bytes = ctx.output_cap_bytes;
    options.cancel = ctx.cancel;
    options.environment = ctx.environment;
    std::optional<PreparedSandbox> sandbox;
    if (ctx.sandbox.enabled) {
      auto prepared = PreparedSandbox::Prepare(ctx.sandbox);
      if (!prepared) return ErrorResult("refusing to run without the sandbox: " + prepared.error());
      sandbox.emplace(std::move(*prepared));
      options.sandbox = &*sandbox;
      if (!ctx.sandbox.temp_dir.empty()) {
        options.extra_env.emplace_back("TMPDIR", ctx.sandbox.temp_dir.string());
      }
    }
    auto run = RunShellCommand(command, options);
    if (!run) return ErrorResult(run.error());

    ToolResult r;
    r.output = std::move(run->output);
    if (!r.output.empty() && r.output.back() != '\n') r.output += '\n';
    r.output += notes;
    if (run->timed_out) {
      r.output += "[timed out after " + std::to_string(timeout_s) +
                  " s; the command and its processes were killed]\n";
    }
    if (run->interrupted) r.output += "[interrupted; the command and its processes were killed]\n";
    if (run->stopped_background) {
      r.output +=
          "[background processes still held the output open after the command exited; "
          "they were stopped. Redirect their output (e.g. `cmd > log 2>&1 &`) to keep "
          "them running]\n";
    }
    r.output += "[exit code: " + std::to_string(run->exit_code) + "]";
    r.ok = run->exit_code == 0 && !run->timed_out && !run->interrupted;
    r.details = {{"exit_code", run->exit_code},
                 {"timed_out", run->timed_out},
                 {"interrupted", run->interrupted}};
    return r;
  }
};

}  // namespace

std::unique_ptr<Tool> MakeBashTool() { return std::make_unique<BashTool>(); }

}  // namespace dsagent
