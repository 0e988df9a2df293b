// The CUDA emulator's runtime API header: the same declarations as its cuda_runtime.h.
#pragma once
#include <cuda_runtime.h>
