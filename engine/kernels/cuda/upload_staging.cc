#include "engine/kernels/cuda/upload_staging.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "engine/kernels/cpu/thread_pool.h"

namespace dsagent::engine::kernels::cuda {
namespace {

EnvSwitch driver_staging("DSAGENT_CUDA_UPLOAD_STAGING", "off");

std::atomic<int64_t> staged_copies{0};
std::mutex shape_mu;
UploadStagingShape shape_in_use;

// A piece smaller than this is copied by the calling thread alone: waking the others would cost
// more than they save.
constexpr size_t kSplitBytes = size_t{512} << 10;
constexpr size_t kThreadBytes = size_t{256} << 10;  // at least this much a thread

int ThreadsFor(int asked) {
  if (asked > 0) return asked;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(cores, 1, 4);
}

}  // namespace

UploadStaging::UploadStaging(const UploadStagingShape& shape)
    : piece_bytes_(shape.piece_bytes), filled_(shape.piece_bytes) {
  if (shape.buffers < 1 || shape.piece_bytes == 0) {
    throw std::invalid_argument("UploadStaging: " + std::to_string(shape.buffers) + " buffers of " +
                                std::to_string(shape.piece_bytes) +
                                " bytes; it needs at least one buffer of at least one byte");
  }
  buffers_.resize(static_cast<size_t>(shape.buffers));
  for (Buffer& b : buffers_) {
    b.memory = PinnedHostBuffer(piece_bytes_);
    b.read = std::make_unique<CudaEvent>();
  }
  current_ = buffers_.size() - 1;  // the first Copy moves on to buffer 0
  const int threads = ThreadsFor(shape.threads);
  // No spinning: the pool wakes once per piece, and between pieces the host waits for the device.
  if (threads > 1)
    threads_ = std::make_unique<cpu::ThreadPool>(threads, std::chrono::microseconds{0});
}

UploadStaging::~UploadStaging() {
  // The device may still be reading the buffers; freeing page-locked memory waits for the device
  // too, but says nothing of a failed copy, which the stream's next synchronisation reports.
  for (Buffer& b : buffers_) {
    if (b.pending) (void)cudaEventSynchronize(static_cast<cudaEvent_t>(b.read->handle()));
  }
}

bool UploadStaging::Takes(const void* host) {
  cudaPointerAttributes a{};
  if (host == nullptr) return false;
  if (cudaPointerGetAttributes(&a, host) != cudaSuccess) {
    (void)cudaGetLastError();  // an unknown pointer: pageable on older runtimes
    return true;
  }
  return a.type == cudaMemoryTypeUnregistered;
}

void UploadStaging::HostCopy(char* to, const char* from, size_t n) {
  if (threads_ == nullptr || n < kSplitBytes) {
    std::memcpy(to, from, n);
    return;
  }
  threads_->ParallelFor(static_cast<int64_t>(n), static_cast<int64_t>(kThreadBytes),
                        [&](int64_t begin, int64_t end) {
                          std::memcpy(to + begin, from + begin, static_cast<size_t>(end - begin));
                        });
}

void UploadStaging::Copy(void* device, const void* host, size_t n, CudaStream& stream) {
  auto* dst = static_cast<char*>(device);
  const auto* src = static_cast<const char*>(host);
  const auto s = static_cast<cudaStream_t>(stream.handle());
  while (n > 0) {
    if (filled_ == piece_bytes_) {
      // The next buffer, once the device has read what it held.
      current_ = (current_ + 1) % buffers_.size();
      filled_ = 0;
      Buffer& next = buffers_[current_];
      if (next.pending) {
        next.read->Synchronize();
        next.pending = false;
      }
    }
    Buffer& b = buffers_[current_];
    const size_t len = std::min(n, piece_bytes_ - filled_);
    char* staged = b.memory.as<char>() + filled_;
    HostCopy(staged, src, len);
    CheckCuda(cudaMemcpyAsync(dst, staged, len, cudaMemcpyHostToDevice, s),
              "cudaMemcpy host to device (staged)");
    b.read->Record(stream);
    b.pending = true;
    staged_copies.fetch_add(1, std::memory_order_relaxed);
    filled_ += len;
    dst += len;
    src += len;
    n -= len;
  }
}

ScopedUploadStaging::ScopedUploadStaging(CudaStream& stream)
    : stream_(stream), before_(stream.upload_staging()) {
  if (!UploadStagingOn()) return;
  staging_ = std::make_unique<UploadStaging>(UploadStagingShapeInUse());
  stream_.SetUploadStaging(staging_.get());
}

ScopedUploadStaging::~ScopedUploadStaging() { stream_.SetUploadStaging(before_); }

bool UploadStagingOn() { return !driver_staging.On(); }

void SetUploadStaging(bool on) { driver_staging.Set(!on); }

UploadStagingShape UploadStagingShapeInUse() {
  std::lock_guard<std::mutex> lock(shape_mu);
  return shape_in_use;
}

void SetUploadStagingShape(const UploadStagingShape& shape) {
  std::lock_guard<std::mutex> lock(shape_mu);
  shape_in_use = shape;
}

int64_t StagedCopies() { return staged_copies.load(std::memory_order_relaxed); }

}  // namespace dsagent::engine::kernels::cuda
