#include "agent/cli/run_command.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <iterator>

#include "agent/cli/progress_printer.h"
#include "agent/cli/run_envelope.h"
#include "agent/cli/run_setup.h"
#include "agent/core/session.h"
#include "agent/core/termination.h"
#include "prompts/prompts.h"
#include "tools/registry.h"

namespace dsagent {
namespace fs = std::filesystem;
namespace {

// Ends a run that failed before the loop started: message on stderr, envelope on stdout.
int FailEarly(const RunOptions& options, Termination t, const std::string& session_id = "") {
  std::fprintf(stderr, "dsagent: %s\n", t.message.c_str());
  if (options.json) {
    RunEnvelope env;
    env.termination = t;
    env.session_id = session_id;
    std::cout << CanonicalJson(EnvelopeToJson(env)) << std::endl;
  }
  return t.ExitCode();
}

std::string ReadAllStdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

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
  if (!flagged("model") && lane.contains("model")) out.emplace_back("model", lane["model"]);
  if (!flagged("thinking") && lane.contains("thinking")) {
    out.emplace_back("thinking", lane["thinking"].get<bool>() ? "true" : "false");
  }
  if (!flagged("effort") && lane.contains("effort")) out.emplace_back("effort", lane["effort"]);
  out.insert(out.end(), flags.begin(), flags.end());
  return out;
}

}  // namespace

int RunCommand(const RunOptions& options, const CancelToken& cancel) {
  std::string task = options.task;
  if (task == "-") task = ReadAllStdin();
  if (task.empty() && options.resume.empty()) {
    return FailEarly(options, {"error:usage", "a TASK is required (use - to read it from stdin)"});
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
    if (!base) return FailEarly(options, {"error:config", base.error()});
    if (!options.trace_file.empty()) {
      trace_path = options.trace_file;
    } else {
      auto found = FindSessionTrace(SessionsDir(*base), options.resume);
      if (!found) return FailEarly(options, {"error:usage", found.error()});
      trace_path = *found;
    }
    auto loaded = LoadSession(trace_path);
    if (!loaded) return FailEarly(options, {"error:session", loaded.error()});
    resumed.emplace(std::move(*loaded));
    flags = ResumeDefaults(resumed->start, options.flags);
  }

  std::error_code ec;
  fs::path repo = !options.repo.empty() ? fs::path(options.repo)
                  : resumed             ? fs::path(resumed->start.value("repo", ""))
                                        : fs::current_path();
  fs::path workspace = fs::canonical(repo, ec);
  if (ec || !fs::is_directory(workspace)) {
    return FailEarly(options, {"error:usage", "repository directory '" + repo.string() +
                                                  "' does not exist or is not a directory"});
  }

  auto config = Config::Load({.repo_dir = workspace,
                              .user_file = std::nullopt,
                              .env = Config::ProcessEnvironment(),
                              .flags = flags});
  if (!config) return FailEarly(options, {"error:config", config.error()});
  for (const auto& w : config->Warnings())
    std::fprintf(stderr, "dsagent: warning: %s\n", w.c_str());

  auto provider = MakeProvider(ProviderOptionsFromConfig(*config));
  if (!provider) return FailEarly(options, FromProviderError(provider.error()));

  auto catalog = ModelCatalog::Load(std::nullopt);
  if (!catalog) return FailEarly(options, {"error:config", catalog.error()});

  AgentSettings settings = AgentSettingsFromConfig(*config);
  settings.user_id = RepoUserId(workspace);
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
  if (!trace) return FailEarly(options, {"error:trace", trace.error()}, session_id);

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
  opening["limits"] = limits;
  if (auto w = trace->Append(opening); !w) {
    return FailEarly(options, {"error:trace", w.error()}, session_id);
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
      return FailEarly(options, {"error:trace", w.error()}, session_id);
    }
  }
  if (!task.empty()) {
    Message m = UserMessage(task);
    Json event = {{"type", "message"}, {"message", MessageToJson(m)}};
    context->Append(std::move(m));
    if (auto w = trace->Append(event); !w) {
      return FailEarly(options, {"error:trace", w.error()}, session_id);
    }
  } else if (context->log().empty() || context->log().back().role == Role::kAssistant) {
    return FailEarly(options,
                     {"error:usage", "session " + session_id +
                                         " has nothing left to continue; give new instructions"},
                     session_id);
  }

  std::fprintf(stderr, "dsagent: session %s (%s, %s)\n", session_id.c_str(),
               config->GetString("provider").c_str(), settings.lane.model.c_str());
  ProgressPrinter printer(stderr, options.verbose);
  AgentLoop loop(**provider, registry, ToolContextFromConfig(*config, workspace), *trace, *catalog);
  RunReport report = loop.Run(*context, settings, printer, cancel);

  RunEnvelope env;
  env.termination = report.termination;
  env.result = report.result;
  env.session_id = session_id;
  env.steps = report.steps;
  env.cost_usd = report.ledger.total_cost_usd();
  env.usage = report.ledger.total_usage();
  env.models = report.ledger.per_model();
  Json end = EnvelopeToJson(env);
  end["type"] = "end";
  trace->Append(end);  // best effort: the run's outcome is still reported below

  if (!report.termination.message.empty()) {
    std::fprintf(stderr, "dsagent: %s: %s\n", report.termination.reason.c_str(),
                 report.termination.message.c_str());
  }
  std::fprintf(stderr, "dsagent: %s after %d step(s), $%.4f, cache hit %.1f%%, trace %s\n",
               report.termination.reason.c_str(), report.steps, env.cost_usd,
               100.0 * CacheHitRate(env.usage), trace_path.c_str());
  if (options.json) {
    std::cout << CanonicalJson(EnvelopeToJson(env)) << std::endl;
  } else if (!report.result.empty()) {
    std::cout << report.result << (report.result.back() == '\n' ? "" : "\n");
  }
  return report.termination.ExitCode();
}

}  // namespace dsagent
