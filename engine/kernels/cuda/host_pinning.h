// PinnedHostMemory: the offloaded experts' pages in the mapped checkpoint, page-locked in place
// (cudaHostRegister, read-only: the mapping is read-only), so that the stream pool's copies of
// them (expert_stream.h) run as direct DMA. What is pinned and why not the rest is kept for the
// placement report. Which pages: host_pin_plan.h.
//
// Pinning is an optimisation, never a requirement: where the host cannot spare the memory, the
// driver refuses (no read-only registration, a locked-memory limit, a mapping it cannot lock), or
// the caller turns it off, the experts stay pageable and every copy still works (staged).
//
// Not thread-safe. Unregisters on destruction, which must come before the mapping goes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/kernels/cuda/host_pin_plan.h"

namespace dsagent::engine::kernels::cuda {

class PinnedHostMemory {
 public:
  PinnedHostMemory() = default;
  ~PinnedHostMemory();
  PinnedHostMemory(PinnedHostMemory&& other) noexcept;
  PinnedHostMemory& operator=(PinnedHostMemory&& other) noexcept;
  PinnedHostMemory(const PinnedHostMemory&) = delete;
  PinnedHostMemory& operator=(const PinnedHostMemory&) = delete;

  // Pins the pages of `ranges` (PinRanges: whole pages, neighbours joined) on the current
  // device's driver when PinRefusal allows it for the host's MemAvailable. A joined range the
  // driver refuses is tried again piece by piece; pages another object registered first (a
  // second model on the same weights) count as pinned and stay that owner's. Never throws;
  // problem() says what stayed
  // pageable and why. `enabled` false: nothing is pinned, and problem() says it was turned off.
  static PinnedHostMemory Pin(const std::vector<HostByteRange>& ranges, bool enabled = true);

  int64_t wanted_bytes() const { return wanted_; }  // the pages asked for
  int64_t pinned_bytes() const { return pinned_; }  // of those, page-locked now
  const std::string& problem() const { return problem_; }
  // The page ranges registered now (whole pages, neighbours joined).
  const std::vector<HostByteRange>& registered() const { return registered_; }
  // "12.34 GiB of host experts pinned" / "... pageable: <problem>": the placement report's line.
  std::string Describe() const;

 private:
  void Release();

  std::vector<HostByteRange> registered_;
  int64_t wanted_ = 0, pinned_ = 0;
  std::string problem_;
};

// The host's MemAvailable from /proc/meminfo in bytes (0 where it cannot be read).
int64_t HostAvailableMemory();

}  // namespace dsagent::engine::kernels::cuda
