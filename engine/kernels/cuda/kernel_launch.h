// Whether the backend's kernels are launched as programmatic dependent launches (PDL, sm_90+):
// a kernel's blocks may then start while the kernel before it on the stream is still running,
// do what does not depend on it (a matrix-vector kernel's first weight loads), and wait for it
// there (kernel_launch.cuh). Plain C++, for the tests and benches that run both ways.
#pragma once

namespace dsagent::engine::kernels::cuda {

// Yes, unless the environment has DSAGENT_CUDA_PDL=off (each kernel then starts when the one
// before it has ended, as a plain launch does). The setter overrides it for the process; not to
// be changed while kernels are being queued from another thread.
bool ProgrammaticLaunchOn();
void SetProgrammaticLaunch(bool on);

// Once per process, on the first device made current (UseDevice): two programmatic launches, plain
// and captured into a graph; when either fails (a driver without the feature), launches are plain
// from then on and stderr says why. Throws nothing.
void CheckProgrammaticLaunch();

}  // namespace dsagent::engine::kernels::cuda
