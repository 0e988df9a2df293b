#include "engine/kernels/workspace.h"

#include <algorithm>

namespace dsagent::engine::kernels {

void* Workspace::Bytes(int slot, size_t bytes) {
  if (slots_.size() <= static_cast<size_t>(slot)) slots_.resize(static_cast<size_t>(slot) + 1);
  Buffer& b = slots_[static_cast<size_t>(slot)];
  if (b.bytes < bytes) {
    // At least doubled: a slot whose size follows the context (the indexer's scores and top-k
    // order, one more entry every few tokens) then reallocates O(log n) times, not every few
    // decode steps.
    const size_t grown = std::max(bytes, 2 * b.bytes);
    // operator new[] of std::byte aligns only to __STDCPP_DEFAULT_NEW_ALIGNMENT__ (16); the
    // buffer is over-allocated by 64 and the pointer rounded up, so SIMD loads may be aligned.
    b.data = std::make_unique_for_overwrite<std::byte[]>(grown + 64);
    b.bytes = grown;
  }
  auto address = reinterpret_cast<uintptr_t>(b.data.get());
  return reinterpret_cast<void*>((address + 63) & ~static_cast<uintptr_t>(63));
}

size_t Workspace::capacity() const {
  size_t total = 0;
  for (const Buffer& b : slots_) total += b.bytes;
  return total;
}

void Workspace::Trim(size_t max_bytes) {
  for (Buffer& b : slots_) {
    if (b.bytes > max_bytes) b = Buffer{};
  }
}

Workspace& ThreadWorkspace() {
  thread_local Workspace workspace;
  return workspace;
}

}  // namespace dsagent::engine::kernels
