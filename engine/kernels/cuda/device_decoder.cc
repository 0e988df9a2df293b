#include "engine/kernels/cuda/device_decoder.h"

#include <exception>
#include <utility>

#include "engine/kernels/cuda/device_model_upload.h"
#include "engine/kernels/cuda/device_runtime.h"
#include "engine/kernels/cuda/model_step.h"

namespace dsagent::engine::kernels::cuda {

std::optional<std::string> DeviceDecoderRefusesPlan(const PlacementPlan& plan) {
  // MTP blocks are not uploaded (the decoder runs the main model only), so only the main layers'
  // experts must all be on the device.
  int64_t main_total = 0, main_on_device = 0;
  for (const BlockExperts& b : plan.blocks) {
    if (b.mtp) continue;
    main_total += b.experts;
    main_on_device += b.on_device;
  }
  if (main_on_device == main_total) return std::nullopt;
  return "the plan keeps " + std::to_string(main_total - main_on_device) + " of " +
         std::to_string(main_total) +
         " routed experts of the decoder layers in host memory, and the GPU decode step cannot "
         "call the CPU for them yet (expert offload, issue 17): use a device with room for "
         "every expert (`dsagent engine inspect --device cuda` shows the plan) or --device cpu";
}

std::optional<std::string> DeviceModelRefuses(const ModelConfig& config, const PlacementPlan& plan,
                                              const DeviceDecoderOptions& options,
                                              const std::string& who) {
  if (auto why = DeviceDecoderRefusesPlan(plan)) return why;
  if (options.context < 1 || options.context > config.max_position_embeddings) {
    return who + ": context " + std::to_string(options.context) + " is not in [1, " +
           std::to_string(config.max_position_embeddings) + "] (max_position_embeddings)";
  }
  return std::nullopt;
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
    d->model_ = std::make_unique<DeviceModel>(
        UploadModel(model.weights(), c, options.context, *d->stream_));
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
