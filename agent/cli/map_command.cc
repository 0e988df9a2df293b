#include "agent/cli/map_command.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "tools/repomap/repo_map.h"

namespace dsagent {

void AddMapCommand(CLI::App& app, CommandTable& table) {
  auto opts = std::make_shared<MapCommandOptions>();
  MapCommandOptions& options = *opts;
  auto* cmd = app.add_subcommand(
      "map", "Print the repository map: the most relevant definitions within a token budget");
  cmd->add_option("--repo", options.repo, "Workspace directory (default: current directory)");
  cmd->add_option(
         "--tokens", options.tokens,
         "Budget in tokens (~4 bytes each; default " + std::to_string(kDefaultRepoMapTokens) + ")")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--focus", options.focus,
                  "Files or directories being worked on: rank what they use first")
      ->expected(1, -1);
  cmd->add_option("--symbol", options.symbols, "Identifiers to favour")->expected(1, -1);
  cmd->add_flag("--stats", options.stats, "Print timing and cache statistics on stderr");
  table.BindCancellable(cmd,
                        [opts](const CancelToken& cancel) { return MapCommand(*opts, cancel); });
}

int MapCommand(const MapCommandOptions& options, const CancelToken& cancel) {
  RepoMapOptions map_options;
  map_options.workspace =
      options.repo.empty() ? std::filesystem::current_path() : std::filesystem::path(options.repo);
  if (options.tokens > 0) map_options.max_tokens = options.tokens;
  map_options.focus_paths = options.focus;
  map_options.mentioned_identifiers = options.symbols;
  map_options.cancel = cancel;
  const auto start = std::chrono::steady_clock::now();
  auto map = BuildRepoMap(map_options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!map) {
    std::fprintf(stderr, "dsagent: %s\n", map.error().c_str());
    return 2;
  }
  if (map->cancelled) return 130;
  std::cout << map->text << std::flush;
  for (const std::string& note : map->notes) std::fprintf(stderr, "dsagent: %s\n", note.c_str());
  if (std::string skipped = SkippedSummary(*map); !skipped.empty()) {
    std::fprintf(stderr, "dsagent: %s\n", skipped.c_str());
  }
  if (options.stats) {
    std::fprintf(stderr,
                 "dsagent: map of %zu files (%zu parsed, %zu from cache, %zu skipped, %zu in other "
                 "languages): %zu of %zu definitions, ~%zu tokens, %.3f s\n",
                 map->files_mapped, map->files_parsed, map->files_from_cache, map->skipped.size(),
                 map->other_files, map->definitions_shown, map->definitions_ranked,
                 map->tokens_estimate, seconds);
  }
  return 0;
}

}  // namespace dsagent
