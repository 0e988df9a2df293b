// The CUDA emulator's race check: what it tells ThreadSanitizer in a build with
// -DDSAGENT_SANITIZE=thread (scripts/sanitize.sh racecheck; tests/cuda_emulator/README.md), and
// nothing in any other build.
//
// ThreadSanitizer sees every CUDA thread as a thread of its own (a fiber context each, switched
// without any ordering of its own), and orders two of them only where CUDA does: a block's barrier
// (`__syncthreads`), a warp's `__syncwarp`, the end of a kernel before the next, a programmatic
// launch's wait, and `__threadfence` with the atomics after it. So a shared-memory read of what
// another thread of the block wrote with no barrier between, a read across lanes that only a
// shuffle separates (shuffles move registers, not memory), or two blocks writing one word is a
// data race in its report, with the kernel's frames, even where the emulator's one order of the
// threads gives the right bits. Internal to the emulator (grid.cc, fiber.cc, runtime.cc); the
// grid runner and fibers are compiled without the instrumentation, so their own bookkeeping (which
// one OS thread does for every fiber of a block) is not taken for the kernels' accesses; CMake
// gives those files DSAGENT_EMU_RACE_CHECK instead (cmake/Cuda.cmake).
#pragma once

#if defined(__SANITIZE_THREAD__) || defined(DSAGENT_EMU_RACE_CHECK)
#define DSAGENT_EMU_RACE_CHECKING 1
#include <sanitizer/tsan_interface.h>
extern "C" void AnnotateIgnoreSyncBegin(const char* file, int line);
extern "C" void AnnotateIgnoreSyncEnd(const char* file, int line);
#endif

namespace dsagent_emu::race {

#if defined(DSAGENT_EMU_RACE_CHECKING)
inline constexpr bool kChecking = true;
// A new context for one CUDA thread's fiber (ordered after what the calling OS thread did).
inline void* NewFiber() { return __tsan_create_fiber(0); }
inline void DeleteFiber(void* fiber) { __tsan_destroy_fiber(fiber); }
// The running OS thread's (or fiber's) own context, to switch back to.
inline void* CurrentFiber() { return __tsan_get_current_fiber(); }
// Called just before switching stacks to the fiber whose context is `fiber`; orders nothing.
inline void SwitchTo(void* fiber) { __tsan_switch_to_fiber(fiber, __tsan_switch_to_fiber_no_sync); }
// What the caller did so far happens before what anyone does after an Acquire of `sync`.
inline void Release(const void* sync) { __tsan_release(const_cast<void*>(sync)); }
inline void Acquire(const void* sync) { __tsan_acquire(const_cast<void*>(sync)); }
// While one lives, the caller's locks order nothing (the runtime's own lock, taken inside a
// kernel, must not order the CUDA threads that take it).
struct IgnoreSync {
  IgnoreSync() { AnnotateIgnoreSyncBegin(__FILE__, __LINE__); }
  ~IgnoreSync() { AnnotateIgnoreSyncEnd(__FILE__, __LINE__); }
  IgnoreSync(const IgnoreSync&) = delete;
  IgnoreSync& operator=(const IgnoreSync&) = delete;
};
#else
inline constexpr bool kChecking = false;
inline void* NewFiber() { return nullptr; }
inline void DeleteFiber(void*) {}
inline void* CurrentFiber() { return nullptr; }
inline void SwitchTo(void*) {}
inline void Release(const void*) {}
inline void Acquire(const void*) {}
struct IgnoreSync {
  IgnoreSync() {}  // user-provided: a guard that does nothing is not an unused variable
};
#endif

}  // namespace dsagent_emu::race
