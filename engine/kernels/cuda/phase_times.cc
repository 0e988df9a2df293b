#include "engine/kernels/cuda/phase_times.h"

#include <cuda_runtime.h>

#include <cstring>
#include <map>
#include <mutex>
#include <utility>

namespace dsagent::engine::kernels::cuda {
namespace {

struct Mark {
  cudaStream_t stream;
  const char* name;
  cudaEvent_t event;
};

struct Marks {
  std::mutex mutex;
  std::vector<Mark> marks;
  std::vector<cudaEvent_t> spare;  // events of collected marks, reused
};

Marks& TheMarks() {
  static Marks* marks = new Marks();  // never destroyed: events may outlive static teardown
  return *marks;
}

EnvSwitch timing("DSAGENT_CUDA_PHASE_TIMES", "1");

}  // namespace

bool PhaseTiming() { return timing.On(); }

void SetPhaseTiming(bool on) { timing.Set(on); }

void MarkPhase(CudaStream& stream, const char* name) {
  if (!PhaseTiming()) return;
  const auto raw = static_cast<cudaStream_t>(stream.handle());
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  CheckCuda(cudaStreamIsCapturing(raw, &capturing), "cudaStreamIsCapturing");
  if (capturing != cudaStreamCaptureStatusNone) return;
  Marks& m = TheMarks();
  std::lock_guard<std::mutex> lock(m.mutex);
  cudaEvent_t e = nullptr;
  if (!m.spare.empty()) {
    e = m.spare.back();
    m.spare.pop_back();
  } else {
    CheckCuda(cudaEventCreate(&e), "cudaEventCreate (phase times)");
  }
  const cudaError_t recorded = cudaEventRecord(e, raw);
  if (recorded != cudaSuccess) {
    m.spare.push_back(e);
    CheckCuda(recorded, "cudaEventRecord (phase times)");
  }
  m.marks.push_back({raw, name, e});
}

std::vector<PhaseTime> CollectPhaseTimes() {
  Marks& m = TheMarks();
  std::lock_guard<std::mutex> lock(m.mutex);
  std::vector<PhaseTime> out;
  std::map<std::string, size_t> index;
  std::map<cudaStream_t, const Mark*> open;  // each stream's last mark so far
  const auto release = [&] {
    for (const Mark& k : m.marks) m.spare.push_back(k.event);
    m.marks.clear();
  };
  for (const Mark& k : m.marks) {
    const cudaError_t synced = cudaEventSynchronize(k.event);
    if (synced != cudaSuccess) {
      release();
      CheckCuda(synced, "cudaEventSynchronize (phase times)");
    }
    auto it = open.find(k.stream);
    if (it != open.end() && std::strcmp(it->second->name, "end") != 0) {
      float ms = 0;
      const cudaError_t timed = cudaEventElapsedTime(&ms, it->second->event, k.event);
      if (timed != cudaSuccess) {
        release();
        CheckCuda(timed, "cudaEventElapsedTime (phase times)");
      }
      const std::string name = it->second->name;
      auto [at, fresh] = index.try_emplace(name, out.size());
      if (fresh) out.push_back({name, 0.0, 0});
      out[at->second].ms += ms;
      out[at->second].count += 1;
    }
    open[k.stream] = &k;
  }
  release();
  return out;
}

}  // namespace dsagent::engine::kernels::cuda
