#include "engine/kernels/cuda/expert_stream.h"

#include <stdexcept>
#include <string>
#include <utility>

#include "engine/kernels/cuda/weight_upload.h"

namespace dsagent::engine::kernels::cuda {
namespace {

EnvSwitch fill_the_pools("DSAGENT_CUDA_STREAM_CHOICE", "capacity");

}  // namespace

bool StreamChoiceByCapacity() { return fill_the_pools.On(); }

void SetStreamChoiceByCapacity(bool on) { fill_the_pools.Set(on); }

ExpertStreamPool ExpertStreamPool::Create(WeightFormat format, int64_t rows, int64_t cols,
                                          int64_t capacity, int64_t experts) {
  if (capacity < 0) throw std::invalid_argument("ExpertStreamPool: a negative capacity");
  // The shape checked even for an empty pool.
  if (auto layout = UploadLayout(format, rows, cols); !layout) {
    throw std::invalid_argument(layout.error());
  }
  ExpertStreamPool pool;
  pool.capacity = capacity;
  for (int64_t i = 0; i < capacity; ++i) {
    pool.entries.push_back(DeviceWeight::Allocate(format, rows, cols));
  }
  if (capacity > 0 && experts > 0) {
    pool.experts = experts;
    pool.turns = (experts + capacity - 1) / capacity;
    pool.staged_tables =
        PinnedHostBuffer(static_cast<size_t>(pool.turns * experts) * sizeof(WeightView));
  }
  return pool;
}

ExpertSetViews StreamExperts(const DeviceWeightSet& set, const std::vector<WeightRows>& host,
                             const int32_t* experts, int64_t n, ExpertStreamPool& pool,
                             CudaStream& stream, int64_t turn) {
  const int64_t count = static_cast<int64_t>(host.size());
  if (n < 0 || n > pool.capacity) {
    throw std::invalid_argument("StreamExperts: " + std::to_string(n) +
                                " experts, the pool holds " + std::to_string(pool.capacity));
  }
  std::vector<std::pair<int32_t, const DeviceWeight*>> streamed;
  streamed.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t e = experts[i];
    if (e < set.on_device || e >= count) {
      throw std::invalid_argument("StreamExperts: expert " + std::to_string(e) +
                                  " is not one kept on the host (" + std::to_string(set.on_device) +
                                  ".." + std::to_string(count - 1) + ")");
    }
    DeviceWeight& entry = pool.entries[static_cast<size_t>(i)];
    entry.Fill(host[static_cast<size_t>(e)], stream);  // throws for another format or shape
    streamed.emplace_back(e, &entry);
  }
  if (turn < 0) throw std::invalid_argument("StreamExperts: turn " + std::to_string(turn));
  const bool staged = turn < pool.turns && count <= pool.experts;
  WeightView* staging =
      staged ? pool.staged_tables.as<WeightView>() + turn * pool.experts : nullptr;
  return UploadExpertTable(set, streamed, pool.table, stream, turn > 0, staging);
}

}  // namespace dsagent::engine::kernels::cuda
