#include "agent/cli/chat_command.h"

#include <unistd.h>

#include <cstdio>
#include <memory>

#include "agent/cli/lane_options.h"
#include "agent/ui/line_reader.h"
#include "agent/ui/screen.h"

namespace dsagent {

void AddChatCommand(CLI::App& app, CommandTable& table) {
  struct Flags {
    ChatOptions chat;
    LaneFlags lane;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "chat", "The interactive assistant (the default when no subcommand is given)");
  cmd->add_option("--repo", f->chat.repo, "Workspace directory (default: current directory)");
  cmd->add_option("--resume", f->chat.resume, "Continue session ID");
  AddLaneOptions(*cmd, f->lane);
  cmd->add_flag("--show-reasoning", f->chat.show_reasoning,
                "Show the model's reasoning in full (/reasoning toggles)");
  // Cancellable for the handler it installs; the turns use their own tokens.
  table.BindCancellable(cmd, [f](const CancelToken&) {
    ChatOptions chat = f->chat;
    AppendLaneOverrides(f->lane, chat.flags);
    return ChatCommand(chat);
  });
  table.SetDefault(cmd);
}

int ChatCommand(const ChatOptions& options) {
  const bool in_tty = ::isatty(STDIN_FILENO) != 0;
  const bool out_tty = ::isatty(STDOUT_FILENO) != 0;
  Screen screen(stdout);
  std::unique_ptr<LineReader> reader =
      in_tty && out_tty ? MakeTerminalLineReader(stdin, stdout, DefaultHistoryFile())
                        : MakePlainLineReader(STDIN_FILENO, stdout, in_tty);
  ChatApp app(options, screen, *reader);
  return app.Run();
}

}  // namespace dsagent
