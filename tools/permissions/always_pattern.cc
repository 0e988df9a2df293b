#include "tools/permissions/always_pattern.h"

#include <algorithm>
#include <filesystem>
#include <initializer_list>

#include "tools/permissions/permission_rule.h"
#include "tools/permissions/shell_wrappers.h"

namespace dsagent {
namespace {

bool OneOf(std::string_view s, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

// Commands where "this one, with any arguments" is too broad a grant to suggest.
bool IsRisky(std::string_view name) {
  return OneOf(name, {"rm",    "rmdir", "shred",   "dd",     "mkfs",     "truncate", "mv",
                      "chmod", "chown", "chgrp",   "ln",     "sudo",     "doas",     "su",
                      "kill",  "pkill", "killall", "reboot", "shutdown", "halt",     "poweroff",
                      "curl",  "wget",  "ssh",     "scp",    "rsync",    "nc",       "ncat",
                      "socat", "xargs", "find",    "source", ".",        "crontab",  "systemctl"});
}

// Interpreters: their arguments are programs, so only the exact command is suggested.
bool IsInterpreter(std::string_view name) {
  return OneOf(name, {"python", "python2", "python3", "node", "ruby", "perl", "php", "bash", "sh",
                      "zsh", "dash", "deno", "bun", "lua", "Rscript", "osascript", "pwsh"}) ||
         name.substr(0, 6) == "python";
}

// Tools whose first argument is a subcommand worth keeping in the pattern.
bool HasSubcommands(std::string_view name) {
  return OneOf(name,
               {"git",    "npm",     "pnpm",    "yarn",    "npx",  "cargo", "go",        "docker",
                "podman", "kubectl", "make",    "pip",     "pip3", "uv",    "poetry",    "dotnet",
                "mvn",    "gradle",  "gradlew", "bundle",  "rake", "cmake", "ctest",     "composer",
                "mix",    "swift",   "apt",     "apt-get", "brew", "helm",  "terraform", "gh"});
}

bool IsRiskyGitSubcommand(std::string_view sub) {
  return OneOf(
      sub,
      {"push",   "reset", "clean",         "checkout",    "restore",    "rebase",    "rm",
       "gc",     "prune", "filter-branch", "filter-repo", "update-ref", "reflog",    "stash",
       "branch", "tag",   "remote",        "config",      "worktree",   "submodule", "switch"});
}

}  // namespace

std::string SuggestCommandPattern(const ShellCommand& command) {
  if (command.words.empty() || !command.words[0].literal) return "";
  const std::string_view name = CommandBaseName(command.words[0].text);
  const std::string exact = EscapeCommandPattern(command.Text());
  if (IsRisky(name) || IsInterpreter(name)) return exact;
  const std::string head = EscapeCommandPattern(command.words[0].text);
  if (HasSubcommands(name)) {
    // Without a plain subcommand ("git -C x push", "make") only the exact command is safe.
    if (command.words.size() < 2 || !command.words[1].literal || command.words[1].text.empty() ||
        command.words[1].text[0] == '-') {
      return exact;
    }
    if (name == "git" && IsRiskyGitSubcommand(command.words[1].text)) return exact;
    return head + " " + EscapeCommandPattern(command.words[1].text) + " *";
  }
  return head + " *";
}

std::string SuggestPathPattern(std::string_view relative_path) {
  const std::filesystem::path parent = std::filesystem::path(relative_path).parent_path();
  if (parent.empty() || parent == ".") return EscapePathPattern(relative_path);
  return EscapePathPattern(parent.string()) + "/**";
}

}  // namespace dsagent
