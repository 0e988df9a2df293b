#include "agent/cli/command_table.h"

#include <cstdio>
#include <utility>

#include "agent/core/termination.h"

namespace dsagent {

void CommandTable::Bind(CLI::App* cmd, Action action) {
  entries_.push_back(
      {cmd, [action = std::move(action)](const CancelToken&) { return action(); }, false});
}

void CommandTable::BindCancellable(CLI::App* cmd, CancellableAction action) {
  entries_.push_back({cmd, std::move(action), true});
}

int CommandTable::Invoke(const Entry& entry) const {
  CancelToken cancel;
  // The one place dsagent installs its SIGINT/SIGTERM handler.
  if (entry.cancellable) InstallInterruptHandler(cancel);
  return entry.action(cancel);
}

int CommandTable::Run() const {
  for (const Entry& e : entries_) {
    if (e.cmd->parsed()) return Invoke(e);
  }
  for (const Entry& e : entries_) {
    if (e.cmd == default_) return Invoke(e);
  }
  std::fprintf(stderr, "dsagent: no action for this command; see --help\n");
  return kExitUsage;
}

}  // namespace dsagent
