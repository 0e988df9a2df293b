// The scalar number formats of the V4 reference live in kernels/number_formats.h (the backends
// compute with them); the forward pass uses them under its own namespace.
#pragma once

#include "engine/kernels/number_formats.h"

namespace dsagent::engine::forward {

using kernels::Bf16BitsToFloat;
using kernels::E8M0ToFloat;
using kernels::ExpF;
using kernels::FloatToBf16Bits;
using kernels::Fp4BlockScale;
using kernels::Fp4E2M1Nibble;
using kernels::Fp4E2M1ToFloat;
using kernels::Fp8BlockScale;
using kernels::Fp8E4M3Byte;
using kernels::Fp8E4M3ToFloat;
using kernels::kFp4Max;
using kernels::kFp8Max;
using kernels::Pow2Ceil;
using kernels::RoundBf16;
using kernels::RoundFp4E2M1;
using kernels::RoundFp8E4M3;
using kernels::RsqrtF;
using kernels::SigmoidF;
using kernels::SiluF;
using kernels::SoftplusF;
using kernels::SqrtF;

}  // namespace dsagent::engine::forward
