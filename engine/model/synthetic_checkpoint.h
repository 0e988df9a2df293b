// Synthetic DeepSeek-V4 checkpoints for benchmarks and tests: a real config.json reshaped to a few
// layers and routed experts, and a model.safetensors holding exactly the tensors that config
// implies (tensor_inventory.h) in the real storage formats, filled with deterministic random
// values. `dsagent engine synth` is the command-line front end.
//
// What is kept and what shrinks. The point is to measure the KV cache and the attention path at a
// real model's shapes (issue 4) on a machine that cannot hold its weights, so every attention and
// KV shape of the base config stays exactly as it is: hidden size, heads, head and RoPE dims, LoRA
// ranks, output groups, window, indexer, compression ratios, MoE width, hc_mult, RoPE/YaRN. Only
// these change: num_hidden_layers (and with it compress_ratios and num_hash_layers, clamped to the
// layer count), n_routed_experts, and optionally vocab_size. MTP blocks are kept.
//
// Layer ratios. By default the model takes `layers` consecutive decoder ratios of the base,
// starting at its first compressed layer (moved left when that would run past the last layer).
// Leading window-only layers are skipped because they hold no compressed KV: Flash's pattern is 0,
// 0, 4, 128, 4, 128, ..., so 2 layers give 4, 128 (one CSA and one HCA layer) where plain
// truncation would give two window-only layers. `ratios` sets each layer's ratio explicitly.
//
// Values, chosen so a forward pass is finite and not constant: matrices ~N(0, 1/in), the embedding
// ~N(0, 1), FP8 and FP4 weights quantised from such values with random power-of-two block scales
// (so scale indexing is exercised), every norm weight 1, attention sinks, gate biases and hc bases
// 0, hc scales 0.5, compressor `ape` ~N(0, 0.02^2), tid2eid distinct random experts per token. The
// normal draws are Irwin-Hall sums of four uniforms in integer arithmetic, so the bytes depend on
// nothing but the config and the seed (no libm, no thread count): same inputs, identical files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/expected.h"
#include "common/json.h"
#include "engine/model/model_config.h"

namespace dsagent::engine {

// How the values are drawn.
//  kBenchmark: as described above (norms 1, sinks/biases/hc bases 0, hc scales 0.5, ape small):
//    a forward pass that is finite and not constant at any width.
//  kVaried: for golden data (tests/data/golden-sweep): the parameters kBenchmark holds constant are
//    drawn too — norm weights 1 + N(0, 0.1^2), attention sinks N(0, 0.7^2), gate biases
//    N(0, 0.1^2), hc bases N(0, 0.5^2), hc scales 1 + N(0, 0.25^2), compressor ape N(0, 0.5^2)
//    (the spreads of the shared generator's make_tiny_checkpoint.py) — so every bias, sink and
//    mixing path of the forward pass is exercised with values that are not special.
enum class SyntheticValues { kBenchmark, kVaried };

struct SyntheticOptions {
  std::optional<int> layers;  // decoder layers, >= 1; default: ratios.size(), else the base's
  std::vector<int> ratios;    // compress ratio of each decoder layer; empty: see above
  std::optional<int> routed_experts;  // >= num_experts_per_tok; default: the base's
  std::optional<int64_t> vocab_size;  // above the bos/eos ids; default: the base's
  uint64_t seed = 0;
  SyntheticValues values = SyntheticValues::kBenchmark;
  int threads = 0;     // for generating values (<= 0: all cores); the output does not depend on it
  CancelToken cancel;  // polled between 16 MiB batches: a cancelled write stops with an error
};

// The synthetic config.json derived from `base` (a V4 config.json), validated with
// ParseModelConfig and marked with "synthetic_weights": {"seed": ...} so nobody mistakes it for a
// real model. Error, one line per problem: an invalid base, layers < 1, ratios.size() != layers,
// more layers than the base has without explicit ratios, routed_experts < num_experts_per_tok,
// a vocabulary that does not hold the bos/eos ids.
Expected<Json, std::string> DeriveSyntheticConfig(const Json& base,
                                                  const SyntheticOptions& options);

struct SyntheticCheckpointSummary {
  ModelConfig config;
  int64_t tensors = 0;
  int64_t file_bytes = 0;  // model.safetensors, header included
};

// Writes `dir`/config.json (DeriveSyntheticConfig) and `dir`/model.safetensors, creating `dir`.
// The weights stream through a temp file that is renamed into place, so memory stays at a few
// tens of MiB whatever the model size. An existing config.json is removed first and the new one
// written last: an interrupted run never leaves a loadable directory whose config and weights
// disagree. Error: DeriveSyntheticConfig's, a directory holding a sharded checkpoint, a message
// naming the path and the OS error (cannot create the directory, disk full), or "interrupted"
// when options.cancel was cancelled; the temp file is removed in each case.
Expected<SyntheticCheckpointSummary, std::string> WriteSyntheticCheckpoint(
    const Json& base, const SyntheticOptions& options, const std::filesystem::path& dir);

}  // namespace dsagent::engine
