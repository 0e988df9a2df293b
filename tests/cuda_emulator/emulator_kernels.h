// Small kernels that exercise the CUDA emulator (cuda_emulator_test.cc), each behind a host
// function that launches it and returns the launch's error. Pointers are device memory.
#pragma once

#include <cuda_runtime.h>

namespace dsagent_emu_test {

// out[b] = the sum of in[b * threads .. (b + 1) * threads), by a shared-memory tree with barriers.
cudaError_t BlockSums(const float* in, float* out, int blocks, int threads);
// out[i] = the sum of its warp's in values, by an xor butterfly of shuffles.
cudaError_t WarpSums(const float* in, float* out, int threads);
// out[i] = in of lane `src` of its `width`-lane segment (__shfl_sync).
cudaError_t Broadcast(const int* in, int* out, int threads, int src, int width);
// Per warp: scan[i] = the sum of in over lanes 0..i (__shfl_up_sync), ballot[i] = the lanes whose
// scan is odd (__ballot_sync), first[i] = __ffs of that ballot.
cudaError_t ScanAndBallot(const int* in, int* scan, unsigned* ballot, int* first, int threads);
// Thread i starts a cp.async copy of src[i] into shared memory (async_copy.cuh) and stores what
// it reads there before its wait to before[i], after it to after[i].
cudaError_t AsyncCopies(const uint4* src, uint4* before, uint4* after, int threads);
// Per thread, its warp segment's butterfly (engine/kernels/cuda/warp_butterfly.cuh) of `in` over
// `width` lanes (2..32), through one gather (by_gather) and through shuffles (by_shuffles):
// `skewed` takes the step 3 * mine + other, whose result depends on each step's operands and
// their order, else the sum. With the sum, also three sums at one gather (XorSumEach: of in, of
// another thread's in, of their difference) into each_by_gather[3 * thread + i], and each by
// shuffles into each_by_shuffles.
cudaError_t Butterflies(const double* in, double* by_gather, double* by_shuffles,
                        double* each_by_gather, double* each_by_shuffles, int threads, int width,
                        bool skewed);
// Lane 3 returns, then the rest sum by a butterfly's gather: a misuse, as with shuffles.
cudaError_t GatherAfterALaneExited(double* out);
// A block of 16 threads sums by a full warp's gather: it reads lanes the block does not have.
cudaError_t GatherOverLanesTheBlockLacks(double* out);
// Lane 3 returns, then the rest shuffle with a full mask: a misuse the emulator reports.
cudaError_t ShuffleAfterALaneExited(float* out);
// Lanes 0..15 read lane 20 through a shuffle whose mask is the low 16 lanes: a misuse.
cudaError_t ShuffleReadingALaneOutsideItsMask(int* out);
// Every thread of every block adds 1 to *count.
cudaError_t CountThreads(unsigned* count, int blocks, int threads);
// out[t] = __syncthreads_and(t != falsy) (falsy < 0: every predicate true).
cudaError_t SyncAnd(int* out, int threads, int falsy);
// out[t] = bits of dynamic shared float t before anyone wrote it.
cudaError_t UnwrittenShared(unsigned* out, int threads, size_t shared_bytes);
// Opts the UnwrittenShared kernel into `bytes` of dynamic shared memory.
cudaError_t AllowShared(int bytes);
// out[l] = what lane (l + 1) % 32 stored (l * 3 + seed) before a __syncwarp; one warp.
cudaError_t SyncWarpNeighbours(int* out, int seed);
// *value += 1, on `stream`.
cudaError_t Increment(int* value, cudaStream_t stream);
// *to = *from, on `stream`.
cudaError_t CopyOne(const int* from, int* to, cudaStream_t stream);

// Races for the race check (tests/cuda_emulator/race_check.h): each is a data race on a device,
// whatever values the emulator's one order of the threads gives.
// out[t] = what thread (t + 1) % threads stored in shared memory, with no barrier in between.
cudaError_t NeighbourWithoutABarrier(int* out, int threads);
// SyncWarpNeighbours with a shuffle where its __syncwarp is: a shuffle orders no memory.
cudaError_t NeighbourAfterAShuffle(int* out, int seed);
// Thread 0 of each of `blocks` blocks stores its block index to *out.
cudaError_t EveryBlockStoresOneWord(int* out, int blocks);
// The last-block pattern (engine/kernels/cuda/last_cta.cuh): block b stores partial[b] = b + 1
// and counts itself in *count; the last to count sums partial into *total and zeroes *count.
// `fenced` false leaves out both __threadfence calls (a race between the blocks).
cudaError_t LastBlockSums(int* partial, unsigned* count, int* total, int blocks, bool fenced);

// Programmatic dependent launches (cudaLaunchKernelEx with
// cudaLaunchAttributeProgrammaticStreamSerialization when `programmatic`), on `stream`:
// every thread waits (cudaGridDependencySynchronize), then sets out[its global index] = value.
cudaError_t FillAfterTheWait(int* out, int value, int blocks, int threads, cudaStream_t stream,
                             bool programmatic);
// Thread i (global index) reads data[i] before its wait into before[i], after it into after[i].
cudaError_t ReadAroundTheWait(const int* data, int* before, int* after, int blocks, int threads,
                              cudaStream_t stream, bool programmatic);
// Sets out[threadIdx.x] = 1 without ever waiting, as a programmatic launch.
cudaError_t NeverWait(int* out, int threads, cudaStream_t stream);
// For the memory check (scripts/sanitize.sh memcheck): each of these faults or reads undefined
// bytes on a device when given the arguments its comment names, whatever values the emulator's
// heap happens to give there.
// out[t] = in[t + 1] for t < threads: past the end of an `in` of `threads` floats.
cudaError_t ShiftedCopy(const float* in, float* out, int threads);
// Thread t stores t to dynamic shared float t + 1 of `shared_floats`, then out[t] = that float:
// past the end of the shared memory when shared_floats is `threads`.
cudaError_t ShiftedSharedCopy(float* out, int threads, int shared_floats);
// *out = the float4 at `in`: a misaligned vector load when `in` is not 16-byte aligned.
cudaError_t VectorLoad(const float* in, float4* out);
}  // namespace dsagent_emu_test
