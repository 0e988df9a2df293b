// What to page-lock for the expert offload, decided without a device: the routed experts kept in
// host memory live in the memory-mapped checkpoint (their stored bytes, never a copy), and the
// stream pool copies them to the device. From pageable memory the driver stages each copy through
// a bounce buffer; from page-locked (pinned) memory the copy is one DMA at the link's speed. So the
// experts' pages are registered with the driver in place (host_pinning.h), in as few calls as
// possible, and only when the host can spare the memory. Pure; tested in
// tests/engine/kernels/cuda_host_pin_plan_test.cc (no device).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace dsagent::engine::kernels::cuda {

// Bytes [begin, end) of host memory.
struct HostByteRange {
  uintptr_t begin = 0, end = 0;
  uintptr_t bytes() const { return end - begin; }
};

// The ranges to register for `ranges`: each widened to whole pages of `page` bytes (a power of
// two), sorted, and joined where they overlap or lie at most `join_gap` bytes apart (an expert's
// three weights and their scales sit side by side in a checkpoint; joining them makes one
// registration of many, and a gap costs at most `join_gap` bytes of other weights kept resident).
// Empty ranges are dropped.
inline std::vector<HostByteRange> PinRanges(std::vector<HostByteRange> ranges, uintptr_t page,
                                            uintptr_t join_gap) {
  std::vector<HostByteRange> pages;
  for (const HostByteRange& r : ranges) {
    if (r.end <= r.begin) continue;
    pages.push_back({r.begin & ~(page - 1), (r.end + page - 1) & ~(page - 1)});
  }
  std::sort(pages.begin(), pages.end(),
            [](const HostByteRange& a, const HostByteRange& b) { return a.begin < b.begin; });
  std::vector<HostByteRange> joined;
  for (const HostByteRange& r : pages) {
    if (!joined.empty() && r.begin <= joined.back().end + join_gap) {
      joined.back().end = std::max(joined.back().end, r.end);
    } else {
      joined.push_back(r);
    }
  }
  return joined;
}

// Why `bytes` of experts should not be pinned on a host with `available` bytes of memory free
// for the taking (MemAvailable), or nullopt to pin them: pinned pages can neither be swapped nor
// dropped from the page cache, so pinning more than three quarters of what is available would
// starve the rest of the machine (and the CPU experts' own working memory). The message says
// what to do instead.
inline std::optional<std::string> PinRefusal(int64_t bytes, int64_t available) {
  if (bytes <= 0) return std::nullopt;
  if (available <= 0) return "the host's available memory is unknown";
  if (bytes > available / 4 * 3) {
    const auto gib = [](int64_t b) {
      char text[32];
      std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(b) / (1LL << 30));
      return std::string(text);
    };
    return gib(bytes) + " of host experts is more than 3/4 of the " + gib(available) +
           " available: they stay pageable (a larger --gpu-memory keeps more on the device)";
  }
  return std::nullopt;
}

}  // namespace dsagent::engine::kernels::cuda
