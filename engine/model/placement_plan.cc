#include "engine/model/placement_plan.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "engine/kv/kv_accounting.h"

namespace dsagent::engine {
namespace {

std::string PlacementGiB(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1LL << 30));
  return buf;
}

int64_t TensorBytes(const ExpectedTensor& t) {
  int64_t n = static_cast<int64_t>(DTypeBytes(t.dtype));
  for (int64_t d : t.shape) n *= d;
  return n;
}

// "layers.3.ffn.experts.17.w1.weight" -> block "layers.3.", expert 17.
bool SplitExpertName(const std::string& name, std::string& block, int& expert) {
  static const std::string kMarker = "ffn.experts.";
  const size_t at = name.find(kMarker);
  if (at == std::string::npos) return false;
  block = name.substr(0, at);
  expert = std::atoi(name.c_str() + at + kMarker.size());
  return true;
}

// Places the routed experts in `budget` bytes of device memory: main layers first, round robin
// by expert index; then the MTP blocks the same way. Resets any earlier placement.
void PlaceExperts(PlacementPlan& plan, int64_t budget) {
  plan.experts_on_device = 0;
  plan.device_expert_bytes = 0;
  plan.host_expert_bytes = 0;
  for (BlockExperts& b : plan.blocks) {
    b.on_device = 0;
    plan.host_expert_bytes += b.experts * b.bytes_per_expert;
  }
  int64_t left = budget;
  for (const bool mtp : {false, true}) {
    int max_experts = 0;
    for (const BlockExperts& b : plan.blocks) {
      if (b.mtp == mtp) max_experts = std::max(max_experts, b.experts);
    }
    bool full = false;
    for (int e = 0; e < max_experts && !full; ++e) {
      for (BlockExperts& b : plan.blocks) {
        if (b.mtp != mtp || e >= b.experts) continue;
        if (b.bytes_per_expert > left) {
          full = true;
          break;
        }
        left -= b.bytes_per_expert;
        b.on_device = e + 1;
        plan.experts_on_device += 1;
        plan.device_expert_bytes += b.bytes_per_expert;
        plan.host_expert_bytes -= b.bytes_per_expert;
      }
    }
    if (full) break;
  }
}

}  // namespace

PlacementReserve PlacementReserveFor(const ModelConfig& config, int64_t context, int sequences) {
  if (context <= 0) context = config.max_position_embeddings;
  const int64_t n = std::max(sequences, 1);
  const kv::KvFootprint kv = kv::ComputeKvFootprint(config, kv::KvLayout::kReference);
  PlacementReserve r;
  r.kv_bytes = n * kv.bytes_for(context);
  // A prefill chunk keeps a few stream-sized fp32 buffers per row alive ([rows, hc, dim]: the
  // streams, the block input and output, the sub-layer output).
  const int64_t chunk_activations =
      kReserveChunkTokens * static_cast<int64_t>(config.hc_mult) * config.dim * 4 * 4;
  r.workspace_bytes = kDeviceWorkspaceBytes + n * chunk_activations;
  return r;
}

Expected<PlacementPlan, std::string> PlanPlacement(const std::vector<ExpectedTensor>& tensors,
                                                   int64_t device_bytes, int64_t reserve_bytes,
                                                   const PlacementOptions& options) {
  PlacementPlan plan;
  plan.device_bytes = device_bytes;
  plan.reserve_bytes = reserve_bytes;
  std::map<std::string, size_t> block_index;
  for (const ExpectedTensor& t : tensors) {
    const int64_t bytes = TensorBytes(t);
    std::string block;
    int expert = 0;
    if (!t.routed_expert || !SplitExpertName(t.name, block, expert)) {
      plan.resident_bytes += bytes;
      continue;
    }
    auto [it, added] = block_index.emplace(block, plan.blocks.size());
    if (added) plan.blocks.push_back({.prefix = block, .mtp = t.mtp});
    BlockExperts& b = plan.blocks[it->second];
    b.experts = std::max(b.experts, expert + 1);
    // Every expert of a block has the same tensors; count expert 0's bytes.
    if (expert == 0) b.bytes_per_expert += bytes;
  }
  for (const BlockExperts& b : plan.blocks) plan.experts_total += b.experts;
  const int64_t budget = device_bytes - reserve_bytes - plan.resident_bytes;
  if (budget < 0) {
    return MakeUnexpected(
        "a device of " + PlacementGiB(device_bytes) + " cannot hold this model's attention, " +
        "shared experts, norms and head (" + PlacementGiB(plan.resident_bytes) +
        ") plus the reserve for the KV state and activations (" + PlacementGiB(reserve_bytes) +
        "): it needs at least " + PlacementGiB(plan.resident_bytes + reserve_bytes) +
        "; use a larger device or --device cpu");
  }
  PlaceExperts(plan, budget);
  if (!plan.all_on_device() && options.stream_pool_experts > 0) {
    // Room for a stream pool, taken from the experts' budget, then the experts placed again.
    int64_t largest = 0;
    for (const BlockExperts& b : plan.blocks) largest = std::max(largest, b.bytes_per_expert);
    int64_t pool = options.stream_pool_experts;
    while (pool > 0 && pool * largest > budget) pool /= 2;
    if (pool > 0 && largest > 0) {
      PlaceExperts(plan, budget - pool * largest);
      plan.stream_pool_experts = pool;
      plan.stream_pool_bytes = pool * largest;
      plan.stream_min_rows = std::max<int64_t>(options.stream_min_rows, 1);
    }
  }
  return plan;
}

std::string DescribePlacement(const PlacementPlan& p) {
  std::string out = "placement: device " + PlacementGiB(p.device_bytes) + ", reserve " +
                    PlacementGiB(p.reserve_bytes) + " for KV state and activations\n";
  out += "  on the device: attention, shared experts, norms, gates, embedding, head (" +
         PlacementGiB(p.resident_bytes) + ") + " + std::to_string(p.experts_on_device) + " of " +
         std::to_string(p.experts_total) + " routed experts (" +
         PlacementGiB(p.device_expert_bytes) + "); " + PlacementGiB(p.device_used_bytes()) +
         " used\n";
  out += "  in pinned host memory (CPU kernels): " +
         std::to_string(p.experts_total - p.experts_on_device) + " routed experts (" +
         PlacementGiB(p.host_expert_bytes) + ")\n";
  if (p.stream_pool_experts > 0) {
    out += "  streamed to the device for MoE calls of " + std::to_string(p.stream_min_rows) +
           " rows or more (prefill chunks): a pool of " + std::to_string(p.stream_pool_experts) +
           " experts (" + PlacementGiB(p.stream_pool_bytes) +
           ") for those a call's rows chose most, as many as the costs measured at load make "
           "worth it, a pool-full at a time; shorter calls compute them on the CPU\n";
  }
  // Runs of consecutive blocks with the same split, e.g. "layers.0-42: 128/256 experts on the
  // device".
  for (size_t i = 0; i < p.blocks.size();) {
    size_t j = i + 1;
    while (j < p.blocks.size() && p.blocks[j].on_device == p.blocks[i].on_device &&
           p.blocks[j].experts == p.blocks[i].experts && p.blocks[j].mtp == p.blocks[i].mtp) {
      ++j;
    }
    std::string name = p.blocks[i].prefix;
    if (!name.empty() && name.back() == '.') name.pop_back();
    if (j - i > 1) {
      std::string last = p.blocks[j - 1].prefix;
      last.pop_back();
      name += "-" + last.substr(last.rfind('.') + 1);
    }
    out += "  " + name + ": " + std::to_string(p.blocks[i].on_device) + "/" +
           std::to_string(p.blocks[i].experts) + " experts on the device\n";
    i = j;
  }
  return out;
}

}  // namespace dsagent::engine
