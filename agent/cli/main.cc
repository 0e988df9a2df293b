// dsagent's entry point: every subcommand adds itself (agent/cli/*_command.h, command_table.h);
// main() lists them, parses the command line (CLI11) and runs the one given (chat when none is).
// Exit codes follow agent/core/termination.h; a command-line error is 2.
#include <CLI/CLI.hpp>

#include "agent/cli/cache_command.h"
#include "agent/cli/chat_command.h"
#include "agent/cli/command_table.h"
#include "agent/cli/completion_command.h"
#include "agent/cli/config_command.h"
#include "agent/cli/doctor_command.h"
#include "agent/cli/engine_command.h"
#include "agent/cli/eval_command.h"
#include "agent/cli/map_command.h"
#include "agent/cli/mcp_command.h"
#include "agent/cli/patch_command.h"
#include "agent/cli/route_command.h"
#include "agent/cli/run_command.h"
#include "agent/cli/serve_command.h"
#include "agent/cli/session_command.h"
#include "agent/core/termination.h"

int main(int argc, char** argv) {
  CLI::App app{"dsagent: a coding agent for DeepSeek-V4 that keeps its raw trace in context"};
  app.set_version_flag("--version", "dsagent " DSAGENT_VERSION);
  app.require_subcommand(0, 1);

  // In `--help` order.
  dsagent::CommandTable commands;
  for (auto add : {dsagent::AddRunCommand, dsagent::AddChatCommand, dsagent::AddSessionCommand,
                   dsagent::AddConfigCommand, dsagent::AddDoctorCommand, dsagent::AddPatchCommand,
                   dsagent::AddEvalCommand, dsagent::AddRouteCommand, dsagent::AddMapCommand,
                   dsagent::AddCacheCommand, dsagent::AddMcpCommand, dsagent::AddEngineCommand,
                   dsagent::AddServeCommand, dsagent::AddCompletionCommand}) {
    add(app, commands);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : dsagent::kExitUsage;
  }
  return commands.Run();
}
