#include "agent/core/agent_session.h"

#include <cstdlib>

#include "agent/core/mcp_setup.h"
#include "agent/core/project_instructions.h"
#include "agent/core/run_setup.h"
#include "agent/core/session.h"
#include "prompts/prompts.h"
#include "tools/repomap/repo_map.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

using Flags = std::vector<std::pair<std::string, std::string>>;

std::vector<ToolSpec> BuiltInToolSpecs(const ToolRegistry& registry) {
  std::vector<ToolSpec> specs;
  for (auto& s : registry.Schemas()) specs.push_back({s.name, s.description, s.parameters});
  return specs;
}

// Command-line flags win, then the resumed session's own choices (LoadedSession::choices), then
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

}  // namespace

Expected<std::unique_ptr<AgentSession>, SessionOpenError> AgentSession::Open(
    const SessionOpenOptions& options, const CancelToken& cancel) {
  SessionOpenError err;
  const auto fail = [&err](Termination t) {
    err.termination = std::move(t);
    return MakeUnexpected(std::move(err));
  };

  // Resume: find and load the session first; its repo and lane are the defaults.
  std::optional<LoadedSession> resumed;
  fs::path trace_path;
  Flags flags = options.flags;
  if (!options.resume.empty()) {
    // The sessions dir may itself be configured; read config once without repo to find it.
    auto base = Config::Load(
        {.repo_dir = options.repo.empty() ? fs::current_path() : fs::path(options.repo),
         .user_file = std::nullopt,
         .env = Config::ProcessEnvironment(),
         .flags = options.flags});
    if (!base) return fail({"error:config", base.error()});
    if (!options.trace_file.empty()) {
      trace_path = options.trace_file;
    } else {
      auto found = FindSessionTrace(SessionsDir(*base), options.resume);
      if (!found) return fail({"error:usage", found.error()});
      trace_path = *found;
    }
    auto loaded = LoadSession(trace_path);
    if (!loaded) return fail({"error:session", loaded.error()});
    resumed.emplace(std::move(*loaded));
    flags = ResumeDefaults(resumed->choices, options.flags);
  }

  std::error_code ec;
  fs::path repo = !options.repo.empty() ? fs::path(options.repo)
                  : resumed             ? fs::path(resumed->start.value("repo", ""))
                                        : fs::current_path();
  fs::path workspace = fs::canonical(repo, ec);
  if (ec || !fs::is_directory(workspace)) {
    return fail({"error:usage", "repository directory '" + repo.string() +
                                    "' does not exist or is not a directory"});
  }

  auto config = Config::Load({.repo_dir = workspace,
                              .user_file = std::nullopt,
                              .env = Config::ProcessEnvironment(),
                              .flags = flags});
  if (!config) return fail({"error:config", config.error()});
  err.workspace = workspace;
  err.warnings = config->Warnings();

  auto provider = MakeProvider(ProviderOptionsFromConfig(*config));
  if (!provider) return fail(FromProviderError(provider.error()));

  auto catalog = ModelCatalog::Load(std::nullopt);
  if (!catalog) return fail({"error:config", catalog.error()});
  auto owned_catalog = std::make_unique<ModelCatalog>(std::move(*catalog));

  AgentSettings settings = AgentSettingsFromConfig(*config);
  settings.user_id = RepoUserId(workspace);
  if (RoutingApplies(*config)) {
    auto router = Router::Load(config->GetString("routing.policy"), *owned_catalog);
    if (!router) return fail({"error:config", router.error()});
    settings.router = std::move(*router);
  }
  auto permissions = PermissionPolicyFromConfig(*config, workspace, options.permission_front);
  if (!permissions) return fail({"error:config", permissions.error()});
  settings.permissions = std::move(*permissions);
  if (std::string notice = SandboxNotice(*config); !notice.empty()) {
    err.warnings.push_back(std::move(notice));
  }
  auto tool_environment = ToolEnvironmentFromConfig(*config, Config::ProcessEnvironment());
  if (!tool_environment) return fail({"error:config", tool_environment.error()});
  ToolRegistry registry = ToolRegistry::BuiltIn();
  // MCP servers' tools follow the built-in ones, in an order fixed for the session.
  auto mcp_servers = AddMcpTools(*config, workspace, tool_environment->child.vars, registry,
                                 err.warnings, cancel);

  std::string session_id;
  std::optional<Context> context;
  if (resumed) {
    session_id = resumed->id;
    context.emplace(std::move(resumed->context));
  } else {
    session_id = NewSessionId();
    trace_path = !options.trace_file.empty() ? fs::path(options.trace_file)
                                             : SessionsDir(*config) / (session_id + ".jsonl");
    context.emplace(std::string(prompts::Find("system.md").value_or("")),
                    BuiltInToolSpecs(registry));
  }
  err.session_id = session_id;

  auto trace = TraceWriter::Open(trace_path);
  if (!trace) return fail({"error:trace", trace.error()});

  std::unique_ptr<AgentSession> s(new AgentSession(std::move(*config), std::move(owned_catalog),
                                                   std::move(*context), std::move(*trace)));
  s->provider_ = std::move(*provider);
  s->registry_ = std::move(registry);
  s->mcp_servers_ = std::move(mcp_servers);
  s->tool_environment_ = std::move(*tool_environment);
  s->settings_ = std::move(settings);
  s->id_ = session_id;
  s->provider_name_ = s->config_.GetString("provider");
  s->workspace_ = workspace;
  s->warnings_ = err.warnings;
  s->resumed_ = resumed.has_value();

  const AgentSettings& st = s->settings_;
  const Json limits = {{"max_steps", st.limits.max_steps},
                       {"max_cost_usd", st.limits.max_cost_usd},
                       {"timeout_s", st.limits.timeout_s}};
  Json opening = resumed ? Json{{"type", "resume"}}
                         : Json{{"type", "session_start"},
                                {"session_id", session_id},
                                {"dsagent_version", DSAGENT_VERSION},
                                {"repo", workspace.string()},
                                {"user_id", st.user_id},
                                {"system_prompt", s->context_.system_prompt()},
                                {"tools", ToolSpecsToJson(s->context_.tools())},
                                {"prefix_sha256", s->context_.PrefixHash()}};
  opening["provider"] = s->provider_name_;
  opening["lane"] = LaneToJson(st.lane);
  opening["routing_policy"] = st.router ? st.router->name() : "";
  opening["permissions_mode"] = PermissionModeName(st.permissions->mode());
  opening["limits"] = limits;
  if (auto w = s->trace_.Append(opening); !w) return fail({"error:trace", w.error()});

  // A session killed mid-step left tool calls without results.
  if (auto w = s->SettleUnansweredToolCalls(); !w) return fail({"error:trace", w.error()});
  // The session-start messages sit right after the static prefix and are frozen in the trace, so
  // a resumed session replays them byte for byte; later maps (the repo_map tool) and later edits
  // of AGENTS.md never change them.
  if (!resumed) {
    const int64_t map_tokens = s->config_.GetInt("repo_map.tokens");
    if (map_tokens > 0) {
      std::string map = RenderSessionRepoMap(workspace, static_cast<size_t>(map_tokens),
                                             std::chrono::seconds(20), cancel);
      if (!map.empty()) {
        if (auto w = s->AppendMessage(UserMessage(std::move(map)), {{"repo_map", true}}); !w) {
          return fail({"error:trace", w.error()});
        }
      }
    }
    if (auto text = ProjectInstructionsMessage(workspace); !text.empty()) {
      if (auto w = s->AppendMessage(UserMessage(std::move(text)), {{"project_instructions", true}});
          !w) {
        return fail({"error:trace", w.error()});
      }
    }
  }
  return s;
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
                          "error: this tool call was not run because the session was interrupted. "
                          "Run it again if it is still needed.");
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
    return MakeUnexpected(Termination{"error:trace", w.error()});
  }
  if (auto w = AppendMessage(UserMessage(std::move(text)), Json::object()); !w) {
    return MakeUnexpected(Termination{"error:trace", w.error()});
  }
  return Ok{};
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
