// Decode speed against the memory-bandwidth limit: times single-token decode steps after a
// prefill (itself timed, cold and then warm: the same prompt again on a fresh sequence), counts
// the weight bytes one step must read (every non-MTP tensor in its stored format, the routed
// experts in proportion k / n, one embedding row), and measures this machine's memory
// read bandwidth with a streaming sum, so the step time can be read as a fraction of the time the
// weight reads alone need: against the best of 5 passes after the steps, and (the steadier
// figure on a machine whose bandwidth drifts) step by step against a pass made just before each.
//
// With --context N the steps start at position N from a synthetic state instead of a prefill:
// every window ring, compressed cache and indexer key buffer filled with random values on the
// reference's FP8/FP4 grids as a sequence of N tokens would (N a multiple of 128, so the
// compressors' partial blocks are empty), so the step time at long contexts can be measured
// without a prefill of N tokens. The logits are meaningless; the work per step is the real one.
//
// With --batch N (> 1) it then times batched decode (Model::ForwardBatch, as `dsagent serve`
// runs concurrent requests): N copies of the sequence step together, each fed its own token
// (different tokens, so the rows route to different experts as independent requests would), and
// reports the aggregate tokens/s against the single sequence's of the same run.
//
// Usage: decode_bench [--model DIR] [--prefill 128 | --context N] [--steps 16] [--threads 0]
//                     [--numerics exact|fast] [--batch N] [--weights auto|mmap|load]
// --weights: how the checkpoint is held (engine/model/weight_residency.h; the line reports it).
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "engine/forward/model.h"
#include "engine/forward/numerics.h"
#include "engine/forward/thread_pool.h"
#include "engine/model/tensor_inventory.h"

namespace {
using namespace dsagent::engine;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// CPU seconds used by the whole process (all threads): on a machine shared with other work, CPU
// time per step divided by the thread count estimates the step time the machine would give alone.
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Bytes of weights one decode step reads: every main-model tensor, the routed experts scaled by
// the share a token uses, and one row of the embedding and of the hash-routing table.
double WeightBytesPerToken(const ModelConfig& c) {
  double bytes = 0;
  for (const auto& t : ExpectedTensors(c)) {
    if (t.mtp) continue;
    double n = 1;
    for (int64_t d : t.shape) n *= static_cast<double>(d);
    n *= static_cast<double>(DTypeBytes(t.dtype));
    if (t.name == "embed.weight" || t.name.ends_with("tid2eid"))
      n /= static_cast<double>(t.shape[0]);
    if (t.routed_expert) n *= static_cast<double>(c.n_activated_experts) / c.n_routed_experts;
    bytes += n;
  }
  return bytes;
}

// The single-pass read bandwidth: streaming sums over a 1 GiB buffer (far larger than the caches)
// in transparent huge pages where the kernel gives them (the fastest this machine streams, so the
// floor is not flattered by a slow buffer), split across `threads` threads, in bytes read per
// second. This is the floor a decode step's weight reads meet (each weight byte is read once per
// step); memcpy's read + write figure understates it.
class StreamingRead {
 public:
  // Its workers sleep at once after a pass (no spin), so they do not compete with the model's.
  explicit StreamingRead(int threads) : pool_(threads, std::chrono::microseconds{0}) {
    map_ = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map_ == MAP_FAILED) {
      std::perror("decode_bench: mmap of the bandwidth buffer");
      std::exit(1);
    }
    ::madvise(map_, kBytes, MADV_HUGEPAGE);
    const std::span<uint64_t> buffer = words();
    for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = i;
  }
  ~StreamingRead() { ::munmap(map_, kBytes); }
  StreamingRead(const StreamingRead&) = delete;
  StreamingRead& operator=(const StreamingRead&) = delete;

  // One pass over the buffer: bytes per second.
  double Pass() {
    const std::span<const uint64_t> buffer = words();
    std::atomic<uint64_t> total{0};
    const auto t = Clock::now();
    pool_.ParallelFor(static_cast<int64_t>(buffer.size()), int64_t{1} << 20,
                      [&](int64_t begin, int64_t end) {
                        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                        int64_t i = begin;
                        for (; i + 4 <= end; i += 4) {
                          s0 += buffer[static_cast<size_t>(i)];
                          s1 += buffer[static_cast<size_t>(i + 1)];
                          s2 += buffer[static_cast<size_t>(i + 2)];
                          s3 += buffer[static_cast<size_t>(i + 3)];
                        }
                        for (; i < end; ++i) s0 += buffer[static_cast<size_t>(i)];
                        total += s0 + s1 + s2 + s3;
                      });
    const double seconds = Since(t);
    checksum_ += total.load();
    if (checksum_ == 42) std::printf(" ");  // keep the sums observable
    return static_cast<double>(kBytes) / seconds;
  }
  // The best of `passes` passes.
  double Best(int passes) {
    double best = 0;
    for (int i = 0; i < passes; ++i) best = std::max(best, Pass());
    return best;
  }

 private:
  static constexpr size_t kBytes = size_t{1} << 30;
  std::span<uint64_t> words() const { return {static_cast<uint64_t*>(map_), kBytes / 8}; }
  forward::ThreadPool pool_;
  void* map_ = nullptr;
  uint64_t checksum_ = 0;
};

// A state at position `context` (a multiple of 128) with random cache contents (see the header).
forward::SequenceState SyntheticState(const forward::Model& m, int64_t context) {
  const ModelConfig& c = m.config();
  forward::SequenceState s = m.NewSequence();
  uint32_t x = 987654321u;
  const auto random_bits = [&](std::vector<uint16_t>& v, size_t n) {
    v.resize(n);
    for (auto& b : v) {
      x = x * 1664525u + 1013904223u;
      // bf16 values with 3 mantissa bits (on the FP8 grid), exponents near 1.
      b = forward::FloatToBf16Bits(static_cast<float>(static_cast<int>((x >> 20) & 15) - 8) / 8.0f);
    }
  };
  for (auto& layer : s.layers) {
    random_bits(layer.window, static_cast<size_t>(c.window_size * c.head_dim));
    if (layer.ratio > 0) {
      random_bits(layer.compressed, static_cast<size_t>(context / layer.ratio * c.head_dim));
    }
    if (layer.ratio == 4) {
      random_bits(layer.index_keys, static_cast<size_t>(context / 4 * c.index_head_dim));
    }
  }
  s.pos = context;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path model_dir = DSAGENT_SOURCE_DIR "/tests/data/v4-tiny";
  int64_t prefill = 128, steps = 16, context = 0, batch = 1;
  int threads = 0;
  kernels::Numerics numerics = kernels::Numerics::kExact;
  WeightResidency residency = WeightResidency::kAuto;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--model") {
      model_dir = value;
    } else if (flag == "--prefill") {
      prefill = std::atoll(value.c_str());
    } else if (flag == "--steps") {
      steps = std::atoll(value.c_str());
    } else if (flag == "--threads") {
      threads = std::atoi(value.c_str());
    } else if (flag == "--context") {
      context = std::atoll(value.c_str());
    } else if (flag == "--batch" && std::atoll(value.c_str()) >= 1) {
      batch = std::atoll(value.c_str());
    } else if (flag == "--numerics" && kernels::ParseNumerics(value)) {
      numerics = *kernels::ParseNumerics(value);
    } else if (flag == "--weights" && ParseWeightResidency(value)) {
      residency = *ParseWeightResidency(value);
    } else {
      std::fprintf(stderr,
                   "usage: decode_bench [--model DIR] [--prefill N | --context N] [--steps N] "
                   "[--threads N] [--numerics exact|fast] [--batch N] "
                   "[--weights auto|mmap|load]\n");
      return 2;
    }
  }
  if (context % 128 != 0 || context < 0) {
    std::fprintf(stderr, "--context must be a multiple of 128\n");
    return 2;
  }
  auto model = forward::Model::Load(
      model_dir, {.threads = threads, .numerics = numerics, .weights = residency});
  if (!model) {
    std::fprintf(stderr, "%s\n", model.error().c_str());
    return 1;
  }
  forward::Model& m = **model;
  const ModelConfig& c = m.config();
  std::vector<int32_t> prompt(static_cast<size_t>(std::max<int64_t>(1, prefill)));
  uint32_t x = 12345;
  for (auto& t : prompt) {
    x = x * 1664525u + 1013904223u;
    t = static_cast<int32_t>((x >> 8) %
                             static_cast<uint32_t>(std::min<int64_t>(c.vocab_size, 512)));
  }
  forward::SequenceState s = context > 0 ? SyntheticState(m, context) : m.NewSequence();
  if (context > 0) prompt.resize(1);
  const auto prefill_start = Clock::now();
  const double prefill_cpu = ProcessCpuSeconds();
  auto logits = m.ForwardLast(s, prompt);
  if (!logits) {
    std::fprintf(stderr, "%s\n", logits.error().c_str());
    return 1;
  }
  if (prompt.size() > 1) {
    const double wall = Since(prefill_start), cpu = ProcessCpuSeconds() - prefill_cpu;
    // The same prompt again on a fresh sequence: the pool, the workspaces and the pages are warm,
    // as in a server's later requests (and as issue 16's same-machine baseline was timed).
    forward::SequenceState again = m.NewSequence();
    const auto warm_start = Clock::now();
    const double warm_cpu_start = ProcessCpuSeconds();
    if (auto warm = m.ForwardLast(again, prompt); !warm) {
      std::fprintf(stderr, "%s\n", warm.error().c_str());
      return 1;
    }
    const double warm_wall = Since(warm_start), warm_cpu = ProcessCpuSeconds() - warm_cpu_start;
    const double n = static_cast<double>(prompt.size());
    std::printf(
        "%s (%s numerics): prefill of %zu tokens: %.1f ms (%.1f tokens/s), CPU %.1f ms; warm "
        "(again on a fresh sequence): %.1f ms (%.1f tokens/s), CPU %.1f ms\n",
        model_dir.string().c_str(), std::string(kernels::NumericsName(numerics)).c_str(),
        prompt.size(), wall * 1e3, n / wall, cpu * 1e3, warm_wall * 1e3, n / warm_wall,
        warm_cpu * 1e3);
  }
  // Greedy steps; the first one also pages in whatever the prefill did not touch. Each timed step
  // is paired with a streaming pass just before it: this VM's bandwidth moves by 1.5x within a
  // minute, so a step's share of the floor is read against the floor of its own moment, and the
  // median of those shares is the steady figure (the best-of-5 floor after the steps is kept too).
  const double weights = WeightBytesPerToken(c);
  StreamingRead reader(threads);
  std::vector<double> times, cpu_times, shares;
  for (int64_t i = 0; i <= steps; ++i) {
    const auto next =
        static_cast<int32_t>(std::max_element(logits->begin(), logits->end()) - logits->begin());
    const double pass = i > 0 ? reader.Pass() : 0;
    const auto t = Clock::now();
    const double cpu = ProcessCpuSeconds();
    logits = m.ForwardLast(s, std::vector<int32_t>{next});
    if (!logits) return 1;
    if (i > 0) {
      times.push_back(Since(t));
      cpu_times.push_back(ProcessCpuSeconds() - cpu);
      shares.push_back(weights / pass / times.back());
    }
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu_times.begin(), cpu_times.end());
  std::sort(shares.begin(), shares.end());
  const double median = times[times.size() / 2];
  const double bandwidth = reader.Best(5);
  const double floor_s = weights / bandwidth;  // the weight reads alone at that bandwidth
  std::printf(
      "%s (%s numerics, weights %s): decode at position %lld..%lld: median %.2f ms/token (%.1f "
      "tokens/s), best "
      "%.2f ms; "
      "weights read per token %.1f MB (%.2f GB/s achieved); read bandwidth %.2f GB/s "
      "(single pass, same threads), at which the weight reads alone take %.2f ms: decode runs at "
      "%.0f%% of the "
      "bandwidth limit; paired with a pass just before each step: median %.0f%% (range "
      "%.0f-%.0f%%); CPU time per token (all threads) median %.2f ms\n",
      model_dir.string().c_str(), std::string(kernels::NumericsName(numerics)).c_str(),
      WeightResidencyName((*model)->weight_residency()), static_cast<long long>(s.pos - steps),
      static_cast<long long>(s.pos), median * 1e3, 1.0 / median, times.front() * 1e3, weights / 1e6,
      weights / median / 1e9, bandwidth / 1e9, floor_s * 1e3, 100.0 * floor_s / median,
      100.0 * shares[shares.size() / 2], 100.0 * shares.front(), 100.0 * shares.back(),
      cpu_times[cpu_times.size() / 2] * 1e3);
  if (batch > 1) {
    std::vector<forward::SequenceState> seqs(static_cast<size_t>(batch), s);
    std::vector<std::vector<int32_t>> feed(static_cast<size_t>(batch), std::vector<int32_t>(1));
    std::vector<double> batch_times, batch_cpu;
    for (int64_t i = 0; i <= steps; ++i) {
      std::vector<forward::BatchEntry> entries;
      for (int64_t k = 0; k < batch; ++k) {
        x = x * 1664525u + 1013904223u;
        feed[static_cast<size_t>(k)][0] = static_cast<int32_t>(
            (x >> 8) % static_cast<uint32_t>(std::min<int64_t>(c.vocab_size, 1 << 20)));
        entries.push_back({&seqs[static_cast<size_t>(k)], feed[static_cast<size_t>(k)], 1});
      }
      const auto t = Clock::now();
      const double cpu = ProcessCpuSeconds();
      if (!m.ForwardBatch(entries)) return 1;
      if (i > 0) {
        batch_times.push_back(Since(t));
        batch_cpu.push_back(ProcessCpuSeconds() - cpu);
      }
    }
    std::sort(batch_times.begin(), batch_times.end());
    std::sort(batch_cpu.begin(), batch_cpu.end());
    const double batch_median = batch_times[batch_times.size() / 2];
    std::printf(
        "batched decode, %lld sequences: median %.2f ms per step (%.1f tokens/s in all), best "
        "%.2f ms; %.2fx the single sequence's tokens/s; CPU time per step (all threads) median "
        "%.2f ms (%.2fx the single sequence's)\n",
        static_cast<long long>(batch), batch_median * 1e3,
        static_cast<double>(batch) / batch_median, batch_times.front() * 1e3,
        static_cast<double>(batch) / batch_median * median, batch_cpu[batch_cpu.size() / 2] * 1e3,
        batch_cpu[batch_cpu.size() / 2] / cpu_times[cpu_times.size() / 2]);
  }
  return 0;
}
