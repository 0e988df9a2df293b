#include "agent/core/headless_run.h"

#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "agent/core/run_envelope.h"
#include "agent/core/run_setup.h"
#include "agent/core/session.h"
#include "agent/core/termination.h"
#include "prompts/prompts.h"
#include "tools/registry.h"
#include "tools/repomap/repo_map.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

std::vector<ToolSpec> BuiltInToolSpecs(const ToolRegistry& registry) {
  std::vector<ToolSpec> specs;
  for (auto& s : registry.Schemas()) specs.push_back({s.name, s.description, s.parameters});
  return specs;
}

// Command-line flags win, then the resumed session's own choices, then config.
std::vector<std::pair<std::string, std::string>> ResumeDefaults(
    const Json& start, const std::vector<std::pair<std::string, std::string>>& flags) {
  auto flagged = [&](const std::string& key) {
    for (const auto& [k, v] : flags) {
      if (k == key) return true;
    }
    return false;
  };
  std::vector<std::pair<std::string, std::string>> out;
  const Json lane = start.value("lane", Json::object());
  if (!flagged("provider") && start.contains("provider")) {
    out.emplace_back("provider", start["provider"].get<std::string>());
  }
  const std::string policy = start.value("routing_policy", "");
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

}  // namespace

HeadlessRunResult HeadlessRun(const HeadlessRunOptions& options, AgentObserver& observer,
                              const CancelToken& cancel) {
  HeadlessRunResult out;
  const auto fail = [&out](Termination t, const std::string& session_id = "") {
    out.envelope.termination = std::move(t);
    out.envelope.session_id = session_id;
    return out;
  };
  const std::string& task = options.task;
  if (task.empty() && options.resume.empty()) {
    return fail({"error:usage", "a TASK is required (use - to read it from stdin)"});
  }

  // Resume: find and load the session first; its repo and lane are the defaults.
  std::optional<LoadedSession> resumed;
  fs::path trace_path;
  auto flags = options.flags;
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
    flags = ResumeDefaults(resumed->start, options.flags);
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
  out.workspace = workspace;
  out.warnings = config->Warnings();

  auto provider = MakeProvider(ProviderOptionsFromConfig(*config));
  if (!provider) return fail(FromProviderError(provider.error()));

  auto catalog = ModelCatalog::Load(std::nullopt);
  if (!catalog) return fail({"error:config", catalog.error()});

  AgentSettings settings = AgentSettingsFromConfig(*config);
  settings.user_id = RepoUserId(workspace);
  if (RoutingApplies(*config)) {
    auto router = Router::Load(config->GetString("routing.policy"), *catalog);
    if (!router) return fail({"error:config", router.error()});
    settings.router = std::move(*router);
  }
  const ToolRegistry registry = ToolRegistry::BuiltIn();

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

  auto trace = TraceWriter::Open(trace_path);
  if (!trace) return fail({"error:trace", trace.error()}, session_id);

  const Json lane = {{"model", settings.lane.model},
                     {"thinking", settings.lane.thinking},
                     {"effort", settings.lane.effort}};
  const Json limits = {{"max_steps", settings.limits.max_steps},
                       {"max_cost_usd", settings.limits.max_cost_usd},
                       {"timeout_s", settings.limits.timeout_s}};
  Json opening = resumed ? Json{{"type", "resume"}}
                         : Json{{"type", "session_start"},
                                {"session_id", session_id},
                                {"dsagent_version", DSAGENT_VERSION},
                                {"repo", workspace.string()},
                                {"user_id", settings.user_id},
                                {"system_prompt", context->system_prompt()},
                                {"tools", ToolSpecsToJson(context->tools())},
                                {"prefix_sha256", context->PrefixHash()}};
  opening["provider"] = config->GetString("provider");
  opening["lane"] = lane;
  opening["routing_policy"] = settings.router ? settings.router->name() : "";
  opening["limits"] = limits;
  if (auto w = trace->Append(opening); !w) {
    return fail({"error:trace", w.error()}, session_id);
  }

  // A session killed mid-step left tool calls without results; the API requires an answer to each.
  for (const ToolCall& call : context->UnansweredToolCalls()) {
    Message m =
        ToolResultMessage(call.id,
                          "error: this tool call was not run because the session was interrupted. "
                          "Run it again if it is still needed.");
    Json event = {{"type", "message"}, {"message", MessageToJson(m)}, {"settled", true}};
    context->Append(std::move(m));
    if (auto w = trace->Append(event); !w) {
      return fail({"error:trace", w.error()}, session_id);
    }
  }
  // The session-start map sits right after the static prefix and is frozen in the trace, so a
  // resumed session replays it byte for byte; later maps (the repo_map tool) are new messages.
  if (!resumed && config->GetInt("repo_map.tokens") > 0) {
    std::string map =
        RenderSessionRepoMap(workspace, static_cast<size_t>(config->GetInt("repo_map.tokens")),
                             std::chrono::seconds(20), cancel);
    if (!map.empty()) {
      Message m = UserMessage(std::move(map));
      Json event = {{"type", "message"}, {"message", MessageToJson(m)}, {"repo_map", true}};
      context->Append(std::move(m));
      if (auto w = trace->Append(event); !w) {
        return fail({"error:trace", w.error()}, session_id);
      }
    }
  }
  if (!task.empty()) {
    Message m = UserMessage(task);
    Json event = {{"type", "message"}, {"message", MessageToJson(m)}};
    context->Append(std::move(m));
    if (auto w = trace->Append(event); !w) {
      return fail({"error:trace", w.error()}, session_id);
    }
  } else if (context->log().empty() || context->log().back().role == Role::kAssistant) {
    return fail({"error:usage",
                 "session " + session_id + " has nothing left to continue; give new instructions"},
                session_id);
  }

  out.trace_path = trace_path;
  observer.OnSessionStart(session_id, config->GetString("provider"), settings.lane);
  // Sandboxed commands get a private TMPDIR, removed when the run ends.
  fs::path temp_dir;
  if (config->GetBool("sandbox.enabled")) {
    std::string tmpl = (fs::temp_directory_path() / "dsagent-tmp-XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) temp_dir = tmpl;
  }
  AgentLoop loop(**provider, registry, ToolContextFromConfig(*config, workspace, temp_dir), *trace,
                 *catalog);
  RunReport report = loop.Run(*context, settings, observer, cancel);
  if (!temp_dir.empty()) fs::remove_all(temp_dir, ec);

  RunEnvelope& env = out.envelope;
  env.termination = report.termination;
  env.result = report.result;
  env.session_id = session_id;
  env.steps = report.steps;
  env.cost_usd = report.ledger.total_cost_usd();
  env.usage = report.ledger.total_usage();
  env.models = report.ledger.per_model();
  Json end = EnvelopeToJson(env);
  end["type"] = "end";
  trace->Append(end);  // best effort: the caller still gets the outcome
  return out;
}

}  // namespace dsagent
