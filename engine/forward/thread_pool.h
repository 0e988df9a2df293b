// The forward pass's thread pool is the CPU backend's (kernels/cpu/thread_pool.h); this name keeps
// forward::ThreadPool for the code that builds a model or calls forward ops directly.
#pragma once

#include "engine/kernels/cpu/thread_pool.h"

namespace dsagent::engine::forward {

using kernels::cpu::ThreadPool;

}  // namespace dsagent::engine::forward
