// The weights' upload at load through page-locked staging buffers. A copy from pageable host
// memory (a checkpoint's pages, mapped or read into memory) makes the driver stage it itself: the
// calling thread copies a piece into the driver's own page-locked buffer, the device copies it,
// and the call returns once the last piece is across, so the host's copying and the link's take
// turns. Here the host's threads copy the next piece into one of a few page-locked buffers while
// the device copies the pieces before it from the others (llama.cpp's loader stages its reads the
// same way, in four buffers of a few MiB). The device gets the same bytes either way.
//
// UploadStagingOn() (default on; DSAGENT_CUDA_UPLOAD_STAGING=off, or SetUploadStaging, for the
// driver's own staging) decides whether UploadModel stages its uploads; bench/cuda_upload_bench
// times both ways.
//
// Thread-safety: an UploadStaging is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/kernels/cuda/device_runtime.h"

namespace dsagent::engine::kernels::cpu {
class ThreadPool;
}

namespace dsagent::engine::kernels::cuda {

struct UploadStagingShape {
  size_t piece_bytes = size_t{4} << 20;  // one buffer's size: the copies go in pieces of at most it
  int buffers = 4;                       // pieces the device may still be copying while the host
                                         // fills the next one: buffers - 1
  int threads = 0;                       // host threads copying a piece; 0: min(4, the cores)
};

class UploadStaging {
 public:
  // Allocates shape.buffers x shape.piece_bytes of page-locked memory. Throws CudaError, or
  // std::invalid_argument for a shape without buffers or bytes.
  explicit UploadStaging(const UploadStagingShape& shape = {});
  // Waits for the copies still reading the buffers.
  ~UploadStaging();
  UploadStaging(const UploadStaging&) = delete;
  UploadStaging& operator=(const UploadStaging&) = delete;

  // Whether Copy should take a copy from `host`: pageable memory (page-locked memory, e.g. the
  // offload's pinned experts, goes to the device as it is, at the link's speed already).
  static bool Takes(const void* host);

  // Queues the copy of `n` bytes from `host` to `device` on `stream`, through the buffers in
  // turn, and returns once `host` has been read (its memory may then be freed or changed, as after
  // a copy from pageable memory); the device copies complete in stream order. A buffer is filled
  // again only after the device copy that read it last is done; small copies share a buffer.
  // Throws CudaError.
  void Copy(void* device, const void* host, size_t n, CudaStream& stream);

 private:
  struct Buffer {
    PinnedHostBuffer memory;
    std::unique_ptr<CudaEvent> read;  // recorded after each device copy from this buffer
    bool pending = false;             // whether `read` was recorded since the last wait
  };
  // The host copy of one piece into `to`, over the threads where it is large enough.
  void HostCopy(char* to, const char* from, size_t n);

  const size_t piece_bytes_;
  std::vector<Buffer> buffers_;
  size_t current_ = 0;  // the buffer being filled
  size_t filled_ = 0;   // its bytes already used (piece_bytes_: none left, take the next)
  std::unique_ptr<cpu::ThreadPool> threads_;
};

// While alive, uploads from pageable memory queued on `stream` (DeviceBuffer::Upload, UploadAt)
// go through an UploadStaging of UploadStagingShapeInUse(), when UploadStagingOn(); otherwise it
// does nothing. Its end detaches the staging and waits for the staged copies.
class ScopedUploadStaging {
 public:
  explicit ScopedUploadStaging(CudaStream& stream);
  ~ScopedUploadStaging();
  ScopedUploadStaging(const ScopedUploadStaging&) = delete;
  ScopedUploadStaging& operator=(const ScopedUploadStaging&) = delete;

 private:
  CudaStream& stream_;
  UploadStaging* before_;
  std::unique_ptr<UploadStaging> staging_;
};

// The switch: on unless DSAGENT_CUDA_UPLOAD_STAGING=off or SetUploadStaging(false).
bool UploadStagingOn();
void SetUploadStaging(bool on);
// The shape ScopedUploadStaging uses: the default, or the last SetUploadStagingShape's (the
// tests make the pieces small, so that a small model's upload takes many of them).
UploadStagingShape UploadStagingShapeInUse();
void SetUploadStagingShape(const UploadStagingShape& shape);

// How many device copies UploadStaging::Copy has queued in this process: the tests check with it
// that an upload went through the staging (its bytes alone cannot tell).
int64_t StagedCopies();

}  // namespace dsagent::engine::kernels::cuda
