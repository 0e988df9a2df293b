#include "evals/run_manifest.h"

#include <cstdint>
#include <cstdio>

#include "common/file_io.h"

namespace dsagent::evals {
namespace fs = std::filesystem;
namespace {

// FNV-1a, 64 bits, over length-prefixed parts (stable across builds, unlike std::hash).
struct Fingerprint {
  uint64_t h = 1469598103934665603ull;
  void Add(const std::string& part) {
    for (unsigned char c : std::to_string(part.size()) + ":" + part) {
      h = (h ^ c) * 1099511628211ull;
    }
  }
  std::string Hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
};

}  // namespace

Json RunManifestFor(const std::vector<EvalTask>& all_tasks, const EvalOptions& o) {
  Fingerprint f;
  Json ids = Json::array();
  for (const EvalTask& t : all_tasks) {
    ids.push_back(t.instance_id);
    for (const std::string* part : {&t.instance_id, &t.base_commit, &t.patch, &t.test_patch,
                                    &t.test_cmd, &t.test_framework}) {
      f.Add(*part);
    }
    f.Add(Json(t.fail_to_pass).dump() + Json(t.pass_to_pass).dump());
  }
  Json flags = Json::array();
  for (const auto& [k, v] : o.flags) flags.push_back({k, v});
  const std::string model = o.agent == "oracle" ? "gold"
                            : o.agent == "noop" ? "noop"
                            : o.policy.empty()  ? "dsagent"
                                                : "dsagent+" + o.policy;
  return {{"dsagent_eval_run", 1},
          {"task_set", {{"count", all_tasks.size()}, {"fingerprint", f.Hex()}, {"ids", ids}}},
          {"shard", {{"index", o.shard_index}, {"count", o.shard_count}}},
          {"settings",
           {{"agent", o.agent},
            {"policy", o.policy},
            {"model_name_or_path", model},
            {"flags", flags},
            {"max_cost_per_task_usd", o.max_cost_per_task_usd},
            {"timeout_per_task_s", o.timeout_per_task_s}}}};
}

fs::path RunManifestPath(const fs::path& run_dir) { return run_dir / "run.json"; }

Expected<Ok, std::string> WriteRunManifest(const fs::path& run_dir, const Json& manifest) {
  return WriteFileAtomic(RunManifestPath(run_dir), manifest.dump(2) + "\n");
}

Expected<Json, std::string> ReadRunManifest(const fs::path& run_dir) {
  auto text = ReadFileToString(RunManifestPath(run_dir));
  if (!text) {
    return MakeUnexpected(run_dir.string() +
                          " has no run.json: not a run directory of this dsagent eval");
  }
  Json j = Json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.contains("dsagent_eval_run") || !j.contains("task_set") ||
      !j.contains("shard") || !j.contains("settings")) {
    return MakeUnexpected(RunManifestPath(run_dir).string() + " is not a run manifest");
  }
  return j;
}

std::string ManifestMismatch(const Json& a, const Json& b) {
  if (a["task_set"].value("fingerprint", "") != b["task_set"].value("fingerprint", "")) {
    return "different task sets (" + std::to_string(a["task_set"].value("count", 0)) + " tasks, " +
           a["task_set"].value("fingerprint", "") + " vs " +
           std::to_string(b["task_set"].value("count", 0)) + " tasks, " +
           b["task_set"].value("fingerprint", "") + ")";
  }
  if (a["settings"] != b["settings"]) {
    return "different settings (" + a["settings"].dump() + " vs " + b["settings"].dump() + ")";
  }
  if (a["shard"].value("count", 1) != b["shard"].value("count", 1)) {
    return "different shard counts (" + std::to_string(a["shard"].value("count", 1)) + " vs " +
           std::to_string(b["shard"].value("count", 1)) + ")";
  }
  return "";
}

}  // namespace dsagent::evals
