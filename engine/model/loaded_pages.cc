#include "engine/model/loaded_pages.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dsagent::engine {

std::vector<AddressRange> PagesOutside(uintptr_t begin, size_t size, std::vector<AddressRange> keep,
                                       size_t page) {
  const uintptr_t end = begin + ((size + page - 1) & ~(page - 1));
  std::sort(keep.begin(), keep.end(),
            [](const AddressRange& a, const AddressRange& b) { return a.begin < b.begin; });
  std::vector<AddressRange> out;
  uintptr_t at = begin;  // the first page not yet decided
  for (const AddressRange& k : keep) {
    if (k.end <= k.begin || k.end <= at || k.begin >= end) continue;
    // Pages before the kept range's first page are free; its pages are not.
    const uintptr_t first = std::max(at, k.begin & ~(page - 1));
    if (first > at) out.push_back({at, first});
    at = std::min(end, (k.end + page - 1) & ~(page - 1));
  }
  if (at < end) out.push_back({at, end});
  return out;
}

Expected<int64_t, std::string> MapRangesToFile(int fd, uintptr_t base,
                                               const std::vector<AddressRange>& ranges) {
  if (ranges.empty()) return int64_t{0};
  // Whether the file can be mapped at all, away from the copy: a file system without mmap fails
  // here with nothing touched.
  const size_t probe_bytes = static_cast<size_t>(ranges.front().bytes());
  void* probe = ::mmap(nullptr, probe_bytes, PROT_READ, MAP_PRIVATE, fd,
                       static_cast<off_t>(ranges.front().begin - base));
  if (probe == MAP_FAILED) {
    return MakeUnexpected(std::string("the file cannot be mapped: ") + std::strerror(errno));
  }
  ::munmap(probe, probe_bytes);
  int64_t done = 0;
  for (const AddressRange& r : ranges) {
    // MAP_FIXED replaces the anonymous pages in one step. The limit on a process's mappings,
    // what can still fail here, is checked before anything is unmapped, so a failed call leaves
    // that range as it was.
    void* p = ::mmap(reinterpret_cast<void*>(r.begin), r.bytes(), PROT_READ,
                     MAP_PRIVATE | MAP_FIXED, fd, static_cast<off_t>(r.begin - base));
    if (p == MAP_FAILED) {
      return MakeUnexpected(std::string("mapping the file again failed after ") +
                            std::to_string(done) + " bytes: " + std::strerror(errno) +
                            (errno == ENOMEM ? " (vm.max_map_count?)" : ""));
    }
    done += static_cast<int64_t>(r.bytes());
  }
  return done;
}

std::string DescribeReturnedPages(const Expected<int64_t, std::string>& returned,
                                  bool host_experts_kept) {
  if (!returned) return "loaded weights: kept in memory (" + returned.error() + ")";
  if (*returned == 0) return "loaded weights: kept in memory (a file changed since it was read)";
  char line[160];
  std::snprintf(line, sizeof line,
                "loaded weights: %.2f GiB that the GPU holds given back to the files' page cache%s",
                static_cast<double>(*returned) / (1 << 30),
                host_experts_kept ? " (the host experts' stay loaded)" : "");
  return line;
}

}  // namespace dsagent::engine
