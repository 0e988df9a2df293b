// The CUDA emulator's profiler header: cudaProfilerStart/Stop (no-ops) are in its cuda_runtime.h.
#pragma once
#include <cuda_runtime.h>
