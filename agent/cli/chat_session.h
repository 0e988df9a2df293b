// ChatSession: an AgentSession as the interactive assistant uses it — one turn per user message —
// plus what the front end needs between turns: what the session has spent (UsageMeter), the edit
// sets /undo reverts (EditJournal), the working-tree snapshot /diff compares against (taken when
// the session opens), a one-turn switch to Pro (/pro) and notes for the model's next message.
// Not thread-safe; lives on the main thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/agent_session.h"
#include "agent/core/edit_journal.h"
#include "agent/core/worktree_snapshot.h"
#include "agent/ui/usage_meter.h"

namespace dsagent {

class ChatSession {
 public:
  // Opens (or resumes) the session and snapshots the working tree. A resumed session's earlier
  // calls count in the usage totals.
  static Expected<std::unique_ptr<ChatSession>, SessionOpenError> Open(
      const SessionOpenOptions& options, const CancelToken& cancel);

  AgentSession& agent() { return *agent_; }
  const AgentSession& agent() const { return *agent_; }
  UsageMeter& usage() { return usage_; }
  const UsageMeter& usage() const { return usage_; }
  EditJournal& journal() { return journal_; }
  // The snapshot behind /diff; nullptr with snapshot_error() saying why (e.g. not a git repo).
  const WorktreeSnapshot* snapshot() const { return snapshot_ ? &*snapshot_ : nullptr; }
  const std::string& snapshot_error() const { return snapshot_error_; }

  // Appends `text` (after any pending notes) as the user's message and runs the loop, with `view`
  // seeing everything; records usage, the turn's edit set and the trace's end event. `cancel`
  // (Ctrl-C) ends the turn as "interrupted"; the session stays usable.
  RunEnvelope RunTurn(const std::string& text, AgentObserver& view, const CancelToken& cancel);

  // Turns run in this process (not counting a resumed session's earlier ones).
  int turns() const { return turns_; }

  // The next turn runs on the Pro lane (routing paused for that turn only).
  void ArmPro() { pro_armed_ = true; }
  bool pro_armed() const { return pro_armed_; }
  // Prepended to the next user message, so the model learns of e.g. an /undo; the log stays
  // append-only.
  void AddNote(std::string note) { notes_.push_back(std::move(note)); }

  // The lane of the last call, or the one the next call would use when there was none.
  Lane CurrentLane() const;
  // The lane /pro switches to: the routing policy's Pro lane, else V4-Pro at max effort.
  Lane ProLane() const;

 private:
  explicit ChatSession(std::unique_ptr<AgentSession> agent)
      : agent_(std::move(agent)), journal_(agent_->workspace()) {}

  std::unique_ptr<AgentSession> agent_;
  UsageMeter usage_;
  EditJournal journal_;
  std::optional<WorktreeSnapshot> snapshot_;
  std::string snapshot_error_;
  bool pro_armed_ = false;
  int turns_ = 0;
  std::vector<std::string> notes_;
  std::optional<Lane> last_lane_;
};

}  // namespace dsagent
