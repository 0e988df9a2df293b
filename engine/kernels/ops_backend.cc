#include "engine/kernels/ops_backend.h"

#include "engine/kernels/cpu/cpu_ops.h"

namespace dsagent::engine::kernels {

Expected<std::unique_ptr<Ops>, std::string> MakeOps(OpsBackend backend, cpu::ThreadPool& pool) {
  switch (backend) {
    case OpsBackend::kCpu:
      return std::unique_ptr<Ops>(std::make_unique<cpu::CpuOps>(pool));
    case OpsBackend::kCuda:
      break;
  }
  return MakeUnexpected(std::string(
      "ops backend 'cuda' is not available: this build implements kernels::Ops on the CPU only "
      "(the CUDA kernels are not behind that interface yet); load the model with the 'cpu' "
      "backend (--device cpu)"));
}

}  // namespace dsagent::engine::kernels
