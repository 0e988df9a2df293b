#include "engine/kernels/cuda/host_pinning.h"

#include <cuda_runtime_api.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

namespace dsagent::engine::kernels::cuda {
namespace {

// Joined ranges at most this far apart: an expert's weights and scales, and the experts of a
// layer, lie close together in a checkpoint.
constexpr uintptr_t kJoinGap = uintptr_t{2} << 20;

std::string GiB(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1LL << 30));
  return text;
}

// Registers [r.begin, r.end) read-only: "" when done, "already" when another owner (a second
// model on the same weights) registered it first, else the runtime's reason (the error cleared).
std::string Register(const HostByteRange& r) {
  const cudaError_t e =
      cudaHostRegister(reinterpret_cast<void*>(r.begin), r.bytes(), cudaHostRegisterReadOnly);
  if (e == cudaSuccess) return {};
  cudaGetLastError();
  if (e == cudaErrorHostMemoryAlreadyRegistered) return "already";
  return std::string(cudaGetErrorString(e)) + " (" + cudaGetErrorName(e) + ")";
}

}  // namespace

int64_t HostAvailableMemory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    std::istringstream fields(line);
    std::string key;
    int64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

PinnedHostMemory::~PinnedHostMemory() { Release(); }

PinnedHostMemory::PinnedHostMemory(PinnedHostMemory&& other) noexcept
    : registered_(std::move(other.registered_)),
      wanted_(std::exchange(other.wanted_, 0)),
      pinned_(std::exchange(other.pinned_, 0)),
      problem_(std::move(other.problem_)) {
  other.registered_.clear();
}

PinnedHostMemory& PinnedHostMemory::operator=(PinnedHostMemory&& other) noexcept {
  if (this != &other) {
    Release();
    registered_ = std::move(other.registered_);
    other.registered_.clear();
    wanted_ = std::exchange(other.wanted_, 0);
    pinned_ = std::exchange(other.pinned_, 0);
    problem_ = std::move(other.problem_);
  }
  return *this;
}

void PinnedHostMemory::Release() {
  for (const HostByteRange& r : registered_) cudaHostUnregister(reinterpret_cast<void*>(r.begin));
  cudaGetLastError();
  registered_.clear();
  pinned_ = 0;
}

PinnedHostMemory PinnedHostMemory::Pin(const std::vector<HostByteRange>& ranges, bool enabled) {
  PinnedHostMemory p;
  const long page = sysconf(_SC_PAGESIZE);
  const uintptr_t page_bytes = page > 0 ? static_cast<uintptr_t>(page) : 4096;
  const std::vector<HostByteRange> joined = PinRanges(ranges, page_bytes, kJoinGap);
  int64_t total = 0;
  for (const HostByteRange& r : joined) total += static_cast<int64_t>(r.bytes());
  if (total == 0) return p;
  p.wanted_ = total;
  if (!enabled) {
    p.problem_ = "pinning turned off by the caller";
    return p;
  }
  if (auto refused = PinRefusal(total, HostAvailableMemory())) {
    p.problem_ = *refused;
    return p;
  }
  int device = 0;
  int read_only = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&read_only, cudaDevAttrHostRegisterReadOnlySupported, device) !=
          cudaSuccess ||
      read_only == 0) {
    cudaGetLastError();
    p.problem_ = "this device cannot register read-only host memory";
    return p;
  }
  std::string first_error;
  p.wanted_ = 0;
  for (const HostByteRange& r : joined) {
    std::string why = Register(r);
    if (why.empty()) {
      p.registered_.push_back(r);
      p.wanted_ += static_cast<int64_t>(r.bytes());
      p.pinned_ += static_cast<int64_t>(r.bytes());
      continue;
    }
    // A joined range may span a hole between two mappings, or pages another owner registered:
    // its own pieces (gaps left out), one by one; only what this object registered is its own.
    std::vector<HostByteRange> inside;
    for (const HostByteRange& q : ranges) {
      if (q.begin >= r.begin && q.end <= r.end) inside.push_back(q);
    }
    for (const HostByteRange& piece : PinRanges(inside, page_bytes, 0)) {
      p.wanted_ += static_cast<int64_t>(piece.bytes());
      why = Register(piece);
      if (why.empty() || why == "already") {
        if (why.empty()) p.registered_.push_back(piece);
        p.pinned_ += static_cast<int64_t>(piece.bytes());
      } else if (first_error.empty()) {
        first_error = why;
      }
    }
  }
  if (p.pinned_ < p.wanted_) {
    p.problem_ = GiB(p.wanted_ - p.pinned_) + " stayed pageable: cudaHostRegister: " + first_error;
  }
  return p;
}

std::string PinnedHostMemory::Describe() const {
  if (wanted_ == 0) return "no routed experts in host memory";
  if (pinned_ == wanted_) return GiB(pinned_) + " of host experts pinned (page-locked in place)";
  if (pinned_ == 0) return GiB(wanted_) + " of host experts pageable: " + problem_;
  return GiB(pinned_) + " of " + GiB(wanted_) + " of host experts pinned; " + problem_;
}

}  // namespace dsagent::engine::kernels::cuda
