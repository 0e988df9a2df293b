#include "engine/kernels/cpu_isa.h"

#include <cstdlib>

#include "common/name_table.h"

namespace dsagent::engine::kernels {
namespace {
// The names DSAGENT_CPU_ISA takes and benchmarks print.
constexpr EnumName<CpuIsa> kCpuIsaNames[] = {
    {CpuIsa::kScalar, "scalar"}, {CpuIsa::kAvx2, "avx2"}, {CpuIsa::kAvx512, "avx512"}};
}  // namespace

bool CpuSupports(CpuIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  switch (isa) {
    case CpuIsa::kScalar:
      return true;
    case CpuIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c");
    case CpuIsa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  }
  return false;
#else
  return isa == CpuIsa::kScalar;
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
