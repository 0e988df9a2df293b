// CommandTable: how a subcommand plugs into dsagent's main(). Each subcommand lives in its own file
// with one `void Add<Name>Command(CLI::App& app, CommandTable& table)` that declares the
// subcommand and its flags on `app` (CLI11) and binds what runs when it is given. main() lists the
// Add functions, parses, and calls Run.
//
// Signal handling lives here and only here: an action bound with BindCancellable gets a
// CancelToken that SIGINT/SIGTERM cancel (common/cancel.h: a second signal exits at once); an
// action bound with Bind runs with the default handlers, so Ctrl-C ends it as usual.
//
// Not thread-safe; build it, parse and run from main's thread.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <vector>

#include "common/cancel.h"

namespace dsagent {

class CommandTable {
 public:
  // An action returns the process exit code (agent/core/termination.h).
  using Action = std::function<int()>;
  using CancellableAction = std::function<int(const CancelToken&)>;

  // Runs `action` when `cmd` was given. Bind leaves (`session list`, not `session`) unless the
  // action dispatches its own subcommands; bound commands must not nest.
  void Bind(CLI::App* cmd, Action action);
  // The same for an action that stops early when `cancel` fires.
  void BindCancellable(CLI::App* cmd, CancellableAction action);
  // What runs when no subcommand is given (`cmd` must be bound).
  void SetDefault(CLI::App* cmd) { default_ = cmd; }

  // After the app has parsed: runs the action of the command that was given, or the default's.
  // Returns its exit code, or 2 (usage) when nothing is bound for what was given.
  int Run() const;

 private:
  struct Entry {
    CLI::App* cmd;
    CancellableAction action;
    bool cancellable;
  };
  int Invoke(const Entry& entry) const;

  std::vector<Entry> entries_;
  CLI::App* default_ = nullptr;
};

}  // namespace dsagent
