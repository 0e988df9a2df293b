// The CUDA emulator's runtime state, shared by runtime.cc (the runtime's API) and work_queue.cc
// (how queued work runs): a unit of work, the stream, event and graph objects, the allocations and
// the locks. Internal to the emulator (tests/cuda_emulator/README.md).
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/cuda_emulator/env.h"
#include "tests/cuda_emulator/grid.h"

namespace dsagent_emu::rt {
using Clock = std::chrono::steady_clock;
}  // namespace dsagent_emu::rt

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
  uint64_t deferred_seq = 0;     // deferred streams: its place in all streams' deferred work
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
  int64_t depth = 0;                 // stats on: the depth of its last kernel (work_queue.h)
  // DSAGENT_CUDA_EMULATOR_STREAMS=deferred: work queued and not run yet, and how much was ever
  // queued (an event's record names a point in it).
  std::deque<dsagent_emu::Node> deferred;
  uint64_t queued = 0;
};
struct CUevent_st {
  bool timing = true;
  bool recorded = false;
  dsagent_emu::rt::Clock::time_point at{};
  // Where its last record was made while capturing: that stream (nullptr outside a capture), and
  // how far that stream's work had got (a wait joins the stream back when it did nothing since).
  cudaStream_t captured_in = nullptr;
  size_t captured_at = 0;  // that stream's last_work when recorded
  // Deferred streams: the stream of its last record and that stream's `queued` after it.
  cudaStream_t deferred_in = nullptr;
  uint64_t deferred_at = 0;
  int64_t depth = 0;  // stats on: its stream's depth at its last record (work_queue.h)
};

namespace dsagent_emu::rt {

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
  // -1: not yet read from DSAGENT_CUDA_EMULATOR_STREAMS; else a dsagent_emu::StreamSchedule
  // (SetStreamSchedule).
  std::atomic<int> stream_schedule{-1};
  uint64_t deferred_queued = 0;  // work ever deferred, on every stream (guarded by deferred_mu)
  // An injected device fault (FaultAtLaunch): kernels still to run before the one that faults
  // (0: none pending), and the error the context keeps once it has (cudaSuccess: none).
  std::atomic<int64_t> fault_countdown{
      static_cast<int64_t>(dsagent_emu::EnvNumber("DSAGENT_CUDA_EMULATOR_FAULT_AT_LAUNCH", 0))};
  std::atomic<int> sticky{cudaSuccess};
};

// The one emulated device's state.
Emulator& E();

// The calling thread's last error (cudaGetLastError).
extern thread_local cudaError_t tl_last_error;

// Records `e` as the thread's last error, says `why` on stderr (unless empty), returns `e`.
cudaError_t Fail(cudaError_t e, const std::string& why);

// The error every call on the context returns after a device fault (cudaSuccess: none); the call
// records it as the thread's last error too.
cudaError_t Sticky();

// The allocation holding `p`, or nullptr (caller holds E().mu).
const std::pair<const uintptr_t, Allocation>* Find(const void* p);

}  // namespace dsagent_emu::rt
