// `dsagent eval merge OUT DIR...`: the shard runs of one task set (`dsagent eval --shard K/N`, on
// as many machines as there are shards) become one run directory, as if it had run unsharded:
// results/, logs/, traces/ and trajs/ are copied in (paths inside results rewritten to OUT),
// and preds.jsonl, summary.json and report.md are written over the whole task set in its load
// order. Refused: a directory without run.json, shards of different task sets, settings or shard
// counts, the same shard twice, a missing shard, or a task with results in two shards.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/expected.h"
#include "common/json.h"

namespace dsagent::evals {

// Returns the merged summary.json. `out` may exist (its results/ are replaced) but must not be
// one of `shards`.
Expected<Json, std::string> MergeRuns(const std::filesystem::path& out,
                                      const std::vector<std::filesystem::path>& shards);

}  // namespace dsagent::evals
