// How the CUDA emulator runs queued work (runtime.cc queues it): in program order, or recorded
// into a graph while its stream is captured; a programmatic launch held back until the stream's
// next work, its block 0 run ahead of the kernel before it (grid.h HeldBlock); and, with
// DSAGENT_CUDA_EMULATOR_STREAMS=deferred, each stream's work deferred until something waits for
// it (README.md here). Internal to the emulator.
#pragma once

#include <cuda_runtime.h>

#include "tests/cuda_emulator/runtime_state.h"

namespace dsagent_emu::rt {

// Runs `n` now, defers it (deferred streams) or records it (`stream` being captured).
cudaError_t Queue(Node n, cudaStream_t stream);
// Runs one node: a graph launch's, or queued work's.
cudaError_t RunNode(const Node& n);
// Everything queued on `s` (nullptr: on every stream) has run, and the held-back programmatic
// launch too: what a synchronisation, a free or a capture's start needs. The first error.
cudaError_t Settle(cudaStream_t s);
// The same for the work before `event`'s last record.
cudaError_t SettleUpTo(cudaEvent_t event);
// The held-back programmatic launch, if any, runs to its end.
cudaError_t FinishPending();

// Deferred streams: whether on (DSAGENT_CUDA_EMULATOR_STREAMS=deferred, reversed or interleaved, or
// SetStreamSchedule); the part of cudaStreamWaitEvent(stream, event) that runs deferred work
// (the waiting stream's own first, then the recording stream's up to the record); and an event
// record's bookkeeping.
bool DeferredStreams();
// Reversed streams (DSAGENT_CUDA_EMULATOR_STREAMS=reversed): deferred, and before a stream's
// deferred work runs, the streams with work queued after its first pending item run theirs, the
// most recently queued first.
bool ReversedStreams();
// Interleaved streams (DSAGENT_CUDA_EMULATOR_STREAMS=interleaved): deferred, and a stream's
// deferred items run each after one item of every other stream with deferred work.
bool InterleavedStreams();
void RunDeferredBeforeWait(cudaStream_t stream, cudaEvent_t event);
void NoteDeferredRecord(cudaEvent_t event, cudaStream_t stream);

// The launches' depth, with DSAGENT_CUDA_EMULATOR_STATS set (else these do nothing): a kernel
// queued on a stream is one deeper than the deepest work it waits for, that is its stream's last
// kernel and, through a cudaStreamWaitEvent, the work before the event's record. So a launch's
// depth is the length of the longest chain of kernels, one after another, that ends at it: on a
// GPU whose kernels are latency-bound, what a step's time adds up along. A decode step's figure is
// the depth of its last launch minus that of the step before's (the side streams are joined
// back by then). Followed as the program queues its work, graphs off: a graph's launch is not.
void NoteQueuedDepth(Node& n, cudaStream_t stream);
void NoteRecordDepth(cudaEvent_t event, cudaStream_t stream);
void NoteWaitDepth(cudaStream_t stream, cudaEvent_t event);

bool Capturing(cudaStream_t stream);
// The capture `stream` takes part in (its own, or the one it joined) fails at its end.
void InvalidateCapture(cudaStream_t stream);

}  // namespace dsagent_emu::rt
