// AgentSession: one open session — its merged config, provider, lane or routing policy, context
// and trace — that runs turns. `dsagent run` (HeadlessRun) opens one and runs a single turn; the
// interactive assistant runs one turn per user message. Both write the same JSONL trace, so
// `dsagent session show` and `--resume` work on either. Not thread-safe; one per front end.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/config/config.h"
#include "agent/config/model_catalog.h"
#include "agent/core/agent_loop.h"
#include "agent/core/context.h"
#include "agent/core/mcp_trust.h"
#include "agent/core/permission_setup.h"
#include "agent/core/run_envelope.h"
#include "agent/core/termination.h"
#include "agent/core/tool_environment.h"
#include "agent/core/trace.h"
#include "agent/providers/local_engines.h"
#include "common/cancel.h"
#include "common/expected.h"
#include "tools/registry.h"

namespace dsagent {

class McpServerSet;

struct SessionOpenOptions {
  std::filesystem::path repo;        // workspace; empty: current dir (or the resumed session's)
  std::string resume;                // session id (or unique prefix) to continue
  std::filesystem::path trace_file;  // explicit trace path instead of the sessions directory
  // Command-line config overrides as (dotted key, value): provider, model, thinking, ...
  std::vector<std::pair<std::string, std::string>> flags;
  // Which permission mode the session starts in: permissions.headless_mode (default full-auto)
  // or, for the interactive terminal, permissions.mode (default ask). See permission_setup.h.
  PermissionFront permission_front = PermissionFront::kHeadless;
  // MCP servers a repository's config defines (mcp_trust.h): the interactive assistant asks
  // through this (answers are remembered); when it is null (headless) they start only if
  // mcp.trust_repo_servers is set outside the repository (--trust-repo-mcp).
  McpTrustAsk ask_mcp_trust;
  // With provider local: the engine a process keeps across its sessions (null: this session's
  // provider loads its own), and what a person is told while one loads (local_engines.h).
  LocalEngines* local_engines = nullptr;
  LocalLoadNotices local_load;
};

// Why a session could not be opened, with whatever was known by then.
struct SessionOpenError {
  Termination termination;  // error:usage, error:config, error:session, error:trace, ...
  std::string session_id;   // empty unless the session was found
  std::filesystem::path workspace;
  std::vector<std::string> warnings;  // config warnings worth showing a person
};

class AgentSession {
 public:
  // Loads config (layers + `flags`; a resumed session's own provider/lane/policy come before the
  // flags), builds the provider and router, opens or resumes the trace and writes its opening
  // event (session_start / resume). A new session's log starts with the frozen session-start
  // messages: the repository map and the project instructions (AGENTS.md, CLAUDE.md). A resumed
  // session's unanswered tool calls are answered as interrupted. Never throws.
  static Expected<std::unique_ptr<AgentSession>, SessionOpenError> Open(
      const SessionOpenOptions& options, const CancelToken& cancel);

  AgentSession(const AgentSession&) = delete;
  AgentSession& operator=(const AgentSession&) = delete;
  ~AgentSession();

  const std::string& id() const { return id_; }
  const std::filesystem::path& workspace() const { return workspace_; }
  const std::filesystem::path& trace_path() const { return trace_.path(); }
  const Config& config() const { return config_; }
  const ModelCatalog& catalog() const { return *catalog_; }
  const std::string& provider_name() const { return provider_name_; }
  bool resumed() const { return resumed_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  const Context& context() const { return context_; }
  // The MCP servers connected at open (agent/core/mcp_setup.h); null when none is configured.
  const McpServerSet* mcp_servers() const { return mcp_servers_.get(); }
  // Repository-defined MCP servers left unstarted for want of consent (mcp_trust.h), for /mcp.
  const std::vector<McpServerConfig>& untrusted_mcp_servers() const {
    return untrusted_mcp_servers_;
  }
  // Shell commands' environment and the secrets redacted from tool output, fixed at open.
  const ToolEnvironment& tool_environment() const { return tool_environment_; }

  // The settings every turn uses (lane, router, limits). Front ends may set fields the loop
  // reads (e.g. an approver); lane/routing changes should go through PinLane/UsePolicy so that
  // the trace records them.
  AgentSettings& settings() { return settings_; }
  const AgentSettings& settings() const { return settings_; }

  // Turns routing off and uses `lane` for every call from now on. Records a "settings" event.
  Expected<Ok, std::string> PinLane(const Lane& lane);
  // Routes with policy `name_or_file` (see Router::Load) from now on. Error: unknown policy or a
  // trace write failure (the previous routing then stays).
  Expected<Ok, std::string> UsePolicy(const std::string& name_or_file);

  // Appends a user message to the context and the trace, after answering any tool calls an
  // interrupted turn left without results (the API requires an answer to each). Error:
  // error:trace.
  Expected<Ok, Termination> AddUserMessage(std::string text);
  // `/compact`: elides the oldest tool results now, as the loop does when the next request would
  // not fit the context window (compaction.h), down to half the current size (or the loop's
  // target, if lower). Returns the compaction (empty when nothing could be elided). Error: a
  // trace write failure.
  Expected<Compaction, std::string> Compact();
  // Whether the log ends with something for the model to answer (not with an assistant reply).
  bool CanContinue() const;

  // Runs the agent loop until the model answers without tool calls or a limit stops it. Shell
  // commands get tool_environment(), and sandboxed ones a private TMPDIR for the turn; every tool
  // result is redacted. `cancel` ends the turn as "interrupted".
  RunReport RunTurn(AgentObserver& observer, const CancelToken& cancel);
  // Appends the turn's end event (its envelope). Best effort: a failure is returned, not fatal.
  Expected<Ok, std::string> RecordEnd(const RunEnvelope& envelope);

 private:
  AgentSession(Config config, std::unique_ptr<ModelCatalog> catalog, Context context,
               TraceWriter trace)
      : config_(std::move(config)),
        catalog_(std::move(catalog)),
        context_(std::move(context)),
        trace_(std::move(trace)) {}
  // The trace's opening: RecordOpening, answers for calls a killed session left unanswered, and
  // a new session's start messages. The error is why the trace cannot be written.
  Expected<Ok, std::string> BeginInTrace(const CancelToken& cancel);
  Expected<Ok, std::string> RecordOpening();  // session_start, or resume
  Expected<Ok, std::string> AppendSessionStartMessages(const CancelToken& cancel);
  Expected<Ok, std::string> RecordSettings();
  Expected<Ok, std::string> SettleUnansweredToolCalls();
  Expected<Ok, std::string> AppendMessage(Message message, Json extra);

  Config config_;
  std::unique_ptr<ModelCatalog> catalog_;  // stable address: the router refers to it
  Context context_;
  TraceWriter trace_;
  std::unique_ptr<Provider> provider_;
  ToolRegistry registry_;
  std::shared_ptr<McpServerSet> mcp_servers_;
  std::vector<McpServerConfig> untrusted_mcp_servers_;
  ToolEnvironment tool_environment_;
  AgentSettings settings_;
  std::string id_;
  std::string provider_name_;
  std::filesystem::path workspace_;
  std::vector<std::string> warnings_;
  bool resumed_ = false;
};

// The envelope of one turn: its termination, result, steps, usage, cost and per-model totals.
RunEnvelope EnvelopeFromReport(const RunReport& report, const std::string& session_id);

}  // namespace dsagent
