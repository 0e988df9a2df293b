// Repo map timing: cold (empty tag cache: every file parsed) and warm (cache filled, nothing
// changed) BuildRepoMap() over a source tree, with files/s parsed and peak memory.
// Usage: repomap_bench DIR [TOKENS=1024] [THREADS=0 (hardware, at most 8)] [WARM_RUNS=5]
// Results with machine and method go to docs/BENCHMARKS.md.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tools/repomap/repo_map.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

long PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;  // Linux reports KiB
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [TOKENS] [THREADS] [WARM_RUNS]\n", argv[0]);
    return 2;
  }
  dsagent::RepoMapOptions options;
  options.workspace = argv[1];
  options.max_tokens = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1024;
  options.threads = argc > 3 ? std::atoi(argv[3]) : 0;
  const int warm_runs = argc > 4 ? std::atoi(argv[4]) : 5;
  char tmpl[] = "/tmp/repomap_bench_XXXXXX";
  options.cache_dir = mkdtemp(tmpl);

  auto start = std::chrono::steady_clock::now();
  auto cold = dsagent::BuildRepoMap(options);
  const double cold_s = Seconds(start);
  if (!cold) {
    std::fprintf(stderr, "repomap_bench: %s\n", cold.error().c_str());
    return 1;
  }
  const long cold_rss = PeakRssMiB();
  double warm_best = 1e9, warm_sum = 0;
  bool stable = true;
  for (int i = 0; i < warm_runs; ++i) {
    start = std::chrono::steady_clock::now();
    auto warm = dsagent::BuildRepoMap(options);
    const double s = Seconds(start);
    warm_best = std::min(warm_best, s);
    warm_sum += s;
    stable =
        stable && warm && warm->text == cold->text && warm->files_parsed <= cold->skipped.size();
  }
  std::printf(
      "files mapped %zu, skipped %zu, other languages %zu, definitions %zu (shown %zu, ~%zu "
      "tokens)\n",
      cold->files_mapped, cold->skipped.size(), cold->other_files, cold->definitions_ranked,
      cold->definitions_shown, cold->tokens_estimate);
  std::printf("cold: %.3f s, %zu files parsed, %.0f files/s, peak RSS %ld MiB\n", cold_s,
              cold->files_parsed, cold->files_parsed / cold_s, cold_rss);
  if (warm_runs > 0) {
    std::printf("warm: best %.3f s, mean %.3f s over %d runs, peak RSS %ld MiB, output %s\n",
                warm_best, warm_sum / warm_runs, warm_runs, PeakRssMiB(),
                stable ? "byte-identical to cold" : "DIFFERENT from cold");
  }
  std::error_code ec;
  std::filesystem::remove_all(options.cache_dir, ec);
  return stable ? 0 : 1;
}
