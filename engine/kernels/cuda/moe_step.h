// The MoE FFN's decode step on the device (forward/moe.h MoeForward for one token) with every
// routed expert in device memory: the exact gate product and the router (scored or hash), the
// chosen experts through ExpertMatVec (FP8 inputs, SwiGLU with the routing weight and clamp), the
// shared expert, and the combine, all queued on one stream without a host round trip. Composed of
// the kernels of ops.h and moe_ops.h; tested token by token against the CPU MoeForward in
// tests/engine/kernels/cuda_forward_ops_test.cc (skips without a device).
//
// Expert offload (engine/model/placement_plan.h): with MoeOffload, only experts 0..on_device-1
// are uploaded; a token's slots routed to the others are computed on the host by
// MoeOffload::compute (the CPU kernels: forward::RoutedExpertsForward) while the device computes
// its own and the shared expert. The token's ids, routing weights and quantised input go to the
// host once (one small copy and a wait per layer), the host experts' output rows come back before
// the combine. Same bits as with every expert on the device: the CPU and CUDA expert kernels
// give the same bits (tests/engine/kernels/cuda_forward_ops_test.cc checks it end to end).
// Not thread-safe: one MoeDecode at a time per DeviceMoe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "engine/kernels/cpu/weight_dot.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/expert_stream.h"
#include "engine/kernels/cuda/moe_ops.h"
#include "engine/kernels/cuda/ops.h"
#include "engine/kernels/cuda/rows_scratch.h"
#include "engine/kernels/cuda/side_stream.h"

namespace dsagent::engine::kernels::cuda {

struct MoeShape {
  int64_t dim = 0, inter = 0;  // hidden size, moe_intermediate_size (multiples of 128)
  MoeRouteShape route;         // experts, k, score function, route_scale
  float swiglu_limit = 0;      // routed experts clamp when > 0; the shared expert never does
  bool hash = false;           // route by token id through the tid2eid table
};

// The host weights of one MoE layer, as stored.
struct MoeWeightRows {
  WeightRows gate;                  // [experts, dim]
  std::vector<float> bias;          // [experts], scored layers
  std::vector<int32_t> hash_table;  // [vocab, k] tid2eid as int32, hash layers
  std::vector<WeightRows> w1, w2,
      w3;  // per routed expert: [inter, dim], [dim, inter], [inter, dim]
  WeightRows shared_w1, shared_w2, shared_w3;
};

// The routed experts kept in host memory, computed there: out [n, dim] (bf16 values), row i =
// expert ids[i] with routing weight weights[i] on xq's row rows[i] (FP8-quantised inputs [*,
// dim]; rows null: row 0, a token's slots), each expert once over all its rows
// (forward::RoutedExpertsForward).
using HostExpertsFn = std::function<void(const float* xq, const int64_t* rows, const int32_t* ids,
                                         const float* weights, int64_t n, float* out)>;
struct MoeOffload {
  int64_t on_device = 0;  // experts 0..on_device-1 on the device
  HostExpertsFn compute;  // the others
  // MoeRows calls of at least stream_min_rows rows (0: none) stream the host experts their slots
  // chose into `stream` (expert_stream.h; at most its capacity; the rest are computed by
  // `compute`), then run them on the device: the placement planner's choice (placement_plan.h:
  // prefill chunks stream, decode steps and small batches compute on the CPU).
  std::shared_ptr<ExpertStreamPools> stream;
  int64_t stream_min_rows = 0;
};

struct DeviceMoe {
  MoeShape shape;
  int64_t on_device = 0;  // experts uploaded (all of them without offload)
  HostExpertsFn host_experts;
  // The offload's host side of a token: ids [k] int32, weights [k], xq [dim], out [k, dim].
  PinnedHostBuffer staged;
  std::unique_ptr<CudaEvent> staged_ready;
  // Streaming (MoeOffload::stream): the pools, the threshold, and the host experts' stored rows
  // to copy from (views into the loaded weights, which must outlive the DeviceMoe).
  std::shared_ptr<ExpertStreamPools> stream_pools;
  int64_t stream_min_rows = 0;
  std::vector<WeightRows> host_w1, host_w2, host_w3;
  // Where an offloaded token's host time goes, summed over MoeDecode / MoeRows calls (the
  // benchmarks read them): waiting for the router's copies, then computing the host experts;
  // with streaming, queueing the streamed experts' copies and how many were streamed; and the
  // slots the host computed.
  double offload_wait_seconds = 0, offload_host_seconds = 0, stream_queue_seconds = 0;
  int64_t streamed_experts = 0, offload_host_slots = 0;
  DeviceWeight gate, shared_w1, shared_w2, shared_w3;
  DeviceWeightSet w1, w2, w3;
  // MoeDecode's w1 and w3 in one launch: w1's views then w3's (2 x experts WeightViews), which
  // the router's paired ids (ids [k, 2k): ids + experts) index; empty when the two sets differ in
  // format or shape (two launches then).
  DeviceBuffer w13_views;
  DeviceBuffer bias, hash_table;
  // ids [2k] (the router's, then paired), g [2k, inter] (w1's rows, then w3's).
  DeviceBuffer x_quant, logits, ids, weights, g, routed, shared_g, shared_u, shared_out;
  // GateAndRoute's count of the gate's finished CTAs (moe_ops.h): zero between steps.
  DeviceBuffer route_arrivals;
  // MoeDecode's shared expert runs here (side_stream.h SideStreamsOn): forked from the step's
  // stream once its input is quantised, joined back before the combine.
  std::unique_ptr<SideStream> shared_side;

  // Uploads everything (with `offload`: all but the routed experts from offload->on_device on).
  // Throws std::invalid_argument for sizes that do not fit the shape or an offload without a
  // compute function, CudaError for the device.
  static DeviceMoe Create(const MoeShape& shape, const MoeWeightRows& w, CudaStream& stream,
                          const MoeOffload* offload = nullptr);
};

// One token: x [dim] (the ffn_norm output, bf16 values, device), token [1] its id (device; hash
// layers need it, scored layers ignore it) -> out [dim] (bf16 values, device). With side streams
// on (side_stream.h) the shared expert (its own buffers; it reads only the quantised input) runs
// on m.shared_side beside the router (one-CTA kernels) and the routed experts. The same kernels
// either way: the same bits. x_fp8_written: the caller has written x's FP8 act_quant (per 128) to
// MoeFp8Input(m), as HcPreNorm does with its y_fp8, so it is not computed here (one launch fewer).
// then_post: HcPost of out into the residual streams in the combine's launch (MoeCombine); with
// then_post_after, the combine first waits for the work queued on that side stream so far (its
// comb computed beside the MoE: block_step.cc). leave_combine: no combine at all (then_post and
// then_post_after unused); the step ends with every expert's output in place, and the launch
// that takes MoeCombineSourceOf(m, out) computes out (HcCombinePostFnPreNorm, mixing_ops.h).
void MoeDecode(DeviceMoe& m, const float* x, const int32_t* token, float* out, CudaStream& stream,
               bool x_fp8_written = false, const HcPostArgs* then_post = nullptr,
               SideStream* then_post_after = nullptr, bool leave_combine = false);

// What MoeDecode's combine reads (one token), with out where it writes: for a launch that
// combines them itself after MoeDecode(..., leave_combine).
MoeCombineSource MoeCombineSourceOf(DeviceMoe& m, float* out);

// Where MoeDecode reads x's FP8 copy from: [dim] floats of `m`'s own.
float* MoeFp8Input(DeviceMoe& m);

// MoeDecode over `rows` tokens (<= scratch.max_rows): x [rows, dim], tokens [rows] (device; hash
// layers) -> out [rows, dim]. With streaming (rows >= stream_min_rows and a pool), the host
// experts the slots chose go to the device first (the most-chosen ones, up to the pool's
// capacity and as many as the pools' measured costs make worth it: expert_stream_choice.h) and
// run with the device's; the same bits either way. The
// gate, the router, the shared expert and the combine run on all rows at once; the routed
// experts' rows * k slots are grouped by expert (in the router's launch: GateAndRoute's
// RouteGrouping) and run through ExpertGemmMatVec, each chosen expert read and decoded once per
// piece of up to 8 of its slots, w1 and w3 in one launch reading each token's FP8 row
// (ExpertGemmMatVecPair), or, with DSAGENT_CUDA_MATVEC_ROWS=by-input (RowsKernelChoice, ops.h),
// slot by slot through ExpertMatVec. With side streams on, the shared expert is forked before the
// router. With offload, the host experts of every row are computed
// after one wait for the routing of all rows. Every row's output is MoeDecode's bits for that
// token — unless DSAGENT_CUDA_MATVEC_ROWS=tensor and rows >= kTensorMinInputs, where the pieces
// run on the tensor cores (ExpertTensorMatVec) within the fast contract instead. x_fp8_written:
// scratch.x_quant holds x's FP8 act_quant (per 128) already, as HcPreNorm writes it with its y_fp8,
// so it is not computed here. leave_combine: MoeRows stops before the combine, every input of
// it (scratch.routed, shared_out, ids) written on `stream` (the shared expert's side joined),
// for the next block's first launch to combine (block_step.h BlockRows' combine_before).
// then_post: HcPost of out into the residual streams in the combine's launch (MoeCombine), as
// MoeDecode's (unused with leave_combine).
void MoeRows(DeviceMoe& m, const float* x, int64_t rows, const int32_t* tokens, DeviceRows& scratch,
             float* out, CudaStream& stream, bool x_fp8_written = false, bool leave_combine = false,
             const HcPostArgs* then_post = nullptr);

}  // namespace dsagent::engine::kernels::cuda
