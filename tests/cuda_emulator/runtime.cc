// The CUDA emulator's runtime: device memory, streams, events, graphs and errors, on the CPU
// (tests/cuda_emulator/README.md). The API's calls queue work; work_queue.h says how it runs (in
// program order unless a stream is captured, streams deferred, or a launch is programmatic).
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "tests/cuda_emulator/env.h"
#include "tests/cuda_emulator/grid.h"
#include "tests/cuda_emulator/race_check.h"
#include "tests/cuda_emulator/runtime_state.h"
#include "tests/cuda_emulator/work_queue.h"

// The kernel-side coordinate macros would rename cudaKernelNodeParams' fields here.
#undef gridDim
#undef blockDim

using dsagent_emu::Node;
using namespace dsagent_emu::rt;  // NOLINT: this file is the runtime

namespace dsagent_emu::rt {

Emulator& E() {
  static Emulator* e = new Emulator();
  return *e;
}

thread_local cudaError_t tl_last_error = cudaSuccess;

cudaError_t Fail(cudaError_t e, const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "CUDA emulator: %s\n", why.c_str());
  tl_last_error = e;
  return e;
}

cudaError_t Sticky() {
  const auto e = static_cast<cudaError_t>(E().sticky.load(std::memory_order_acquire));
  if (e != cudaSuccess) tl_last_error = e;
  return e;
}

// The allocation holding `p`, or nullptr (caller holds mu).
const std::pair<const uintptr_t, Allocation>* Find(const void* p) {
  Emulator& e = E();
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = e.allocations.upper_bound(a);
  if (it == e.allocations.begin()) return nullptr;
  --it;
  if (a >= it->first + it->second.bytes && !(it->second.bytes == 0 && a == it->first)) {
    return nullptr;
  }
  return &*it;
}

}  // namespace dsagent_emu::rt

namespace {

constexpr size_t kDefaultDynamicShared = 48 * 1024;
// The opt-in limit of dynamic shared memory per block: sm_90's 227 KiB, or with
// DSAGENT_CUDA_EMULATOR_SHARED_KIB another device's (99 on sm_86/89/120), so that the backend's
// choices for a smaller one run here too.
size_t MaxDynamicShared() {
  static const size_t bytes =
      dsagent_emu::EnvNumber("DSAGENT_CUDA_EMULATOR_SHARED_KIB", 227) * 1024;
  return bytes;
}
constexpr int kSms = 132;  // an H100/H200's, so split plans match one

// "" when [p, p + bytes) lies inside one device allocation, else why not.
std::string DeviceRangeProblem(const void* p, size_t bytes, const char* what) {
  std::lock_guard<std::mutex> lock(E().mu);
  const auto* a = Find(p);
  if (a == nullptr || a->second.type != cudaMemoryTypeDevice) {
    char at[32];
    std::snprintf(at, sizeof at, "%p", p);
    return std::string(what) + " " + at + " is not device memory";
  }
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
  if (end > a->first + a->second.bytes) {
    return std::string(what) + ": " + std::to_string(bytes) + " bytes at offset " +
           std::to_string(reinterpret_cast<uintptr_t>(p) - a->first) +
           " run past the end of a device allocation of " + std::to_string(a->second.bytes);
  }
  return "";
}

bool IsDevice(const void* p) {
  std::lock_guard<std::mutex> lock(E().mu);
  const auto* a = Find(p);
  return a != nullptr && a->second.type == cudaMemoryTypeDevice;
}

std::string CopyProblem(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return "";
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice ||
                          (kind == cudaMemcpyDefault && IsDevice(dst));
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice ||
                          (kind == cudaMemcpyDefault && IsDevice(src));
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return "an unknown copy kind";
  if (dst_device) {
    std::string p = DeviceRangeProblem(dst, bytes, "cudaMemcpy destination");
    if (!p.empty()) return p;
  }
  if (src_device) return DeviceRangeProblem(src, bytes, "cudaMemcpy source");
  return "";
}

}  // namespace

namespace dsagent_emu {

cudaError_t SetFuncAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      static_cast<size_t>(value) > MaxDynamicShared()) {
    return Fail(cudaErrorInvalidValue,
                "cudaFuncSetAttribute: " + std::to_string(value) + " bytes is past the " +
                    std::to_string(MaxDynamicShared() / 1024) + " KiB of dynamic shared memory");
  }
  std::lock_guard<std::mutex> lock(E().mu);
  E().dynamic_shared_limit[func] = static_cast<size_t>(value);
  return cudaSuccess;
}

cudaError_t LaunchKernel(const void* func, const char* name, dim3 grid, dim3 block,
                         size_t shared_bytes, cudaStream_t stream,
                         std::shared_ptr<const std::function<void()>> body, bool programmatic) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  Node n;
  n.type = cudaGraphNodeTypeKernel;
  n.launch.func = func;
  n.launch.name = name;
  n.launch.grid = grid;
  n.launch.block = block;
  n.launch.shared_bytes = shared_bytes;
  n.launch.body = std::move(body);
  n.launch.programmatic = programmatic;
  size_t limit = kDefaultDynamicShared;
  {
    std::lock_guard<std::mutex> lock(E().mu);
    const auto it = E().dynamic_shared_limit.find(func);
    if (it != E().dynamic_shared_limit.end()) limit = it->second;
  }
  static const bool refuse_programmatic = dsagent_emu::EnvIs("DSAGENT_CUDA_EMULATOR_NO_PDL", "1");
  if (programmatic && refuse_programmatic) {
    if (Capturing(stream)) InvalidateCapture(stream);
    return Fail(cudaErrorNotSupported,
                std::string("launch of ") + name +
                    ": programmatic dependent launch refused (DSAGENT_CUDA_EMULATOR_NO_PDL=1)");
  }
  const std::string problem = ConfigurationProblem(n.launch, limit);
  if (!problem.empty()) {
    if (Capturing(stream)) InvalidateCapture(stream);
    return Fail(cudaErrorInvalidConfiguration, std::string("launch of ") + name + ": " + problem);
  }
  return Queue(std::move(n), stream);
}

namespace {
thread_local const char* tl_next_launch_name = nullptr;
}  // namespace

void CheckPrefetch(const void* p, size_t bytes) {
  if (bytes == 0) return;
  std::string problem;
  {
    // Called by kernels' threads: the runtime's lock must not order them for the race check.
    race::IgnoreSync ignore;
    std::lock_guard<std::mutex> lock(E().mu);
    const auto* a = Find(p);
    const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
    if (a == nullptr || end > a->first + a->second.bytes) {
      char at[32];
      std::snprintf(at, sizeof at, "%p", p);
      problem = std::string("an L2 prefetch of ") + std::to_string(bytes) + " bytes at " + at +
                " outside any allocation of the runtime's";
    }
  }
  if (!problem.empty()) FailRunningThread(problem);
}

void FaultAtLaunch(int64_t n) { E().fault_countdown.store(n < 0 ? 0 : n); }

void ClearDeviceFault() {
  E().fault_countdown.store(0);
  E().sticky.store(cudaSuccess, std::memory_order_release);
  tl_last_error = cudaSuccess;
}

void NameNextLaunch(const char* name) { tl_next_launch_name = name; }

const char* TakeNextLaunchName() {
  const char* name = std::exchange(tl_next_launch_name, nullptr);
  return name != nullptr ? name : "(unnamed: cudaLaunchKernelEx)";
}

}  // namespace dsagent_emu

// ---- Errors and versions -----------------------------------------------------------------------

// A device fault's error stays (Sticky): reading it does not clear it.
cudaError_t cudaGetLastError() {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  return std::exchange(tl_last_error, cudaSuccess);
}
cudaError_t cudaPeekAtLastError() {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  return tl_last_error;
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorInsufficientDriver:
      return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice:
      return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalState:
      return "cudaErrorIllegalState";
    case cudaErrorIllegalAddress:
      return "cudaErrorIllegalAddress";
    case cudaErrorLaunchTimeout:
      return "cudaErrorLaunchTimeout";
    case cudaErrorAssert:
      return "cudaErrorAssert";
    case cudaErrorHardwareStackError:
      return "cudaErrorHardwareStackError";
    case cudaErrorIllegalInstruction:
      return "cudaErrorIllegalInstruction";
    case cudaErrorMisalignedAddress:
      return "cudaErrorMisalignedAddress";
    case cudaErrorInvalidAddressSpace:
      return "cudaErrorInvalidAddressSpace";
    case cudaErrorInvalidPc:
      return "cudaErrorInvalidPc";
    case cudaErrorTensorMemoryLeak:
      return "cudaErrorTensorMemoryLeak";
    case cudaErrorMpsClientTerminated:
      return "cudaErrorMpsClientTerminated";
    case cudaErrorHostMemoryAlreadyRegistered:
      return "cudaErrorHostMemoryAlreadyRegistered";
    case cudaErrorHostMemoryNotRegistered:
      return "cudaErrorHostMemoryNotRegistered";
    case cudaErrorLaunchFailure:
      return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported:
      return "cudaErrorNotSupported";
    case cudaErrorStreamCaptureUnsupported:
      return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated:
      return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnjoined:
      return "cudaErrorStreamCaptureUnjoined";
    case cudaErrorGraphExecUpdateFailure:
      return "cudaErrorGraphExecUpdateFailure";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice:
      return "invalid device ordinal";
    case cudaErrorIllegalAddress:
      return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
      return "operation failed due to a previous error during capture";
    default:
      return cudaGetErrorName(e);
  }
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  *version = 13000;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* version) {
  *version = 13000;
  return cudaSuccess;
}

// ---- The device --------------------------------------------------------------------------------

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device != 0) return Fail(cudaErrorInvalidDevice, "");
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return Fail(cudaErrorInvalidDevice, "");
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "dsagent CUDA emulator (CPU, tests only)");
  prop->totalGlobalMem = E().device_total;
  prop->major = 9;
  prop->minor = 0;
  prop->multiProcessorCount = kSms;
  prop->sharedMemPerBlockOptin = MaxDynamicShared();
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return Fail(cudaErrorInvalidDevice, "");
  switch (attr) {
    case cudaDevAttrMultiProcessorCount:
      *value = kSms;
      return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      *value = static_cast<int>(MaxDynamicShared());
      return cudaSuccess;
    case cudaDevAttrHostRegisterReadOnlySupported:
      *value = 1;
      return cudaSuccess;
  }
  return Fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: an attribute the emulator lacks");
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  std::lock_guard<std::mutex> lock(E().mu);
  *free_bytes = E().device_total - E().device_used;
  *total_bytes = E().device_total;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  return Settle(nullptr);
}

// ---- Memory ------------------------------------------------------------------------------------

namespace {

cudaError_t Allocate(void** ptr, size_t bytes, cudaMemoryType type) {
  Emulator& e = E();
  std::lock_guard<std::mutex> lock(e.mu);
  if (type == cudaMemoryTypeDevice && bytes > e.device_total - e.device_used) {
    *ptr = nullptr;
    return Fail(cudaErrorMemoryAllocation, "");
  }
  void* p = nullptr;
  // Exactly `bytes` (a sanitizer then sees an overrun), 256-aligned as the runtime's.
  if (posix_memalign(&p, 256, bytes == 0 ? 1 : bytes) != 0) {
    *ptr = nullptr;
    return Fail(cudaErrorMemoryAllocation, "");
  }
  // Device memory comes filled with 0xff bytes (NaN as floats): code that reads what it never
  // wrote then shows it, where fresh device memory would often read as zeros.
  if (type == cudaMemoryTypeDevice) std::memset(p, 0xff, bytes);
  e.allocations[reinterpret_cast<uintptr_t>(p)] = Allocation{bytes, type, true};
  if (type == cudaMemoryTypeDevice) e.device_used += bytes;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t Release(void* ptr, cudaMemoryType type, const char* what) {
  if (ptr == nullptr) return cudaSuccess;
  Emulator& e = E();
  std::lock_guard<std::mutex> lock(e.mu);
  const auto it = e.allocations.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == e.allocations.end() || it->second.type != type || !it->second.owned) {
    return Fail(cudaErrorInvalidValue, std::string(what) + " of a pointer it did not allocate");
  }
  if (type == cudaMemoryTypeDevice) e.device_used -= it->second.bytes;
  e.allocations.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

}  // namespace

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  return Allocate(ptr, bytes, cudaMemoryTypeDevice);
}
// After a device fault the frees and destroys below still return the sticky error, as a GPU's do,
// but release what they name: a GPU's driver reclaims all of it when the process ends, and the
// emulator's is host memory that a test of the fault (which goes on in the same process) would
// otherwise leak.
cudaError_t cudaFree(void* ptr) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) {
    (void)Release(ptr, cudaMemoryTypeDevice, "cudaFree");
    return sticky;
  }
  (void)Settle(nullptr);  // as CUDA's, which waits for the device first
  return Release(ptr, cudaMemoryTypeDevice, "cudaFree");
}
cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  return Allocate(ptr, bytes, cudaMemoryTypeHost);
}
cudaError_t cudaFreeHost(void* ptr) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) {
    (void)Release(ptr, cudaMemoryTypeHost, "cudaFreeHost");
    return sticky;
  }
  (void)Settle(nullptr);
  return Release(ptr, cudaMemoryTypeHost, "cudaFreeHost");
}

cudaError_t cudaHostRegister(void* ptr, size_t bytes, unsigned /*flags*/) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  Emulator& e = E();
  std::lock_guard<std::mutex> lock(e.mu);
  const auto start = reinterpret_cast<uintptr_t>(ptr);
  if (ptr == nullptr || bytes == 0) return Fail(cudaErrorInvalidValue, "");
  // The driver pins pages that exist: a range over an unmapped hole is refused.
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t first = start & ~(page - 1);
  const uintptr_t pages = (start + bytes - first + page - 1) / page;
  std::vector<unsigned char> resident(pages);
  if (mincore(reinterpret_cast<void*>(first), pages * page, resident.data()) != 0) {
    return Fail(cudaErrorInvalidValue, "");
  }
  auto it = e.allocations.lower_bound(start);
  const bool overlaps_next = it != e.allocations.end() && it->first < start + bytes;
  const auto* before = Find(ptr);
  if (overlaps_next || before != nullptr) return Fail(cudaErrorHostMemoryAlreadyRegistered, "");
  e.allocations[start] = Allocation{bytes, cudaMemoryTypeHost, false};
  return cudaSuccess;
}

cudaError_t cudaHostUnregister(void* ptr) {
  const cudaError_t sticky = Sticky();
  if (sticky == cudaSuccess) (void)Settle(nullptr);
  Emulator& e = E();
  std::lock_guard<std::mutex> lock(e.mu);
  const auto it = e.allocations.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == e.allocations.end() || it->second.owned) {
    return sticky != cudaSuccess ? sticky : Fail(cudaErrorHostMemoryNotRegistered, "");
  }
  e.allocations.erase(it);
  return sticky;
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* ptr) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  std::lock_guard<std::mutex> lock(E().mu);
  *attributes = cudaPointerAttributes{};
  const auto* a = Find(ptr);
  attributes->type = a == nullptr ? cudaMemoryTypeUnregistered : a->second.type;
  attributes->devicePointer = const_cast<void*>(ptr);
  attributes->hostPointer =
      a != nullptr && a->second.type == cudaMemoryTypeHost ? const_cast<void*>(ptr) : nullptr;
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  const std::string problem = CopyProblem(dst, src, bytes, kind);
  if (!problem.empty()) {
    if (Capturing(stream)) InvalidateCapture(stream);
    return Fail(cudaErrorInvalidValue, problem);
  }
  Node n;
  n.type = cudaGraphNodeTypeMemcpy;
  n.dst = dst;
  n.src = src;
  n.bytes = bytes;
  n.kind = kind;
  return Queue(std::move(n), stream);
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  if (bytes > 0) {
    const std::string problem = DeviceRangeProblem(ptr, bytes, "cudaMemset");
    if (!problem.empty()) {
      if (Capturing(stream)) InvalidateCapture(stream);
      return Fail(cudaErrorInvalidValue, problem);
    }
  }
  Node n;
  n.type = cudaGraphNodeTypeMemset;
  n.dst = ptr;
  n.bytes = bytes;
  n.value = value;
  return Queue(std::move(n), stream);
}

cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  return cudaMemsetAsync(ptr, value, bytes, nullptr);
}

// ---- Streams and capture -----------------------------------------------------------------------

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  *stream = new CUstream_st();
  std::lock_guard<std::mutex> lock(E().mu);
  E().streams.insert(*stream);
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned /*flags*/) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  return cudaStreamCreate(stream);
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  const cudaError_t sticky = Sticky();
  if (stream == nullptr) {
    return sticky != cudaSuccess ? sticky : Fail(cudaErrorInvalidResourceHandle, "");
  }
  if (sticky == cudaSuccess) (void)Settle(stream);
  if (stream->graph != nullptr && stream->origin == nullptr) delete stream->graph;
  {
    std::lock_guard<std::mutex> lock(E().mu);
    E().streams.erase(stream);
  }
  delete stream;
  return sticky;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  if (Capturing(stream)) {
    InvalidateCapture(stream);
    return Fail(cudaErrorStreamCaptureUnsupported,
                "cudaStreamSynchronize on a stream being captured (the capture is now invalid)");
  }
  return Settle(stream);
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  if (event == nullptr) return Fail(cudaErrorInvalidResourceHandle, "");
  NoteWaitDepth(stream, event);
  RunDeferredBeforeWait(stream, event);
  cudaStream_t from = event->captured_in;
  {
    std::lock_guard<std::mutex> lock(E().mu);
    if (from != nullptr && E().streams.count(from) == 0) from = nullptr;
  }
  if (from == nullptr || !from->capturing) return cudaSuccess;  // its work already ran
  cudaStream_t root = from->origin != nullptr ? from->origin : from;
  if (stream == nullptr) return Fail(cudaErrorStreamCaptureUnsupported, "the legacy stream");
  if (!stream->capturing) {  // a fork: `stream` joins the capture
    stream->capturing = true;
    stream->invalidated = false;
    stream->graph = root->graph;
    stream->origin = root;
    stream->rejoined = false;
    stream->last_work = 0;
    root->joined.push_back(stream);
    return cudaSuccess;
  }
  // A join: `stream` now waits for `from`'s work up to the record; when that was all of it,
  // `from` is joined back (into the origin, or a stream already joined back).
  const cudaStream_t stream_root = stream->origin != nullptr ? stream->origin : stream;
  if (stream_root != root) {
    return Fail(cudaErrorStreamCaptureUnsupported, "waiting for an event of another capture");
  }
  if (from != stream && event->captured_at == from->last_work &&
      (stream == root || stream->rejoined)) {
    from->rejoined = true;
  }
  return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode /*mode*/) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  if (stream == nullptr || stream->capturing) {
    return Fail(cudaErrorIllegalState,
                "cudaStreamBeginCapture: the legacy stream, or already capturing");
  }
  (void)Settle(stream);  // its deferred work runs before what the graph will run
  stream->capturing = true;
  stream->invalidated = false;
  stream->graph = new CUgraph_st();
  stream->last_work = 0;
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  *graph = nullptr;
  if (stream == nullptr || !stream->capturing) {
    return Fail(cudaErrorIllegalState, "cudaStreamEndCapture without a capture");
  }
  if (stream->origin != nullptr) {
    return Fail(cudaErrorIllegalState, "cudaStreamEndCapture on a stream that joined a capture");
  }
  stream->capturing = false;
  cudaGraph_t g = std::exchange(stream->graph, nullptr);
  bool unjoined = false;
  for (cudaStream_t s : std::exchange(stream->joined, {})) {
    unjoined = unjoined || !s->rejoined;
    s->capturing = false;
    s->graph = nullptr;
    s->origin = nullptr;
    s->rejoined = false;
  }
  if (stream->invalidated || unjoined) {
    delete g;
    return unjoined ? Fail(cudaErrorStreamCaptureUnjoined,
                           "a stream that joined the capture was not joined back")
                    : Fail(cudaErrorStreamCaptureInvalidated, "");
  }
  *graph = g;
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  const bool invalidated =
      Capturing(stream) && (stream->origin != nullptr ? stream->origin : stream)->invalidated;
  *status = !Capturing(stream) ? cudaStreamCaptureStatusNone
            : invalidated      ? cudaStreamCaptureStatusInvalidated
                               : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

// ---- Events ------------------------------------------------------------------------------------

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, 0); }
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  *event = new CUevent_st();
  (*event)->timing = (flags & cudaEventDisableTiming) == 0;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return Sticky();
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  if (event == nullptr) return Fail(cudaErrorInvalidResourceHandle, "");
  NoteRecordDepth(event, stream);
  if (Capturing(stream)) {
    // As CUDA's: in a capture a record is no node of the graph, only the point that a stream
    // waiting for it depends on (a fork or a join).
    event->captured_in = stream;
    event->captured_at = stream->last_work;
    event->deferred_in = nullptr;
    return cudaSuccess;
  }
  event->captured_in = nullptr;
  Node n;
  n.type = cudaGraphNodeTypeEventRecord;
  n.event = event;
  const cudaError_t e = Queue(std::move(n), stream);
  NoteDeferredRecord(event, stream);
  return e;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  if (event == nullptr) return Fail(cudaErrorInvalidResourceHandle, "");
  return SettleUpTo(event);
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  if (event == nullptr) return Fail(cudaErrorInvalidResourceHandle, "");
  return SettleUpTo(event);
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  if (start == nullptr || end == nullptr) return Fail(cudaErrorInvalidResourceHandle, "");
  if (!start->timing || !end->timing || !start->recorded || !end->recorded) {
    return Fail(cudaErrorInvalidResourceHandle, "");
  }
  *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
  return cudaSuccess;
}

// ---- Graphs ------------------------------------------------------------------------------------

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t* nodes, size_t* count) {
  if (graph == nullptr) return Fail(cudaErrorInvalidValue, "");
  if (nodes != nullptr) {
    for (size_t i = 0; i < *count && i < graph->nodes.size(); ++i) nodes[i] = graph->nodes[i].get();
  }
  *count = graph->nodes.size();
  return cudaSuccess;
}
cudaError_t cudaGraphNodeGetType(cudaGraphNode_t node, cudaGraphNodeType* type) {
  *type = node->node.type;
  return cudaSuccess;
}
cudaError_t cudaGraphKernelNodeGetParams(cudaGraphNode_t node, cudaKernelNodeParams* params) {
  if (node->node.type != cudaGraphNodeTypeKernel) return Fail(cudaErrorInvalidValue, "");
  *params = cudaKernelNodeParams{};
  params->func = const_cast<void*>(node->node.launch.func);
  params->gridDim = node->node.launch.grid;
  params->blockDim = node->node.launch.block;
  params->sharedMemBytes = static_cast<unsigned>(node->node.launch.shared_bytes);
  return cudaSuccess;
}
cudaError_t cudaGraphMemcpyNodeGetParams(cudaGraphNode_t node, cudaMemcpy3DParms* params) {
  if (node->node.type != cudaGraphNodeTypeMemcpy) return Fail(cudaErrorInvalidValue, "");
  *params = cudaMemcpy3DParms{};
  params->srcPtr.ptr = const_cast<void*>(node->node.src);
  params->dstPtr.ptr = node->node.dst;
  params->extent.width = node->node.bytes;
  params->extent.height = params->extent.depth = 1;
  params->kind = node->node.kind;
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  if (graph == nullptr) return Fail(cudaErrorInvalidValue, "");
  *exec = new CUgraphExec_st();
  for (const auto& n : graph->nodes) (*exec)->nodes.push_back(n->node);
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return Sticky();
}
// Succeeds when the graph has the executable's nodes in kind and kernel (what a topology-keeping
// update may change: the parameters), as the runtime's update does for a captured sequence.
cudaError_t cudaGraphExecUpdate(cudaGraphExec_t exec, cudaGraph_t graph,
                                cudaGraphExecUpdateResultInfo* info) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  bool same = exec->nodes.size() == graph->nodes.size();
  for (size_t i = 0; same && i < graph->nodes.size(); ++i) {
    const Node& a = exec->nodes[i];
    const Node& b = graph->nodes[i]->node;
    same =
        a.type == b.type && (a.type != cudaGraphNodeTypeKernel || a.launch.func == b.launch.func);
  }
  if (info != nullptr) {
    *info = cudaGraphExecUpdateResultInfo{};
    info->result = same ? cudaGraphExecUpdateSuccess : cudaGraphExecUpdateErrorTopologyChanged;
  }
  if (!same) return Fail(cudaErrorGraphExecUpdateFailure, "");
  for (size_t i = 0; i < graph->nodes.size(); ++i) exec->nodes[i] = graph->nodes[i]->node;
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (const cudaError_t sticky = Sticky(); sticky != cudaSuccess) return sticky;
  if (exec == nullptr) return Fail(cudaErrorInvalidValue, "");
  if (Capturing(stream)) return Fail(cudaErrorNotSupported, "cudaGraphLaunch into a capture");
  // A graph's first kernel starts after the stream's work before it, and the graph ends before
  // the stream's next work starts (programmatic edges are between its own nodes). With deferred
  // streams the graph runs at its launch, after the stream's deferred work.
  cudaError_t e = Settle(stream);
  for (const Node& n : exec->nodes) {
    if (e == cudaSuccess) e = RunNode(n);
  }
  const cudaError_t last = FinishPending();
  return e != cudaSuccess ? e : last;
}

cudaError_t cudaProfilerStart() { return cudaSuccess; }
cudaError_t cudaProfilerStop() { return cudaSuccess; }
