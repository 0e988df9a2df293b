// The two numerics modes a model is loaded with (issue 16, section 3).
//
// kExact: the golden data's canonical convention bit for bit: products accumulated in double and
//   rounded once at the reference's rounding points (every golden test is bit-identical).
// kFast: matrix products accumulate in fp32 per 128-column block, as the upstream GPU kernels do
//   (cpu/weight_dot_f32.h defines the order). Every rounding point, act_quant, the FP8/FP4 KV
//   simulation and the stable top-k are unchanged. Contract against kExact, tested: per op >= 99.9%
//   of bf16 outputs identical and the rest within 1 ulp; end to end top-1 >= 99% and max |d logit|
//   <= 0.05 on every golden set; deterministic (the same bits whatever the thread count, chunking
//   or SIMD variant).
#pragma once

#include <optional>
#include <string_view>

#include "common/name_table.h"

namespace dsagent::engine::kernels {

enum class Numerics { kExact, kFast };

// The fast contract's revision: bumped whenever a change gives fast results other bits (2: the
// pair order of cpu/weight_dot_f32.h, vdpbf16ps's), so that states stored under an older contract
// are never restored into a model computing with this one (kv/model_identity.h).
inline constexpr int kFastContractRevision = 2;

// The names --numerics and providers.local.numerics take.
inline constexpr EnumName<Numerics> kNumericsNames[] = {{Numerics::kExact, "exact"},
                                                        {Numerics::kFast, "fast"}};

inline std::string_view NumericsName(Numerics n) { return NameOf(kNumericsNames, n); }

inline std::optional<Numerics> ParseNumerics(std::string_view name) {
  return ValueNamed(kNumericsNames, name);
}

}  // namespace dsagent::engine::kernels
