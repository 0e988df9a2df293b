// The CUDA emulator (README.md here) against what CUDA promises: block barriers and shared memory,
// warp shuffles, atomics across blocks, the launch limits, device memory checks and stream capture.
// Its misuse reports (a shuffle naming an exited lane) are what make it find bugs, so they are
// tested as well.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tests/cuda_emulator/emulator_kernels.h"

namespace dsagent_emu_test {
namespace {

template <class T>
struct DeviceArray {
  explicit DeviceArray(size_t count) : n(count) {
    EXPECT_EQ(cudaMalloc(&p, n * sizeof(T)), cudaSuccess);
  }
  ~DeviceArray() { cudaFree(p); }
  void Set(const std::vector<T>& v) {
    ASSERT_EQ(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<T> Get() const {
    std::vector<T> v(n);
    EXPECT_EQ(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
  }
  T* p = nullptr;
  size_t n;
};

// A ThreadSanitizer build: the emulator's race check (race_check.h, scripts/sanitize.sh racecheck).
#if defined(__SANITIZE_THREAD__)
constexpr bool kRaceCheck = true;
#else
constexpr bool kRaceCheck = false;
#endif

// Runs `faulty` in a process of its own and expects the sanitizer's report to match `report`.
void ExpectSanitizerReport(const std::function<void()>& faulty, const std::string& report) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the child starts afresh (execve)
  EXPECT_DEATH(faulty(), report);
}

// Runs `racy` in a process of its own that ThreadSanitizer stops at its first report, and expects
// that report to be a data race in `kernel`.
void ExpectRaceReport(const std::function<void()>& racy, const std::string& kernel) {
  const char* old = std::getenv("TSAN_OPTIONS");
  const std::string kept = old != nullptr ? old : "";
  setenv("TSAN_OPTIONS", (kept + ":halt_on_error=1").c_str(), 1);
  ExpectSanitizerReport(racy, "ThreadSanitizer: data race.*" + kernel);
  if (old != nullptr) {
    setenv("TSAN_OPTIONS", kept.c_str(), 1);
  } else {
    unsetenv("TSAN_OPTIONS");
  }
}

// An AddressSanitizer build: the emulator's memory check (scripts/sanitize.sh memcheck), with
// UndefinedBehaviorSanitizer's alignment check where DSAGENT_UBSAN_ALIGNMENT says so.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kMemCheck = true;
#else
constexpr bool kMemCheck = false;
#endif
#if defined(DSAGENT_UBSAN_ALIGNMENT)
constexpr bool kAlignmentCheck = true;
#else
constexpr bool kAlignmentCheck = false;
#endif

// Two streams and the events of a fork from s to t and a join back, for a test's lifetime.
struct ForkAndJoin {
  ForkAndJoin() {
    EXPECT_EQ(cudaStreamCreate(&s), cudaSuccess);
    EXPECT_EQ(cudaStreamCreate(&t), cudaSuccess);
    EXPECT_EQ(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming), cudaSuccess);
    EXPECT_EQ(cudaEventCreateWithFlags(&join, cudaEventDisableTiming), cudaSuccess);
  }
  ~ForkAndJoin() {
    cudaEventDestroy(fork);
    cudaEventDestroy(join);
    cudaStreamDestroy(t);
    cudaStreamDestroy(s);
  }
  cudaStream_t s = nullptr, t = nullptr;
  cudaEvent_t fork = nullptr, join = nullptr;
};

// Two branches from s's fork: t and u, each with an event for its end.
struct TwoBranches : ForkAndJoin {
  TwoBranches() {
    EXPECT_EQ(cudaStreamCreate(&u), cudaSuccess);
    EXPECT_EQ(cudaEventCreateWithFlags(&t_done, cudaEventDisableTiming), cudaSuccess);
    EXPECT_EQ(cudaEventCreateWithFlags(&u_done, cudaEventDisableTiming), cudaSuccess);
  }
  ~TwoBranches() {
    cudaEventDestroy(u_done);
    cudaEventDestroy(t_done);
    cudaStreamDestroy(u);
  }
  cudaStream_t u = nullptr;
  cudaEvent_t t_done = nullptr, u_done = nullptr;
};

TEST(CudaEmulatorTest, BarriersOrderSharedMemoryAcrossAWholeBlock) {
  for (const int threads : {32, 256, 1024}) {
    const int blocks = 3;
    std::vector<float> in(static_cast<size_t>(blocks * threads));
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 97);
    DeviceArray<float> d_in(in.size()), d_out(blocks);
    d_in.Set(in);
    ASSERT_EQ(BlockSums(d_in.p, d_out.p, blocks, threads), cudaSuccess);
    const std::vector<float> out = d_out.Get();
    for (int b = 0; b < blocks; ++b) {
      double want = 0;
      for (int t = 0; t < threads; ++t) want += in[static_cast<size_t>(b * threads + t)];
      EXPECT_EQ(out[static_cast<size_t>(b)], static_cast<float>(want)) << threads << " threads";
    }
  }
}

TEST(CudaEmulatorTest, XorShufflesGiveEveryLaneItsWarpsSum) {
  const int threads = 96;
  std::vector<float> in(threads);
  for (int i = 0; i < threads; ++i) in[static_cast<size_t>(i)] = static_cast<float>(i);
  DeviceArray<float> d_in(threads), d_out(threads);
  d_in.Set(in);
  ASSERT_EQ(WarpSums(d_in.p, d_out.p, threads), cudaSuccess);
  const std::vector<float> out = d_out.Get();
  for (int i = 0; i < threads; ++i) {
    const int w = i / 32;
    const float want = static_cast<float>(32 * (32 * w) + 32 * 31 / 2);
    EXPECT_EQ(out[static_cast<size_t>(i)], want) << "thread " << i;
  }
}

// warp_butterfly.cuh's two forms: the gather the emulated kernels take gives every lane the bits
// of the shuffles the device runs, for every segment width, the sum and an order-sensitive step,
// on values of many magnitudes (so that any other summation order shows).
TEST(CudaEmulatorTest, AButterflyByOneGatherGivesTheShufflesBits) {
  const int threads = 96;
  std::vector<double> in(threads);
  uint64_t state = 12345;
  for (double& v : in) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const double unit = static_cast<double>(state >> 11) / 9007199254740992.0;
    v = std::ldexp(unit - 0.5, static_cast<int>(state % 60) - 30);
  }
  DeviceArray<double> d_in(threads), gathered(threads), shuffled(threads);
  DeviceArray<double> each_gathered(3 * threads), each_shuffled(3 * threads);
  d_in.Set(in);
  const auto bits = [](double v) {
    uint64_t b;
    std::memcpy(&b, &v, 8);
    return b;
  };
  for (const bool skewed : {false, true}) {
    for (const int width : {2, 4, 8, 16, 32}) {
      const std::string name = "width " + std::to_string(width) + (skewed ? " skewed" : " sum");
      ASSERT_EQ(Butterflies(d_in.p, gathered.p, shuffled.p, each_gathered.p, each_shuffled.p,
                            threads, width, skewed),
                cudaSuccess);
      const std::vector<double> a = gathered.Get(), b = shuffled.Get();
      int differ = 0, unchanged = 0;
      for (int i = 0; i < threads; ++i) {
        differ += bits(a[static_cast<size_t>(i)]) != bits(b[static_cast<size_t>(i)]) ? 1 : 0;
        unchanged += a[static_cast<size_t>(i)] == in[static_cast<size_t>(i)] ? 1 : 0;
      }
      EXPECT_EQ(differ, 0) << name;
      EXPECT_EQ(unchanged, 0) << name << ": the butterfly left values as they were";
      if (skewed) continue;
      const std::vector<double> ea = each_gathered.Get(), eb = each_shuffled.Get();
      int each_differ = 0;
      for (size_t i = 0; i < ea.size(); ++i) each_differ += bits(ea[i]) != bits(eb[i]) ? 1 : 0;
      EXPECT_EQ(each_differ, 0) << name << ": three sums at one gather";
    }
  }
}

TEST(CudaEmulatorTest, AButterflysGatherNamingAnExitedOrMissingLaneIsAFailedLaunch) {
  DeviceArray<double> out(32);
  EXPECT_EQ(GatherAfterALaneExited(out.p), cudaErrorLaunchFailure);
  EXPECT_EQ(GatherOverLanesTheBlockLacks(out.p), cudaErrorLaunchFailure);
}

TEST(CudaEmulatorTest, ShuffleReadsTheSourceLaneOfItsSegment) {
  const int threads = 64;
  std::vector<int> in(threads);
  for (int i = 0; i < threads; ++i) in[static_cast<size_t>(i)] = 1000 + i;
  DeviceArray<int> d_in(threads), d_out(threads);
  d_in.Set(in);
  ASSERT_EQ(Broadcast(d_in.p, d_out.p, threads, 5, 16), cudaSuccess);
  const std::vector<int> out = d_out.Get();
  for (int i = 0; i < threads; ++i)
    EXPECT_EQ(out[static_cast<size_t>(i)], 1000 + (i / 16) * 16 + 5);
}

TEST(CudaEmulatorTest, ShuffleUpScansAndBallotCollectsEveryLanesPredicate) {
  const int threads = 64;
  std::vector<int> in(threads);
  for (int i = 0; i < threads; ++i) in[static_cast<size_t>(i)] = (i * 7 + 3) % 5;
  DeviceArray<int> d_in(threads), d_scan(threads), d_first(threads);
  DeviceArray<unsigned> d_ballot(threads);
  d_in.Set(in);
  ASSERT_EQ(ScanAndBallot(d_in.p, d_scan.p, d_ballot.p, d_first.p, threads), cudaSuccess);
  const std::vector<int> scan = d_scan.Get(), first = d_first.Get();
  const std::vector<unsigned> ballot = d_ballot.Get();
  for (int w = 0; w < threads / 32; ++w) {
    int sum = 0;
    unsigned bits = 0;
    for (int l = 0; l < 32; ++l) {
      sum += in[static_cast<size_t>(32 * w + l)];
      EXPECT_EQ(scan[static_cast<size_t>(32 * w + l)], sum) << "warp " << w << " lane " << l;
      if (sum % 2 != 0) bits |= 1u << l;
    }
    ASSERT_NE(bits, 0u);
    for (int l = 0; l < 32; ++l) {
      EXPECT_EQ(ballot[static_cast<size_t>(32 * w + l)], bits) << "warp " << w << " lane " << l;
      EXPECT_EQ(first[static_cast<size_t>(32 * w + l)], __builtin_ctz(bits) + 1);
    }
  }
}

TEST(CudaEmulatorTest, AnAsyncCopyLandsOnlyAtItsWait) {
  const int threads = 64;
  std::vector<uint4> src(threads);
  for (int i = 0; i < threads; ++i) {
    const unsigned v = static_cast<unsigned>(i);
    src[static_cast<size_t>(i)] = make_uint4(v, v + 1, v + 2, v + 3);
  }
  DeviceArray<uint4> d_src(threads), d_before(threads), d_after(threads);
  d_src.Set(src);
  ASSERT_EQ(AsyncCopies(d_src.p, d_before.p, d_after.p, threads), cudaSuccess);
  const std::vector<uint4> before = d_before.Get(), after = d_after.Get();
  for (int i = 0; i < threads; ++i) {
    const size_t k = static_cast<size_t>(i);
    EXPECT_EQ(before[k].x, 0xffffffffu) << "thread " << i << " read its copy before the wait";
    EXPECT_EQ(after[k].x, src[k].x);
    EXPECT_EQ(after[k].w, src[k].w);
  }
}

TEST(CudaEmulatorTest, SyncWarpOrdersAWarpsSharedMemory) {
  DeviceArray<int> out(32);
  for (const int seed : {100, 200}) {  // two seeds: shared memory outlives a launch here
    ASSERT_EQ(SyncWarpNeighbours(out.p, seed), cudaSuccess);
    const std::vector<int> got = out.Get();
    for (int l = 0; l < 32; ++l) EXPECT_EQ(got[static_cast<size_t>(l)], ((l + 1) % 32) * 3 + seed);
  }
}

TEST(CudaEmulatorTest, AShuffleNamingAnExitedLaneIsAFailedLaunch) {
  DeviceArray<float> out(32);
  EXPECT_EQ(ShuffleAfterALaneExited(out.p), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "the error is reported once";
}

TEST(CudaEmulatorTest, AShuffleReadingALaneOutsideItsMaskIsAFailedLaunch) {
  DeviceArray<int> out(32);
  EXPECT_EQ(ShuffleReadingALaneOutsideItsMask(out.p), cudaErrorLaunchFailure);
}

TEST(CudaEmulatorTest, AtomicsCountEveryThreadOfEveryBlock) {
  DeviceArray<unsigned> count(1);
  count.Set({0});
  ASSERT_EQ(CountThreads(count.p, 37, 128), cudaSuccess);
  EXPECT_EQ(count.Get()[0], 37u * 128u);
}

TEST(CudaEmulatorTest, SyncThreadsAndIsFalseForAllWhenOneThreadsPredicateIs) {
  DeviceArray<int> out(256);
  ASSERT_EQ(SyncAnd(out.p, 256, 200), cudaSuccess);
  for (const int v : out.Get()) EXPECT_EQ(v, 0);
  ASSERT_EQ(SyncAnd(out.p, 256, -1), cudaSuccess);
  for (const int v : out.Get()) EXPECT_EQ(v, 1);
}

TEST(CudaEmulatorTest, FreshDeviceAndSharedMemoryReadAsNaN) {
  DeviceArray<float> fresh(4);
  for (const float v : fresh.Get()) EXPECT_TRUE(std::isnan(v));
  DeviceArray<unsigned> out(64);
  ASSERT_EQ(UnwrittenShared(out.p, 64, 64 * sizeof(float)), cudaSuccess);
  for (const unsigned bits : out.Get()) EXPECT_EQ(bits, 0xffffffffu);
}

TEST(CudaEmulatorTest, LaunchLimitsAreTheRuntimes) {
  DeviceArray<unsigned> out(2048);
  EXPECT_EQ(UnwrittenShared(out.p, 1025, 0), cudaErrorInvalidConfiguration);
  EXPECT_EQ(UnwrittenShared(out.p, 0, 0), cudaErrorInvalidConfiguration);
  // Over 48 KiB of dynamic shared memory needs the kernel's opt-in, up to 227 KiB.
  EXPECT_EQ(UnwrittenShared(out.p, 32, 64 * 1024), cudaErrorInvalidConfiguration);
  ASSERT_EQ(AllowShared(64 * 1024), cudaSuccess);
  EXPECT_EQ(UnwrittenShared(out.p, 32, 64 * 1024), cudaSuccess);
  EXPECT_EQ(AllowShared(228 * 1024), cudaErrorInvalidValue);
  cudaGetLastError();
}

TEST(CudaEmulatorTest, CopiesPastAnAllocationAndOversizedAllocationsAreRefused) {
  DeviceArray<float> a(16);
  std::vector<float> host(17, 1.0f);
  EXPECT_EQ(cudaMemcpy(a.p, host.data(), 17 * sizeof(float), cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(host.data(), a.p + 4, 13 * sizeof(float), cudaMemcpyDeviceToHost),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(host.data(), a.p + 4, 12 * sizeof(float), cudaMemcpyDeviceToHost),
            cudaSuccess);
  EXPECT_EQ(cudaMemset(host.data(), 0, 4), cudaErrorInvalidValue) << "host memory";
  void* huge = nullptr;
  EXPECT_EQ(cudaMalloc(&huge, size_t{1} << 50), cudaErrorMemoryAllocation);
  cudaGetLastError();
}

TEST(CudaEmulatorTest, ACapturedStreamRunsItsWorkOnlyWhenTheGraphLaunches) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  DeviceArray<int> v(1);
  v.Set({10});
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  ASSERT_EQ(Increment(v.p, s), cudaSuccess);
  ASSERT_EQ(Increment(v.p, s), cudaSuccess);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  EXPECT_EQ(v.Get()[0], 10) << "captured work does not run";
  size_t nodes = 0;
  ASSERT_EQ(cudaGraphGetNodes(graph, nullptr, &nodes), cudaSuccess);
  EXPECT_EQ(nodes, 2u);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  EXPECT_EQ(v.Get()[0], 14);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);

  // Waiting on a stream being captured ends the capture as invalid.
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
  EXPECT_EQ(cudaStreamEndCapture(s, &graph), cudaErrorStreamCaptureInvalidated);
  EXPECT_EQ(graph, nullptr);
  cudaGetLastError();
  ASSERT_EQ(Increment(v.p, s), cudaSuccess);
  EXPECT_EQ(v.Get()[0], 15) << "the stream runs work again";
  cudaStreamDestroy(s);
}

// A fork and join inside a capture, as a decode step's side stream makes them: the stream that
// waits for an event recorded in the capture joins it (its work goes into the graph, not run), and
// the capture ends only once it is joined back.
TEST(CudaEmulatorTest, AStreamWaitingOnACapturedEventJoinsTheCapture) {
  const ForkAndJoin streams;
  cudaStream_t s = streams.s, t = streams.t;
  cudaEvent_t fork = streams.fork, join = streams.join;
  DeviceArray<int> v(1);
  v.Set({0});
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  ASSERT_EQ(Increment(v.p, s), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(fork, s), cudaSuccess);
  ASSERT_EQ(cudaStreamWaitEvent(t, fork, 0), cudaSuccess);
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  ASSERT_EQ(cudaStreamIsCapturing(t, &status), cudaSuccess);
  EXPECT_EQ(status, cudaStreamCaptureStatusActive);
  ASSERT_EQ(Increment(v.p, t), cudaSuccess);
  ASSERT_EQ(Increment(v.p, s), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(join, t), cudaSuccess);
  ASSERT_EQ(cudaStreamWaitEvent(s, join, 0), cudaSuccess);
  ASSERT_EQ(Increment(v.p, s), cudaSuccess);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  EXPECT_EQ(v.Get()[0], 0) << "captured work does not run, the joined stream's neither";
  ASSERT_EQ(cudaStreamIsCapturing(t, &status), cudaSuccess);
  EXPECT_EQ(status, cudaStreamCaptureStatusNone) << "the capture's end releases the joined stream";
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  EXPECT_EQ(v.Get()[0], 4);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);

  // Not joined back: work on the side stream after its last event fails the capture.
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(fork, s), cudaSuccess);
  ASSERT_EQ(cudaStreamWaitEvent(t, fork, 0), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(join, t), cudaSuccess);
  ASSERT_EQ(Increment(v.p, t), cudaSuccess);
  ASSERT_EQ(cudaStreamWaitEvent(s, join, 0), cudaSuccess);
  EXPECT_EQ(cudaStreamEndCapture(s, &graph), cudaErrorStreamCaptureUnjoined);
  EXPECT_EQ(graph, nullptr);
  cudaGetLastError();
  ASSERT_EQ(Increment(v.p, t), cudaSuccess);
  EXPECT_EQ(v.Get()[0], 5) << "the side stream runs work again";
}

// Programmatic dependent launch: a kernel may start before the one before it on its stream ends,
// and must wait for it (cudaGridDependencySynchronize) before reading its output. The emulator
// runs block 0 of such a launch up to that wait before the previous kernel runs, so that reading
// too early reads the old values, as it may on a GPU.
TEST(CudaEmulatorTest, AProgrammaticLaunchsFirstBlockReachesItsWaitBeforeThePreviousKernelRuns) {
  if (kRaceCheck) {
    GTEST_SKIP() << "its kernel reads before its wait, a race the race check reports "
                    "(TheRaceCheckReportsAReadBeforeTheGridWait)";
  }
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  const int blocks = 3, threads = 64, n = blocks * threads;
  DeviceArray<int> data(n), before(n), after(n);
  data.Set(std::vector<int>(n, 5));
  ASSERT_EQ(FillAfterTheWait(data.p, 7, blocks, threads, s, true), cudaSuccess);
  ASSERT_EQ(ReadAroundTheWait(data.p, before.p, after.p, blocks, threads, s, true), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  const std::vector<int> b = before.Get(), a = after.Get();
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(a[i], 7) << "after the wait every thread reads the previous kernel's output, " << i;
    // Block 0 ran ahead of the fill; the other blocks after it (one legal schedule).
    EXPECT_EQ(b[i], i < threads ? 5 : 7) << i;
  }

  // A plain launch starts after the previous kernel has ended: its wait is already over.
  ASSERT_EQ(FillAfterTheWait(data.p, 9, blocks, threads, s, true), cudaSuccess);
  ASSERT_EQ(ReadAroundTheWait(data.p, before.p, after.p, blocks, threads, s, false), cudaSuccess);
  for (const int v : before.Get()) EXPECT_EQ(v, 9);

  // Captured and replayed as a graph: the same schedule between the graph's own kernels.
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), cudaSuccess);
  ASSERT_EQ(FillAfterTheWait(data.p, 11, blocks, threads, s, true), cudaSuccess);
  ASSERT_EQ(ReadAroundTheWait(data.p, before.p, after.p, blocks, threads, s, true), cudaSuccess);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  const std::vector<int> gb = before.Get(), ga = after.Get();
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(ga[i], 11) << i;
    EXPECT_EQ(gb[i], i < threads ? 9 : 11) << i;
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
}

// A programmatic launch whose kernel never waits may run wholly beside the kernel before it: a
// failed launch here, naming the kernel.
TEST(CudaEmulatorTest, AProgrammaticLaunchThatNeverWaitsIsAFailedLaunch) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  DeviceArray<int> data(32), out(32);
  ASSERT_EQ(FillAfterTheWait(data.p, 1, 1, 32, s, true), cudaSuccess);
  EXPECT_EQ(NeverWait(out.p, 32, s), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  for (const int v : data.Get()) EXPECT_EQ(v, 1) << "the kernel before it still ran";
  cudaStreamDestroy(s);
}

// DSAGENT_CUDA_EMULATOR_STREAMS=deferred: a fork's branch runs once something waits for it, after
// the work its origin queued before the join. A branch that reads what the origin overwrites after
// the fork then reads the new value, where program order gave it the old one: a race that only
// one of the two schedules shows.
TEST(CudaEmulatorTest, DeferredStreamsRunAForksBranchAfterItsOriginsWork) {
  const ForkAndJoin streams;
  cudaStream_t s = streams.s, t = streams.t;
  cudaEvent_t fork = streams.fork, join = streams.join;
  DeviceArray<int> v(1), seen(1);
  for (const bool deferred : {false, true}) {
    dsagent_emu::SetStreamSchedule(deferred ? dsagent_emu::StreamSchedule::kDeferred
                                            : dsagent_emu::StreamSchedule::kProgramOrder);
    v.Set({0});
    seen.Set({-1});
    ASSERT_EQ(Increment(v.p, s), cudaSuccess);  // 1
    ASSERT_EQ(cudaEventRecord(fork, s), cudaSuccess);
    ASSERT_EQ(cudaStreamWaitEvent(t, fork, 0), cudaSuccess);
    ASSERT_EQ(CopyOne(v.p, seen.p, t), cudaSuccess);  // the branch reads v...
    ASSERT_EQ(Increment(v.p, s), cudaSuccess);        // ...which its origin overwrites: 2
    ASSERT_EQ(cudaEventRecord(join, t), cudaSuccess);
    ASSERT_EQ(cudaStreamWaitEvent(s, join, 0), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
    EXPECT_EQ(seen.Get()[0], deferred ? 2 : 1) << (deferred ? "deferred" : "program order");
    EXPECT_EQ(v.Get()[0], 2);
  }

  // Deferred work waits for what needs it: a stream's own synchronisation...
  v.Set({0});
  ASSERT_EQ(Increment(v.p, t), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(join, t), cudaSuccess);
  ASSERT_EQ(Increment(v.p, t), cudaSuccess);
  int direct = 0;  // the emulator's device memory is the host's: read it without a copy
  std::memcpy(&direct, v.p, sizeof direct);
  EXPECT_EQ(direct, 0) << "nothing has waited for t yet";
  // ...or an event recorded on it: the work before the record, not after.
  ASSERT_EQ(cudaEventSynchronize(join), cudaSuccess);
  std::memcpy(&direct, v.p, sizeof direct);
  EXPECT_EQ(direct, 1);
  ASSERT_EQ(cudaStreamSynchronize(t), cudaSuccess);
  std::memcpy(&direct, v.p, sizeof direct);
  EXPECT_EQ(direct, 2);
  dsagent_emu::SetStreamSchedule(dsagent_emu::StreamSchedule::kProgramOrder);
}

// DSAGENT_CUDA_EMULATOR_STREAMS=reversed: of two branches forked from one origin, the one queued
// later runs first. Two branches writing one word leave the first branch's value there, where
// program order and the deferred schedule leave the second's: a race neither of those shows. A
// branch that waits for another's event still runs after it (the schedule stays legal).
TEST(CudaEmulatorTest, ReversedStreamsRunAForksLaterBranchFirst) {
  using dsagent_emu::StreamSchedule;
  const TwoBranches streams;
  cudaStream_t s = streams.s, t = streams.t, u = streams.u;
  cudaEvent_t t_done = streams.t_done, u_done = streams.u_done;
  DeviceArray<int> v(1), ten(1), twenty(1), seen(1);
  ten.Set({10});
  twenty.Set({20});
  for (const StreamSchedule schedule :
       {StreamSchedule::kProgramOrder, StreamSchedule::kDeferred, StreamSchedule::kReversed}) {
    const bool reversed = schedule == StreamSchedule::kReversed;
    dsagent_emu::SetStreamSchedule(schedule);
    for (const bool chained : {false, true}) {
      v.Set({0});
      seen.Set({-1});
      ASSERT_EQ(Increment(v.p, s), cudaSuccess);
      ASSERT_EQ(cudaEventRecord(streams.fork, s), cudaSuccess);
      ASSERT_EQ(cudaStreamWaitEvent(t, streams.fork, 0), cudaSuccess);
      ASSERT_EQ(CopyOne(ten.p, v.p, t), cudaSuccess);  // branch t: v = 10
      ASSERT_EQ(cudaEventRecord(t_done, t), cudaSuccess);
      // branch u: after t only when chained; then it reads v and sets it to 20
      ASSERT_EQ(cudaStreamWaitEvent(u, chained ? t_done : streams.fork, 0), cudaSuccess);
      ASSERT_EQ(CopyOne(v.p, seen.p, u), cudaSuccess);
      ASSERT_EQ(CopyOne(twenty.p, v.p, u), cudaSuccess);
      ASSERT_EQ(cudaEventRecord(u_done, u), cudaSuccess);
      ASSERT_EQ(cudaStreamWaitEvent(s, t_done, 0), cudaSuccess);
      ASSERT_EQ(cudaStreamWaitEvent(s, u_done, 0), cudaSuccess);
      ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
      const std::string what = std::string(reversed ? "reversed" : "not reversed") +
                               (chained ? ", u after t" : ", t and u unordered");
      const bool u_first = reversed && !chained;
      EXPECT_EQ(v.Get()[0], u_first ? 10 : 20) << what;
      EXPECT_EQ(seen.Get()[0], u_first ? 1 : 10) << what;
    }
  }
  dsagent_emu::SetStreamSchedule(StreamSchedule::kProgramOrder);
}

// DSAGENT_CUDA_EMULATOR_STREAMS=interleaved: two branches forked from one origin, each writing a
// word and then reading it back, take turns item by item. Each sharing the same word, the
// later-queued branch's write lands between the earlier's write and read, which no other schedule
// shows (each runs a branch's work whole); with a word each they read their own values in every
// schedule.
TEST(CudaEmulatorTest, InterleavedStreamsShowTwoBranchesSharingAWord) {
  using dsagent_emu::StreamSchedule;
  const TwoBranches streams;
  cudaStream_t s = streams.s, t = streams.t, u = streams.u;
  cudaEvent_t t_done = streams.t_done, u_done = streams.u_done;
  DeviceArray<int> ten(1), twenty(1), word_t(1), word_u(1), seen_t(1), seen_u(1);
  ten.Set({10});
  twenty.Set({20});
  for (const StreamSchedule schedule : {StreamSchedule::kProgramOrder, StreamSchedule::kDeferred,
                                        StreamSchedule::kReversed, StreamSchedule::kInterleaved}) {
    dsagent_emu::SetStreamSchedule(schedule);
    for (const bool shared : {false, true}) {
      seen_t.Set({-1});
      seen_u.Set({-1});
      int* u_word = shared ? word_t.p : word_u.p;
      ASSERT_EQ(cudaEventRecord(streams.fork, s), cudaSuccess);
      ASSERT_EQ(cudaStreamWaitEvent(t, streams.fork, 0), cudaSuccess);
      ASSERT_EQ(cudaStreamWaitEvent(u, streams.fork, 0), cudaSuccess);
      ASSERT_EQ(CopyOne(ten.p, word_t.p, t), cudaSuccess);
      ASSERT_EQ(CopyOne(word_t.p, seen_t.p, t), cudaSuccess);
      ASSERT_EQ(cudaEventRecord(t_done, t), cudaSuccess);
      ASSERT_EQ(CopyOne(twenty.p, u_word, u), cudaSuccess);
      ASSERT_EQ(CopyOne(u_word, seen_u.p, u), cudaSuccess);
      ASSERT_EQ(cudaEventRecord(u_done, u), cudaSuccess);
      ASSERT_EQ(cudaStreamWaitEvent(s, t_done, 0), cudaSuccess);
      ASSERT_EQ(cudaStreamWaitEvent(s, u_done, 0), cudaSuccess);
      ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
      const bool interleaved = schedule == StreamSchedule::kInterleaved;
      const std::string what = "schedule " + std::to_string(static_cast<int>(schedule)) +
                               (shared ? ", one word" : ", a word each");
      // Interleaved, u (queued later) goes first: u writes 20, t writes 10, u reads 10.
      EXPECT_EQ(seen_u.Get()[0], shared && interleaved ? 10 : 20) << what;
      EXPECT_EQ(seen_t.Get()[0], 10) << what;
    }
  }
  dsagent_emu::SetStreamSchedule(StreamSchedule::kProgramOrder);
}

// The last-block pattern with its fences: the last block to count sees every block's partial.
TEST(CudaEmulatorTest, TheLastBlockToCountSeesEveryBlocksStore) {
  const int blocks = 24;
  DeviceArray<int> partial(blocks), total(1);
  DeviceArray<unsigned> count(1);
  count.Set({0});
  for (int round = 0; round < 2; ++round) {  // the last block zeroes the count for the next launch
    partial.Set(std::vector<int>(blocks, -1000));
    ASSERT_EQ(LastBlockSums(partial.p, count.p, total.p, blocks, true), cudaSuccess);
    EXPECT_EQ(total.Get()[0], blocks * (blocks + 1) / 2) << round;
    EXPECT_EQ(count.Get()[0], 0u) << round;
  }
}

// An injected device fault (FaultAtLaunch) is sticky, as an illegal address is on a GPU: the
// faulting kernel does not run, and every later call on the context (synchronising, allocating,
// copying, launching, cudaGetLastError) returns cudaErrorIllegalAddress until it is cleared,
// while the device's count still answers. Kernels before the fault ran.
TEST(CudaEmulatorTest, AnInjectedDeviceFaultStaysUntilCleared) {
  DeviceArray<int> value(1);
  value.Set({0});
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  dsagent_emu::FaultAtLaunch(2);
  ASSERT_EQ(Increment(value.p, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);  // the first kernel ran
  (void)Increment(value.p, s);                       // the second faults (at its launch here)
  EXPECT_EQ(cudaStreamSynchronize(s), cudaErrorIllegalAddress);
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress);
  EXPECT_EQ(cudaGetLastError(), cudaErrorIllegalAddress) << "reading it cleared it";
  EXPECT_EQ(Increment(value.p, s), cudaErrorIllegalAddress);
  void* more = nullptr;
  EXPECT_EQ(cudaMalloc(&more, 64), cudaErrorIllegalAddress);
  int host = -1;
  EXPECT_EQ(cudaMemcpy(&host, value.p, sizeof host, cudaMemcpyDeviceToHost),
            cudaErrorIllegalAddress);
  EXPECT_EQ(host, -1);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorIllegalAddress);
  int count = 0;
  EXPECT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  EXPECT_EQ(count, 1);
  dsagent_emu::ClearDeviceFault();
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(value.Get()[0], 1) << "the kernel before the fault ran, the faulting one did not";
  ASSERT_EQ(Increment(value.p, s), cudaSuccess);
  EXPECT_EQ(value.Get()[0], 2);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
}

// The race check (a ThreadSanitizer build, race_check.h): races that the emulator's order of the
// threads would not show in the values. The tests above are its negative cases: their barriers,
// __syncwarp, atomics and fenced last block must give no report.
TEST(CudaEmulatorTest, TheRaceCheckReportsSharedMemoryReadWithoutABarrier) {
  if (!kRaceCheck) GTEST_SKIP() << "a ThreadSanitizer build's (scripts/sanitize.sh racecheck)";
  ExpectRaceReport(
      [] {
        DeviceArray<int> out(64);
        (void)NeighbourWithoutABarrier(out.p, 64);
        (void)cudaDeviceSynchronize();
      },
      "NeighbourWithoutABarrierKernel");
}

TEST(CudaEmulatorTest, TheRaceCheckReportsLanesOrderedOnlyByAShuffle) {
  if (!kRaceCheck) GTEST_SKIP() << "a ThreadSanitizer build's (scripts/sanitize.sh racecheck)";
  // The emulator gives every lane its neighbour's value here (the shuffle's wait), a GPU need not.
  ExpectRaceReport(
      [] {
        DeviceArray<int> out(32);
        (void)NeighbourAfterAShuffle(out.p, 5);
        (void)cudaDeviceSynchronize();
      },
      "NeighbourAfterAShuffleKernel");
}

TEST(CudaEmulatorTest, TheRaceCheckReportsTwoBlocksStoringOneWord) {
  if (!kRaceCheck) GTEST_SKIP() << "a ThreadSanitizer build's (scripts/sanitize.sh racecheck)";
  if (dsagent_emu::BlockThreads() < 2)
    GTEST_SKIP() << "blocks on one OS thread run one after another";
  ExpectRaceReport(
      [] {
        DeviceArray<int> out(1);
        (void)EveryBlockStoresOneWord(out.p, 4);
        (void)cudaDeviceSynchronize();
      },
      "EveryBlockStoresKernel");
}

TEST(CudaEmulatorTest, TheRaceCheckReportsALastBlockWithoutItsFences) {
  if (!kRaceCheck) GTEST_SKIP() << "a ThreadSanitizer build's (scripts/sanitize.sh racecheck)";
  if (dsagent_emu::BlockThreads() < 2)
    GTEST_SKIP() << "blocks on one OS thread run one after another";
  ExpectRaceReport(
      [] {
        const int blocks = 8;
        DeviceArray<int> partial(blocks), total(1);
        DeviceArray<unsigned> count(1);
        count.Set({0});
        (void)LastBlockSums(partial.p, count.p, total.p, blocks, false);
        (void)cudaDeviceSynchronize();
      },
      "LastBlockSumKernel");
}

TEST(CudaEmulatorTest, TheRaceCheckReportsAReadBeforeTheGridWait) {
  if (!kRaceCheck) GTEST_SKIP() << "a ThreadSanitizer build's (scripts/sanitize.sh racecheck)";
  ExpectRaceReport(
      [] {
        cudaStream_t s = nullptr;
        (void)cudaStreamCreate(&s);
        const int n = 64;
        DeviceArray<int> data(n), before(n), after(n);
        (void)FillAfterTheWait(data.p, 7, 1, n, s, true);
        (void)ReadAroundTheWait(data.p, before.p, after.p, 1, n, s, true);
        (void)cudaStreamSynchronize(s);
      },
      "ReadAroundKernel");
}

// The memory check's own tests: a device overrun and a misaligned vector load are reported,
// naming the kernel or its line, as compute-sanitizer's memcheck reports them on a GPU (a device
// allocation and a block's dynamic shared memory are heap blocks of their exact size).
TEST(CudaEmulatorTest, TheMemoryCheckReportsAReadPastADeviceAllocation) {
  if (!kMemCheck) GTEST_SKIP() << "an AddressSanitizer build's (scripts/sanitize.sh memcheck)";
  ExpectSanitizerReport(
      [] {
        DeviceArray<float> in(64), out(64);
        (void)ShiftedCopy(in.p, out.p, 64);
        (void)cudaDeviceSynchronize();
      },
      "AddressSanitizer: heap-buffer-overflow.*ShiftedCopyKernel");
}

TEST(CudaEmulatorTest, TheMemoryCheckReportsAStorePastTheDynamicSharedMemory) {
  if (!kMemCheck) GTEST_SKIP() << "an AddressSanitizer build's (scripts/sanitize.sh memcheck)";
  ExpectSanitizerReport(
      [] {
        DeviceArray<float> out(64);
        (void)ShiftedSharedCopy(out.p, 64, 64);
        (void)cudaDeviceSynchronize();
      },
      "AddressSanitizer: heap-buffer-overflow.*ShiftedSharedKernel");
}

TEST(CudaEmulatorTest, TheMemoryCheckReportsAMisalignedVectorLoad) {
  if (!kAlignmentCheck) GTEST_SKIP() << "a -fsanitize=alignment build's (sanitize.sh memcheck)";
  ExpectSanitizerReport(
      [] {
        DeviceArray<float> in(8);
        DeviceArray<float4> out(1);
        (void)VectorLoad(in.p + 1, out.p);
        (void)cudaDeviceSynchronize();
      },
      "emulator_kernels\\.cu:[0-9]+:[0-9]+: runtime error: [a-z ]*misaligned address");
}

// The same kernels within bounds and aligned: their values, and no report in the memory check.
TEST(CudaEmulatorTest, TheMemoryCheckKernelsInBoundsGiveTheirValues) {
  std::vector<float> values(65);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.5f;
  DeviceArray<float> in(65), out(64);
  in.Set(values);
  ASSERT_EQ(ShiftedCopy(in.p, out.p, 64), cudaSuccess);
  const std::vector<float> shifted = out.Get();
  for (size_t i = 0; i < shifted.size(); ++i) EXPECT_EQ(shifted[i], values[i + 1]) << i;
  ASSERT_EQ(ShiftedSharedCopy(out.p, 64, 65), cudaSuccess);
  const std::vector<float> own = out.Get();
  for (size_t i = 0; i < own.size(); ++i) EXPECT_EQ(own[i], static_cast<float>(i)) << i;
  DeviceArray<float4> loaded(1);
  ASSERT_EQ(VectorLoad(in.p + 4, loaded.p), cudaSuccess);  // a cudaMalloc is 256-byte aligned
  const float4 v = loaded.Get()[0];
  EXPECT_EQ(v.x, values[4]);
  EXPECT_EQ(v.y, values[5]);
  EXPECT_EQ(v.z, values[6]);
  EXPECT_EQ(v.w, values[7]);
}

}  // namespace
}  // namespace dsagent_emu_test
