#include "engine/kernels/cuda/device_runtime.h"

#include <cuda_profiler_api.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "engine/kernels/cuda/kernel_launch.h"
#include "engine/kernels/cuda/upload_staging.h"
#include "engine/kernels/cuda_probe.h"

namespace dsagent::engine::kernels::cuda {
namespace {

std::string GiB(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1u << 30));
  return buf;
}

// Queues the copy of `n` host bytes to `device` on `stream`: through the stream's UploadStaging
// where it takes `host` (pageable memory), else as it is. The buffers' Upload and UploadAt.
void QueueUpload(void* device, const void* host, size_t n, CudaStream& stream) {
  if (UploadStaging* staging = stream.upload_staging(); staging && UploadStaging::Takes(host)) {
    staging->Copy(device, host, n, stream);
    return;
  }
  const cudaError_t e = cudaMemcpyAsync(device, host, n, cudaMemcpyHostToDevice,
                                        static_cast<cudaStream_t>(stream.handle()));
  if (e != cudaSuccess) CheckCuda(e, "cudaMemcpy host to device (" + GiB(n) + ")");
}

// What a user can do about the common failures.
const char* AdviceFor(cudaError_t e) {
  switch (e) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
      return "run with --device cpu, or on a machine with an NVIDIA GPU and driver";
    case cudaErrorMemoryAllocation:
      return "less fits on the device: lower --gpu-memory so more experts stay in host memory";
    case cudaErrorInvalidDevice:
      return "pick an index `dsagent doctor` lists (--device cuda:N)";
    default:
      return nullptr;
  }
}

}  // namespace

bool IsDeviceLost(int status) {
  switch (static_cast<cudaError_t>(status)) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchTimeout:
    case cudaErrorAssert:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorLaunchFailure:
    case cudaErrorTensorMemoryLeak:
    case cudaErrorMpsClientTerminated:
      return true;
    default:
      return false;
  }
}

void CheckCuda(int status, const char* what) {
  if (static_cast<cudaError_t>(status) == cudaSuccess) return;
  CheckCuda(status, std::string(what));
}

void CheckCuda(int status, const std::string& what) {
  const auto e = static_cast<cudaError_t>(status);
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  std::string message = what + ": " + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ")";
  if (const char* advice = AdviceFor(e)) message += std::string("; ") + advice;
  throw CudaError(message, IsDeviceLost(status));
}

void ProfilerStart() { CheckCuda(cudaProfilerStart(), "cudaProfilerStart"); }
void ProfilerStop() { CheckCuda(cudaProfilerStop(), "cudaProfilerStop"); }

void UseDevice(int index) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    cudaGetLastError();
    int driver = 0, runtime = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
    cudaRuntimeGetVersion(&runtime);
    throw CudaError(
        NoCudaDeviceReason(static_cast<int>(err), cudaGetErrorString(err), driver, runtime) +
        "; run with --device cpu, or on a machine with an NVIDIA GPU and driver");
  }
  if (index < 0 || index >= count) {
    throw CudaError("no CUDA device cuda:" + std::to_string(index) + ": this machine has " +
                    std::to_string(count) + " (cuda:0 to cuda:" + std::to_string(count - 1) + ")");
  }
  CheckCuda(cudaSetDevice(index), "cudaSetDevice(" + std::to_string(index) + ")");
  CheckProgrammaticLaunch();
}

CudaStream::CudaStream() {
  cudaStream_t s = nullptr;
  CheckCuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  handle_ = s;
}

CudaStream::~CudaStream() {
  if (handle_) cudaStreamDestroy(static_cast<cudaStream_t>(handle_));
}

void CudaStream::Synchronize() {
  CheckCuda(cudaStreamSynchronize(static_cast<cudaStream_t>(handle_)), "cudaStreamSynchronize");
}

void CudaStream::Wait(CudaEvent& event) {
  CheckCuda(cudaStreamWaitEvent(static_cast<cudaStream_t>(handle_),
                                static_cast<cudaEvent_t>(event.handle()), 0),
            "cudaStreamWaitEvent");
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  int device = -1;
  cudaGetDevice(&device);
  CheckCuda(cudaMalloc(&data_, bytes),
            "cudaMalloc of " + GiB(bytes) + " on cuda:" + std::to_string(device));
}

DeviceBuffer::~DeviceBuffer() {
  if (data_) cudaFree(data_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_) cudaFree(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::Upload(const void* host, size_t n, CudaStream& stream) {
  if (n > bytes_) {
    throw CudaError("upload of " + std::to_string(n) + " bytes into a device buffer of " +
                    std::to_string(bytes_));
  }
  if (n == 0) return;
  QueueUpload(data_, host, n, stream);
}

void DeviceBuffer::Download(void* host, size_t n, CudaStream& stream) const {
  if (n > bytes_) {
    throw CudaError("download of " + std::to_string(n) + " bytes from a device buffer of " +
                    std::to_string(bytes_));
  }
  if (n == 0) return;
  const cudaError_t e = cudaMemcpyAsync(host, data_, n, cudaMemcpyDeviceToHost,
                                        static_cast<cudaStream_t>(stream.handle()));
  if (e != cudaSuccess) CheckCuda(e, "cudaMemcpy device to host (" + GiB(n) + ")");
  stream.Synchronize();
}

void DeviceBuffer::UploadAt(size_t offset, const void* host, size_t n, CudaStream& stream) {
  if (offset > bytes_ || n > bytes_ - offset) {
    throw CudaError("upload of " + std::to_string(n) + " bytes at offset " +
                    std::to_string(offset) + " into a device buffer of " + std::to_string(bytes_));
  }
  if (n == 0) return;
  QueueUpload(static_cast<char*>(data_) + offset, host, n, stream);
}

void DeviceBuffer::DownloadAt(size_t offset, void* host, size_t n, CudaStream& stream) const {
  if (offset > bytes_ || n > bytes_ - offset) {
    throw CudaError("download of " + std::to_string(n) + " bytes at offset " +
                    std::to_string(offset) + " from a device buffer of " + std::to_string(bytes_));
  }
  if (n == 0) return;
  const cudaError_t e =
      cudaMemcpyAsync(host, static_cast<const char*>(data_) + offset, n, cudaMemcpyDeviceToHost,
                      static_cast<cudaStream_t>(stream.handle()));
  if (e != cudaSuccess) CheckCuda(e, "cudaMemcpy device to host (" + GiB(n) + ")");
}

void DeviceBuffer::Zero(CudaStream& stream) {
  if (bytes_ == 0) return;
  const cudaError_t e =
      cudaMemsetAsync(data_, 0, bytes_, static_cast<cudaStream_t>(stream.handle()));
  if (e != cudaSuccess) CheckCuda(e, "cudaMemset (" + GiB(bytes_) + ")");
}

PinnedHostBuffer::PinnedHostBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  CheckCuda(cudaMallocHost(&data_, bytes), "cudaMallocHost of " + GiB(bytes));
}

PinnedHostBuffer::~PinnedHostBuffer() {
  if (data_) cudaFreeHost(data_);
}

PinnedHostBuffer::PinnedHostBuffer(PinnedHostBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

PinnedHostBuffer& PinnedHostBuffer::operator=(PinnedHostBuffer&& other) noexcept {
  if (this != &other) {
    if (data_) cudaFreeHost(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

CudaEvent::CudaEvent() {
  cudaEvent_t e = nullptr;
  CheckCuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
  handle_ = e;
}

CudaEvent::~CudaEvent() {
  if (handle_) cudaEventDestroy(static_cast<cudaEvent_t>(handle_));
}

void CudaEvent::Record(CudaStream& stream) {
  CheckCuda(cudaEventRecord(static_cast<cudaEvent_t>(handle_),
                            static_cast<cudaStream_t>(stream.handle())),
            "cudaEventRecord");
}

void CudaEvent::Synchronize() {
  CheckCuda(cudaEventSynchronize(static_cast<cudaEvent_t>(handle_)), "cudaEventSynchronize");
}

bool EnvSwitch::On() {
  int on = state_.load(std::memory_order_relaxed);
  if (on < 0) {
    const char* v = std::getenv(var_);
    on = v != nullptr && std::strcmp(v, word_) == 0 ? 1 : 0;
    state_.store(on, std::memory_order_relaxed);
  }
  return on == 1;
}

void AllowDynamicSharedMemory(const void* kernel, int bytes, SharedMemoryOptIn& done) {
  int device = 0;
  CheckCuda(cudaGetDevice(&device), "cudaGetDevice");
  const uint64_t bit = device >= 0 && device < 64 ? uint64_t{1} << device : 0;
  if (bit != 0 && (done.devices.load(std::memory_order_acquire) & bit) != 0) return;
  const int allowed = static_cast<int>(std::min<int64_t>(bytes, DeviceSharedBytesOptIn()));
  CheckCuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, allowed),
            "cudaFuncSetAttribute(" + std::to_string(allowed) + " bytes of shared memory)");
  done.devices.fetch_or(bit, std::memory_order_release);
}

int64_t DeviceSharedBytesOptIn() {
  constexpr int kDevices = 64;
  static std::atomic<int> limits[kDevices] = {};
  int device = 0;
  CheckCuda(cudaGetDevice(&device), "cudaGetDevice");
  std::atomic<int>* cached = device >= 0 && device < kDevices ? &limits[device] : nullptr;
  int bytes = cached != nullptr ? cached->load(std::memory_order_relaxed) : 0;
  if (bytes == 0) {
    CheckCuda(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
              "cudaDeviceGetAttribute(shared memory per block)");
    if (bytes < 48 * 1024) bytes = 48 * 1024;  // every device since sm_70 opts into more
    if (cached != nullptr) cached->store(bytes, std::memory_order_relaxed);
  }
  return bytes;
}

int CurrentDeviceSmCount() {
  constexpr int kDevices = 64;
  static std::atomic<int> counts[kDevices] = {};
  int device = 0;
  CheckCuda(cudaGetDevice(&device), "cudaGetDevice");
  if (device < 0 || device >= kDevices) return 132;
  int sms = counts[device].load(std::memory_order_relaxed);
  if (sms == 0) {
    CheckCuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
              "cudaDeviceGetAttribute(SMs)");
    if (sms <= 0) sms = 1;
    counts[device].store(sms, std::memory_order_relaxed);
  }
  return sms;
}

void CopyDeviceToDevice(void* dst, const void* src, size_t n, CudaStream& stream) {
  const cudaError_t e = cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice,
                                        static_cast<cudaStream_t>(stream.handle()));
  if (e != cudaSuccess) CheckCuda(e, "cudaMemcpy device to device (" + GiB(n) + ")");
}

}  // namespace dsagent::engine::kernels::cuda
