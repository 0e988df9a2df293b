// local_provider_bench: the `local` provider's own CPU per agent step, excluding the model, at a
// given context size. A step is what `dsagent run --provider local` adds to the conversation: an
// assistant turn with reasoning and a read_file call, and its 4,000-byte result (real source text
// from this repository, so the tokenizer does real work). Measured per step, on this thread's CPU
// clock, for the work between the agent's Request and the engine's prompt token ids:
//   before: the old path: the incremental openai-compatible body (ChatCompletionsWire), parsed
//           whole by the server's ParseChatRequest, rendered whole (RenderChatPrompt) and
//           tokenized through PromptTokenCache (what LocalProvider did before, and serve does);
//   after:  LocalRequestBuilder (local_request.h): new messages only.
// Both keep their state across steps, as a provider does; both are checked to give the same ids.
// For scale, the last column is the CPU of tokenizing each step's tool result on its own (work
// any path must do for the new text).
//
// Usage: local_provider_bench [--steps N] [--after-only] [TOKENS...]
//        (default: 10000 100000 1000000; N = 20). --after-only skips the old path (for profiling
//        the new one); the ids are then checked against one whole encode at the end.
// Needs the npm V3 tokenizer (scripts/setup.sh).
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/providers/chat_completions.h"
#include "agent/providers/local_request.h"
#include "common/file_io.h"
#include "engine/generate/prompt_token_cache.h"
#include "engine/server/openai_chat.h"
#include "engine/tokenizer/model_tokenizer.h"

namespace dsagent {
namespace {

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// 4,000-byte pieces of this repository's engine sources, reused round robin.
std::vector<std::string> SourcePieces() {
  std::vector<std::string> pieces;
  const auto root = std::filesystem::path(DSAGENT_SOURCE_DIR) / "engine";
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (e.is_regular_file() && e.path().extension() == ".cc") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto text = ReadFileToString(f);
    if (!text) continue;
    for (size_t at = 0; at + 4000 <= text->size(); at += 4000)
      pieces.push_back(text->substr(at, 4000));
  }
  return pieces;
}

Request StartRequest() {
  Request r;
  r.lane = {"local", true, "high"};
  r.tools = {{"read_file", "Reads a file of the repository.",
              Json::parse(R"({"type":"object","properties":{"path":{"type":"string"},
                "offset":{"type":"integer"},"limit":{"type":"integer"}},"required":["path"]})")},
             {"bash", "Runs a shell command.",
              Json::parse(R"({"type":"object","properties":{"command":{"type":"string"}},
                "required":["command"]})")}};
  r.max_output_tokens = 4096;
  r.messages.push_back(SystemMessage("You are dsagent, a coding agent. Work in the repository."));
  r.messages.push_back(UserMessage("Find why the decode step is slow and fix it."));
  return r;
}

void AppendStep(Request& r, const std::vector<std::string>& pieces, size_t step) {
  Message a;
  a.role = Role::kAssistant;
  a.reasoning = "Step " + std::to_string(step) + ": read the next part of the engine.";
  a.has_reasoning = true;
  a.tool_calls = {
      {"call_0", "read_file", R"({"path":"engine/file_)" + std::to_string(step) + R"(.cc"})"}};
  r.messages.push_back(a);
  r.messages.push_back(ToolResultMessage("call_0", pieces[step % pieces.size()]));
}

// The old per-turn path; returns the prompt ids.
struct OldPath {
  ChatCompletionsWire wire{OpenAiCompatibleDialect()};
  engine::PromptTokenCache tokens;
  std::vector<int32_t> Run(const Request& r, const engine::BpeTokenizer& tok) {
    const std::string body = wire.BuildBody(r, false).Bytes();
    auto parsed = engine::server::ParseChatRequest(body, {.max_tokens = r.max_output_tokens});
    if (!parsed) std::abort();
    auto text = engine::RenderChatPrompt(parsed->chat);
    if (!text) std::abort();
    return tokens.Encode(tok, *text);
  }
};

struct Stats {
  double mean = 0, min = 1e300, max = 0;
};
Stats Summarise(const std::vector<double>& v) {
  Stats s;
  for (double x : v) {
    s.mean += x / static_cast<double>(v.size());
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  return s;
}

int Run(int argc, char** argv) {
  int steps = 20;
  bool after_only = false;
  std::vector<int64_t> sizes;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
      steps = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--after-only") == 0) {
      after_only = true;
    } else {
      sizes.push_back(std::atoll(argv[i]));
    }
  }
  if (sizes.empty()) sizes = {10000, 100000, 1000000};
  const auto file = engine::FindV3Tokenizer();
  if (!file) {
    std::fprintf(stderr, "no V3 tokenizer under .deps/npm (scripts/setup.sh installs it)\n");
    return 1;
  }
  auto tok = engine::LoadModelTokenizer({.tokenizer_file = *file, .model_vocab_size = 129280});
  if (!tok) {
    std::fprintf(stderr, "%s\n", tok.error().c_str());
    return 1;
  }
  const std::vector<std::string> pieces = SourcePieces();
  std::printf("%zu source pieces of 4000 bytes; %d measured steps per size\n", pieces.size(),
              steps);
  std::printf("%10s %10s %10s %8s | %-26s | %-26s | %s\n", "context", "context", "prompt", "step",
              "before ms/step", "after ms/step", "result");
  std::printf("%10s %10s %10s %8s | %-26s | %-26s | %s\n", "at start", "at end", "bytes (end)",
              "tokens", "mean (min-max)", "mean (min-max)", "alone ms");
  for (const int64_t target : sizes) {
    Request r = StartRequest();
    LocalRequestBuilder builder(**tok);
    OldPath old;
    size_t step = 0;
    // Grow to the size through the builder (incremental, so cheap), then prime the old path once.
    while (true) {
      AppendStep(r, pieces, step++);
      if (!builder.Build(r, 0, CancelToken())) std::abort();
      if (static_cast<int64_t>(builder.prompt_ids().size()) >= target) break;
    }
    if (!after_only && old.Run(r, **tok) != builder.prompt_ids()) {
      std::fprintf(stderr, "the two paths disagree\n");
      return 1;
    }
    const size_t start_tokens = builder.prompt_ids().size();
    std::vector<double> before, after, result_alone;
    int64_t step_tokens = 0;
    for (int s = 0; s < steps; ++s) {
      AppendStep(r, pieces, step++);
      const size_t had = builder.prompt_ids().size();
      double t0 = ThreadCpuMs();
      const std::vector<int32_t> ids = after_only ? std::vector<int32_t>() : old.Run(r, **tok);
      before.push_back(ThreadCpuMs() - t0);
      t0 = ThreadCpuMs();
      if (!builder.Build(r, 0, CancelToken())) std::abort();
      after.push_back(ThreadCpuMs() - t0);
      if (!after_only && ids != builder.prompt_ids()) {
        std::fprintf(stderr, "the two paths disagree at step %zu\n", step);
        return 1;
      }
      step_tokens += static_cast<int64_t>(builder.prompt_ids().size() - had);
      // For scale: tokenizing this step's tool result on its own.
      t0 = ThreadCpuMs();
      const auto alone = (*tok)->Encode(r.messages.back().content);
      result_alone.push_back(ThreadCpuMs() - t0);
    }
    if (after_only && (*tok)->Encode(builder.prompt_text()) != builder.prompt_ids()) {
      std::fprintf(stderr, "the ids differ from a whole encode\n");
      return 1;
    }
    const Stats b = Summarise(before), a = Summarise(after), e = Summarise(result_alone);
    std::printf(
        "%9zuK %9zuK %10zu %8lld | %7.2f (%6.2f-%7.2f)    | %7.2f (%6.2f-%7.2f)    | %6.2f\n",
        start_tokens / 1000, builder.prompt_ids().size() / 1000, builder.prompt_text().size(),
        static_cast<long long>(step_tokens / steps), b.mean, b.min, b.max, a.mean, a.min, a.max,
        e.mean);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace dsagent

int main(int argc, char** argv) { return dsagent::Run(argc, argv); }
