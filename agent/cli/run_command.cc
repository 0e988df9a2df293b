#include "agent/cli/run_command.h"

#include <cstdio>
#include <iostream>
#include <iterator>

#include "agent/cli/progress_printer.h"
#include "agent/core/cost_ledger.h"
#include "agent/core/headless_run.h"

namespace dsagent {

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

  ProgressPrinter printer(stderr, options.verbose);
  const HeadlessRunResult r = HeadlessRun(run, printer, cancel);
  const RunEnvelope& env = r.envelope;

  for (const auto& w : r.warnings) std::fprintf(stderr, "dsagent: warning: %s\n", w.c_str());
  if (!env.termination.message.empty()) {
    std::fprintf(stderr, "dsagent: %s\n", env.termination.message.c_str());
  }
  if (!r.trace_path.empty()) {
    std::fprintf(stderr, "dsagent: %s after %d step(s), $%.4f, cache hit %.1f%%, trace %s\n",
                 env.termination.reason.c_str(), env.steps, env.cost_usd,
                 100.0 * CacheHitRate(env.usage), r.trace_path.c_str());
  }
  if (options.json) {
    std::cout << CanonicalJson(EnvelopeToJson(env)) << std::endl;
  } else if (!env.result.empty()) {
    std::cout << env.result << (env.result.back() == '\n' ? "" : "\n");
  }
  return env.termination.ExitCode();
}

}  // namespace dsagent
