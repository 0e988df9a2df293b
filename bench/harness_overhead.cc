// Harness overhead of `dsagent run`, measured against the loopback DeepSeek test server (which
// answers instantly), so the CPU measured in the dsagent process is dsagent's own: request
// building, HTTP/SSE, tool dispatch, trace writes. Three modes, each printing one JSON object:
//
//   harness_overhead [STEPS]             a scripted session from empty (read_file and `ls -l`
//                                        alternating): wall and CPU per step, the cache-hit rate
//                                        and the prefix share the server's cache model observed.
//   harness_overhead scale [--steps N] [TOKENS...]
//                                        (default 10000 100000 1000000) per context size: a session
//                                        of that many tokens is resumed and runs K more steps of
//                                        read_file (in-process, no subprocess). CPU per step is the
//                                        difference between a 2-step and a (2+N)-step resume
//                                        divided by N (default 40), so start-up and resume cancel
//                                        out (40 steps at least, so that the difference stands
//                                        above the noise of process start; more split user and sys
//                                        time more exactly); also the time from starting `--resume`
//                                        to the first request arriving, and the peak RSS of the
//                                        long run. The window is set above the session
//                                        (context_tokens 4M), so no compaction.
//   harness_overhead compaction [STEPS]  (default 40) a session driven past a 65,536-token window
//                                        (max_output_tokens 4096): whether it keeps running, how
//                                        many requests do not extend the previous one byte for
//                                        byte, and how many miss more than their new tail.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "tests/support/deepseek_test_server.h"

namespace fs = std::filesystem;
using dsagent::CanonicalJson;
using dsagent::Json;
using dsagent::testing::DeepSeekTestServer;
using dsagent::testing::ReceivedRequest;
using dsagent::testing::ScriptedReply;

namespace {

constexpr const char* kKey = "bench-key";

struct Child {
  int exit_code = -1;
  double user_s = 0, sys_s = 0;
  long max_rss_kb = 0;
  double first_request_s = 0;  // from start to the server seeing its first request
};

double Seconds(const timeval& t) {
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

// dsagent runs are started by a launcher process forked at the top of main(), while this process
// is still small. Forking from here later would be wrong for the RSS figure: the test server keeps
// every request it saw (megabytes each at 1M tokens), a forked child holds a copy of those pages
// until it execs, and Linux carries that pre-exec high-water mark into the child's ru_maxrss.
struct Launcher {
  int to_launcher = -1;    // commands: one length-prefixed blob per run
  int from_launcher = -1;  // results: one LaunchResult per run
};
struct LaunchResult {
  int status = 0;
  rusage usage{};
};
Launcher g_launcher;

void WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w <= 0) _exit(120);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

bool ReadAll(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// A blob is NUL-separated fields: cwd, then argv, an empty field, then the environment.
[[noreturn]] void LauncherLoop(int commands, int results) {
  for (;;) {
    uint64_t size = 0;
    if (!ReadAll(commands, &size, sizeof size)) _exit(0);
    std::string blob(size, '\0');
    if (!ReadAll(commands, blob.data(), size)) _exit(0);
    std::vector<std::string> fields;
    for (size_t at = 0; at < blob.size();) {
      const size_t end = blob.find('\0', at);
      fields.push_back(blob.substr(at, end - at));
      at = end + 1;
    }
    std::vector<char*> argv, envp;
    size_t i = 1;
    for (; i < fields.size() && !fields[i].empty(); ++i) argv.push_back(fields[i].data());
    argv.push_back(nullptr);
    for (++i; i < fields.size(); ++i) envp.push_back(fields[i].data());
    envp.push_back(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      if (chdir(fields[0].c_str()) != 0) _exit(127);
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    LaunchResult r;
    wait4(pid, &r.status, 0, &r.usage);
    WriteAll(results, &r, sizeof r);
  }
}

void StartLauncher() {
  int commands[2], results[2];
  if (pipe(commands) != 0 || pipe(results) != 0) std::exit(2);
  if (fork() == 0) {
    close(commands[1]);
    close(results[0]);
    LauncherLoop(commands[0], results[1]);
  }
  close(commands[0]);
  close(results[1]);
  g_launcher = {commands[1], results[0]};
}

// Runs dsagent with `args` in `cwd` and an environment for the sandbox at `root`; waits for it and
// returns its own rusage (wait4, in the launcher). Also times its first request at `server`.
Child RunDsagent(const std::vector<std::string>& args, const fs::path& cwd, const fs::path& root,
                 DeepSeekTestServer& server, const std::map<std::string, std::string>& extra = {}) {
  std::map<std::string, std::string> env = {
      {"HOME", root.string()},
      {"XDG_DATA_HOME", (root / "data").string()},
      {"XDG_CONFIG_HOME", (root / "config").string()},
      {"XDG_CACHE_HOME", (root / "cache").string()},
      {"PATH", std::getenv("PATH") ? std::getenv("PATH") : ""},
      {"DEEPSEEK_API_KEY", kKey},
      {"DEEPSEEK_BASE_URL", server.BaseUrl()}};
  for (const auto& [k, v] : extra) env[k] = v;
  std::string blob = cwd.string() + '\0';
  // For profiling: DSAGENT_BENCH_WRAP="/usr/bin/perf record -o /tmp/p.data --" runs each dsagent
  // under that command (words split at spaces; the first an absolute path). The CPU figures then
  // include the wrapper's; the last run (the long one, in scale) leaves the last output.
  if (const char* wrap = std::getenv("DSAGENT_BENCH_WRAP"); wrap != nullptr) {
    for (std::string_view w(wrap); !w.empty();) {
      const size_t space = w.find(' ');
      if (space != 0) blob += std::string(w.substr(0, space)) + '\0';
      w = space == std::string_view::npos ? std::string_view() : w.substr(space + 1);
    }
  }
  // DSAGENT_BENCH_BINARY: another dsagent to measure (e.g. a build of an earlier commit).
  const char* binary = std::getenv("DSAGENT_BENCH_BINARY");
  blob += std::string(binary != nullptr && *binary != '\0' ? binary : DSAGENT_BINARY) + '\0';
  for (const auto& a : args) blob += a + '\0';
  blob += '\0';
  for (const auto& [k, v] : env) blob += k + "=" + v + '\0';

  const size_t before = server.Requests().size();
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t size = blob.size();
  WriteAll(g_launcher.to_launcher, &size, sizeof size);
  WriteAll(g_launcher.to_launcher, blob.data(), blob.size());
  Child c;
  if (server.WaitForRequests(before + 1, std::chrono::seconds(120))) {
    c.first_request_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  LaunchResult r;
  if (!ReadAll(g_launcher.from_launcher, &r, sizeof r)) return c;
  c.exit_code = WIFEXITED(r.status) ? WEXITSTATUS(r.status) : 128;
  c.user_s = Seconds(r.usage.ru_utime);
  c.sys_s = Seconds(r.usage.ru_stime);
  c.max_rss_kb = r.usage.ru_maxrss;
  return c;
}

fs::path MakeRoot() {
  char tmpl[] = "/tmp/dsagent_bench_XXXXXX";
  const fs::path root = mkdtemp(tmpl);
  fs::create_directories(root / "repo");
  return root;
}

void WriteFiles(const fs::path& repo, int count, size_t bytes) {
  for (int i = 0; i < count; ++i) {
    std::string text;
    while (text.size() < bytes) {
      text += "line " + std::to_string(text.size()) + " of file " + std::to_string(i) + "\n";
    }
    std::ofstream(repo / ("file" + std::to_string(i) + ".txt")) << text;
  }
}

void EnqueueReads(DeepSeekTestServer& server, int calls, int files, const std::string& tag) {
  for (int i = 0; i < calls; ++i) {
    server.Enqueue(ScriptedReply::Calls(
        {{tag + std::to_string(i), "read_file",
          CanonicalJson({{"path", "file" + std::to_string(i % files) + ".txt"}})}}));
  }
  server.Enqueue(ScriptedReply::Text("done"));
}

std::string OpenMessages(const ReceivedRequest& r) {
  std::string m = CanonicalJson(r.json["messages"]);
  if (!m.empty()) m.pop_back();
  return m;
}

// The original mode: a scripted session of `steps` from empty.
int FromEmpty(int steps) {
  const fs::path root = MakeRoot();
  const fs::path repo = root / "repo";
  WriteFiles(repo, 20, 2000);
  DeepSeekTestServer server;
  server.SetApiKey(kKey);
  for (int i = 0; i + 1 < steps; ++i) {
    const std::string id = "call_" + std::to_string(i);
    if (i % 2 == 0) {
      server.Enqueue(ScriptedReply::Calls(
          {{id, "read_file",
            CanonicalJson({{"path", "file" + std::to_string(i % 20) + ".txt"}})}}));
    } else {
      server.Enqueue(ScriptedReply::Calls({{id, "bash", R"({"command":"ls -l"})"}}));
    }
  }
  server.Enqueue(ScriptedReply::Text("done"));
  const auto t0 = std::chrono::steady_clock::now();
  const Child c = RunDsagent({"run", "--json", "--max-steps", std::to_string(steps + 1), "bench"},
                             repo, root, server);
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // dsagent and its tool subprocesses (ls), as this mode has always reported: wait4's rusage of
  // the dsagent process counts the children it waited for. (RUSAGE_CHILDREN of this process
  // reads 0 since dsagent is started by the launcher, which this process never waits for.)
  const double cpu_s = c.user_s + c.sys_s;
  const auto requests = server.Requests();
  double min_prefix = 1.0, last_prefix = 0.0;
  int64_t hit = 0, total = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& u = requests[i].usage;
    hit += u.input_cache_hit;
    total += u.input_cache_hit + u.input_cache_miss;
    if (i == 0) continue;
    const double t = static_cast<double>(u.input_cache_hit + u.input_cache_miss);
    last_prefix = t > 0 ? static_cast<double>(u.input_cache_hit) / t : 0.0;
    min_prefix = std::min(min_prefix, last_prefix);
  }
  const double n = static_cast<double>(requests.size());
  Json report = {
      {"mode", "from_empty"},
      {"steps", requests.size()},
      {"exit_code", c.exit_code},
      {"wall_s", wall_s},
      {"ms_per_step", 1000.0 * wall_s / n},
      {"dsagent_cpu_ms_per_step", 1000.0 * cpu_s / n},
      {"cache_hit_rate", total ? static_cast<double>(hit) / static_cast<double>(total) : 0},
      {"prefix_share_min_after_first", min_prefix},
      {"prefix_share_last", last_prefix},
      {"last_request_bytes", requests.empty() ? 0 : requests.back().body.size()}};
  std::printf("%s\n", report.dump().c_str());
  fs::remove_all(root);
  return c.exit_code == 0 ? 0 : 1;
}

// Appends `pairs` synthetic steps (an assistant read_file call and its 4,000-byte result) to the
// trace at `path`; returns the bytes of message text added.
size_t GrowTrace(const fs::path& path, size_t target_text_bytes, size_t* text_bytes) {
  std::ofstream out(path, std::ios::app);
  size_t added = 0;
  for (size_t i = 0; *text_bytes < target_text_bytes; ++i) {
    const std::string id = "seed_" + std::to_string(i);
    const std::string args = CanonicalJson({{"path", "file" + std::to_string(i % 20) + ".txt"}});
    Json call = {{"role", "assistant"},
                 {"content", ""},
                 {"reasoning_content", "Next I read file " + std::to_string(i % 20) + "."},
                 {"tool_calls",
                  {{{"id", id},
                    {"type", "function"},
                    {"function", {{"name", "read_file"}, {"arguments", args}}}}}}};
    std::string content;
    while (content.size() < 4000) {
      content +=
          std::to_string(i) + ": the quick brown fox " + std::to_string(content.size()) + "\n";
    }
    Json result = {{"role", "tool"}, {"content", content}, {"tool_call_id", id}};
    out << CanonicalJson({{"type", "message"}, {"message", call}}) << "\n";
    out << CanonicalJson({{"type", "message"}, {"message", result}}) << "\n";
    *text_bytes += content.size() + args.size() + 40;
    added += 2;
  }
  return added;
}

constexpr int kShortResumeSteps = 2;

int Scale(const std::vector<int64_t>& sizes, int long_resume_steps) {
  Json rows = Json::array();
  bool ok = true;
  for (const int64_t tokens : sizes) {
    const fs::path root = MakeRoot();
    const fs::path repo = root / "repo";
    WriteFiles(repo, 20, 2000);
    DeepSeekTestServer server;
    server.SetApiKey(kKey);
    // A real session start (system prompt, tools, repo map), then synthetic steps up to the size.
    const fs::path seed = root / "seed.jsonl";
    server.Enqueue(ScriptedReply::Text("ok"));
    Child first =
        RunDsagent({"run", "--json", "--trace", seed.string(), "seed"}, repo, root, server);
    if (first.exit_code != 0) return 1;
    std::string id;
    {
      std::ifstream in(seed);
      std::string line;
      std::getline(in, line);
      id = Json::parse(line).value("session_id", "");
    }
    size_t text_bytes = 0;
    GrowTrace(seed, static_cast<size_t>(tokens) * 4, &text_bytes);
    const auto trace_bytes = fs::file_size(seed);

    std::map<int, Child> runs;
    size_t last_request_bytes = 0;
    for (const int steps : {kShortResumeSteps, long_resume_steps}) {
      const fs::path trace = root / ("resume" + std::to_string(steps) + ".jsonl");
      fs::copy_file(seed, trace);
      EnqueueReads(server, steps - 1, 20, "r" + std::to_string(steps) + "_");
      // A window above the session, so that this measures the raw session, not a compaction.
      runs[steps] = RunDsagent({"run", "--json", "--max-steps", std::to_string(steps + 1),
                                "--trace", trace.string(), "--resume", id, "continue"},
                               repo, root, server, {{"DSAGENT_CONTEXT_TOKENS", "4000000"}});
      ok = ok && runs[steps].exit_code == 0;
      last_request_bytes = server.Requests().back().body.size();
    }
    const Child& a = runs[kShortResumeSteps];
    const Child& b = runs[long_resume_steps];
    const double kStepsMeasured = long_resume_steps - kShortResumeSteps;
    rows.push_back(
        {{"context_tokens", tokens},
         {"session_text_bytes", text_bytes},
         {"trace_bytes", trace_bytes},
         {"last_request_bytes", last_request_bytes},
         {"exit_codes", {a.exit_code, b.exit_code}},
         {"steps_measured", long_resume_steps - kShortResumeSteps},
         {"resume_to_first_request_s", b.first_request_s},
         // The short run's CPU less its steps: start-up, resume and the first encoding.
         {"resume_cpu_s", (a.user_s + a.sys_s) - kShortResumeSteps *
                                                     ((b.user_s + b.sys_s) - (a.user_s + a.sys_s)) /
                                                     kStepsMeasured},
         {"cpu_ms_per_step",
          1000.0 * ((b.user_s + b.sys_s) - (a.user_s + a.sys_s)) / kStepsMeasured},
         {"user_ms_per_step", 1000.0 * (b.user_s - a.user_s) / kStepsMeasured},
         {"sys_ms_per_step", 1000.0 * (b.sys_s - a.sys_s) / kStepsMeasured},
         {"peak_rss_mb", static_cast<double>(b.max_rss_kb) / 1024.0},
         {"peak_rss_over_text", static_cast<double>(b.max_rss_kb) * 1024.0 /
                                    static_cast<double>(std::max<size_t>(text_bytes, 1))}});
    fs::remove_all(root);
  }
  std::printf("%s\n", Json({{"mode", "scale"}, {"rows", rows}}).dump().c_str());
  return ok ? 0 : 1;
}

int Compaction(int steps) {
  const fs::path root = MakeRoot();
  const fs::path repo = root / "repo";
  WriteFiles(repo, steps, 8000);
  DeepSeekTestServer server;
  server.SetApiKey(kKey);
  EnqueueReads(server, steps, steps, "call_");
  const fs::path trace = root / "trace.jsonl";
  const Child c = RunDsagent(
      {"run", "--json", "--max-steps", std::to_string(steps + 1), "--trace", trace.string(), "go"},
      repo, root, server,
      {{"DSAGENT_CONTEXT_TOKENS", "65536"}, {"DSAGENT_MAX_OUTPUT_TOKENS", "4096"}});
  const auto requests = server.Requests();
  int breaks = 0, misses = 0;
  int64_t max_prompt = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& u = requests[i].usage;
    max_prompt = std::max(max_prompt, u.input_cache_hit + u.input_cache_miss);
    if (i == 0) continue;
    const std::string a = OpenMessages(requests[i - 1]);
    const std::string b = OpenMessages(requests[i]);
    if (b.compare(0, a.size(), a) != 0) ++breaks;
    const int64_t grown = static_cast<int64_t>(b.size()) - static_cast<int64_t>(a.size());
    if (u.input_cache_miss > std::max<int64_t>(grown, 0) / 4 + 100) ++misses;
  }
  Json compactions = Json::array();
  std::ifstream in(trace);
  for (std::string line; std::getline(in, line);) {
    Json e = Json::parse(line, nullptr, false);
    if (e.is_object() && e.value("type", "") == "compaction") {
      compactions.push_back({{"step", e.value("step", 0)},
                             {"elided", e["replaced"].size()},
                             {"tokens_before", e.value("tokens_before", 0)},
                             {"tokens_after", e.value("tokens_after", 0)},
                             {"uncached_tokens", e.value("uncached_tokens", 0)}});
    }
  }
  Json report = {{"mode", "compaction"},
                 {"exit_code", c.exit_code},
                 {"requests", requests.size()},
                 {"window_tokens", 65536},
                 {"max_prompt_tokens_seen", max_prompt},
                 {"compactions", compactions},
                 {"requests_not_extending_previous", breaks},
                 {"requests_missing_more_than_their_tail", misses}};
  std::printf("%s\n", report.dump().c_str());
  fs::remove_all(root);
  return c.exit_code == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  StartLauncher();  // first, while this process is small (see Launcher)
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "scale") {
    std::vector<int64_t> sizes;
    int long_resume_steps = 42;
    for (int i = 2; i < argc; ++i) {
      if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
        long_resume_steps = kShortResumeSteps + std::max(1, std::atoi(argv[++i]));
      } else {
        sizes.push_back(std::atoll(argv[i]));
      }
    }
    if (sizes.empty()) sizes = {10000, 100000, 1000000};
    return Scale(sizes, long_resume_steps);
  }
  if (mode == "compaction") return Compaction(argc > 2 ? std::atoi(argv[2]) : 40);
  return FromEmpty(argc > 1 ? std::atoi(argv[1]) : 50);
}
