#include "agent/cli/slash_commands.h"

#include <cstdio>
#include <sstream>
#include <vector>

#include "agent/cli/chat_app.h"
#include "agent/core/mcp_setup.h"
#include "agent/core/mcp_trust.h"
#include "agent/core/run_setup.h"
#include "agent/core/session_store.h"
#include "agent/ui/diff_view.h"
#include "agent/ui/status_line.h"
#include "agent/ui/usage_meter.h"
#include "tools/unified_diff.h"

namespace dsagent {
namespace {

struct Command {
  const char* name;
  const char* args;
  const char* help;
  SlashResult (*run)(ChatApp& app, const std::vector<std::string>& args);
};

void PrintLines(ChatApp& app, const std::string& text) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) app.screen().Line(line);
  app.screen().Flush();
}

SlashResult Help(ChatApp& app, const std::vector<std::string>&) {
  PrintLines(app, SlashHelp());
  app.Note(
      "keys: Enter sends · a line ending in \\ continues on the next · pasted blocks stay "
      "one message · Ctrl-C interrupts a turn (twice at the prompt leaves) · Ctrl-D leaves");
  return SlashResult::kContinue;
}

SlashResult Exit(ChatApp&, const std::vector<std::string>&) { return SlashResult::kExit; }

std::string ModelId(const std::string& name) {
  if (name == "flash") return "deepseek-v4-flash";
  if (name == "pro") return "deepseek-v4-pro";
  return name;
}

SlashResult Model(ChatApp& app, const std::vector<std::string>& args) {
  AgentSession& agent = app.session().agent();
  if (args.empty()) {
    const AgentSettings& st = agent.settings();
    app.Note("model: " + (st.router ? "routed by " + st.router->name() + " (/model ID pins one)"
                                    : st.lane.model));
    return SlashResult::kContinue;
  }
  Lane lane = app.session().CurrentLane();
  lane.model = ModelId(args[0]);
  if (agent.catalog().Find(lane.model) == nullptr) {
    app.Note("note: " + lane.model + " is not in the model catalog; its calls are not priced");
  }
  if (auto r = agent.PinLane(lane); !r) {
    app.Error(r.error());
  } else {
    app.Note("model " + lane.model + " from the next call on (routing off; /policy NAME routes)");
  }
  return SlashResult::kContinue;
}

SlashResult Effort(ChatApp& app, const std::vector<std::string>& args) {
  if (args.empty() || (args[0] != "high" && args[0] != "max")) {
    app.Error("usage: /effort high|max");
    return SlashResult::kContinue;
  }
  Lane lane = app.session().CurrentLane();
  lane.effort = args[0];
  lane.thinking = true;
  if (auto r = app.session().agent().PinLane(lane); !r) {
    app.Error(r.error());
  } else {
    app.Note("effort " + lane.effort + " on " + lane.model + " (routing off; /policy NAME routes)");
  }
  return SlashResult::kContinue;
}

SlashResult Pro(ChatApp& app, const std::vector<std::string>&) {
  app.session().ArmPro();
  app.Note("the next turn runs on " + LaneLabel(app.session().ProLane()) + " (" +
           app.session().ProLane().model + "), then back to " +
           (app.session().agent().settings().router ? "routing" : "the pinned lane"));
  return SlashResult::kContinue;
}

SlashResult Policy(ChatApp& app, const std::vector<std::string>& args) {
  AgentSession& agent = app.session().agent();
  if (args.empty()) {
    const AgentSettings& st = agent.settings();
    std::string names;
    for (const auto& n : BuiltInRoutingPolicies()) names += (names.empty() ? "" : ", ") + n;
    app.Note("policy: " +
             (st.router ? st.router->name() : "none (lane pinned: " + LaneLabel(st.lane) + ")"));
    app.Note("built in: " + names + " (or a YAML file)");
    return SlashResult::kContinue;
  }
  if (auto r = agent.UsePolicy(args[0]); !r) {
    app.Error(r.error());
  } else {
    app.Note("routing with " + agent.settings().router->name() + " from the next call on");
  }
  return SlashResult::kContinue;
}

SlashResult Mode(ChatApp& app, const std::vector<std::string>& args) {
  const auto& policy = app.session().agent().settings().permissions;
  if (!policy) {
    app.Note("no permission policy in this session: every tool call runs");
    return SlashResult::kContinue;
  }
  if (args.empty()) {
    app.Note("mode " + PermissionModeName(policy->mode()) +
             " (read-only | ask | auto-edit | full-auto)");
    return SlashResult::kContinue;
  }
  const auto mode = ParsePermissionMode(args[0]);
  if (!mode) {
    app.Error("usage: /mode read-only|ask|auto-edit|full-auto");
    return SlashResult::kContinue;
  }
  policy->SetMode(*mode);
  app.Note("mode " + PermissionModeName(*mode) + " for the rest of this session");
  return SlashResult::kContinue;
}

SlashResult Reasoning(ChatApp& app, const std::vector<std::string>& args) {
  ChatRenderer& r = app.renderer();
  const std::string what = args.empty() ? (r.show_reasoning() ? "off" : "on") : args[0];
  if (what == "last") {
    if (r.last_reasoning().empty()) {
      app.Note("no reasoning yet");
    } else {
      PrintLines(app, app.screen().Paint(Style::kDim, r.last_reasoning()));
    }
  } else if (what == "on" || what == "off") {
    r.set_show_reasoning(what == "on");
    app.Note(what == "on" ? "reasoning shown in full" : "reasoning collapsed to one line");
  } else {
    app.Error("usage: /reasoning [on|off|last]");
  }
  return SlashResult::kContinue;
}

SlashResult Cost(ChatApp& app, const std::vector<std::string>&) {
  PrintLines(app, FormatCostReport(app.session().usage()));
  return SlashResult::kContinue;
}

SlashResult Cache(ChatApp& app, const std::vector<std::string>&) {
  PrintLines(app, FormatCacheReport(app.session().usage()));
  app.Note("static prefix (system prompt + tools) sha256 " +
           app.session().agent().context().PrefixHash().substr(0, 16));
  return SlashResult::kContinue;
}

SlashResult Compact(ChatApp& app, const std::vector<std::string>&) {
  AgentSession& agent = app.session().agent();
  auto compaction = agent.Compact();
  if (!compaction) {
    app.Error("cannot write the session trace: " + compaction.error());
  } else if (compaction->empty()) {
    app.Note("nothing to compact (no tool results old enough to elide)");
  } else {
    app.Note(DescribeCompaction(
        *compaction,
        CompactionMissCostUsd(*compaction, agent.catalog(), app.session().CurrentLane().model)));
  }
  return SlashResult::kContinue;
}

SlashResult Mcp(ChatApp& app, const std::vector<std::string>&) {
  const AgentSession& agent = app.session().agent();
  const McpServerSet* servers = agent.mcp_servers();
  if (servers == nullptr && agent.untrusted_mcp_servers().empty()) {
    app.Note("no MCP servers configured (dsagent mcp add NAME -- COMMAND ARGS...)");
    return SlashResult::kContinue;
  }
  if (servers != nullptr) PrintLines(app, DescribeMcpServers(*servers, true));
  for (const McpServerConfig& s : agent.untrusted_mcp_servers()) {
    app.Note(UntrustedMcpServerLine(s, false));
  }
  return SlashResult::kContinue;
}

SlashResult Diff(ChatApp& app, const std::vector<std::string>&) {
  ChatSession& s = app.session();
  std::string diff;
  if (const WorktreeSnapshot* snap = s.snapshot()) {
    auto d = snap->DiffToWorktree();
    if (!d) {
      app.Error(d.error());
      return SlashResult::kContinue;
    }
    diff = std::move(*d);
  } else {
    // Not a git repository: the edits the file tools made, from the journal.
    app.Note("(" + s.snapshot_error() + "; showing the file tools' edits only)");
    for (const auto& c : s.journal().SessionChanges()) {
      diff +=
          UnifiedDiff(c.before.value_or(""), c.now.value_or(""),
                      c.before ? "a/" + c.path : "/dev/null", c.now ? "b/" + c.path : "/dev/null");
    }
  }
  if (diff.empty()) {
    app.Note("no changes since the session started");
    return SlashResult::kContinue;
  }
  ShowDiff(app.screen(), diff, 400, "");
  const DiffCounts counts = CountDiffLines(diff);
  // git's patches start each file with "diff --git"; the journal's have only ---/+++ headers.
  const auto count_lines_starting = [&diff](const std::string& prefix) {
    size_t n = diff.compare(0, prefix.size(), prefix) == 0 ? 1 : 0;
    for (size_t at = diff.find("\n" + prefix); at != std::string::npos;
         at = diff.find("\n" + prefix, at + 1)) {
      ++n;
    }
    return n;
  };
  size_t files = count_lines_starting("diff --git ");
  if (files == 0) files = count_lines_starting("+++ ");
  app.Note(std::to_string(files) + " file(s) changed since the session started, +" +
           std::to_string(counts.added) + " -" + std::to_string(counts.removed));
  return SlashResult::kContinue;
}

SlashResult Undo(ChatApp& app, const std::vector<std::string>& args) {
  ChatSession& s = app.session();
  if (!s.journal().CanUndo()) {
    app.Note("nothing to undo (only edits made with write_file / edit_file are tracked)");
    return SlashResult::kContinue;
  }
  const bool force = !args.empty() && args[0] == "force";
  const EditJournal::UndoReport r = s.journal().UndoLastTurn(force);
  std::string done;
  for (const auto& p : r.restored) {
    app.Note("restored " + p);
    done += (done.empty() ? "" : ", ") + p + " restored";
  }
  for (const auto& p : r.removed) {
    app.Note("removed " + p + " (the turn had created it)");
    done += (done.empty() ? "" : ", ") + p + " deleted";
  }
  for (const auto& p : r.skipped) app.Error("not reverted: " + p);
  if (!done.empty()) {
    s.AddNote("[The user reverted the file edits of your previous turn with /undo (" + done +
              "). Those files are back as they were before that turn.]");
  }
  return SlashResult::kContinue;
}

SlashResult Sessions(ChatApp& app, const std::vector<std::string>&) {
  const AgentSession& agent = app.session().agent();
  const auto all = ListSessions(SessionsDir(agent.config()));
  size_t shown = 0, elsewhere = 0;
  for (const SessionSummary& s : all) {
    if (s.repo != agent.workspace().string()) {
      ++elsewhere;
      continue;
    }
    if (shown++ == 15) continue;
    char head[96];
    std::snprintf(head, sizeof head, "%s %-22s %-10s $%.4f  ", s.id == agent.id() ? "*" : " ",
                  s.id.c_str(), s.status.c_str(), s.cost_usd);
    std::string task = s.task;
    for (char& c : task) c = c == '\n' ? ' ' : c;
    app.screen().Line(FitWidth(head + task, app.screen().width()));
  }
  if (shown == 0) app.Note("no sessions for this repository yet");
  if (shown > 15) app.Note("... and " + std::to_string(shown - 15) + " older");
  if (elsewhere > 0) {
    app.Note(std::to_string(elsewhere) + " session(s) in other repositories: dsagent session list");
  }
  return SlashResult::kContinue;
}

SlashResult Resume(ChatApp& app, const std::vector<std::string>& args) {
  const AgentSession& agent = app.session().agent();
  std::string id = args.empty() ? "" : args[0];
  if (id.empty()) {
    for (const SessionSummary& s : ListSessions(SessionsDir(agent.config()))) {
      if (s.repo == agent.workspace().string() && s.id != agent.id()) {
        id = s.id;
        break;
      }
    }
    if (id.empty()) {
      app.Note("no other session for this repository; /sessions lists them");
      return SlashResult::kContinue;
    }
  }
  SessionOpenOptions o = app.NewSessionOptions();
  o.repo.clear();  // the resumed session's own repository
  o.resume = id;
  app.OpenSession(o);
  return SlashResult::kContinue;
}

SlashResult Clear(ChatApp& app, const std::vector<std::string>&) {
  app.OpenSession(app.NewSessionOptions());
  return SlashResult::kContinue;
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"help", "", "this list", Help},
      {"model", "[flash|pro|ID]", "pin the model (routing off); no argument: show it", Model},
      {"effort", "high|max", "reasoning effort (pins the lane)", Effort},
      {"pro", "", "run the next turn on V4-Pro, then switch back", Pro},
      {"policy", "[NAME|FILE]", "route each call with a policy; no argument: show it", Policy},
      {"mode", "[MODE]", "permissions: read-only, ask, auto-edit or full-auto; no argument: show",
       Mode},
      {"reasoning", "[on|off|last]", "show reasoning in full, collapse it, or print the last",
       Reasoning},
      {"cost", "", "the session's cost and tokens per model", Cost},
      {"cache", "", "cache-hit rates: last call, this turn, the session", Cache},
      {"compact", "", "elide the oldest tool results now (one cache miss)", Compact},
      {"mcp", "", "MCP servers: state and the tools they offer", Mcp},
      {"diff", "", "everything changed since the session started", Diff},
      {"undo", "[force]", "revert the files the last turn edited", Undo},
      {"sessions", "", "this repository's sessions, newest first", Sessions},
      {"resume", "[ID]", "continue a session (default: the latest other one here)", Resume},
      {"clear", "", "start a new session", Clear},
      {"exit", "", "leave (also Ctrl-D, or Ctrl-C twice)", Exit},
  };
  return commands;
}

}  // namespace

std::string SlashHelp() {
  std::string out;
  for (const Command& c : Commands()) {
    char line[160];
    std::snprintf(line, sizeof line, "/%-10s %-16s %s\n", c.name, c.args, c.help);
    out += line;
  }
  return out;
}

SlashResult RunSlashCommand(ChatApp& app, const std::string& line) {
  std::istringstream in(line.substr(1));
  std::string name;
  in >> name;
  std::vector<std::string> args;
  for (std::string a; in >> a;) args.push_back(a);
  if (name == "quit") name = "exit";
  for (const Command& c : Commands()) {
    if (name == c.name) return c.run(app, args);
  }
  app.Error("unknown command /" + name + " (/help lists them)");
  return SlashResult::kContinue;
}

}  // namespace dsagent
