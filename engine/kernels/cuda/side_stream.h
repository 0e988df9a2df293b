// SideStream: a stream for one of a decode step's independent chains of kernels, forked from the
// step's stream and joined back into it.
//
// Why: most of a decode step's kernels leave most of the device idle (V4-Flash's CSA block: 52 of
// its 70 launches have fewer CTAs than an H200 has SMs, 21 have one), so chains that do not depend
// on each other — the MoE's shared expert beside the router and the routed experts; the
// attention's KV row, compressor and indexer beside its query — fill each other's gaps when they
// run side by side. Inside a stream capture (decode_graph.h) the fork and the join make the chain
// a parallel branch of the graph. The chains run the same kernels on their own buffers: the same
// bits as one stream.
//
// A step owns its SideStreams (each layer's step its own: two steps never share an event).
#pragma once

#include "engine/kernels/cuda/device_runtime.h"

namespace dsagent::engine::kernels::cuda {

class SideStream {
 public:
  SideStream() = default;  // throws CudaError
  SideStream(const SideStream&) = delete;
  SideStream& operator=(const SideStream&) = delete;

  CudaStream& stream() { return stream_; }
  // Work queued on stream() from now on waits for the work queued on `from` so far.
  void Fork(CudaStream& from);
  // Work queued on `into` from now on waits for the work queued on stream() so far. Inside a
  // capture every fork must be joined before the capture ends.
  void Join(CudaStream& into);

 private:
  CudaStream stream_;
  CudaEvent fork_, join_;
};

// Whether decode steps run their independent chains on side streams: yes, unless the environment
// has DSAGENT_CUDA_SIDE_STREAMS=off (every chain on the step's stream, in the order it forks them).
// The setter overrides it for the process (tests and benchmarks run both ways); not to be changed
// while steps are being queued from another thread.
bool SideStreamsOn();
void SetSideStreams(bool on);

}  // namespace dsagent::engine::kernels::cuda
