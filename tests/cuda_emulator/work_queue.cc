#include "tests/cuda_emulator/work_queue.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

// Deferred streams (DSAGENT_CUDA_EMULATOR_STREAMS=deferred): another legal schedule of a
// program's streams than program order. A stream's work is queued and runs only once something
// waits for it (a stream waiting for an event recorded after it, a synchronisation, the legacy
// stream, a free); and a stream that waits for another's event first runs its own work queued
// before the wait. So a fork's side branch runs after the work its origin queued before the join,
// not before it: a branch that reads what the origin overwrites after the fork, or a join left out
// before the origin reads the branch's output, gives other results than program order and fails
// its test.
//
// Reversed streams (DSAGENT_CUDA_EMULATOR_STREAMS=reversed): deferred as above, and before a
// stream's deferred work runs, every other stream whose deferred work was queued later runs its
// own, the latest first. So of two branches forked from one origin the later one runs first: two
// branches writing one buffer, or one reading what the other writes without an event between,
// give other results than program order. Still a legal schedule: a wait runs what it waits for at
// the call, so no deferred work waits for work not yet run.
//
// Interleaved streams (DSAGENT_CUDA_EMULATOR_STREAMS=interleaved): deferred, and when a stream's
// deferred work runs, every stream with deferred work takes turns one item at a time, the most
// recently queued first. The two schedules above run each branch's work whole, one branch after
// another, so two branches that each write a buffer and then read it back give program order's
// results even when it is one buffer; here the later branch's write lands between the earlier's
// write and read. Legal for the same reason: deferred work waits for nothing that has not run.

namespace dsagent_emu::rt {
namespace {

// With DSAGENT_CUDA_EMULATOR_STATS=1, what ran, per kernel, printed at exit: how many launches a
// step makes is a figure the emulator can give (and a GPU's latency bound multiplies). With
// DSAGENT_CUDA_EMULATOR_STATS=trace also every launch as it runs (kernel, grid, block, dynamic
// shared bytes), to stderr: a step's launches in order with their sizes, where a kernel of few
// CTAs (a latency-bound one on a GPU) stands out.
class LaunchStats {
 public:
  static LaunchStats* Get() {
    static LaunchStats* stats = [] {
      const char* v = std::getenv("DSAGENT_CUDA_EMULATOR_STATS");
      if (v == nullptr) return static_cast<LaunchStats*>(nullptr);
      const std::string mode(v);
      return mode == "1" || mode == "trace" ? new LaunchStats(mode == "trace") : nullptr;
    }();
    return stats;
  }

  void Add(const dsagent_emu::GridLaunch& l) {
    std::lock_guard<std::mutex> lock(mu_);
    if (trace_) {
      std::fprintf(stderr, "launch %s grid %ux%ux%u block %ux%ux%u shared %zu depth %lld\n", l.name,
                   l.grid.x, l.grid.y, l.grid.z, l.block.x, l.block.y, l.block.z, l.shared_bytes,
                   static_cast<long long>(l.depth));
    }
    deepest_ = std::max(deepest_, l.depth);
    Counts& c = by_kernel_[l.name];
    ++c.launches;
    c.blocks += int64_t{l.grid.x} * l.grid.y * l.grid.z;
    c.threads += int64_t{l.grid.x} * l.grid.y * l.grid.z * l.block.x * l.block.y * l.block.z;
  }

 private:
  struct Counts {
    int64_t launches = 0, blocks = 0, threads = 0;
  };
  explicit LaunchStats(bool trace) : trace_(trace) {
    std::atexit([] { Get()->Print(); });
  }
  void Print() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::pair<std::string, Counts>> rows(by_kernel_.begin(), by_kernel_.end());
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.second.launches > b.second.launches; });
    int64_t launches = 0;
    for (const auto& r : rows) launches += r.second.launches;
    std::fprintf(stderr, "CUDA emulator: %lld kernel launches, the deepest %lld kernels deep\n",
                 static_cast<long long>(launches), static_cast<long long>(deepest_));
    for (const auto& r : rows) {
      std::fprintf(stderr, "  %10lld launches %12lld blocks %14lld threads  %s\n",
                   static_cast<long long>(r.second.launches),
                   static_cast<long long>(r.second.blocks),
                   static_cast<long long>(r.second.threads), r.first.c_str());
    }
  }
  const bool trace_;
  std::mutex mu_;
  int64_t deepest_ = 0;
  std::map<std::string, Counts> by_kernel_;
};

// DSAGENT_CUDA_EMULATOR_SKIP_KERNELS=1: kernels are checked and counted but not run, so a bench's
// time is the host's own work to queue them (the engine's code per launch and this runtime's,
// not NVIDIA's); every result is garbage.
bool SkipKernels() {
  static const bool skip = dsagent_emu::EnvIs("DSAGENT_CUDA_EMULATOR_SKIP_KERNELS", "1");
  return skip;
}

cudaError_t RunGridLocked(const dsagent_emu::GridLaunch& launch, int64_t first_block) {
  std::lock_guard<std::mutex> lock(E().launch_mu);
  // An injected device fault (FaultAtLaunch): this kernel is the one, or one fewer to go.
  if (E().fault_countdown.load() > 0 && E().fault_countdown.fetch_sub(1) == 1) {
    E().sticky.store(cudaErrorIllegalAddress, std::memory_order_release);
    return Fail(cudaErrorIllegalAddress, std::string("an injected device fault in ") + launch.name +
                                             " (FaultAtLaunch): the context is lost");
  }
  const std::string error = dsagent_emu::RunGrid(launch, first_block);
  return error.empty() ? cudaSuccess : Fail(cudaErrorLaunchFailure, error);
}

// Runs the held-back launch, if any, to its end (caller holds pending_mu).
cudaError_t FinishPendingLocked() {
  Emulator& e = E();
  if (!e.pending) return cudaSuccess;
  const Node n = std::move(*e.pending);
  e.pending.reset();
  const std::unique_ptr<dsagent_emu::HeldBlock> block0 = std::move(e.pending_block0);
  if (block0 != nullptr) {
    const std::string error = block0->Finish();
    if (!error.empty()) return Fail(cudaErrorLaunchFailure, error);
  }
  return RunGridLocked(n.launch, block0 != nullptr ? 1 : 0);
}

// A programmatic launch: held back until the next work. When the launch before it, on its stream,
// is held back too, its block 0 first runs up to its cudaGridDependencySynchronize, then that
// launch runs (caller holds pending_mu).
cudaError_t HoldBackLocked(const Node& n) {
  Emulator& e = E();
  std::unique_ptr<dsagent_emu::HeldBlock> block0;
  std::string ahead_error;
  if (e.pending && e.pending->stream == n.stream) {
    block0 = dsagent_emu::HeldBlock::Start(n.launch, &ahead_error);
  }
  const cudaError_t before = FinishPendingLocked();
  if (!ahead_error.empty()) return Fail(cudaErrorLaunchFailure, ahead_error);
  if (before != cudaSuccess) return before;
  e.pending = n;
  e.pending_block0 = std::move(block0);
  return cudaSuccess;
}

// Host memory that is neither the runtime's (cudaMallocHost) nor registered with it.
bool Pageable(const void* p) {
  std::lock_guard<std::mutex> lock(E().mu);
  return Find(p) == nullptr;
}

bool StreamAlive(cudaStream_t s) {
  std::lock_guard<std::mutex> lock(E().mu);
  return s != nullptr && E().streams.count(s) != 0;
}

// Runs `s`'s first deferred item (caller holds deferred_mu); its error.
cudaError_t RunFrontLocked(cudaStream_t s) {
  const Node n = std::move(s->deferred.front());
  s->deferred.pop_front();
  return RunNode(n);
}

// Runs `s`'s deferred work up to its `upto`-th queued item, in order (caller holds deferred_mu);
// the first error.
cudaError_t DrainInOrderLocked(cudaStream_t s, uint64_t upto) {
  cudaError_t first = cudaSuccess;
  while (!s->deferred.empty() && s->queued - s->deferred.size() < upto) {
    const cudaError_t e = RunFrontLocked(s);
    if (first == cudaSuccess) first = e;
  }
  return first;
}

// The streams but `s` whose last deferred item was queued after item `after` (0: any with
// deferred work), the most recently queued first (caller holds deferred_mu).
std::vector<cudaStream_t> OthersQueuedAfterLocked(cudaStream_t s, uint64_t after) {
  std::vector<cudaStream_t> others;
  {
    std::lock_guard<std::mutex> lock(E().mu);
    for (cudaStream_t c : E().streams) {
      if (c != s && !c->deferred.empty() && c->deferred.back().deferred_seq > after) {
        others.push_back(c);
      }
    }
  }
  std::sort(others.begin(), others.end(), [](cudaStream_t a, cudaStream_t b) {
    return a->deferred.back().deferred_seq > b->deferred.back().deferred_seq;
  });
  return others;
}

// Reversed streams: before `s`'s first deferred item runs, the streams whose last deferred item
// was queued after it run all theirs, the latest first (caller holds deferred_mu).
cudaError_t RunLaterStreamsFirstLocked(cudaStream_t s) {
  cudaError_t first = cudaSuccess;
  for (cudaStream_t c : OthersQueuedAfterLocked(s, s->deferred.front().deferred_seq)) {
    const cudaError_t e = DrainInOrderLocked(c, c->queued);
    if (first == cudaSuccess) first = e;
  }
  return first;
}

// Interleaved streams: `s`'s deferred work up to its `upto`-th queued item, each of its items
// after one of every other stream with deferred work, the most recently queued first (caller
// holds deferred_mu).
cudaError_t DrainInterleavedLocked(cudaStream_t s, uint64_t upto) {
  cudaError_t first = cudaSuccess;
  while (!s->deferred.empty() && s->queued - s->deferred.size() < upto) {
    for (cudaStream_t c : OthersQueuedAfterLocked(s, 0)) {
      const cudaError_t e = RunFrontLocked(c);
      if (first == cudaSuccess) first = e;
    }
    const cudaError_t e = RunFrontLocked(s);
    if (first == cudaSuccess) first = e;
  }
  return first;
}

// Runs `s`'s deferred work up to its `upto`-th queued item (caller holds deferred_mu): in order,
// after the later streams' with reversed streams, between the others' with interleaved ones. The
// first error.
cudaError_t DrainLocked(cudaStream_t s, uint64_t upto) {
  if (InterleavedStreams()) return DrainInterleavedLocked(s, upto);
  cudaError_t first = cudaSuccess;
  if (ReversedStreams() && !s->deferred.empty() && s->queued - s->deferred.size() < upto) {
    first = RunLaterStreamsFirstLocked(s);
  }
  const cudaError_t own = DrainInOrderLocked(s, upto);
  return first != cudaSuccess ? first : own;
}

// Runs the deferred work queued before `event`'s last record on its stream (caller holds
// deferred_mu); the first error.
cudaError_t DrainUpToRecordLocked(cudaEvent_t event) {
  if (event->deferred_in == nullptr || !StreamAlive(event->deferred_in)) return cudaSuccess;
  return DrainLocked(event->deferred_in, event->deferred_at);
}

cudaError_t DrainAllLocked() {
  std::vector<cudaStream_t> streams;
  {
    std::lock_guard<std::mutex> lock(E().mu);
    streams.assign(E().streams.begin(), E().streams.end());
  }
  cudaError_t first = cudaSuccess;
  for (cudaStream_t s : streams) {
    const cudaError_t e = DrainLocked(s, s->queued);
    if (first == cudaSuccess) first = e;
  }
  return first;
}

}  // namespace

cudaError_t FinishPending() {
  std::lock_guard<std::mutex> lock(E().pending_mu);
  return FinishPendingLocked();
}

cudaError_t RunNode(const Node& n) {
  // After a device fault nothing queued runs.
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  std::lock_guard<std::mutex> pending_lock(E().pending_mu);
  if (n.type == cudaGraphNodeTypeKernel) {
    if (LaunchStats* stats = LaunchStats::Get()) stats->Add(n.launch);
    if (SkipKernels()) return FinishPendingLocked();
    if (n.launch.programmatic) return HoldBackLocked(n);
  }
  const cudaError_t before = FinishPendingLocked();
  if (before != cudaSuccess) return before;
  switch (n.type) {
    case cudaGraphNodeTypeKernel:
      return RunGridLocked(n.launch, 0);
    case cudaGraphNodeTypeMemcpy:
      if (n.bytes > 0) std::memmove(n.dst, n.src, n.bytes);
      break;
    case cudaGraphNodeTypeMemset:
      if (n.bytes > 0) std::memset(n.dst, n.value, n.bytes);
      break;
    case cudaGraphNodeTypeEventRecord:
      n.event->recorded = true;
      n.event->at = Clock::now();
      break;
    default:
      break;
  }
  return cudaSuccess;
}

namespace {

StreamSchedule Schedule() {
  std::atomic<int>& mode = E().stream_schedule;
  int v = mode.load(std::memory_order_relaxed);
  if (v < 0) {
    StreamSchedule s = StreamSchedule::kProgramOrder;
    if (dsagent_emu::EnvIs("DSAGENT_CUDA_EMULATOR_STREAMS", "deferred"))
      s = StreamSchedule::kDeferred;
    if (dsagent_emu::EnvIs("DSAGENT_CUDA_EMULATOR_STREAMS", "reversed"))
      s = StreamSchedule::kReversed;
    if (dsagent_emu::EnvIs("DSAGENT_CUDA_EMULATOR_STREAMS", "interleaved"))
      s = StreamSchedule::kInterleaved;
    v = static_cast<int>(s);
    mode.store(v, std::memory_order_relaxed);
  }
  return static_cast<StreamSchedule>(v);
}

}  // namespace

bool DeferredStreams() { return Schedule() != StreamSchedule::kProgramOrder; }

bool ReversedStreams() { return Schedule() == StreamSchedule::kReversed; }

bool InterleavedStreams() { return Schedule() == StreamSchedule::kInterleaved; }

// Everything queued on `s` (nullptr: on every stream) has run, and the held-back programmatic
// launch too: what a synchronisation, a free or a capture's start needs.
cudaError_t Settle(cudaStream_t s) {
  cudaError_t first = cudaSuccess;
  if (DeferredStreams()) {
    std::lock_guard<std::mutex> lock(E().deferred_mu);
    first = s == nullptr ? DrainAllLocked() : DrainLocked(s, s->queued);
  }
  const cudaError_t held = FinishPending();
  return first != cudaSuccess ? first : held;
}

// The same for the work before `event`'s last record.
cudaError_t SettleUpTo(cudaEvent_t event) {
  cudaError_t first = cudaSuccess;
  if (DeferredStreams()) {
    std::lock_guard<std::mutex> lock(E().deferred_mu);
    first = DrainUpToRecordLocked(event);
  }
  const cudaError_t held = FinishPending();
  return first != cudaSuccess ? first : held;
}

// Runs `n` now, or records it when `stream` is being captured (its own capture or one it joined).
void NoteQueuedDepth(Node& n, cudaStream_t stream) {
  if (LaunchStats::Get() == nullptr || n.type != cudaGraphNodeTypeKernel) return;
  static int64_t legacy = 0;  // the legacy stream's
  int64_t& depth = stream != nullptr ? stream->depth : legacy;
  n.launch.depth = ++depth;
}

void NoteRecordDepth(cudaEvent_t event, cudaStream_t stream) {
  if (LaunchStats::Get() == nullptr || stream == nullptr) return;
  event->depth = stream->depth;
}

void NoteWaitDepth(cudaStream_t stream, cudaEvent_t event) {
  if (LaunchStats::Get() == nullptr || stream == nullptr) return;
  stream->depth = std::max(stream->depth, event->depth);
}

cudaError_t Queue(Node n, cudaStream_t stream) {
  n.stream = stream;
  NoteQueuedDepth(n, stream);
  if (stream != nullptr && stream->capturing) {
    stream->rejoined = false;
    cudaStream_t root = stream->origin != nullptr ? stream->origin : stream;
    if (!root->invalidated) {
      auto node = std::make_unique<CUgraphNode_st>();
      node->node = std::move(n);
      stream->graph->nodes.push_back(std::move(node));
      stream->last_work = stream->graph->nodes.size();
    }
    return cudaSuccess;
  }
  if (DeferredStreams()) {
    std::lock_guard<std::mutex> lock(E().deferred_mu);
    if (stream != nullptr && n.type == cudaGraphNodeTypeMemcpy &&
        (Pageable(n.dst) || Pageable(n.src))) {
      // As CUDA's: a copy from or to pageable host memory is made before the call returns (the
      // caller may free or read that memory next), after the stream's earlier work.
      const cudaError_t before = DrainLocked(stream, stream->queued);
      if (before != cudaSuccess) return before;
      return RunNode(n);
    }
    if (stream != nullptr) {
      n.deferred_seq = ++E().deferred_queued;
      stream->deferred.push_back(std::move(n));
      ++stream->queued;
      return cudaSuccess;
    }
    // The legacy stream waits for every stream's work, and runs its own at once.
    const cudaError_t before = DrainAllLocked();
    if (before != cudaSuccess) return before;
  }
  return RunNode(n);
}

bool Capturing(cudaStream_t stream) { return stream != nullptr && stream->capturing; }

// The capture `stream` takes part in (its own, or the one it joined) fails at its end.
void InvalidateCapture(cudaStream_t stream) {
  (stream->origin != nullptr ? stream->origin : stream)->invalidated = true;
}

void RunDeferredBeforeWait(cudaStream_t stream, cudaEvent_t event) {
  if (!DeferredStreams()) return;
  std::lock_guard<std::mutex> lock(E().deferred_mu);
  if (stream != nullptr && !stream->capturing) (void)DrainLocked(stream, stream->queued);
  (void)DrainUpToRecordLocked(event);
}

void NoteDeferredRecord(cudaEvent_t event, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(E().deferred_mu);
  event->deferred_in = DeferredStreams() ? stream : nullptr;
  event->deferred_at = stream != nullptr ? stream->queued : 0;
}

}  // namespace dsagent_emu::rt

namespace dsagent_emu {

void SetStreamSchedule(StreamSchedule schedule) {
  (void)rt::Settle(nullptr);
  rt::E().stream_schedule.store(static_cast<int>(schedule), std::memory_order_relaxed);
}

}  // namespace dsagent_emu
