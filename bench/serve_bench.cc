// Serve benchmark (engine/server): requests/s and latency percentiles of `dsagent serve`'s
// ChatServer on the tiny checkpoint (tests/data/v4-tiny and its test tokenizer) over loopback
// HTTP, at 1, 8 and 64 concurrent clients. Each client sends its requests one after another
// (non-streamed, a short distinct user message, max_tokens 8, greedy); the line is long enough
// that nothing is refused unless --max-queue says otherwise (503s are counted). Also reported:
// the process's peak RSS after each level.
//
// With --model DIR another checkpoint is served (with --tokenizer FILE, default the model's or the
// npm V3 tokenizer, as `dsagent serve`), e.g. the Flash-shaped synthetic one, and --max-batch N
// batches the decode steps of up to N concurrent requests (forward_batcher.h; `dsagent serve`
// sets it to --parallel); requests then ask for exactly max_tokens (ignore_eos) and the table
// adds the completion tokens per second of all clients together.
//
// Usage: serve_bench [--parallel 2] [--requests 256] [--max-tokens 8] [--max-queue 64]
//                    [--clients 1,8,64] [--model DIR] [--tokenizer FILE] [--threads N]
//                    [--max-batch N] [--numerics exact|fast]
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
#include "engine/runtime/engine_runtime.h"
#include "engine/server/chat_server.h"

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
  int parallel = 2, requests = 256, max_tokens = 8, max_queue = 64, forward_threads = 0,
      max_batch = 1;
  std::string model_dir = kSource + "/tests/data/v4-tiny", tokenizer_file;
  engine::kernels::Numerics numerics = engine::kernels::Numerics::kExact;
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
    } else if (flag == "--model") {
      model_dir = value;
    } else if (flag == "--tokenizer") {
      tokenizer_file = value;
    } else if (flag == "--threads") {
      forward_threads = std::atoi(value);
    } else if (flag == "--numerics" && engine::kernels::ParseNumerics(value)) {
      numerics = *engine::kernels::ParseNumerics(value);
    } else if (flag == "--max-batch") {
      max_batch = std::atoi(value);
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
  const bool tiny = model_dir == kSource + "/tests/data/v4-tiny";
  if (tiny && tokenizer_file.empty()) {
    tokenizer_file = kSource + "/tests/data/v4-tiny-tokenizer/tokenizer.json";
  }
  if (forward_threads <= 0 && tiny) forward_threads = std::max(1, parallel == 1 ? 2 : 1);
  auto runtime = engine::EngineRuntime::Open({.model_dir = model_dir,
                                              .tokenizer_file = tokenizer_file,
                                              .threads = forward_threads,
                                              .numerics = numerics,
                                              .max_batch = max_batch});
  if (!runtime) {
    std::fprintf(stderr, "serve_bench: %s\n", runtime.error().c_str());
    return 1;
  }
  engine::ChatCompleter& completer = (*runtime)->completer();
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
      "| clients | requests | ok | 503 | other | req/s | completion tokens/s | p50 ms | p99 ms | "
      "peak RSS MiB |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (const int clients : levels) {
    std::atomic<int> next{0}, ok{0}, busy{0}, other{0};
    std::atomic<int64_t> completion_tokens{0};
    std::vector<std::vector<double>> latencies(static_cast<size_t>(clients));
    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        httplib::Client http("127.0.0.1", *port);
        http.set_read_timeout(600, 0);
        for (int i; (i = next++) < requests;) {
          engine::OrderedJson body = {
              {"max_tokens", max_tokens},
              {"messages",
               {{{"role", "system"}, {"content", "Be brief."}},
                {{"role", "user"}, {"content", "Question " + std::to_string(i) + "?"}}}}};
          if (!tiny) body["ignore_eos"] = true;  // every reply max_tokens long
          const auto r0 = Clock::now();
          auto r = http.Post("/v1/chat/completions", body.dump(), "application/json");
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - r0).count();
          if (r && r->status == 200) {
            ok += 1;
            latencies[static_cast<size_t>(c)].push_back(ms);
            const auto reply = engine::OrderedJson::parse(r->body, nullptr, false);
            if (!reply.is_discarded() && reply.contains("usage")) {
              completion_tokens += reply["usage"].value("completion_tokens", int64_t{0});
            }
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
    std::printf("| %d | %d | %d | %d | %d | %.1f | %.1f | %.1f | %.1f | %.0f |\n", clients,
                requests, ok.load(), busy.load(), other.load(), ok.load() / seconds,
                static_cast<double>(completion_tokens.load()) / seconds, Percentile(all, 0.5),
                Percentile(all, 0.99), static_cast<double>(PeakRssKiB()) / 1024.0);
    std::fflush(stdout);
  }
  server.Stop();
  return 0;
}
