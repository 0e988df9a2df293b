// The file tools and the repo map on a very wide hostile tree (issue 15 §7's 100k-file case, too
// slow for a unit test; the small hostile fixture is tests/tools/hostile_repo_test.cc): FILES small
// files in 1000-file directories, a 2 GB sparse file, a symlink loop and a link to the whole
// filesystem. Times each tool call through the registry and reports peak memory.
// Usage: hostile_repo_bench [FILES=100000]
// Results with machine and method go to docs/RELIABILITY.md.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/json.h"
#include "tools/registry.h"

namespace {

namespace fs = std::filesystem;

long HostilePeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;  // Linux reports KiB
}

}  // namespace

int main(int argc, char** argv) {
  const long files = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 100000;
  char tmpl[] = "/tmp/hostile_repo_bench_XXXXXX";
  const fs::path root = mkdtemp(tmpl);
  const fs::path ws = root / "ws";
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < files; ++i) {
    const fs::path dir = ws / ("d" + std::to_string(i / 1000));
    if (i % 1000 == 0) fs::create_directories(dir);
    std::ofstream(dir / ("f" + std::to_string(i) + (i % 10 == 0 ? ".py" : ".txt")))
        << "def f" << i << "():\n    return " << i << "\n";
  }
  const int fd = ::open((ws / "big.bin").c_str(), O_CREAT | O_WRONLY, 0644);
  if (fd >= 0 && ::ftruncate(fd, 2LL << 30) == 0) ::close(fd);
  fs::create_symlink("loop", ws / "loop");
  fs::create_symlink("/", ws / "root_link");
  std::printf("hostile_repo_bench: %ld files created in %.1f s\n", files,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());

  const dsagent::ToolRegistry registry = dsagent::ToolRegistry::BuiltIn();
  dsagent::ToolContext ctx;
  ctx.workspace = ws;
  const std::pair<const char*, dsagent::Json> calls[] = {
      {"list_files", {{"path", "."}}},
      {"glob", {{"pattern", "**/*.py"}}},
      {"grep", {{"pattern", "return 99999$"}}},
      {"repo_map", dsagent::Json::object()},
  };
  for (const auto& [tool, args] : calls) {
    start = std::chrono::steady_clock::now();
    const dsagent::ToolResult r = registry.Dispatch(tool, args.dump(), ctx);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("  %-10s %6.2f s  ok=%d  %zu bytes of output  peak RSS %ld MiB%s\n", tool, s,
                r.ok ? 1 : 0, r.output.size(), HostilePeakRssMiB(),
                r.details.value("timed_out", false) ? "  (stopped at its time limit)" : "");
  }
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}
