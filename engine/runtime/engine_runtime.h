// EngineRuntime: everything a process needs to answer chat requests on the built-in engine, opened
// in one place: the model, its tokenizer, the prefix caches (memory, and behind it the persistent
// KV store when a kv_dir is given) and the ChatCompleter over them. `dsagent serve`,
// `dsagent run --provider local` and `dsagent engine generate` each open one instead of assembling
// the pieces by hand, so a new piece (or a new check) is added once.
//
// Usage:
//   auto runtime = EngineRuntime::Open({.model_dir = dir, .kv_dir = kv});
//   if (!runtime) fail(runtime.error());           // says what is wrong and what to pass instead
//   (*runtime)->completer().Complete(request, sink);
//
// Thread-safety: as its parts (the model, tokenizer, caches and completer are thread-safe).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "common/cancel.h"
#include "common/expected.h"
#include "engine/forward/model.h"
#include "engine/generate/chat_completion.h"
#include "engine/generate/forward_batcher.h"
#include "engine/generate/prefix_cache.h"
#include "engine/generate/sequence_model.h"
#include "engine/kernels/device_spec.h"
#include "engine/kernels/numerics_mode.h"
#include "engine/kernels/ops_backend.h"
#include "engine/kv/disk_prefix_store.h"
#include "engine/tokenizer/bpe_tokenizer.h"

namespace dsagent::engine {

struct EngineRuntimeOptions {
  std::filesystem::path model_dir;       // config.json + safetensors (required)
  std::filesystem::path tokenizer_file;  // "" = the model's tokenizer.json, else the npm V3 file
  // false: a tokenizer that cannot be found or loaded is not an error (token ids in and out, as
  // `engine generate --tokens` does); tokenizer() is then null and there is no completer.
  bool tokenizer_required = true;
  int threads = 0;  // <= 0: the hardware's
  kernels::Numerics numerics = kernels::Numerics::kFast;
  WeightResidency weights = WeightResidency::kAuto;  // engine/model/weight_residency.h
  // The model's ops backend (kernels/ops_backend.h; cpu is the only one this build has).
  kernels::OpsBackend backend = kernels::OpsBackend::kCpu;
  // Where generation runs (sequence_model_factory.h): the CPU forward pass, or a GPU (cuda:N) with
  // the weights placed for its memory or gpu_memory bytes of it, each sequence's state sized for
  // `context` positions (<= 0: max_position_embeddings; the GPU holds it all from the start) and
  // max_batch sequences. Both compute `numerics` (the GPU's exact mode: every product in double,
  // kernels/cuda/device_model_upload.h UseExactNumerics) and both run speculation kMtp.
  kernels::DeviceSpec device;
  int64_t gpu_memory = 0;
  int64_t context = 0;
  // A GPU's weights upload, told as it begins (0, total) and after each block: a progress line.
  std::function<void(int64_t done, int64_t total)> upload_progress;
  // Stops a GPU's weights upload between blocks once cancelled (Ctrl-C, SIGTERM during a load of
  // minutes): Open then fails, saying so.
  CancelToken cancel;
  // States kept in memory for prefix reuse; 0 = no prefix cache at all (every prompt token is
  // computed; `engine generate` runs one prompt). With kv_dir the disk store sits behind it.
  int memory_cache_entries = 16;
  std::filesystem::path kv_dir;  // "" = no persistent store
  int64_t kv_max_bytes = 0;      // size budget of kv_dir (LRU eviction); 0 = no limit
  // Decode steps of concurrent chat turns run as one batched forward call of up to this many
  // sequences (forward_batcher.h); <= 1: each alone. `dsagent serve` sets it to --parallel.
  int max_batch = 1;
  // Speculative decoding for every chat turn (ChatCompleter, SpeculationSettings); off by default.
  // kMtp needs a checkpoint with an MTP block: Open fails otherwise, saying so.
  SpeculationSettings speculation;
  // Receives the store's one-line notices (skipped records, failed writes). Default: none.
  std::function<void(const std::string&)> kv_log;
};

// What makes two opened runtimes the same: every field of the options but the callbacks, the
// directories compared as canonical paths. A field added to EngineRuntimeOptions belongs in it
// (agent/providers/local_engines.h shares a runtime between sessions whose options give one key).
std::string RuntimeKey(const EngineRuntimeOptions& options);

class EngineRuntime {
 public:
  // Loads the model, then the tokenizer, then opens the KV store. Error: the first step that
  // failed, in that step's words (naming the file or directory and what to pass instead).
  static Expected<std::unique_ptr<EngineRuntime>, std::string> Open(
      const EngineRuntimeOptions& options);

  EngineRuntime(const EngineRuntime&) = delete;
  EngineRuntime& operator=(const EngineRuntime&) = delete;

  // The loaded checkpoint (its config, its weights).
  forward::Model& model() { return *model_; }
  // What generation runs on (sequence_model.h): the batcher and the completer use it, and so
  // should anything else that generates. The CPU forward pass over model(), or the GPU's.
  SequenceModel& sequence_model() { return *sequence_model_; }
  // On a GPU: the placement plan as printed at load (what is on the device, what stays in host
  // memory); "" on the CPU.
  const std::string& placement() const { return placement_; }
  // Positions a sequence may hold: the GPU's state is sized at open; 0 on the CPU (the model's
  // max_position_embeddings).
  int64_t context_limit() const { return context_limit_; }
  // Null only when the options allowed it to be missing.
  const BpeTokenizer* tokenizer() const { return tokenizer_.get(); }
  // Memory first, then the disk store; null with memory_cache_entries == 0 and no kv_dir.
  PrefixCache* prefix_cache() { return cache_; }
  kv::DiskPrefixStore* disk_store() { return disk_.get(); }
  // Null when max_batch <= 1.
  ForwardBatcher* batcher() { return batcher_.get(); }
  // Chat turns over the model, tokenizer and prefix cache. Requires a tokenizer.
  ChatCompleter& completer() { return *completer_; }

 private:
  EngineRuntime() = default;

  std::unique_ptr<forward::Model> model_;
  std::unique_ptr<SequenceModel> sequence_model_;  // over model_
  std::string placement_;
  int64_t context_limit_ = 0;
  std::unique_ptr<BpeTokenizer> tokenizer_;
  std::unique_ptr<InMemoryPrefixCache> memory_;
  std::unique_ptr<kv::DiskPrefixStore> disk_;
  std::unique_ptr<TieredPrefixCache> tiered_;  // memory_ first, then disk_
  PrefixCache* cache_ = nullptr;
  std::unique_ptr<ForwardBatcher> batcher_;
  std::unique_ptr<ChatCompleter> completer_;
};

}  // namespace dsagent::engine
