#include "engine/kernels/cpu_isa.h"

#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "common/name_table.h"

namespace dsagent::engine::kernels {
namespace {
// The names DSAGENT_CPU_ISA takes and benchmarks print.
constexpr EnumName<CpuIsa> kCpuIsaNames[] = {
    {CpuIsa::kScalar, "scalar"}, {CpuIsa::kAvx2, "avx2"}, {CpuIsa::kAvx512, "avx512"}};
#if defined(__x86_64__) || defined(__i386__)
// CPUID leaf 1, ECX bit 29. Asked directly: clang's __builtin_cpu_supports does not know "f16c".
bool HasF16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}
#endif

}  // namespace

bool CpuSupports(CpuIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  switch (isa) {
    case CpuIsa::kScalar:
      return true;
    case CpuIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && HasF16c();
    case CpuIsa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  }
  return false;
#else
  return isa == CpuIsa::kScalar;
#endif
}

bool CpuHasAvx512Bf16() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = CpuSupports(CpuIsa::kAvx512) && __builtin_cpu_supports("avx512bf16") &&
                          __builtin_cpu_supports("avx512vbmi");
  return has;
#else
  return false;
#endif
}

CpuIsa BestCpuIsa() {
  if (CpuSupports(CpuIsa::kAvx512)) return CpuIsa::kAvx512;
  if (CpuSupports(CpuIsa::kAvx2)) return CpuIsa::kAvx2;
  return CpuIsa::kScalar;
}

CpuIsa ActiveCpuIsa() {
  static const CpuIsa active = [] {
    const char* name = std::getenv("DSAGENT_CPU_ISA");
    if (name != nullptr) {
      if (auto isa = ParseCpuIsa(name); isa && CpuSupports(*isa)) return *isa;
    }
    return BestCpuIsa();
  }();
  return active;
}

std::string_view CpuIsaName(CpuIsa isa) { return NameOf(kCpuIsaNames, isa); }

std::optional<CpuIsa> ParseCpuIsa(std::string_view name) { return ValueNamed(kCpuIsaNames, name); }

}  // namespace dsagent::engine::kernels
