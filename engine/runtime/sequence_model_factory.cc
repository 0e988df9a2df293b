#include "engine/runtime/sequence_model_factory.h"

#include <string>
#include <vector>

#include "engine/generate/cpu_sequence_model.h"
#include "engine/kernels/cuda_probe.h"
#include "engine/model/loaded_pages.h"
#include "engine/model/placement_plan.h"
#include "engine/model/tensor_inventory.h"
#if DSAGENT_HAVE_CUDA
#include "engine/kernels/cuda/device_sequence_model.h"
#include "engine/kernels/cuda/expert_stream_costs.h"
#endif

namespace dsagent::engine {

Expected<ChosenSequenceModel, std::string> MakeSequenceModel(forward::Model& model,
                                                             const SequenceModelChoice& choice) {
  ChosenSequenceModel chosen;
  if (choice.device.kind == kernels::DeviceKind::kCpu) {
    chosen.model = std::make_unique<CpuSequenceModel>(model);
    return chosen;
  }
  const kernels::CudaProbe probe = kernels::ProbeCuda();
  if (auto why = kernels::DeviceUnavailable(choice.device, probe)) return MakeUnexpected(*why);
#if DSAGENT_HAVE_CUDA
  const ModelConfig& c = model.config();
  const std::string name = choice.device.Name();
  const int64_t context = choice.context > 0 ? choice.context : c.max_position_embeddings;
  // DeviceUnavailable found it.
  const kernels::CudaDeviceInfo& device = *kernels::FindDevice(probe, choice.device.index);
  const kernels::PlanningMemory memory = kernels::PlanningMemoryOf(device, choice.gpu_memory);
  const PlacementReserve reserve =
      PlacementReserveFor(c, context, choice.sequences > 1 ? choice.sequences : 1);
  auto plan =
      PlanPlacement(ExpectedTensors(c), memory.bytes, reserve.total(), kRuntimePlacementOptions);
  if (!plan) {
    // Both figures of the reserve can be lowered: say which flags do (serve: --ctx-size and
    // --parallel; engine generate: --ctx-size; provider local: context_tokens, and eval --jobs).
    const int64_t sequences = choice.sequences > 1 ? choice.sequences : 1;
    return MakeUnexpected(
        name + " (" + device.name + ", " + memory.basis + "): " + plan.error() +
        " (the reserve for the KV state of " + std::to_string(sequences) +
        (sequences > 1 ? " sequences" : " sequence") + " of " + std::to_string(context) +
        " positions: fewer positions (--ctx-size, providers.local.context_tokens) "
        "or sequences (--parallel, eval --jobs) lower it); use --device cpu");
  }
  chosen.placement = "placement on " + name + " (" + device.name + "), " + memory.basis + "\n" +
                     DescribePlacement(*plan);
  auto made =
      kernels::cuda::DeviceSequenceModel::Create(model, *plan,
                                                 {.device = choice.device.index,
                                                  .context = context,
                                                  .host_threads = choice.host_threads,
                                                  .upload_progress = choice.upload_progress,
                                                  .cancel = choice.cancel});
  if (!made) return MakeUnexpected(made.error());
  if (const std::string host = (*made)->HostExpertMemory(); !host.empty()) {
    chosen.placement += "  " + host + "\n";
  }
  if (plan->stream_pool_experts > 0) {
    chosen.placement +=
        "  " +
        kernels::cuda::DescribeExpertStreamCosts(
            (*made)->StreamCosts(), plan->stream_pool_bytes / plan->stream_pool_experts,
            plan->stream_min_rows) +
        "\n";
  }
  if (model.weight_residency() == WeightResidency::kLoaded) {
    // The GPU holds all but the host experts: the host's private copy of the rest goes back to
    // being the files' pages (loaded_pages.h), reclaimable.
    const std::vector<AddressRange> host = (*made)->HostWeightRanges();
    chosen.placement += "  " +
                        DescribeReturnedPages(model.ReturnLoadedWeightPages(host), !host.empty()) +
                        "\n";
  }
  chosen.model = std::move(*made);
  chosen.context_limit = context;
  return chosen;
#else
  return MakeUnexpected(choice.device.Name() + ": this build has no CUDA backend");
#endif
}

}  // namespace dsagent::engine
