// Which kernels::Ops backend a model computes with, chosen at load (forward::ModelOptions::backend,
// EngineRuntimeOptions::backend), and the factory that makes it. `cpu` is the only backend this
// build has; `cuda` is named so that callers can ask for it and get a clear refusal until a CUDA
// implementation of Ops exists (the CUDA kernels run through kernels/cuda/device_decoder.h today).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/expected.h"
#include "common/name_table.h"
#include "engine/kernels/cpu/thread_pool.h"
#include "engine/kernels/ops.h"

namespace dsagent::engine::kernels {

enum class OpsBackend { kCpu, kCuda };

inline constexpr EnumName<OpsBackend> kOpsBackendNames[] = {{OpsBackend::kCpu, "cpu"},
                                                            {OpsBackend::kCuda, "cuda"}};
inline std::string_view OpsBackendName(OpsBackend b) { return NameOf(kOpsBackendNames, b); }
inline std::optional<OpsBackend> ParseOpsBackend(std::string_view name) {
  return ValueNamed(kOpsBackendNames, name);
}

// The backend's Ops. `pool` is the CPU backend's threads and must outlive the result. Error: a
// backend this build cannot make, saying which one to pass instead.
Expected<std::unique_ptr<Ops>, std::string> MakeOps(OpsBackend backend, cpu::ThreadPool& pool);

}  // namespace dsagent::engine::kernels
