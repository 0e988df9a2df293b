// The model's forward over many rows on the device (forward/model.h Model::Forward over a
// LayerChunk list): a list of chunks — consecutive tokens of one sequence from its position —
// through the embedding, every block (block_step.h BlockRows: the row-wise steps on all rows at
// once, one launch per weight; the state steps per chunk in row order) and the head.
// A batched decode step is one chunk of one row per sequence; a prefill is chunks of one
// sequence's prompt. Every row gets ModelDecode's bits for that token (the ops are row-
// independent and the state steps run in the decode's order): tested against token-by-token
// ModelDecode in tests/engine/kernels/cuda_model_test.cc (skips without a device).
//
// Not thread-safe: one call at a time per DeviceModel and DeviceRows.
#pragma once

#include <cstdint>

#include "engine/kernels/cuda/model_step.h"
#include "engine/kernels/cuda/rows_scratch.h"

namespace dsagent::engine::kernels::cuda {

// The scratch of ModelRows for up to `max_rows` rows of `m` (its widest layer; with the offload's
// pinned staging when a layer keeps experts on the host). Throws CudaError (out of memory).
DeviceRows CreateDeviceRows(const DeviceModel& m, int64_t max_rows);

// Device bytes CreateDeviceRows takes for `max_rows` rows of `m` (the scratch's footprint).
int64_t DeviceRowsBytes(const DeviceModel& m, int64_t max_rows);

// `rows` consecutive tokens of `seq` from seq->pos.
struct RowChunk {
  DeviceSequence* seq = nullptr;
  int64_t rows = 0;
};

// Which rows get logits: none (a prompt's chunk before its last), each chunk's last row, every
// row.
enum class RowLogits { kNone, kLastOfEachChunk, kEveryRow };

// The chunks' tokens (host int32, the chunks' rows one after another) through the model; each
// chunk's sequence advances by its rows. Logits (device, fp32) as `which` asks: [rows, vocab]
// (kEveryRow) or [n_chunks, vocab] (kLastOfEachChunk). The chunks' sequences must be distinct.
// Throws std::out_of_range, before queuing anything, for more rows than `r` holds, a sequence
// given twice, a sequence of another layer count or one that would pass the context.
// ModelRows is StageRows then ModelRowsStaged.
void ModelRows(DeviceModel& m, DeviceRows& r, const RowChunk* chunks, int64_t n_chunks,
               const int32_t* tokens, RowLogits which, float* logits, CudaStream& stream);

// ModelRows' two halves, apart so that the second can be captured into a CUDA graph
// (decode_graph.h), which cannot hold copies from host memory. StageRows uploads the rows' tokens
// and positions (the chunks' current positions) into `r`, and for a batched decode step (chunks of
// one row each) every layer's KV cache of each row's sequence; ModelRowsStaged queues the rest, on
// those staged rows, and advances the sequences. Both check the chunks as ModelRows does; between
// the two the chunks and their positions must not change.
void StageRows(const DeviceModel& m, DeviceRows& r, const RowChunk* chunks, int64_t n_chunks,
               const int32_t* tokens, CudaStream& stream);
// `pieces` (decode_pieces.h; null: one piece, queued as it comes) hands the launches out a few
// blocks at a time, as ModelDecodePieces does.
void ModelRowsStaged(DeviceModel& m, DeviceRows& r, const RowChunk* chunks, int64_t n_chunks,
                     RowLogits which, float* logits, CudaStream& stream,
                     const DecodePieces* pieces = nullptr);

}  // namespace dsagent::engine::kernels::cuda
