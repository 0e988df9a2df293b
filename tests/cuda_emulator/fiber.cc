#include "tests/cuda_emulator/fiber.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>

#include "tests/cuda_emulator/race_check.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define DSAGENT_EMU_ASAN 1
#endif

#if !defined(__x86_64__)
#error "the CUDA emulator's fiber switch is written for x86-64 (System V)"
#endif

// rdi = where to save this stack pointer, rsi = the stack pointer to continue.
asm(R"(
  .text
  .globl dsagent_emu_switch
  .type dsagent_emu_switch, @function
dsagent_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size dsagent_emu_switch, .-dsagent_emu_switch

  .globl dsagent_emu_fiber_start
  .type dsagent_emu_fiber_start, @function
dsagent_emu_fiber_start:
  movq %rbx, %rdi
  callq *%r12
  ud2
  .size dsagent_emu_fiber_start, .-dsagent_emu_fiber_start
  .section .note.GNU-stack,"",@progbits
  .text
)");

extern "C" void dsagent_emu_fiber_start();

namespace dsagent_emu {
namespace {

size_t PageBytes() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

}  // namespace

FiberStack::FiberStack(size_t bytes) {
  const size_t page = PageBytes();
  bytes_ = (bytes + page - 1) / page * page + page;
  void* base = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) throw std::bad_alloc();
  mprotect(base, page, PROT_NONE);
  base_ = static_cast<char*>(base);
  usable_ = base_ + page;
  usable_bytes_ = bytes_ - page;
}

FiberStack::~FiberStack() { munmap(base_, bytes_); }

void* FiberStack::Start(void (*entry)(void*), void* arg) {
#if defined(DSAGENT_EMU_ASAN)
  // A fiber abandoned mid-kernel (after a failed launch) left its frames' redzones poisoned.
  ASAN_UNPOISON_MEMORY_REGION(usable_, usable_bytes_);
#endif
  // What dsagent_emu_switch pops: r15, r14, r13, r12 (= entry), rbx (= arg), rbp, then the
  // return address (the start trampoline, which calls entry(rbx)). The return leaves the stack
  // 16-byte aligned, so the trampoline's call enters `entry` as the ABI expects.
  auto* top =
      reinterpret_cast<uint64_t*>(reinterpret_cast<uintptr_t>(base_ + bytes_) & ~uintptr_t{15});
  uint64_t* sp = top - 9;
  sp[0] = 0;                                                     // r15
  sp[1] = 0;                                                     // r14
  sp[2] = 0;                                                     // r13
  sp[3] = reinterpret_cast<uint64_t>(entry);                     // r12
  sp[4] = reinterpret_cast<uint64_t>(arg);                       // rbx
  sp[5] = 0;                                                     // rbp
  sp[6] = reinterpret_cast<uint64_t>(&dsagent_emu_fiber_start);  // return address
  sp[7] = 0;
  sp[8] = 0;
  return sp;
}

void SwitchFiber(void** save_sp, void* load_sp, const void* bottom, size_t size, void* race_fiber) {
  race::SwitchTo(race_fiber);
#if defined(DSAGENT_EMU_ASAN)
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, bottom, size);
  dsagent_emu_switch(save_sp, load_sp);
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#else
  (void)bottom;
  (void)size;
  dsagent_emu_switch(save_sp, load_sp);
#endif
}

void ThreadStack(const void** bottom, size_t* size) {
  pthread_attr_t attr;
  void* addr = nullptr;
  *bottom = nullptr;
  *size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  if (pthread_attr_getstack(&attr, &addr, size) == 0) *bottom = addr;
  pthread_attr_destroy(&attr);
}

}  // namespace dsagent_emu
