#include "agent/cli/completion_command.h"

#include <iostream>
#include <memory>

#include "agent/cli/completion.h"
#include "agent/core/termination.h"

namespace dsagent {

void AddCompletionCommand(CLI::App& app, CommandTable& table) {
  auto shell = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "completion", "Print a shell completion script, e.g. source <(dsagent completion bash)");
  cmd->add_option("shell", *shell, "bash | zsh | fish")
      ->required()
      ->check(CLI::IsMember(CompletionShells()));
  table.Bind(cmd, [&app, shell] {
    auto script = CompletionScript(app, "dsagent", *shell);
    if (!script) return kExitUsage;  // unreachable: the check above admits only known shells
    std::cout << *script;
    return kExitDone;
  });
}

}  // namespace dsagent
