// The CUDA emulator's fibers: a stack per CUDA thread and a switch between stacks (x86-64 System
// V).
//
// Boost.Context's switch also saves and restores the x87 and SSE control words, which took three
// quarters of its time and a third of the emulator's; kernels never change them, so this switch
// keeps only the callee-saved registers. Internal to the emulator (grid.cc).
#pragma once

#include <cstddef>

namespace dsagent_emu {

// A fiber's stack: mapped once, with an inaccessible page below it so that an overflow faults
// instead of writing over a neighbour.
class FiberStack {
 public:
  explicit FiberStack(size_t bytes);
  ~FiberStack();
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;

  // The stack pointer that starts `entry(arg)` on this stack when switched to (entry never
  // returns: it switches away for good instead). Calling it again starts afresh.
  void* Start(void (*entry)(void*), void* arg);

  // The usable stack (above the guard page), for AddressSanitizer's fiber annotations.
  const void* bottom() const { return usable_; }
  size_t size() const { return usable_bytes_; }

 private:
  char* base_ = nullptr;  // the mapping, guard page first
  size_t bytes_ = 0;
  char* usable_ = nullptr;
  size_t usable_bytes_ = 0;
};

// Switches from the running fiber (or OS thread stack) to the one at `load_sp`, whose stack is
// [bottom, bottom + size), telling AddressSanitizer when the build has it (else it would take the
// other stack's frames for overflows), and ThreadSanitizer which context runs now (`race_fiber`,
// race_check.h; nullptr in other builds). Returns when something switches back.
void SwitchFiber(void** save_sp, void* load_sp, const void* bottom, size_t size, void* race_fiber);

// The calling OS thread's own stack, for switching back to it.
void ThreadStack(const void** bottom, size_t* size);

}  // namespace dsagent_emu

// Saves the running fiber's registers on its stack and its stack pointer in *save_sp, then
// continues the fiber whose stack pointer is load_sp (saved by an earlier switch, or from Start).
extern "C" void dsagent_emu_switch(void** save_sp, void* load_sp);
