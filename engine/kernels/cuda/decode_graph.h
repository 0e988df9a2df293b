// DecodeGraphs: a decode step's launches sent to the device as CUDA graphs, a few blocks each.
//
// Why: a V4-Flash decode step is thousands of small kernels (about 60 a block, 43 blocks), each of
// a few microseconds; queued one by one, each costs the host a launch and the device a gap. A
// graph goes to the device in one launch and its kernels run back to back.
//
// How: the step's own code runs unchanged under stream capture (nothing executes while it is
// captured), so the graph holds exactly the launches the plain step makes, their arguments
// (positions, list lengths, grids) included: same kernels, same order, same bits. Capturing costs
// the host about what launching would, so a step goes in pieces (a few blocks each, `slot` 0, 1,
// ...): piece i+1 is captured while the device runs piece i, as plain launches overlap the
// device's work. The kernels a piece queues depend on the position (a compressor pools every
// `ratio` tokens, the indexer starts once a key exists), so the executable graphs are kept by slot
// and shape — the multiset of node kinds and kernel functions — and a captured piece updates the
// kept executable of its slot and shape in place (cudaGraphExecUpdate: new arguments and grids, no
// instantiation), or instantiates one, evicting the least recently used past `keep`.
//
// What a step may queue: kernels, device-to-device copies and memsets on the stream. A host wait,
// an allocation or a copy from or to host memory (which the graph would read again at replay, from
// memory that may be gone) fails the capture: Run throws and nothing of the step ran. The expert
// offload's decode waits on the host for its routing, so it runs without graphs.
//
// Not thread-safe: one Run at a time; its executables belong to the device current at creation.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/kernels/cuda/device_runtime.h"

namespace dsagent::engine::kernels::cuda {

class DecodeGraphs {
 public:
  // What Run did so far: graph launches, executables instantiated, kept ones updated in place,
  // and the nodes of the last step's graph.
  struct Stats {
    int64_t launches = 0;
    int64_t instantiations = 0;
    int64_t updates = 0;
    int64_t last_nodes = 0;
  };

  // Keeps up to `keep` (>= 1) executables, one per slot and shape (V4-Flash: 11 pieces of a step,
  // a few shapes each as the compressors pool, times the batch sizes a server sees).
  explicit DecodeGraphs(int keep = 256);
  ~DecodeGraphs();
  DecodeGraphs(const DecodeGraphs&) = delete;
  DecodeGraphs& operator=(const DecodeGraphs&) = delete;

  // Captures what `enqueue` queues on `stream` and queues it as one graph launch there (no wait),
  // with the executables of `slot` (the piece of a step: 0, 1, ...). Throws CudaError, and
  // whatever `enqueue` throws, with the stream out of capture and usable and nothing of the piece
  // queued: a piece that queued what a graph cannot hold (above) or a failed instantiation. Any
  // host-side effects of `enqueue` have happened all the same (a caller that runs the piece
  // plainly instead wants an `enqueue` without them).
  void Run(CudaStream& stream, uint64_t slot, const std::function<void()>& enqueue);

  const Stats& stats() const { return stats_; }
  // Executables kept now (<= keep).
  int64_t kept() const { return static_cast<int64_t>(kept_.size()); }

 private:
  struct Kept {
    uint64_t slot = 0;
    uint64_t shape = 0;
    int64_t nodes = 0;
    void* exec = nullptr;  // a cudaGraphExec_t
    uint64_t used = 0;     // tick of the last launch (least recently used goes first)
  };
  // The kept executable of `slot` for a captured graph of `shape` and `nodes`, updated from or
  // instantiated for `graph` (a cudaGraph_t).
  Kept& ExecutableFor(void* graph, uint64_t slot, uint64_t shape, int64_t nodes);

  int keep_;
  uint64_t tick_ = 0;
  std::vector<Kept> kept_;
  Stats stats_;
};

// Whether DSAGENT_CUDA_GRAPHS asks for decode without graphs ("off", "0", "no", "false"); unset or
// anything else: graphs on. For measurements and as a way out should a driver refuse them.
bool GraphsDisabledByEnvironment();

}  // namespace dsagent::engine::kernels::cuda
