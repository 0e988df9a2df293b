#include "tools/permissions/shell_wrappers.h"

#include <algorithm>
#include <array>
#include <cstddef>

namespace dsagent {
namespace {

using Words = std::vector<ShellWord>;

// Which options of a wrapper take a separate argument.
struct OptionSpec {
  std::string_view short_with_arg;              // e.g. "n" for `nice -n 5`
  std::vector<std::string_view> long_with_arg;  // e.g. {"adjustment"} for --adjustment 5
};

struct OptionScan {
  size_t operand = 0;  // index of the first word after the options
  std::string doubt;   // an option only known at run time
};

// Skips the options of a wrapper starting at words[i]: "--" ends them, a word not starting with
// '-' is the first operand.
OptionScan SkipOptions(const Words& words, size_t i, const OptionSpec& spec) {
  OptionScan scan;
  while (i < words.size()) {
    const std::string& t = words[i].text;
    if (!words[i].literal) {
      scan.doubt = "the options of `" + words[0].text + "` are only known at run time";
      break;
    }
    if (t == "--") {
      ++i;
      break;
    }
    if (t.size() < 2 || t[0] != '-') break;
    if (t.compare(0, 2, "--") == 0) {
      const size_t eq = t.find('=');
      const std::string_view name =
          std::string_view(t).substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      const bool takes_arg = std::find(spec.long_with_arg.begin(), spec.long_with_arg.end(),
                                       name) != spec.long_with_arg.end();
      i += (takes_arg && eq == std::string::npos) ? 2 : 1;
      continue;
    }
    size_t step = 1;
    for (size_t k = 1; k < t.size(); ++k) {
      if (spec.short_with_arg.find(t[k]) != std::string_view::npos) {
        if (k + 1 == t.size()) step = 2;  // the argument is the next word
        break;                            // else the rest of this word is the argument
      }
    }
    i += step;
  }
  scan.operand = std::min(i, words.size());
  return scan;
}

Words WordsFrom(const Words& words, size_t from) {
  return from < words.size() ? Words(words.begin() + static_cast<std::ptrdiff_t>(from), words.end())
                             : Words{};
}

bool IsAssignmentText(std::string_view t) {
  const size_t eq = t.find('=');
  if (eq == 0 || eq == std::string_view::npos) return false;
  for (size_t i = 0; i < eq; ++i) {
    const char c = t[i];
    const bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// env [OPTION]... [NAME=VALUE]... [COMMAND [ARG]...]
WrappedCommands UnwrapEnv(const Words& w) {
  WrappedCommands r{true, true, {}, {}, {}, ""};
  OptionScan scan = SkipOptions(w, 1, {"uC", {"unset", "chdir"}});
  for (size_t i = 1; i < scan.operand; ++i) {
    const std::string& t = w[i].text;
    const bool short_cluster = t.size() > 1 && t[0] == '-' && t[1] != '-';
    if ((short_cluster && t.find('S') != std::string::npos) ||
        t.compare(0, 14, "--split-string") == 0) {
      r.doubt = "`env -S` splits a string into a command";
      return r;
    }
  }
  r.doubt = scan.doubt;
  size_t i = scan.operand;
  while (i < w.size() && IsAssignmentText(w[i].text)) r.assignments.push_back(w[i++].text);
  if (i < w.size()) r.commands.push_back(WordsFrom(w, i));
  return r;
}

WrappedCommands Simple(const Words& w, const OptionSpec& spec, bool transparent,
                       size_t skip_operands = 0) {
  WrappedCommands r{true, transparent, {}, {}, {}, ""};
  OptionScan scan = SkipOptions(w, 1, spec);
  r.doubt = scan.doubt;
  const size_t start = scan.operand + skip_operands;
  if (start < w.size()) r.commands.push_back(WordsFrom(w, start));
  return r;
}

// bash/sh/... -c SCRIPT [NAME [ARG]...]; without -c it runs a file or stdin: not a wrapper.
WrappedCommands UnwrapShell(const Words& w) {
  WrappedCommands r{true, true, {}, {}, {}, ""};
  bool command_mode = false;
  size_t i = 1;
  for (; i < w.size(); ++i) {
    const std::string& t = w[i].text;
    if (!w[i].literal) {
      r.doubt = "the options of `" + w[0].text + "` are only known at run time";
      return r;
    }
    if (t == "--" || t == "-") {
      ++i;
      break;
    }
    if (t.size() < 2 || (t[0] != '-' && t[0] != '+')) break;
    if (t.compare(0, 2, "--") == 0) {
      if (t == "--rcfile" || t == "--init-file") ++i;
      continue;
    }
    if (t.find('c') != std::string::npos && t[0] == '-') command_mode = true;
    if (t.find_first_of("oO") != std::string::npos) ++i;  // -o OPTION / -O SHOPT
  }
  if (!command_mode) return WrappedCommands{};
  if (i < w.size()) r.scripts.push_back(w[i]);
  return r;
}

// su [options] [-c COMMAND] [USER]
WrappedCommands UnwrapSu(const Words& w) {
  WrappedCommands r{true, false, {}, {}, {}, ""};
  for (size_t i = 1; i < w.size(); ++i) {
    const std::string& t = w[i].text;
    if ((t == "-c" || t == "--command" || t == "--session-command") && i + 1 < w.size()) {
      r.scripts.push_back(w[i + 1]);
    } else if (t.compare(0, 10, "--command=") == 0) {
      ShellWord script = w[i];
      script.text = t.substr(10);
      r.scripts.push_back(script);
    }
  }
  return r;
}

// find ... -exec CMD ARGS ; | + (also -execdir, -ok, -okdir), possibly several times.
WrappedCommands UnwrapFind(const Words& w) {
  WrappedCommands r{true, false, {}, {}, {}, ""};
  for (size_t i = 1; i < w.size(); ++i) {
    const std::string& t = w[i].text;
    if (t != "-exec" && t != "-execdir" && t != "-ok" && t != "-okdir") continue;
    Words inner;
    for (++i; i < w.size() && w[i].text != ";" && w[i].text != "+"; ++i) inner.push_back(w[i]);
    if (!inner.empty()) r.commands.push_back(std::move(inner));
  }
  return r;
}

WrappedCommands UnwrapXargs(const Words& w) {
  WrappedCommands r =
      Simple(w,
             {"adEILnPs",
              {"arg-file", "delimiter", "max-args", "max-procs", "max-chars", "process-slot-var"}},
             /*transparent=*/false);
  if (r.commands.empty()) r.commands.push_back({ShellWord{"echo", "echo", true}});  // the default
  return r;
}

}  // namespace

std::string_view CommandBaseName(std::string_view word) {
  const size_t slash = word.rfind('/');
  return slash == std::string_view::npos ? word : word.substr(slash + 1);
}

bool IsSensitiveVariable(std::string_view name) {
  static constexpr std::array<std::string_view, 22> kNames = {"PATH",       "BASH_ENV",
                                                              "ENV",        "IFS",
                                                              "SHELLOPTS",  "BASHOPTS",
                                                              "PS4",        "PROMPT_COMMAND",
                                                              "CDPATH",     "PAGER",
                                                              "EDITOR",     "VISUAL",
                                                              "PYTHONPATH", "PYTHONSTARTUP",
                                                              "PYTHONHOME", "NODE_OPTIONS",
                                                              "PERL5OPT",   "PERL5LIB",
                                                              "RUBYOPT",    "RUBYLIB",
                                                              "GLOBIGNORE", "BASH_LOADABLES_PATH"};
  if (std::find(kNames.begin(), kNames.end(), name) != kNames.end()) return true;
  for (std::string_view prefix : {"LD_", "DYLD_", "GIT_", "BASH_FUNC_"}) {
    if (name.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

WrappedCommands UnwrapCommand(const std::vector<ShellWord>& words) {
  if (words.empty() || !words[0].literal) return {};
  const std::string_view name = CommandBaseName(words[0].text);
  if (name == "env") return UnwrapEnv(words);
  if (name == "nohup" || name == "builtin") return Simple(words, {}, true);
  if (name == "nice") return Simple(words, {"n", {"adjustment"}}, true);
  if (name == "timeout") return Simple(words, {"sk", {"signal", "kill-after"}}, true, 1);
  if (name == "time") return Simple(words, {"fo", {"format", "output"}}, true);
  if (name == "exec") return Simple(words, {"a", {}}, true);
  if (name == "stdbuf") return Simple(words, {"ioe", {"input", "output", "error"}}, true);
  if (name == "ionice")
    return Simple(words, {"cnpPu", {"class", "classdata", "pid", "pgid"}}, true);
  if (name == "setsid") return Simple(words, {}, true);
  if (name == "command") {
    for (size_t i = 1; i < words.size() && words[i].text.size() > 1 && words[i].text[0] == '-';
         ++i) {
      if (words[i].text.find_first_of("vV") != std::string::npos) {
        return WrappedCommands{true, true, {}, {}, {}, ""};  // `command -v x` only looks up x
      }
    }
    return Simple(words, {}, true);
  }
  if (name == "sudo") {
    return Simple(words,
                  {"CDghprRtTUu",
                   {"close-from", "chdir", "group", "host", "prompt", "chroot", "role", "type",
                    "command-timeout", "other-user", "user"}},
                  false);
  }
  if (name == "doas") return Simple(words, {"uC", {}}, false);
  if (name == "su") return UnwrapSu(words);
  if (name == "xargs") return UnwrapXargs(words);
  if (name == "find") return UnwrapFind(words);
  if (name == "bash" || name == "sh" || name == "dash" || name == "zsh" || name == "ksh" ||
      name == "mksh" || name == "ash" || name == "fish") {
    return UnwrapShell(words);
  }
  return {};
}

}  // namespace dsagent
