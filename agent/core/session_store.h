// The session store: sessions as they are on disk (one trace file each under the sessions
// directory) — how ids are made, how an id finds its trace, and how a trace turns back into a
// Context for `--resume` (StoredSession) and a summary for `dsagent session list|show`. Not to be
// confused with AgentSession (agent_session.h: an open session running turns) or ChatSession
// (agent/cli: the assistant's wrapper around one). Free functions; no shared state.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/context.h"
#include "common/expected.h"
#include "common/json.h"

namespace dsagent {

// "20261123-190213-3f9a1c": sortable by start time, unique enough for one user.
std::string NewSessionId();

// The trace path of session `id` under `sessions_dir`. Error when no such session exists; a unique
// prefix of an id is accepted (like git's short hashes).
Expected<std::filesystem::path, std::string> FindSessionTrace(
    const std::filesystem::path& sessions_dir, const std::string& id);

// A stored session, rebuilt from its trace: everything resume needs.
struct StoredSession {
  std::string id;
  Json start;       // the session_start event (provider, lane, repo, system prompt, tools, ...)
  Context context;  // system prompt + tools exactly as first sent, and the whole message log
  bool torn_tail = false;
  // provider, lane and routing_policy as last set: session_start's, then each later resume or
  // settings event (/model, /effort, /policy in chat) — what a resume continues with.
  Json choices;
};

// Error: unreadable/damaged trace, or one without a session_start event.
Expected<StoredSession, std::string> LoadSession(const std::filesystem::path& trace_path);

// One line of `dsagent session list`.
struct SessionSummary {
  std::string id;
  std::string started;  // ISO timestamp of session_start
  std::string repo;
  std::string task;     // first user message, truncated
  std::string status;   // termination reason of the last run, or "incomplete"
  int steps = 0;        // model calls across all runs
  double cost_usd = 0;  // across all runs
};

// Summaries of every readable trace in `sessions_dir`, newest first. Damaged traces are listed with
// status "unreadable" rather than hidden.
std::vector<SessionSummary> ListSessions(const std::filesystem::path& sessions_dir);
SessionSummary SummarizeTrace(const std::string& id, const std::vector<Json>& events);

}  // namespace dsagent
