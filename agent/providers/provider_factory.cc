#include "agent/providers/provider_factory.h"

#include "agent/providers/anthropic_messages.h"
#include "agent/providers/chat_completions.h"
#include "agent/providers/http_provider.h"
#include "agent/providers/local_provider.h"
#include "common/byte_size.h"
#include "engine/kernels/device_spec.h"
#include "engine/runtime/sequence_model_factory.h"

namespace dsagent {
namespace {

ProviderError ConfigError(std::string message) {
  return {ProviderErrorKind::kConfig, 0, std::move(message)};
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

Expected<std::unique_ptr<Provider>, ProviderError> MakeProvider(const ProviderOptions& options) {
  if (options.kind == "local") {
    const auto kv_max_bytes = ParseByteSize(options.kv_max_size);
    if (!kv_max_bytes) {
      return MakeUnexpected(
          ProviderError{ProviderErrorKind::kConfig, 0,
                        "providers.local.kv_max_size: '" + options.kv_max_size +
                            "' is not a size (e.g. 16G, 512M, or bytes; 0 = no limit)"});
    }
    // Checked before the (long) model load: a device the engine cannot use is a config error.
    const auto device = engine::kernels::ParseDeviceSpec(options.device);
    if (!device) return MakeUnexpected(ConfigError("providers.local.device: " + device.error()));
    const auto cap = engine::kernels::ParseGpuMemory(options.gpu_memory, *device);
    if (!cap) return MakeUnexpected(ConfigError("providers.local.gpu_memory: " + cap.error()));
    const auto speculation =
        engine::ParseSpeculationSettings(options.speculative, options.speculative_accept);
    if (!speculation) return MakeUnexpected(ConfigError("providers.local." + speculation.error()));
    const auto numerics =
        engine::kernels::ParseNumerics(options.numerics).value_or(engine::kernels::Numerics::kFast);
    if (auto why = engine::kernels::DeviceUnavailable(*device, engine::kernels::ProbeCuda())) {
      return MakeUnexpected(ConfigError("providers.local.device: " + *why));
    }
    return MakeLocalProvider(
        {.model_dir = options.model_dir,
         .tokenizer_file = options.tokenizer_file,
         .kv_dir = options.kv_dir,
         .kv_max_bytes = *kv_max_bytes,
         .threads = options.threads,
         .context_tokens = options.context_tokens,
         .numerics = numerics,
         .device = *device,
         .gpu_memory = *cap,
         .weights =
             engine::ParseWeightResidency(options.weights).value_or(engine::WeightResidency::kAuto),
         .speculation = *speculation,
         .engines = options.local_engines,
         .notices = options.local_load,
         .cancel = options.local_load_cancel});
  }
  std::unique_ptr<WireFormat> wire;
  if (options.kind == "deepseek") {
    wire = std::make_unique<ChatCompletionsWire>(DeepSeekDialect());
  } else if (options.kind == "deepseek-anthropic") {
    wire = std::make_unique<AnthropicMessagesWire>();
  } else if (options.kind == "openai-compatible") {
    wire = std::make_unique<ChatCompletionsWire>(OpenAiCompatibleDialect());
  } else {
    return MakeUnexpected(ConfigError("unknown provider '" + options.kind +
                                      "': expected deepseek, deepseek-anthropic, "
                                      "openai-compatible or local"));
  }

  ProviderOptions o = options;
  while (!o.base_url.empty() && o.base_url.back() == '/') o.base_url.pop_back();
  const bool http = StartsWith(o.base_url, "http://") && o.base_url.size() > 7;
  const bool https = StartsWith(o.base_url, "https://") && o.base_url.size() > 8;
  if (!http && !https) {
    return MakeUnexpected(ConfigError("providers." + options.kind + ".base_url '" +
                                      options.base_url + "' is not an http:// or https:// URL"));
  }
  if (options.kind == "deepseek-anthropic" && o.base_url.size() > 10 &&
      o.base_url.compare(o.base_url.size() - 10, 10, "/anthropic") == 0) {
    // Users copy DeepSeek's documented ANTHROPIC_BASE_URL; the wire format appends /anthropic.
    o.base_url.resize(o.base_url.size() - 10);
  }
  if (StartsWith(options.kind, "deepseek") && o.api_key.empty()) {
    const std::string env = o.api_key_env.empty() ? "DEEPSEEK_API_KEY" : o.api_key_env;
    return MakeUnexpected(ConfigError(env + " is not set: export it or set providers." +
                                      options.kind + ".api_key in config"));
  }
  return std::unique_ptr<Provider>(std::make_unique<HttpProvider>(std::move(wire), std::move(o)));
}

}  // namespace dsagent
