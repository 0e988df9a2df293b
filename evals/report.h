// Run outputs: preds.jsonl (SWE-bench predictions), summary.json (SWE-bench's schema_version 2
// counts and id lists, plus cost, tokens, cache-hit rate and Pro share) and report.md, built from
// the per-task results/<id>.json files so that a resumed run reports every task. Thread-compatible.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/expected.h"
#include "common/json.h"
#include "evals/task.h"

namespace dsagent::evals {

struct RunInfo {
  std::string agent, policy, model_name_or_path;
};

// RUN_DIR/results/<instance_id>.json
std::filesystem::path ResultPath(const std::filesystem::path& out_dir,
                                 const std::string& instance_id);

// Pro's share of an envelope's "models" object ({id: {calls, tokens{...}, cost_usd}}): fractions
// {"calls","tokens","cost"} in [0, 1] (0 when there were none). A model is Pro when its id
// contains "pro" (deepseek-v4-pro and its dated variants). Tokens = input (hit + miss) + output.
Json ProShare(const Json& models);

// summary.json's object for `results` (task order) out of `total` tasks; `missing_ids` are tasks
// without a result. Polyglot runs also get "by_language": {lang: {total, resolved, errors,
// resolved_rate, pass_rate_1, pass_rate_2, cost_usd}}.
Json BuildSummary(const std::vector<Json>& results, const std::vector<std::string>& missing_ids,
                  const RunInfo& info);

// Polyglot runs: one markdown row per language (resolved, pass rates after try 1 / 2, errors,
// cost) from summary.json's "by_language", plus a total row; "" for other task sets.
std::string LanguageTable(const Json& summary);

// report.md: the headline table (resolved, cost, tokens, cache hit, Pro share) and one row per
// task.
std::string ReportMarkdown(const Json& summary, const std::vector<Json>& results);

// Reads every task's result (those present), writes preds.jsonl, summary.json and report.md into
// `out_dir`, and returns the summary. Error: a result file that is not JSON, or a write failure.
Expected<Json, std::string> WriteRunOutputs(const std::vector<EvalTask>& tasks,
                                            const std::filesystem::path& out_dir,
                                            const RunInfo& info);
// The same over instance ids (in report order).
Expected<Json, std::string> WriteRunOutputs(const std::vector<std::string>& instance_ids,
                                            const std::filesystem::path& out_dir,
                                            const RunInfo& info);

}  // namespace dsagent::evals
