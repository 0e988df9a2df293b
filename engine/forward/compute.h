// Compute: what the forward pass computes with — the thread pool its weight products split work
// over, the numerics mode the model was loaded with (kernels/numerics_mode.h) and the backend whose
// ops compute everything between the products (kernels/ops.h). Passed down by reference from
// Model to every step; a plain view, valid while the pool and the backend live.
#pragma once

#include "engine/forward/thread_pool.h"
#include "engine/kernels/numerics_mode.h"
#include "engine/kernels/ops.h"

namespace dsagent::engine::forward {

struct Compute {
  ThreadPool& pool;
  kernels::Numerics numerics;
  const kernels::Ops& ops;

  // The same pool with exact numerics, for the small fp32-output products whose results feed a
  // discrete step (see numerics_mode.h): there an fp32 accumulation's last-bit changes would flip
  // FP8/FP4 roundings, top-k choices or Sinkhorn inputs far more often than the contract allows.
  Compute Exact() const { return Compute{pool, kernels::Numerics::kExact, ops}; }
};

}  // namespace dsagent::engine::forward
