// The CUDA emulator's runtime: device memory, streams, events, graphs and errors, on the CPU
// (tests/cuda_emulator/README.md). Work runs when it is queued, in the order it is queued: one
// legal schedule of what the program asked (every cross-stream dependency it names comes earlier
// in program order). A stream being captured records its work into a graph instead.
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/cuda_emulator/env.h"
#include "tests/cuda_emulator/grid.h"

// The kernel-side coordinate macros would rename cudaKernelNodeParams' fields here.
#undef gridDim
#undef blockDim

using Clock = std::chrono::steady_clock;

namespace dsagent_emu {

// A unit of queued work: what a graph node holds.
struct Node {
  cudaGraphNodeType type = cudaGraphNodeTypeEmpty;
  dsagent_emu::GridLaunch launch;  // a kernel
  void* dst = nullptr;             // a copy or a set
  const void* src = nullptr;
  size_t bytes = 0;
  cudaMemcpyKind kind = cudaMemcpyDefault;
  int value = 0;
  cudaEvent_t event = nullptr;   // an event record
  const void* stream = nullptr;  // the stream it was queued on (or captured from)
};

}  // namespace dsagent_emu

using dsagent_emu::Node;

struct CUgraphNode_st {
  Node node;
};
struct CUgraph_st {
  std::vector<std::unique_ptr<CUgraphNode_st>> nodes;
};
struct CUgraphExec_st {
  std::vector<Node> nodes;
};
// A stream being captured records into `graph`. A stream that waits for an event recorded in a
// capture joins it (`origin`: the stream whose cudaStreamBeginCapture began it; the graph is the
// origin's): its work goes into the same graph, in program order, which is one legal order of the
// fork. Before the origin's cudaStreamEndCapture it must be joined back (the origin, or a stream
// already joined back, waits for an event it recorded after its last work), else the capture fails
// as CUDA's does (cudaErrorStreamCaptureUnjoined).
struct CUstream_st {
  bool capturing = false;
  bool invalidated = false;
  cudaGraph_t graph = nullptr;
  cudaStream_t origin = nullptr;     // set on a joined stream
  std::vector<cudaStream_t> joined;  // on the origin: the streams that joined its capture
  bool rejoined = false;             // on a joined stream: waited for since its last work
  size_t last_work = 0;              // the graph's node count after this stream's last node
  // DSAGENT_CUDA_EMULATOR_STREAMS=deferred: work queued and not run yet, and how much was ever
  // queued (an event's record names a point in it).
  std::deque<dsagent_emu::Node> deferred;
  uint64_t queued = 0;
};
struct CUevent_st {
  bool timing = true;
  bool recorded = false;
  Clock::time_point at{};
  // Where its last record was made while capturing: that stream (nullptr outside a capture), and
  // how far that stream's work had got (a wait joins the stream back when it did nothing since).
  cudaStream_t captured_in = nullptr;
  size_t captured_at = 0;  // that stream's last_work when recorded
  // Deferred streams: the stream of its last record and that stream's `queued` after it.
  cudaStream_t deferred_in = nullptr;
  uint64_t deferred_at = 0;
};

namespace {

constexpr size_t kDefaultDynamicShared = 48 * 1024;
constexpr size_t kMaxDynamicShared = 227 * 1024;  // sm_90's opt-in limit per block
constexpr int kSms = 132;                         // an H100/H200's, so split plans match one

struct Allocation {
  size_t bytes = 0;
  cudaMemoryType type = cudaMemoryTypeDevice;
  bool owned = true;  // cudaMalloc/cudaMallocHost (not cudaHostRegister)
};

struct Emulator {
  std::mutex mu;
  std::map<uintptr_t, Allocation> allocations;  // by start address
  size_t device_used = 0;
  size_t device_total = dsagent_emu::EnvNumber("DSAGENT_CUDA_EMULATOR_MEMORY_MIB", 16384) << 20;
  std::map<const void*, size_t> dynamic_shared_limit;
  std::set<cudaStream_t> streams;  // alive (an event may name a stream destroyed since)
  std::mutex launch_mu;            // one grid at a time (the grid runner's OS threads are shared)
  // A programmatic launch held back until the next work (LaunchKernel's comment in the header):
  // the launch, its stream, and its block 0 when that ran ahead of the kernel before it (held at
  // its wait). Guarded by pending_mu, which every run of queued work holds.
  std::mutex pending_mu;
  std::optional<Node> pending;
  std::unique_ptr<dsagent_emu::HeldBlock> pending_block0;
  // Deferred streams (DeferredStreams): guards every stream's `deferred` queue; taken before
  // pending_mu, never after.
  std::mutex deferred_mu;
  // -1: not yet read from DSAGENT_CUDA_EMULATOR_STREAMS; else 0 or 1 (SetDeferredStreams).
  std::atomic<int> deferred_streams{-1};
};

Emulator& E() {
  static Emulator* e = new Emulator();
  return *e;
}

thread_local cudaError_t tl_last_error = cudaSuccess;

cudaError_t Fail(cudaError_t e, const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "CUDA emulator: %s\n", why.c_str());
  tl_last_error = e;
  return e;
}

// The allocation holding `p`, or nullptr (caller holds mu).
const std::pair<const uintptr_t, Allocation>* Find(const void* p) {
  Emulator& e = E();
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = e.allocations.upper_bound(a);
  if (it == e.allocations.begin()) return nullptr;
  --it;
  if (a >= it->first + it->second.bytes && !(it->second.bytes == 0 && a == it->first)) {
    return nullptr;
  }
  return &*it;
}

// "" when [p, p + bytes) lies inside one device allocation, else why not.
std::string DeviceRangeProblem(const void* p, size_t bytes, const char* what) {
  std::lock_guard<std::mutex> lock(E().mu);
  const auto* a = Find(p);
  if (a == nullptr || a->second.type != cudaMemoryTypeDevice) {
    char at[32];
    std::snprintf(at, sizeof at, "%p", p);
    return std::string(what) + " " + at + " is not device memory";
  }
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
  if (end > a->first + a->second.bytes) {
    return std::string(what) + ": " + std::to_string(bytes) + " bytes at offset " +
           std::to_string(reinterpret_cast<uintptr_t>(p) - a->first) +
           " run past the end of a device allocation of " + std::to_string(a->second.bytes);
  }
  return "";
}

bool IsDevice(const void* p) {
  std::lock_guard<std::mutex> lock(E().mu);
  const auto* a = Find(p);
  return a != nullptr && a->second.type == cudaMemoryTypeDevice;
}

std::string CopyProblem(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return "";
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice ||
                          (kind == cudaMemcpyDefault && IsDevice(dst));
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice ||
                          (kind == cudaMemcpyDefault && IsDevice(src));
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return "an unknown copy kind";
  if (dst_device) {
    std::string p = DeviceRangeProblem(dst, bytes, "cudaMemcpy destination");
    if (!p.empty()) return p;
  }
  if (src_device) return DeviceRangeProblem(src, bytes, "cudaMemcpy source");
  return "";
}

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
      std::fprintf(stderr, "launch %s grid %ux%ux%u block %ux%ux%u shared %zu\n", l.name, l.grid.x,
                   l.grid.y, l.grid.z, l.block.x, l.block.y, l.block.z, l.shared_bytes);
    }
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
    std::fprintf(stderr, "CUDA emulator: %lld kernel launches\n", static_cast<long long>(launches));
    for (const auto& r : rows) {
      std::fprintf(stderr, "  %10lld launches %12lld blocks %14lld threads  %s\n",
                   static_cast<long long>(r.second.launches),
                   static_cast<long long>(r.second.blocks),
                   static_cast<long long>(r.second.threads), r.first.c_str());
    }
  }
  const bool trace_;
  std::mutex mu_;
  std::map<std::string, Counts> by_kernel_;
};

// DSAGENT_CUDA_EMULATOR_SKIP_KERNELS=1: kernels are checked and counted but not run, so a bench's
// time is the host's own work to queue them (the engine's code per launch and this runtime's,
// not NVIDIA's); every result is garbage.
bool SkipKernels() {
  static const bool skip = [] {
    const char* v = std::getenv("DSAGENT_CUDA_EMULATOR_SKIP_KERNELS");
    return v != nullptr && std::string(v) == "1";
  }();
  return skip;
}

cudaError_t RunGridLocked(const dsagent_emu::GridLaunch& launch, int64_t first_block) {
  std::lock_guard<std::mutex> lock(E().launch_mu);
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

cudaError_t FinishPending() {
  std::lock_guard<std::mutex> lock(E().pending_mu);
  return FinishPendingLocked();
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

cudaError_t RunNode(const Node& n) {
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

// ---- Deferred streams --------------------------------------------------------------------------
// DSAGENT_CUDA_EMULATOR_STREAMS=deferred: another legal schedule of a program's streams than
// program order. A stream's work is queued and runs only once something waits for it (a stream
// waiting for an event recorded after it, a synchronisation, the legacy stream, a free); and a
// stream that waits for another's event first runs its own work queued before the wait. So a
// fork's side branch runs after the work its origin queued before the join, not before it: a
// branch that reads what the origin overwrites after the fork, or a join left out before the
// origin reads the branch's output, gives other results than program order and fails its test.

bool DeferredStreams() {
  std::atomic<int>& on = E().deferred_streams;
  int v = on.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* env = std::getenv("DSAGENT_CUDA_EMULATOR_STREAMS");
    v = env != nullptr && std::string(env) == "deferred" ? 1 : 0;
    on.store(v, std::memory_order_relaxed);
  }
  return v == 1;
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

// Runs `s`'s deferred work up to its `upto`-th queued item (caller holds deferred_mu); the first
// error.
cudaError_t DrainLocked(cudaStream_t s, uint64_t upto) {
  cudaError_t first = cudaSuccess;
  while (!s->deferred.empty() && s->queued - s->deferred.size() < upto) {
    const Node n = std::move(s->deferred.front());
    s->deferred.pop_front();
    const cudaError_t e = RunNode(n);
    if (first == cudaSuccess) first = e;
  }
  return first;
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
    if (event->deferred_in != nullptr && StreamAlive(event->deferred_in)) {
      first = DrainLocked(event->deferred_in, event->deferred_at);
    }
  }
  const cudaError_t held = FinishPending();
  return first != cudaSuccess ? first : held;
}

// Runs `n` now, or records it when `stream` is being captured (its own capture or one it joined).
cudaError_t Queue(Node n, cudaStream_t stream) {
  n.stream = stream;
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

}  // namespace

namespace dsagent_emu {

cudaError_t SetFuncAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      static_cast<size_t>(value) > kMaxDynamicShared) {
    return Fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: " + std::to_string(value) +
                                           " bytes is past the 227 KiB of dynamic shared memory");
  }
  std::lock_guard<std::mutex> lock(E().mu);
  E().dynamic_shared_limit[func] = static_cast<size_t>(value);
  return cudaSuccess;
}

cudaError_t LaunchKernel(const void* func, const char* name, dim3 grid, dim3 block,
                         size_t shared_bytes, cudaStream_t stream,
                         std::shared_ptr<const std::function<void()>> body, bool programmatic) {
  Node n;
  n.type = cudaGraphNodeTypeKernel;
  n.launch.func = func;
  n.launch.name = name;
  n.launch.grid = grid;
  n.launch.block = block;
  n.launch.shared_bytes = shared_bytes;
  n.launch.body = std::move(body);
  n.launch.programmatic = programmatic;
  size_t limit = kDefaultDynamicShared;
  {
    std::lock_guard<std::mutex> lock(E().mu);
    const auto it = E().dynamic_shared_limit.find(func);
    if (it != E().dynamic_shared_limit.end()) limit = it->second;
  }
  static const bool refuse_programmatic = [] {
    const char* v = std::getenv("DSAGENT_CUDA_EMULATOR_NO_PDL");
    return v != nullptr && std::string(v) == "1";
  }();
  if (programmatic && refuse_programmatic) {
    if (Capturing(stream)) InvalidateCapture(stream);
    return Fail(cudaErrorNotSupported,
                std::string("launch of ") + name +
                    ": programmatic dependent launch refused (DSAGENT_CUDA_EMULATOR_NO_PDL=1)");
  }
  const std::string problem = ConfigurationProblem(n.launch, limit);
  if (!problem.empty()) {
    if (Capturing(stream)) InvalidateCapture(stream);
    return Fail(cudaErrorInvalidConfiguration, std::string("launch of ") + name + ": " + problem);
  }
  return Queue(std::move(n), stream);
}

namespace {
thread_local const char* tl_next_launch_name = nullptr;
}  // namespace

void CheckPrefetch(const void* p, size_t bytes) {
  if (bytes == 0) return;
  std::string problem;
  {
    std::lock_guard<std::mutex> lock(E().mu);
    const auto* a = Find(p);
    const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
    if (a == nullptr || end > a->first + a->second.bytes) {
      char at[32];
      std::snprintf(at, sizeof at, "%p", p);
      problem = std::string("an L2 prefetch of ") + std::to_string(bytes) + " bytes at " + at +
                " outside any allocation of the runtime's";
    }
  }
  if (!problem.empty()) FailRunningThread(problem);
}

void NameNextLaunch(const char* name) { tl_next_launch_name = name; }

void SetDeferredStreams(bool on) {
  (void)Settle(nullptr);
  E().deferred_streams.store(on ? 1 : 0, std::memory_order_relaxed);
}
const char* TakeNextLaunchName() {
  const char* name = std::exchange(tl_next_launch_name, nullptr);
  return name != nullptr ? name : "(unnamed: cudaLaunchKernelEx)";
}

}  // namespace dsagent_emu

// ---- Errors and versions -----------------------------------------------------------------------

cudaError_t cudaGetLastError() { return std::exchange(tl_last_error, cudaSuccess); }
cudaError_t cudaPeekAtLastError() { return tl_last_error; }

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorInsufficientDriver:
      return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice:
      return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalState:
      return "cudaErrorIllegalState";
    case cudaErrorHostMemoryAlreadyRegistered:
      return "cudaErrorHostMemoryAlreadyRegistered";
    case cudaErrorHostMemoryNotRegistered:
      return "cudaErrorHostMemoryNotRegistered";
    case cudaErrorLaunchFailure:
      return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported:
      return "cudaErrorNotSupported";
    case cudaErrorStreamCaptureUnsupported:
      return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated:
      return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnjoined:
      return "cudaErrorStreamCaptureUnjoined";
    case cudaErrorGraphExecUpdateFailure:
      return "cudaErrorGraphExecUpdateFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice:
      return "invalid device ordinal";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
      return "operation failed due to a previous error during capture";
    default:
      return cudaGetErrorName(e);
  }
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  *version = 13000;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* version) {
  *version = 13000;
  return cudaSuccess;
}

// ---- The device --------------------------------------------------------------------------------

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device != 0) return Fail(cudaErrorInvalidDevice, "");
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return Fail(cudaErrorInvalidDevice, "");
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "dsagent CUDA emulator (CPU, tests only)");
  prop->totalGlobalMem = E().device_total;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = kSms;
  prop->sharedMemPerBlockOptin = kMaxDynamicShared;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return Fail(cudaErrorInvalidDevice, "");
  switch (attr) {
    case cudaDevAttrMultiProcessorCount:
      *value = kSms;
      return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      *value = static_cast<int>(kMaxDynamicShared);
      return cudaSuccess;
    case cudaDevAttrHostRegisterReadOnlySupported:
      *value = 1;
      return cudaSuccess;
  }
  return Fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: an attribute the emulator lacks");
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  std::lock_guard<std::mutex> lock(E().mu);
  *free_bytes = E().device_total - E().device_used;
  *total_bytes = E().device_total;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return Settle(nullptr); }

// ---- Memory ------------------------------------------------------------------------------------

namespace {

cudaError_t Allocate(void** ptr, size_t bytes, cudaMemoryType type) {
  Emulator& e = E();
  std::lock_guard<std::mutex> lock(e.mu);
  if (type == cudaMemoryTypeDevice && bytes > e.device_total - e.device_used) {
    *ptr = nullptr;
    return Fail(cudaErrorMemoryAllocation, "");
  }
  void* p = nullptr;
  // Exactly `bytes` (a sanitizer then sees an overrun), 256-aligned as the runtime's.
  if (posix_memalign(&p, 256, bytes == 0 ? 1 : bytes) != 0) {
    *ptr = nullptr;
    return Fail(cudaErrorMemoryAllocation, "");
  }
  // Device memory comes filled with 0xff bytes (NaN as floats): code that reads what it never
  // wrote then shows it, where fresh device memory would often read as zeros.
  if (type == cudaMemoryTypeDevice) std::memset(p, 0xff, bytes);
  e.allocations[reinterpret_cast<uintptr_t>(p)] = Allocation{bytes, type, true};
  if (type == cudaMemoryTypeDevice) e.device_used += bytes;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t Release(void* ptr, cudaMemoryType type, const char* what) {
  if (ptr == nullptr) return cudaSuccess;
  Emulator& e = E();
  std::lock_guard<std::mutex> lock(e.mu);
  const auto it = e.allocations.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == e.allocations.end() || it->second.type != type || !it->second.owned) {
    return Fail(cudaErrorInvalidValue, std::string(what) + " of a pointer it did not allocate");
  }
  if (type == cudaMemoryTypeDevice) e.device_used -= it->second.bytes;
  e.allocations.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

}  // namespace

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  return Allocate(ptr, bytes, cudaMemoryTypeDevice);
}
cudaError_t cudaFree(void* ptr) {
  (void)Settle(nullptr);  // as CUDA's, which waits for the device first
  return Release(ptr, cudaMemoryTypeDevice, "cudaFree");
}
cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  return Allocate(ptr, bytes, cudaMemoryTypeHost);
}
cudaError_t cudaFreeHost(void* ptr) {
  (void)Settle(nullptr);
  return Release(ptr, cudaMemoryTypeHost, "cudaFreeHost");
}

cudaError_t cudaHostRegister(void* ptr, size_t bytes, unsigned /*flags*/) {
  Emulator& e = E();
  std::lock_guard<std::mutex> lock(e.mu);
  const auto start = reinterpret_cast<uintptr_t>(ptr);
  if (ptr == nullptr || bytes == 0) return Fail(cudaErrorInvalidValue, "");
  // The driver pins pages that exist: a range over an unmapped hole is refused.
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t first = start & ~(page - 1);
  const uintptr_t pages = (start + bytes - first + page - 1) / page;
  std::vector<unsigned char> resident(pages);
  if (mincore(reinterpret_cast<void*>(first), pages * page, resident.data()) != 0) {
    return Fail(cudaErrorInvalidValue, "");
  }
  auto it = e.allocations.lower_bound(start);
  const bool overlaps_next = it != e.allocations.end() && it->first < start + bytes;
  const auto* before = Find(ptr);
  if (overlaps_next || before != nullptr) return Fail(cudaErrorHostMemoryAlreadyRegistered, "");
  e.allocations[start] = Allocation{bytes, cudaMemoryTypeHost, false};
  return cudaSuccess;
}

cudaError_t cudaHostUnregister(void* ptr) {
  (void)Settle(nullptr);
  Emulator& e = E();
  std::lock_guard<std::mutex> lock(e.mu);
  const auto it = e.allocations.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == e.allocations.end() || it->second.owned) {
    return Fail(cudaErrorHostMemoryNotRegistered, "");
  }
  e.allocations.erase(it);
  return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* ptr) {
  std::lock_guard<std::mutex> lock(E().mu);
  *attributes = cudaPointerAttributes{};
  const auto* a = Find(ptr);
  attributes->type = a == nullptr ? cudaMemoryTypeUnregistered : a->second.type;
  attributes->devicePointer = const_cast<void*>(ptr);
  attributes->hostPointer =
      a != nullptr && a->second.type == cudaMemoryTypeHost ? const_cast<void*>(ptr) : nullptr;
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  const std::string problem = CopyProblem(dst, src, bytes, kind);
  if (!problem.empty()) {
    if (Capturing(stream)) InvalidateCapture(stream);
    return Fail(cudaErrorInvalidValue, problem);
  }
  Node n;
  n.type = cudaGraphNodeTypeMemcpy;
  n.dst = dst;
  n.src = src;
  n.bytes = bytes;
  n.kind = kind;
  return Queue(std::move(n), stream);
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  if (bytes > 0) {
    const std::string problem = DeviceRangeProblem(ptr, bytes, "cudaMemset");
    if (!problem.empty()) {
      if (Capturing(stream)) InvalidateCapture(stream);
      return Fail(cudaErrorInvalidValue, problem);
    }
  }
  Node n;
  n.type = cudaGraphNodeTypeMemset;
  n.dst = ptr;
  n.bytes = bytes;
  n.value = value;
  return Queue(std::move(n), stream);
}

cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  return cudaMemsetAsync(ptr, value, bytes, nullptr);
}

// ---- Streams and capture -----------------------------------------------------------------------

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  *stream = new CUstream_st();
  std::lock_guard<std::mutex> lock(E().mu);
  E().streams.insert(*stream);
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned /*flags*/) {
  return cudaStreamCreate(stream);
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (stream == nullptr) return Fail(cudaErrorInvalidResourceHandle, "");
  (void)Settle(stream);
  if (stream->graph != nullptr && stream->origin == nullptr) delete stream->graph;
  {
    std::lock_guard<std::mutex> lock(E().mu);
    E().streams.erase(stream);
  }
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (Capturing(stream)) {
    InvalidateCapture(stream);
    return Fail(cudaErrorStreamCaptureUnsupported,
                "cudaStreamSynchronize on a stream being captured (the capture is now invalid)");
  }
  return Settle(stream);
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  if (event == nullptr) return Fail(cudaErrorInvalidResourceHandle, "");
  if (DeferredStreams()) {
    // The waiting stream's own earlier work first (it does not depend on the event), then the
    // recording stream's up to the record (its later work stays deferred).
    std::lock_guard<std::mutex> lock(E().deferred_mu);
    if (stream != nullptr && !stream->capturing) (void)DrainLocked(stream, stream->queued);
    if (event->deferred_in != nullptr && StreamAlive(event->deferred_in)) {
      (void)DrainLocked(event->deferred_in, event->deferred_at);
    }
  }
  cudaStream_t from = event->captured_in;
  {
    std::lock_guard<std::mutex> lock(E().mu);
    if (from != nullptr && E().streams.count(from) == 0) from = nullptr;
  }
  if (from == nullptr || !from->capturing) return cudaSuccess;  // its work already ran
  cudaStream_t root = from->origin != nullptr ? from->origin : from;
  if (stream == nullptr) return Fail(cudaErrorStreamCaptureUnsupported, "the legacy stream");
  if (!stream->capturing) {  // a fork: `stream` joins the capture
    stream->capturing = true;
    stream->invalidated = false;
    stream->graph = root->graph;
    stream->origin = root;
    stream->rejoined = false;
    stream->last_work = 0;
    root->joined.push_back(stream);
    return cudaSuccess;
  }
  // A join: `stream` now waits for `from`'s work up to the record; when that was all of it,
  // `from` is joined back (into the origin, or a stream already joined back).
  const cudaStream_t stream_root = stream->origin != nullptr ? stream->origin : stream;
  if (stream_root != root) {
    return Fail(cudaErrorStreamCaptureUnsupported, "waiting for an event of another capture");
  }
  if (from != stream && event->captured_at == from->last_work &&
      (stream == root || stream->rejoined)) {
    from->rejoined = true;
  }
  return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode /*mode*/) {
  if (stream == nullptr || stream->capturing) {
    return Fail(cudaErrorIllegalState,
                "cudaStreamBeginCapture: the legacy stream, or already capturing");
  }
  (void)Settle(stream);  // its deferred work runs before what the graph will run
  stream->capturing = true;
  stream->invalidated = false;
  stream->graph = new CUgraph_st();
  stream->last_work = 0;
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  *graph = nullptr;
  if (stream == nullptr || !stream->capturing) {
    return Fail(cudaErrorIllegalState, "cudaStreamEndCapture without a capture");
  }
  if (stream->origin != nullptr) {
    return Fail(cudaErrorIllegalState, "cudaStreamEndCapture on a stream that joined a capture");
  }
  stream->capturing = false;
  cudaGraph_t g = std::exchange(stream->graph, nullptr);
  bool unjoined = false;
  for (cudaStream_t s : std::exchange(stream->joined, {})) {
    unjoined = unjoined || !s->rejoined;
    s->capturing = false;
    s->graph = nullptr;
    s->origin = nullptr;
    s->rejoined = false;
  }
  if (stream->invalidated || unjoined) {
    delete g;
    return unjoined ? Fail(cudaErrorStreamCaptureUnjoined,
                           "a stream that joined the capture was not joined back")
                    : Fail(cudaErrorStreamCaptureInvalidated, "");
  }
  *graph = g;
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  const bool invalidated =
      Capturing(stream) && (stream->origin != nullptr ? stream->origin : stream)->invalidated;
  *status = !Capturing(stream) ? cudaStreamCaptureStatusNone
            : invalidated      ? cudaStreamCaptureStatusInvalidated
                               : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

// ---- Events ------------------------------------------------------------------------------------

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, 0); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  *event = new CUevent_st();
  (*event)->timing = (flags & cudaEventDisableTiming) == 0;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (event == nullptr) return Fail(cudaErrorInvalidResourceHandle, "");
  if (Capturing(stream)) {
    // As CUDA's: in a capture a record is no node of the graph, only the point that a stream
    // waiting for it depends on (a fork or a join).
    event->captured_in = stream;
    event->captured_at = stream->last_work;
    event->deferred_in = nullptr;
    return cudaSuccess;
  }
  event->captured_in = nullptr;
  Node n;
  n.type = cudaGraphNodeTypeEventRecord;
  n.event = event;
  const cudaError_t e = Queue(std::move(n), stream);
  std::lock_guard<std::mutex> lock(E().deferred_mu);
  event->deferred_in = DeferredStreams() ? stream : nullptr;
  event->deferred_at = stream != nullptr ? stream->queued : 0;
  return e;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (event == nullptr) return Fail(cudaErrorInvalidResourceHandle, "");
  return SettleUpTo(event);
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  if (event == nullptr) return Fail(cudaErrorInvalidResourceHandle, "");
  return SettleUpTo(event);
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (start == nullptr || end == nullptr) return Fail(cudaErrorInvalidResourceHandle, "");
  if (!start->timing || !end->timing || !start->recorded || !end->recorded) {
    return Fail(cudaErrorInvalidResourceHandle, "");
  }
  *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
  return cudaSuccess;
}

// ---- Graphs ------------------------------------------------------------------------------------

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t* nodes, size_t* count) {
  if (graph == nullptr) return Fail(cudaErrorInvalidValue, "");
  if (nodes != nullptr) {
    for (size_t i = 0; i < *count && i < graph->nodes.size(); ++i) nodes[i] = graph->nodes[i].get();
  }
  *count = graph->nodes.size();
  return cudaSuccess;
}
cudaError_t cudaGraphNodeGetType(cudaGraphNode_t node, cudaGraphNodeType* type) {
  *type = node->node.type;
  return cudaSuccess;
}
cudaError_t cudaGraphKernelNodeGetParams(cudaGraphNode_t node, cudaKernelNodeParams* params) {
  if (node->node.type != cudaGraphNodeTypeKernel) return Fail(cudaErrorInvalidValue, "");
  *params = cudaKernelNodeParams{};
  params->func = const_cast<void*>(node->node.launch.func);
  params->gridDim = node->node.launch.grid;
  params->blockDim = node->node.launch.block;
  params->sharedMemBytes = static_cast<unsigned>(node->node.launch.shared_bytes);
  return cudaSuccess;
}
cudaError_t cudaGraphMemcpyNodeGetParams(cudaGraphNode_t node, cudaMemcpy3DParms* params) {
  if (node->node.type != cudaGraphNodeTypeMemcpy) return Fail(cudaErrorInvalidValue, "");
  *params = cudaMemcpy3DParms{};
  params->srcPtr.ptr = const_cast<void*>(node->node.src);
  params->dstPtr.ptr = node->node.dst;
  params->extent.width = node->node.bytes;
  params->extent.height = params->extent.depth = 1;
  params->kind = node->node.kind;
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (graph == nullptr) return Fail(cudaErrorInvalidValue, "");
  *exec = new CUgraphExec_st();
  for (const auto& n : graph->nodes) (*exec)->nodes.push_back(n->node);
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}
// Succeeds when the graph has the executable's nodes in kind and kernel (what a topology-keeping
// update may change: the parameters), as the runtime's update does for a captured sequence.
cudaError_t cudaGraphExecUpdate(cudaGraphExec_t exec, cudaGraph_t graph,
                                cudaGraphExecUpdateResultInfo* info) {
  bool same = exec->nodes.size() == graph->nodes.size();
  for (size_t i = 0; same && i < graph->nodes.size(); ++i) {
    const Node& a = exec->nodes[i];
    const Node& b = graph->nodes[i]->node;
    same =
        a.type == b.type && (a.type != cudaGraphNodeTypeKernel || a.launch.func == b.launch.func);
  }
  if (info != nullptr) {
    *info = cudaGraphExecUpdateResultInfo{};
    info->result = same ? cudaGraphExecUpdateSuccess : cudaGraphExecUpdateErrorTopologyChanged;
  }
  if (!same) return Fail(cudaErrorGraphExecUpdateFailure, "");
  for (size_t i = 0; i < graph->nodes.size(); ++i) exec->nodes[i] = graph->nodes[i]->node;
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (exec == nullptr) return Fail(cudaErrorInvalidValue, "");
  if (Capturing(stream)) return Fail(cudaErrorNotSupported, "cudaGraphLaunch into a capture");
  // A graph's first kernel starts after the stream's work before it, and the graph ends before
  // the stream's next work starts (programmatic edges are between its own nodes). With deferred
  // streams the graph runs at its launch, after the stream's deferred work.
  cudaError_t e = Settle(stream);
  for (const Node& n : exec->nodes) {
    if (e == cudaSuccess) e = RunNode(n);
  }
  const cudaError_t last = FinishPending();
  return e != cudaSuccess ? e : last;
}

cudaError_t cudaProfilerStart() { return cudaSuccess; }
cudaError_t cudaProfilerStop() { return cudaSuccess; }
