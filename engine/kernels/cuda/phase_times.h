// Where the rows forward's device time goes (ModelRows: prefill chunks and batched steps), without
// a profiler: with phase timing on (DSAGENT_CUDA_PHASE_TIMES=1, or SetPhaseTiming), MarkPhase
// records a timed event on the stream at each phase boundary, and CollectPhaseTimes waits for them
// and adds up, per phase name, the device time from each mark to the next one on its stream. The
// time includes whatever the device spent between kernels (launch gaps, waits on the host), which
// is the point: the phases' sum is the stream's whole time.
//
// Off by default (an event per phase costs a little host time); nothing is recorded while the
// stream is being captured into a CUDA graph (decode_graph.h refuses events). Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/kernels/cuda/device_runtime.h"

namespace dsagent::engine::kernels::cuda {

bool PhaseTiming();
void SetPhaseTiming(bool on);

// Ends the stream's current phase and starts `name` (a string literal: kept by pointer); "end"
// closes the stream's last phase without starting one. Does nothing with timing off. Throws
// CudaError.
void MarkPhase(CudaStream& stream, const char* name);

struct PhaseTime {
  std::string name;
  double ms = 0;      // summed device time
  int64_t count = 0;  // intervals summed
};
// Waits for every recorded mark, then returns the phases' totals in the order first marked and
// forgets the marks. An interval is a mark and the next mark on the same stream; a stream's last
// mark without a successor adds nothing. Throws CudaError.
std::vector<PhaseTime> CollectPhaseTimes();

}  // namespace dsagent::engine::kernels::cuda
