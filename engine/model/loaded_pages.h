// Giving a loaded checkpoint's pages back to its files (weight_residency.h's `loaded`): once a GPU
// holds most of the weights, the host's private copy of them is memory no one reads. Each such
// page becomes a private read-only mapping of the same bytes of the file again, as under
// `mmap`: the page cache's, reclaimable, read back from the file if anything ever touches it. The
// host experts the CPU still computes keep their loaded (huge) pages.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/expected.h"

namespace dsagent::engine {

// Host addresses [begin, end).
struct AddressRange {
  uintptr_t begin = 0, end = 0;
  uintptr_t bytes() const { return end - begin; }
};

// The whole pages of [begin, begin + size) that touch none of `keep` (`begin` on a page
// boundary; `page` a power of two): sorted, neighbours joined. The last page counts whole even
// where `size` ends inside it. Pure.
std::vector<AddressRange> PagesOutside(uintptr_t begin, size_t size, std::vector<AddressRange> keep,
                                       size_t page);

// Maps `ranges` (page-aligned, inside the copy of the file at `base`, whose byte i is the file's
// byte i) to the same bytes of the file open as `fd`, read-only, in place of what was there.
// Returns the bytes remapped. An error (the file cannot be mapped, the process's mapping count
// runs out) says which; the ranges done before it stay done, the others as they were.
Expected<int64_t, std::string> MapRangesToFile(int fd, uintptr_t base,
                                               const std::vector<AddressRange>& ranges);

// The placement report's line for a giving back (Model::ReturnLoadedWeightPages' result):
// "loaded weights: 12.34 GiB that the GPU holds given back to the files' page cache" (and "(the
// host experts' stay loaded)" where `host_experts_kept`), or why the copy stays ("a file changed
// since it was read" for 0 bytes, else the error). Pure.
std::string DescribeReturnedPages(const Expected<int64_t, std::string>& returned,
                                  bool host_experts_kept);

}  // namespace dsagent::engine
