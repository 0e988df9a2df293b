// The interactive assistant's slash commands: /help, /model, /effort, /pro, /policy, /reasoning,
// /cost, /cache, /mcp, /diff, /undo, /sessions, /resume, /clear, /exit. Each acts on the ChatApp and
// prints to its screen; none sends anything to the model.
#pragma once

#include <string>

namespace dsagent {

class ChatApp;

enum class SlashResult { kContinue, kExit };

// Runs `line` ("/name args..."). An unknown command prints a hint and continues.
SlashResult RunSlashCommand(ChatApp& app, const std::string& line);

// The /help text: one line per command.
std::string SlashHelp();

}  // namespace dsagent
