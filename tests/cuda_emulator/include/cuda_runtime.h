// The CUDA emulator's stand-in for the CUDA runtime header (tests/cuda_emulator/README.md).
//
// Builds with tests compile the CUDA backend (engine/kernels/cuda/) a second time, as ordinary C++
// against this header (cmake/Cuda.cmake), instead of nvcc and libcudart: every kernel runs on the
// CPU, each CUDA thread a fiber, so that __syncthreads and the warp shuffles keep their meaning.
// It exists so that the backend's device tests run, and find logic errors (indexing, barriers,
// shuffles, launch limits, graph capture), on machines without a GPU. It says nothing about
// speed, and its arithmetic is the host compiler's (the kernels' host-side twins in the *_math.h
// headers), not the device's.
//
// Only what the backend uses is declared; the names, types and error codes are the runtime's.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

// ---- Vector types ------------------------------------------------------------------------------

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct uint3 {
  unsigned x, y, z;
};
struct __attribute__((aligned(8))) uint2 {
  unsigned x, y;
};
struct __attribute__((aligned(16))) uint4 {
  unsigned x, y, z, w;
};
struct __attribute__((aligned(8))) int2 {
  int x, y;
};
struct __attribute__((aligned(16))) int4 {
  int x, y, z, w;
};
struct __attribute__((aligned(8))) float2 {
  float x, y;
};
struct __attribute__((aligned(16))) float4 {
  float x, y, z, w;
};
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

// ---- Runtime types and error codes (the runtime's values) --------------------------------------

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalState = 401,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchTimeout = 702,
  cudaErrorAssert = 710,
  cudaErrorHostMemoryAlreadyRegistered = 712,
  cudaErrorHostMemoryNotRegistered = 713,
  cudaErrorHardwareStackError = 714,
  cudaErrorIllegalInstruction = 715,
  cudaErrorMisalignedAddress = 716,
  cudaErrorInvalidAddressSpace = 717,
  cudaErrorInvalidPc = 718,
  cudaErrorLaunchFailure = 719,
  cudaErrorTensorMemoryLeak = 721,
  cudaErrorNotSupported = 801,
  cudaErrorMpsClientTerminated = 810,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureUnjoined = 904,
  cudaErrorGraphExecUpdateFailure = 910,
};
using cudaError = cudaError_t;

struct CUstream_st;
struct CUevent_st;
struct CUgraph_st;
struct CUgraphExec_st;
struct CUgraphNode_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;
using cudaGraph_t = CUgraph_st*;
using cudaGraphExec_t = CUgraphExec_st*;
using cudaGraphNode_t = CUgraphNode_st*;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaMemoryType {
  cudaMemoryTypeUnregistered = 0,
  cudaMemoryTypeHost = 1,
  cudaMemoryTypeDevice = 2,
  cudaMemoryTypeManaged = 3,
};

struct cudaPointerAttributes {
  cudaMemoryType type;
  int device;
  void* devicePointer;
  void* hostPointer;
};

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major;
  int minor;
  int multiProcessorCount;
  size_t sharedMemPerBlockOptin;
};

enum cudaDeviceAttr {
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
  cudaDevAttrHostRegisterReadOnlySupported = 113,
};

enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
};

enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};

enum cudaStreamCaptureStatus {
  cudaStreamCaptureStatusNone = 0,
  cudaStreamCaptureStatusActive = 1,
  cudaStreamCaptureStatusInvalidated = 2,
};

enum cudaGraphNodeType {
  cudaGraphNodeTypeKernel = 0,
  cudaGraphNodeTypeMemcpy = 1,
  cudaGraphNodeTypeMemset = 2,
  cudaGraphNodeTypeHost = 3,
  cudaGraphNodeTypeGraph = 4,
  cudaGraphNodeTypeEmpty = 5,
  cudaGraphNodeTypeWaitEvent = 6,
  cudaGraphNodeTypeEventRecord = 7,
};

struct cudaKernelNodeParams {
  void* func;
  dim3 gridDim;
  dim3 blockDim;
  unsigned int sharedMemBytes;
  void** kernelParams;
  void** extra;
};

// Launch attributes (cudaLaunchKernelEx): only programmatic dependent launch is emulated.
enum cudaLaunchAttributeID {
  cudaLaunchAttributeIgnore = 0,
  cudaLaunchAttributeProgrammaticStreamSerialization = 6,
};
union cudaLaunchAttributeValue {
  char pad[64];
  int programmaticStreamSerializationAllowed;
};
struct cudaLaunchAttribute {
  cudaLaunchAttributeID id;
  cudaLaunchAttributeValue val;
};
struct cudaLaunchConfig_t {
  dim3 gridDim;
  dim3 blockDim;
  size_t dynamicSmemBytes;
  cudaStream_t stream;
  cudaLaunchAttribute* attrs;
  unsigned int numAttrs;
};

struct cudaPitchedPtr {
  void* ptr;
  size_t pitch;
  size_t xsize;
  size_t ysize;
};
struct cudaExtent {
  size_t width, height, depth;
};
struct cudaMemcpy3DParms {
  cudaPitchedPtr srcPtr;
  cudaPitchedPtr dstPtr;
  cudaExtent extent;
  cudaMemcpyKind kind;
};

enum cudaGraphExecUpdateResult {
  cudaGraphExecUpdateSuccess = 0,
  cudaGraphExecUpdateError = 1,
  cudaGraphExecUpdateErrorTopologyChanged = 2,
};
struct cudaGraphExecUpdateResultInfo {
  cudaGraphExecUpdateResult result;
  cudaGraphNode_t errorNode;
  cudaGraphNode_t errorFromNode;
};

constexpr unsigned cudaStreamDefault = 0;
constexpr unsigned cudaStreamNonBlocking = 1;
constexpr unsigned cudaEventDefault = 0;
constexpr unsigned cudaEventDisableTiming = 2;
constexpr unsigned cudaHostRegisterDefault = 0;
constexpr unsigned cudaHostRegisterReadOnly = 8;
constexpr unsigned cudaHostAllocDefault = 0;

// ---- Runtime API -------------------------------------------------------------------------------

cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);
cudaError_t cudaRuntimeGetVersion(int* version);
cudaError_t cudaDriverGetVersion(int* version);

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
cudaError_t cudaDeviceSynchronize();

cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMallocHost(void** ptr, size_t bytes);
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaHostRegister(void* ptr, size_t bytes, unsigned flags);
cudaError_t cudaHostUnregister(void* ptr);
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* ptr);
template <class T>
cudaError_t cudaMalloc(T** ptr, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
template <class T>
cudaError_t cudaMallocHost(T** ptr, size_t bytes) {
  return cudaMallocHost(reinterpret_cast<void**>(ptr), bytes);
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream = nullptr);

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags = 0);
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status);

cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t* nodes, size_t* count);
cudaError_t cudaGraphNodeGetType(cudaGraphNode_t node, cudaGraphNodeType* type);
cudaError_t cudaGraphKernelNodeGetParams(cudaGraphNode_t node, cudaKernelNodeParams* params);
cudaError_t cudaGraphMemcpyNodeGetParams(cudaGraphNode_t node, cudaMemcpy3DParms* params);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph,
                                 unsigned long long flags = 0);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphExecUpdate(cudaGraphExec_t exec, cudaGraph_t graph,
                                cudaGraphExecUpdateResultInfo* info);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);

cudaError_t cudaProfilerStart();
cudaError_t cudaProfilerStop();

namespace dsagent_emu {
cudaError_t SetFuncAttribute(const void* func, cudaFuncAttribute attr, int value);

// A device fault, for the tests of what the backend does after one (no CUDA call): the `n`-th
// kernel to run from now (1: the next; 0: none) faults as an illegal memory access does on a GPU.
// It stops before its blocks run, and the context keeps cudaErrorIllegalAddress ("sticky"): every
// later call that uses the context returns it, cudaGetLastError included (which does not clear
// it), and nothing queued runs any more; the device's count, properties and versions still
// answer. DSAGENT_CUDA_EMULATOR_FAULT_AT_LAUNCH=n sets it at start. (A misuse the emulator itself
// finds in a kernel fails that launch alone, cudaErrorLaunchFailure, so that a test goes on.)
void FaultAtLaunch(int64_t n);
// Ends a fault (a new process's context, for the tests after one in the same process): the calls
// work again, and the memory allocated before it is still there.
void ClearDeviceFault();
}  // namespace dsagent_emu

template <class F>
cudaError_t cudaFuncSetAttribute(F* func, cudaFuncAttribute attr, int value) {
  return dsagent_emu::SetFuncAttribute(reinterpret_cast<const void*>(func), attr, value);
}

// ---- Kernels: launch, thread coordinates, barriers, shuffles, atomics --------------------------

// Marks this header as the emulator's (device code that issues PTX under __CUDA_ARCH__ takes the
// emulator's stand-ins instead of plain host code: async_copy.cuh).
#define DSAGENT_CUDA_EMULATOR_RUNTIME 1

namespace dsagent_emu {

// The running CUDA thread's coordinates (set by the block scheduler before it resumes a thread).
struct ThreadCoords {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};
extern thread_local const ThreadCoords* tl_coords;

// Runs (or, while `stream` is being captured, records) `body` for every thread of the grid.
// Returns the launch's error (also what cudaGetLastError reports next).
// `programmatic`: launched with cudaLaunchAttributeProgrammaticStreamSerialization. Such a launch
// that follows one on the same stream has its block 0 run up to its cudaGridDependencySynchronize
// before the previous kernel runs, and the rest of the launch held back until the next (a GPU
// may start it that early; HeldBlock in grid.h); its launch errors may then be reported by the
// stream's next call, as a GPU's are.
cudaError_t LaunchKernel(const void* func, const char* name, dim3 grid, dim3 block,
                         size_t shared_bytes, cudaStream_t stream,
                         std::shared_ptr<const std::function<void()>> body,
                         bool programmatic = false);
// The name the next cudaLaunchKernelEx of this OS thread gives its kernel in the emulator's
// messages (the runtime has no kernel names; engine/kernels/cuda/kernel_launch.cuh sets it).
void NameNextLaunch(const char* name);
const char* TakeNextLaunchName();
// cudaGridDependencySynchronize in a running kernel.
void GridDependencyWait();
// A prefetch into L2 (engine/kernels/cuda/l2_prefetch.cuh) of bytes [p, p + bytes): fails the
// launch when they are not all inside one allocation of the runtime's (device or pinned host),
// where a GPU's prefetch would be undefined.
void CheckPrefetch(const void* p, size_t bytes);
// Fails the running kernel's launch with `what` (the thread stops there).
[[noreturn]] void FailRunningThread(const std::string& what);
// How streams' work is scheduled (DSAGENT_CUDA_EMULATOR_STREAMS; README.md here): in program
// order, deferred until something waits for it, deferred with the most recently queued
// streams' work run first, or deferred with every stream's work run in turns, one item each. Set
// for the process, once every stream's queued work has run.
enum class StreamSchedule { kProgramOrder, kDeferred, kReversed, kInterleaved };
void SetStreamSchedule(StreamSchedule schedule);
// The OS threads that run a launch's blocks (DSAGENT_CUDA_EMULATOR_THREADS; by default the CPUs,
// at most 8): blocks that one thread runs are ordered, so a race between blocks needs two.
int BlockThreads();

void SyncThreads();
int SyncThreadsAnd(int predicate);
// __syncwarp: the lanes of `mask` (of those the block has) wait for each other, and their memory
// is ordered (which a shuffle's exchange does not do: tests/cuda_emulator/race_check.h).
void WarpBarrier(unsigned mask);
// The warp exchange behind the shuffles: returns lane `src_lane`'s `value`, once every lane of
// `mask` (of those the block has) has arrived.
uint64_t WarpExchange(unsigned mask, uint64_t value, int src_lane);
// The same exchange giving every lane's values: each lane puts in n words (1 to
// kMaxGatherWords) and gets every lane's, [word][lane] (the lanes of `mask`, which must all be
// lanes the block has), readable until its next exchange. Device code that would read several
// lanes through a sequence of shuffles can read them all at one wait instead
// (engine/kernels/cuda/warp_butterfly.cuh): each wait switches every lane's fiber out and back,
// and they read the one array the warp shares rather than copies on each fiber's stack.
constexpr int kMaxGatherWords = 16;
const uint64_t* WarpGather(unsigned mask, const uint64_t* words, int n);
inline const uint64_t* WarpGather(unsigned mask, uint64_t value) {
  return WarpGather(mask, &value, 1);
}
// The running block's dynamic shared memory (the launch's shared_bytes).
void* DynamicSharedMemory();
// c + the sum of a[k] * b[k], k < n, as the emulated tensor core sums one output of an MMA
// (engine/kernels/cuda/mma_bf16.cuh): fp32 fmas in k order, or the block FMA model
// DSAGENT_CUDA_EMULATOR_MMA names (tests/cuda_emulator/mma_model.h).
float TensorCoreDot(const float* a, const float* b, int n, float c);
// cp.async as the device runs it, for the kernels' asm under __CUDA_ARCH__ (async_copy.cuh): the
// copy is started here and made only at the thread's AsyncWaitAll, so a kernel that reads the
// destination without waiting reads what was there before (0xff bytes in fresh shared memory)
// and fails its test. Copies never waited for are dropped when the thread exits.
void AsyncCopy(void* dst, const void* src, size_t bytes);
void AsyncWaitAll();

template <class T>
T* DynamicShared() {
  return static_cast<T*>(DynamicSharedMemory());
}

// `Kernel<<<grid, block, shared, stream>>>(args)` is compiled as
// `::dsagent_emu::Launch(Kernel, "Kernel")(grid, block, shared, stream)(args)` (emulate_cu.cmake).
template <class... P>
struct KernelLaunch {
  void (*kernel)(P...);
  const char* name;
  dim3 grid, block;
  size_t shared_bytes;
  cudaStream_t stream;
  bool programmatic = false;  // cudaLaunchKernelEx's attribute (LaunchKernel)
  template <class... A>
  cudaError_t operator()(A&&... args) const {
    static_assert(sizeof...(A) == sizeof...(P), "a kernel launch with the wrong argument count");
    // The arguments are copied now, as the runtime copies them at the launch.
    auto params = std::make_shared<std::tuple<std::decay_t<P>...>>(std::forward<A>(args)...);
    void (*k)(P...) = kernel;
    return LaunchKernel(
        reinterpret_cast<const void*>(k), name, grid, block, shared_bytes, stream,
        std::make_shared<const std::function<void()>>([k, params] { std::apply(k, *params); }),
        programmatic);
  }
};

template <class... P>
struct KernelRef {
  void (*kernel)(P...);
  const char* name;
  KernelLaunch<P...> operator()(dim3 grid, dim3 block, size_t shared_bytes = 0,
                                cudaStream_t stream = nullptr) const {
    return {kernel, name, grid, block, shared_bytes, stream};
  }
};

template <class... P>
KernelRef<P...> Launch(void (*kernel)(P...), const char* name) {
  return {kernel, name};
}

}  // namespace dsagent_emu

template <class... P, class... A>
cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t* config, void (*kernel)(P...),
                               A&&... args) {
  bool programmatic = false;
  for (unsigned i = 0; i < config->numAttrs; ++i) {
    if (config->attrs[i].id == cudaLaunchAttributeProgrammaticStreamSerialization) {
      programmatic = config->attrs[i].val.programmaticStreamSerializationAllowed != 0;
    }
  }
  return dsagent_emu::KernelLaunch<P...>{
      kernel,           dsagent_emu::TakeNextLaunchName(), config->gridDim,
      config->blockDim, config->dynamicSmemBytes,          config->stream,
      programmatic}(std::forward<A>(args)...);
}

// Programmatic dependent launch, device side: the wait for the stream's previous kernel (its end
// and its memory), and the signal that lets the next kernel start (a hint: nothing to do here).
inline void cudaGridDependencySynchronize() { dsagent_emu::GridDependencyWait(); }
inline void cudaTriggerProgrammaticLaunchCompletion() {}

namespace dsagent_emu {

template <class T>
uint64_t ToBits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>);
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}

template <class T>
T FromBits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

inline unsigned LinearThread() {
  const ThreadCoords& c = *tl_coords;
  return c.thread_idx.x + c.block_dim.x * (c.thread_idx.y + c.block_dim.y * c.thread_idx.z);
}

}  // namespace dsagent_emu

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __constant__
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// A block's threads are fibers on one OS thread, and one OS thread runs one block at a time, so a
// per-OS-thread static is a per-block shared variable (block-scope thread_local is static).
#define __shared__ thread_local

#define threadIdx (::dsagent_emu::tl_coords->thread_idx)
#define blockIdx (::dsagent_emu::tl_coords->block_idx)
#define blockDim (::dsagent_emu::tl_coords->block_dim)
#define gridDim (::dsagent_emu::tl_coords->grid_dim)
#define warpSize 32

inline void __syncthreads() { dsagent_emu::SyncThreads(); }
inline int __syncthreads_and(int predicate) { return dsagent_emu::SyncThreadsAnd(predicate); }

// A barrier of the warp's lanes in `mask`.
inline void __syncwarp(unsigned mask = 0xffffffffu) { dsagent_emu::WarpBarrier(mask); }

template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32) {
  const int lane = static_cast<int>(dsagent_emu::LinearThread() % 32);
  const int src = (lane & ~(width - 1)) + (src_lane & (width - 1));
  return dsagent_emu::FromBits<T>(dsagent_emu::WarpExchange(mask, dsagent_emu::ToBits(var), src));
}

template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32) {
  const int lane = static_cast<int>(dsagent_emu::LinearThread() % 32);
  int src = lane ^ lane_mask;
  if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;  // outside its segment: own value
  return dsagent_emu::FromBits<T>(dsagent_emu::WarpExchange(mask, dsagent_emu::ToBits(var), src));
}

template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32) {
  const int lane = static_cast<int>(dsagent_emu::LinearThread() % 32);
  int src = lane + static_cast<int>(delta);
  if ((src & ~(width - 1)) != (lane & ~(width - 1))) src = lane;
  return dsagent_emu::FromBits<T>(dsagent_emu::WarpExchange(mask, dsagent_emu::ToBits(var), src));
}

template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32) {
  const int lane = static_cast<int>(dsagent_emu::LinearThread() % 32);
  int src = lane - static_cast<int>(delta);
  if (src < (lane & ~(width - 1))) src = lane;  // below its segment: own value
  return dsagent_emu::FromBits<T>(dsagent_emu::WarpExchange(mask, dsagent_emu::ToBits(var), src));
}

// Bit l set where lane l of `mask` passed a nonzero predicate (every lane of the mask must call
// it, as on the device).
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  const uint64_t* all = dsagent_emu::WarpGather(mask, predicate != 0 ? 1 : 0);
  unsigned bits = 0;
  for (int l = 0; l < 32; ++l) {
    if ((mask >> l) & 1u) bits |= static_cast<unsigned>(all[l]) << l;
  }
  return bits;
}

inline int __ffs(int x) { return __builtin_ffs(x); }

template <class T>
T __ldg(const T* p) {
  return *p;
}

// A fence of the thread's memory operations against every other thread's (the device's
// __threadfence): with an atomic after it, the last-CTA pattern's writes of one block are seen by
// the block that counts last (engine/kernels/cuda/last_cta.cuh), blocks being on several OS
// threads.
#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer does not model fences: for its race check (tests/cuda_emulator/race_check.h)
// every fence releases and acquires one sync object, so what a thread did before its fence happens
// before what any thread does after a later fence (a stronger order than the device's, which the
// last-CTA pattern's atomic then relies on). Its runtime's locks fence the hardware.
namespace dsagent_emu {
inline char thread_fence_race_sync;
}  // namespace dsagent_emu
inline void __threadfence() {
  __tsan_release(&dsagent_emu::thread_fence_race_sync);
  __tsan_acquire(&dsagent_emu::thread_fence_race_sync);
}
#else
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
#endif

// Blocks run on several OS threads, so atomics on global memory must be atomic here too.
template <class T>
T atomicAdd(T* address, T value) {
  if constexpr (std::is_integral_v<T>) {
    return __atomic_fetch_add(address, value, __ATOMIC_RELAXED);
  } else {
    T old, next;
    __atomic_load(address, &old, __ATOMIC_RELAXED);
    do {
      next = old + value;
    } while (!__atomic_compare_exchange(address, &old, &next, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED));
    return old;
  }
}
template <class T>
T atomicExch(T* address, T value) {
  return __atomic_exchange_n(address, value, __ATOMIC_RELAXED);
}
template <class T>
T atomicMax(T* address, T value) {
  T old = __atomic_load_n(address, __ATOMIC_RELAXED);
  while (old < value && !__atomic_compare_exchange_n(address, &old, value, false, __ATOMIC_RELAXED,
                                                     __ATOMIC_RELAXED)) {
  }
  return old;
}

inline float __uint_as_float(unsigned u) { return dsagent_emu::FromBits<float>(u); }
inline unsigned __float_as_uint(float f) { return static_cast<unsigned>(dsagent_emu::ToBits(f)); }
inline float __int_as_float(int i) {
  return dsagent_emu::FromBits<float>(static_cast<unsigned>(i));
}
inline int __float_as_int(float f) { return static_cast<int>(dsagent_emu::ToBits(f)); }

inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }

// The device's overloaded min/max for mixed arithmetic types.
template <class A, class B,
          class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
inline std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}
template <class A, class B,
          class = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
inline std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(b) < static_cast<C>(a) ? static_cast<C>(b) : static_cast<C>(a);
}
