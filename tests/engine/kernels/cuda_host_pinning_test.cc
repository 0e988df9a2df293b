// PinnedHostMemory (engine/kernels/cuda/host_pinning.h): the offloaded experts' pages in a
// read-only mapping page-locked in place — the driver sees them as host memory it can DMA from,
// a copy from them to the device gives their bytes, and they are unregistered again on
// destruction (not by a moved-from object, nor by a second owner of the same pages); a joined
// range over a hole between two mappings falls back to its pieces. Turned off, or with nothing to
// pin, it says so without a device; the rest skips without one (fails with DSAGENT_REQUIRE_CUDA=1).
// The pure planning: cuda_host_pin_plan_test.cc.
#include <cuda_runtime_api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/kernels/cuda/host_pinning.h"
#include "tests/engine/kernels/cuda_test_support.h"

namespace dsagent::engine::kernels::cuda {
namespace {

using test_support::ToHost;
using ::testing::HasSubstr;

uintptr_t At(const void* p, size_t offset = 0) { return reinterpret_cast<uintptr_t>(p) + offset; }

bool Registered(uintptr_t p) {
  cudaPointerAttributes a{};
  const cudaError_t e = cudaPointerGetAttributes(&a, reinterpret_cast<void*>(p));
  cudaGetLastError();
  return e == cudaSuccess && a.type == cudaMemoryTypeHost;
}

// `pages` pages of anonymous memory holding 0, 1, 2, ... (bytes), read-only, as the loaded
// checkpoint's mapping is.
struct ReadOnlyPages {
  explicit ReadOnlyPages(size_t pages) : bytes(pages * static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
    void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return;
    data = static_cast<uint8_t*>(m);
    for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
    mprotect(data, bytes, PROT_READ);
  }
  ~ReadOnlyPages() {
    if (data != nullptr) munmap(data, bytes);
  }
  size_t bytes;
  uint8_t* data = nullptr;
};

TEST(PinnedHostMemoryTest, TurnedOffOrEmptyPinsNothingAndSaysSo) {
  ReadOnlyPages pages(4);
  ASSERT_NE(pages.data, nullptr);
  const PinnedHostMemory off =
      PinnedHostMemory::Pin({{At(pages.data), At(pages.data, pages.bytes)}}, false);
  EXPECT_EQ(off.pinned_bytes(), 0);
  EXPECT_EQ(off.wanted_bytes(), static_cast<int64_t>(pages.bytes));
  EXPECT_THAT(off.Describe(), HasSubstr("pageable: pinning turned off"));
  const PinnedHostMemory none = PinnedHostMemory::Pin({});
  EXPECT_EQ(none.wanted_bytes(), 0);
  EXPECT_EQ(none.Describe(), "no routed experts in host memory");
}

TEST(PinnedHostMemoryTest, PinsReadOnlyPagesInPlaceAndUnregistersThem) {
  REQUIRE_CUDA_DEVICE();
  ReadOnlyPages pages(64);
  ASSERT_NE(pages.data, nullptr);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  // Three "weights": two touching ones, one further on (within the join gap).
  const std::vector<HostByteRange> ranges = {
      {At(pages.data, 100), At(pages.data, 5 * page)},
      {At(pages.data, 5 * page), At(pages.data, 9 * page + 17)},
      {At(pages.data, 40 * page), At(pages.data, 64 * page)}};
  {
    PinnedHostMemory pinned = PinnedHostMemory::Pin(ranges);
    std::printf("%s\n", pinned.Describe().c_str());
    ASSERT_EQ(pinned.pinned_bytes(), pinned.wanted_bytes()) << pinned.problem();
    EXPECT_EQ(pinned.wanted_bytes(), static_cast<int64_t>(pages.bytes));  // joined: all 64 pages
    EXPECT_THAT(pinned.Describe(), HasSubstr("of host experts pinned (page-locked in place)"));
    EXPECT_TRUE(Registered(At(pages.data, 200)));
    EXPECT_TRUE(Registered(At(pages.data, 50 * page)));
    // An async copy straight from the pinned pages gives their bytes.
    CudaStream stream;
    DeviceBuffer d(3000);
    d.Upload(pages.data + 1000, 3000, stream);
    const std::vector<uint8_t> back = ToHost<uint8_t>(d, 3000, stream);
    EXPECT_EQ(std::memcmp(back.data(), pages.data + 1000, 3000), 0);
    // Moving keeps one owner: the moved-from object unregisters nothing.
    PinnedHostMemory moved = std::move(pinned);
    { PinnedHostMemory gone = std::move(pinned); }
    EXPECT_TRUE(Registered(At(pages.data, 200)));
    EXPECT_EQ(moved.pinned_bytes(), static_cast<int64_t>(pages.bytes));
  }
  EXPECT_FALSE(Registered(At(pages.data, 200))) << "unregistered on destruction";
}

// A second model on the same weights: its pages are already registered, count as pinned, and
// stay registered until their first owner goes.
TEST(PinnedHostMemoryTest, PagesRegisteredByAnotherOwnerCountAndStayTheirs) {
  REQUIRE_CUDA_DEVICE();
  ReadOnlyPages pages(8);
  ASSERT_NE(pages.data, nullptr);
  const std::vector<HostByteRange> ranges = {{At(pages.data), At(pages.data, pages.bytes)}};
  PinnedHostMemory first = PinnedHostMemory::Pin(ranges);
  ASSERT_EQ(first.pinned_bytes(), static_cast<int64_t>(pages.bytes)) << first.problem();
  {
    const PinnedHostMemory second = PinnedHostMemory::Pin(ranges);
    EXPECT_EQ(second.pinned_bytes(), second.wanted_bytes()) << second.problem();
    EXPECT_EQ(second.problem(), "");
  }
  EXPECT_TRUE(Registered(At(pages.data, 10))) << "the second object unregistered the first's";
  first = PinnedHostMemory();
  EXPECT_FALSE(Registered(At(pages.data, 10)));
}

TEST(PinnedHostMemoryTest, AJoinedRangeOverAHoleFallsBackToItsPieces) {
  REQUIRE_CUDA_DEVICE();
  ReadOnlyPages pages(3);
  ASSERT_NE(pages.data, nullptr);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  // The middle page unmapped: pages 0 and 2 join (2 MiB gap) into a range the driver refuses.
  ASSERT_EQ(munmap(pages.data + page, page), 0);
  const std::vector<HostByteRange> ranges = {{At(pages.data), At(pages.data, page)},
                                             {At(pages.data, 2 * page), At(pages.data, 3 * page)}};
  PinnedHostMemory pinned = PinnedHostMemory::Pin(ranges);
  std::printf("%s\n", pinned.Describe().c_str());
  EXPECT_EQ(pinned.wanted_bytes(), static_cast<int64_t>(2 * page));
  EXPECT_EQ(pinned.pinned_bytes(), static_cast<int64_t>(2 * page)) << pinned.problem();
  EXPECT_TRUE(Registered(At(pages.data, 10)));
  EXPECT_TRUE(Registered(At(pages.data, 2 * page + 10)));
  pinned = PinnedHostMemory();
  EXPECT_FALSE(Registered(At(pages.data, 10)));
  // The rest of the test's own unmapping: the first and last pages separately.
  munmap(pages.data, page);
  munmap(pages.data + 2 * page, page);
  pages.data = nullptr;
}

}  // namespace
}  // namespace dsagent::engine::kernels::cuda
