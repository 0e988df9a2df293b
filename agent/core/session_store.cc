#include "agent/core/session_store.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <optional>
#include <random>

#include "agent/core/trace.h"

namespace dsagent {
namespace fs = std::filesystem;

std::string NewSessionId() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%06x", rd() & 0xffffff);
  return std::string(stamp) + "-" + suffix;
}

Expected<fs::path, std::string> FindSessionTrace(const fs::path& sessions_dir,
                                                 const std::string& id) {
  if (id.empty() || id.find('/') != std::string::npos || id.find("..") != std::string::npos) {
    return MakeUnexpected("invalid session id '" + id + "'");
  }
  const fs::path exact = sessions_dir / (id + ".jsonl");
  std::error_code ec;
  if (fs::exists(exact, ec)) return exact;
  std::vector<fs::path> matches;
  for (const auto& entry : fs::directory_iterator(sessions_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".jsonl" && name.rfind(id, 0) == 0) {
      matches.push_back(entry.path());
    }
  }
  if (matches.size() == 1) return matches[0];
  if (matches.empty()) {
    return MakeUnexpected("no session '" + id + "' in " + sessions_dir.string() +
                          " (see `dsagent session list`)");
  }
  return MakeUnexpected("session id '" + id + "' is ambiguous (" + std::to_string(matches.size()) +
                        " sessions match)");
}

Expected<StoredSession, std::string> LoadSession(const fs::path& trace_path) {
  // Streamed, one event at a time: a long session's trace is never held whole in memory.
  std::optional<StoredSession> s;
  std::string error;
  auto torn = ForEachTraceEvent(trace_path, [&](Json&& e) {
    if (!error.empty()) return;
    try {
      const std::string type = e.value("type", "");
      if (!s) {
        if (type != "session_start") return;
        s.emplace(StoredSession{
            e.at("session_id").get<std::string>(), e,
            Context(e.at("system_prompt").get<std::string>(), ToolSpecsFromJson(e.at("tools"))),
            false, Json()});
      }
      if (e.contains("message")) s->context.Append(MessageFromJson(e["message"]));
      if (type == "tools_changed") s->context.SetTools(ToolSpecsFromJson(e.at("tools")));
      if (type == "compaction") {
        auto compaction = CompactionFromJson(e);
        if (!compaction) {
          error = compaction.error();
          return;
        }
        if (auto applied = s->context.ApplyCompaction(*compaction); !applied) {
          error = applied.error();
          return;
        }
      }
      if (type != "session_start" && type != "resume" && type != "settings") return;
      for (const char* key : {"provider", "lane", "routing_policy"}) {
        if (e.contains(key)) s->choices[key] = e[key];
      }
    } catch (const Json::exception& ex) {
      error = std::string("malformed event: ") + ex.what();
    } catch (const std::exception& ex) {
      error = ex.what();
    }
  });
  if (!torn) return MakeUnexpected(torn.error());
  if (!error.empty()) return MakeUnexpected(trace_path.string() + ": " + error);
  if (!s) {
    return MakeUnexpected(trace_path.string() + ": no session_start event (not a dsagent trace?)");
  }
  s->torn_tail = *torn;
  return std::move(*s);
}

SessionSummary SummarizeTrace(const std::string& id, const std::vector<Json>& events) {
  SessionSummary s;
  s.id = id;
  s.status = "incomplete";
  for (const Json& e : events) {
    const std::string type = e.value("type", "");
    if (type == "session_start") {
      s.started = e.value("ts", "");
      s.repo = e.value("repo", "");
    } else if (type == "message" && s.task.empty() && e.contains("message") &&
               e["message"].value("role", "") == "user" && !e.value("repo_map", false) &&
               !e.value("project_instructions", false)) {
      // The session-start map and instructions are not the user's task.
      s.task = e["message"].value("content", "");
    } else if (type == "response") {
      s.steps += 1;
      s.cost_usd += e.value("cost_usd", 0.0);
    } else if (type == "end") {
      s.status = e.value("termination_reason", "incomplete");
    } else if (type == "resume") {
      s.status = "incomplete";
    }
  }
  return s;
}

std::vector<SessionSummary> ListSessions(const fs::path& sessions_dir) {
  std::vector<SessionSummary> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(sessions_dir, ec)) {
    if (entry.path().extension() != ".jsonl") continue;
    const std::string id = entry.path().stem().string();
    auto trace = ReadTrace(entry.path());
    if (!trace) {
      SessionSummary s;
      s.id = id;
      s.status = "unreadable";
      out.push_back(s);
      continue;
    }
    out.push_back(SummarizeTrace(id, trace->events));
  }
  std::sort(out.begin(), out.end(),
            [](const SessionSummary& a, const SessionSummary& b) { return a.id > b.id; });
  return out;
}

}  // namespace dsagent
