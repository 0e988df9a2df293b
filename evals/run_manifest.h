// run.json: what a run directory was made from — the whole task set (ordered ids and a
// fingerprint of their content), which shard of it ran, and the settings that decide verdicts
// (agent, policy, config overrides, budget, timeout). `dsagent eval merge` merges only shards
// whose manifests agree, and `--resume` refuses a directory made with other settings.
// Thread-compatible.
//
//   {"dsagent_eval_run": 1,
//    "task_set": {"count": 225, "fingerprint": "<16 hex>", "ids": ["polyglot__cpp-allergies", ...]},
//    "shard": {"index": 1, "count": 3},
//    "settings": {"agent": "oracle", "policy": "", "model_name_or_path": "gold", "flags": [],
//                 "max_cost_per_task_usd": 0, "timeout_per_task_s": 0}}
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/expected.h"
#include "common/json.h"
#include "evals/runner.h"
#include "evals/task.h"

namespace dsagent::evals {

// The manifest of a run of `options`' shard of `all_tasks` (the task set before sharding). The
// fingerprint covers each task's id, gold patch, test patch, test lists and test command.
Json RunManifestFor(const std::vector<EvalTask>& all_tasks, const EvalOptions& options);

// RUN_DIR/run.json
std::filesystem::path RunManifestPath(const std::filesystem::path& run_dir);

// Error: the file cannot be written.
Expected<Ok, std::string> WriteRunManifest(const std::filesystem::path& run_dir,
                                           const Json& manifest);

// Error: no run.json (a directory not written by `dsagent eval`, or by an older version) or one
// that is not a manifest.
Expected<Json, std::string> ReadRunManifest(const std::filesystem::path& run_dir);

// "" when `a` and `b` come from the same task set with the same settings; otherwise which of the
// two differs, in words.
std::string ManifestMismatch(const Json& a, const Json& b);

}  // namespace dsagent::evals
