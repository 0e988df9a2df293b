#include "engine/kernels/cuda/kernel_launch.h"

#include "engine/kernels/cuda/device_runtime.h"

namespace dsagent::engine::kernels::cuda {
namespace {

EnvSwitch plain_launches("DSAGENT_CUDA_PDL", "off");

}  // namespace

bool ProgrammaticLaunchOn() { return !plain_launches.On(); }

void SetProgrammaticLaunch(bool on) { plain_launches.Set(!on); }

}  // namespace dsagent::engine::kernels::cuda
