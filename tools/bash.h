// bash: run a shell command in the workspace (build, test, inspect, anything without a dedicated
// tool).
#pragma once

#include <memory>

#include "tools/tool.h"

namespace dsagent {

// Arguments {command, timeout_s?}. Runs `/bin/bash -c command` in the workspace (see
// RunShellCommand: own process group, stdin /dev/null, stdout+stderr merged). timeout_s defaults
// to ctx.bash_timeout_s and is capped at ctx.bash_max_timeout_s; ctx.cancel interrupts. Output:
// the merged output capped at ctx.output_cap_bytes (head and tail kept around an
// "[... N bytes omitted ...]" marker), ending with "[exit code: N]". ok=false when the exit code
// is not 0, on timeout and on interruption. Details: {exit_code, timed_out, interrupted}.
std::unique_ptr<Tool> MakeBashTool();

}  // namespace dsagent
