// The CUDA kernels of the first V4 forward ops, each with the contract of its CPU twin in `fast`
// numerics (the arithmetic is device_math.h's, shared with the host):
//   MatVec      kernels/cpu/weight_dot_f32.h (16 fp32 lanes per 128-column block, combined in
//               double): the same bits as WeightRowDotsF32, then bf16 when asked
//   MatVecExact kernels/cpu/weight_dot.h WeightRowDots (double products and sums), the `exact`
//               products of both modes' discrete steps
//   ExpertMatVec  MatVec with the weight chosen per slot by a device id (the routed experts)
//   ActQuant    cpu/quant_ops.h QuantizeFp8Blocks (per 128 or 64) / QuantizeFp4Blocks (per 32)
//   RmsNorm     forward/linear.h RmsNorm
//   RopeRotate  cpu/rope_rotate.h RopeRotate (frequencies from forward's Rope::frequencies(), YaRN
//   included) SwiGlu      cpu/moe_ops.h SwiGluInPlace, the expert activation (clamp at swiglu_limit
//   when limit > 0); SwiGluQuant: it and ActQuant's FP8 in one launch
// Pointers are device pointers; every call is queued on `stream` and returns at once (errors of
// the launch throw CudaError; errors of the run surface at the next Synchronize).
//
// Tested against the CPU twins on random inputs with odd shapes (tests/engine/kernels/
// cuda_ops_test.cc, which skips without a device).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/weight_format.h"

namespace dsagent::engine::kernels::cuda {

struct WeightView;  // device_math.h: a weight's device pointers, kind and columns

// A weight uploaded in its stored format (weight_upload.h).
struct DeviceWeight {
  WeightFormat format = WeightFormat::kBF16;
  int64_t rows = 0, cols = 0, scale_cols = 0;
  DeviceBuffer data, scale;
  // The `exact` numerics for products with this weight: MatVec, MatVecRows and MatVecRowGroups
  // run MatVecExact's double kernel on it (a model loaded with --numerics exact:
  // device_model_upload.h UseExactNumerics). False: the fast pair order.
  bool exact = false;

  // Copies `rows` rows of `w` to the current device and waits for the copy (Allocate, Fill,
  // then a wait). Throws CudaError, or std::invalid_argument for a shape the format cannot have.
  static DeviceWeight Upload(const WeightRows& w, int64_t rows, CudaStream& stream);
  // Room for `rows` x `cols` in `format` on the current device, contents undefined. Throws
  // std::invalid_argument for a shape the format cannot have, CudaError for the device.
  static DeviceWeight Allocate(WeightFormat format, int64_t rows, int64_t cols);
  // Queues on `stream` the copy of w's first `rows` rows into this weight and returns at once
  // (w's bytes must stay as they are until the copy ran). Throws std::invalid_argument for a
  // weight of another format, column count or scale layout.
  void Fill(const WeightRows& w, CudaStream& stream);
};

// The kernels' view of a weight on the device (device_math.h): its kind, bytes and scales.
WeightView ViewOf(const DeviceWeight& w);

// y[t * y_stride + o] = dot(W[o, :], x[t * x_stride, ...]) for t < x_rows, o < w.rows; each
// row's outputs are the bits it has alone. Several rows (x_rows > 1) take the kernel
// RowsKernelChoice() names.
void MatVec(const DeviceWeight& w, const float* x, int64_t x_rows, int64_t x_stride, float* y,
            int64_t y_stride, bool round_bf16, CudaStream& stream);

// MatVec of one row's act_quant (FP8 per 128; w.cols a multiple of 128): the bits of ActQuant(x)
// then MatVec. Where the single-row tiled kernel takes the weight (a decode step's FP8/FP4/BF16
// product in `fast` numerics), each CTA quantises the activation it stages and x is left as it
// is: one launch fewer on the step's path (the attention's wo_b). Otherwise x is quantised in
// place first, so the caller must not read x afterwards either way.
void MatVecQuantizingInput(const DeviceWeight& w, float* x, float* y, bool round_bf16,
                           CudaStream& stream);

// MatVec of one row's RMSNorm (weight norm_w [w.cols], eps) in FP8 per 128: the bits of
// RmsNormQuant(x, 1, w.cols, norm_w, eps, ...) then MatVec on its FP8 copy. Where
// NormsAsItStages(w) (the single-row tiled kernel takes w in `fast` numerics and the fused steps
// are on, fused_steps.h) each CTA norms and quantises the row as it stages it and x is left as it
// is: one launch fewer on a decode step's path (the query's wq_b and the indexer's, both on the
// normed low-rank query). Otherwise x is normed and quantised in place first, so a caller with a
// second product on the same row runs RmsNormQuant once itself unless both weights take it.
// Throws CudaError unless w.cols is a multiple of 128.
bool NormsAsItStages(const DeviceWeight& w);
void MatVecOnRmsNorm(const DeviceWeight& w, float* x, const float* norm_w, float eps, float* y,
                     bool round_bf16, CudaStream& stream);

// The kernel MatVec / MatVecRows / MatVecRowGroups over several activation rows, and the MoE
// over several rows (moe_step.h), take. DSAGENT_CUDA_MATVEC_ROWS (read once):
//   gemm (the default): the register-tiled kernel (matvec_gemm.cu, MatVecRowsGemm,
//     ExpertGemmMatVec): 32 weight rows by up to 8 activation rows per CTA, each weight value
//     decoded once for all of them, so a product costs one fma rather than a decode each;
//   by-input: the single-row tiled kernel once per row (MatVecRowsByInput, ExpertMatVec);
//   tensor: the tensor cores (matvec_tensor.cu: bf16 MMAs with fp32 sums per scale group) for
//     products over kTensorMinInputs (16) rows or more: a single weight's (MatVecRowsTensor) and
//     the routed experts' grouped slots of an MoE over that many rows (ExpertTensorMatVec);
//     fewer rows (a batched decode step) take gemm's kernel.
// gemm and by-input give the same bits (each row's decode-step bits); tensor gives the fast
// contract against the CPU instead (>= 99.9% of the bf16 outputs identical, the rest within 1
// ulp), so with it a prompt's rows no longer give the decode step's bits exactly.
// (A grouped kernel, matvec_tiled_rows.cu, read each weight byte once per 8 rows but decoded it
// per row: on the H200 it took 1.2-2x the time of by-input (docs/BENCHMARKS.md, 2026-12-04 run 4);
// removed in session 20.)
// SetRowsKernel overrides it for the process (the model benchmark times them); not to be changed
// while kernels are being queued from another thread.
enum class RowsKernel { kGemm, kByInput, kTensor };
RowsKernel RowsKernelChoice();
void SetRowsKernel(RowsKernel kernel);
// How many work items each thread of the single-row tiled kernel (matvec_tiled.cu) loads before
// computing them: kTiledPrefetchItems (the default: more weight bytes in flight per thread; 2 for
// BF16 weights, whose items are twice as large), or 1
// (one load's latency per item, the kernel measured in runs 2-4) with
// DSAGENT_CUDA_TILED_PREFETCH=1. The same bits either way. SetTiledPrefetch overrides it for the
// process (the matvec benchmark times both); not to be changed while kernels are being queued
// from another thread.
constexpr int kTiledPrefetchItems = 4;
int TiledPrefetch();
void SetTiledPrefetch(int items);
// How many weight rows a CTA of the single-row tiled kernel takes. By default (since session 22)
// as many as one round of those loads covers (256 threads x the items each loads at once), so a
// CTA waits for its weight bytes once and an SM holds several such CTAs; halved while the grid
// has fewer than two CTAs per SM, down to 4 rows or one item a thread. With
// DSAGENT_CUDA_TILED_TILES=budget, the rule of sessions 17-21: as many rows as the CTA's 64 KB of
// block sums hold (V4-Flash's wq_b: 112 rows, two rounds of loads a thread, 293 CTAs: 1.1 waves of
// two a SM), down to 16. The same bits either way. SetTiledBudgetTiles overrides it for the process
// (the matvec benchmark times both); not to be changed while kernels are being queued from another
// thread.
bool TiledBudgetTiles();
void SetTiledBudgetTiles(bool on);
// MatVec over rows [row_begin, row_begin + rows) of w only: y[t * y_stride + i] = dot(W[row_begin
// + i, :], x_t) (forward::LinearArgs out_begin / out_rows: the grouped wo_a, whose groups may
// start inside an FP8 scale block).
void MatVecRows(const DeviceWeight& w, int64_t row_begin, int64_t rows, const float* x,
                int64_t x_rows, int64_t x_stride, float* y, int64_t y_stride, bool round_bf16,
                CudaStream& stream);

// MatVecRows over `groups` consecutive row ranges of `group_rows` rows, each with its own slice of
// x and of y: for g < groups, t < x_rows, i < group_rows,
//   y[g * y_group_stride + t * y_stride + i] = dot(W[g * group_rows + i, :],
//                                                  x[g * x_group_stride + t * x_stride, ...]).
// The attention's grouped wo_a (each head group's output through its own rows) in one launch
// (grid z over the groups: the single-row tiled kernel, or the register-tiled one for several
// rows) rather than one per group: more CTAs at once, the same bits as MatVecRows per group,
// which it falls back to where neither kernel takes the weight.
void MatVecRowGroups(const DeviceWeight& w, int64_t groups, int64_t group_rows, const float* x,
                     int64_t x_rows, int64_t x_stride, int64_t x_group_stride, float* y,
                     int64_t y_stride, int64_t y_group_stride, bool round_bf16, CudaStream& stream);
// MatVecRowGroups whose output rows (the groups side by side: y_group_stride = group_rows) are
// then act_quant'd in FP8 blocks of 128 (ActQuant(y, x_rows, groups * group_rows, 128, kFp8) for
// y_stride = groups * group_rows: the attention's z before wo_b), with those two ops' bits. Where
// the register-tiled kernel takes the product, group_rows is a multiple of its 32-row tiles and
// the fused steps are on, in the same launch: the last of a 128-column block's CTAs to finish
// quantises it for its input tile (last_cta.cuh); `arrivals`: device memory of
// QuantizedRowGroupsArrivalsBytes(groups, group_rows, x_rows) bytes, zero before the first call
// and left zero by each, one call at a time. Otherwise ActQuant after it.
void MatVecRowGroupsQuantized(const DeviceWeight& w, int64_t groups, int64_t group_rows,
                              const float* x, int64_t x_rows, int64_t x_stride,
                              int64_t x_group_stride, float* y, bool round_bf16, unsigned* arrivals,
                              CudaStream& stream);
int64_t QuantizedRowGroupsArrivalsBytes(int64_t groups, int64_t group_rows, int64_t x_rows);

// MatVec over x_rows rows (y [x_rows, w.rows], round_bf16) then RmsNormQuant on its output (each
// row RMS-normed in place with norm_w and eps, its FP8 act_quant per 128 to y_fp8 [x_rows,
// w.rows]: the attention's qr before wq_b), with those two ops' bits. Where the register-tiled
// kernel takes the product (several rows, RowsKernelChoice, `fast` numerics, w.rows a multiple of
// 128) and the fused steps are on, in the same launch: the last of an input tile's CTAs to finish
// norms and quantises its rows (last_cta.cuh); `arrivals`: device memory of
// MatVecRmsNormQuantArrivalsBytes(x_rows) bytes, zero before the first call and left zero by
// each, one call at a time. Otherwise RmsNormQuant after it. Returns whether it was one launch.
// Throws CudaError, queuing nothing, when w.rows is not a multiple of 128.
bool MatVecRmsNormQuant(const DeviceWeight& w, const float* x, int64_t x_rows, int64_t x_stride,
                        float* y, bool round_bf16, const float* norm_w, float eps, float* y_fp8,
                        unsigned* arrivals, CudaStream& stream);
int64_t MatVecRmsNormQuantArrivalsBytes(int64_t x_rows);

// Two weights of one format and shape on the same rows (the shared expert's w1 and w3): ya =
// MatVec(a, x), yb = MatVec(b, x) over x_rows rows (x [x_rows, a.cols], ya and yb [x_rows,
// a.rows]), in one launch where the register-tiled kernel takes them (RowsKernelChoice, several
// rows, `fast` numerics), else as two MatVecs; the same bits. With swiglu_arrivals (and a.rows a
// multiple of 128, the fused steps on), ya's rows then hold SwiGluQuant(ya, yb, x_rows, a.rows,
// unweighted, no clamp)'s output, its bits, by the launch's last CTAs of each 128-column block:
// device memory of MatVecPairSwiGluArrivalsBytes(x_rows, a.rows) bytes, zero before the first
// call and left zero by each, one call at a time. Returns whether it did (else the caller runs
// SwiGluQuant).
bool MatVecRowsPair(const DeviceWeight& a, const DeviceWeight& b, const float* x, int64_t x_rows,
                    float* ya, float* yb, bool round_bf16, unsigned* swiglu_arrivals,
                    CudaStream& stream);
int64_t MatVecPairSwiGluArrivalsBytes(int64_t x_rows, int64_t rows);

// MatVecRows through the given kernel for several rows, whatever RowsKernelChoice() says (the
// single-row tiled kernel once per row; the register-tiled one, matvec_gemm.cu). The same bits;
// the device test and the matvec benchmark compare them.
void MatVecRowsByInput(const DeviceWeight& w, int64_t row_begin, int64_t rows, const float* x,
                       int64_t x_rows, int64_t x_stride, float* y, int64_t y_stride,
                       bool round_bf16, CudaStream& stream);
void MatVecRowsGemm(const DeviceWeight& w, int64_t row_begin, int64_t rows, const float* x,
                    int64_t x_rows, int64_t x_stride, float* y, int64_t y_stride, bool round_bf16,
                    CudaStream& stream);
// The tensor cores where they take the product (TensorMatVecTakes, matvec_tensor.h), else
// MatVecRowsGemm: the fast contract against the CPU rather than those bits.
void MatVecRowsTensor(const DeviceWeight& w, int64_t row_begin, int64_t rows, const float* x,
                      int64_t x_rows, int64_t x_stride, float* y, int64_t y_stride, bool round_bf16,
                      CudaStream& stream);

// MatVecRows by the 16-lanes-per-row kernel (matvec_lanes.cuh) whatever the weight: what MatVec
// runs where the tiled kernel does not take the weight (F32, odd widths). The same bits; the
// matvec benchmark times the two against each other.
void MatVecRowsByLanes(const DeviceWeight& w, int64_t row_begin, int64_t rows, const float* x,
                       int64_t x_rows, int64_t x_stride, float* y, int64_t y_stride,
                       bool round_bf16, CudaStream& stream);

// The `exact` numerics' product (kernels/cpu/weight_dot.h WeightRowDots, forward::Compute::Exact):
// products in double (exact), summed in double by a CTA per output (device_math.h
// RowDotF64ByCta), rounded once to float (or bf16). For the small fp32-output products that feed
// a discrete step in both modes (the router's gate, the mHC fn, the compressors' wkv/wgate), and
// every product of a weight marked `exact`. Same arguments as MatVec.
void MatVecExact(const DeviceWeight& w, const float* x, int64_t x_rows, int64_t x_stride, float* y,
                 int64_t y_stride, bool round_bf16, CudaStream& stream);

// MatVecExact of two weights with the same columns on the same rows of x, a's outputs into ya and
// b's into yb (both y_stride apart per row), in one launch: the compressors' wkv and wgate, one
// kernel fewer on a compressor's chain. The bits of the two calls, which it makes instead with
// the fused steps off (fused_steps.h). Throws CudaError when the columns differ.
void MatVecExactPair(const DeviceWeight& a, const DeviceWeight& b, const float* x, int64_t x_rows,
                     int64_t x_stride, float* ya, float* yb, int64_t y_stride, bool round_bf16,
                     CudaStream& stream);

// Same-shaped weights (the routed experts' w1, w2 or w3) and a device array of their views, for
// ExpertMatVec to pick one per slot by id. With expert offload only the first `on_device` are
// uploaded; the others' views have no data, and ExpertMatVec leaves their slots alone.
struct DeviceWeightSet {
  std::vector<DeviceWeight> weights;  // the first on_device of them
  DeviceBuffer views;                 // [all of them] device_math.h WeightView
  WeightFormat format = WeightFormat::kBF16;
  int64_t rows = 0, cols = 0, on_device = 0;
  bool exact = false;  // the experts' products in the exact numerics (DeviceWeight::exact)

  // Uploads `rows` rows of each of the first `on_device` weights (-1: all; one format and column
  // count for all of them). Throws std::invalid_argument when they differ or on_device is past
  // their count, CudaError for the device.
  static DeviceWeightSet Upload(const std::vector<WeightRows>& weights, int64_t rows,
                                CudaStream& stream, int64_t on_device = -1);
};

// A set of routed experts as the expert kernels see it: a device array of one WeightView per
// expert (a view without data: not on the device, skipped) and the experts' common shape. A
// DeviceWeightSet's own (Views), or an ExpertStreamPool's table for one call.
struct ExpertSetViews {
  const WeightView* views = nullptr;
  WeightFormat format = WeightFormat::kBF16;
  int64_t rows = 0, cols = 0;
  bool exact = false;  // the set's (DeviceWeightSet::exact)
};
ExpertSetViews Views(const DeviceWeightSet& set);

// The view table of `set` with some experts' views pointing at other device weights (for each
// (e, weight) of `replacements`: expert e of the set, a weight of the set's format, rows and
// columns), uploaded into `table` on `stream` (reallocated when it has no room for the set's
// experts). Returns the table's views, valid until `table` is rewritten. What streamed experts
// run with (expert_stream.h). With only_replacements, every other expert's view is without data
// (skipped), the set's own on the device too. With `staging` (page-locked host memory with room
// for the set's views, untouched until the upload has run) the table is built there, so the
// upload is queued without waiting for the stream's earlier work, as a pageable source may. Throws
// std::invalid_argument for an expert out of range or a weight of another shape.
ExpertSetViews UploadExpertTable(
    const DeviceWeightSet& set,
    const std::vector<std::pair<int32_t, const DeviceWeight*>>& replacements, DeviceBuffer& table,
    CudaStream& stream, bool only_replacements = false, WeightView* staging = nullptr);

// MatVec with the weight picked per slot on the device: for s < slots, y + s * y_stride = the
// weight set.weights[ids[s]] times x + s * x_stride (x_stride 0: one input for every slot). The
// MoE's routed experts for one token without a host round trip (ids from MoeRoute). slots <=
// 65535; ids must be valid indices into the set. A slot whose weight is not on the device
// (DeviceWeightSet::on_device) is skipped: its y rows are not written.
void ExpertMatVec(const DeviceWeightSet& set, const int32_t* ids, int64_t slots, const float* x,
                  int64_t x_stride, float* y, int64_t y_stride, bool round_bf16,
                  CudaStream& stream);
void ExpertMatVec(const ExpertSetViews& set, const int32_t* ids, int64_t slots, const float* x,
                  int64_t x_stride, float* y, int64_t y_stride, bool round_bf16,
                  CudaStream& stream);

// The experts' down projection on their SwiGLU: ExpertMatVec(set, ids, slots, h, set.cols, y, ...)
// of h = SwiGluQuant(g, u, slots, set.cols, weights, limit), with those two ops' bits; g and u are
// [slots, set.cols] (w1's and w3's outputs), weights [slots] or null (unweighted). Where the
// single-row tiled kernel takes the set (a decode step in `fast` numerics), each CTA computes its
// slot's SwiGLU and FP8 copy as it stages its input, and g is left as it is: one launch fewer on
// the step's path. Otherwise SwiGluQuant writes h into g first, so the caller must not read g
// afterwards either way (and always the two ops with FusedStepsOn() false: fused_steps.h).
// MatVecOnSwiGlu: the same for one weight and one row (the shared expert).
void ExpertMatVecOnSwiGlu(const ExpertSetViews& set, const int32_t* ids, int64_t slots, float* g,
                          const float* u, const float* weights, float limit, float* y,
                          int64_t y_stride, bool round_bf16, CudaStream& stream);
void MatVecOnSwiGlu(const DeviceWeight& w, float* g, const float* u, float limit, float* y,
                    bool round_bf16, CudaStream& stream);

// The routed experts' slots of a call grouped by expert (expert_groups_math.h), for
// ExpertGemmMatVec: computed once per MoE call and shared by its w1, w3 and w2 products.
struct ExpertGroups {
  int64_t max_slots = 0;
  DeviceBuffer order, pieces, count;  // int32 [max_slots], ExpertPiece [max_slots], int32 [1]
  // Room for up to max_slots slots (<= kMaxGroupedSlots). Throws CudaError.
  static ExpertGroups Create(int64_t max_slots);
};
// Groups ids [slots] (device; slots <= groups.max_slots), queued on `stream`.
void GroupExpertSlots(const int32_t* ids, int64_t slots, ExpertGroups& groups, CudaStream& stream);

// ExpertMatVec through the grouping and the register-tiled kernel (matvec_gemm.cu): CTA (piece,
// 32 weight rows), each expert value decoded once per piece of up to 8 of its slots instead of
// once per slot. The same arguments and bits as ExpertMatVec (x_stride > 0: each slot its own
// input); `ids` are the ids the groups were made from (for weights the kernel does not take, which
// go to ExpertMatVec).
void ExpertGemmMatVec(const DeviceWeightSet& set, const ExpertGroups& groups, const int32_t* ids,
                      int64_t slots, const float* x, int64_t x_stride, float* y, int64_t y_stride,
                      bool round_bf16, CudaStream& stream);
void ExpertGemmMatVec(const ExpertSetViews& set, const ExpertGroups& groups, const int32_t* ids,
                      int64_t slots, const float* x, int64_t x_stride, float* y, int64_t y_stride,
                      bool round_bf16, CudaStream& stream);
// The same through the tensor cores (matvec_tensor.h RunTensorExpertMatVec: CTA (piece, 64
// weight rows), a piece's slots padded to one m16 product): the fast contract against
// ExpertMatVec, not its bits. Weights the kernel does not take go to ExpertGemmMatVec. The MoE
// over a prompt's rows takes it with the tensor choice (RowsKernelChoice, moe_step.h).
void ExpertTensorMatVec(const ExpertSetViews& set, const ExpertGroups& groups, const int32_t* ids,
                        int64_t slots, const float* x, int64_t x_stride, float* y, int64_t y_stride,
                        bool round_bf16, CudaStream& stream);

// Two products of the grouped slots in one launch (the MoE's w1 and w3: two sets of one format
// and shape, `first` into y_first and `second` into y_second, rows y_stride apart), slot s
// reading row s / x_row_slots of x (the MoE passes its k: a token's k slots all read its FP8 row,
// which no longer needs copying per slot). ExpertGemmMatVec's kernel, or ExpertTensorMatVec's
// with `tensor` where that takes the sets: those calls' bits on x's rows repeated per slot. Only
// where ExpertGemmPairTakes says so (the register-tiled kernel takes both sets, fast numerics,
// slots within the grouping); throws CudaError otherwise.
//
// With `swiglu` (where the register-tiled kernel runs the pair, the sets' rows are a multiple of
// 128 and the fused steps are on), y_first's rows then hold SwiGluQuant(y_first, y_second,
// slots, rows, swiglu->weights, swiglu->limit)'s output, with its bits: the last of each
// 128-column block's CTAs quantises the block's SwiGLU (last_cta.cuh), so w2 follows at once;
// swiglu->arrivals: device memory of PairSwiGluArrivalsBytes(groups.max_slots, rows), zero
// before the first call and left zero by each, one call at a time. Returns whether it did (else
// the caller runs SwiGluQuant).
struct PairSwiGlu {
  unsigned* arrivals = nullptr;
  const float* weights = nullptr;  // [slots], or null: unweighted
  float limit = 0.0f;
};
bool ExpertGemmPairTakes(const ExpertSetViews& first, const ExpertSetViews& second,
                         const ExpertGroups& groups, int64_t slots);
bool ExpertGemmMatVecPair(const ExpertSetViews& first, const ExpertSetViews& second,
                          const ExpertGroups& groups, int64_t slots, const float* x,
                          int64_t x_stride, int64_t x_row_slots, float* y_first, float* y_second,
                          int64_t y_stride, bool round_bf16, bool tensor, CudaStream& stream,
                          const PairSwiGlu* swiglu = nullptr);
int64_t PairSwiGluArrivalsBytes(int64_t max_slots, int64_t rows);

// h [hc, cols] = the embedding row of *token (device int32; must be a valid row) in every
// stream, dequantised like forward::WeightMatrix::DequantRow.
void EmbedToStreams(const DeviceWeight& embed, const int32_t* token, int64_t hc, float* h,
                    CudaStream& stream);
// The same for `rows` tokens in one launch: row t's streams at h + t * hc * cols.
void EmbedRowsToStreams(const DeviceWeight& embed, const int32_t* tokens, int64_t rows, int64_t hc,
                        float* h, CudaStream& stream);

enum class ActQuantFormat { kFp8, kFp4 };
// In place on `rows` rows of n values: each block of `block` values (n % block == 0) becomes its
// quantised-dequantised value (FP8 e4m3 or FP4 e2m1 with a power-of-two scale).
void ActQuant(float* x, int64_t rows, int64_t n, int64_t block, ActQuantFormat format,
              CudaStream& stream);
// ActQuant out of place: y [rows, n] = the quantised-dequantised x [rows, n] (y may be x), in one
// launch where a copy then ActQuant took two (the FP8 input of a product whose activation is
// still needed as it is).
void ActQuantTo(const float* x, float* y, int64_t rows, int64_t n, int64_t block,
                ActQuantFormat format, CudaStream& stream);
// ActQuant on the first n values of `rows` rows `stride` apart (stride >= n; the rest of each row
// untouched): one launch where a loop of one-row calls took one each.
void ActQuantRows(float* x, int64_t rows, int64_t n, int64_t stride, int64_t block,
                  ActQuantFormat format, CudaStream& stream);

// y = bf16(w * (x * rsqrt(mean(x^2) + eps))) per row of n values; in place is fine.
void RmsNorm(const float* x, int64_t rows, int64_t n, const float* w, float eps, float* y,
             CudaStream& stream);

// RmsNorm, then ActQuantTo(y, y_fp8, rows, n, 128, kFp8) in the same launch (n % 128 == 0): a
// normed row that is both read as it is and quantised for a product (the query's q_norm output:
// the indexer reads it, wq_b takes its FP8 copy), the two ops' bits.
void RmsNormQuant(const float* x, int64_t rows, int64_t n, const float* w, float eps, float* y,
                  float* y_fp8, CudaStream& stream);

// Rotates the last rope_dims values of `count` vectors of `width` values, `stride` apart, by
// position `pos` (inverse: -pos). freqs: rope_dims/2 floats on the device.
void RopeRotate(float* x, int64_t count, int64_t stride, int64_t width, int64_t rope_dims,
                const float* freqs, int64_t pos, bool inverse, CudaStream& stream);

// RopeRotate over `rows` rows of per_row vectors each (vector v of row t at x + (t * per_row + v)
// * stride), row t at position positions[t] (device int32 [rows]): the same rotation per vector.
void RopeRotateRows(float* x, int64_t rows, int64_t per_row, int64_t stride, int64_t width,
                    int64_t rope_dims, const float* freqs, const int32_t* positions, bool inverse,
                    CudaStream& stream);

// out [rows * times, n]: each row of x [rows, n] `times` times in a row (a token's input for each
// of its routed-expert slots).
void RepeatRows(const float* x, int64_t rows, int64_t n, int64_t times, float* out,
                CudaStream& stream);

// dst's row index[j] = src's row j for j < n, rows of `width` floats (the expert offload's host
// rows, uploaded packed in one copy, into their slots of a prompt chunk's routed outputs, where a
// copy per row cost one small transfer each). The indices distinct, within dst.
void ScatterRows(const float* src, const int32_t* index, int64_t n, int64_t width, float* dst,
                 CudaStream& stream);

// out[i] = the bf16 bits of x[i] (round to nearest even) for i < n: how KV rows and compressed
// entries are stored in the cache.
void StoreBf16Bits(const float* x, int64_t n, uint16_t* out, CudaStream& stream);

// out[t, i] = bf16(row_weight[t] * silu(g) * u) with the clamp when limit > 0; row_weight may be
// null (weight 1). g, u, out: [rows, inter]; out may alias g.
void SwiGlu(const float* g, const float* u, int64_t rows, int64_t inter, const float* row_weight,
            float limit, float* out, CudaStream& stream);

// SwiGlu, then ActQuantTo in FP8 blocks of 128, in one launch: out = the SwiGLU output quantised
// and dequantised, the two ops' bits (the expert products' input; the unquantised output is not
// kept). inter % 128 == 0 (CudaError otherwise); out may alias g or u.
void SwiGluQuant(const float* g, const float* u, int64_t rows, int64_t inter,
                 const float* row_weight, float limit, float* out, CudaStream& stream);

}  // namespace dsagent::engine::kernels::cuda
