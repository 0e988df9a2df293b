#include "tools/permissions/shell_verdict.h"

#include <algorithm>
#include <cstdlib>

#include "tools/permissions/always_pattern.h"
#include "tools/permissions/read_only_commands.h"
#include "tools/permissions/shell_syntax.h"
#include "tools/permissions/shell_wrappers.h"
#include "tools/workspace_path.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

struct Finding {
  Decision decision = Decision::kAsk;
  std::string reason;
  std::string pattern;        // what "always" would allow; "" = not generalisable
  std::string mode_ask_part;  // the command text, when the ask is only the mode's default
};

std::string Quote(std::string_view text) {
  constexpr size_t kMax = 80;
  std::string s(text.substr(0, kMax));
  for (char& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return "\"" + s + (text.size() > kMax ? "...\"" : "\"");
}

// Writing here is harmless or is the command's own business (its output, a temp file).
bool IsHarmlessTarget(const fs::path& p) {
  const std::string s = p.string();
  if (s == "/dev/null" || s == "/dev/stdout" || s == "/dev/stderr" || s == "/dev/tty" ||
      s.rfind("/dev/fd/", 0) == 0) {
    return true;
  }
  std::error_code ec;
  const fs::path tmp = fs::temp_directory_path(ec);
  return IsWithin(p, "/tmp") || IsWithin(p, "/var/tmp") || (!ec && IsWithin(p, tmp));
}

// Output thrown away or shown, not kept: a read-only command may still redirect here.
bool IsDiscardTarget(const ShellWrite& w) {
  return w.literal && (w.target == "/dev/null" || w.target == "/dev/stdout" ||
                       w.target == "/dev/stderr" || w.target.rfind("/dev/fd/", 0) == 0);
}

bool IsTempVariable(std::string_view target) {
  return target.rfind("$TMPDIR/", 0) == 0 || target.rfind("${TMPDIR}/", 0) == 0;
}

class ShellChecker {
 public:
  explicit ShellChecker(const ShellCheckInput& in) : in_(in) {}

  Verdict Check(std::string_view command) {
    const ShellAnalysis a = AnalyzeShellCommand(command);
    // Read-only commands skip the mode's ask only in a command line that cannot write anything
    // else either: no file redirection, nothing left unread.
    reads_only_ =
        a.doubts.empty() && std::all_of(a.writes.begin(), a.writes.end(), IsDiscardTarget);
    for (const ShellCommand& c : a.commands) CheckCommand(c);
    std::vector<std::string> doubts = a.doubts;
    for (const ShellWrite& w : a.writes) CheckWrite(w, a, doubts);
    if (!doubts.empty() && !Permissive()) {
      findings_.push_back(
          {Decision::kAsk, "cannot check every part of this command: " + doubts[0], "", ""});
    }
    return Combine();
  }

 private:
  // Nothing could be refused whatever the command: full-auto and no ask/deny rule for bash.
  bool Permissive() const {
    if (in_.mode != PermissionMode::kFullAuto) return false;
    return std::none_of(in_.rules->begin(), in_.rules->end(), [](const PermissionRule& r) {
      return r.decision != Decision::kAllow && RuleCoversTool(r, "bash");
    });
  }

  void CheckCommand(const ShellCommand& c) {
    const std::string text = c.Text();
    std::vector<std::string> subjects = {text};
    const std::string_view base = CommandBaseName(c.words[0].text);
    if (base.size() != c.words[0].text.size()) {
      std::string by_name(base);
      for (size_t i = 1; i < c.words.size(); ++i) by_name += " " + c.words[i].text;
      subjects.push_back(std::move(by_name));
    }
    const PermissionRule* rule = LastMatchingRule(*in_.rules, "bash", subjects);
    Decision d = rule != nullptr ? rule->decision : ModeDefault(in_.mode, ToolClass::kShell);
    if (rule == nullptr && d == Decision::kAsk && reads_only_ && IsReadOnlyCommand(c)) {
      d = Decision::kAllow;
    }
    if (d == Decision::kAsk && in_.session_rules != nullptr &&
        LastMatchingRule(*in_.session_rules, "bash", subjects) != nullptr) {
      d = Decision::kAllow;
    }
    if (d == Decision::kAllow) return;
    Finding f{d, "", SuggestCommandPattern(c), ""};
    if (rule != nullptr) {
      f.reason = Quote(text) +
                 (d == Decision::kDeny ? " is denied by rule \"" : " asks by rule \"") +
                 FormatPermissionRule(*rule) + "\"";
    } else {
      f.reason = Quote(text) + " needs approval: shell commands ask in mode " +
                 PermissionModeName(in_.mode);
      f.mode_ask_part = text;
    }
    findings_.push_back(std::move(f));
  }

  void CheckWrite(const ShellWrite& w, const ShellAnalysis& a, std::vector<std::string>& doubts) {
    if (!w.literal) {
      if (!IsTempVariable(w.target)) {
        doubts.push_back("the redirection target `" + w.target + "` is only known at run time");
      }
      return;
    }
    const fs::path target(w.target);
    std::vector<fs::path> candidates;
    if (target.is_absolute()) {
      candidates.push_back(target);
    } else {
      if (a.cd_unknown) {
        doubts.push_back("a relative redirection follows a `cd` to a place only known at run time");
      }
      candidates.push_back(in_.workspace / target);
      for (const std::string& cd : a.cd_targets) {
        const fs::path base = fs::path(cd).is_absolute() ? fs::path(cd) : in_.workspace / cd;
        candidates.push_back(base / target);
      }
    }
    for (const fs::path& candidate : candidates) {
      const fs::path full = candidate.lexically_normal();
      if (IsWithin(full, in_.workspace)) {
        auto resolved = ResolveWorkspacePath(in_.workspace, full.string(), PathAccess::kWrite);
        if (!resolved)
          findings_.push_back({Decision::kDeny, "redirection: " + resolved.error(), "", ""});
        continue;
      }
      if (IsHarmlessTarget(full) || in_.mode == PermissionMode::kFullAuto) continue;
      findings_.push_back(
          {Decision::kAsk, "it writes outside the workspace: " + full.string(), "", ""});
    }
  }

  Verdict Combine() const {
    Verdict v;
    for (const Finding& f : findings_) {
      if (f.decision == Decision::kDeny) return {Decision::kDeny, f.reason, ""};
    }
    if (findings_.empty()) return v;
    v.decision = Decision::kAsk;
    // One pattern for "always" only when every ask is a command that pattern covers.
    v.always_pattern = findings_[0].pattern;
    for (const Finding& f : findings_) {
      if (f.pattern != v.always_pattern) v.always_pattern.clear();
    }
    const bool all_mode_asks =
        std::all_of(findings_.begin(), findings_.end(),
                    [](const Finding& f) { return !f.mode_ask_part.empty(); });
    if (all_mode_asks && findings_.size() > 1) {
      std::string parts;
      for (const Finding& f : findings_)
        parts += (parts.empty() ? "" : ", ") + Quote(f.mode_ask_part);
      v.reason =
          parts + " need approval: shell commands ask in mode " + PermissionModeName(in_.mode);
      return v;
    }
    for (const Finding& f : findings_) {
      if (v.reason.find(f.reason) != std::string::npos) continue;
      v.reason += (v.reason.empty() ? "" : "; ") + f.reason;
    }
    return v;
  }

  const ShellCheckInput& in_;
  std::vector<Finding> findings_;
  bool reads_only_ = false;  // the whole command line writes no file and was read in full
};

}  // namespace

Verdict CheckShellCommand(std::string_view command, const ShellCheckInput& input) {
  return ShellChecker(input).Check(command);
}

}  // namespace dsagent
