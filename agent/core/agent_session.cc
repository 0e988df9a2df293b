#include "agent/core/agent_session.h"

#include <algorithm>
#include <cstdlib>

#include "agent/core/mcp_setup.h"
#include "agent/core/project_instructions.h"
#include "agent/core/run_setup.h"
#include "agent/core/session_store.h"
#include "agent/core/tool_specs.h"
#include "prompts/prompts.h"
#include "tools/repomap/repo_map.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

using Flags = std::vector<std::pair<std::string, std::string>>;

// Command-line flags win, then the resumed session's own choices (StoredSession::choices), then
// config.
Flags ResumeDefaults(const Json& choices, const Flags& flags) {
  auto flagged = [&](const std::string& key) {
    for (const auto& [k, v] : flags) {
      if (k == key) return true;
    }
    return false;
  };
  Flags out;
  const Json lane = choices.value("lane", Json::object());
  if (!flagged("provider") && choices.contains("provider")) {
    out.emplace_back("provider", choices["provider"].get<std::string>());
  }
  const std::string policy = choices.value("routing_policy", "");
  if (!policy.empty()) {
    // A routed session keeps routing (unless the user pins a model or picks another policy).
    if (!flagged("model") && !flagged("routing.policy")) {
      out.emplace_back("routing.policy", policy);
    }
  } else {
    if (!flagged("model") && lane.contains("model")) out.emplace_back("model", lane["model"]);
    if (!flagged("thinking") && lane.contains("thinking")) {
      out.emplace_back("thinking", lane["thinking"].get<bool>() ? "true" : "false");
    }
    if (!flagged("effort") && lane.contains("effort")) out.emplace_back("effort", lane["effort"]);
    if (!flagged("routing.policy")) out.emplace_back("routing.policy", "");
  }
  out.insert(out.end(), flags.begin(), flags.end());
  return out;
}

Json LaneToJson(const Lane& lane) {
  return {{"model", lane.model}, {"thinking", lane.thinking}, {"effort", lane.effort}};
}

Termination OpenFailure(TerminationReason reason, std::string message) {
  return {reason, std::move(message)};
}

// The session `options.resume` names, loaded from its trace, with the flags its own choices imply.
struct ResumedSession {
  StoredSession loaded;
  fs::path trace_path;
  Flags flags;
};

Expected<std::optional<ResumedSession>, Termination> LoadResumedSession(
    const SessionOpenOptions& options) {
  if (options.resume.empty()) return std::optional<ResumedSession>();
  // The sessions dir may itself be configured; read config once without repo to find it.
  auto base =
      Config::Load({.repo_dir = options.repo.empty() ? fs::current_path() : fs::path(options.repo),
                    .user_file = std::nullopt,
                    .env = Config::ProcessEnvironment(),
                    .flags = options.flags});
  if (!base) return MakeUnexpected(OpenFailure(TerminationReason::kErrorConfig, base.error()));
  fs::path trace_path = options.trace_file;
  if (trace_path.empty()) {
    auto found = FindSessionTrace(SessionsDir(*base), options.resume);
    if (!found) return MakeUnexpected(OpenFailure(TerminationReason::kErrorUsage, found.error()));
    trace_path = *found;
  }
  auto loaded = LoadSession(trace_path);
  if (!loaded) return MakeUnexpected(OpenFailure(TerminationReason::kErrorSession, loaded.error()));
  Flags flags = ResumeDefaults(loaded->choices, options.flags);
  return std::optional<ResumedSession>(
      ResumedSession{std::move(*loaded), std::move(trace_path), std::move(flags)});
}

// --repo, else the resumed session's repository, else the current directory; canonical.
Expected<fs::path, Termination> ResolveWorkspace(const SessionOpenOptions& options,
                                                 const std::optional<ResumedSession>& resumed) {
  const fs::path repo = !options.repo.empty() ? fs::path(options.repo)
                        : resumed             ? fs::path(resumed->loaded.start.value("repo", ""))
                                              : fs::current_path();
  std::error_code ec;
  fs::path workspace = fs::canonical(repo, ec);
  if (ec || !fs::is_directory(workspace)) {
    return MakeUnexpected(OpenFailure(
        TerminationReason::kErrorUsage,
        "repository directory '" + repo.string() + "' does not exist or is not a directory"));
  }
  return workspace;
}

// The context window requests must fit: `context_tokens` when set, else the local engine's
// limit or the model's window from the catalog; 0 when none is known.
int64_t ContextBudget(const Config& config, const ModelCatalog& catalog, const Lane& lane) {
  if (const int64_t set = config.GetInt("context_tokens"); set > 0) return set;
  if (config.GetString("provider") == "local") {
    return config.GetInt("providers.local.context_tokens");
  }
  const ModelInfo* info = catalog.Find(lane.model);
  return info ? info->context_tokens : 0;
}

// Lane, limits, router, permissions and context budget from the merged config.
Expected<AgentSettings, Termination> SettingsFromConfig(const Config& config,
                                                        const fs::path& workspace,
                                                        const ModelCatalog& catalog,
                                                        PermissionFront front) {
  AgentSettings settings = AgentSettingsFromConfig(config);
  settings.user_id = RepoUserId(workspace);
  settings.context_tokens = ContextBudget(config, catalog, settings.lane);
  if (RoutingApplies(config)) {
    auto router = Router::Load(config.GetString("routing.policy"), catalog);
    if (!router)
      return MakeUnexpected(OpenFailure(TerminationReason::kErrorConfig, router.error()));
    settings.router = std::move(*router);
  }
  auto permissions = PermissionPolicyFromConfig(config, workspace, front);
  if (!permissions)
    return MakeUnexpected(OpenFailure(TerminationReason::kErrorConfig, permissions.error()));
  settings.permissions = std::move(*permissions);
  return settings;
}

// The session's tools: the built-in ones, then the MCP servers' tools in an order fixed for the
// session, and the environment tool subprocesses get.
struct SessionTools {
  ToolEnvironment environment;
  ToolRegistry registry;
  std::shared_ptr<McpServerSet> mcp_servers;
  std::vector<McpServerConfig> untrusted_mcp_servers;
};

Expected<SessionTools, Termination> OpenSessionTools(const Config& config,
                                                     const fs::path& workspace,
                                                     const McpTrustAsk& ask_mcp_trust,
                                                     std::vector<std::string>& warnings,
                                                     const CancelToken& cancel) {
  auto environment = ToolEnvironmentFromConfig(config, Config::ProcessEnvironment());
  if (!environment) {
    return MakeUnexpected(OpenFailure(TerminationReason::kErrorConfig, environment.error()));
  }
  SessionTools tools{std::move(*environment), ToolRegistry::BuiltIn(), nullptr, {}};
  // Servers the repository defines need the user's consent first.
  McpServerSelection selection = SelectTrustedMcpServers(
      config, workspace, ask_mcp_trust ? McpTrustFront::kAsk : McpTrustFront::kHeadless,
      ask_mcp_trust, McpTrustStore(McpTrustStorePath()));
  for (std::string& note : selection.notes) warnings.push_back(std::move(note));
  tools.untrusted_mcp_servers = std::move(selection.untrusted);
  tools.mcp_servers = AddMcpTools(config, selection.start, workspace, tools.environment.child.vars,
                                  tools.registry, warnings, cancel);
  return tools;
}

// Where the session's context and trace start: a resumed session continues its own; a new one
// gets a fresh id and starts from the system prompt and the tools.
struct SessionStartingPoint {
  std::string session_id;
  fs::path trace_path;
  Context context;
};

SessionStartingPoint StartingPoint(const SessionOpenOptions& options,
                                   std::optional<ResumedSession>& resumed, const Config& config,
                                   const ToolRegistry& registry) {
  if (resumed) {
    return {resumed->loaded.id, resumed->trace_path, std::move(resumed->loaded.context)};
  }
  std::string id = NewSessionId();
  fs::path trace_path = !options.trace_file.empty() ? fs::path(options.trace_file)
                                                    : SessionsDir(config) / (id + ".jsonl");
  return {std::move(id), std::move(trace_path),
          Context(std::string(prompts::Find("system.md").value_or("")), ToolSpecsOf(registry))};
}

}  // namespace

Expected<std::unique_ptr<AgentSession>, SessionOpenError> AgentSession::Open(
    const SessionOpenOptions& options, const CancelToken& cancel) {
  SessionOpenError err;
  const auto fail = [&err](Termination t) {
    err.termination = std::move(t);
    return MakeUnexpected(std::move(err));
  };

  // Resume: find and load the session first; its repo and lane are the defaults.
  auto resumed = LoadResumedSession(options);
  if (!resumed) return fail(resumed.error());
  auto workspace = ResolveWorkspace(options, *resumed);
  if (!workspace) return fail(workspace.error());
  auto config = Config::Load({.repo_dir = *workspace,
                              .user_file = std::nullopt,
                              .env = Config::ProcessEnvironment(),
                              .flags = *resumed ? (*resumed)->flags : options.flags});
  if (!config) return fail({TerminationReason::kErrorConfig, config.error()});
  err.workspace = *workspace;
  err.warnings = config->Warnings();

  ProviderOptions provider_options = ProviderOptionsFromConfig(*config);
  provider_options.local_engines = options.local_engines;
  provider_options.local_load = options.local_load;
  provider_options.local_load_cancel = cancel;
  auto provider = MakeProvider(provider_options);
  if (!provider) return fail(FromProviderError(provider.error()));
  auto catalog = ModelCatalog::Load(std::nullopt);
  if (!catalog) return fail({TerminationReason::kErrorConfig, catalog.error()});
  auto owned_catalog = std::make_unique<ModelCatalog>(std::move(*catalog));
  auto settings = SettingsFromConfig(*config, *workspace, *owned_catalog, options.permission_front);
  if (!settings) return fail(settings.error());
  if (std::string notice = SandboxNotice(*config); !notice.empty()) {
    err.warnings.push_back(std::move(notice));
  }
  auto tools = OpenSessionTools(*config, *workspace, options.ask_mcp_trust, err.warnings, cancel);
  if (!tools) return fail(tools.error());
  SessionStartingPoint start = StartingPoint(options, *resumed, *config, tools->registry);
  err.session_id = start.session_id;
  auto trace = TraceWriter::Open(start.trace_path);
  if (!trace) return fail({TerminationReason::kErrorTrace, trace.error()});

  std::unique_ptr<AgentSession> s(new AgentSession(std::move(*config), std::move(owned_catalog),
                                                   std::move(start.context), std::move(*trace)));
  s->provider_ = std::move(*provider);
  s->registry_ = std::move(tools->registry);
  s->mcp_servers_ = std::move(tools->mcp_servers);
  s->untrusted_mcp_servers_ = std::move(tools->untrusted_mcp_servers);
  s->tool_environment_ = std::move(tools->environment);
  s->settings_ = std::move(*settings);
  s->id_ = start.session_id;
  s->provider_name_ = s->config_.GetString("provider");
  s->workspace_ = *workspace;
  s->warnings_ = err.warnings;
  s->resumed_ = resumed->has_value();
  if (auto begun = s->BeginInTrace(cancel); !begun) {
    return fail({TerminationReason::kErrorTrace, begun.error()});
  }
  return s;
}

Expected<Ok, std::string> AgentSession::BeginInTrace(const CancelToken& cancel) {
  if (auto w = RecordOpening(); !w) return w;
  // A session killed mid-step left tool calls without results.
  if (auto w = SettleUnansweredToolCalls(); !w) return w;
  if (resumed_) return Ok{};
  return AppendSessionStartMessages(cancel);
}

Expected<Ok, std::string> AgentSession::RecordOpening() {
  const AgentSettings& st = settings_;
  const Json limits = {{"max_steps", st.limits.max_steps},
                       {"max_cost_usd", st.limits.max_cost_usd},
                       {"timeout_s", st.limits.timeout_s}};
  Json opening = resumed_ ? Json{{"type", "resume"}}
                          : Json{{"type", "session_start"},
                                 {"session_id", id_},
                                 {"dsagent_version", DSAGENT_VERSION},
                                 {"repo", workspace_.string()},
                                 {"user_id", st.user_id},
                                 {"system_prompt", context_.system_prompt()},
                                 {"tools", ToolSpecsToJson(context_.tools())},
                                 {"prefix_sha256", context_.PrefixHash()}};
  opening["provider"] = provider_name_;
  opening["lane"] = LaneToJson(st.lane);
  opening["routing_policy"] = st.router ? st.router->name() : "";
  opening["permissions_mode"] = PermissionModeName(st.permissions->mode());
  opening["limits"] = limits;
  return trace_.Append(std::move(opening));
}

// The session-start messages sit right after the static prefix and are frozen in the trace, so a
// resumed session replays them byte for byte; later maps (the repo_map tool) and later edits of
// AGENTS.md never change them.
Expected<Ok, std::string> AgentSession::AppendSessionStartMessages(const CancelToken& cancel) {
  const int64_t map_tokens = config_.GetInt("repo_map.tokens");
  if (map_tokens > 0) {
    std::string map = RenderSessionRepoMap(workspace_, static_cast<size_t>(map_tokens),
                                           std::chrono::seconds(20), cancel);
    if (!map.empty()) {
      if (auto w = AppendMessage(UserMessage(std::move(map)), {{"repo_map", true}}); !w) return w;
    }
  }
  if (auto text = ProjectInstructionsMessage(workspace_); !text.empty()) {
    return AppendMessage(UserMessage(std::move(text)), {{"project_instructions", true}});
  }
  return Ok{};
}

AgentSession::~AgentSession() = default;

Expected<Ok, std::string> AgentSession::AppendMessage(Message message, Json extra) {
  extra["type"] = "message";
  extra["message"] = MessageToJson(message);
  context_.Append(std::move(message));
  return trace_.Append(std::move(extra));
}

Expected<Ok, std::string> AgentSession::SettleUnansweredToolCalls() {
  for (const ToolCall& call : context_.UnansweredToolCalls()) {
    Message m =
        ToolResultMessage(call.id,
                          "error: the session was interrupted before this tool call's result was "
                          "recorded: it may have run in full, in part or not at all. Check its "
                          "effects before running it again.");
    if (auto w = AppendMessage(std::move(m), {{"settled", true}}); !w) return w;
  }
  return Ok{};
}

Expected<Ok, std::string> AgentSession::RecordSettings() {
  return trace_.Append({{"type", "settings"},
                        {"lane", LaneToJson(settings_.lane)},
                        {"routing_policy", settings_.router ? settings_.router->name() : ""}});
}

Expected<Ok, std::string> AgentSession::PinLane(const Lane& lane) {
  settings_.lane = lane;
  settings_.router.reset();
  return RecordSettings();
}

Expected<Ok, std::string> AgentSession::UsePolicy(const std::string& name_or_file) {
  auto router = Router::Load(name_or_file, *catalog_);
  if (!router) return MakeUnexpected(router.error());
  settings_.router = std::move(*router);
  return RecordSettings();
}

Expected<Ok, Termination> AgentSession::AddUserMessage(std::string text) {
  if (auto w = SettleUnansweredToolCalls(); !w) {
    return MakeUnexpected(Termination{TerminationReason::kErrorTrace, w.error()});
  }
  if (auto w = AppendMessage(UserMessage(std::move(text)), Json::object()); !w) {
    return MakeUnexpected(Termination{TerminationReason::kErrorTrace, w.error()});
  }
  return Ok{};
}

Expected<Compaction, std::string> AgentSession::Compact() {
  int64_t target = context_.EstimatedTokens() / 2;
  if (settings_.context_tokens > 0) {
    target =
        std::min(target, CompactionTarget(settings_.context_tokens, settings_.max_output_tokens));
  }
  return CompactAndRecord(context_, target, "requested", Json::object(), trace_);
}

bool AgentSession::CanContinue() const {
  return !context_.log().empty() && context_.log().back().role != Role::kAssistant;
}

RunReport AgentSession::RunTurn(AgentObserver& observer, const CancelToken& cancel) {
  fs::path temp_dir;
  if (config_.GetBool("sandbox.enabled")) {
    std::string tmpl = (fs::temp_directory_path() / "dsagent-tmp-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) temp_dir = tmpl;
  }
  ToolContext tool_context = ToolContextFromConfig(config_, workspace_, temp_dir);
  tool_context.environment = tool_environment_.child.vars;
  tool_context.redactor = tool_environment_.redactor;
  AgentLoop loop(*provider_, registry_, std::move(tool_context), trace_, *catalog_);
  if (mcp_servers_) {
    // An MCP server's changed tool list takes effect at the next step boundary.
    loop.set_tool_watcher([this](const CancelToken& step_cancel) -> std::optional<ToolListUpdate> {
      McpToolsUpdate update = ApplyMcpToolChanges(*mcp_servers_, registry_, step_cancel);
      if (update.note.empty()) return std::nullopt;
      return ToolListUpdate{.tools = ToolSpecsOf(registry_),
                            .record = {{"added", update.added},
                                       {"changed", update.changed},
                                       {"removed", update.removed}},
                            .note = std::move(update.note)};
    });
  }
  RunReport report = loop.Run(context_, settings_, observer, cancel);
  std::error_code ec;
  if (!temp_dir.empty()) fs::remove_all(temp_dir, ec);
  return report;
}

Expected<Ok, std::string> AgentSession::RecordEnd(const RunEnvelope& envelope) {
  Json end = EnvelopeToJson(envelope);
  end["type"] = "end";
  return trace_.Append(std::move(end));
}

RunEnvelope EnvelopeFromReport(const RunReport& report, const std::string& session_id) {
  RunEnvelope env;
  env.termination = report.termination;
  env.result = report.result;
  env.session_id = session_id;
  env.steps = report.steps;
  env.cost_usd = report.ledger.total_cost_usd();
  env.usage = report.ledger.total_usage();
  env.models = report.ledger.per_model();
  return env;
}

}  // namespace dsagent
