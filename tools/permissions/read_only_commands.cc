#include "tools/permissions/read_only_commands.h"

#include <algorithm>
#include <array>
#include <string_view>

namespace dsagent {
namespace {

using Words = std::vector<ShellWord>;

// The argument words after the command name.
bool AnyArgument(const Words& w, bool (*bad)(std::string_view)) {
  return std::any_of(w.begin() + 1, w.end(), [bad](const ShellWord& x) { return bad(x.text); });
}

// A long option that getopt_long (and git's parse-options) would read as `full`: they accept any
// unambiguous prefix, so `--out=x` is `--output=x`.
bool AbbreviatesLongOption(std::string_view word, std::string_view full) {
  if (word.size() < 3 || word.substr(0, 2) != "--") return false;
  const std::string_view name = word.substr(2, word.find('=') - 2);
  return !name.empty() && full.substr(0, name.size()) == name;
}

// A cluster of short options ("-rno") that includes `letter`.
bool ShortOptionCluster(std::string_view word, char letter) {
  return word.size() >= 2 && word[0] == '-' && word[1] != '-' &&
         word.find(letter) != std::string_view::npos;
}

bool NoArgumentRefused(const Words&) { return false; }

// find: -exec/-execdir/-ok/-okdir run commands, -delete deletes, -fprint*/-fls write files.
bool FindRefuses(const Words& w) {
  return AnyArgument(w, [](std::string_view t) {
    static constexpr std::array<std::string_view, 9> kActions = {
        "-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf", "-fls"};
    return std::find(kActions.begin(), kActions.end(), t) != kActions.end();
  });
}

// sort -o FILE / --output writes; --compress-program runs a program.
bool SortRefuses(const Words& w) {
  return AnyArgument(w, [](std::string_view t) {
    return ShortOptionCluster(t, 'o') || AbbreviatesLongOption(t, "output") ||
           AbbreviatesLongOption(t, "compress-program");
  });
}

// uniq [INPUT [OUTPUT]]: a second operand is a file it writes. Counting conservatively (an
// option's value counts as an operand) can only make it ask.
bool UniqRefuses(const Words& w) {
  return std::count_if(w.begin() + 1, w.end(), [](const ShellWord& x) {
           return x.text.empty() || x.text[0] != '-' || x.text == "-";
         }) > 1;
}

// rg --pre COMMAND runs COMMAND on every file.
bool RgRefuses(const Words& w) {
  return AnyArgument(w, [](std::string_view t) { return t.substr(0, 5) == "--pre"; });
}

// git: only these subcommands, right after `git` (no `-c name=value`, `-C`, `--exec-path` or
// other global options before them: `-c core.pager=...` or `-c diff.external=...` run programs).
// Aliases cannot shadow built-in commands, so `git log` is git's own. --output writes a file and
// --ext-diff runs the configured external diff program.
bool GitRefuses(const Words& w) {
  static constexpr std::array<std::string_view, 6> kSubcommands = {"status", "diff",  "log",
                                                                   "show",   "blame", "ls-files"};
  if (w.size() < 2 || !w[1].literal ||
      std::find(kSubcommands.begin(), kSubcommands.end(), w[1].text) == kSubcommands.end()) {
    return true;
  }
  return AnyArgument(w, [](std::string_view t) {
    return AbbreviatesLongOption(t, "output") || AbbreviatesLongOption(t, "output-directory") ||
           AbbreviatesLongOption(t, "ext-diff");
  });
}

// printf -v NAME assigns a shell variable (PATH, say) that later commands use.
bool PrintfRefuses(const Words& w) {
  return AnyArgument(w, [](std::string_view t) { return ShortOptionCluster(t, 'v'); });
}

struct ReadOnlyEntry {
  std::string_view name;
  bool (*refuses)(const Words& words);  // arguments that make it more than a read
};

// The table, by name. Left out on purpose: sed, awk and perl (they can write files and run
// programs), less and more (a pager runs commands), tree, xxd and file (options that write), tee,
// xargs (it runs commands), and anything that changes state (date -s, hostname NAME).
constexpr std::array<ReadOnlyEntry, 34> kReadOnly = {{
    {"basename", NoArgumentRefused}, {"cat", NoArgumentRefused},
    {"cd", NoArgumentRefused},  // changes only the shell's own directory
    {"cmp", NoArgumentRefused},      {"cut", NoArgumentRefused},
    {"df", NoArgumentRefused},       {"diff", NoArgumentRefused},
    {"dirname", NoArgumentRefused},  {"du", NoArgumentRefused},
    {"echo", NoArgumentRefused},     {"false", NoArgumentRefused},
    {"find", FindRefuses},           {"git", GitRefuses},
    {"grep", NoArgumentRefused},     {"head", NoArgumentRefused},
    {"ls", NoArgumentRefused},       {"md5sum", NoArgumentRefused},
    {"nl", NoArgumentRefused},       {"printf", PrintfRefuses},
    {"pwd", NoArgumentRefused},      {"readlink", NoArgumentRefused},
    {"realpath", NoArgumentRefused}, {"rg", RgRefuses},
    {"sha1sum", NoArgumentRefused},  {"sha256sum", NoArgumentRefused},
    {"sort", SortRefuses},           {"stat", NoArgumentRefused},
    {"tail", NoArgumentRefused},     {"test", NoArgumentRefused},
    {"tr", NoArgumentRefused},       {"true", NoArgumentRefused},
    {"uniq", UniqRefuses},           {"wc", NoArgumentRefused},
    {"which", NoArgumentRefused},
}};

}  // namespace

bool IsReadOnlyCommand(const ShellCommand& command) {
  const Words& w = command.words;
  if (w.empty() || !w[0].literal || !command.assignments.empty()) return false;
  const std::string& name = w[0].text;
  if (name.find('/') != std::string::npos) return false;
  const auto it = std::find_if(kReadOnly.begin(), kReadOnly.end(),
                               [&name](const ReadOnlyEntry& e) { return e.name == name; });
  return it != kReadOnly.end() && !it->refuses(w);
}

}  // namespace dsagent
