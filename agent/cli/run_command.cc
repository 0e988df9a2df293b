#include "agent/cli/run_command.h"

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>

#include "agent/cli/device_option.h"
#include "agent/cli/headless_sandbox_flags.h"
#include "agent/cli/lane_options.h"
#include "agent/cli/progress_printer.h"
#include "agent/cli/stream_json_printer.h"
#include "agent/core/cost_ledger.h"
#include "agent/core/headless_run.h"

namespace dsagent {

void AddRunCommand(CLI::App& app, CommandTable& table) {
  struct Flags {
    RunOptions run;
    LaneFlags lane;
    int max_steps = 0;
    double max_cost = 0;
    int timeout_s = 0;
    bool trust_repo_mcp = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("run", "Run the agent headless on one task (CI-friendly)");
  cmd->add_option("task", f->run.task, "The task; - reads it from stdin");
  cmd->add_option("--repo", f->run.repo, "Workspace directory (default: current directory)");
  AddLaneOptions(*cmd, f->lane);
  cmd->add_option("--max-steps", f->max_steps, "Stop after N model calls")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-cost", f->max_cost, "Stop once this run has spent USD")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--timeout", f->timeout_s, "Stop after S seconds of wall time")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--resume", f->run.resume, "Continue session ID from its trace");
  cmd->add_option("--trace", f->run.trace_file, "Write/read the trace at FILE instead");
  AddOutputFormatOptions(*cmd, f->run.output_format);
  cmd->add_flag("-v,--verbose", f->run.verbose, "Also stream the model's reasoning to stderr");
  cmd->add_flag("--no-sandbox", f->run.no_sandbox,
                "Run shell commands without the sandbox (not recommended)");
  cmd->add_flag("--trust-repo-mcp", f->trust_repo_mcp,
                "Start the MCP servers the repository's .dsagent/config.yaml defines (skipped "
                "otherwise)");
  table.BindCancellable(cmd, [f](const CancelToken& cancel) {
    RunOptions run = f->run;
    if (f->trust_repo_mcp) run.flags.emplace_back("mcp.trust_repo_servers", "true");
    AppendLaneOverrides(f->lane, run.flags);
    if (f->max_steps > 0) run.flags.emplace_back("max_steps", std::to_string(f->max_steps));
    if (f->max_cost > 0) run.flags.emplace_back("max_cost_usd", std::to_string(f->max_cost));
    if (f->timeout_s > 0) run.flags.emplace_back("timeout_s", std::to_string(f->timeout_s));
    return RunCommand(run, cancel);
  });
}

int RunCommand(const RunOptions& options, const CancelToken& cancel) {
  HeadlessRunOptions run;
  run.task = options.task;
  if (run.task == "-") {
    run.task.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  run.repo = options.repo;
  run.resume = options.resume;
  run.trace_file = options.trace_file;
  run.flags = options.flags;
  run.local_load = LocalLoadPrinter("run");  // provider local: a GPU's upload takes minutes

  // Progress goes to stderr, or, as events, to stdout with stream-json (then stderr keeps only
  // warnings and the closing summary line).
  const bool streaming = options.output_format == OutputFormat::kStreamJson;
  ProgressPrinter printer(stderr, options.verbose);
  StreamJsonPrinter events(stdout);
  AgentObserver& observer = streaming ? static_cast<AgentObserver&>(events) : printer;
  HeadlessRunResult r;
  // The sandbox: on unless --no-sandbox; the run must not start unconfined where none works.
  auto sandboxed = HeadlessSandboxFlags(
      options.no_sandbox,
      options.repo.empty() ? std::filesystem::current_path() : std::filesystem::path(options.repo),
      options.flags);
  if (!sandboxed) {
    r.envelope.termination = {TerminationReason::kErrorConfig, sandboxed.error()};
  } else {
    run.flags.insert(run.flags.end(), sandboxed->begin(), sandboxed->end());
    r = HeadlessRun(run, observer, cancel);
  }
  const RunEnvelope& env = r.envelope;

  for (const auto& w : r.warnings) std::fprintf(stderr, "dsagent: warning: %s\n", w.c_str());
  if (!env.termination.message.empty()) {
    std::fprintf(stderr, "dsagent: %s\n", env.termination.message.c_str());
  }
  if (!r.trace_path.empty()) {
    std::fprintf(stderr, "dsagent: %s after %d step(s), $%.4f, cache hit %.1f%%, trace %s\n",
                 env.termination.Name(), env.steps, env.cost_usd, 100.0 * CacheHitRate(env.usage),
                 r.trace_path.c_str());
  }
  if (streaming) {
    events.Finish(EnvelopeToJson(env));
  } else if (options.output_format == OutputFormat::kJson) {
    std::cout << CanonicalJson(EnvelopeToJson(env)) << std::endl;
  } else if (!env.result.empty()) {
    std::cout << env.result << (env.result.back() == '\n' ? "" : "\n");
  }
  return env.termination.ExitCode();
}

}  // namespace dsagent
