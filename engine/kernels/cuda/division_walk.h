// i / d and i % d for i = first, first + stride, first + 2 * stride, ...: the two divisions done
// once for the first index and once for the stride, then each step adds the stride's quotient
// and remainder with one carry.
//
// Why: a loop whose trip count the compiler does not know (a CTA's share of a tile, a block's
// copies) keeps a division in every iteration, and a 32-bit division by a runtime divisor is a
// ~20-instruction sequence in the SASS (IABS, I2F, MUFU.RCP, F2I and a dozen IMADs: see
// scripts/sass-count.sh), which the next address then waits for. A step here is 4 instructions.
// `__host__ __device__` like device_math.h, so the host tests run it.
#pragma once

#include "engine/kernels/cuda/device_math.h"

namespace dsagent::engine::kernels::cuda {

// The stride's quotient and remainder by the divisor (stride >= 0, divisor > 0).
struct DivisionStride {
  int quot = 0;
  int rem = 0;
  int divisor = 1;

  DSAGENT_HD static DivisionStride Of(int stride, int divisor) {
    return {stride / divisor, stride % divisor, divisor};
  }
};

// Where the walk is: i / d and i % d (i >= 0).
struct Division {
  int quot = 0;
  int rem = 0;

  DSAGENT_HD static Division Of(int i, int divisor) { return {i / divisor, i % divisor}; }
  // To i + stride.
  DSAGENT_HD void Next(const DivisionStride& stride) {
    quot += stride.quot;
    rem += stride.rem;
    if (rem >= stride.divisor) {
      rem -= stride.divisor;
      ++quot;
    }
  }
};

}  // namespace dsagent::engine::kernels::cuda
