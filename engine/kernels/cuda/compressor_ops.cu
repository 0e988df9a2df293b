// DeviceCompressor and CompressToken (compressor_ops.h): the CPU Compress's steps for one token,
// as kernels queued on one stream.
#include <cuda_runtime.h>

#include <limits>
#include <stdexcept>
#include <string>

#include "engine/kernels/cuda/compressor_chunk_math.h"
#include "engine/kernels/cuda/compressor_ops.h"
#include "engine/kernels/cuda/device_math.h"
#include "engine/kernels/cuda/fused_steps.h"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/mixing_math.h"
#include "engine/kernels/cuda/mixing_ops.h"
#include "engine/kernels/cuda/vector_steps.h"
#include "engine/kernels/cuda/vector_steps_cta.cuh"

namespace dsagent::engine::kernels::cuda {
namespace {

constexpr int kThreads = 256;
// The most channels one CTA of the token's step covers (a thread each) when it takes the entry's
// steps in its own launch.
constexpr int64_t kMaxTokenThreads = 1024;

cudaStream_t Raw(CudaStream& s) { return static_cast<cudaStream_t>(s.handle()); }

unsigned Blocks(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

// After a pooling, column c of the state: an overlapping state's block becomes the previous one
// (slots [ratio, 2 ratio) to [0, ratio)); the current block's slots are emptied.
__device__ void AdvanceColumn(float* kv, float* score, int64_t width, int64_t ratio, int64_t slots,
                              bool overlap, int64_t c) {
  const int64_t offset = overlap ? ratio : 0;
  if (overlap) {
    for (int64_t i = 0; i < ratio; ++i) {
      kv[i * width + c] = kv[(ratio + i) * width + c];
      score[i * width + c] = score[(ratio + i) * width + c];
    }
  }
  for (int64_t i = offset; i < slots; ++i) {
    kv[i * width + c] = 0.0f;
    score[i * width + c] = NegInfF();
  }
}

// AdvanceColumn over the state's columns, one thread each (Reset: every slot emptied).
__global__ void AdvanceKernel(float* kv, float* score, int64_t width, int64_t ratio, int64_t slots,
                              bool overlap) {
  AwaitPreviousKernel();
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < width) AdvanceColumn(kv, score, width, ratio, slots, overlap, c);
}

// Position p's value and gate logit + position bias for a chunk at chunk_pos (compressor_chunk_
// math.h): from the chunk's projected rows, the state's slots, or empty (p < 0).
__device__ __forceinline__ void ChunkValue(int64_t p, int64_t c, const float* state_kv,
                                           const float* state_score, const float* projected,
                                           const float* ape, int64_t width, int64_t ratio,
                                           bool overlap, int64_t chunk_pos, float& v, float& sc) {
  if (p < 0) {
    v = 0.0f;
    sc = NegInfF();
    return;
  }
  const int64_t src = ChunkValueSource(p, chunk_pos, ratio, overlap);
  if (src >= 0) {
    const float* row = projected + src * 2 * width;
    v = row[c];
    sc = row[width + c] + ape[(p % ratio) * width + c];  // AppendRowsKernel's add
  } else {
    v = state_kv[(-1 - src) * width + c];
    sc = state_score[(-1 - src) * width + c];
  }
}

// Grid (columns, blocks, slots): slot i of block b0 + y's pool into kv / score [blocks, slots,
// width].
__global__ void GatherBlocksKernel(float* kv, float* score, const float* state_kv,
                                   const float* state_score, const float* projected,
                                   const float* ape, int64_t width, int64_t ratio, int64_t slots,
                                   bool overlap, int64_t b0, int64_t chunk_pos) {
  AwaitPreviousKernel();
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= width) return;
  const int64_t k = blockIdx.y, i = blockIdx.z;
  float v, sc;
  ChunkValue(PoolSlotPosition(b0 + k, i, ratio, overlap), c, state_kv, state_score, projected, ape,
             width, ratio, overlap, chunk_pos, v, sc);
  kv[(k * slots + i) * width + c] = v;
  score[(k * slots + i) * width + c] = sc;
}

// The state after a chunk that completes a block: slot by slot in order, each column by one
// thread (an overlapping state's slot i < ratio may read the old slot ratio + i, written later).
__global__ void StateAfterChunkKernel(float* state_kv, float* state_score, const float* projected,
                                      const float* ape, int64_t width, int64_t ratio, int64_t slots,
                                      bool overlap, int64_t chunk_pos, int64_t rows) {
  AwaitPreviousKernel();
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= width) return;
  for (int64_t i = 0; i < slots; ++i) {
    float v, sc;
    ChunkValue(StateSlotAfterChunk(i, chunk_pos, rows, ratio, overlap), c, state_kv, state_score,
               projected, ape, width, ratio, overlap, chunk_pos, v, sc);
    state_kv[i * width + c] = v;
    state_score[i * width + c] = sc;
  }
}

// Column c of the row at position p (`row`: its value then its gate logit, width each) into its
// slot: the value, and the gate logit + position bias (an fp32 add).
__device__ void AppendColumn(float* state_kv, float* state_score, const float* row,
                             const float* ape, int64_t width, int64_t ratio, bool overlap,
                             int64_t p, int64_t c) {
  const int64_t slot = (overlap ? ratio : 0) + p % ratio;
  state_kv[slot * width + c] = row[c];
  state_score[slot * width + c] = row[width + c] + ape[(p % ratio) * width + c];
}

// Rows appended to their slots, grid (columns, rows): a chunk that completes no block.
__global__ void AppendRowsKernel(float* state_kv, float* state_score, const float* projected,
                                 const float* ape, int64_t width, int64_t ratio, bool overlap,
                                 int64_t chunk_pos) {
  AwaitPreviousKernel();
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= width) return;
  const int64_t t = blockIdx.y;
  AppendColumn(state_kv, state_score, projected + t * 2 * width, ape, width, ratio, overlap,
               chunk_pos + t, c);
}

// A token's step in one launch: its row appended, and when it completes a block, the block pooled
// into `entry` (bf16) and the state advanced. Thread c < head_dim owns the state's columns that
// channel c pools (c, and head_dim + c when overlapping: PoolChannel), so no thread reads what
// another writes. The arithmetic is AppendRowsKernel's, CompressorPoolKernel's and the advance's
// of the rows path: the same bits. With `finish` set (its bf16_out; one CTA then, a whole number of
// warps covering head_dim) the CTA also takes the pooled entry through the cache entry's steps
// (VectorStepsCta: RunVectorSteps' bits) into the cache: no launch of their own after it.
// Dynamic shared memory then: head_dim doubles when the steps rotate.
// The token step's body for channel c (CompressTokenKernel's; CompressSequencesKernel's, one CTA
// a row). Every thread of the CTA calls it.
__device__ __forceinline__ void CompressTokenCta(float* state_kv, float* state_score,
                                                 const float* projected, const float* ape,
                                                 int64_t width, int64_t ratio, int64_t slots,
                                                 int64_t head_dim, bool overlap, int64_t pos,
                                                 float* entry, const VectorSteps& finish,
                                                 int64_t c) {
  const bool pools = (pos + 1) % ratio == 0;  // uniform over the grid
  if (c < head_dim) {
    const int columns = overlap ? 2 : 1;
    for (int k = 0; k < columns; ++k) {
      AppendColumn(state_kv, state_score, projected, ape, width, ratio, overlap, pos,
                   c + k * head_dim);
    }
    if (pools) {
      entry[c] = RoundBf16(PoolChannel(state_kv, state_score, width, ratio, head_dim, overlap, c));
      for (int k = 0; k < columns; ++k) {
        AdvanceColumn(state_kv, state_score, width, ratio, slots, overlap, c + k * head_dim);
      }
    }
  }
  if (!pools || finish.bf16_out == nullptr) return;  // uniform over the grid
  __shared__ double part[kVectorStepsNormThreads];
  extern __shared__ __align__(16) unsigned char smem[];
  __syncthreads();  // the whole entry pooled before its steps read it
  VectorStepsCta(entry, head_dim, finish, 0, part, reinterpret_cast<double*>(smem));
}

// A token's step in one launch: its row appended, and when it completes a block, the block pooled
// into `entry` (bf16) and the state advanced. Thread c < head_dim owns the state's columns that
// channel c pools (c, and head_dim + c when overlapping: PoolChannel), so no thread reads what
// another writes. The arithmetic is AppendRowsKernel's, CompressorPoolKernel's and the advance's
// of the rows path: the same bits. With `finish` set (its bf16_out; one CTA then, a whole number of
// warps covering head_dim) the CTA also takes the pooled entry through the cache entry's steps
// (VectorStepsCta: RunVectorSteps' bits) into the cache: no launch of their own after it.
// Dynamic shared memory then: head_dim doubles when the steps rotate.
__global__ void CompressTokenKernel(float* state_kv, float* state_score, const float* projected,
                                    const float* ape, int64_t width, int64_t ratio, int64_t slots,
                                    int64_t head_dim, bool overlap, int64_t pos, float* entry,
                                    VectorSteps finish) {
  AwaitPreviousKernel();
  CompressTokenCta(state_kv, state_score, projected, ape, width, ratio, slots, head_dim, overlap,
                   pos, entry, finish, static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x);
}

// CompressTokenKernel with its finish for row blockIdx.x of a batched step, each row of its own
// sequence (CompressProjectedSequences): the row's state and entries from rows[t], its position
// from positions[t]; `finish` is the entry's steps but for the block's first position and the
// entry's place, set here.
__global__ void CompressSequencesKernel(const CompressorRow* rows, const int32_t* positions,
                                        const float* projected, int64_t projected_stride,
                                        const float* ape, int64_t width, int64_t ratio,
                                        int64_t slots, int64_t head_dim, bool overlap,
                                        float* entries, VectorSteps finish) {
  AwaitPreviousKernel();
  const int64_t t = blockIdx.x;
  const CompressorRow row = rows[t];
  const int64_t pos = positions[t];
  finish.pos = pos + 1 - ratio;
  finish.bf16_out = row.entries + (pos / ratio) * head_dim;
  CompressTokenCta(row.kv, row.score, projected + t * projected_stride, ape, width, ratio, slots,
                   head_dim, overlap, pos, entries + t * head_dim, finish, threadIdx.x);
}

__global__ void BlockPositionsKernel(int32_t* positions, int64_t b0, int64_t count, int64_t ratio) {
  AwaitPreviousKernel();
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k < count) positions[k] = static_cast<int32_t>((b0 + k) * ratio);
}

// Waits for the copy: callers pass temporaries.
DeviceBuffer Floats(const std::vector<float>& v, CudaStream& stream) {
  DeviceBuffer b(v.size() * sizeof(float));
  b.Upload(v.data(), b.bytes(), stream);
  stream.Synchronize();
  return b;
}

}  // namespace

DeviceCompressorState DeviceCompressorState::Create(const CompressorShape& shape,
                                                    CudaStream& stream) {
  const int64_t n = shape.slots() * shape.width();
  DeviceCompressorState st;
  st.kv = DeviceFloats(n);
  st.score = DeviceFloats(n);
  st.Reset(shape, stream);
  stream.Synchronize();
  return st;
}

void DeviceCompressorState::Reset(const CompressorShape& shape, CudaStream& stream) {
  // AdvanceKernel without the overlap's move empties every slot.
  LaunchKernel(AdvanceKernel, "AdvanceKernel", Blocks(shape.width()), kThreads, 0, Raw(stream),
               kv.as<float>(), score.as<float>(), shape.width(), shape.ratio, shape.slots(), false);
  CheckCuda(cudaGetLastError(), "compressor state reset launch");
}

DeviceCompressor DeviceCompressor::Create(const CompressorShape& shape, const WeightRows& wkv,
                                          const WeightRows& wgate, const std::vector<float>& ape,
                                          const std::vector<float>& norm,
                                          const std::vector<float>& freqs, CudaStream& stream) {
  const int64_t width = shape.width();
  const auto need = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("DeviceCompressor: " + what);
  };
  need(shape.ratio > 0 && shape.head_dim > 0, "ratio and head_dim must be positive");
  need(shape.rope_dims >= 0 && shape.rope_dims % 2 == 0 && shape.rope_dims <= shape.head_dim,
       "rope_dims must be even and at most head_dim");
  need(wkv.cols == wgate.cols, "wkv and wgate take inputs of different sizes");
  need(static_cast<int64_t>(ape.size()) == shape.ratio * width,
       "ape has " + std::to_string(ape.size()) +
           " values, the shape needs ratio * width = " + std::to_string(shape.ratio * width));
  need(static_cast<int64_t>(norm.size()) == shape.head_dim, "norm must have head_dim values");
  need(static_cast<int64_t>(freqs.size()) == shape.rope_dims / 2,
       "freqs must have rope_dims / 2 values");
  need(shape.rotate ? shape.head_dim % 32 == 0 : (shape.head_dim - shape.rope_dims) % 64 == 0,
       "the quantised dims must split into blocks (32 rotated, 64 otherwise)");
  DeviceCompressor c;
  c.shape = shape;
  c.wkv = DeviceWeight::Upload(wkv, width, stream);
  c.wgate = DeviceWeight::Upload(wgate, width, stream);
  c.ape = Floats(ape, stream);
  c.norm = Floats(norm, stream);
  c.freqs = Floats(freqs, stream);
  c.projected = DeviceFloats(2 * width);
  c.entry = DeviceFloats(shape.head_dim);
  return c;
}

void CompressorProjections(const DeviceCompressor& c, const float* x, int64_t rows,
                           int64_t x_stride, float* projected, CudaStream& stream) {
  const int64_t width = c.shape.width();
  // Exact in both modes, as on the CPU: the pooled entries go through FP8/FP4 quantisation.
  MatVecExactPair(c.wkv, c.wgate, x, rows, x_stride, projected, projected + width, 2 * width, false,
                  stream);
}

bool CompressToken(DeviceCompressor& c, DeviceCompressorState& state, const float* x, int64_t pos,
                   uint16_t* entries, CudaStream& stream) {
  CompressorProjections(c, x, 1, 0, c.projected.as<float>(), stream);
  return CompressProjected(c, state, c.projected.as<float>(), pos, entries, stream);
}

namespace {

// The pooled entries' last steps, as the CPU's compressor takes them (vector_steps.h): RMSNorm,
// RoPE at each block's first position (`positions` on the device, one per entry, or `first_pos`
// for a single entry), then the Hadamard rotation and FP4 quantisation (the indexer's) or FP8
// quantisation of the non-RoPE dims, and the bf16 store into `out` (rows of head_dim).
VectorSteps EntrySteps(const DeviceCompressor& c, int64_t first_pos, const int32_t* positions,
                       uint16_t* out) {
  const CompressorShape& s = c.shape;
  return CacheEntrySteps(s.head_dim, c.norm.as<float>(), s.norm_eps, s.rope_dims,
                         c.freqs.as<float>(), first_pos, positions, s.rotate, out);
}

// EntrySteps on `count` pooled entries e, in one launch.
void FinishEntries(const DeviceCompressor& c, float* e, int64_t count, int64_t first_pos,
                   const int32_t* positions, uint16_t* out, CudaStream& stream) {
  RunVectorSteps(e, count, c.shape.head_dim, EntrySteps(c, first_pos, positions, out), stream);
}

}  // namespace

bool CompressProjected(DeviceCompressor& c, DeviceCompressorState& state, const float* projected,
                       int64_t pos, uint16_t* entries, CudaStream& stream, float* entry) {
  const CompressorShape& s = c.shape;
  const int64_t r = s.ratio, d = s.head_dim;
  if (entry == nullptr) entry = c.entry.as<float>();
  const bool pools = (pos + 1) % r == 0;
  // The entry's steps in the token's launch (one CTA) where one CTA covers the channels and the
  // fused steps are on; else a launch of their own after it. The same bits.
  const bool in_launch = pools && FusedStepsOn() && d <= kMaxTokenThreads;
  VectorSteps finish;
  if (in_launch) {
    finish = EntrySteps(c, pos + 1 - r, nullptr, entries + (pos / r) * d);
    CheckVectorSteps(d, finish);
  }
  const unsigned blocks = in_launch ? 1 : Blocks(d);
  const int threads = in_launch ? static_cast<int>((d + 31) / 32 * 32) : kThreads;
  const size_t shared = in_launch && finish.hadamard ? static_cast<size_t>(d) * sizeof(double) : 0;
  LaunchKernel(CompressTokenKernel, "CompressTokenKernel", blocks, threads, shared, Raw(stream),
               state.kv.as<float>(), state.score.as<float>(), projected, c.ape.as<float>(),
               s.width(), r, s.slots(), d, s.overlap, pos, entry, finish);
  CheckCuda(cudaGetLastError(), "compressor token launch");
  if (!pools) return false;
  if (!in_launch) FinishEntries(c, entry, 1, pos + 1 - r, nullptr, entries + (pos / r) * d, stream);
  return true;
}

bool CompressProjectedSequencesTakes(const DeviceCompressor& c) {
  return FusedStepsOn() && c.shape.head_dim <= kMaxTokenThreads;
}

void CompressProjectedSequences(DeviceCompressor& c, const CompressorRow* rows,
                                const int32_t* positions, const float* projected,
                                int64_t projected_stride, int64_t n, float* entries,
                                CudaStream& stream) {
  const CompressorShape& s = c.shape;
  const int64_t d = s.head_dim;
  if (n <= 0) return;
  if (!CompressProjectedSequencesTakes(c) || n > 0x7fffffff) {
    throw CudaError("CompressProjectedSequences: " + std::to_string(n) + " rows of " +
                    std::to_string(d) + " channels, fused steps " +
                    (FusedStepsOn() ? "on" : "off") + " (CompressProjectedSequencesTakes)");
  }
  // The template of each row's entry steps: its first position and its place come per row.
  VectorSteps finish = EntrySteps(c, 0, nullptr, nullptr);
  CheckVectorSteps(d, finish);
  const int threads = static_cast<int>((d + 31) / 32 * 32);
  const size_t shared = finish.hadamard ? static_cast<size_t>(d) * sizeof(double) : 0;
  LaunchKernel(CompressSequencesKernel, "CompressSequencesKernel", static_cast<unsigned>(n),
               threads, shared, Raw(stream), rows, positions, projected, projected_stride,
               c.ape.as<float>(), s.width(), s.ratio, s.slots(), d, s.overlap, entries, finish);
  CheckCuda(cudaGetLastError(), "compressor sequences launch");
}

int64_t CompressRowsBlocks(const CompressorShape& shape, int64_t rows) {
  return rows / shape.ratio + 1;
}

int64_t CompressProjectedRows(DeviceCompressor& c, DeviceCompressorState& state,
                              const float* projected, int64_t pos, int64_t rows, uint16_t* entries,
                              const CompressRowsScratch& scratch, CudaStream& stream) {
  const CompressorShape& s = c.shape;
  const int64_t r = s.ratio, d = s.head_dim, width = s.width(), slots = s.slots();
  if (rows <= 0) return 0;
  const int64_t b0 = ChunkBlocksBegin(pos, r), count = ChunkBlocksEnd(pos, rows, r) - b0;
  if (count == 0) {
    const dim3 grid(Blocks(width), static_cast<unsigned>(rows));
    LaunchKernel(AppendRowsKernel, "AppendRowsKernel", grid, kThreads, 0, Raw(stream),
                 state.kv.as<float>(), state.score.as<float>(), projected, c.ape.as<float>(), width,
                 r, s.overlap, pos);
    CheckCuda(cudaGetLastError(), "compressor rows append launch");
    return 0;
  }
  if (count > scratch.blocks || count > 65535 || slots > 65535) {
    throw CudaError("CompressProjectedRows: " + std::to_string(count) +
                    " blocks, the scratch holds " + std::to_string(scratch.blocks));
  }
  const dim3 gather(Blocks(width), static_cast<unsigned>(count), static_cast<unsigned>(slots));
  LaunchKernel(GatherBlocksKernel, "GatherBlocksKernel", gather, kThreads, 0, Raw(stream),
               scratch.kv, scratch.score, state.kv.as<float>(), state.score.as<float>(), projected,
               c.ape.as<float>(), width, r, slots, s.overlap, b0, pos);
  CheckCuda(cudaGetLastError(), "compressor gather launch");
  LaunchKernel(StateAfterChunkKernel, "StateAfterChunkKernel", Blocks(width), kThreads, 0,
               Raw(stream), state.kv.as<float>(), state.score.as<float>(), projected,
               c.ape.as<float>(), width, r, slots, s.overlap, pos, rows);
  CheckCuda(cudaGetLastError(), "compressor state launch");
  float* e = scratch.entries;
  CompressorPoolRows(scratch.kv, scratch.score, count, width, r, d, s.overlap,
                     /*round_bf16=*/true, e, stream);
  LaunchKernel(BlockPositionsKernel, "BlockPositionsKernel", Blocks(count), kThreads, 0,
               Raw(stream), scratch.positions, b0, count, r);
  CheckCuda(cudaGetLastError(), "compressor positions launch");
  FinishEntries(c, e, count, 0, scratch.positions, entries + b0 * d, stream);
  return count;
}

}  // namespace dsagent::engine::kernels::cuda
