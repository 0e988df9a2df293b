// The sandbox of the headless commands that let an agent run unattended (`dsagent run`,
// `dsagent eval`, `dsagent route compare`): on unless the user passes --no-sandbox, so a misled
// model can write only to the task's workspace, its git directory and a private TMPDIR.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "common/expected.h"

namespace dsagent {

using ConfigOverrides = std::vector<std::pair<std::string, std::string>>;

// The config overrides (sandbox.enabled, sandbox.deny_network) for such a run, from --no-sandbox
// and the backend and network settings of the configuration in `config_dir` with `flags` on top.
// A notice (network denial asked for but unavailable) goes to stderr. Error: the sandbox is wanted
// and no backend can confine writes here; the message says so and names --no-sandbox.
Expected<ConfigOverrides, std::string> HeadlessSandboxFlags(bool no_sandbox,
                                                            const std::filesystem::path& config_dir,
                                                            const ConfigOverrides& flags);

}  // namespace dsagent
