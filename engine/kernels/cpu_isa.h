// Which x86-64 instruction set the CPU kernels run with, chosen once at start from CPUID: one
// binary runs on any x86-64 and uses what the CPU has.
#pragma once

#include <optional>
#include <string_view>

namespace dsagent::engine::kernels {

enum class CpuIsa {
  kScalar,  // portable C++: the reference every SIMD variant is tested against
  kAvx2,    // AVX2 + FMA + F16C
  kAvx512,  // AVX-512 F/BW/VL/DQ
};

// The best variant this CPU supports (CPUID via __builtin_cpu_supports).
CpuIsa BestCpuIsa();

// The variant the engine uses: BestCpuIsa(), unless the environment variable DSAGENT_CPU_ISA
// names another (scalar | avx2 | avx512) for benchmarks and comparisons; a name the CPU does not
// support, or an unknown one, falls back to BestCpuIsa(). Read once; thread-safe.
CpuIsa ActiveCpuIsa();

// Whether this CPU can run `isa`.
bool CpuSupports(CpuIsa isa);

// Whether this CPU also has AVX-512 BF16 and VBMI (vdpbf16ps, byte permutes): the `fast`
// numerics' pair kernels (cpu/weight_dot_f32.h) then run natively within the kAvx512 variant;
// without them that variant runs the AVX2 pair kernels, with the same bits. Read once.
bool CpuHasAvx512Bf16();

std::string_view CpuIsaName(CpuIsa isa);
std::optional<CpuIsa> ParseCpuIsa(std::string_view name);

}  // namespace dsagent::engine::kernels
