// Workspace: scratch buffers reused across calls, so that an op on the hot path allocates only
// the first time it sees a size. Buffers are numbered slots; Get<T>(slot, n) returns room for n
// values of T in that slot, growing it when needed (to at least twice its size, so a slot that
// follows the context grows O(log n) times) and never shrinking it (but see Trim). The contents are
// not kept across a Get that grows the slot, and not initialised.
//
// Thread-safety: none; one Workspace per thread. ThreadWorkspace() is the calling thread's, which
// the CPU backend's ops use (an op and the ops it calls must use different slots).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace dsagent::engine::kernels {

class Workspace {
 public:
  template <class T>
  T* Get(int slot, int64_t n) {
    return static_cast<T*>(Bytes(slot, static_cast<size_t>(n) * sizeof(T)));
  }
  // Bytes held over all slots.
  size_t capacity() const;
  // Frees every slot holding more than `max_bytes`, so that one large call (a long prefill) does
  // not keep its buffers for the rest of the thread's life; decode-sized slots stay.
  void Trim(size_t max_bytes);

 private:
  // `bytes` bytes in `slot`, aligned to 64.
  void* Bytes(int slot, size_t bytes);

  struct Buffer {
    std::unique_ptr<std::byte[]> data;
    size_t bytes = 0;
  };
  std::vector<Buffer> slots_;
};

// The calling thread's workspace (thread_local).
Workspace& ThreadWorkspace();

// The calling thread's workspace for one user's slot numbers: `Slots` is that user's own slot
// enum (in its anonymous namespace), so users numbering their slots independently never share a
// buffer. The forward pass's files each keep theirs between calls: a decode step allocates
// nothing once warm.
template <class Slots>
Workspace& ThreadWorkspaceFor() {
  thread_local Workspace ws;
  return ws;
}

// What a forward-pass workspace keeps after a call (Trim): a decode step's buffers stay; a long
// prefill's larger ones are freed, so one large call does not hold its activations for the
// thread's life.
inline constexpr size_t kWorkspaceKeepBytes = size_t{4} << 20;

}  // namespace dsagent::engine::kernels
