#include "tools/repomap/repo_map.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "tools/repomap/ranking.h"
#include "tools/repomap/snippet_render.h"
#include "tools/repomap/tag_cache.h"
#include "tools/shown_name.h"

namespace dsagent {
namespace {

// `path` as a '/'-separated path relative to `workspace` ("" for the workspace itself), or an
// error when it leaves the workspace.
Expected<std::string, std::string> RelativeFocus(const std::filesystem::path& workspace,
                                                 const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute()) p = p.lexically_relative(workspace);
  p = p.lexically_normal();
  std::string rel = p.generic_string();
  while (!rel.empty() && rel.back() == '/') rel.pop_back();
  if (rel == ".") rel.clear();
  if (rel == ".." || rel.rfind("../", 0) == 0 || (!rel.empty() && rel[0] == '/')) {
    return MakeUnexpected("focus path '" + path + "' is outside the workspace");
  }
  return rel;
}

}  // namespace

std::filesystem::path RepoMapOptions::DefaultRepoMapCacheDir() {
  return repomap::TagCache::DefaultDir();
}

Expected<RepoMap, std::string> BuildRepoMap(const RepoMapOptions& options) {
  std::error_code ec;
  const std::filesystem::path workspace = std::filesystem::canonical(options.workspace, ec);
  if (ec || !std::filesystem::is_directory(workspace)) {
    return MakeUnexpected("not a directory: " + options.workspace.string());
  }
  std::vector<std::string> focus;
  for (const std::string& f : options.focus_paths) {
    auto rel = RelativeFocus(workspace, f);
    if (!rel) return MakeUnexpected(rel.error());
    focus.push_back(*rel);
  }

  repomap::ScanResult scan = repomap::ScanWorkspace({.workspace = workspace,
                                                     .cache_dir = options.cache_dir,
                                                     .threads = options.threads,
                                                     .cancel = options.cancel});
  RepoMap map;
  map.files_mapped = scan.files.size();
  map.files_parsed = scan.files_parsed;
  map.files_from_cache = scan.files_from_cache;
  map.other_files = scan.other_files;
  map.skipped = std::move(scan.skipped);
  map.warnings = std::move(scan.warnings);
  map.cancelled = scan.cancelled;

  repomap::RankingFocus ranking_focus;
  ranking_focus.identifiers.insert(options.mentioned_identifiers.begin(),
                                   options.mentioned_identifiers.end());
  for (const std::string& f : focus) {
    size_t matched = 0;
    for (const repomap::ScannedFile& file : scan.files) {
      if (f.empty() || file.path == f || file.path.rfind(f + "/", 0) == 0) {
        ranking_focus.files.insert(file.path);
        ++matched;
      }
    }
    if (matched == 0) map.notes.push_back("focus path '" + f + "' matched no mapped source file");
  }

  const std::vector<repomap::RankedDefinition> ranked =
      repomap::RankDefinitions(scan.files, ranking_focus);
  map.definitions_ranked = ranked.size();

  // Largest prefix of the ranking whose rendering fits. Every shown definition costs at least
  // one token, so no more than max_tokens can fit.
  repomap::SnippetRenderer renderer(workspace, scan.files);
  size_t lo = 0, hi = std::min(ranked.size(), options.max_tokens);
  std::string best;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo + 1) / 2;
    std::string text = renderer.Render({ranked.begin(), ranked.begin() + mid});
    if (repomap::EstimateTokens(text) <= options.max_tokens) {
      lo = mid;
      best = std::move(text);
    } else {
      hi = mid - 1;
    }
  }
  map.definitions_shown = lo;
  map.text = std::move(best);
  map.tokens_estimate = repomap::EstimateTokens(map.text);
  return map;
}

std::string RenderSessionRepoMap(const std::filesystem::path& workspace, size_t max_tokens,
                                 std::chrono::milliseconds time_limit, const CancelToken& cancel) {
  constexpr std::string_view kHeading =
      "Repository map (the most relevant definitions; ⋮ marks elided code):\n";
  const size_t heading_tokens = repomap::EstimateTokens(kHeading);
  if (max_tokens <= heading_tokens || cancel.IsCancelled()) return "";
  RepoMapOptions options;
  options.workspace = workspace;
  options.max_tokens = max_tokens - heading_tokens;

  // A watchdog cancels the map's own token at the time limit or when the caller cancels.
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::thread watchdog([&] {
    std::unique_lock lock(mu);
    const auto deadline = std::chrono::steady_clock::now() + time_limit;
    while (!finished && !cancel.IsCancelled()) {
      if (cv.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() +
                                                     std::chrono::milliseconds(50))) ==
              std::cv_status::timeout &&
          std::chrono::steady_clock::now() >= deadline) {
        break;
      }
    }
    if (!finished) options.cancel.Cancel();
  });
  auto map = BuildRepoMap(options);
  {
    std::lock_guard lock(mu);
    finished = true;
  }
  cv.notify_all();
  watchdog.join();
  if (!map || map->cancelled || map->text.empty()) return "";
  return std::string(kHeading) + map->text;
}

std::string SkippedSummary(const RepoMap& map, size_t max_listed) {
  if (map.skipped.empty()) return "";
  std::string out = "skipped " + std::to_string(map.skipped.size()) +
                    (map.skipped.size() == 1 ? " file: " : " files: ");
  for (size_t i = 0; i < map.skipped.size() && i < max_listed; ++i) {
    out += (i ? ", " : "") + ShownName(map.skipped[i].path) + " (" + map.skipped[i].reason + ")";
  }
  if (map.skipped.size() > max_listed) out += ", ...";
  return out;
}

}  // namespace dsagent
