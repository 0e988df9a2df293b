#include "agent/cli/session_command.h"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "agent/core/run_setup.h"
#include "agent/core/session_store.h"
#include "agent/core/termination.h"
#include "agent/core/trace.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

Expected<fs::path, std::string> ConfiguredSessionsDir() {
  auto config = Config::Load({.repo_dir = fs::current_path(),
                              .user_file = std::nullopt,
                              .env = Config::ProcessEnvironment(),
                              .flags = {}});
  if (!config) return MakeUnexpected(config.error());
  return SessionsDir(*config);
}

std::string Clip(std::string s, size_t n) {
  for (char& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return s.size() > n ? s.substr(0, n - 3) + "..." : s;
}

// One human-readable line per trace event.
void PrintEvent(const Json& e) {
  const std::string type = e.value("type", "?");
  const std::string ts = e.value("ts", "");
  if (type == "session_start" || type == "resume") {
    const Json lane = e.value("lane", Json::object());
    std::printf("%s %s provider=%s model=%s thinking=%s effort=%s\n", ts.c_str(), type.c_str(),
                e.value("provider", "").c_str(), lane.value("model", "").c_str(),
                lane.value("thinking", true) ? "on" : "off", lane.value("effort", "").c_str());
  } else if (type == "route") {
    const Json lane = e.value("lane", Json::object());
    const Json f = e.value("features", Json::object());
    std::printf("%s route    step %d -> %s (thinking %s, %s) by %s: %s\n", ts.c_str(),
                e.value("step", 0), lane.value("model", "").c_str(),
                lane.value("thinking", true) ? "on" : "off", lane.value("effort", "").c_str(),
                e.value("policy", "").c_str(), e.value("reason", "").c_str());
    std::printf("    features: phase %s, failures %d, context %lld tokens, spent $%.5f\n",
                f.value("phase", "").c_str(), f.value("failures_since_success", 0),
                static_cast<long long>(f.value("context_tokens", 0LL)),
                f.value("cost_so_far_usd", 0.0));
    for (const auto& a : e.value("alternatives", Json::array())) {
      std::printf("    option %s: next call ~$%.5f (%lld tokens uncached)\n",
                  a["lane"].value("model", "").c_str(), a.value("est_next_call_usd", 0.0),
                  static_cast<long long>(a.value("unseen_tokens", 0LL)));
    }
  } else if (type == "request") {
    std::printf("%s request  step %d, %d messages\n", ts.c_str(), e.value("step", 0),
                e.value("messages", 0));
  } else if (type == "response") {
    const Json u = e.value("usage", Json::object());
    const Json m = e.value("message", Json::object());
    std::printf(
        "%s response step %d %s: in %lld (hit %lld), out %lld, $%.5f\n", ts.c_str(),
        e.value("step", 0), e.value("served_model", "").c_str(),
        static_cast<long long>(u.value("input_cache_hit", 0LL) + u.value("input_cache_miss", 0LL)),
        static_cast<long long>(u.value("input_cache_hit", 0LL)),
        static_cast<long long>(u.value("output", 0LL)), e.value("cost_usd", 0.0));
    if (!m.value("content", "").empty()) {
      std::printf("    text: %s\n", Clip(m.value("content", ""), 200).c_str());
    }
    for (const auto& c : m.value("tool_calls", Json::array())) {
      std::printf("    call: %s %s\n", c["function"].value("name", "").c_str(),
                  Clip(c["function"].value("arguments", ""), 160).c_str());
    }
  } else if (type == "tool") {
    const Json m = e.value("message", Json::object());
    std::printf("%s tool     %s %s: %s\n", ts.c_str(), e.value("name", "").c_str(),
                e.value("ok", false) ? "ok" : "error", Clip(m.value("content", ""), 160).c_str());
  } else if (type == "message") {
    const Json m = e.value("message", Json::object());
    std::printf("%s %-8s %s\n", ts.c_str(), m.value("role", "").c_str(),
                Clip(m.value("content", ""), 200).c_str());
  } else if (type == "error") {
    std::printf("%s error    %s: %s\n", ts.c_str(), e.value("kind", "").c_str(),
                Clip(e.value("message", ""), 200).c_str());
  } else if (type == "permission") {
    if (e.contains("answer")) {
      const std::string pattern = e.value("pattern", "");
      std::printf("%s permit   %s: the user answered %s%s\n", ts.c_str(),
                  e.value("name", "").c_str(), e.value("answer", "").c_str(),
                  pattern.empty() ? "" : (" (" + pattern + ")").c_str());
    } else {
      std::printf("%s permit   %s %s%s: %s\n", ts.c_str(), e.value("name", "").c_str(),
                  e.value("decision", "").c_str(), e.value("headless", false) ? " (headless)" : "",
                  Clip(e.value("reason", ""), 200).c_str());
    }
  } else if (type == "end") {
    std::printf("%s end      %s after %d step(s), $%.5f, cache hit %.1f%%\n", ts.c_str(),
                e.value("termination_reason", "").c_str(), e.value("steps", 0),
                e.value("cost_usd", 0.0), 100.0 * e.value("cache_hit_rate", 0.0));
  } else {
    std::printf("%s %s\n", ts.c_str(), type.c_str());
  }
}

}  // namespace

void AddSessionCommand(CLI::App& app, CommandTable& table) {
  struct Flags {
    bool json = false, routing = false;
    std::string id;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("session", "Inspect recorded sessions");
  cmd->require_subcommand(1);
  auto* list = cmd->add_subcommand("list", "List sessions, newest first");
  list->add_flag("--json", f->json, "JSON output");
  auto* show = cmd->add_subcommand("show", "Show one session's trace");
  show->add_option("id", f->id, "Session id (a unique prefix is enough)")->required();
  show->add_flag("--json", f->json, "Print the raw trace events (JSONL)");
  show->add_flag("--routing", f->routing,
                 "Print only the routing decisions (policy, features, lane, alternatives)");
  table.Bind(list, [f] { return SessionListCommand(f->json); });
  table.Bind(show, [f] { return SessionShowCommand(f->id, f->json, f->routing); });
}

int SessionListCommand(bool json) {
  auto dir = ConfiguredSessionsDir();
  if (!dir) {
    std::fprintf(stderr, "dsagent: %s\n", dir.error().c_str());
    return kExitConfigAuth;
  }
  const auto sessions = ListSessions(*dir);
  if (json) {
    Json arr = Json::array();
    for (const auto& s : sessions) {
      arr.push_back({{"id", s.id},
                     {"started", s.started},
                     {"repo", s.repo},
                     {"task", s.task},
                     {"status", s.status},
                     {"steps", s.steps},
                     {"cost_usd", s.cost_usd}});
    }
    std::cout << CanonicalJson(arr) << std::endl;
    return kExitDone;
  }
  if (sessions.empty()) {
    std::printf("no sessions in %s\n", dir->c_str());
    return kExitDone;
  }
  std::printf("%-22s %-12s %5s %9s  %s\n", "ID", "STATUS", "STEPS", "COST", "TASK");
  for (const auto& s : sessions) {
    std::printf("%-22s %-12s %5d %9.4f  %s\n", s.id.c_str(), s.status.c_str(), s.steps, s.cost_usd,
                Clip(s.task, 60).c_str());
  }
  return kExitDone;
}

int SessionShowCommand(const std::string& id, bool json, bool routing) {
  auto dir = ConfiguredSessionsDir();
  if (!dir) {
    std::fprintf(stderr, "dsagent: %s\n", dir.error().c_str());
    return kExitConfigAuth;
  }
  auto path = FindSessionTrace(*dir, id);
  if (!path) {
    std::fprintf(stderr, "dsagent: %s\n", path.error().c_str());
    return kExitUsage;
  }
  auto trace = ReadTrace(*path);
  if (!trace) {
    std::fprintf(stderr, "dsagent: %s\n", trace.error().c_str());
    return kExitError;
  }
  const auto shown = [routing](const Json& e) {
    return !routing || e.value("type", "") == "route";
  };
  if (json) {
    for (const auto& e : trace->events) {
      if (shown(e)) std::cout << CanonicalJson(e) << "\n";
    }
    return kExitDone;
  }
  const SessionSummary s = SummarizeTrace(path->stem().string(), trace->events);
  std::printf("session %s  repo %s  status %s  steps %d  cost $%.5f\n", s.id.c_str(),
              s.repo.c_str(), s.status.c_str(), s.steps, s.cost_usd);
  for (const auto& e : trace->events) {
    if (shown(e)) PrintEvent(e);
  }
  if (trace->torn_tail) std::printf("(the last line was torn by a crash and is ignored)\n");
  return kExitDone;
}

}  // namespace dsagent
