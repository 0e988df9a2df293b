#include <cuda_runtime.h>

#include <cstdio>
#include <mutex>
#include <string>

#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/kernel_launch.cuh"
#include "engine/kernels/cuda/kernel_launch.h"

namespace dsagent::engine::kernels::cuda {
namespace {

EnvSwitch plain_launches("DSAGENT_CUDA_PDL", "off");

__global__ void ProbeKernel(int* count) {
  AwaitPreviousKernel();
  if (threadIdx.x == 0) *count += 1;
}

// Two programmatic launches on a stream of the probe's own, then the same two captured into a
// graph and run: "" when every step worked and the count is 4, else what failed.
std::string ProbeProgrammaticLaunch() {
  cudaStream_t s = nullptr;
  int* count = nullptr;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  std::string failed;
  auto step = [&](cudaError_t e, const char* what) {
    if (failed.empty() && e != cudaSuccess) {
      failed = std::string(what) + ": " + cudaGetErrorString(e);
    }
    return failed.empty();
  };
  auto launch = [&] {
    LaunchKernel(ProbeKernel, "ProbeKernel", 1, 32, 0, s, count);
    return cudaGetLastError();
  };
  int host = 0;
  if (step(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate") &&
      step(cudaMalloc(&count, sizeof(int)), "cudaMalloc") &&
      step(cudaMemsetAsync(count, 0, sizeof(int), s), "cudaMemsetAsync") &&
      step(launch(), "launch") && step(launch(), "launch") &&
      step(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "capture") &&
      step(launch(), "captured launch") && step(launch(), "captured launch") &&
      step(cudaStreamEndCapture(s, &graph), "capture") &&
      step(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate") &&
      step(cudaGraphLaunch(exec, s), "cudaGraphLaunch") &&
      step(cudaMemcpyAsync(&host, count, sizeof(int), cudaMemcpyDeviceToHost, s), "copy") &&
      step(cudaStreamSynchronize(s), "cudaStreamSynchronize") && host != 4) {
    failed = "the kernels ran " + std::to_string(host) + " times of 4";
  }
  if (exec != nullptr) cudaGraphExecDestroy(exec);
  if (graph != nullptr) cudaGraphDestroy(graph);
  if (count != nullptr) cudaFree(count);
  if (s != nullptr) cudaStreamDestroy(s);
  cudaGetLastError();  // nothing of the probe's stays the caller's last error
  return failed;
}

}  // namespace

bool ProgrammaticLaunchOn() { return !plain_launches.On(); }

void SetProgrammaticLaunch(bool on) { plain_launches.Set(!on); }

void CheckProgrammaticLaunch() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!ProgrammaticLaunchOn()) return;
    const std::string failed = ProbeProgrammaticLaunch();
    if (failed.empty()) return;
    SetProgrammaticLaunch(false);
    std::fprintf(stderr,
                 "dsagent: CUDA programmatic dependent launch does not work here (%s); kernels "
                 "launch plainly (DSAGENT_CUDA_PDL=off says so from the start)\n",
                 failed.c_str());
  });
}

}  // namespace dsagent::engine::kernels::cuda
