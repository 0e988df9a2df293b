#include "evals/merge.h"

#include <map>
#include <set>

#include "common/file_io.h"
#include "evals/report.h"
#include "evals/run_manifest.h"

namespace dsagent::evals {
namespace fs = std::filesystem;
namespace {

// Replaces the `from` directory prefix of a path-valued result field with `to`.
void Repoint(Json& result, const char* key, const fs::path& from, const fs::path& to) {
  if (!result.contains(key) || !result[key].is_string()) return;
  const std::string value = result[key].get<std::string>();
  const std::string prefix = from.string() + "/";
  if (value.rfind(prefix, 0) == 0) result[key] = (to / value.substr(prefix.size())).string();
}

Expected<Ok, std::string> CopyIfThere(const fs::path& from, const fs::path& to) {
  if (!fs::exists(from)) return Ok{};
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  fs::remove_all(to, ec);
  fs::copy(from, to, fs::copy_options::recursive, ec);
  if (ec) return MakeUnexpected("cannot copy " + from.string() + ": " + ec.message());
  return Ok{};
}

}  // namespace

Expected<Json, std::string> MergeRuns(const fs::path& out, const std::vector<fs::path>& shards) {
  if (shards.empty()) return MakeUnexpected(std::string("no shard directories to merge"));
  std::error_code ec;
  std::vector<Json> manifests;
  std::map<int, fs::path> by_index;
  for (const fs::path& dir : shards) {
    if (fs::equivalent(dir, out, ec)) {
      return MakeUnexpected("the output " + out.string() + " is one of the shards");
    }
    auto m = ReadRunManifest(dir);
    if (!m) return MakeUnexpected(m.error());
    if (!manifests.empty()) {
      if (std::string why = ManifestMismatch(manifests[0], *m); !why.empty()) {
        return MakeUnexpected("cannot merge " + shards[0].string() + " and " + dir.string() +
                              ": " + why);
      }
    }
    const int index = (*m)["shard"].value("index", 1);
    if (auto [it, fresh] = by_index.emplace(index, dir); !fresh) {
      return MakeUnexpected("shard " + std::to_string(index) + " twice: " + it->second.string() +
                            " and " + dir.string());
    }
    manifests.push_back(std::move(*m));
  }
  const int count = manifests[0]["shard"].value("count", 1);
  std::string missing;
  for (int k = 1; k <= count; ++k) {
    if (!by_index.count(k)) missing += (missing.empty() ? "" : ", ") + std::to_string(k);
  }
  if (!missing.empty()) {
    return MakeUnexpected("missing shard(s) " + missing + " of " + std::to_string(count));
  }

  fs::remove_all(out / "results", ec);
  fs::create_directories(out / "results", ec);
  if (ec) return MakeUnexpected("cannot create " + out.string() + ": " + ec.message());
  std::set<std::string> seen;
  for (const auto& [index, dir] : by_index) {
    if (!fs::is_directory(dir / "results")) continue;  // a shard with no task
    for (const auto& entry : fs::directory_iterator(dir / "results", ec)) {
      const fs::path p = entry.path();
      if (p.extension() != ".json") continue;
      const std::string id = p.stem().string();
      if (!seen.insert(id).second) {
        return MakeUnexpected(id + " has results in two shards (the last one: " + dir.string() +
                              ")");
      }
      auto text = ReadFileToString(p);
      if (!text) return MakeUnexpected(text.error());
      Json r = Json::parse(*text, nullptr, false);
      if (r.is_discarded()) return MakeUnexpected(p.string() + ": not valid JSON");
      for (const char* sub : {"logs", "traces", "trajs"}) {
        const fs::path name = std::string(sub) == "logs" ? fs::path(id) : fs::path(id + ".jsonl");
        if (auto c = CopyIfThere(dir / sub / name, out / sub / name); !c) {
          return MakeUnexpected(c.error());
        }
      }
      Repoint(r, "trace_path", dir, out);
      Repoint(r, "test_log", dir, out);
      Repoint(r, "traj_path", dir, out);
      if (auto w = WriteFileAtomic(ResultPath(out, id), r.dump(2) + "\n"); !w) {
        return MakeUnexpected(w.error());
      }
    }
    if (ec) return MakeUnexpected("cannot list " + (dir / "results").string() + ": " + ec.message());
  }

  Json manifest = manifests[0];
  manifest["shard"] = {{"index", 1}, {"count", 1}};
  Json from = Json::array();
  for (const auto& [index, dir] : by_index) from.push_back(dir.string());
  manifest["merged_from"] = from;
  if (auto w = WriteRunManifest(out, manifest); !w) return MakeUnexpected(w.error());
  const Json& settings = manifest["settings"];
  return WriteRunOutputs(manifest["task_set"]["ids"].get<std::vector<std::string>>(), out,
                         RunInfo{settings.value("agent", ""), settings.value("policy", ""),
                                 settings.value("model_name_or_path", "")});
}

}  // namespace dsagent::evals
