#include "engine/kernels/cuda/decode_graph.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace dsagent::engine::kernels::cuda {
namespace {

cudaStream_t Raw(CudaStream& s) { return static_cast<cudaStream_t>(s.handle()); }

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser: every input bit moves every output bit
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Ends a capture that `enqueue` left half done and drops what it captured, so that the stream is
// usable again. Errors here are the capture's own (already being reported), so they are cleared.
void AbandonCapture(cudaStream_t stream) {
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(stream, &graph);
  if (graph != nullptr) cudaGraphDestroy(graph);
  cudaGetLastError();
}

struct GraphOwner {
  cudaGraph_t graph = nullptr;
  ~GraphOwner() {
    if (graph != nullptr) cudaGraphDestroy(graph);
  }
};

// Whether `p` is device memory (a copy the runtime recorded with cudaMemcpyDefault names no
// direction; its pointers do).
bool OnDevice(const void* p) {
  cudaPointerAttributes a{};
  if (p == nullptr || cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return a.type == cudaMemoryTypeDevice;
}

struct Shape {
  uint64_t key = 0;
  int64_t nodes = 0;
};

// The captured step's shape: a commutative hash of each node's kind and kernel (the order of
// cudaGraphGetNodes is not promised), and its node count. Throws CudaError for a node a replayed
// step must not hold: a copy to or from host memory, a host function, events, allocations.
Shape ShapeOf(cudaGraph_t graph) {
  size_t count = 0;
  CheckCuda(cudaGraphGetNodes(graph, nullptr, &count), "cudaGraphGetNodes");
  std::vector<cudaGraphNode_t> nodes(count);
  if (count > 0) CheckCuda(cudaGraphGetNodes(graph, nodes.data(), &count), "cudaGraphGetNodes");
  Shape shape;
  shape.nodes = static_cast<int64_t>(count);
  for (size_t i = 0; i < count; ++i) {
    cudaGraphNodeType type;
    CheckCuda(cudaGraphNodeGetType(nodes[i], &type), "cudaGraphNodeGetType");
    uint64_t what = static_cast<uint64_t>(type) << 56;
    switch (type) {
      case cudaGraphNodeTypeKernel: {
        cudaKernelNodeParams p{};
        CheckCuda(cudaGraphKernelNodeGetParams(nodes[i], &p), "cudaGraphKernelNodeGetParams");
        what ^= static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p.func));
        break;
      }
      case cudaGraphNodeTypeMemcpy: {
        cudaMemcpy3DParms p{};
        CheckCuda(cudaGraphMemcpyNodeGetParams(nodes[i], &p), "cudaGraphMemcpyNodeGetParams");
        const bool device_to_device =
            p.kind == cudaMemcpyDeviceToDevice ||
            (p.kind == cudaMemcpyDefault && OnDevice(p.srcPtr.ptr) && OnDevice(p.dstPtr.ptr));
        if (!device_to_device) {
          throw CudaError(
              "CUDA graph capture: the decode step copies host memory (a replay would read it "
              "again); only device-to-device copies can be graphed");
        }
        break;
      }
      case cudaGraphNodeTypeMemset:
      case cudaGraphNodeTypeEmpty:
        break;
      default:
        throw CudaError("CUDA graph capture: the decode step queued a node of kind " +
                        std::to_string(static_cast<int>(type)) +
                        " (only kernels, device copies and memsets can be graphed)");
    }
    shape.key += Mix(what);
  }
  return shape;
}

void* Instantiate(cudaGraph_t graph) {
  cudaGraphExec_t exec = nullptr;
  CheckCuda(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate of the decode step");
  return exec;
}

void DestroyExec(void* exec) {
  if (exec != nullptr) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec));
}

}  // namespace

DecodeGraphs::DecodeGraphs(int keep) : keep_(std::max(keep, 1)) {}

DecodeGraphs::~DecodeGraphs() {
  for (Kept& k : kept_) DestroyExec(k.exec);
}

DecodeGraphs::Kept& DecodeGraphs::ExecutableFor(void* graph, uint64_t slot, uint64_t shape,
                                                int64_t nodes) {
  const auto g = static_cast<cudaGraph_t>(graph);
  auto found = std::find_if(kept_.begin(), kept_.end(), [&](const Kept& k) {
    return k.slot == slot && k.shape == shape && k.nodes == nodes;
  });
  if (found != kept_.end()) {
    cudaGraphExecUpdateResultInfo info{};
    if (cudaGraphExecUpdate(static_cast<cudaGraphExec_t>(found->exec), g, &info) == cudaSuccess) {
      ++stats_.updates;
      return *found;
    }
    // Same hash, other topology (or a change an update cannot make): a fresh executable. The
    // old one's state after a refused update is not promised, so it goes.
    cudaGetLastError();
    DestroyExec(found->exec);
    kept_.erase(found);
  }
  if (static_cast<int>(kept_.size()) >= keep_) {
    auto oldest = std::min_element(kept_.begin(), kept_.end(),
                                   [](const Kept& a, const Kept& b) { return a.used < b.used; });
    DestroyExec(oldest->exec);
    kept_.erase(oldest);
  }
  Kept k;
  k.slot = slot;
  k.shape = shape;
  k.nodes = nodes;
  k.exec = Instantiate(g);
  ++stats_.instantiations;
  kept_.push_back(k);
  return kept_.back();
}

void DecodeGraphs::Run(CudaStream& stream, uint64_t slot, const std::function<void()>& enqueue) {
  const cudaStream_t s = Raw(stream);
  // Relaxed: the first launch of a kernel may load its module or opt it into more shared memory
  // (AllowDynamicSharedMemory) in the middle of a capture; those calls are not the stream's work,
  // and the stricter modes would refuse them. What the stream may not do (a wait on it, a host
  // copy: ShapeOf) is refused all the same.
  CheckCuda(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
  try {
    enqueue();
  } catch (...) {
    AbandonCapture(s);
    throw;
  }
  GraphOwner owner;
  CheckCuda(cudaStreamEndCapture(s, &owner.graph),
            "CUDA graph capture of the decode step (it queued work a graph cannot hold)");
  const Shape shape = ShapeOf(owner.graph);
  stats_.last_nodes = shape.nodes;
  if (shape.nodes == 0) return;
  Kept& k = ExecutableFor(owner.graph, slot, shape.key, shape.nodes);
  k.used = ++tick_;
  CheckCuda(cudaGraphLaunch(static_cast<cudaGraphExec_t>(k.exec), s), "cudaGraphLaunch");
  ++stats_.launches;
}

bool GraphsDisabledByEnvironment() {
  const char* v = std::getenv("DSAGENT_CUDA_GRAPHS");
  if (v == nullptr) return false;
  const std::string s(v);
  return s == "off" || s == "0" || s == "no" || s == "false";
}

}  // namespace dsagent::engine::kernels::cuda
