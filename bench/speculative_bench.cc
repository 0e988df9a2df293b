// MTP speculative decoding against plain decoding (engine/generate/generator.h, Speculative):
// the acceptance it sees, end-to-end tokens/s both ways (the tokens are checked equal), and the
// costs the speed-up formula needs, each the median of --reps calls on copies of one state after
// the prompt: a plain decode step (1 row), a verify step (2 rows, last row undoable, then taken
// back) and an MTP draft (the MTP block on 1 row, head on 1 row). CPU time per call is reported
// beside wall time, for a machine shared with other work.
//
//   speed-up per step = (1 + a) * t_plain / (t_draft + t_verify)
//
// with a the share of drafts accepted: a speculative step costs a draft and a verify and yields
// 1 + a tokens; a plain step costs t_plain and yields one.
//
// With --accept standard (speculative sampling's min(1, p/q) rule) the tokens are not plain
// decoding's (only their distribution is), so they are not compared, and the acceptance rate is
// reported over --seeds seeds (one generation each).
//
// Usage: speculative_bench [--model DIR] [--prompt 64] [--tokens 64] [--reps 20] [--threads 0]
//                          [--numerics exact|fast] [--temperature 0] [--seed 0]
//                          [--accept match|standard] [--seeds 1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "engine/forward/model.h"
#include "engine/generate/cpu_sequence_model.h"
#include "engine/generate/generator.h"

namespace {
using namespace dsagent::engine;
using Clock = std::chrono::steady_clock;

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Timing {
  double wall_ms = 0, cpu_ms = 0;  // medians
};

// Median wall and CPU time of `reps` calls of `f` (each given a fresh copy of `state`).
Timing Measure(int reps, const forward::SequenceState& state,
               const std::function<void(forward::SequenceState&)>& f) {
  std::vector<double> wall, cpu;
  for (int i = 0; i < reps; ++i) {
    forward::SequenceState s = state;
    const auto t0 = Clock::now();
    const double c0 = CpuSeconds();
    f(s);
    cpu.push_back(1e3 * (CpuSeconds() - c0));
    wall.push_back(1e3 * std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  return {wall[wall.size() / 2], cpu[cpu.size() / 2]};
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "speculative_bench: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path model_dir =
      std::filesystem::path(DSAGENT_SOURCE_DIR) / "tests/data/v4-tiny";
  int prompt_tokens = 64, gen_tokens = 64, reps = 20, threads = 0;
  std::string numerics = "exact";
  double temperature = 0;
  uint64_t seed = 0;
  std::string accept = "match";
  int seeds = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--model")
      model_dir = value;
    else if (flag == "--prompt")
      prompt_tokens = std::stoi(value);
    else if (flag == "--tokens")
      gen_tokens = std::stoi(value);
    else if (flag == "--reps")
      reps = std::stoi(value);
    else if (flag == "--threads")
      threads = std::stoi(value);
    else if (flag == "--numerics")
      numerics = value;
    else if (flag == "--temperature")
      temperature = std::stod(value);
    else if (flag == "--seed")
      seed = std::stoull(value);
    else if (flag == "--accept")
      accept = value;
    else if (flag == "--seeds")
      seeds = std::stoi(value);
    else
      return Fail("unknown flag " + flag);
  }
  auto model = forward::Model::Load(
      model_dir,
      {.threads = threads,
       .numerics = kernels::ParseNumerics(numerics).value_or(kernels::Numerics::kExact)});
  if (!model) return Fail(model.error());
  const auto acceptance = ParseSpeculativeAcceptance(accept);
  if (!acceptance) return Fail("--accept must be match or standard");
  if (seeds < 1) return Fail("--seeds must be at least 1");
  forward::Model& m = **model;
  const int64_t vocab = m.config().vocab_size;
  std::vector<int32_t> prompt;
  for (int i = 0; i < prompt_tokens; ++i)
    prompt.push_back(static_cast<int32_t>((i * 7919 + 13) % vocab));

  // End to end, plain then speculative.
  CpuSequenceModel cpu(m);
  Generator g(cpu, nullptr);
  GenerateOptions options;
  options.max_tokens = gen_tokens;
  options.sampling.temperature = temperature;
  options.sampling.seed = seed;
  auto plain = g.Generate(*cpu.NewSequence(), prompt, options);
  if (!plain) return Fail(plain.error());
  options.speculative = Speculative::kMtp;
  options.speculative_acceptance = *acceptance;
  auto spec = g.Generate(*cpu.NewSequence(), prompt, options);
  if (!spec) return Fail(spec.error());
  const bool same_tokens = *acceptance == SpeculativeAcceptance::kMatch || temperature <= 0;
  if (same_tokens && spec->tokens != plain->tokens) {
    return Fail("speculative tokens differ from plain decoding");
  }
  // The acceptance rate over `seeds` generations (seed, seed + 1, ...).
  int64_t drafted = spec->drafted, accepted = spec->accepted;
  for (int i = 1; i < seeds; ++i) {
    options.sampling.seed = seed + static_cast<uint64_t>(i);
    auto more = g.Generate(*cpu.NewSequence(), prompt, options);
    if (!more) return Fail(more.error());
    drafted += more->drafted;
    accepted += more->accepted;
  }
  const double a = drafted > 0 ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0;

  // The parts, at the state after the prompt (+ the MTP state kept in step by a speculative
  // prefill, so a draft has the rows it needs).
  forward::SequenceState state = m.NewSequence();
  forward::ForwardTrace trace;
  if (auto r = m.Forward(state, prompt, &trace); !r) return Fail(r.error());
  const size_t width = static_cast<size_t>(m.config().hc_mult * m.config().dim);
  const std::vector<float> streams(trace.final_streams.begin(), trace.final_streams.end() - width);
  const std::vector<float> last(trace.final_streams.end() - width, trace.final_streams.end());
  if (auto r = m.ForwardMtp(state, streams, std::span(prompt).subspan(1)); !r)
    return Fail(r.error());
  const int32_t next = plain->tokens.front(), draft = (next + 1) % static_cast<int32_t>(vocab);
  const Timing t_plain = Measure(reps, state, [&](forward::SequenceState& s) {
    const int32_t one[1] = {next};
    (void)m.Forward(s, one);
  });
  const Timing t_verify = Measure(reps, state, [&](forward::SequenceState& s) {
    const int32_t two[2] = {next, draft};
    forward::ForwardTrace undo;
    undo.undoable_last_row = true;
    (void)m.Forward(s, two, &undo);
    (void)m.TakeBackLastRow(s, undo.undo);
  });
  const Timing t_draft = Measure(reps, state, [&](forward::SequenceState& s) {
    const int32_t one[1] = {next};
    (void)m.ForwardMtpLast(s, last, one);
  });

  std::printf("model %s, %s numerics, %d threads, prompt %d, %zu tokens generated\n",
              model_dir.string().c_str(), numerics.c_str(), threads, prompt_tokens,
              plain->tokens.size());
  std::printf("plain:       %.1f tokens/s (decode %.1f ms)\n",
              static_cast<double>(plain->tokens.size()) / plain->decode_seconds,
              1e3 * plain->decode_seconds);
  std::printf("speculative (%s rule): %.1f tokens/s (decode %.1f ms), %zu tokens\n", accept.c_str(),
              static_cast<double>(spec->tokens.size()) / spec->decode_seconds,
              1e3 * spec->decode_seconds, spec->tokens.size());
  std::printf("acceptance rate over %d generation%s: drafted %lld, accepted %lld (a = %.3f)\n",
              seeds, seeds == 1 ? "" : "s", static_cast<long long>(drafted),
              static_cast<long long>(accepted), a);
  std::printf(
      "median per call (wall / CPU ms): plain step %.3f / %.3f, verify (2 rows + take back) "
      "%.3f / %.3f, MTP draft %.3f / %.3f\n",
      t_plain.wall_ms, t_plain.cpu_ms, t_verify.wall_ms, t_verify.cpu_ms, t_draft.wall_ms,
      t_draft.cpu_ms);
  const double cost = (t_draft.cpu_ms + t_verify.cpu_ms) / t_plain.cpu_ms;
  std::printf(
      "from CPU times: speculative step = %.2f plain steps; speed-up (1 + a) / %.2f = %.2f "
      "at a = %.3f; break-even a = %.2f\n",
      cost, cost, (1 + a) / cost, a, cost - 1);
  return 0;
}
