// A KV compressor on the device (forward/compressor.h Compress, one token per call: decode):
// its weights (DeviceCompressor, shared by every sequence), one sequence's state of partial blocks
// (DeviceCompressorState), and the step that feeds a token and, at the end of a block, writes the
// compressed entry. Composed of the shared kernels (MatVecExact, RmsNorm,
// RopeRotate, HadamardRotate, ActQuant, CompressorPool) and three small ones of its own (state
// append, state advance, entry to bf16 bits). Tested end to end against the CPU Compress in
// tests/engine/kernels/cuda_forward_ops_test.cc (skips without a device).
//
// Not thread-safe: one CompressToken at a time per DeviceCompressor (its scratch is shared).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/ops.h"

namespace dsagent::engine::kernels::cuda {

struct CompressorShape {
  int64_t ratio = 0;      // tokens per entry
  int64_t head_dim = 0;   // entry width
  int64_t rope_dims = 0;  // the entry's last rope_dims values are rotated
  bool overlap = false;   // ratio 4: entries pool the previous block's first half too
  bool rotate = false;    // indexer keys: Hadamard + FP4 per 32 (else FP8 per 64, non-RoPE dims)
  float norm_eps = 1e-6f;
  int64_t slots() const { return overlap ? 2 * ratio : ratio; }
  int64_t width() const { return overlap ? 2 * head_dim : head_dim; }
};

// One sequence's compressor state (forward::CompressorState's kv / score, the same layout): the
// projected values and gate logits of the current block at slot offset + pos % ratio (overlap:
// the previous block in slots [0, ratio), offset ratio).
struct DeviceCompressorState {
  DeviceBuffer kv, score;  // [slots, width] fp32: empty slots hold 0 / -inf

  // An empty state (every slot empty); complete when it returns. Throws CudaError.
  static DeviceCompressorState Create(const CompressorShape& shape, CudaStream& stream);
  // Empties every slot (queued on `stream`).
  void Reset(const CompressorShape& shape, CudaStream& stream);
};

struct DeviceCompressor {
  CompressorShape shape;
  DeviceWeight wkv, wgate;        // [width, dim] each
  DeviceBuffer ape, norm, freqs;  // [ratio, width], [head_dim], [rope_dims / 2]
  DeviceBuffer projected, entry;  // scratch: [2, width], [head_dim]

  // Uploads the weights (wkv/wgate: `width` rows), the position bias, the norm weight and the RoPE
  // frequencies (forward::Rope::frequencies() of a compressed layer).
  // Throws std::invalid_argument for sizes that do not fit the shape, CudaError for the device.
  static DeviceCompressor Create(const CompressorShape& shape, const WeightRows& wkv,
                                 const WeightRows& wgate, const std::vector<float>& ape,
                                 const std::vector<float>& norm, const std::vector<float>& freqs,
                                 CudaStream& stream);
};

// Feeds the token at position `pos` (x [dim] on the device, bf16 values; positions in order from
// 0): its exact projections go into `state` (value; gate logit + ape). When pos completes a
// block, the block is pooled into entry pos / ratio of `entries` ([n, head_dim] bf16 bits on the
// device): bf16, RMSNorm, RoPE at the block's first position, then Hadamard + FP4 (rotate) or FP8
// on the non-RoPE dims; the state moves on. Returns whether an entry was written.
bool CompressToken(DeviceCompressor& c, DeviceCompressorState& state, const float* x, int64_t pos,
                   uint16_t* entries, CudaStream& stream);

// CompressToken in two steps, for a forward over many rows (attention_step.h AttentionRows): the
// exact projections are row-wise, so a chunk's rows get them in two launches
// (CompressorProjections: projected [rows, 2 * width], each row's value then gate logit, x rows
// x_stride apart; each row's bits as alone), then each row feeds the state in order
// (CompressProjected with that row's projections). CompressToken is the two for one row.
// CompressProjected's `entry` ([head_dim] device floats, may be null: c.entry) is where a pooled
// entry is put together: a caller running several sequences' rows side by side gives each its
// own.
void CompressorProjections(const DeviceCompressor& c, const float* x, int64_t rows,
                           int64_t x_stride, float* projected, CudaStream& stream);
bool CompressProjected(DeviceCompressor& c, DeviceCompressorState& state, const float* projected,
                       int64_t pos, uint16_t* entries, CudaStream& stream, float* entry = nullptr);

// One row's sequence in a batched decode step's compressor launch (CompressProjectedSequences):
// that sequence's state of this compressor (DeviceCompressorState's kv and score) and its entries
// (entry e at entries + e * head_dim: its KV cache's compressed rows, or its indexer's keys).
// Device arrays of them, a row each, are what StageRows uploads (rows_scratch.h DeviceRows::
// row_compressors).
struct CompressorRow {
  float* kv = nullptr;
  float* score = nullptr;
  uint16_t* entries = nullptr;
};

// CompressProjected for `n` rows of n distinct sequences at once, one launch (a batched decode
// step's): row t's projections at projected + t * projected_stride, its position positions[t]
// and its sequence rows[t] (both device arrays), its pooled entry put together at entries + t *
// head_dim ([n, head_dim] device floats). Each row's state and entry get CompressProjected's bits.
// Only with the entry's steps in the launch (CompressProjectedSequencesTakes: fused steps on, a
// CTA covering the channels); throws CudaError otherwise.
bool CompressProjectedSequencesTakes(const DeviceCompressor& c);
void CompressProjectedSequences(DeviceCompressor& c, const CompressorRow* rows,
                                const int32_t* positions, const float* projected,
                                int64_t projected_stride, int64_t n, float* entries,
                                CudaStream& stream);

// CompressProjected for a chunk's `rows` rows at positions pos .. pos + rows - 1 at once
// (projected [rows, 2 * width]; compressor_chunk_math.h): every block they complete gathered from
// the state and the rows, pooled together and finished together (norm, RoPE at each block's first
// position, rotation or FP8, bf16 into its entry), then the state set as the row steps leave it
// (or, completing none, the rows appended). The same entries and state as CompressProjected row
// by row. Returns the blocks completed. `scratch` holds CompressRowsBlocks(shape, rows) blocks.
struct CompressRowsScratch {
  float* kv = nullptr;           // [blocks, slots, width]
  float* score = nullptr;        // [blocks, slots, width]
  float* entries = nullptr;      // [blocks, head_dim]
  int32_t* positions = nullptr;  // [blocks]
  int64_t blocks = 0;
};
int64_t CompressRowsBlocks(const CompressorShape& shape, int64_t rows);
int64_t CompressProjectedRows(DeviceCompressor& c, DeviceCompressorState& state,
                              const float* projected, int64_t pos, int64_t rows, uint16_t* entries,
                              const CompressRowsScratch& scratch, CudaStream& stream);

}  // namespace dsagent::engine::kernels::cuda
