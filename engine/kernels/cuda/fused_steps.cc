#include "engine/kernels/cuda/fused_steps.h"

#include "engine/kernels/cuda/device_runtime.h"

namespace dsagent::engine::kernels::cuda {
namespace {

EnvSwitch separate_steps("DSAGENT_CUDA_FUSED_STEPS", "off");

}  // namespace

bool FusedStepsOn() { return !separate_steps.On(); }

void SetFusedSteps(bool on) { separate_steps.Set(!on); }

}  // namespace dsagent::engine::kernels::cuda
