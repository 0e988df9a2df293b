// Harness overhead and prefix stability of `dsagent run`, measured against the loopback DeepSeek
// test server (which answers instantly), so every millisecond is dsagent's own: request building,
// HTTP/SSE, tool dispatch, trace fsync. Also reports the cache-hit rate the server's prefix-cache
// model observed — how much of each prompt was an unchanged prefix of an earlier one.
//
// Usage: harness_overhead [STEPS]   (default 50). Prints one JSON object.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/json.h"
#include "tests/support/deepseek_test_server.h"

namespace fs = std::filesystem;
using dsagent::Json;
using dsagent::testing::DeepSeekTestServer;
using dsagent::testing::ScriptedReply;

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 50;
  char tmpl[] = "/tmp/dsagent_bench_XXXXXX";
  const fs::path root = mkdtemp(tmpl);
  const fs::path repo = root / "repo";
  fs::create_directories(repo);
  for (int i = 0; i < 20; ++i) {
    std::ofstream(repo / ("file" + std::to_string(i) + ".txt")) << std::string(2000, 'x') << "\n";
  }

  DeepSeekTestServer server;
  server.SetApiKey("bench-key");
  // Alternate cheap tools that produce real output: reading files and a shell command.
  for (int i = 0; i + 1 < steps; ++i) {
    const std::string id = "call_" + std::to_string(i);
    if (i % 2 == 0) {
      server.Enqueue(ScriptedReply::Calls(
          {{id, "read_file", dsagent::CanonicalJson({{"path", "file" + std::to_string(i % 20) + ".txt"}})}}));
    } else {
      server.Enqueue(ScriptedReply::Calls({{id, "bash", R"({"command":"ls -l"})"}}));
    }
  }
  server.Enqueue(ScriptedReply::Text("done"));

  const std::string cmd = "cd '" + repo.string() + "' && HOME='" + root.string() +
                          "' XDG_DATA_HOME='" + (root / "data").string() +
                          "' DEEPSEEK_API_KEY=bench-key DEEPSEEK_BASE_URL=" + server.BaseUrl() +
                          " '" DSAGENT_BINARY "' run --json --max-steps " +
                          std::to_string(steps + 1) + " 'bench' > '" + (root / "out.json").string() +
                          "' 2>/dev/null";
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = std::system(cmd.c_str());
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  rusage children{};
  getrusage(RUSAGE_CHILDREN, &children);
  const double cpu_s = static_cast<double>(children.ru_utime.tv_sec + children.ru_stime.tv_sec) +
                       static_cast<double>(children.ru_utime.tv_usec + children.ru_stime.tv_usec) / 1e6;

  std::ifstream in(root / "out.json");
  Json env = Json::parse(in, nullptr, false);
  const auto requests = server.Requests();
  const double hit_rate = env.is_object() ? env.value("cache_hit_rate", 0.0) : 0.0;
  // Per request after the first: the share of its prompt that was a cached, unchanged prefix.
  double min_prefix = 1.0, last_prefix = 0.0;
  for (size_t i = 1; i < requests.size(); ++i) {
    const auto& u = requests[i].usage;
    const double total = static_cast<double>(u.input_cache_hit + u.input_cache_miss);
    last_prefix = total > 0 ? static_cast<double>(u.input_cache_hit) / total : 0.0;
    min_prefix = std::min(min_prefix, last_prefix);
  }
  Json report = {{"steps", requests.size()},
                 {"exit_code", WEXITSTATUS(rc)},
                 {"wall_s", wall_s},
                 {"ms_per_step", 1000.0 * wall_s / static_cast<double>(requests.size())},
                 {"dsagent_cpu_ms_per_step", 1000.0 * cpu_s / static_cast<double>(requests.size())},
                 {"cache_hit_rate", hit_rate},
                 {"prefix_share_min_after_first", min_prefix},
                 {"prefix_share_last", last_prefix},
                 {"last_request_bytes", requests.empty() ? 0 : requests.back().body.size()}};
  std::printf("%s\n", report.dump().c_str());
  fs::remove_all(root);
  return rc == 0 ? 0 : 1;
}
