// Serve benchmark (engine/server): requests/s and latency percentiles of `dsagent serve`'s
// ChatServer on the tiny checkpoint (tests/data/v4-tiny and its test tokenizer) over loopback
// HTTP, at 1, 8 and 64 concurrent clients. Each client sends its requests one after another
// (non-streamed, a short distinct user message, max_tokens 8, greedy); the line is long enough
// that nothing is refused unless --max-queue says otherwise (503s are counted). Also reported:
// the process's peak RSS after each level.
//
// Usage: serve_bench [--parallel 2] [--requests 256] [--max-tokens 8] [--max-queue 64]
//                    [--clients 1,8,64]
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "engine/forward/model.h"
#include "engine/generate/chat_completion.h"
#include "engine/server/chat_server.h"
#include "engine/tokenizer/model_tokenizer.h"

namespace {
using namespace dsagent;
using Clock = std::chrono::steady_clock;

const std::string kSource = DSAGENT_SOURCE_DIR;

long PeakRssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  int parallel = 2, requests = 256, max_tokens = 8, max_queue = 64;
  std::vector<int> levels = {1, 8, 64};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--parallel") {
      parallel = std::atoi(value);
    } else if (flag == "--requests") {
      requests = std::atoi(value);
    } else if (flag == "--max-tokens") {
      max_tokens = std::atoi(value);
    } else if (flag == "--max-queue") {
      max_queue = std::atoi(value);
    } else if (flag == "--clients") {
      levels.clear();
      std::stringstream ss(value);
      for (std::string n; std::getline(ss, n, ',');) levels.push_back(std::atoi(n.c_str()));
    } else {
      std::fprintf(stderr, "serve_bench: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  auto model = engine::forward::Model::Load(kSource + "/tests/data/v4-tiny",
                                            {.threads = std::max(1, parallel == 1 ? 2 : 1)});
  if (!model) {
    std::fprintf(stderr, "serve_bench: %s\n", model.error().c_str());
    return 1;
  }
  auto tok = engine::LoadModelTokenizer(
      {.tokenizer_file = kSource + "/tests/data/v4-tiny-tokenizer/tokenizer.json",
       .model_vocab_size = (*model)->config().vocab_size});
  if (!tok) {
    std::fprintf(stderr, "serve_bench: %s\n", tok.error().c_str());
    return 1;
  }
  engine::InMemoryPrefixCache cache;
  engine::ChatCompleter completer(**model, **tok, &cache);
  engine::server::ChatServer server(completer, {.host = "127.0.0.1",
                                                .port = 0,
                                                .parallel = parallel,
                                                .model_id = "tiny",
                                                .context_limit = 4096,
                                                .default_max_tokens = max_tokens,
                                                .max_queue = max_queue});
  auto port = server.Start();
  if (!port) {
    std::fprintf(stderr, "serve_bench: %s\n", port.error().c_str());
    return 1;
  }
  std::printf(
      "| clients | requests | ok | 503 | other | req/s | p50 ms | p99 ms | peak RSS MiB |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const int clients : levels) {
    std::atomic<int> next{0}, ok{0}, busy{0}, other{0};
    std::vector<std::vector<double>> latencies(static_cast<size_t>(clients));
    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        httplib::Client http("127.0.0.1", *port);
        http.set_read_timeout(600, 0);
        for (int i; (i = next++) < requests;) {
          const engine::OrderedJson body = {
              {"max_tokens", max_tokens},
              {"messages",
               {{{"role", "system"}, {"content", "Be brief."}},
                {{"role", "user"}, {"content", "Question " + std::to_string(i) + "?"}}}}};
          const auto r0 = Clock::now();
          auto r = http.Post("/v1/chat/completions", body.dump(), "application/json");
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - r0).count();
          if (r && r->status == 200) {
            ok += 1;
            latencies[static_cast<size_t>(c)].push_back(ms);
          } else if (r && r->status == 503) {
            busy += 1;
          } else {
            other += 1;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    std::vector<double> all;
    for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::printf("| %d | %d | %d | %d | %d | %.1f | %.1f | %.1f | %.0f |\n", clients, requests,
                ok.load(), busy.load(), other.load(), ok.load() / seconds, Percentile(all, 0.5),
                Percentile(all, 0.99), static_cast<double>(PeakRssKiB()) / 1024.0);
    std::fflush(stdout);
  }
  server.Stop();
  return 0;
}
