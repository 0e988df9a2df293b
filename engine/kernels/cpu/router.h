// The CPU kernel of the MoE router after the gate product (Ops::MoeRoute, kernels/ops.h; the CUDA
// kernel's twin: kernels/cuda/moe_ops.h MoeRoute).
//
// Thread-safety: a function over caller-owned memory; its scratch is the calling thread's
// Workspace (workspace_slots.h).
#pragma once

#include <cstdint>

#include "engine/kernels/op_shapes.h"

namespace dsagent::engine::kernels::cpu {

// scores [rows, experts] (the gate's fp32 products) become the routing scores in place: softmax
// (exp in double, rounded once), sigmoid or sqrt(softplus), each in double rounded to fp32. ids
// and weights [rows, k] get each row's experts and their weights: hash_ids [rows, k] (the tokens'
// tid2eid rows) when not null, else the top-k of fp32(score + bias) in descending order, ties to
// the lower expert (a stable sort's prefix; top_k_order.h). Weights are the chosen scores, divided
// by their sum (summed in double, rounded to fp32; not for softmax), times route_scale, in fp32.
void RouteFromScores(float* scores, int64_t rows, const RouterShape& shape, const float* bias,
                     const int32_t* hash_ids, int32_t* ids, float* weights);

// The hash router's ids: ids [rows, k] = rows tokens[t] of the tid2eid table [vocab, k] of int32
// or (int64_entries) int64 values < 2^31, narrowed to int32. The table may sit at any address
// (a mapped checkpoint's bytes): entries are read by memcpy.
void GatherHashIds(const void* table, bool int64_entries, int64_t k, const int32_t* tokens,
                   int64_t rows, int32_t* ids);

}  // namespace dsagent::engine::kernels::cpu
