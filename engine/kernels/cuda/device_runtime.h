// The CUDA device runtime the kernels run on: choosing a device, device memory owned by RAII
// buffers, streams, and CUDA errors turned into exceptions whose message says what failed, the
// runtime's reason and what to do. Plain C++ (no CUDA headers here): the implementation links the
// static CUDA runtime, so a binary built with CUDA starts and runs every CPU path on a machine
// without a GPU or driver; only constructing these objects there throws.
//
// Thread-safety: a DeviceBuffer or CudaStream is used by one thread at a time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace dsagent::engine::kernels::cuda {

// A failed CUDA call: "<what>: <cudaGetErrorString> (<cudaGetErrorName>)[; <advice>]".
// device_lost(): the error was a device fault that CUDA keeps for the rest of the process (an
// illegal address, a failed launch, a device-side assert...): the context's memory and
// queued work are gone and every later call fails the same way, so nothing more can run on the
// device until the process restarts (IsDeviceLost).
class CudaError : public std::runtime_error {
 public:
  explicit CudaError(const std::string& message, bool device_lost = false)
      : std::runtime_error(message), device_lost_(device_lost) {}
  bool device_lost() const { return device_lost_; }

 private:
  bool device_lost_;
};

// Whether `status` (a cudaError_t) is one of the errors driver_types.h documents as leaving the
// process's context unusable ("the process must be terminated and relaunched").
bool IsDeviceLost(int status);

// Throws CudaError when `status` (a cudaError_t) is not cudaSuccess. `what` names the operation
// ("cudaMalloc of 2.00 GiB on cuda:0").
void CheckCuda(int status, const std::string& what);
// The same for a fixed message: no string is built unless `status` is an error (the launches'
// checks run thousands of times a decoded token).
void CheckCuda(int status, const char* what);

// Makes device `index` current for the calling thread; throws CudaError naming the devices there
// are ("no CUDA device: ..." when there is none).
void UseDevice(int index);

// The window a profiler started with "profile from start off" records (Nsight Compute's
// --profile-from-start off): the benches bracket their timed steps with these, so that a profile
// leaves out the warm-up and the cache filling. Without a profiler they do nothing.
void ProfilerStart();
void ProfilerStop();

class CudaEvent;
class UploadStaging;

// A stream on the current device; kernels and copies given it run in order on it.
class CudaStream {
 public:
  CudaStream();  // throws CudaError
  ~CudaStream();
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  void* handle() const { return handle_; }  // a cudaStream_t
  void Synchronize();                       // waits; throws the first error of queued work
  // Work queued here after this call waits for the work queued before `event`'s last Record (in
  // its stream), without the host waiting: a fork or a join between streams. Inside a stream
  // capture, a stream that waits for an event recorded in the capture joins it, and must be
  // joined back (the capturing stream waits for an event it recorded after its last work) before
  // the capture ends. Throws CudaError.
  void Wait(CudaEvent& event);
  // Uploads from pageable memory queued here go through `staging` while it is set (nullptr: as
  // they are); ScopedUploadStaging (upload_staging.h) sets it for the weights' upload at load.
  void SetUploadStaging(UploadStaging* staging) { upload_staging_ = staging; }
  UploadStaging* upload_staging() const { return upload_staging_; }

 private:
  void* handle_ = nullptr;
  UploadStaging* upload_staging_ = nullptr;
};

// `bytes` of device memory on the current device, freed on destruction. Move-only.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);  // throws CudaError (out of memory names the size)
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  size_t bytes() const { return bytes_; }

  // Copies `n` bytes from the host into the buffer (n <= bytes()), queued on `stream`. The host
  // memory must stay valid until the stream is synchronised (a copy through the stream's
  // UploadStaging, or from pageable memory, has read it when the call returns).
  void Upload(const void* host, size_t n, CudaStream& stream);
  // Copies the first `n` bytes to the host and waits for the copy.
  void Download(void* host, size_t n, CudaStream& stream) const;
  // The same at byte `offset` of the buffer, queued on `stream` without waiting (the host memory
  // must stay valid, and a download's is not complete, until the stream is synchronised). Throws
  // CudaError when [offset, offset + n) is not inside the buffer.
  void UploadAt(size_t offset, const void* host, size_t n, CudaStream& stream);
  void DownloadAt(size_t offset, void* host, size_t n, CudaStream& stream) const;
  // Sets every byte to 0, queued on `stream`.
  void Zero(CudaStream& stream);

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// A DeviceBuffer of n floats.
inline DeviceBuffer DeviceFloats(int64_t n) {
  return DeviceBuffer(static_cast<size_t>(n) * sizeof(float));
}

// `bytes` of page-locked host memory (cudaMallocHost), freed on destruction. Move-only. Copies
// from and to it run asynchronously on a stream (pageable memory makes a copy wait); the expert
// offload stages a token's ids, input and outputs in it.
class PinnedHostBuffer {
 public:
  PinnedHostBuffer() = default;
  explicit PinnedHostBuffer(size_t bytes);  // throws CudaError
  ~PinnedHostBuffer();
  PinnedHostBuffer(PinnedHostBuffer&& other) noexcept;
  PinnedHostBuffer& operator=(PinnedHostBuffer&& other) noexcept;
  PinnedHostBuffer(const PinnedHostBuffer&) = delete;
  PinnedHostBuffer& operator=(const PinnedHostBuffer&) = delete;

  template <class T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// A point in a stream's queue: Record marks it, Synchronize waits until the work queued before
// the mark is done (and throws its first error) without waiting for what was queued after it.
class CudaEvent {
 public:
  CudaEvent();  // throws CudaError
  ~CudaEvent();
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  void Record(CudaStream& stream);
  void Synchronize();
  void* handle() const { return handle_; }  // a cudaEvent_t

 private:
  void* handle_ = nullptr;  // a cudaEvent_t
};

// Lets `kernel` (a __global__ function's address) use up to `bytes` of dynamic shared memory on
// the current device, or the device's limit where that is less (DeviceSharedBytesOptIn): CUDA
// wants an opt-in above 48 KB, per function and device. `done` (one per kernel, static at the
// call site) remembers the devices already done, so the call costs an atomic load after the
// first. Throws CudaError.
struct SharedMemoryOptIn {
  std::atomic<uint64_t> devices{0};  // bit d: done on device d
};
void AllowDynamicSharedMemory(const void* kernel, int bytes, SharedMemoryOptIn& done);

// The most dynamic shared memory a block may opt into on the current device
// (cudaDevAttrMaxSharedMemoryPerBlockOptin: 227 KiB on sm_90 and sm_100, 99 KiB on sm_86, sm_89
// and sm_120), read once per device. The kernels that stage more than 48 KB choose a smaller
// tile or another kernel where it is less than they would like. Throws CudaError.
int64_t DeviceSharedBytesOptIn();

// A process-wide switch between a default and an alternative way of running (the backend's A/B
// choices): On() says whether the environment variable `var` was `word` when first asked, unless
// Set has decided it since (tests and benchmarks run both ways). Constant-initialised, so a
// namespace-scope instance is ready before any static constructor runs; not to be Set while
// kernels are being queued from another thread.
class EnvSwitch {
 public:
  constexpr EnvSwitch(const char* var, const char* word) : var_(var), word_(word) {}
  bool On();
  void Set(bool on) { state_.store(on ? 1 : 0, std::memory_order_relaxed); }

 private:
  const char* var_;
  const char* word_;
  std::atomic<int> state_{-1};  // -1: not yet read from the environment
};

// The current device's SM count, asked once per device (launches size their grids by it).
// Throws CudaError.
int CurrentDeviceSmCount();

// Device-to-device copy of `n` bytes on `stream` (the benchmark's bandwidth reference).
void CopyDeviceToDevice(void* dst, const void* src, size_t n, CudaStream& stream);

}  // namespace dsagent::engine::kernels::cuda
