// The MTP block's one elementwise step of its own, `__host__ __device__` so the device-free tests
// run it against the CPU's (cpu/elementwise_ops.h AddBroadcastBf16: the embedding projection added
// to every hc stream, rounded to bf16) in tests/engine/kernels/cuda_mtp_math_test.cc.
#pragma once

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

// One value of a stream after the embedding projection `e` is added to it (the fp32 sum, bf16).
DSAGENT_HD float AddRoundBf16(float e, float stream_value) { return RoundBf16(e + stream_value); }

}  // namespace dsagent::engine::kernels::cuda
