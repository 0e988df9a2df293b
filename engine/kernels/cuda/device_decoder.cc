#include "engine/kernels/cuda/device_decoder.h"

#include <cinttypes>
#include <cstdio>
#include <algorithm>
#include <exception>
#include <stdexcept>
#include <utility>

#include "engine/kernels/cuda/device_model_upload.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/model_step.h"

namespace dsagent::engine::kernels::cuda {

namespace {

// Each block of `plan` of the kind asked (decoder layers "layers.N." or MTP blocks "mtp.M.") ->
// its experts on the device, by index; -1 where the plan says nothing.
Expected<std::vector<int64_t>, std::string> ExpertsOnDevicePer(const PlacementPlan& plan,
                                                               int64_t count, bool mtp) {
  const char* kind = mtp ? "mtp" : "layers";
  const std::string what = mtp ? "MTP blocks" : "decoder layers";
  std::vector<int64_t> on_device(static_cast<size_t>(count), -1);
  for (const BlockExperts& b : plan.blocks) {
    if (b.mtp != mtp) continue;
    int64_t index = -1;
    char tail = 0;
    const std::string format = std::string(kind) + ".%" SCNd64 "%c";
    const bool named = std::sscanf(b.prefix.c_str(), format.c_str(), &index, &tail) == 2 &&
                       tail == '.' && b.prefix == kind + ("." + std::to_string(index)) + ".";
    if (!named || index < 0 || index >= count) {
      return MakeUnexpected("placement plan: block \"" + b.prefix + "\" is not one of the " +
                            std::to_string(count) + " " + what);
    }
    if (on_device[static_cast<size_t>(index)] >= 0) {
      return MakeUnexpected(
          "placement plan: " + std::string(mtp ? "MTP block " : "decoder layer ") +
          std::to_string(index) + " is planned twice");
    }
    on_device[static_cast<size_t>(index)] = b.on_device;
  }
  return on_device;  // -1 where the plan says nothing: every expert on the device
}

}  // namespace

Expected<std::vector<int64_t>, std::string> ExpertsOnDevicePerLayer(const PlacementPlan& plan,
                                                                    int64_t layers) {
  return ExpertsOnDevicePer(plan, layers, false);
}

Expected<std::vector<int64_t>, std::string> ExpertsOnDevicePerMtpBlock(const PlacementPlan& plan,
                                                                       int64_t blocks) {
  return ExpertsOnDevicePer(plan, blocks, true);
}

std::optional<std::string> DeviceModelRefuses(const ModelConfig& config, const PlacementPlan& plan,
                                              const DeviceDecoderOptions& options,
                                              const std::string& who) {
  if (auto split = ExpertsOnDevicePerLayer(plan, config.n_layers); !split) {
    return who + ": " + split.error();
  }
  if (auto split = ExpertsOnDevicePerMtpBlock(plan, config.n_mtp_layers); !split) {
    return who + ": " + split.error();
  }
  if (options.context < 1 || options.context > config.max_position_embeddings) {
    return who + ": context " + std::to_string(options.context) + " is not in [1, " +
           std::to_string(config.max_position_embeddings) + "] (max_position_embeddings)";
  }
  if (options.chunk_rows < 1 || options.chunk_rows > kMaxDeviceChunkRows) {
    return who + ": chunk_rows " + std::to_string(options.chunk_rows) + " is not in [1, " +
           std::to_string(kMaxDeviceChunkRows) + "]";
  }
  return std::nullopt;
}

std::unique_ptr<DeviceModel> UploadPlannedModel(const forward::Model& model,
                                                const PlacementPlan& plan,
                                                const DeviceDecoderOptions& options,
                                                CudaStream& stream,
                                                std::unique_ptr<HostExpertCompute>& host) {
  const ModelConfig& c = model.config();
  auto split = ExpertsOnDevicePerLayer(plan, c.n_layers);
  if (!split) throw std::invalid_argument(split.error());
  auto mtp_split = ExpertsOnDevicePerMtpBlock(plan, c.n_mtp_layers);
  if (!mtp_split) throw std::invalid_argument(mtp_split.error());
  ExpertOffload offload;
  offload.on_device = *split;
  offload.mtp_on_device = *mtp_split;
  const auto on_host = [&](int64_t n) { return n >= 0 && n < c.n_routed_experts; };
  const bool any_on_host = std::any_of(split->begin(), split->end(), on_host) ||
                           std::any_of(mtp_split->begin(), mtp_split->end(), on_host);
  if (any_on_host) {
    host = std::make_unique<HostExpertCompute>(options.host_threads, model.numerics());
    offload.cx = &host->cx;
    offload.stream_pool_experts = plan.stream_pool_experts;
    offload.stream_min_rows = plan.stream_min_rows;
    host->ranges = HostExpertRanges(model.weights(), *split, *mtp_split);
    host->pinned = PinnedHostMemory::Pin(host->ranges, options.pin_host_experts);
  }
  auto device = std::make_unique<DeviceModel>(UploadModel(model.weights(), c, options.context,
                                                          stream, any_on_host ? &offload : nullptr,
                                                          options.upload_progress,
                                                          &options.cancel));
  if (model.numerics() == Numerics::kExact) UseExactNumerics(*device);
  return device;
}

DeviceDecoder::DeviceDecoder() = default;
DeviceDecoder::~DeviceDecoder() = default;

Expected<std::unique_ptr<DeviceDecoder>, std::string> DeviceDecoder::Create(
    const forward::Model& model, const PlacementPlan& plan, const DeviceDecoderOptions& options) {
  const ModelConfig& c = model.config();
  if (auto why = DeviceModelRefuses(c, plan, options, "device decoder"))
    return MakeUnexpected(*why);
  std::unique_ptr<DeviceDecoder> d(new DeviceDecoder());
  d->config_ = c;
  d->device_ = options.device;
  d->context_ = options.context;
  d->vocab_ = c.vocab_size;
  try {
    UseDevice(options.device);
    d->stream_ = std::make_unique<CudaStream>();
    d->model_ = UploadPlannedModel(model, plan, options, *d->stream_, d->host_);
    d->sequence_ =
        std::make_unique<DeviceSequence>(DeviceSequence::Create(*d->model_, *d->stream_));
    d->token_ = std::make_unique<DeviceBuffer>(sizeof(int32_t));
    d->logits_ = std::make_unique<DeviceBuffer>(static_cast<size_t>(c.vocab_size) * sizeof(float));
  } catch (const std::exception& e) {
    return MakeUnexpected("device decoder on cuda:" + std::to_string(options.device) + ": " +
                          e.what());
  }
  return d;
}

Expected<std::vector<float>, std::string> DeviceDecoder::Decode(int32_t token) {
  if (!broken_.empty()) return MakeUnexpected(broken_);
  if (auto ok = forward::CheckTokenIds(config_, {&token, 1}, pos_); !ok) {
    return MakeUnexpected(ok.error());
  }
  if (pos_ >= context_) {
    return MakeUnexpected("device decoder: the context is full (" + std::to_string(context_) +
                          " positions)");
  }
  std::vector<float> logits(static_cast<size_t>(vocab_));
  try {
    // A decoder may be used from another thread than the one that made it.
    UseDevice(device_);
    token_->Upload(&token, sizeof token, *stream_);
    ModelDecode(*model_, *sequence_, token_->as<int32_t>(), logits_->as<float>(), *stream_);
    logits_->Download(logits.data(), logits.size() * sizeof(float), *stream_);
  } catch (const std::exception& e) {
    broken_ = "device decoder on cuda:" + std::to_string(device_) + " at position " +
              std::to_string(pos_) + ": " + e.what() + " (the decoder is unusable now)";
    return MakeUnexpected(broken_);
  }
  ++pos_;
  return logits;
}

}  // namespace dsagent::engine::kernels::cuda
